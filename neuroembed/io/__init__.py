"""Reading recordings from files and tables, and writing embeddings back.

Every reader returns a :class:`~neuroembed.recording.Recording` (neural data, behaviour, labels and
timestamps aligned row by row):

* :func:`read_nwb` / :func:`list_nwb` / :func:`write_embedding` / :func:`read_embedding`: NWB files
  through pynwb (:mod:`neuroembed.io.nwb`);
* :func:`read_hdf5` / :func:`open_hdf5_dataset` / :func:`write_embedding_hdf5`: plain HDF5 through h5py
  (:mod:`neuroembed.io.hdf5`);
* :func:`from_dataframe`: pandas DataFrames (:mod:`neuroembed.io.tables`).
"""

from neuroembed.io.hdf5 import open_hdf5_dataset, read_hdf5, write_embedding_hdf5
from neuroembed.io.nwb import list_nwb, read_embedding, read_nwb, write_embedding
from neuroembed.io.tables import from_dataframe

__all__ = [
    "read_nwb",
    "list_nwb",
    "write_embedding",
    "read_embedding",
    "read_hdf5",
    "open_hdf5_dataset",
    "write_embedding_hdf5",
    "from_dataframe",
]

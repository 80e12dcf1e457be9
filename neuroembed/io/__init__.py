"""Reading recordings from files and tables, and writing embeddings back.

Every reader of recordings returns a :class:`~neuroembed.recording.Recording` (neural data, behaviour,
labels and timestamps aligned row by row):

* :func:`read_nwb` / :func:`list_nwb` / :func:`write_embedding` / :func:`read_embedding`: NWB files
  through pynwb (:mod:`neuroembed.io.nwb`);
* :func:`read_hdf5` / :func:`open_hdf5_dataset` / :func:`write_embedding_hdf5`: plain HDF5 through h5py
  (:mod:`neuroembed.io.hdf5`);
* :func:`from_dataframe`: pandas DataFrames (:mod:`neuroembed.io.tables`).

Behaviour tracked by other tools, as arrays on its own time base:

* :func:`read_deeplabcut` / :func:`resample_behaviour` / :class:`Pose`: DeepLabCut pose files (.h5
  needs ``pip install "neuroembed[deeplabcut]"``, or .csv) as positions, speed and head direction,
  resampled onto neural bins (:mod:`neuroembed.io.deeplabcut`);
* :func:`align_behaviour`: a pynapple ``Tsd`` / ``TsdFrame`` on the neural bins' times (the estimator and
  :func:`neuroembed.metrics.decode` do this themselves for pynapple input; ``pip install "neuroembed[pynapple]"``).
"""

from neuroembed._pynapple import align_behaviour
from neuroembed.io.deeplabcut import Pose, read_deeplabcut, resample_behaviour
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
    "read_deeplabcut",
    "resample_behaviour",
    "align_behaviour",
    "Pose",
]

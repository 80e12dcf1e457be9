"""Read recordings from plain HDF5 files (h5py), and write embeddings to them.

:func:`read_hdf5` reads named datasets into a :class:`~neuroembed.recording.Recording`, slicing only
the rows asked for; :func:`open_hdf5_dataset` hands out an open :class:`h5py.Dataset` for streaming
through a recording too large for memory; :func:`write_embedding_hdf5` stores an embedding with its
timestamps and settings, atomically (the file appears complete or not at all).
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from neuroembed._files import atomic_path
from neuroembed._validation import (
    as_numeric_array,
    check_continuous,
    check_discrete,
    check_neural,
    check_positive_float,
)
from neuroembed.recording import Recording

__all__ = ["read_hdf5", "open_hdf5_dataset", "write_embedding_hdf5"]


@contextmanager
def _open_file(path: str | os.PathLike[str]) -> Iterator[h5py.File]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"HDF5 file not found: {str(path)!r}.")
    if not path.is_file() or not h5py.is_hdf5(path):
        raise ValueError(
            f"{str(path)!r} is not an HDF5 file (corrupt, truncated or of another format)."
        )
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{str(path)!r} could not be opened as HDF5 ({err}).") from None
    with handle:
        yield handle


def _dataset(handle: h5py.File, name: str, role: str) -> h5py.Dataset:
    if not isinstance(name, str):
        raise TypeError(f"{role} must be the path of a dataset in the file; got {name!r}.")
    obj = handle.get(name)
    if not isinstance(obj, h5py.Dataset):
        found: list[str] = []
        handle.visititems(
            lambda key, item: found.append(key) if isinstance(item, h5py.Dataset) else None
        )
        what = "is a group, not a dataset, in" if obj is not None else "is not in the file"
        listed = ", ".join(repr(k) for k in found[:30]) + (" ..." if len(found) > 30 else "")
        raise ValueError(
            f"{role}={name!r} {what} {handle.filename!r}; its datasets: {listed or 'none'}."
        )
    return obj


@contextmanager
def open_hdf5_dataset(path: str | os.PathLike[str], name: str) -> Iterator[h5py.Dataset]:
    """Open one dataset of an HDF5 file read-only, for reading it in slices.

    The file stays open inside the ``with`` block and is closed after it.

    Parameters
    ----------
    path : str or path-like
        The HDF5 file.
    name : str
        Path of the dataset in the file, e.g. ``"recording/spikes"``.

    Yields
    ------
    h5py.Dataset
        Slice it (``ds[start:stop]``) to read part of it.

    Examples
    --------
    >>> import tempfile, os
    >>> import h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "rec.h5")
    >>> with h5py.File(path, "w") as f:
    ...     _ = f.create_dataset("spikes", data=np.arange(12.0).reshape(6, 2))
    >>> with open_hdf5_dataset(path, "spikes") as ds:
    ...     ds.shape, ds[4:6].tolist()
    ((6, 2), [[8.0, 9.0], [10.0, 11.0]])
    """
    with _open_file(path) as handle:
        yield _dataset(handle, name, "name")


def _rows(ds: h5py.Dataset, rows: slice, time_axis: int) -> np.ndarray:
    if ds.ndim == 0:
        raise ValueError(
            f"dataset {ds.name!r} is a scalar; expected an array with one row per sample."
        )
    index = [slice(None)] * ds.ndim
    index[time_axis] = rows
    data = ds[tuple(index)]
    return np.moveaxis(data, time_axis, 0) if time_axis else data


def read_hdf5(
    path: str | os.PathLike[str],
    neural: str,
    behaviour: str | Sequence[str] | None = None,
    labels: str | None = None,
    timestamps: str | None = None,
    *,
    rate: float | None = None,
    time_axis: int = 0,
    sample_range: tuple[int, int] | None = None,
) -> Recording:
    """Read a recording from datasets of an HDF5 file.

    Parameters
    ----------
    path : str or path-like
        The HDF5 file, opened read-only.
    neural : str
        Path of the neural dataset, shape (n_samples, n_neurons) (or (n_samples,) for one neuron).
    behaviour : str or sequence of str, optional
        Path(s) of continuous behaviour datasets with ``n_samples`` rows; several are placed side by side.
    labels : str, optional
        Path of a dataset of discrete labels, shape (n_samples,).
    timestamps : str, optional
        Path of a dataset of sample times in seconds, shape (n_samples,).
    rate : float, optional
        Sampling rate in Hz, used for the timestamps (``index / rate``) when ``timestamps`` is not given.
        With neither, ``Recording.timestamps`` is None.
    time_axis : {0, 1}, default 0
        The axis of the neural dataset that is time (1 for data stored (n_neurons, n_samples)).
    sample_range : (int, int), optional
        Read only rows ``start:stop`` of every dataset.

    Returns
    -------
    Recording
        ``neural`` float32, ``behaviour`` float32 or None, ``labels`` int64 or None, ``timestamps`` float64
        or None; ``metadata`` holds the source and dataset names.

    Examples
    --------
    >>> import tempfile, os
    >>> import h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "rec.h5")
    >>> with h5py.File(path, "w") as f:
    ...     _ = f.create_dataset("spikes", data=np.ones((4, 3)))
    ...     _ = f.create_dataset("position", data=[0.0, 0.25, 0.5, 1.0])
    >>> rec = read_hdf5(path, neural="spikes", behaviour="position", rate=10.0)
    >>> rec.neural.shape, rec.behaviour[:, 0].tolist(), rec.timestamps.tolist()
    ((4, 3), [0.0, 0.25, 0.5, 1.0], [0.0, 0.1, 0.2, 0.3])
    """
    if time_axis not in (0, 1):
        raise ValueError(f"time_axis must be 0 or 1; got {time_axis!r}.")
    if rate is not None:
        rate = check_positive_float(rate, "rate")
    with _open_file(path) as handle:
        neural_ds = _dataset(handle, neural, "neural")
        if neural_ds.ndim == 0 or neural_ds.ndim > 2:
            kind = "a scalar" if neural_ds.ndim == 0 else f"shape {neural_ds.shape}"
            raise ValueError(
                f"neural dataset {neural!r} is {kind}; expected 1-D (one neuron) or 2-D (samples x neurons)."
            )
        if neural_ds.ndim == 1 and time_axis == 1:
            raise ValueError(
                f"time_axis=1 needs a 2-D dataset (neurons x samples); neural dataset {neural!r} is 1-D with "
                f"shape {neural_ds.shape}. Use time_axis=0 for a single neuron."
            )
        n_total = int(neural_ds.shape[time_axis])
        if sample_range is None:
            rows = slice(0, n_total)
        else:
            try:
                start, stop = (operator.index(v) for v in sample_range)
            except (TypeError, ValueError):
                raise TypeError(
                    f"sample_range must be (start, stop), two ints; got {sample_range!r}."
                ) from None
            if not 0 <= start < stop:
                raise ValueError(
                    f"sample_range must be (start, stop) with 0 <= start < stop; got {sample_range!r}."
                )
            rows = slice(start, min(stop, n_total))
        where = f"{neural!r} of {str(path)!r}"
        X = _rows(neural_ds, rows, time_axis)
        X = check_neural(X.reshape(X.shape[0], -1) if X.ndim == 1 else X, f"neural dataset {where}")
        n = X.shape[0]

        def aligned(name: str, role: str) -> np.ndarray:
            ds = _dataset(handle, name, role)
            if ds.ndim == 0:
                raise ValueError(
                    f"{role} dataset {name!r} is a scalar; expected an array with one row per sample "
                    f"({n_total} rows)."
                )
            if ds.shape[0] != n_total:
                raise ValueError(
                    f"{role} dataset {name!r} has {ds.shape[0]} rows but the neural dataset has {n_total}; they "
                    "must be aligned row by row."
                )
            return _rows(ds, rows, 0)

        B = None
        if behaviour is not None:
            names = [behaviour] if isinstance(behaviour, str) else list(behaviour)
            parts = [
                check_continuous(aligned(name, "behaviour"), n, f"behaviour {name!r}")
                for name in names
            ]
            B = np.concatenate(parts, axis=1) if parts else None
        L = (
            check_discrete(aligned(labels, "labels"), n, f"labels {labels!r}")
            if labels is not None
            else None
        )
        T = None
        if timestamps is not None:
            T = as_numeric_array(
                aligned(timestamps, "timestamps"), f"timestamps {timestamps!r}"
            ).astype(np.float64)
            if T.ndim != 1:
                raise ValueError(
                    f"timestamps dataset {timestamps!r} must be 1-D; got shape {T.shape}."
                )
        elif rate is not None:
            T = np.arange(rows.start, rows.start + n, dtype=np.float64) / rate
        metadata = {
            "source": str(path),
            "neural": neural,
            "behaviour": behaviour,
            "labels": labels,
            "timestamps": timestamps,
            "rate": rate,
            "sample_range": (rows.start, rows.start + n),
        }
    return Recording(neural=X, behaviour=B, labels=L, timestamps=T, metadata=metadata)


def write_embedding_hdf5(
    path: str | os.PathLike[str],
    embedding: Any,
    timestamps: Any = None,
    *,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write an embedding to its own HDF5 file, atomically.

    The file is written under a temporary name in the same folder and renamed into place, so a crash
    never leaves a partial file at ``path``. Read it back with
    ``read_hdf5(path, neural="embedding", timestamps="timestamps")``.

    Parameters
    ----------
    path : str or path-like
        The file to create (replaced if it exists).
    embedding : array-like of shape (n_samples, output_dimension)
        Stored as dataset ``embedding`` (float32).
    timestamps : array-like of shape (n_samples,), optional
        Stored as dataset ``timestamps`` (float64).
    attrs : mapping, optional
        Stored as file attributes; values that are not numbers or strings are stored as JSON text.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, os
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "emb.h5")
    >>> _ = write_embedding_hdf5(path, np.zeros((3, 2)), [0.0, 0.5, 1.0], attrs={"model": "offset1"})
    >>> read_hdf5(path, neural="embedding", timestamps="timestamps").timestamps.tolist()
    [0.0, 0.5, 1.0]
    """
    path = Path(path)
    Z = check_neural(embedding, "embedding")
    T = None
    if timestamps is not None:
        T = as_numeric_array(timestamps, "timestamps").astype(np.float64)
        if T.shape != (Z.shape[0],):
            raise ValueError(
                f"timestamps must have shape ({Z.shape[0]},), one per embedding row; got {T.shape}."
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("embedding", data=Z)
        if T is not None:
            f.create_dataset("timestamps", data=T)
        for key, value in (attrs or {}).items():
            if isinstance(value, (str, int, float, np.integer, np.floating)) and not isinstance(
                value, bool
            ):
                f.attrs[key] = value
            else:
                f.attrs[key] = json.dumps(value, default=str)
    return path

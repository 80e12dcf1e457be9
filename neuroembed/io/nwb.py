"""Read recordings from NWB files and write embeddings back into them, through pynwb.

Reading
    :func:`read_nwb` returns a :class:`~neuroembed.recording.Recording` whose neural data, behaviour, labels
    and timestamps share one time base:

    * neural data come from the units table (spike times binned into counts per ``bin_size`` seconds) or
      from any ``TimeSeries`` / ``RoiResponseSeries`` (calcium) in ``acquisition`` or ``processing``, at its
      own sampling times or averaged into bins of ``bin_size``;
    * continuous behaviour comes from ``SpatialSeries`` (alone or inside ``Position`` /
      ``CompassDirection``) or any ``TimeSeries``, linearly interpolated onto the neural time base;
    * discrete labels come from the trials table or any other intervals table: each bin gets the category of
      the interval that contains its centre, ``-1`` outside every interval.

    Series are named by their path in the file (``"processing/behavior/Position/pos"``), by their own name
    (``"pos"``) or by the container that holds them (``"Position"``); :func:`list_nwb` shows what a file
    holds. Files are opened read-only and read lazily: only the series asked for are read, and a
    ``time_range`` reads only the rows inside it.

Writing
    :func:`write_embedding` adds the embedding as a ``TimeSeries`` to a processing module (default
    ``"neuroembed"``), with the model settings in its description, readable back with plain pynwb or with
    :func:`read_embedding`. The original data are never touched in place:

    * **in place, atomically** (the default when the file and its folder are writable and the file has the
      NWB version that the installed pynwb writes): the file is copied to a temporary file in the same
      folder, the module is appended to the copy with pynwb, and the copy replaces the original with
      :func:`os.replace`. A crash at any point leaves the original file as it was; every dataset and
      attribute already in the file keeps its bytes (the new module and, for pynwb, a cached copy of the
      schema are added);
    * **sidecar** (when the file or its folder is read-only, marked read-only even for root, when the file
      has an older NWB version, which pynwb would re-stamp on appending, or with ``sidecar=True``): a
      separate NWB file ``<stem>.neuroembed.nwb`` beside the source (or at ``sidecar_path``) holds the
      embedding, with the source's session start time, and its file name and identifier in the session
      description.

    The function returns the path of the file that holds the embedding, so the caller knows which happened.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from neuroembed._files import atomic_path
from neuroembed._validation import (
    as_numeric_array,
    check_continuous,
    check_discrete,
    check_neural,
    check_positive_float,
    describe,
)
from neuroembed.recording import Recording

__all__ = ["read_nwb", "list_nwb", "write_embedding", "read_embedding", "DEFAULT_BIN_SIZE"]

#: Bin width in seconds used for spike counts from the units table when ``bin_size`` is not given.
DEFAULT_BIN_SIZE = 0.025

_TABLES = ("Units", "TimeIntervals")


# --------------------------------------------------------------------------------------------- opening


@contextmanager
def _open_nwb(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Open ``path`` read-only with pynwb and yield the ``NWBFile``; close it afterwards.

    Missing files raise :class:`FileNotFoundError`; files that are not NWB (not HDF5, truncated, garbage,
    plain HDF5) raise :class:`ValueError` naming the file.
    """
    from pynwb import NWBHDF5IO

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"NWB file not found: {str(path)!r}.")
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a file; expected an NWB (HDF5) file.")
    if not h5py.is_hdf5(path):
        raise ValueError(
            f"{str(path)!r} is not an NWB file: it is not HDF5 (the file is corrupt, truncated or of another "
            "format)."
        )
    try:
        io = NWBHDF5IO(str(path), mode="r")
    except Exception as err:  # h5py / hdmf raise many types for damaged files
        raise ValueError(
            f"{str(path)!r} could not be opened as an NWB file ({type(err).__name__}: {err})."
        ) from None
    try:
        try:
            nwbfile = io.read()
        except Exception as err:
            raise ValueError(
                f"{str(path)!r} could not be read as an NWB file ({type(err).__name__}: {err})."
            ) from None
        yield nwbfile
    finally:
        io.close()


# --------------------------------------------------------------------------------------------- catalogue


@dataclass
class _Entry:
    """One readable object in an NWB file: a series, a units table or an intervals table."""

    path: str
    kind: str
    obj: Any
    container: str | None = None


def _catalogue(nwbfile: Any) -> list[_Entry]:
    """Every TimeSeries, Units and TimeIntervals object in the file, with its path."""
    from hdmf.common import DynamicTable
    from pynwb.base import TimeSeries
    from pynwb.epoch import TimeIntervals
    from pynwb.misc import Units

    entries: list[_Entry] = []

    def walk(obj: Any, path: str, container: str | None) -> None:
        if isinstance(obj, TimeSeries):
            entries.append(_Entry(path, type(obj).__name__, obj, container))
        elif isinstance(obj, Units):
            entries.append(_Entry(path, "Units", obj, container))
        elif isinstance(obj, TimeIntervals):
            entries.append(_Entry(path, "TimeIntervals", obj, container))
        elif isinstance(obj, DynamicTable):
            return
        else:
            for child in getattr(obj, "children", ()):
                walk(child, f"{path}/{child.name}", path)

    if nwbfile.units is not None:
        walk(nwbfile.units, "units", None)
    for group in ("acquisition", "stimulus"):
        for name, obj in (getattr(nwbfile, group, None) or {}).items():
            walk(obj, f"{group}/{name}", None)
    for module_name, module in (nwbfile.processing or {}).items():
        for name, obj in module.data_interfaces.items():
            walk(obj, f"processing/{module_name}/{name}", None)
    for name, table in (nwbfile.intervals or {}).items():
        walk(table, f"intervals/{name}", None)
    return entries


def _matches(entry: _Entry, name: str) -> bool:
    name = name.strip("/")
    if entry.path == name or entry.path.endswith("/" + name):
        return True
    return entry.container is not None and (
        entry.container == name or entry.container.endswith("/" + name)
    )


def _resolve(entries: list[_Entry], name: str, role: str, path: Path) -> list[_Entry]:
    """The series that ``name`` designates: one series, or every series of a container."""
    usable = [e for e in entries if e.kind not in _TABLES]
    name = name.strip("/")
    exact = [e for e in usable if e.path == name]
    if exact:
        return exact
    found = [e for e in usable if _matches(e, name)]
    if not found:
        available = ", ".join(repr(e.path) for e in usable) or "none"
        raise ValueError(
            f"{role}={name!r} matches nothing usable in {str(path)!r}; available series: {available}. "
            "Call neuroembed.io.list_nwb(path) (on the command line: neuroembed list FILE) to see what the file holds."
        )
    by_leaf = [e for e in found if e.path.endswith("/" + name)]
    if len(by_leaf) > 1 or (not by_leaf and len({e.container for e in found}) > 1):
        options = ", ".join(repr(e.path) for e in (by_leaf or found))
        raise ValueError(
            f"{role}={name!r} is ambiguous in {str(path)!r}: it matches {options}; give the full path."
        )
    return by_leaf or found


# --------------------------------------------------------------------------------------------- series helpers


def _series_timestamps(series: Any) -> np.ndarray:
    """Sample times of a TimeSeries in seconds, as a float64 array (read in full: it is 1-D)."""
    if series.fields.get("timestamps") is not None:
        return np.asarray(series.timestamps[:], dtype=np.float64)
    n = int(series.data.shape[0])
    if series.rate is None:
        raise ValueError(f"TimeSeries {series.name!r} has neither timestamps nor a sampling rate.")
    return float(series.starting_time or 0.0) + np.arange(n, dtype=np.float64) / float(series.rate)


def _series_span(series: Any) -> tuple[float, float]:
    """Earliest and latest sample time (reads the timestamps, never the data)."""
    n = int(series.data.shape[0])
    if n == 0:
        raise ValueError(f"TimeSeries {series.name!r} is empty.")
    if series.fields.get("timestamps") is not None:
        ts = np.asarray(series.timestamps[:], dtype=np.float64)
        return float(ts.min()), float(ts.max())
    start = float(series.starting_time or 0.0)
    return start, start + (n - 1) / float(series.rate)


def _series_rows(series: Any, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of a series in its physical unit (``data * conversion + offset``), 2-D float64."""
    raw = np.asarray(series.data[start:stop])
    data = as_numeric_array(raw, f"data of TimeSeries {series.name!r}").astype(np.float64)
    scale: float | np.ndarray = float(getattr(series, "conversion", 1.0) or 1.0)
    if "channel_conversion" in series.fields and series.channel_conversion is not None:
        scale = scale * np.asarray(series.channel_conversion[:], dtype=np.float64)
    data = data * scale + float(getattr(series, "offset", 0.0) or 0.0)
    return data.reshape(data.shape[0], int(np.prod(data.shape[1:])))  # also for no rows


def _ordered(series: Any, lo: float, hi: float, margin: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Times and rows of a series inside ``[lo, hi]`` (plus ``margin`` samples each side), in time order.

    Only those rows are read. A series whose timestamps are out of order (seen in real files) is read
    whole and sorted by time.
    """
    ts = _series_timestamps(series)
    if ts.size > 1 and np.any(np.diff(ts) < 0):
        order = np.argsort(ts, kind="stable")
        ts, data = ts[order], _series_rows(series, 0, len(ts))[order]
    else:
        data = None
    i0 = int(np.searchsorted(ts, lo, side="left")) if np.isfinite(lo) else 0
    i1 = int(np.searchsorted(ts, hi, side="right")) if np.isfinite(hi) else len(ts)
    i0, i1 = max(i0 - margin, 0), min(i1 + margin, len(ts))
    rows = data[i0:i1] if data is not None else _series_rows(series, i0, i1)
    return ts[i0:i1], rows


def _interpolate(series: Any, times: np.ndarray) -> np.ndarray:
    """Linear interpolation of a series onto ``times`` (reads only the rows that bracket them)."""
    t, data = _ordered(series, float(times[0]), float(times[-1]), margin=1)
    out = np.empty((len(times), data.shape[1]), dtype=np.float64)
    for j in range(
        data.shape[1]
    ):  # one column at a time, skipping missing samples (e.g. tracking lost)
        good = np.isfinite(data[:, j])
        if not good.any():
            raise ValueError(
                f"TimeSeries {series.name!r} column {j} has no finite values in the time range."
            )
        out[:, j] = np.interp(times, t[good], data[good, j])
    return out


def _bin_average(times: np.ndarray, data: np.ndarray, edges: np.ndarray, name: str) -> np.ndarray:
    """Mean of the rows of ``data`` whose time falls in each bin ``[edges[k], edges[k + 1])``."""
    bins = np.searchsorted(edges, times, side="right") - 1
    inside = (bins >= 0) & (bins < len(edges) - 1)
    counts = np.bincount(bins[inside], minlength=len(edges) - 1)
    if np.any(counts == 0):
        empty = int(np.flatnonzero(counts == 0)[0])
        raise ValueError(
            f"bin_size={edges[1] - edges[0]:g} s leaves bin {empty} (t = {edges[empty]:.6g} s) of {name!r} without "
            "samples: it is shorter than the sampling interval or the series has a gap. Pass a larger bin_size or "
            "bin_size=None to keep the native sampling."
        )
    sums = np.zeros((len(edges) - 1, data.shape[1]), dtype=np.float64)
    np.add.at(sums, bins[inside], data[inside])
    return sums / counts[:, None]


def _edges(start: float, stop: float, bin_size: float, *, inclusive: bool = True) -> np.ndarray:
    """Bin edges ``start, start + bin_size, ...``.

    ``inclusive``: the bins cover ``[start, stop]`` (the last bin holds ``stop``, e.g. the last spike);
    otherwise every bin lies inside ``[start, stop]`` (e.g. the time the behaviour covers).
    """
    n_bins = int(np.floor((stop - start) / bin_size + 1e-9)) + int(inclusive)
    if n_bins < 1:
        raise ValueError(
            f"the time range [{start:.6g}, {stop:.6g}] s is shorter than one bin of {bin_size:g} s; pass a smaller "
            "bin_size or a longer time range."
        )
    return start + bin_size * np.arange(n_bins + 1, dtype=np.float64)


# --------------------------------------------------------------------------------------------- neural


def _units_spikes(
    units: Any, unit_ids: Sequence[int] | None, path: Path
) -> tuple[list[np.ndarray], np.ndarray]:
    """Sorted spike times of each selected unit, read unit by unit, and the units' ids."""
    if "spike_times" not in units.colnames:
        raise ValueError(f"the units table of {str(path)!r} has no spike_times column.")
    ids = np.asarray(units.id[:])
    if unit_ids is None:
        rows = np.arange(len(ids))
    else:
        if isinstance(unit_ids, (str, bytes)) or not np.iterable(unit_ids):
            raise TypeError(f"unit_ids must be a sequence of unit ids; got {describe(unit_ids)}.")
        wanted = np.asarray(list(unit_ids))
        missing = np.setdiff1d(wanted, ids)
        if missing.size:
            raise ValueError(
                f"unit_ids {missing.tolist()} are not in the units table of {str(path)!r} (ids: {ids.tolist()[:20]}"
                f"{' ...' if len(ids) > 20 else ''})."
            )
        rows = np.array([int(np.flatnonzero(ids == u)[0]) for u in wanted], dtype=np.int64)
    if rows.size == 0:
        raise ValueError(f"the units table of {str(path)!r} holds no units.")
    column = units["spike_times"]
    spikes = []
    for row in rows:
        times = np.asarray(column[int(row)], dtype=np.float64)
        if times.size > 1 and np.any(np.diff(times) < 0):
            times = np.sort(times)
        spikes.append(times)
    return spikes, ids[rows]


def _bin_spikes(spikes: list[np.ndarray], edges: np.ndarray) -> np.ndarray:
    """Spike counts per bin ``[edges[k], edges[k + 1])``, shape (n_bins, n_units)."""
    counts = np.empty((len(edges) - 1, len(spikes)), dtype=np.float32)
    for j, times in enumerate(spikes):
        counts[:, j] = np.diff(np.searchsorted(times, edges, side="left"))
    return counts


# --------------------------------------------------------------------------------------------- labels


def _column_values(table: Any, column: str) -> np.ndarray:
    values = table[column][:]
    if len(values) and isinstance(
        values[0], (list, tuple, np.ndarray)
    ):  # ragged column such as epochs' tags
        return np.array(["|".join(map(str, v)) for v in values], dtype=object)
    return np.asarray(values)


def _resolve_labels(entries: list[_Entry], labels: str, path: Path) -> tuple[_Entry, str | None]:
    """The intervals table and (optional) column that ``labels`` names."""
    if not isinstance(labels, str):
        raise TypeError(
            f"labels must be the name of an intervals table or column, e.g. 'trials/type'; got {describe(labels)}."
        )
    tables = [e for e in entries if e.kind == "TimeIntervals"]
    if not tables:
        raise ValueError(
            f"labels={labels!r} was asked for but {str(path)!r} has no trials or intervals table."
        )
    name, _, column = labels.strip("/").removeprefix("intervals/").partition("/")
    table = next((e for e in tables if e.path == f"intervals/{name}"), None)
    if table is not None:
        if column and column not in table.obj.colnames:
            raise ValueError(
                f"labels={labels!r}: the {name!r} table of {str(path)!r} has no column {column!r}; its columns "
                f"are {list(table.obj.colnames)}."
            )
        return table, column or None
    having = [e for e in tables if labels in e.obj.colnames]
    if len(having) == 1:
        return having[0], labels
    described = "; ".join(
        f"{e.path.removeprefix('intervals/')}: {list(e.obj.colnames)}" for e in tables
    )
    problem = "is ambiguous" if having else "matches no intervals table or column"
    raise ValueError(
        f"labels={labels!r} {problem} in {str(path)!r}. Give 'TABLE' (one label per interval) or 'TABLE/COLUMN' "
        f"(one label per category of the column); tables and columns: {described}."
    )


def _interval_labels(
    table: Any, column: str | None, times: np.ndarray, name: str
) -> tuple[np.ndarray, list[Any]]:
    """Label of the interval containing each time (-1 outside every interval) and the category names.

    Intervals without a stop time last until the next one starts (the last one to the end of the
    recording). Where intervals overlap, the one that started last wins.
    """
    starts = np.asarray(table["start_time"][:], dtype=np.float64)
    stops = np.asarray(table["stop_time"][:], dtype=np.float64)
    order = np.argsort(starts, kind="stable")
    starts, stops = starts[order], stops[order]
    following = np.append(starts[1:], np.inf)
    stops = np.where(np.isfinite(stops), stops, following)
    if column is None:
        codes = np.arange(len(starts), dtype=np.int64)
        categories: list[Any] = [int(i) for i in np.asarray(table.id[:])[order]]
    else:
        values = _column_values(table, column)[order]
        if values.dtype.kind == "f":
            if not np.all(np.isfinite(values) & (values == np.round(values))):
                raise TypeError(
                    f"labels={name!r} is a column of non-integer numbers; discrete labels need a column of "
                    "strings, booleans or integers."
                )
            values = values.astype(np.int64)
        uniques, codes = np.unique(
            values.astype(str) if values.dtype == object else values, return_inverse=True
        )
        categories = [v.item() if hasattr(v, "item") else v for v in uniques]
    row = np.searchsorted(starts, times, side="right") - 1
    inside = (row >= 0) & (times < stops[np.clip(row, 0, None)])
    out = np.full(len(times), -1, dtype=np.int64)
    out[inside] = np.asarray(codes, dtype=np.int64)[row[inside]]
    return out, categories


# --------------------------------------------------------------------------------------------- read_nwb


def read_nwb(
    path: str | os.PathLike[str],
    neural: str | None = None,
    behaviour: str | Sequence[str] | None = "auto",
    labels: str | None = None,
    bin_size: float | None = None,
    *,
    time_range: tuple[float, float] | None = None,
    unit_ids: Sequence[int] | None = None,
) -> Recording:
    """Read neural data, behaviour and labels from an NWB file, aligned on one time base.

    Parameters
    ----------
    path : str or path-like
        The NWB file. It is opened read-only and closed before returning.
    neural : str, optional
        Where the neural data come from: ``"units"`` (spike times of the units table, binned into counts),
        or the name or path of a ``TimeSeries`` / ``RoiResponseSeries`` (e.g. ``"RoiResponseSeries"``,
        ``"processing/ophys/Fluorescence/RoiResponseSeries"``, or the container ``"Fluorescence"`` when it
        holds one series). By default the units table, else the only ``RoiResponseSeries`` of the file.
    behaviour : str or sequence of str or None, default "auto"
        Continuous behaviour, interpolated linearly onto the neural time base: the name or path of a
        ``SpatialSeries`` / ``TimeSeries``, of a container such as ``"Position"`` or
        ``"CompassDirection"`` (all its series, side by side), or a list of them. ``"auto"`` takes the file's
        ``SpatialSeries`` when they all sit in one container (no behaviour when there are none); ``None``
        reads no behaviour. The recording is cropped to the time the behaviour covers.
    labels : str, optional
        Discrete labels per bin from an intervals table: ``"trials/COLUMN"`` (one label per category of the
        column, e.g. ``"trials/type"``), a bare column name when one table has it, or a table name
        (``"trials"``, ``"epochs"``: one label per interval). Bins outside every interval get ``-1``;
        ``metadata["label_names"][k]`` is the category of label ``k``.
    bin_size : float, optional
        Bin width in seconds. Spike counts use :data:`DEFAULT_BIN_SIZE` (0.025 s) when not given; a series
        keeps its own sampling times when not given, or is averaged into bins of this width.
    time_range : (float, float), optional
        Read only ``[start, stop]`` seconds (only those rows are read from the file).
    unit_ids : sequence of int, optional
        Ids of the units to keep (default: all units of the table).

    Returns
    -------
    Recording
        ``neural`` float32 (n_samples, n_neurons); ``behaviour`` float32 (n_samples, n_behaviour) or None;
        ``labels`` int64 (n_samples,) or None; ``timestamps`` (n_samples,) in seconds (bin centres for
        binned data); ``metadata`` with the source path, the names read, the bin size, the unit or ROI ids.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a readable NWB file, a name matches nothing (the message lists what is there)
        or the selection holds no samples.

    Examples
    --------
    >>> import datetime, tempfile, os
    >>> from pynwb import NWBFile, NWBHDF5IO
    >>> nwb = NWBFile(session_description="demo", identifier="demo",
    ...               session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    >>> nwb.add_unit(spike_times=[0.0, 0.125, 0.5, 0.75])
    >>> nwb.add_unit(spike_times=[0.25, 0.875])
    >>> path = os.path.join(tempfile.mkdtemp(), "demo.nwb")
    >>> with NWBHDF5IO(path, "w") as io:
    ...     io.write(nwb)
    >>> rec = read_nwb(path, bin_size=0.25)
    >>> rec.neural.tolist()
    [[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    >>> rec.timestamps.tolist()
    [0.125, 0.375, 0.625, 0.875]
    """
    path = Path(path)
    if bin_size is not None:
        bin_size = check_positive_float(bin_size, "bin_size")
    if time_range is not None:
        try:
            bounds = [float(v) for v in time_range]
        except (TypeError, ValueError):
            raise TypeError(
                f"time_range must be (start, stop) in seconds, two numbers; got {time_range!r}."
            ) from None
        if len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise ValueError(
                f"time_range must be (start, stop) seconds with start < stop; got {time_range!r}."
            )
        time_range = (bounds[0], bounds[1])

    with _open_nwb(path) as nwbfile:
        entries = _catalogue(nwbfile)
        neural_entry = _pick_neural(entries, neural, path)
        behaviour_entries = _pick_behaviour(entries, behaviour, path)
        metadata: dict[str, Any] = {
            "source": str(path),
            "identifier": str(nwbfile.identifier),
            "session_start_time": nwbfile.session_start_time.isoformat(),
            "neural": neural_entry.path,
            "behaviour": [e.path for e in behaviour_entries] or None,
            "labels": labels,
        }

        # the time span every requested source covers
        lo, hi = -np.inf, np.inf
        for entry in behaviour_entries:
            start, stop = _series_span(entry.obj)
            lo, hi = max(lo, start), min(hi, stop)
        if time_range is not None:
            lo, hi = max(lo, time_range[0]), min(hi, time_range[1])

        if neural_entry.kind == "Units":
            width = DEFAULT_BIN_SIZE if bin_size is None else bin_size
            spikes, ids = _units_spikes(neural_entry.obj, unit_ids, path)
            up_to_last_spike = not np.isfinite(hi)
            if not np.isfinite(lo) or not np.isfinite(hi):
                nonempty = [s for s in spikes if s.size]
                if not nonempty:
                    raise ValueError(f"the selected units of {str(path)!r} have no spikes.")
                lo = lo if np.isfinite(lo) else min(float(s[0]) for s in nonempty)
                hi = hi if np.isfinite(hi) else max(float(s[-1]) for s in nonempty)
            _check_span(lo, hi, path)
            edges = _edges(lo, hi, width, inclusive=up_to_last_spike)
            X = _bin_spikes(spikes, edges)
            times = edges[:-1] + width / 2
            metadata.update(bin_size=width, unit_ids=ids.tolist())
        else:
            series = neural_entry.obj
            if unit_ids is not None:
                raise ValueError(
                    "unit_ids applies to the units table only; the neural data here are a series."
                )
            times, data = _ordered(series, lo, hi)
            if times.size == 0:
                first, last = _series_span(series)
                raise ValueError(
                    f"{neural_entry.path!r} of {str(path)!r} has no samples in the selected time range "
                    f"[{lo:.6g}, {hi:.6g}] s (it spans about [{first:.6g}, {last:.6g}] s)."
                )
            if bin_size is not None:
                edges = _edges(times[0], times[-1], bin_size)
                data = _bin_average(times, data, edges, neural_entry.path)
                times = edges[:-1] + bin_size / 2
            X = data
            metadata["bin_size"] = bin_size
            rois = getattr(series, "rois", None)
            if rois is not None:
                metadata["roi_ids"] = np.asarray(rois.table.id[:])[
                    np.asarray(rois.data[:])
                ].tolist()

        X = check_neural(X, f"neural data {neural_entry.path!r} of {str(path)!r}")
        n = X.shape[0]

        B = None
        if behaviour_entries:
            columns = [_interpolate(e.obj, times) for e in behaviour_entries]
            B = check_continuous(np.concatenate(columns, axis=1), n, f"behaviour of {str(path)!r}")

        L = None
        if labels is not None:
            table, column = _resolve_labels(entries, labels, path)
            codes, names = _interval_labels(table.obj, column, times, labels)
            L = check_discrete(codes, n, f"labels of {str(path)!r}")
            metadata.update(labels=table.path + (f"/{column}" if column else ""), label_names=names)

        metadata["time_range"] = (float(times[0]), float(times[-1]))
        return Recording(
            neural=X,
            behaviour=B,
            labels=L,
            timestamps=np.asarray(times, dtype=np.float64),
            metadata=metadata,
        )


def _check_span(lo: float, hi: float, path: Path) -> None:
    if not lo <= hi:
        raise ValueError(
            f"the selected sources of {str(path)!r} do not overlap in time (empty range [{lo:.6g}, {hi:.6g}] s)."
        )


def _pick_neural(entries: list[_Entry], neural: str | None, path: Path) -> _Entry:
    if neural is None:
        units = [e for e in entries if e.kind == "Units"]
        if units and len(units[0].obj) > 0:
            return units[0]
        rois = [e for e in entries if e.kind == "RoiResponseSeries"]
        if len(rois) == 1:
            return rois[0]
        if len(rois) > 1:
            raise ValueError(
                f"{str(path)!r} has several calcium series ({', '.join(repr(e.path) for e in rois)}); "
                "choose one with neural=NAME."
            )
        available = ", ".join(repr(e.path) for e in entries if e.kind not in _TABLES) or "none"
        raise ValueError(
            f"{str(path)!r} has no units table and no RoiResponseSeries to read neural data from; pass "
            f"neural=NAME of a TimeSeries (available: {available})."
        )
    if not isinstance(neural, str):
        raise TypeError(f"neural must be a series name or 'units'; got {describe(neural)}.")
    if neural.strip("/") == "units" or neural == "Units":
        units = [e for e in entries if e.kind == "Units"]
        if not units:
            raise ValueError(f"neural='units' but {str(path)!r} has no units table.")
        return units[0]
    found = _resolve(entries, neural, "neural", path)
    if len(found) > 1:
        raise ValueError(
            f"neural={neural!r} designates several series in {str(path)!r} "
            f"({', '.join(repr(e.path) for e in found)}); name one of them."
        )
    return found[0]


def _pick_behaviour(
    entries: list[_Entry], behaviour: str | Sequence[str] | None, path: Path
) -> list[_Entry]:
    if behaviour is None:
        return []
    if isinstance(behaviour, str) and behaviour == "auto":
        spatial = [e for e in entries if e.kind == "SpatialSeries"]
        groups = {e.container or e.path for e in spatial}
        if len(groups) > 1:
            raise ValueError(
                f"behaviour='auto' found several behaviour sources in {str(path)!r} "
                f"({', '.join(sorted(groups))}); choose with behaviour=NAME (or a list), or behaviour=None."
            )
        return spatial
    if isinstance(behaviour, str):
        names = [behaviour]
    else:
        names = list(behaviour) if np.iterable(behaviour) else [behaviour]
    if not all(isinstance(n, str) for n in names):
        raise TypeError(
            f"behaviour must be a series name, a list of names, 'auto' or None; got {behaviour!r}."
        )
    chosen: list[_Entry] = []
    for name in names:
        for entry in _resolve(entries, name, "behaviour", path):
            if entry.path not in {c.path for c in chosen}:
                chosen.append(entry)
    return chosen


# --------------------------------------------------------------------------------------------- list_nwb


def _min_max(data: Any, chunk: int = 1 << 20) -> tuple[float, float]:
    """Smallest and largest value of a 1-D dataset, read a chunk at a time."""
    lo, hi = np.inf, -np.inf
    for start in range(0, len(data), chunk):
        part = np.asarray(data[start : start + chunk], dtype=np.float64)
        lo, hi = min(lo, float(part.min())), max(hi, float(part.max()))
    return lo, hi


def list_nwb(path: str | os.PathLike[str]) -> pd.DataFrame:
    """List what an NWB file holds that :func:`read_nwb` can read.

    Only shapes and first / last times are read, not the data.

    Parameters
    ----------
    path : str or path-like
        The NWB file.

    Returns
    -------
    pandas.DataFrame
        One row per units table, series and intervals table, with columns ``path`` (the name to pass to
        :func:`read_nwb`), ``type`` (the NWB type), ``use`` (``neural``, ``behaviour``, ``labels``),
        ``shape``, ``unit``, ``start`` and ``stop`` (seconds), ``rate`` (Hz, when regular) and ``columns``
        (for tables).

    Examples
    --------
    >>> import datetime, tempfile, os
    >>> from pynwb import NWBFile, NWBHDF5IO
    >>> nwb = NWBFile(session_description="demo", identifier="demo",
    ...               session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    >>> nwb.add_unit(spike_times=[0.5, 1.5])
    >>> path = os.path.join(tempfile.mkdtemp(), "demo.nwb")
    >>> with NWBHDF5IO(path, "w") as io:
    ...     io.write(nwb)
    >>> list_nwb(path)[["path", "type", "use", "start", "stop"]].values.tolist()
    [['units', 'Units', 'neural', 0.5, 1.5]]
    """
    rows = []
    with _open_nwb(path) as nwbfile:
        for entry in _catalogue(nwbfile):
            obj = entry.obj
            row: dict[str, Any] = {"path": entry.path, "type": entry.kind}
            if entry.kind == "Units":
                row.update(
                    use="neural", shape=(len(obj),), unit="spikes", columns=list(obj.colnames)
                )
                if "spike_times" in obj.colnames and len(obj["spike_times"].target.data):
                    row.update(zip(("start", "stop"), _min_max(obj["spike_times"].target.data)))
            elif entry.kind == "TimeIntervals":
                row.update(use="labels", shape=(len(obj),), columns=list(obj.colnames))
                if len(obj):
                    bounds = np.concatenate([obj["start_time"][:], obj["stop_time"][:]]).astype(
                        np.float64
                    )
                    row.update(
                        start=float(np.min(obj["start_time"][:])), stop=float(np.nanmax(bounds))
                    )
            else:
                use = {"SpatialSeries": "behaviour", "RoiResponseSeries": "neural"}.get(
                    entry.kind, "neural, behaviour"
                )
                row.update(
                    use=use,
                    shape=tuple(int(s) for s in obj.data.shape),
                    unit=obj.unit,
                    rate=obj.rate,
                )
                if obj.data.shape[0]:
                    row["start"], row["stop"] = _series_span(obj)
            rows.append(row)
    columns = ["path", "type", "use", "shape", "unit", "start", "stop", "rate", "columns"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------------- writing


def write_embedding(
    path: str | os.PathLike[str],
    embedding: Any,
    timestamps: Any = None,
    *,
    name: str = "embedding",
    module: str = "neuroembed",
    settings: Mapping[str, Any] | None = None,
    description: str | None = None,
    overwrite: bool = False,
    sidecar: bool | None = None,
    sidecar_path: str | os.PathLike[str] | None = None,
) -> Path:
    """Store an embedding in an NWB file as a ``TimeSeries`` of a processing module.

    The source file is never modified in place: the embedding is added to a copy in the same folder that
    then atomically replaces the original (every dataset already in the file keeps its bytes), or, when the
    file or its folder is read-only or ``sidecar=True``, to a separate NWB file (see the module docstring).

    Parameters
    ----------
    path : str or path-like
        The NWB file the embedding was computed from.
    embedding : array-like of shape (n_samples, output_dimension), or pynapple TsdFrame
        The embedding (a ``TsdFrame`` from ``transform`` of pynapple input brings its own times).
    timestamps : array-like of shape (n_samples,), optional
        Time of each row in seconds, non-decreasing (``Recording.timestamps``); required unless ``embedding``
        is a pynapple ``TsdFrame``.
    name : str, default "embedding"
        Name of the ``TimeSeries``.
    module : str, default "neuroembed"
        Name of the processing module (created when absent; other series in it are kept).
    settings : mapping, optional
        Model settings (e.g. ``estimator.get_params()``), stored as JSON in the series' description and
        ``comments``.
    description : str, optional
        Text put before the settings in the description.
    overwrite : bool, default False
        Replace a series of the same ``name`` already in ``module``; otherwise that raises ``ValueError``.
    sidecar : bool, optional
        ``True``: always write a sidecar file; ``False``: always write into ``path`` (fails when it is
        read-only; pynwb re-stamps a file of an older NWB version with its own); ``None`` (default): into
        ``path`` when the file and its folder are writable and the file has the NWB version the installed
        pynwb writes, else a sidecar.
    sidecar_path : str or path-like, optional
        Where the sidecar goes (default ``<folder>/<stem>.neuroembed.nwb``). Passing it implies
        ``sidecar=True``. An existing sidecar receives the new series the same way as a source file.

    Returns
    -------
    pathlib.Path
        The file that now holds the embedding: ``path`` itself or the sidecar.

    Examples
    --------
    >>> import datetime, tempfile, os
    >>> import numpy as np
    >>> from pynwb import NWBFile, NWBHDF5IO
    >>> nwb = NWBFile(session_description="demo", identifier="demo",
    ...               session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    >>> path = os.path.join(tempfile.mkdtemp(), "demo.nwb")
    >>> with NWBHDF5IO(path, "w") as io:
    ...     io.write(nwb)
    >>> out = write_embedding(path, np.ones((3, 2)), [0.0, 0.1, 0.2], settings={"model": "offset1"})
    >>> out == Path(path)
    True
    >>> with NWBHDF5IO(path, "r") as io:
    ...     io.read().processing["neuroembed"]["embedding"].data[:].shape
    (3, 2)
    """
    path = Path(path)
    if timestamps is None:
        if not hasattr(embedding, "t") or not type(embedding).__module__.startswith("pynapple."):
            raise TypeError(
                "timestamps are required (one time per embedding row, in seconds) unless the embedding is a "
                "pynapple TsdFrame, which brings its own."
            )
        timestamps = np.asarray(embedding.t)
    embedding = check_neural(embedding, "embedding")
    times = as_numeric_array(timestamps, "timestamps").astype(np.float64)
    if times.ndim != 1 or times.shape[0] != embedding.shape[0]:
        raise ValueError(
            f"timestamps must be 1-D with one time per embedding row ({embedding.shape[0]}); got shape {times.shape}."
        )
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) < 0):
        raise ValueError("timestamps must be finite and non-decreasing (seconds).")
    for label, value in (("name", name), ("module", module)):
        if not isinstance(value, str) or not value or "/" in value:
            raise ValueError(f"{label} must be a non-empty string without '/'; got {value!r}.")
    settings_json = json.dumps(dict(settings or {}), sort_keys=True, default=str)
    text = description or (
        f"Embedding computed by neuroembed, shape (n_samples, output_dimension) = {embedding.shape}."
    )

    with _open_nwb(path) as source:  # validates the source and captures what a sidecar needs
        identifier = str(source.identifier)
        start_time = source.session_start_time
        reference_time = source.timestamps_reference_time
    real = path.resolve()

    if sidecar_path is not None:
        sidecar = True
    if sidecar is None:
        sidecar = not (_writable(real) and _writable(real.parent) and _same_nwb_version(real))
    target = real
    if not sidecar and not (_writable(real) and _writable(real.parent)):
        raise PermissionError(
            f"{str(path)!r} or its folder is read-only, so the embedding cannot be added to it; pass "
            "sidecar=True (or sidecar=None) to write a separate NWB file instead."
        )
    if sidecar:
        target = (
            Path(sidecar_path)
            if sidecar_path is not None
            else real.with_name(real.stem + ".neuroembed.nwb")
        )
        if target.is_dir():
            raise ValueError(
                f"sidecar_path={str(target)!r} is a folder; expected the path of the NWB file to write."
            )
        if not target.parent.is_dir() or not _writable(target.parent):
            raise ValueError(
                f"cannot write the sidecar {str(target)!r}: its folder does not exist or is not writable; pass "
                "sidecar_path= in a writable folder."
            )

    def build(nwbfile: Any) -> None:
        from pynwb import TimeSeries

        if module in nwbfile.processing:
            holder = nwbfile.processing[module]
        else:
            holder = nwbfile.create_processing_module(
                name=module,
                description=f"Embeddings computed by neuroembed. Settings: {settings_json}",
            )
        holder.add(
            TimeSeries(
                name=name,
                data=embedding,
                timestamps=times,
                unit="a.u.",
                description=f"{text} Settings: {settings_json}",
                comments=settings_json,
            )
        )

    if target.exists():
        _append_atomically(target, module, name, overwrite, build)
    else:  # a new sidecar
        from pynwb import NWBHDF5IO, NWBFile

        sidecar_file = NWBFile(
            session_description=f"neuroembed embedding of {real.name} (identifier {identifier}).",
            identifier=str(uuid.uuid4()),
            session_start_time=start_time,
            timestamps_reference_time=reference_time,
        )
        build(sidecar_file)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target, suffix=".tmp.nwb") as tmp, NWBHDF5IO(str(tmp), "w") as io:
            io.write(sidecar_file)
    return target if target != real else path


def _same_nwb_version(path: Path) -> bool:
    """Whether the file was written with the NWB version this pynwb writes.

    pynwb, appending to a file of an older NWB version, re-stamps the file's ``nwb_version`` (and the type
    of some migrated tables) with its own version; such files get a sidecar instead, so that nothing of
    theirs changes.
    """
    import pynwb

    with h5py.File(path, "r") as f:
        version = f.attrs.get("nwb_version")
    if isinstance(version, bytes):
        version = version.decode()
    current = pynwb.get_type_map().namespace_catalog.get_namespace("core").version
    return str(version) == str(current)


def _writable(path: Path) -> bool:
    """Whether ``path`` may be written: by permission, and not marked read-only (honoured even for root)."""
    mode = path.stat().st_mode
    return os.access(path, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _temporary_beside(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp.nwb", dir=target.parent)
    os.close(fd)
    return Path(name)


def _append_atomically(target: Path, module: str, name: str, overwrite: bool, build: Any) -> None:
    """Copy ``target``, append the series to the copy with pynwb (mode "a"), then replace ``target``."""
    from pynwb import NWBHDF5IO

    location = f"processing/{module}/{name}"
    with h5py.File(target, "r") as f:
        exists = location in f
    if exists and not overwrite:
        raise ValueError(
            f"{str(target)!r} already holds an embedding at {location!r}; pass overwrite=True to replace it, or "
            "choose another name= or module=."
        )
    tmp = _temporary_beside(target)
    try:
        shutil.copy2(target, tmp)
        if exists:
            with h5py.File(tmp, "r+") as f:
                del f[location]
        with NWBHDF5IO(str(tmp), "a") as io:
            nwbfile = io.read()
            build(nwbfile)
            io.write(nwbfile)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def read_embedding(
    path: str | os.PathLike[str], name: str = "embedding", module: str = "neuroembed"
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read an embedding stored by :func:`write_embedding`.

    Parameters
    ----------
    path : str or path-like
        The NWB file (source or sidecar).
    name, module : str
        Where the series is: ``processing/<module>/<name>``.

    Returns
    -------
    embedding : ndarray of shape (n_samples, output_dimension)
    timestamps : ndarray of shape (n_samples,)
    settings : dict
        The model settings stored with it.

    Examples
    --------
    >>> import datetime, tempfile, os
    >>> import numpy as np
    >>> from pynwb import NWBFile, NWBHDF5IO
    >>> nwb = NWBFile(session_description="demo", identifier="demo",
    ...               session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    >>> path = os.path.join(tempfile.mkdtemp(), "demo.nwb")
    >>> with NWBHDF5IO(path, "w") as io:
    ...     io.write(nwb)
    >>> _ = write_embedding(path, np.eye(2), [0.0, 1.0], settings={"output_dimension": 2})
    >>> Z, t, settings = read_embedding(path)
    >>> Z.tolist(), t.tolist(), settings
    ([[1.0, 0.0], [0.0, 1.0]], [0.0, 1.0], {'output_dimension': 2})
    """
    with _open_nwb(path) as nwbfile:
        if (
            module not in nwbfile.processing
            or name not in nwbfile.processing[module].data_interfaces
        ):
            raise ValueError(f"{str(path)!r} has no embedding at 'processing/{module}/{name}'.")
        series = nwbfile.processing[module][name]
        data = np.asarray(series.data[:])
        times = _series_timestamps(series)
        try:
            settings = json.loads(series.comments) if series.comments else {}
        except json.JSONDecodeError:
            settings = {}
    return data, times, settings

"""DeepLabCut pose estimates as behaviour: body-part positions, speed and head direction.

:func:`read_deeplabcut` reads the ``.h5`` or ``.csv`` file DeepLabCut writes for an analysed video
(single-animal or multi-animal) into a :class:`Pose`; :func:`resample_behaviour` (and
:meth:`Pose.resample`) maps the video frames onto the time bins of a neural recording, keeping NaN
where the tracking is uncertain.

DeepLabCut's layout: a table with one row per video frame (the index is the frame number) and
MultiIndex columns with the levels ``scorer``, ``bodyparts``, ``coords`` (single animal) or ``scorer``,
``individuals``, ``bodyparts``, ``coords`` (multi-animal), where ``coords`` is ``x``, ``y`` and
``likelihood``. The ``.h5`` file holds it under the key ``"df_with_missing"`` (reading it needs PyTables:
``pip install "neuroembed[deeplabcut]"``); the ``.csv`` file has one header row per level, each starting
with the level's name, then one row per frame starting with the frame number.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from numbers import Real
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from neuroembed._validation import describe

__all__ = ["Pose", "read_deeplabcut", "resample_behaviour"]

#: Header levels of DeepLabCut tables, single-animal and multi-animal.
_SINGLE_LEVELS = ("scorer", "bodyparts", "coords")
_MULTI_LEVELS = ("scorer", "individuals", "bodyparts", "coords")
_SUFFIXES = (".h5", ".hdf5", ".csv")
_INSTALL = 'pip install "neuroembed[deeplabcut]"'
#: Below this length of the mean (cos, sin) vector, an averaged or interpolated angle is undefined (NaN).
_MIN_RESULTANT = 1e-6


@dataclass(frozen=True, eq=False)
class Pose:
    """Body-part positions read from a DeepLabCut file, one row per video frame (or per time bin).

    Built by :func:`read_deeplabcut`; :meth:`resample` gives the same on other times (neural bins).
    Every array has one row per entry of ``times``. NaN marks a frame where a body part was tracked
    with a likelihood below the cut-off (and anything computed from it).

    Attributes
    ----------
    positions : numpy.ndarray of float32, shape (n_frames, 2 * n_bodyparts)
        ``x, y`` of each body part in ``bodyparts`` order (``snout_x, snout_y, tail_x, ...``), in the
        video's pixel coordinates (``x`` to the right, ``y`` downwards).
    likelihood : numpy.ndarray of float32, shape (n_frames, n_bodyparts)
        DeepLabCut's likelihood of each body part, as in the file (not cut).
    bodyparts : tuple of str
        The body parts, in column order.
    times : numpy.ndarray of float64, shape (n_frames,)
        Seconds when the file was read with ``fps`` or ``frame_times`` (see ``time_unit``), otherwise
        the frame numbers of the file.
    time_unit : str
        ``"s"`` or ``"frame"``.
    speed : numpy.ndarray of float32, shape (n_frames,), or None
        Speed in pixels per second (``time_unit="s"``) or pixels per frame, when asked for.
    head_direction : numpy.ndarray of float32, shape (n_frames,), or None
        Angle in radians in ``(-pi, pi]`` of the vector from one body part to another, when asked for.
    metadata : dict
        Where the data came from: ``path``, ``scorer``, ``individual``, ``min_likelihood``, ``fps``,
        ``speed_from`` and ``head_direction_from``.
    """

    positions: np.ndarray
    likelihood: np.ndarray
    bodyparts: tuple[str, ...]
    times: np.ndarray
    time_unit: str = "frame"
    speed: np.ndarray | None = None
    head_direction: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        """Number of rows (frames, or bins after :meth:`resample`)."""
        return int(self.times.shape[0])

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the columns of ``positions``: ``("snout_x", "snout_y", ...)``."""
        return tuple(f"{part}_{axis}" for part in self.bodyparts for axis in ("x", "y"))

    def to_dataframe(self, angles: str = "radians") -> pd.DataFrame:
        """The pose as a table: positions, then ``speed`` and head direction when present.

        Parameters
        ----------
        angles : {"radians", "cos_sin"}
            Head direction as one column ``head_direction`` (radians), or as two columns
            ``head_direction_cos`` and ``head_direction_sin`` (no jump at +-pi, what a model should see).

        Returns
        -------
        pandas.DataFrame
            float32 columns, indexed by ``times`` (index named ``"time"`` in seconds or ``"frame"``).
        """
        if angles not in ("radians", "cos_sin"):
            raise ValueError(f"angles must be 'radians' or 'cos_sin'; got {angles!r}.")
        data: dict[str, np.ndarray] = dict(zip(self.columns, self.positions.T))
        if self.speed is not None:
            data["speed"] = self.speed
        if self.head_direction is not None:
            if angles == "radians":
                data["head_direction"] = self.head_direction
            else:
                data["head_direction_cos"] = np.cos(self.head_direction)
                data["head_direction_sin"] = np.sin(self.head_direction)
        index = pd.Index(self.times, name="time" if self.time_unit == "s" else "frame")
        return pd.DataFrame(data, index=index).astype(np.float32)

    def to_behaviour(self) -> np.ndarray:
        """Behaviour for :meth:`neuroembed.Estimator.fit`: float32 ``(n_frames, n_columns)``.

        The columns are those of ``to_dataframe(angles="cos_sin")``: positions, ``speed``, then the
        cosine and sine of the head direction. Rows with NaN must be dropped (or the pose resampled)
        before fitting; ``np.isfinite(b).all(axis=1)`` finds the complete ones.
        """
        return self.to_dataframe(angles="cos_sin").to_numpy(dtype=np.float32)

    def resample(self, bin_times: Any, method: str = "interpolate") -> Pose:
        """The same pose on other times, e.g. the bin centres of a neural recording.

        Positions, likelihood and speed go through :func:`resample_behaviour`; the head direction
        through it with ``angular=True`` (via its cosine and sine).

        Parameters
        ----------
        bin_times : array-like, shape (n_bins,)
            Strictly increasing times, in the unit of ``times``.
        method : {"interpolate", "mean"}
            See :func:`resample_behaviour`.

        Returns
        -------
        Pose
            One row per bin; ``times`` is ``bin_times``.
        """
        bins = _increasing(bin_times, "bin_times")

        def go(values: np.ndarray, angular: bool = False) -> np.ndarray:
            out = resample_behaviour(values, self.times, bins, method=method, angular=angular)
            return out.astype(np.float32)

        return replace(
            self,
            positions=go(self.positions),
            likelihood=go(self.likelihood),
            times=bins,
            speed=None if self.speed is None else go(self.speed),
            head_direction=None
            if self.head_direction is None
            else go(self.head_direction, angular=True),
            metadata={**self.metadata, "resampled": method},
        )


def _increasing(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array of finite, strictly increasing times."""
    if isinstance(values, (str, bytes)) or values is None:
        raise TypeError(f"{name} must be a 1-D array of times; got {describe(values)}.")
    try:
        times = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1-D array of times; got {describe(values)}.") from None
    if times.ndim != 1 or times.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of times; got shape {times.shape}.")
    if not np.all(np.isfinite(times)):
        raise ValueError(f"{name} contains NaN or infinite values; expected finite times.")
    if np.any(np.diff(times) <= 0):
        first = int(np.flatnonzero(np.diff(times) <= 0)[0]) + 1
        raise ValueError(
            f"{name} must be strictly increasing; entry {first} ({times[first]!r}) does not come "
            f"after entry {first - 1} ({times[first - 1]!r})."
        )
    return times


def resample_behaviour(
    values: Any,
    times: Any,
    bin_times: Any,
    method: str = "interpolate",
    angular: bool = False,
) -> np.ndarray:
    """Map behaviour sampled at ``times`` (video frames) onto ``bin_times`` (neural bins).

    NaN is never papered over: a result is NaN unless the frames it is computed from say something.

    * ``"interpolate"``: linear interpolation between the two frames on either side of each bin time
      (a bin time that falls on a frame takes that frame's value). NaN when either of the two frames
      is NaN (no value is invented across a gap), and outside ``[times[0], times[-1]]`` (no
      extrapolation). Suits bins as short as the frames or shorter.
    * ``"mean"``: the mean of the non-NaN frames inside each bin. The bins are taken to span from halfway
      between a bin time and the one before it to halfway to the one after (the first and last bins
      as wide as their neighbours' spacing); frames on a boundary belong to the later bin. NaN when
      no frame in the bin is finite. Suits bins longer than the frames.

    Each column is resampled on its own.

    Parameters
    ----------
    values : array-like, shape (n_frames,) or (n_frames, n_columns)
        The behaviour, one row per frame; NaN where unknown.
    times : array-like, shape (n_frames,)
        Strictly increasing times of the frames.
    bin_times : array-like, shape (n_bins,)
        Strictly increasing times of the bins (their centres), in the same unit as ``times``.
    method : {"interpolate", "mean"}
        How frames become bins.
    angular : bool
        ``values`` are angles in radians (head direction): their cosine and sine are resampled and the
        angle taken back with ``arctan2``, so that 179 degrees and -179 degrees average to 180, not 0.
        The result is in ``(-pi, pi]``; NaN where the averaged direction is undefined (e.g. halfway
        between opposite directions).

    Returns
    -------
    numpy.ndarray, shape (n_bins,) or (n_bins, n_columns)
        float32 for float32 input, float64 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> frames = np.array([0.0, 1.0, 2.0, 3.0])
    >>> x = np.array([0.0, 10.0, np.nan, 30.0])
    >>> resample_behaviour(x, frames, [0.5, 1.0, 1.5, 2.5, 4.0]).tolist()
    [5.0, 10.0, nan, nan, nan]
    >>> resample_behaviour(x, frames, [0.5, 2.5], method="mean").tolist()
    [5.0, 30.0]
    >>> angle = resample_behaviour(np.radians([170.0, -170.0]), [0.0, 1.0], [0.5], angular=True)
    >>> round(float(np.degrees(angle[0])), 6)
    180.0
    """
    if method not in ("interpolate", "mean"):
        raise ValueError(f"method must be 'interpolate' or 'mean'; got {method!r}.")
    if not isinstance(angular, (bool, np.bool_)):
        raise TypeError(f"angular must be True or False; got {describe(angular)}.")
    t = _increasing(times, "times")
    bins = _increasing(bin_times, "bin_times")
    if isinstance(values, (str, bytes)) or values is None:
        raise TypeError(f"values must be a numeric array; got {describe(values)}.")
    try:
        array = np.asarray(values)
        if array.dtype.kind not in "biuf":
            raise TypeError
    except (TypeError, ValueError):
        raise TypeError(
            f"values must be a numeric array, one row per frame; got {describe(values)}."
        ) from None
    if array.ndim not in (1, 2):
        raise ValueError(
            f"values must be 1-D (n_frames,) or 2-D (n_frames, n_columns); got shape {array.shape}."
        )
    if array.shape[0] != t.shape[0]:
        raise ValueError(
            f"values has {array.shape[0]} rows but times has {t.shape[0]} entries; expected one "
            "time per row."
        )
    if method == "mean" and bins.shape[0] < 2:
        raise ValueError(
            "method='mean' needs at least 2 bin times (the bin width comes from their spacing); "
            f"got {bins.shape[0]}."
        )
    dtype = np.float32 if array.dtype == np.float32 else np.float64
    data = array.astype(np.float64).reshape(array.shape[0], -1)
    if angular:
        data = np.concatenate([np.cos(data), np.sin(data)], axis=1)
    if method == "interpolate":
        out = _interpolate(data, t, bins)
    else:
        out = _bin_mean(data, t, bins)
    if angular:
        half = out.shape[1] // 2
        cos, sin = out[:, :half], out[:, half:]
        with np.errstate(invalid="ignore"):
            out = np.arctan2(sin, cos)
            out[~(np.hypot(cos, sin) >= _MIN_RESULTANT)] = np.nan
    out = out.astype(dtype)
    if angular:  # -pi and +pi are one direction: keep (-pi, pi], also through float32 rounding
        out[out <= -np.pi + 4 * np.finfo(dtype).eps * np.pi] = dtype(np.pi)
    return out.reshape(-1) if array.ndim == 1 else out


def _interpolate(data: np.ndarray, t: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Linear interpolation, NaN if either neighbouring frame is NaN or outside the frames."""
    n = t.shape[0]
    left = np.searchsorted(t, bins, side="right") - 1  # t[left] <= bin < t[left + 1]
    inside = (left >= 0) & (bins <= t[-1])
    left = np.clip(left, 0, n - 1)
    right = np.minimum(left + 1, n - 1)
    span = t[right] - t[left]
    weight = np.divide(bins - t[left], span, out=np.zeros_like(bins), where=span > 0)
    weight = np.clip(weight, 0.0, 1.0)[:, None]
    lo, hi = data[left], data[right]
    on_frame = (weight == 0.0) & np.ones_like(lo, dtype=bool)
    out = np.where(on_frame, lo, (1.0 - weight) * lo + weight * hi)
    out[~inside] = np.nan
    return out


def _bin_mean(data: np.ndarray, t: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Mean of the finite frames in each bin (edges halfway between bin times), NaN for none."""
    m = bins.shape[0]
    edges = np.empty(m + 1)
    edges[1:-1] = 0.5 * (bins[1:] + bins[:-1])
    edges[0] = bins[0] - 0.5 * (bins[1] - bins[0])
    edges[-1] = bins[-1] + 0.5 * (bins[-1] - bins[-2])
    which = np.searchsorted(edges, t, side="right") - 1
    in_bins = (which >= 0) & (which < m)
    out = np.full((m, data.shape[1]), np.nan)
    for j in range(data.shape[1]):
        keep = in_bins & np.isfinite(data[:, j])
        counts = np.bincount(which[keep], minlength=m)
        sums = np.bincount(which[keep], weights=data[keep, j], minlength=m)
        np.divide(sums, counts, out=out[:, j], where=counts > 0)
    return out


def _read_table(path: Path) -> pd.DataFrame:
    """The DeepLabCut table of ``path`` (.h5 or .csv), with its MultiIndex columns."""
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    return _read_h5(path)


def _read_h5(path: Path) -> pd.DataFrame:
    try:
        import tables  # noqa: F401  (pandas reads HDF5 tables through PyTables)
    except ImportError as err:
        raise ImportError(
            f"reading DeepLabCut .h5 files needs PyTables; install it with {_INSTALL} "
            f"(or pip install tables), or read the .csv file DeepLabCut writes beside it. ({err})"
        ) from None
    if not h5py.is_hdf5(path):
        raise ValueError(
            f"{str(path)!r} is not a DeepLabCut .h5 file: it is not HDF5 (the file is corrupt, "
            "truncated or of another format)."
        )
    try:
        with pd.HDFStore(path, mode="r") as store:
            keys = list(store.keys())
            if "/df_with_missing" in keys:
                key = "/df_with_missing"
            elif len(keys) == 1:
                key = keys[0]
            else:
                raise ValueError(
                    f"{str(path)!r} is not a DeepLabCut .h5 file: expected one pandas table under "
                    f"the key 'df_with_missing'; it holds {keys or 'no pandas tables'}."
                )
            table = store[key]
    except ValueError:
        raise
    except Exception as err:  # PyTables raises many types for damaged or foreign files
        raise ValueError(
            f"{str(path)!r} could not be read as a DeepLabCut .h5 file "
            f"({type(err).__name__}: {_last_line(err)})."
        ) from None
    if not isinstance(table, pd.DataFrame):
        raise ValueError(
            f"{str(path)!r} is not a DeepLabCut .h5 file: it holds a {type(table).__name__}, "
            "expected a DataFrame."
        )
    return table


def _last_line(err: Exception) -> str:
    """The last line of an error message (HDF5 errors carry a whole back trace before it)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            firsts = [row[0].strip() if row else "" for _, row in zip(range(4), csv.reader(handle))]
    except (UnicodeDecodeError, csv.Error) as err:
        raise ValueError(
            f"{str(path)!r} could not be read as a DeepLabCut .csv file "
            f"({type(err).__name__}: {_last_line(err)})."
        ) from None
    if tuple(firsts[:4]) == _MULTI_LEVELS:
        levels = _MULTI_LEVELS
    elif tuple(firsts[:3]) == _SINGLE_LEVELS:
        levels = _SINGLE_LEVELS
    else:
        raise ValueError(
            f"{str(path)!r} is not in DeepLabCut's .csv layout: the header rows should start with "
            f"{', '.join(_SINGLE_LEVELS)} (single animal) or {', '.join(_MULTI_LEVELS)} "
            f"(multi-animal); they start with {firsts}."
        )
    try:
        return pd.read_csv(path, header=list(range(len(levels))), index_col=0)
    except (ValueError, pd.errors.ParserError) as err:
        raise ValueError(
            f"{str(path)!r} could not be read as a DeepLabCut .csv file "
            f"({type(err).__name__}: {_last_line(err)})."
        ) from None


def _check_layout(table: pd.DataFrame, path: Path) -> tuple[str, bool]:
    """Check DeepLabCut's column levels; return the scorer and whether the file is multi-animal."""
    names = tuple(table.columns.names) if isinstance(table.columns, pd.MultiIndex) else ()
    if names not in (_SINGLE_LEVELS, _MULTI_LEVELS):
        got = names or f"plain columns {list(table.columns)[:10]}"
        raise ValueError(
            f"{str(path)!r} is not in DeepLabCut's layout: expected columns with the levels "
            f"{list(_SINGLE_LEVELS)} or {list(_MULTI_LEVELS)}; got {got}."
        )
    scorers = list(dict.fromkeys(table.columns.get_level_values("scorer")))
    if len(scorers) != 1:
        raise ValueError(
            f"{str(path)!r} holds the output of {len(scorers)} scorers {scorers}; expected one."
        )
    coords = set(table.columns.get_level_values("coords"))
    if "z" in coords:
        raise ValueError(
            f"{str(path)!r} holds 3-D poses (coords {sorted(coords)}); read_deeplabcut reads 2-D "
            "poses (x, y, likelihood) of one camera."
        )
    if not {"x", "y", "likelihood"} <= coords:
        raise ValueError(
            f"{str(path)!r} is not in DeepLabCut's layout: expected coords x, y and likelihood; "
            f"got {sorted(coords)}."
        )
    if table.shape[0] == 0:
        raise ValueError(f"{str(path)!r} holds no frames.")
    if not pd.api.types.is_integer_dtype(table.index):
        raise ValueError(
            f"{str(path)!r} is not an analysed video: its index should be frame numbers; got "
            f"{table.index[:3].tolist()}... (dtype {table.index.dtype})."
        )
    return str(scorers[0]), names == _MULTI_LEVELS


def _names(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        names = list(value)
        if not names:
            raise ValueError(f"{name} is empty; expected at least one body part.")
        bad = [v for v in names if not isinstance(v, str)]
        if bad:
            raise TypeError(f"{name} must hold body part names (str); got {bad[:5]}.")
        repeated = sorted({v for v in names if names.count(v) > 1})
        if repeated:
            raise ValueError(f"{name} names {repeated} more than once.")
        return names
    raise TypeError(f"{name} must be a body part name or a list of them; got {describe(value)}.")


def _check_parts(wanted: list[str], available: list[str], name: str, where: str) -> None:
    missing = [p for p in wanted if p not in available]
    if missing:
        raise ValueError(
            f"{name}: body part(s) {missing} are not in {where}; available body parts: {available}."
        )


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number; got {describe(value)}.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number above 0; got {value!r}.")
    return float(value)


def read_deeplabcut(
    path: str | os.PathLike[str],
    bodyparts: str | Sequence[str] | None = None,
    min_likelihood: float = 0.6,
    individual: str | None = None,
    *,
    fps: float | None = None,
    frame_times: Any = None,
    speed: bool | str = False,
    head_direction: tuple[str, str] | None = None,
) -> Pose:
    """Read body-part positions from a DeepLabCut pose file, NaN where the tracking is uncertain.

    Parameters
    ----------
    path : str or path-like
        A DeepLabCut output of an analysed video: ``.h5`` (needs PyTables,
        ``pip install "neuroembed[deeplabcut]"``) or ``.csv``, single-animal or multi-animal.
    bodyparts : str or list of str, optional
        The body parts to read, in this order. Default: all of them (of the individual), in file order.
    min_likelihood : float
        In ``[0, 1]``. A body part's ``x`` and ``y`` become NaN in each frame where its likelihood is
        below this (0 keeps every frame). DeepLabCut's own plots use 0.6.
    individual : str, optional
        The animal of a multi-animal file (a name of its ``individuals`` level, ``"single"`` for
        DeepLabCut's unique body parts). Needed when the file tracks several.
    fps : float, optional
        Frame rate of the video: ``times`` become ``frame / fps`` seconds and speed is per second.
    frame_times : array-like, shape (n_frames,), optional
        Instead of ``fps``: the time in seconds of each frame (e.g. camera TTL pulses recorded with the
        neural data), strictly increasing.
    speed : bool or str
        ``True``: speed of the mean position of the chosen body parts (NaN in a frame where any of them
        is uncertain); a body part name: speed of that part. Speed at frame ``t`` is the distance
        between frames ``t - 1`` and ``t + 1`` over the time between them (one-sided at the first
        and last frame); NaN when frame ``t`` or a frame used is uncertain. Pixels per second with
        ``fps`` or ``frame_times``, else pixels per frame.
    head_direction : (str, str), optional
        Two body parts ``(from, to)``, e.g. ``("tailbase", "snout")``: the angle in radians in
        ``(-pi, pi]`` of the vector from the first to the second, in image coordinates (``x`` to the
        right, ``y`` down, so positive angles turn clockwise on screen). NaN where either is uncertain.
        The body parts of ``speed`` and ``head_direction`` need not be among ``bodyparts``.

    Returns
    -------
    Pose
        ``positions`` float32 ``(n_frames, 2 * n_bodyparts)`` (``x, y`` per body part), ``likelihood``,
        ``times``, and ``speed`` and ``head_direction`` when asked for. ``pose.to_dataframe()`` gives a
        table (``snout_x``, ``snout_y``, ..., ``speed``, ``head_direction``), ``pose.resample(bin_times)``
        the same on neural time bins, ``pose.to_behaviour()`` an array for ``Estimator.fit``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not ``.h5`` / ``.csv`` or not in DeepLabCut's layout; a body part or individual is
        not in the file (the message lists those that are); a multi-animal file tracks several animals
        and ``individual`` is not given; bad numbers.
    ImportError
        An ``.h5`` file and PyTables is not installed.

    Examples
    --------
    A small file in DeepLabCut's layout (what ``deeplabcut.analyze_videos`` writes), then read:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np, pandas as pd
    >>> columns = pd.MultiIndex.from_product(
    ...     [["DLC_resnet50_demo"], ["snout", "tailbase"], ["x", "y", "likelihood"]],
    ...     names=["scorer", "bodyparts", "coords"])
    >>> values = [[10, 0, 0.9, 0, 0, 0.9], [13, 4, 0.2, 1, 0, 0.9], [10, 8, 0.9, 2, 0, 0.9]]
    >>> path = Path(tempfile.mkdtemp()) / "mouseDLC_resnet50_demo.csv"
    >>> pd.DataFrame(values, columns=columns).to_csv(path)
    >>> pose = read_deeplabcut(path, fps=30, speed="tailbase", head_direction=("tailbase", "snout"))
    >>> pose.columns
    ('snout_x', 'snout_y', 'tailbase_x', 'tailbase_y')
    >>> pose.positions[:, :2].tolist()  # frame 1: likelihood 0.2 < 0.6
    [[10.0, 0.0], [nan, nan], [10.0, 8.0]]
    >>> pose.speed.tolist()  # tailbase moves 1 pixel per frame at 30 frames per second
    [30.0, 30.0, 30.0]
    >>> np.degrees(pose.head_direction).round(2).tolist()
    [0.0, nan, 45.0]
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or path-like); got {describe(path)}.")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"DeepLabCut file not found: {str(path)!r}.")
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a file; expected a DeepLabCut .h5 or .csv file.")
    if path.suffix.lower() not in _SUFFIXES:
        raise ValueError(
            f"{str(path)!r} has the extension {path.suffix!r}; expected a DeepLabCut pose file "
            "ending in .h5 (or .hdf5) or .csv."
        )
    if isinstance(min_likelihood, bool) or not isinstance(min_likelihood, Real):
        raise TypeError(
            f"min_likelihood must be a number in [0, 1]; got {describe(min_likelihood)}."
        )
    if not 0.0 <= min_likelihood <= 1.0:
        raise ValueError(f"min_likelihood must be in [0, 1]; got {min_likelihood!r}.")
    if individual is not None and not isinstance(individual, str):
        raise TypeError(f"individual must be a name (str) or None; got {describe(individual)}.")
    if fps is not None and frame_times is not None:
        raise ValueError("give fps or frame_times, not both.")
    if fps is not None:
        fps = _positive(fps, "fps")
    if not isinstance(speed, (bool, str)):
        raise TypeError(f"speed must be True, False or a body part name; got {describe(speed)}.")
    if head_direction is not None and not (
        isinstance(head_direction, (tuple, list))
        and len(head_direction) == 2
        and all(isinstance(p, str) for p in head_direction)
    ):
        raise TypeError(
            "head_direction must be a pair of body part names (from, to), e.g. "
            f"('tailbase', 'snout'); got {head_direction!r}."
        )

    table = _read_table(path)
    scorer, multi = _check_layout(table, path)
    columns = list(table.columns)
    if multi:
        individuals = [str(i) for i in dict.fromkeys(c[1] for c in columns)]
        if individual is None:
            if len(individuals) > 1:
                raise ValueError(
                    f"{str(path)!r} tracks {len(individuals)} individuals {individuals}; choose "
                    "one with individual=..."
                )
            individual = individuals[0]
        elif individual not in individuals:
            raise ValueError(
                f"individual={individual!r} is not in {str(path)!r}; its individuals are "
                f"{individuals}."
            )
        # (bodypart, coord) -> column position; positional access keeps pandas from warning about
        # lookups in DeepLabCut's unsorted MultiIndex
        lookup = {
            (str(c[2]), str(c[3])): i for i, c in enumerate(columns) if str(c[1]) == individual
        }
    else:
        if individual is not None:
            raise ValueError(
                f"individual={individual!r} given, but {str(path)!r} is a single-animal file (no "
                "individuals level); leave individual=None."
            )
        lookup = {(str(c[1]), str(c[2])): i for i, c in enumerate(columns)}
    available = list(dict.fromkeys(name for name, _ in lookup))
    where = f"{str(path)!r}" + (f" for individual {individual!r}" if multi else "")
    chosen = available if bodyparts is None else _names(bodyparts, "bodyparts")
    _check_parts(chosen, available, "bodyparts", where)

    frames = np.asarray(table.index, dtype=np.int64)
    if frame_times is not None:
        times = _increasing(frame_times, "frame_times")
        if times.shape[0] != frames.shape[0]:
            raise ValueError(
                f"frame_times has {times.shape[0]} entries but {str(path)!r} has "
                f"{frames.shape[0]} frames; expected one time per frame."
            )
        time_unit = "s"
    else:
        if np.any(np.diff(frames) <= 0):
            raise ValueError(f"the frame numbers of {str(path)!r} are not strictly increasing.")
        times = frames / fps if fps is not None else frames.astype(np.float64)
        time_unit = "s" if fps is not None else "frame"

    def part(name: str) -> tuple[np.ndarray, np.ndarray]:
        """(xy with NaN where uncertain, likelihood) of one body part, float64."""
        missing = [c for c in ("x", "y", "likelihood") if (name, c) not in lookup]
        if missing:
            raise ValueError(
                f"{where} lacks the coords {missing} of body part {name!r}; expected x, y and "
                "likelihood for every body part."
            )
        try:
            x, y, p = (
                table.iloc[:, lookup[(name, c)]].to_numpy(dtype=np.float64)
                for c in ("x", "y", "likelihood")
            )
        except (TypeError, ValueError):
            raise ValueError(
                f"{where} holds values that are not numbers in the columns of body part {name!r}."
            ) from None
        xy = np.stack([x, y], axis=1)
        with np.errstate(invalid="ignore"):
            xy[~(p >= min_likelihood)] = np.nan
        return xy, p

    parts = {name: part(name) for name in chosen}
    positions = np.concatenate([parts[name][0] for name in chosen], axis=1)
    likelihood = np.stack([parts[name][1] for name in chosen], axis=1)

    def xy(name: str, role: str) -> np.ndarray:
        _check_parts([name], available, role, where)
        return parts[name][0] if name in parts else part(name)[0]

    speed_values = None
    speed_from: Any = None
    if speed is not False:
        if speed is True:
            centre = np.mean(positions.reshape(len(positions), -1, 2), axis=1)
            speed_from = chosen
        else:
            centre = xy(speed, "speed")
            speed_from = speed
        speed_values = _speed(centre, times).astype(np.float32)

    direction = None
    if head_direction is not None:
        tail, head = (xy(p, "head_direction") for p in head_direction)
        delta = head - tail
        direction = np.arctan2(delta[:, 1], delta[:, 0])
        direction[direction == -np.pi] = np.pi
        direction = direction.astype(np.float32)

    return Pose(
        positions=positions.astype(np.float32),
        likelihood=likelihood.astype(np.float32),
        bodyparts=tuple(chosen),
        times=np.asarray(times, dtype=np.float64),
        time_unit=time_unit,
        speed=speed_values,
        head_direction=direction,
        metadata={
            "path": str(path),
            "scorer": scorer,
            "individual": individual,
            "min_likelihood": float(min_likelihood),
            "fps": fps,
            "speed_from": speed_from,
            "head_direction_from": None if head_direction is None else tuple(head_direction),
        },
    )


def _speed(xy: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Central-difference speed of ``xy`` (n, 2) over ``times``; NaN where a frame used is NaN."""
    n = xy.shape[0]
    if n < 2:
        return np.full(n, np.nan)
    step = np.empty_like(xy)
    dt = np.empty(n)
    step[1:-1], dt[1:-1] = xy[2:] - xy[:-2], times[2:] - times[:-2]
    step[0], dt[0] = xy[1] - xy[0], times[1] - times[0]
    step[-1], dt[-1] = xy[-1] - xy[-2], times[-1] - times[-2]
    out = np.hypot(step[:, 0], step[:, 1]) / dt
    out[~np.isfinite(xy).all(axis=1)] = np.nan
    return out

"""pynapple objects at the boundary of the estimator and the metrics (private; pynapple itself is optional).

pynapple (Viejo et al. 2023) is how many labs hold their recordings: ``Tsd`` / ``TsdFrame`` (values on a time
index), ``TsGroup`` (spike times of several units), ``IntervalSet`` (epochs). neuroembed recognises these objects
by their module, without importing pynapple unless it gets one, and turns them into the arrays and masks the rest
of the package works with:

* neural data: a ``TsdFrame`` (one column per neuron), a ``Tsd`` (one neuron) or a ``TsGroup`` counted in bins of
  the estimator's ``bin_size`` (``TsGroup.count``). Its rows keep their times, so ``transform`` can answer with a
  ``TsdFrame`` on the same time index.
* behaviour: a ``Tsd`` / ``TsdFrame`` on any time base, aligned to the neural bins (:func:`align`).
* gaps: a recording restricted to several epochs (``tsdframe.restrict(run_ep)``) is several contiguous segments
  laid end to end. A training window must not span two of them, and a time positive must lie in its reference's
  segment: :func:`layout` marks the rows that may be drawn.
* ``epochs=`` of ``fit``: only samples inside the epochs are drawn; samples outside still feed the windows of
  their neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "is_pynapple",
    "kind",
    "Timed",
    "neural",
    "align",
    "align_behaviour",
    "in_epochs",
    "as_tsdframe",
]

#: Behaviour sampled this much more finely than the neural bins is averaged over each bin, not interpolated.
MEAN_WHEN_FINER = 2.0


def kind(x: Any) -> str | None:
    """``"TsGroup"``, ``"TsdFrame"``, ``"Tsd"``, ``"TsdTensor"``, ``"Ts"`` or ``"IntervalSet"`` for a pynapple
    object, ``None`` for anything else (recognised by module, so pynapple is not imported to ask)."""
    cls = type(x)
    if not cls.__module__.startswith("pynapple."):
        return None
    for base in cls.__mro__:
        if base.__name__ in ("TsGroup", "TsdFrame", "TsdTensor", "Tsd", "Ts", "IntervalSet"):
            return base.__name__
    return cls.__name__


def is_pynapple(x: Any) -> bool:
    """Whether ``x`` is a pynapple object."""
    return kind(x) is not None


@dataclass
class Timed:
    """A recording's rows with their times.

    Attributes
    ----------
    values : ndarray of shape (n_samples, n_columns)
    t : ndarray of shape (n_samples,)
        Time of each row, in seconds.
    time_support : IntervalSet
        The epochs the rows cover (pynapple's ``time_support``).
    columns : list
        Column names (unit ids of a ``TsGroup``).
    segment : ndarray of int of shape (n_samples,)
        Which interval of ``time_support`` holds each row: rows of one segment are contiguous in time.
    """

    values: np.ndarray
    t: np.ndarray
    time_support: Any
    columns: list
    segment: np.ndarray

    @property
    def n_segments(self) -> int:
        return int(self.segment.max()) + 1 if self.segment.size else 0


def _segments(t: np.ndarray, support: Any) -> np.ndarray:
    starts = np.asarray(support.start, dtype=np.float64)
    if starts.size <= 1:
        return np.zeros(t.shape[0], dtype=np.int64)
    return np.clip(np.searchsorted(starts, t, side="right") - 1, 0, starts.size - 1).astype(
        np.int64
    )


def neural(x: Any, bin_size: float | None, name: str = "neural") -> Timed:
    """The neural rows of a pynapple ``TsdFrame``, ``Tsd`` or binned ``TsGroup``, with their times."""
    k = kind(x)
    if k == "TsGroup":
        if bin_size is None:
            raise TypeError(
                f"{name} is a pynapple TsGroup of spike times ({len(x)} units); set the estimator's bin_size (in "
                "seconds, e.g. bin_size=0.025) to count the spikes in bins, or pass tsgroup.count(bin_size) "
                "yourself."
            )
        x = x.count(float(bin_size))
        k = "TsdFrame"
    if k not in ("TsdFrame", "Tsd"):
        raise TypeError(
            f"{name} is a pynapple {k}; expected a TsdFrame (one column per neuron), a Tsd (one neuron) or a "
            "TsGroup of spike times (with bin_size)."
        )
    values = np.asarray(x.values)
    if values.ndim == 1:
        values = values[:, None]
    columns = list(x.columns) if k == "TsdFrame" else [0]
    t = np.asarray(x.t, dtype=np.float64)
    return Timed(values, t, x.time_support, columns, _segments(t, x.time_support))


def _median_step(t: np.ndarray) -> float:
    return float(np.median(np.diff(t))) if t.shape[0] > 1 else float("nan")


def align_behaviour(behaviour: Any, neural_times: Any, method: str = "auto") -> np.ndarray:
    """Behaviour of a pynapple ``Tsd`` / ``TsdFrame`` on the neural bins' times (their centres).

    Parameters
    ----------
    behaviour : Tsd or TsdFrame
        Behaviour on its own time base (tracking frames, say).
    neural_times : array-like or pynapple object
        Times of the neural bins (``TsdFrame.t``), or the neural object itself (then the bins of each interval of
        its ``time_support`` are aligned on their own: a bin at the edge of one never reaches into the next).
    method : {"auto", "interpolate", "mean", "previous"}
        ``"interpolate"``: linear interpolation between the two samples around each bin time; ``"mean"``: the
        mean of the samples inside each bin (bins end halfway between bin times); ``"previous"``: the last sample
        at or before each bin time (for integer labels). ``"auto"``: the same times are taken as they are;
        integer values (labels) take ``"previous"``; behaviour sampled more than twice as finely as the bins
        takes ``"mean"``; otherwise ``"interpolate"``. See :func:`neuroembed.io.resample_behaviour`.

    Returns
    -------
    ndarray of shape (n_bins,) or (n_bins, n_columns)
        NaN where the behaviour says nothing: bins outside its time range or in a gap between the intervals of
        its ``time_support``, or next to its NaN samples (a ``behaviour_nan="drop"`` fit leaves them out of
        training). Nothing is computed across such a gap. Integer labels outside the range are an error.
    """
    support = getattr(neural_times, "time_support", None) if is_pynapple(neural_times) else None
    bins = np.asarray(getattr(neural_times, "t", neural_times), dtype=np.float64)
    segment = None if support is None else _segments(bins, support)
    return _align_behaviour(behaviour, bins, segment, method)


def _align_behaviour(
    behaviour: Any, bins: np.ndarray, segment: np.ndarray | None, method: str
) -> np.ndarray:
    """:func:`align_behaviour` on bin times ``bins``, whose contiguous runs are ``segment`` (``None``: one)."""
    if method not in ("auto", "interpolate", "mean", "previous"):
        raise ValueError(
            f"method must be 'auto', 'interpolate', 'mean' or 'previous'; got {method!r}."
        )
    k = kind(behaviour)
    if k not in ("Tsd", "TsdFrame"):
        raise TypeError(
            f"behaviour must be a pynapple Tsd or TsdFrame to be aligned by time; got {type(behaviour).__name__}."
        )
    t = np.asarray(behaviour.t, dtype=np.float64)
    values = np.asarray(behaviour.values)
    if t.shape[0] == 0:
        raise ValueError(
            f"behaviour is an empty pynapple {k} (0 samples); expected samples to align to the "
            f"{bins.shape[0]} neural bins."
        )
    if t.shape == bins.shape and np.allclose(t, bins, rtol=0.0, atol=1e-9):
        return values
    integer = values.dtype.kind in "biu"
    if method == "auto":
        if integer:
            method = "previous"
        elif _median_step(t) * MEAN_WHEN_FINER < _median_step(bins):
            method = "mean"
        else:
            method = "interpolate"
    # the intervals of the behaviour's time support: a bin in a gap between two has no behaviour, and a bin is
    # computed from the samples of its own interval only
    starts = np.atleast_1d(np.asarray(behaviour.time_support.start, dtype=np.float64))
    ends = np.atleast_1d(np.asarray(behaviour.time_support.end, dtype=np.float64))
    last = max(starts.size - 1, 0)
    epoch = np.clip(np.searchsorted(starts, bins, side="right") - 1, 0, last)
    frame_epoch = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, last)
    in_gap = (
        (epoch < last) & (bins > ends[epoch]) if starts.size > 1 else np.zeros(bins.shape, bool)
    )
    if method == "previous":
        at = np.searchsorted(t, bins, side="right") - 1
        outside = (at < 0) | (bins > t[-1] + (_median_step(t) if t.shape[0] > 1 else 0.0))
        outside |= in_gap | (frame_epoch[np.maximum(at, 0)] != epoch)
        if outside.any():
            raise ValueError(
                f"{int(outside.sum())} neural bins (first at t={bins[outside][0]:.6g} s) lie outside the labels' "
                f"time range [{t[0]:.6g}, {t[-1]:.6g}] s or in a gap of their time support; restrict the neural "
                "data to the labels' time support (neural.restrict(labels.time_support))."
            )
        return values[at]
    from neuroembed.io.deeplabcut import resample_behaviour

    values = values.astype(np.float64, copy=False)
    segment = np.zeros(bins.shape[0], np.int64) if segment is None else segment
    if starts.size <= 1 and (segment.size == 0 or segment.min() == segment.max()):
        return resample_behaviour(values, t, bins, method=method)
    out = np.full((bins.shape[0], *values.shape[1:]), np.nan)
    inner = np.diff(bins)[np.diff(segment) == 0]  # spacing of bins within a segment
    step = float(np.median(inner)) if inner.size else float("nan")
    for seg, ep in sorted(set(zip(segment[~in_gap].tolist(), epoch[~in_gap].tolist()))):
        rows = np.flatnonzero((segment == seg) & (epoch == ep) & ~in_gap)
        frames = frame_epoch == ep
        if not frames.any():
            continue
        at = bins[rows]
        # a single bin in its interval: its width from the other bins
        if method == "mean" and rows.size == 1 and np.isfinite(step):
            out[rows] = resample_behaviour(
                values[frames], t[frames], at[0] + step * np.array([-1.0, 0.0, 1.0]), method="mean"
            )[1]
        else:
            out[rows] = resample_behaviour(values[frames], t[frames], at, method=method)
    return out


def align(y: Any, rec: Timed, behaviour_nan: str, name: str = "behaviour") -> Any:
    """``y`` (pynapple, a tuple of them, or arrays) on the rows of ``rec``; arrays pass through unchanged."""
    if isinstance(y, tuple):
        return tuple(align(part, rec, behaviour_nan, name) for part in y)
    if not is_pynapple(y):
        return y
    out = _align_behaviour(y, rec.t, rec.segment, "auto")
    if out.dtype.kind == "f":
        before = np.isnan(np.asarray(y.values, dtype=np.float64)).any()
        missing = np.isnan(out).reshape(out.shape[0], -1).any(axis=1)
        if missing.any() and not before and behaviour_nan != "drop":
            raise ValueError(
                f"aligning {name} ({kind(y)} of {len(y.t)} samples, {y.t[0]:.6g}-{y.t[-1]:.6g} s) to the "
                f"{rec.t.shape[0]} neural bins ({rec.t[0]:.6g}-{rec.t[-1]:.6g} s) leaves {int(missing.sum())} bins "
                "without behaviour (outside its time range); restrict the neural data to the behaviour's "
                f"time support (neural.restrict({name}.time_support)), or pass behaviour_nan='drop' to the "
                "estimator to leave those bins out of training."
            )
    return out


def in_epochs(t: np.ndarray, epochs: Any) -> np.ndarray:
    """Which times lie inside an ``IntervalSet`` (ends included)."""
    if kind(epochs) != "IntervalSet":
        raise TypeError(
            f"epochs must be a pynapple IntervalSet (the epochs to fit on); got {type(epochs).__name__}."
        )
    starts = np.asarray(epochs.start, dtype=np.float64)
    ends = np.asarray(epochs.end, dtype=np.float64)
    at = np.searchsorted(starts, t, side="right") - 1
    ok = at >= 0
    ok[ok] = t[ok] <= ends[at[ok]]
    return ok


def as_tsdframe(values: np.ndarray, rec: Timed, columns: Any = None) -> Any:
    """``values`` (one row per row of ``rec``) as a pynapple ``TsdFrame`` on ``rec``'s time index, its columns
    named ``columns`` (default ``dim0``, ``dim1``, ...)."""
    import pynapple as nap

    if columns is None:
        columns = [f"dim{i}" for i in range(values.shape[1])]
    columns = list(columns)
    return nap.TsdFrame(t=rec.t, d=values, time_support=rec.time_support, columns=columns)

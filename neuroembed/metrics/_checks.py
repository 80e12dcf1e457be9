"""Input checks of the metrics that keep float64 precision (private)."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroembed._validation import as_numeric_array, text_labels

__all__ = ["check_float_2d", "text_labels"]


def check_float_2d(
    x: Any, name: str, n_samples: int | None = None, *, allow_1d: bool = False
) -> np.ndarray:
    """Validate a finite, non-empty 2-D numeric array and return it as float64.

    Unlike :func:`neuroembed._validation.check_neural` this keeps float64 precision, which
    least-squares metrics need. With ``allow_1d``, a 1-D array becomes one column; with
    ``n_samples``, the number of rows must match.
    """
    arr = as_numeric_array(x, name)
    if arr.ndim == 1 and allow_1d:
        arr = arr[:, None]
    if arr.ndim != 2:
        shape = "(n_samples,) or (n_samples, n_dims)" if allow_1d else "(n_samples, n_dims)"
        raise ValueError(f"{name} must be {shape}; got an array of shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(
            f"{name} is empty (shape {arr.shape}); expected at least one sample and one column."
        )
    if n_samples is not None and arr.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {arr.shape[0]} samples, but {n_samples} were expected (one per row)."
        )
    out = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(out).all():
        n_nan = int(np.isnan(out).sum())
        raise ValueError(
            f"{name} contains {n_nan} NaN and {int((~np.isfinite(out)).sum()) - n_nan} infinite value(s); "
            "expected finite numbers."
        )
    return out

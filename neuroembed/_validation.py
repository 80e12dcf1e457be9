"""Input validation shared by every public boundary.

Each checker takes what a user passed, converts it to a plain :class:`numpy.ndarray` of the
documented dtype, and raises :class:`TypeError` (wrong kind of data) or :class:`ValueError`
(right kind, wrong content) with a message that says what was given and what was expected.
Nothing here imports from the rest of the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np

__all__ = [
    "as_numeric_array",
    "check_neural",
    "check_continuous",
    "check_discrete",
    "check_choice",
    "check_positive_int",
    "check_positive_float",
    "describe",
]


def describe(x: Any) -> str:
    """Short human description of ``x`` for error messages (type, shape, dtype)."""
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{type(x).__name__} of shape {tuple(shape)} and dtype {dtype}"
    if isinstance(x, (list, tuple)):
        return f"{type(x).__name__} of length {len(x)}"
    return type(x).__name__


def as_numeric_array(x: Any, name: str) -> np.ndarray:
    """Convert ``x`` to a numeric ndarray without changing its dtype class.

    Accepts numpy arrays, array-likes, pandas objects and CPU/GPU torch tensors. Raises
    :class:`TypeError` for ``None``, strings, object, complex or otherwise non-numeric data.
    """
    if x is None:
        raise TypeError(f"{name} must be an array of numbers; got None.")
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers; got a {type(x).__name__}.")
    if isinstance(x, np.ma.MaskedArray):
        masked = int(np.ma.getmaskarray(x).sum())
        if masked:
            raise ValueError(
                f"{name} is a masked array with {masked} masked value(s); masks are not used, so those values "
                "would be read as data. Fill them (x.filled(value)) or drop those samples first."
            )
        x = x.data
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch here
        x = x.detach().cpu().numpy()
    elif hasattr(x, "to_numpy"):  # pandas DataFrame / Series
        x = x.to_numpy()
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise TypeError(
            f"{name} must be a rectangular array of numbers; got {describe(x)} ({err})."
        ) from None
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (ValueError, TypeError) as err:
            raise TypeError(
                f"{name} must hold numbers; got an array of dtype object that does not convert to float "
                f"({err})."
            ) from None
    if arr.dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} has dtype {arr.dtype}; expected real numbers."
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers (bool, int, unsigned or float dtype); got dtype {arr.dtype} "
            f"(kind {arr.dtype.kind!r})."
        )
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            n_nan = int(np.isnan(arr).sum())
            n_inf = int(bad.sum()) - n_nan
            first = np.argwhere(bad)[0]
            raise ValueError(
                f"{name} contains {n_nan} NaN and {n_inf} infinite value(s) (first at index "
                f"{tuple(int(i) for i in first)}); expected finite numbers. Remove or interpolate them first."
            )


def check_neural(
    x: Any,
    name: str = "neural",
    *,
    min_samples: int = 1,
    n_features: int | None = None,
) -> np.ndarray:
    """Validate neural data and return it as a C-contiguous float32 array ``(n_samples, n_features)``.

    Parameters
    ----------
    x : array-like of shape (n_samples, n_features)
        Spike counts, rates or calcium traces. Integer and boolean dtypes are converted to float32.
    name : str
        Name used in error messages.
    min_samples : int
        Fewest rows accepted (e.g. the encoder's receptive field).
    n_features : int, optional
        If given, the number of columns required (e.g. the number seen in ``fit``).

    Examples
    --------
    >>> check_neural([[1, 2], [3, 4]]).dtype
    dtype('float32')
    """
    arr = as_numeric_array(x, name)
    if arr.ndim != 2:
        hint = (
            " Reshape your data with x.reshape(-1, 1) if it holds one neuron."
            if arr.ndim == 1
            else ""
        )
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features); got a {arr.ndim}-D array of shape {arr.shape}.{hint}"
        )
    if arr.shape[0] == 0:
        raise ValueError(
            f"{name} is empty: 0 sample(s) (shape={arr.shape}); expected at least one."
        )
    if arr.shape[1] == 0:
        raise ValueError(
            f"{name} is empty: 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    _check_finite(arr, name)
    if arr.dtype.kind in "iu" and arr.size and np.abs(arr).max() > 2**24:
        raise ValueError(
            f"{name} holds integers up to {int(np.abs(arr).max())}, which float32 cannot represent exactly "
            "(limit 2**24); expected counts or rates. Rescale the data or pass it as float."
        )
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.dtype.kind == "f" and not np.isfinite(out).all():
        raise ValueError(
            f"{name} has values too large for float32 (max |x| = {np.abs(arr).max():.3g})."
        )
    if out.shape[0] < min_samples:
        raise ValueError(
            f"{name} has {out.shape[0]} sample(s) (n_samples={out.shape[0]}), fewer than the "
            f"{min_samples} needed (at least 2 and at least the model's receptive field); pass a longer "
            "recording or a model with a smaller receptive field."
        )
    if n_features is not None and out.shape[1] != n_features:
        raise ValueError(
            f"{name} has {out.shape[1]} features, but {n_features} were expected (as seen in fit)."
        )
    return out


def check_continuous(
    y: Any, n_samples: int, name: str = "behaviour", reference: str = "the neural data"
) -> np.ndarray:
    """Validate continuous behaviour: float32 array ``(n_samples, n_dims)`` (1-D input becomes one column)."""
    arr = as_numeric_array(y, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D or 2-D (n_samples,) / (n_samples, n_dims); got shape {arr.shape}."
        )
    if arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); expected at least one column.")
    if arr.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {arr.shape[0]} samples but {reference} has {n_samples}; they must be aligned row by row."
        )
    _check_finite(arr, name)
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        raise ValueError(f"{name} has values too large for float32.")
    return out


def check_discrete(
    y: Any, n_samples: int, name: str = "labels", reference: str = "the neural data"
) -> np.ndarray:
    """Validate discrete labels: int64 array ``(n_samples,)``; floats must be whole numbers."""
    arr = as_numeric_array(y, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} (discrete) must be 1-D (n_samples,); got shape {arr.shape}.")
    if arr.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {arr.shape[0]} samples but {reference} has {n_samples}; they must be aligned row by row."
        )
    if arr.dtype.kind == "f":
        _check_finite(arr, name)
        if not np.all(arr == np.round(arr)):
            raise TypeError(
                f"{name} (discrete) must be integers; got non-integer floats such as {arr[arr != np.round(arr)][0]!r}."
            )
    return arr.astype(np.int64)


def check_choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """Raise ``ValueError`` naming the valid choices unless ``value`` is one of them."""
    if value not in choices:
        raise ValueError(
            f"{name}={value!r} is not supported; choose one of {sorted(map(str, choices))}."
        )
    return value


@overload
def check_positive_int(
    value: Any, name: str, *, minimum: int = ..., allow_none: Literal[False] = ...
) -> int: ...


@overload
def check_positive_int(
    value: Any, name: str, *, minimum: int = ..., allow_none: bool
) -> int | None: ...


def check_positive_int(
    value: Any, name: str, *, minimum: int = 1, allow_none: bool = False
) -> int | None:
    """Return ``value`` as int if it is an integer >= ``minimum``; raise otherwise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name} must be an integer >= {minimum}; got {value!r} ({type(value).__name__})."
        )
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}.")
    return int(value)


def check_positive_float(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float if it is a finite number > 0 (>= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number; got {value!r} ({type(value).__name__}).")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value}.")
    return value

"""Small helpers shared by the synthetic dataset generators (private)."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroembed._validation import check_positive_float

__all__ = ["make_rng", "minimum_jerk", "check_range", "check_fraction"]


def make_rng(random_state: Any) -> np.random.Generator:
    """Turn ``None``, an int, a :class:`numpy.random.SeedSequence` or a Generator into a Generator."""
    if isinstance(random_state, bool) or not (
        random_state is None
        or isinstance(random_state, (int, np.integer, np.random.SeedSequence, np.random.Generator))
    ):
        raise TypeError(
            "random_state must be None, an int, a numpy SeedSequence or a numpy Generator; got "
            f"{random_state!r} ({type(random_state).__name__})."
        )
    if isinstance(random_state, (int, np.integer)) and random_state < 0:
        raise ValueError(f"random_state must be a non-negative int; got {random_state}.")
    return np.random.default_rng(random_state)


def minimum_jerk(tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-jerk progress ``s(tau)`` and its derivative ``ds/dtau`` for ``tau`` in [0, 1].

    ``s = 10 tau^3 - 15 tau^4 + 6 tau^5`` goes smoothly from 0 to 1 with zero velocity and
    acceleration at both ends (Flash & Hogan 1985); its peak derivative is 1.875 at ``tau = 0.5``.
    """
    tau = np.clip(tau, 0.0, 1.0)
    s = tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)
    ds = 30.0 * tau**2 * (1.0 - tau) ** 2
    return s, ds


def check_range(value: Any, name: str, *, allow_zero: bool = False) -> tuple[float, float]:
    """Validate a ``(low, high)`` pair of positive numbers with ``low <= high``; a number means both."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        low = high = check_positive_float(value, name, allow_zero=allow_zero)
        return low, high
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a number or a (low, high) pair; got {value!r}.")
    low = check_positive_float(value[0], f"{name}[0]", allow_zero=allow_zero)
    high = check_positive_float(value[1], f"{name}[1]", allow_zero=allow_zero)
    if low > high:
        raise ValueError(f"{name} must be (low, high) with low <= high; got {value!r}.")
    return low, high


def check_fraction(value: Any, name: str) -> float:
    """Validate a number in [0, 1]."""
    value = check_positive_float(value, name, allow_zero=True)
    if value > 1.0:
        raise ValueError(f"{name} must be between 0 and 1; got {value}.")
    return value

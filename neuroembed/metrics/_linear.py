"""Affine least squares and the variance-weighted coefficient of determination (private)."""

from __future__ import annotations

import numpy as np

__all__ = ["affine_r2", "r2_variance_weighted"]


def r2_variance_weighted(target: np.ndarray, prediction: np.ndarray) -> float:
    """``1 - SS_res / SS_tot`` with both sums taken over samples and all target dimensions.

    Equal to scikit-learn's ``r2_score(..., multioutput="variance_weighted")``. NaN when the
    target is constant (``SS_tot = 0``).
    """
    target = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    prediction = np.asarray(prediction, dtype=np.float64).reshape(len(prediction), -1)
    ss_res = float(((target - prediction) ** 2).sum())
    ss_tot = float(((target - target.mean(axis=0)) ** 2).sum())
    if ss_tot == 0.0:
        return float("nan")
    return 1.0 - ss_res / ss_tot


def affine_r2(source: np.ndarray, target: np.ndarray) -> float:
    """In-sample R^2 of the least-squares affine map ``target ~ source @ W + b``.

    Both arrays are (n_samples, n_dims); the fit is done in float64 on centred data (which is the
    same as fitting an intercept), with :func:`numpy.linalg.lstsq` so rank-deficient sources work.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    source_c = source - source.mean(axis=0)
    target_c = target - target.mean(axis=0)
    weights, *_ = np.linalg.lstsq(source_c, target_c, rcond=None)
    return r2_variance_weighted(target_c, source_c @ weights)

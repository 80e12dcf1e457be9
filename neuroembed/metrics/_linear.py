"""Affine least squares and the coefficient of determination (private)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import r2_score

__all__ = ["MULTIOUTPUT", "affine_r2", "r2"]

#: How R^2 of a multi-dimensional target is combined over its dimensions (scikit-learn's names).
MULTIOUTPUT = ("uniform_average", "variance_weighted")


def r2(target: np.ndarray, prediction: np.ndarray, multioutput: str = "uniform_average") -> float:
    """Coefficient of determination of a prediction, combined over target dimensions.

    ``"uniform_average"`` is the mean of the per-dimension R^2 (scikit-learn's default, and what
    ``LinearRegression.score`` and CEBRA's consistency report); ``"variance_weighted"`` is
    ``1 - SS_res / SS_tot`` with both sums taken over samples and all dimensions. Computed by
    :func:`sklearn.metrics.r2_score` (a constant dimension scores 1 if predicted exactly, else 0).
    """
    target = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    prediction = np.asarray(prediction, dtype=np.float64).reshape(len(prediction), -1)
    return float(r2_score(target, prediction, multioutput=multioutput))


def affine_r2(
    source: np.ndarray, target: np.ndarray, multioutput: str = "uniform_average"
) -> float:
    """In-sample R^2 of the least-squares affine map ``target ~ source @ W + b``.

    Both arrays are (n_samples, n_dims); the fit is done in float64 on centred data (which is the
    same as fitting an intercept), with :func:`numpy.linalg.lstsq` so rank-deficient sources work.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    source_c = source - source.mean(axis=0)
    target_c = target - target.mean(axis=0)
    weights, *_ = np.linalg.lstsq(source_c, target_c, rcond=None)
    return r2(target_c, source_c @ weights, multioutput)

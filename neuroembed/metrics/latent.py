"""Recovery of a known latent: how well an embedding matches the ground truth up to an affine map."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroembed._validation import check_choice
from neuroembed.metrics._checks import check_float_2d
from neuroembed.metrics._linear import MULTIOUTPUT, affine_r2

__all__ = ["latent_recovery"]


def latent_recovery(
    embedding: Any, true_latent: Any, multioutput: str = "uniform_average"
) -> float:
    """R^2 of the best affine map from an embedding to the true latent.

    Fits ``true_latent ~ embedding @ W + b`` by least squares on all samples and returns the
    in-sample coefficient of determination, averaged over the latent dimensions (or weighted by their
    variance, as scikit-learn's ``r2_score`` does with the same ``multioutput``). 1 means the embedding
    holds the latent up to an affine transform; 0 means it holds nothing linear about it. For
    synthetic data such as :func:`neuroembed.datasets.latent_manifold`, whose ``latent`` is known.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, n_dims)
    true_latent : array-like of shape (n_samples,) or (n_samples, n_latent)
    multioutput : {"uniform_average", "variance_weighted"}, default="uniform_average"
        Mean of the per-dimension R^2, or weighted by each latent dimension's variance.

    Returns
    -------
    float
        R^2, at most 1.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> latent = rng.normal(size=(100, 2))
    >>> round(latent_recovery(latent @ [[2.0, 1.0], [0.0, 1.0]] + 3.0, latent), 6)
    1.0
    """
    check_choice(multioutput, "multioutput", MULTIOUTPUT)
    emb = check_float_2d(embedding, "embedding")
    target = check_float_2d(true_latent, "true_latent", emb.shape[0], allow_1d=True)
    if emb.shape[0] < 2:
        raise ValueError(f"latent_recovery needs at least two samples; got {emb.shape[0]}.")
    constant = np.all(target == target[0], axis=0)
    if constant.any():
        raise ValueError(
            f"true_latent is constant in column(s) {np.flatnonzero(constant).tolist()}: R^2 (1 - error / variance) "
            "is undefined for a dimension that does not vary. Drop it."
        )
    return affine_r2(emb, target, multioutput)

"""Recovery of a known latent: how well an embedding matches the ground truth up to an affine map."""

from __future__ import annotations

from typing import Any

from neuroembed.metrics._checks import check_float_2d
from neuroembed.metrics._linear import affine_r2

__all__ = ["latent_recovery"]


def latent_recovery(embedding: Any, true_latent: Any) -> float:
    """R^2 of the best affine map from an embedding to the true latent.

    Fits ``true_latent ~ embedding @ W + b`` by least squares on all samples and returns the
    in-sample coefficient of determination, summed over latent dimensions (variance-weighted, like
    scikit-learn's ``r2_score(..., multioutput="variance_weighted")``). 1 means the embedding
    holds the latent up to an affine transform; 0 means it holds nothing linear about it. For
    synthetic data such as :func:`neuroembed.datasets.latent_manifold`, whose ``latent`` is known.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, n_dims)
    true_latent : array-like of shape (n_samples,) or (n_samples, n_latent)

    Returns
    -------
    float
        R^2, at most 1 (NaN if the latent is constant).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> latent = rng.normal(size=(100, 2))
    >>> round(latent_recovery(latent @ [[2.0, 1.0], [0.0, 1.0]] + 3.0, latent), 6)
    1.0
    """
    emb = check_float_2d(embedding, "embedding")
    target = check_float_2d(true_latent, "true_latent", emb.shape[0], allow_1d=True)
    if emb.shape[0] < 2:
        raise ValueError(f"latent_recovery needs at least two samples; got {emb.shape[0]}.")
    return affine_r2(emb, target)

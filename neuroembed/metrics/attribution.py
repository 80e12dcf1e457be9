"""How well an attribution map finds the neurons that truly drive the embedding: ROC AUC against a ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from neuroembed._validation import as_numeric_array

__all__ = ["attribution_auc"]

_REDUCTIONS = ("max", "mean")


def attribution_auc(attribution: Any, truth: Any, *, reduce: str = "max") -> float:
    """ROC AUC of an attribution map's absolute values as scores for a known set of driving neurons.

    The AUC is the probability that a randomly chosen true entry scores higher than a randomly chosen false one
    (ties count one half): 1 ranks every true entry above every false one, 0.5 is chance. This is the measure the
    xCEBRA paper (Schneider et al., 2025) reports for attribution maps on synthetic data with known drivers.

    Parameters
    ----------
    attribution : array-like of shape (output_dim, n_neurons) or (n_neurons,)
        E.g. the summary of :func:`neuroembed.attribution.attribution_map` (an ``Attribution`` result is read
        through its ``summary``). Its absolute values are the scores: a large negative entry counts as strongly
        as a large positive one.
    truth : array-like of bool, of shape (output_dim, n_neurons) or (n_neurons,)
        Which entries are true drivers (booleans, or 0 and 1). A 2-D truth (which neuron drives which embedding
        dimension) is scored over all ``(dimension, neuron)`` entries of a map of the same shape. A 1-D truth
        (which neurons drive the embedding at all) is scored per neuron, the map first reduced over its output
        dimensions with ``reduce``.
    reduce : {"max", "mean"}
        For a 1-D truth and a 2-D map: each neuron's score is the largest (``"max"``: a neuron that drives one
        dimension strongly counts) or the mean (``"mean"``) of its absolute attributions over the output
        dimensions.

    Returns
    -------
    float
        ROC AUC in ``[0, 1]``.

    Raises
    ------
    ValueError
        If the shapes do not match, the map holds NaN or infinite values, the truth is not boolean, or it holds
        only one class (the AUC is then undefined).

    Examples
    --------
    >>> truth = np.array([[True, False, False], [False, True, False]])
    >>> attribution_auc([[0.9, 0.1, 0.2], [0.3, -0.8, 0.1]], truth)
    1.0
    >>> attribution_auc([[0.9, 0.1, 0.2], [0.3, -0.8, 0.1]], [True, True, False])  # per neuron, by max
    1.0
    """
    if isinstance(attribution, tuple) and hasattr(attribution, "summary"):
        attribution = attribution.summary
    scores = np.abs(as_numeric_array(attribution, "attribution").astype(np.float64))
    labels = as_numeric_array(truth, "truth")
    if not isinstance(reduce, str) or reduce not in _REDUCTIONS:
        raise ValueError(f"reduce={reduce!r} is not supported; choose one of {list(_REDUCTIONS)}.")
    if scores.ndim not in (1, 2) or labels.ndim not in (1, 2):
        raise ValueError(
            "attribution and truth must be (output_dim, n_neurons) or (n_neurons,); got shapes "
            f"{scores.shape} and {labels.shape}."
        )
    if not np.isfinite(scores).all():
        raise ValueError("attribution contains NaN or infinite values; expected finite numbers.")
    if labels.dtype.kind != "b" and not np.isin(labels, (0, 1)).all():
        raise ValueError(
            f"truth must be boolean (or 0 and 1); got values such as {np.setdiff1d(labels, (0, 1))[:3]}."
        )
    labels = labels.astype(bool)
    if scores.ndim == 2 and labels.ndim == 1:
        scores = scores.max(0) if reduce == "max" else scores.mean(0)
    if scores.shape != labels.shape:
        raise ValueError(
            f"attribution of shape {np.shape(attribution)} does not match truth of shape {labels.shape}; "
            "expected the same (output_dim, n_neurons), or a truth of shape (n_neurons,) with n_neurons the "
            "map's last dimension."
        )
    n_true = int(labels.sum())
    if n_true in (0, labels.size):
        kind = "true" if n_true else "false"
        raise ValueError(
            f"truth is {kind} everywhere ({labels.size} entries); the AUC needs both true and false entries."
        )
    return float(roc_auc_score(labels.ravel(), scores.ravel()))

"""Decoding behaviour from an embedding on a held-out, contiguous block of time.

Time series are autocorrelated, so random train/test splits leak: a test sample's neighbours in
time sit in the training set. :func:`decode` therefore trains on the first ``train_fraction`` of
the samples and tests on the last block, as CEBRA's evaluations do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuroembed import _pynapple as PN
from neuroembed._validation import (
    as_numeric_array,
    check_choice,
    check_discrete,
    check_positive_float,
    check_positive_int,
    describe,
)
from neuroembed.metrics._checks import check_float_2d, text_labels
from neuroembed.metrics._linear import MULTIOUTPUT, r2

__all__ = ["decode"]

METHODS = ("knn", "linear", "both")


def _continuous_scores(
    prefix: str, target: np.ndarray, prediction: np.ndarray, multioutput: str
) -> dict[str, float]:
    errors = np.linalg.norm(target - prediction.reshape(target.shape), axis=1)
    return {
        f"{prefix}_median_error": float(np.median(errors)),
        # scikit-learn's r2_score (a constant column scores 1 if predicted exactly, else 0), NaN if nothing varies
        f"{prefix}_r2": r2(target, prediction, multioutput)
        if not np.all(target == target[0])
        else float("nan"),
    }


def _text_labels(behaviour: Any) -> np.ndarray | None:
    """Integer codes of 1-D text or categorical labels (sorted class order); None for anything else."""
    names = text_labels(behaviour, "behaviour")
    if names is None:
        return None
    return np.unique(names, return_inverse=True)[1].reshape(-1).astype(np.int64)


def decode(
    embedding: Any,
    behaviour: Any,
    train_fraction: float = 0.8,
    method: str = "both",
    n_neighbors: int = 16,
    discrete: bool | None = None,
    metric: str = "cosine",
    weights: str = "uniform",
    alpha: float = 1.0,
    multioutput: str = "uniform_average",
    *,
    test: Any = None,
    behaviour_nan: str = "raise",
) -> dict[str, float]:
    """Decode behaviour from an embedding: train on the first block of time, test on the last.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, n_dims), or pynapple TsdFrame
        Embedding (or any features, such as raw spike counts), rows in time order.
    behaviour : array-like of shape (n_samples,) or (n_samples, n_targets), or pynapple Tsd / TsdFrame
        What to decode: continuous values, or discrete labels (one column). With a ``TsdFrame`` embedding, a
        pynapple behaviour on another time base is aligned to the embedding's times
        (:func:`neuroembed.io.align_behaviour`).
    train_fraction : float, default=0.8
        Fraction of the samples, from the start, used for training; the rest is the test block.
    method : {"knn", "linear", "both"}, default="both"
        ``"knn"``: k-nearest-neighbour regression / classification; ``"linear"``: ridge regression
        (continuous) or logistic regression (discrete), on standardised features.
    n_neighbors : int, default=16
        Neighbours of the kNN decoder; at most the number of training samples.
    discrete : bool, optional
        Treat ``behaviour`` as labels (True) or as continuous (False). Default: labels if it is an
        integer or boolean 1-D array, or 1-D text (class names, a pandas categorical), continuous otherwise.
    metric : str, default="cosine"
        Distance of the kNN decoder (any scikit-learn metric name). Cosine suits embeddings on a
        hypersphere; a sample whose features are all zero is at cosine distance 1 from everything.
    weights : {"uniform", "distance"}, default="uniform"
        kNN weighting: the plain mean (majority) of the neighbours, or weighted by inverse distance.
    alpha : float, default=1.0
        Ridge penalty of the linear regression decoder; the logistic decoder uses ``C = 1 / alpha``.
    multioutput : {"uniform_average", "variance_weighted"}, default="uniform_average"
        How the R^2 of a multi-column continuous target is combined over its columns: their mean
        (scikit-learn's default) or weighted by each column's variance. One column: the same.
    test : pynapple IntervalSet or boolean array of shape (n_samples,), optional
        The held-out samples (one or several contiguous epochs); the decoders train on all the others and
        ``train_fraction`` is not used. An ``IntervalSet`` needs the embedding as a pynapple ``TsdFrame`` (the
        output of ``transform`` on pynapple input). Default: the last ``1 - train_fraction`` of the samples.
    behaviour_nan : {"raise", "drop"}, default="raise"
        Continuous behaviour with NaN rows (lost tracking): ``"raise"`` refuses it; ``"drop"`` leaves those rows
        out of training and testing (``n_train`` / ``n_test`` count the rows kept). The blocks are those of the rows
        as given (the last ``1 - train_fraction`` of all samples, or ``test``), so dropping never moves a row from
        one block to the other.

    Returns
    -------
    dict
        ``n_train`` and ``n_test`` and, per decoder ``knn`` / ``linear``: for continuous targets
        ``<decoder>_median_error`` (median over test samples of the Euclidean norm of the error
        vector across target dimensions; the absolute error for one target) and ``<decoder>_r2``
        (combined over target columns as ``multioutput`` says; NaN when the test block is constant); for discrete targets
        ``<decoder>_accuracy``.

    Examples
    --------
    >>> t = np.linspace(0, 8 * np.pi, 1000)
    >>> embedding = np.stack([np.cos(t), np.sin(t)], axis=1)
    >>> scores = decode(embedding, np.mod(t, 2 * np.pi), method="knn")
    >>> scores["n_train"], scores["n_test"], bool(scores["knn_median_error"] < 0.05)
    (800, 200, True)
    """
    check_choice(behaviour_nan, "behaviour_nan", ["raise", "drop"])
    times = None
    if PN.kind(embedding) in ("TsdFrame", "Tsd"):
        times = np.asarray(embedding.t, dtype=np.float64)
        if PN.kind(behaviour) in ("TsdFrame", "Tsd"):
            behaviour = PN.align_behaviour(behaviour, times)
    elif PN.is_pynapple(behaviour) and PN.kind(behaviour) != "IntervalSet":
        behaviour = np.asarray(behaviour.values)
    emb = check_float_2d(embedding, "embedding")
    n_samples = emb.shape[0]
    test_rows = None
    if test is not None:
        if PN.kind(test) == "IntervalSet":
            if times is None:
                raise TypeError(
                    "test is a pynapple IntervalSet, but the embedding has no times; pass it as a pynapple TsdFrame "
                    "(transform of pynapple input), or test as a boolean array with one entry per sample."
                )
            test_rows = PN.in_epochs(times, test)
        else:
            test_rows = np.asarray(test)
            if test_rows.dtype != bool or test_rows.shape != (n_samples,):
                raise TypeError(
                    f"test must be a pynapple IntervalSet or a boolean array of shape ({n_samples},); got "
                    f"{describe(test)}."
                )
    check_choice(method, "method", METHODS)
    check_choice(weights, "weights", ["uniform", "distance"])
    check_choice(multioutput, "multioutput", MULTIOUTPUT)
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a scikit-learn metric name; got {metric!r}.")
    alpha = check_positive_float(alpha, "alpha")
    n_neighbors = check_positive_int(n_neighbors, "n_neighbors")
    train_fraction = check_positive_float(train_fraction, "train_fraction")
    if train_fraction >= 1.0:
        raise ValueError(
            f"train_fraction must be between 0 and 1 (exclusive); got {train_fraction}."
        )
    if discrete is not None and not isinstance(discrete, bool):
        raise TypeError(f"discrete must be None, True or False; got {discrete!r}.")

    text = _text_labels(behaviour)
    # class names (strings, categories) are labels, coded 0 .. n_classes - 1 in sorted order
    if text is not None:
        if discrete is False:
            raise TypeError(
                "behaviour holds text (class names), which cannot be decoded as continuous values; pass "
                "discrete=None or True, or numbers."
            )
        raw, discrete = text, True
    else:
        raw = as_numeric_array(behaviour, "behaviour")
    if raw.ndim == 0 or raw.shape[0] != n_samples:
        raise ValueError(
            f"behaviour has shape {raw.shape} but the embedding has {n_samples} samples; they must be "
            "aligned row by row."
        )
    if discrete is None:
        discrete = raw.dtype.kind in "biu" and (
            raw.ndim == 1 or (raw.ndim == 2 and raw.shape[1] == 1)
        )
    keep = np.ones(n_samples, dtype=bool)
    if not discrete and behaviour_nan == "drop" and raw.dtype.kind == "f":
        keep = ~np.isnan(raw.reshape(n_samples, -1)).any(axis=1)
        raw = raw[keep]
        if raw.shape[0] == 0:
            raise ValueError("behaviour is NaN in every row; there is nothing to decode.")
    if discrete:
        target = check_discrete(raw, raw.shape[0], "behaviour")
    else:
        try:
            target = check_float_2d(raw, "behaviour", raw.shape[0], allow_1d=True)
        except ValueError as err:
            if behaviour_nan == "raise" and raw.dtype.kind == "f" and np.isnan(raw).any():
                raise ValueError(
                    f"{err} Pass behaviour_nan='drop' to leave the rows with NaN out of training and testing."
                ) from None
            raise
    emb = emb[keep]

    # the blocks are those of the rows as given; rows without behaviour are then left out of both
    if test_rows is None:
        train_rows = (np.arange(n_samples) < int(np.floor(train_fraction * n_samples)))[keep]
        where = f"train_fraction={train_fraction} of {n_samples} samples"
        fix = "Pass more samples or another fraction."
    else:
        train_rows = ~test_rows[keep]
        where = f"test (held-out rows) on {emb.shape[0]} samples"
        fix = "Pass another test block."
    n_train = int(train_rows.sum())
    n_test = int(emb.shape[0] - n_train)
    if n_train < 1 or n_test < 1:
        raise ValueError(
            f"{where} leaves {n_train} for training and {n_test} for testing; both need at least one. {fix}"
        )
    if method in ("knn", "both") and n_neighbors > n_train:
        raise ValueError(
            f"n_neighbors={n_neighbors} is more than the {n_train} training samples; pass a smaller "
            "n_neighbors or more data."
        )
    x_train, x_test = emb[train_rows], emb[~train_rows]
    y_train, y_test = target[train_rows], target[~train_rows]
    if discrete and np.unique(y_train).size < 2 and method in ("linear", "both"):
        raise ValueError(
            f"The training block holds a single label ({y_train[0]}); a classifier needs at least two. "
            "Use another train_fraction or interleave the conditions."
        )

    if not discrete and np.all(target == target[0]):
        raise ValueError(
            f"behaviour is constant (all {target.shape[0]} samples equal {target[0].tolist()}): there is nothing to "
            "decode and R^2 (1 - error / variance) is undefined. Decode a behaviour that varies."
        )

    result: dict[str, float] = {"n_train": n_train, "n_test": n_test}
    if method in ("knn", "both"):
        if discrete:
            knn = KNeighborsClassifier(n_neighbors=n_neighbors, metric=metric, weights=weights)
            result["knn_accuracy"] = float(knn.fit(x_train, y_train).score(x_test, y_test))
        else:
            knn = KNeighborsRegressor(n_neighbors=n_neighbors, metric=metric, weights=weights)
            result.update(
                _continuous_scores(
                    "knn", y_test, knn.fit(x_train, y_train).predict(x_test), multioutput
                )
            )
    if method in ("linear", "both"):
        if discrete:
            model = make_pipeline(
                StandardScaler(), LogisticRegression(C=1.0 / alpha, max_iter=5000)
            )
            result["linear_accuracy"] = float(model.fit(x_train, y_train).score(x_test, y_test))
        else:
            model = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
            result.update(
                _continuous_scores(
                    "linear", y_test, model.fit(x_train, y_train).predict(x_test), multioutput
                )
            )
    return result

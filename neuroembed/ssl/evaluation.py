"""Evaluating frozen embeddings: linear and k-nearest-neighbour probes, few-label splits.

The standard self-supervised protocol: train a simple classifier on the embeddings of labelled
images and report its accuracy on held-out images. :func:`few_label_split` picks a few labelled
images per class (e.g. 10), the regime where good representations matter most.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuroembed._validation import (
    check_discrete,
    check_neural,
    check_positive_float,
    check_positive_int,
)

__all__ = ["linear_probe", "knn_probe", "few_label_split"]


def _check_probe_inputs(
    train_X: Any, train_y: Any, test_X: Any, test_y: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train_X = check_neural(train_X, "train_X")
    train_y = check_discrete(train_y, train_X.shape[0], "train_y")
    test_X = check_neural(test_X, "test_X", n_features=train_X.shape[1])
    test_y = check_discrete(test_y, test_X.shape[0], "test_y")
    if np.unique(train_y).size < 2:
        raise ValueError(
            f"train_y holds a single class ({train_y[0]}); a probe needs at least two."
        )
    return train_X, train_y, test_X, test_y


def linear_probe(
    train_X: Any,
    train_y: Any,
    test_X: Any,
    test_y: Any,
    *,
    C: float = 1.0,
    max_iter: int = 5000,
) -> float:
    """Accuracy of a logistic regression trained on frozen embeddings.

    Features are standardised with the training statistics, then a multinomial L2-regularised
    logistic regression (scikit-learn, L-BFGS) is fitted on ``(train_X, train_y)`` and scored on
    ``(test_X, test_y)``.

    Parameters
    ----------
    train_X : array-like of shape (n_train, n_features)
        Embeddings of the labelled images.
    train_y : array-like of shape (n_train,)
        Their class labels.
    test_X : array-like of shape (n_test, n_features)
        Embeddings of the held-out images.
    test_y : array-like of shape (n_test,)
        Their class labels.
    C : float
        Inverse regularisation strength.
    max_iter : int
        Iterations of the solver.

    Returns
    -------
    float
        Test accuracy in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [1.0], [1.1]])
    >>> y = np.array([0, 0, 1, 1])
    >>> linear_probe(X, y, X, y)
    1.0
    """
    train_X, train_y, test_X, test_y = _check_probe_inputs(train_X, train_y, test_X, test_y)
    model = make_pipeline(
        StandardScaler(),
        LogisticRegression(
            C=check_positive_float(C, "C"), max_iter=check_positive_int(max_iter, "max_iter")
        ),
    )
    model.fit(train_X, train_y)
    return float(model.score(test_X, test_y))


def knn_probe(
    train_X: Any,
    train_y: Any,
    test_X: Any,
    test_y: Any,
    *,
    n_neighbors: int = 10,
) -> float:
    """Accuracy of a cosine-similarity k-nearest-neighbour classifier on frozen embeddings.

    Each test embedding takes the majority label of its ``n_neighbors`` most cosine-similar training
    embeddings, weighted by inverse distance (``n_neighbors`` is capped at the training size).

    Parameters
    ----------
    train_X, train_y, test_X, test_y
        As in :func:`linear_probe`.
    n_neighbors : int
        Neighbours consulted.

    Returns
    -------
    float
        Test accuracy in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> knn_probe(X, y, X, y, n_neighbors=1)
    1.0
    """
    train_X, train_y, test_X, test_y = _check_probe_inputs(train_X, train_y, test_X, test_y)
    k = min(check_positive_int(n_neighbors, "n_neighbors"), train_X.shape[0])
    model = KNeighborsClassifier(
        n_neighbors=k, metric="cosine", weights="distance", algorithm="brute"
    )
    model.fit(train_X, train_y)
    return float(model.score(test_X, test_y))


def few_label_split(y: Any, n_per_class: int = 10, random_state: Any = None) -> np.ndarray:
    """Indices of ``n_per_class`` randomly chosen samples of every class (sorted).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.
    n_per_class : int
        Labelled samples drawn per class, without replacement.
    random_state : int, numpy Generator or None
        Seed of the draw.

    Returns
    -------
    ndarray of shape (n_classes * n_per_class,)
        Sorted row indices into ``y``.

    Raises
    ------
    ValueError
        If a class has fewer than ``n_per_class`` samples.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 1, 0, 1, 0, 1])
    >>> idx = few_label_split(y, n_per_class=2, random_state=0)
    >>> len(idx), np.bincount(y[idx]).tolist()
    (4, [2, 2])
    """
    labels = check_discrete(y, np.shape(y)[0] if np.ndim(y) else 0, "y")
    n = check_positive_int(n_per_class, "n_per_class")
    rng = np.random.default_rng(random_state)
    classes, counts = np.unique(labels, return_counts=True)
    if counts.size and counts.min() < n:
        short = classes[counts < n]
        raise ValueError(
            f"n_per_class={n} but class(es) {short.tolist()} have only {counts[counts < n].tolist()} "
            "sample(s); lower n_per_class."
        )
    chosen = [rng.choice(np.flatnonzero(labels == c), size=n, replace=False) for c in classes]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)

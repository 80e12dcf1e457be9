"""Probes on frozen embeddings and the few-label split, against slow references."""

from __future__ import annotations

import numpy as np
import pytest

from neuroembed.ssl import few_label_split, knn_probe, linear_probe


def blobs(n_per_class=30, n_classes=3, dim=5, spread=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * 3
    X = np.concatenate([c + spread * rng.normal(size=(n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(n_classes), n_per_class)
    return X, y


def test_linear_probe_separable_and_random():
    X, y = blobs()
    assert linear_probe(X[::2], y[::2], X[1::2], y[1::2]) == 1.0
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(400, 5))
    labels = rng.integers(0, 4, 400)
    assert linear_probe(noise[:200], labels[:200], noise[200:], labels[200:]) < 0.45  # chance 0.25


def _knn_reference(train_X, train_y, test_X, k):
    """Slow cosine kNN with inverse-distance weights, one test point at a time."""
    out = []
    for x in test_X:
        d = [1 - np.dot(x, t) / (np.linalg.norm(x) * np.linalg.norm(t)) for t in train_X]
        order = np.argsort(d, kind="stable")[:k]
        votes = {}
        for i in order:
            votes[train_y[i]] = votes.get(train_y[i], 0.0) + 1.0 / max(d[i], 1e-12)
        out.append(max(votes, key=votes.get))
    return np.array(out)


def test_knn_probe_matches_reference():
    X, y = blobs(spread=2.5, seed=1)
    train, test = slice(0, None, 2), slice(1, None, 2)
    pred = _knn_reference(X[train], y[train], X[test], 5)
    expected = float(np.mean(pred == y[test]))
    assert 0.3 < expected < 1.0  # a non-trivial case
    assert knn_probe(X[train], y[train], X[test], y[test], n_neighbors=5) == pytest.approx(expected)
    assert (
        0 <= knn_probe(X[::15], y[::15], X, y, n_neighbors=50) <= 1
    )  # k capped at the 6 training points


def test_probe_input_errors():
    X, y = blobs()
    with pytest.raises(ValueError, match="single class"):
        linear_probe(X, np.zeros(len(y)), X, y)
    with pytest.raises(ValueError, match="5 were expected"):
        knn_probe(X, y, X[:, :3], y)
    with pytest.raises(ValueError, match="train_y has 10 samples"):
        linear_probe(X, y[:10], X, y)


def test_few_label_split():
    y = np.repeat(np.arange(4), [12, 15, 10, 30])
    idx = few_label_split(y, n_per_class=10, random_state=0)
    assert len(idx) == 40 and np.all(np.diff(idx) > 0)
    assert np.bincount(y[idx]).tolist() == [10, 10, 10, 10]
    np.testing.assert_array_equal(idx, few_label_split(y, 10, random_state=0))
    assert not np.array_equal(idx, few_label_split(y, 10, random_state=1))
    with pytest.raises(ValueError, match=r"class\(es\) \[2\] have only \[10\]"):
        few_label_split(y, n_per_class=11)

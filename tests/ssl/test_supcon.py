"""SupCon estimator: two views, labels as positives; needs y."""

from __future__ import annotations

import numpy as np
import pytest

from neuroembed.ssl import SupCon, knn_probe


def test_supcon_trains_loss_falls_and_separates_classes(digits, small_cnn, digit_views, loss_falls):
    X, y = digits
    model = SupCon(
        backbone=small_cnn,
        output_dimension=32,
        augmentation=digit_views,
        batch_size=64,
        max_iterations=80,
        random_state=0,
    ).fit(X[:160], y[:160])
    assert np.isfinite(model.loss_history_).all()
    assert loss_falls(model.loss_history_, margin=0.5)
    Z = model.transform(X)
    assert Z.shape == (len(X), 32)
    assert knn_probe(Z[:160], y[:160], Z[160:], y[160:]) > 0.6  # chance is 0.1


def test_supcon_needs_labels(digits):
    X, y = digits
    with pytest.raises(ValueError, match="needs class labels y"):
        SupCon(max_iterations=1).fit(X[:8])
    with pytest.raises(ValueError, match="y has 7 samples"):
        SupCon(max_iterations=1).fit(X[:8], y[:7])
    with pytest.raises(TypeError, match="must be integers"):
        SupCon(max_iterations=1).fit(X[:8], y[:8] + 0.5)

"""Triplet estimator: hard negatives mined over the training set; the loss falls."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroembed.ssl import Triplet
from neuroembed.ssl.triplet import _SameLabelSampler


def test_triplet_trains_loss_falls_with_the_miner(digits, small_cnn, digit_views, loss_falls):
    X, y = digits
    model = Triplet(
        backbone=small_cnn,
        output_dimension=32,
        augmentation=digit_views,
        update_every=20,
        n_neighbors=5,
        batch_size=48,
        max_iterations=80,
        random_state=0,
    ).fit(X, y)
    h = model.loss_history_
    assert np.isfinite(h).all() and (h >= 0).all()
    assert loss_falls(h, k=15, margin=0.02)
    miner = model.module_.miner
    assert miner.last_update_step_ == 60  # refreshed at steps 0, 20, 40, 60
    assert miner.neighbors_.shape == (len(X), 5)
    # mined negatives never share the anchor's label
    assert not np.any(y[miner.neighbors_.numpy()] == y[:, None])
    assert model.transform(X).shape == (len(X), 32)


def test_triplet_positives_share_the_label(digits):
    _, y = digits
    labels = torch.from_numpy(y)
    sampler = _SameLabelSampler(labels)
    anchors = torch.arange(len(y)).repeat(5)
    drawn = sampler.draw(anchors, torch.Generator().manual_seed(0))
    assert torch.equal(labels[drawn], labels[anchors])
    assert drawn.unique().numel() > len(y) * 0.9  # spread over each class


def test_triplet_needs_two_classes(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="at least two classes"):
        Triplet(max_iterations=1).fit(X[:8], np.zeros(8, dtype=int))
    with pytest.raises(ValueError, match="needs class labels"):
        Triplet(max_iterations=1).fit(X[:8])

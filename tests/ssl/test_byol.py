"""BYOL: online network, predictor and an EMA target on the cosine momentum schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroembed.models.ema import cosine_momentum
from neuroembed.ssl import BYOL


def test_byol_trains_and_loss_falls(digits, small_cnn, digit_views, loss_falls):
    X, _ = digits
    model = BYOL(
        backbone=small_cnn,
        output_dimension=32,
        augmentation=digit_views,
        base_momentum=0.9,
        batch_size=64,
        max_iterations=80,
        random_state=0,
    ).fit(X)
    h = model.loss_history_
    assert np.isfinite(h).all() and (h >= 0).all() and (h <= 4).all()
    assert loss_falls(h, margin=0.2)
    assert model.transform(X).shape == (len(X), 32)


def test_byol_target_follows_the_momentum_schedule(digits, small_cnn):
    X, _ = digits
    model = BYOL(
        backbone=small_cnn, output_dimension=32, batch_size=16, max_iterations=1, random_state=0
    ).fit(X[:32])
    method = model.module_
    assert all(not p.requires_grad for p in method.target.parameters())
    target = [p.clone() for p in method.target.parameters()]
    online = [p.clone() for p in method.online.parameters()]
    method.after_step(5, 0.25)
    m = cosine_momentum(0.25, 1.0, 0.99, 1.0)
    for t0, o0, t1 in zip(target, online, method.target.parameters()):
        assert torch.allclose(t1, m * t0 + (1 - m) * o0, atol=1e-6)
    # at the end of training the momentum is 1: the target no longer moves
    frozen = [p.clone() for p in method.target.parameters()]
    method.after_step(9, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(frozen, method.target.parameters()))


def test_byol_momentum_validation(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="base_momentum <= final_momentum"):
        BYOL(base_momentum=0.999, final_momentum=0.9, max_iterations=1).fit(X[:8])

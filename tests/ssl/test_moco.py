"""MoCo: momentum key encoder, a queue of past keys, a falling loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroembed.ssl import MoCo
from neuroembed.ssl._base import TrainBatch


def test_moco_trains_and_loss_falls(digits, small_cnn, digit_views, loss_falls):
    X, _ = digits
    model = MoCo(
        backbone=small_cnn,
        output_dimension=32,
        augmentation=digit_views,
        queue_size=256,
        momentum=0.9,
        batch_size=64,
        max_iterations=100,
        random_state=0,
    ).fit(X)
    assert np.isfinite(model.loss_history_).all()
    assert loss_falls(model.loss_history_, k=15, margin=0.1)
    assert model.transform(X).shape == (len(X), 32)


def test_moco_queue_and_key_encoder_updates(digits, small_cnn):
    X, _ = digits
    model = MoCo(
        backbone=small_cnn,
        output_dimension=32,
        queue_size=40,
        momentum=0.5,
        batch_size=16,
        max_iterations=1,
        random_state=0,
    ).fit(X[:32])
    method = model.module_.train()
    queue_before = method.queue.clone()
    assert method.queue_pointer.item() == 16
    assert torch.allclose(method.queue.norm(dim=1), torch.ones(40), atol=1e-5)
    key_before = [p.clone() for p in method.key_encoder.parameters()]
    online_before = [p.clone() for p in method.encoder.parameters()]

    x = torch.from_numpy(X[:16])
    g = torch.Generator().manual_seed(1)
    method.loss(TrainBatch(x, None, torch.arange(16), x, None, 1, 0.5, g))
    keys = method._keys.clone()
    method.after_step(1, 0.5)
    # the 16 new keys fill slots 16..31, older keys stay
    assert torch.equal(method.queue[16:32], keys)
    assert torch.equal(method.queue[:16], queue_before[:16]) and torch.equal(
        method.queue[32:], queue_before[32:]
    )
    assert method.queue_pointer.item() == 32
    # key encoder = 0.5 * key + 0.5 * online (online unchanged: no optimiser step here)
    for k0, o0, k1 in zip(key_before, online_before, method.key_encoder.parameters()):
        assert torch.allclose(k1, 0.5 * k0 + 0.5 * o0, atol=1e-6)
    # wrap-around: the next batch goes to 32..39 and 0..7
    method.loss(TrainBatch(x, None, torch.arange(16), x, None, 2, 0.5, g))
    keys = method._keys.clone()
    method.after_step(2, 0.5)
    assert torch.equal(method.queue[32:], keys[:8]) and torch.equal(method.queue[:8], keys[8:])
    assert method.queue_pointer.item() == 8


def test_moco_rejects_bad_momentum(digits):
    X, _ = digits
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        MoCo(momentum=1.0, max_iterations=1).fit(X[:8])

"""SimSiam: predictor plus stop-gradient; the negative-cosine loss falls towards -1."""

from __future__ import annotations

import numpy as np
import torch

from neuroembed.ssl import SimSiam
from neuroembed.ssl._base import TrainBatch


def test_simsiam_trains_and_loss_falls(digits, small_cnn, digit_views, loss_falls):
    X, _ = digits
    model = SimSiam(
        backbone=small_cnn,
        output_dimension=32,
        projection_dimension=32,
        prediction_dimension=8,
        augmentation=digit_views,
        batch_size=64,
        max_iterations=60,
        random_state=0,
    ).fit(X)
    h = model.loss_history_
    assert np.isfinite(h).all() and (h >= -1 - 1e-6).all() and (h <= 1 + 1e-6).all()
    assert loss_falls(h, margin=0.2)
    assert model.transform(X).shape == (len(X), 32)


def test_simsiam_stops_the_gradient_through_the_targets(digits, small_cnn):
    X, _ = digits
    model = SimSiam(
        backbone=small_cnn, output_dimension=32, batch_size=8, max_iterations=1, random_state=0
    ).fit(X[:16])
    method = model.module_.train()
    x = torch.from_numpy(X[:8])
    batch = TrainBatch(x, None, torch.arange(8), x, None, 0, 0.0, torch.Generator().manual_seed(0))
    # with the predictor frozen at zero the loss is a constant: no gradient may reach the projector
    with torch.no_grad():
        for p in method.predictor.parameters():
            p.zero_()
    method.zero_grad()
    method.loss(batch).backward()
    grads = [p.grad for p in method.projector.parameters()]
    assert all(g is None or torch.count_nonzero(g) == 0 for g in grads)

"""SimCLR on a small digits subset: trains, its loss falls, embeddings have the right shape."""

from __future__ import annotations

import numpy as np
import torch

from neuroembed.ssl import SimCLR
from neuroembed.ssl._base import TrainBatch


def test_simclr_trains_and_loss_falls(digits, small_cnn, digit_views, loss_falls):
    X, _ = digits
    model = SimCLR(
        backbone=small_cnn,
        output_dimension=32,
        augmentation=digit_views,
        batch_size=64,
        max_iterations=80,
        random_state=0,
    ).fit(X)
    assert model.n_iterations_ == 80 and model.loss_history_.shape == (80,)
    assert np.isfinite(model.loss_history_).all()
    assert loss_falls(model.loss_history_, margin=0.3)
    Z = model.transform(X)
    assert Z.shape == (len(X), 32) and Z.dtype == np.float32
    # the loss at the start is close to that of random embeddings: log(2 * batch - 1)
    assert abs(model.loss_history_[0] - np.log(127)) < 0.6


def test_simclr_views_are_two_augmentations_of_each_image(digits, small_cnn):
    X, _ = digits
    model = SimCLR(
        backbone=small_cnn, output_dimension=32, batch_size=8, max_iterations=1, random_state=0
    )
    model.fit(X[:16])
    method = model.module_
    calls = []
    original = method.augment

    def spy(images, generator):
        calls.append(images.shape)
        return original(images, generator)

    method.augment = spy
    x = torch.from_numpy(X[:8])
    method.train().loss(
        TrainBatch(x, None, torch.arange(8), x, None, 0, 0.0, torch.Generator().manual_seed(0))
    )
    assert calls == [(8, 1, 8, 8), (8, 1, 8, 8)]

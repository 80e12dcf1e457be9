"""iBOT: masked patch tokens on a tiny ViT, distilled from an EMA teacher; the loss falls."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroembed.ssl import IBOT, Augment, MultiCrop
from neuroembed.ssl.ibot import random_patch_mask

CROPS = MultiCrop(
    n_local=0,
    global_scale=(0.5, 1.0),
    view=Augment(crop_scale=(0.5, 1.0), flip_p=0.0),
)


def test_ibot_trains_and_loss_falls(digits, small_vit, loss_falls):
    X, _ = digits
    model = IBOT(
        backbone=small_vit,
        output_dimension=32,
        head_dimension=32,
        hidden_dimension=64,
        teacher_temperature=0.02,
        warmup_teacher_temperature=0.02,
        augmentation=CROPS,
        batch_size=48,
        max_iterations=60,
        random_state=0,
    ).fit(X)
    h = model.loss_history_
    assert np.isfinite(h).all()
    assert loss_falls(h, margin=0.5)
    assert model.transform(X).shape == (len(X), 32)


def test_ibot_with_local_crops_and_gram_anchoring_runs(digits, small_vit):
    X, _ = digits
    crops = MultiCrop(n_local=1, local_size=6, view=Augment(flip_p=0.0))
    model = IBOT(
        backbone=small_vit,
        output_dimension=32,
        head_dimension=16,
        hidden_dimension=32,
        gram_weight=1.0,
        augmentation=crops,
        batch_size=8,
        max_iterations=3,
        random_state=0,
    ).fit(X[:16])
    assert np.isfinite(model.loss_history_).all()


def test_random_patch_mask():
    g = torch.Generator().manual_seed(0)
    mask = random_patch_mask(400, 64, (0.2, 0.4), 0.5, g)
    masked_images = mask.any(1)
    assert 150 < int(masked_images.sum()) < 250
    ratio = mask[masked_images].float().mean(1)
    assert 0.05 < ratio.min() and ratio.max() < 0.65  # binomial spread around 0.2 .. 0.4
    assert abs(float(ratio.mean()) - 0.3) < 0.03
    assert not random_patch_mask(10, 16, (0.5, 0.5), 0.0, g).any()
    again = random_patch_mask(400, 64, (0.2, 0.4), 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(mask, again)


def test_ibot_needs_patch_tokens(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="backbone that returns patch tokens"):
        IBOT(backbone="cnn", max_iterations=1).fit(X[:8])
    with pytest.raises(ValueError, match="mask_ratio"):
        IBOT(mask_ratio=(0.6, 0.2), max_iterations=1, output_dimension=8).fit(X[:8])

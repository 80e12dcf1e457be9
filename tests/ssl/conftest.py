"""Shared fixtures of the image-method tests: a small digits subset, tiny backbones, one thread."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from neuroembed.models.image import ImageCNN, TinyViT
from neuroembed.ssl import Augment, MultiCrop


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks run faster on one thread, and the test machine is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """The first 240 of scikit-learn's 8x8 digits as ``(n, 1, 8, 8)`` floats in [0, 1], and labels."""
    data = load_digits()
    X = (data.images[:240] / 16.0)[:, None].astype(np.float32)
    return X, data.target[:240].astype(np.int64)


@pytest.fixture
def small_cnn() -> ImageCNN:
    """A tiny CNN backbone (32-d embedding) for fast training tests, with seeded initial weights."""
    torch.manual_seed(
        0
    )  # a backbone passed in keeps its weights: seed them so tests do not depend on order
    return ImageCNN(in_channels=1, output_dimension=32, width=8, n_stages=2)


@pytest.fixture
def small_vit() -> TinyViT:
    """A tiny ViT backbone (32-d tokens, 2x2 patches on 8x8 digits), with seeded initial weights."""
    torch.manual_seed(0)
    return TinyViT(
        in_channels=1, output_dimension=32, image_size=8, patch_size=2, depth=2, num_heads=4
    )


@pytest.fixture
def digit_views() -> Augment:
    """Augmentations suited to digits: moderate crops, no mirroring."""
    return Augment(crop_scale=(0.5, 1.0), flip_p=0.0)


@pytest.fixture
def digit_crops(digit_views: Augment) -> MultiCrop:
    """Two global and two local crops with the digit augmentations."""
    return MultiCrop(n_local=2, view=digit_views)


def _loss_falls(history: np.ndarray, k: int = 10, margin: float = 0.0) -> bool:
    history = np.asarray(history)
    return bool(history[-k:].mean() < history[:k].mean() - margin)


@pytest.fixture
def loss_falls():
    """``loss_falls(history, k=10, margin=0)``: mean of the last k losses below that of the first k."""
    return _loss_falls

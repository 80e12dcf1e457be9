"""CLIP estimator: paired modalities (images, vectors, neural windows); the loss falls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsRegressor

from neuroembed.recording import Recording
from neuroembed.ssl import CLIP, neural_behaviour_pairs


def test_clip_images_with_label_vectors(digits, small_cnn, loss_falls):
    X, y = digits
    onehot = np.eye(10)[y] + 0.05 * np.random.default_rng(0).normal(size=(len(y), 10))
    model = CLIP(
        backbone=small_cnn, output_dimension=32, batch_size=64, max_iterations=60, random_state=0
    ).fit(X, onehot)
    assert loss_falls(model.loss_history_, margin=0.5)
    A, B = model.transform(X), model.transform_b(onehot)
    assert A.shape == B.shape == (len(X), 32)
    # retrieval: an image's nearest vector (cosine) has its digit far more often than chance
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    B /= np.linalg.norm(B, axis=1, keepdims=True)
    nearest = np.argmax(A @ B.T, axis=1)
    assert np.mean(y[nearest] == y) > 0.5


def test_clip_neural_windows_with_behaviour(loss_falls):
    rng = np.random.default_rng(0)
    t = np.arange(600)
    position = np.sin(t / 20.0)
    rates = np.exp(-((position[:, None] - np.linspace(-1, 1, 12)) ** 2) / 0.1)
    neural = rng.poisson(3 * rates).astype(np.float32)
    windows, behaviour = neural_behaviour_pairs(neural, position, window=5)
    assert windows.shape == (596, 5, 12) and behaviour.shape == (596, 1)
    assert np.array_equal(windows[3], neural[3:8]) and behaviour[3, 0] == np.float32(position[5])
    model = CLIP(
        output_dimension=8, hidden_dimension=32, batch_size=64, max_iterations=60, random_state=0
    ).fit(windows, behaviour)
    assert loss_falls(model.loss_history_, margin=0.2)
    assert model.transform(windows).shape == (596, 8)
    assert model.transform_b(behaviour).shape == (596, 8)
    with pytest.raises(ValueError, match="fitted on"):
        model.transform(windows[:, :4])


def test_neural_behaviour_pairs_from_a_recording():
    rec = Recording(
        neural=np.arange(40, dtype=np.float32).reshape(20, 2), behaviour=np.arange(20.0)[:, None]
    )
    w, b = neural_behaviour_pairs(rec, window=4)
    assert w.shape == (17, 4, 2) and b[:, 0].tolist() == list(range(2, 19))
    with pytest.raises(ValueError, match="behaviour is required"):
        neural_behaviour_pairs(np.zeros((10, 2)), window=3)
    with pytest.raises(ValueError, match="fewer than the 30"):
        neural_behaviour_pairs(np.zeros((10, 2)), np.zeros(10), window=30)


def test_clip_validation(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="two paired modalities"):
        CLIP(max_iterations=1).fit(X[:8])
    with pytest.raises(ValueError, match="paired row by row"):
        CLIP(max_iterations=1).fit(X[:8], np.zeros((7, 3)))
    with pytest.raises(ValueError, match="NaN"):
        CLIP(max_iterations=1).fit(X[:8], np.full((8, 3), np.nan))
    with pytest.raises(ValueError, match="must be images"):
        CLIP(max_iterations=1).fit(X[:8], np.zeros((8, 1, 1, 1, 1)))


def test_clip_on_real_hippocampus_recording(loss_falls):
    """Neural windows <-> position on 50 s of CEBRA's rat "achilles": the neural embedding decodes position."""
    path = (
        Path(__file__).resolve().parents[2]
        / ".."
        / "shared"
        / "data"
        / "cebra_rat_hippocampus"
        / "achilles_first2000bins_from_musacchio_course.npz"
    )
    if not path.is_file():
        pytest.skip(f"real recording not available at {path}")
    data = np.load(path)
    behaviour = np.stack([data["position"], data["right"], data["left"]], axis=1)
    windows, targets = neural_behaviour_pairs(data["spikes"], behaviour, window=10)
    train, test = slice(0, 1500), slice(1500, None)  # a contiguous held-out block
    model = CLIP(
        output_dimension=8, hidden_dimension=64, batch_size=256, max_iterations=200, random_state=0
    )
    model.fit(windows[train], targets[train])
    assert loss_falls(model.loss_history_, margin=1.0)
    Z = model.transform(windows)
    knn = KNeighborsRegressor(10).fit(Z[train], targets[train, 0])
    pred = knn.predict(Z[test])
    r2 = 1 - np.mean((pred - targets[test, 0]) ** 2) / np.var(targets[test, 0])
    assert r2 > 0.6


def test_the_scale_bound_is_kept_after_each_step(digits, small_cnn):
    """ssl.CLIP clamps the learnable scale after each optimiser step (open_clip's rule), not in the forward."""
    X, y = digits
    model = CLIP(
        backbone=small_cnn, output_dimension=32, batch_size=32, max_iterations=2, random_state=0
    ).fit(X[:64], np.eye(10)[y[:64]])
    crit = model.module_.criterion
    assert crit.clamp_in_forward is False
    with torch.no_grad():
        crit.log_logit_scale.fill_(10.0)
    model.module_.after_step(0, 0.0)
    assert crit.logit_scale == pytest.approx(100.0) and crit.log_logit_scale.item() < 4.61

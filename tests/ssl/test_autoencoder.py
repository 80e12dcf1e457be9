"""AutoEncoder: reconstruction loss falls; decoding embeddings gives images."""

from __future__ import annotations

import numpy as np
import pytest

from neuroembed.ssl import AutoEncoder


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_autoencoder_trains_and_loss_falls(digits, small_cnn, loss, loss_falls):
    X, _ = digits
    model = AutoEncoder(
        backbone=small_cnn,
        output_dimension=32,
        loss=loss,
        batch_size=64,
        max_iterations=60,
        random_state=0,
    ).fit(X)
    assert loss_falls(model.loss_history_, margin=0.01)
    Z = model.transform(X)
    R = model.inverse_transform(Z)
    assert R.shape == X.shape and R.min() >= 0 and R.max() <= 1
    # reconstructions are closer to their own image than to other images on average
    err_own = np.mean((R - X) ** 2)
    err_shuffled = np.mean((R - X[::-1]) ** 2)
    assert err_own < err_shuffled


def test_denoising_and_validation(digits, small_cnn):
    X, _ = digits
    model = AutoEncoder(
        backbone=small_cnn,
        output_dimension=32,
        noise_std=0.2,
        batch_size=32,
        max_iterations=3,
        random_state=0,
    ).fit(X[:64])
    assert np.isfinite(model.loss_history_).all()
    with pytest.raises(ValueError, match="loss='huber' is not supported"):
        AutoEncoder(loss="huber", max_iterations=1).fit(X[:8])
    with pytest.raises(ValueError, match="features, but 32 were expected"):
        model.inverse_transform(np.zeros((2, 5)))

import numpy as np
import pytest

from neuroembed.datasets import ring_manifold
from neuroembed.metrics import decode


def test_shapes_and_dtypes():
    rec = ring_manifold(n_samples=400, n_neurons=12, random_state=0)
    assert rec.neural.shape == (400, 12) and rec.neural.dtype == np.float32
    assert rec.behaviour.shape == (400, 2) and rec.behaviour.dtype == np.float32
    assert rec.latent.shape == (400, 2) and rec.latent.dtype == np.float32
    assert rec.labels is None
    assert rec.metadata["rates"].shape == (400, 12)
    assert rec.metadata["angle"].shape == (400,)


def test_behaviour_is_cos_sin_of_a_smoothly_turning_angle():
    rec = ring_manifold(n_samples=8000, n_neurons=5, turn_speed=1.0, random_state=1)
    angle = rec.metadata["angle"]
    assert angle.min() >= 0.0 and angle.max() < 2 * np.pi
    np.testing.assert_allclose(rec.behaviour[:, 0], np.cos(angle), atol=1e-5)
    np.testing.assert_allclose(rec.behaviour[:, 1], np.sin(angle), atol=1e-5)
    steps = np.angle(np.exp(1j * np.diff(angle.astype(np.float64))))
    # angular velocity with std turn_speed rad/s, in 25 ms bins: small, smooth steps
    np.testing.assert_allclose(steps.std() / 0.025, 1.0, rtol=0.25)
    assert np.abs(steps).max() < 0.2
    # it goes around the ring: every eighth of the circle is visited
    counts = np.histogram(angle, bins=8, range=(0, 2 * np.pi))[0]
    assert counts.min() > 0


def test_latent_is_the_point_on_the_circle_plus_noise():
    rec = ring_manifold(n_samples=3000, n_neurons=10, latent_noise=0.0, random_state=2)
    np.testing.assert_allclose(rec.latent, rec.behaviour, atol=1e-5)
    noisy = ring_manifold(n_samples=3000, n_neurons=10, latent_noise=0.1, random_state=2)
    residual = noisy.latent - noisy.behaviour
    np.testing.assert_allclose(residual.std(), 0.1, rtol=0.2)


def test_counts_are_dense_poisson():
    rec = ring_manifold(n_samples=4000, n_neurons=30, random_state=3)
    np.testing.assert_allclose(rec.metadata["rates"].mean(), 40.0, rtol=1e-4)
    np.testing.assert_array_equal(rec.neural, np.round(rec.neural))
    # dense: far more non-zero entries than binned hippocampal spikes (about 2 %)
    assert (rec.neural > 0).mean() > 0.3
    expected = rec.metadata["rates"] * 0.025
    ratio = ((rec.neural - expected) ** 2).sum() / expected.sum()
    assert 0.9 < ratio < 1.1


def test_neural_data_carry_the_angle():
    rec = ring_manifold(n_samples=4000, n_neurons=60, random_state=4)
    assert decode(rec.neural, rec.behaviour, method="knn", metric="euclidean")["knn_r2"] > 0.5
    other = ring_manifold(n_samples=4000, n_neurons=60, random_state=5)
    assert decode(other.neural, rec.behaviour, method="knn", metric="euclidean")["knn_r2"] < 0.2


def test_seeded():
    a = ring_manifold(n_samples=200, n_neurons=4, random_state=9)
    b = ring_manifold(n_samples=200, n_neurons=4, random_state=np.random.default_rng(9))
    np.testing.assert_array_equal(a.neural, b.neural)
    np.testing.assert_array_equal(a.metadata["angle"], b.metadata["angle"])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n_samples": 0}, ValueError),
        ({"n_neurons": 2.5}, TypeError),
        ({"turn_speed": 0.0}, ValueError),
        ({"noise": "laplace"}, ValueError),
        ({"mean_rate": -1.0}, ValueError),
        ({"latent_noise": float("nan")}, ValueError),
        ({"mean_rate": 1e9}, ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        ring_manifold(**kwargs)

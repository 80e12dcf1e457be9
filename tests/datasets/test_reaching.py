import numpy as np
import pytest

from neuroembed.datasets import reaching
from neuroembed.metrics import decode


@pytest.fixture(scope="module")
def rec():
    return reaching(n_trials=80, n_neurons=40, random_state=0)


def test_shapes_and_dtypes(rec):
    assert rec.neural.shape == (80 * 60, 40) and rec.neural.dtype == np.float32
    assert rec.behaviour.shape == (4800, 4) and rec.behaviour.dtype == np.float32
    assert rec.labels.shape == (4800,) and rec.labels.dtype == np.int64
    assert rec.latent.shape == (4800, 2)
    np.testing.assert_array_equal(rec.latent, rec.behaviour[:, 2:])
    np.testing.assert_array_equal(rec.metadata["trial"], np.repeat(np.arange(80), 60))


def test_targets_balanced_and_constant_within_trial(rec):
    per_trial = rec.labels.reshape(80, 60)
    assert (per_trial == per_trial[:, :1]).all()
    np.testing.assert_array_equal(np.bincount(per_trial[:, 0]), [10] * 8)


def test_reach_ends_at_the_target(rec):
    position = rec.behaviour[:, :2].reshape(80, 60, 2)
    targets = rec.labels.reshape(80, 60)[:, 0]
    angle = 2 * np.pi * targets / 8
    expected_end = 0.1 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    np.testing.assert_allclose(position[:, -1], expected_end, atol=1e-6)
    np.testing.assert_allclose(position[:, 0], 0.0, atol=1e-6)


def test_velocity_is_the_derivative_of_position(rec):
    position = rec.behaviour[:, :2].reshape(80, 60, 2).astype(np.float64)
    velocity = rec.behaviour[:, 2:].reshape(80, 60, 2).astype(np.float64)
    finite_difference = np.diff(position, axis=1) / 0.01
    midpoint = 0.5 * (velocity[:, 1:] + velocity[:, :-1])
    np.testing.assert_allclose(finite_difference, midpoint, atol=0.02)
    speed = np.linalg.norm(velocity, axis=2)
    assert 0.3 < speed.max() < 1.0  # m/s
    np.testing.assert_allclose(velocity[:, 0], 0.0)  # still at trial start


def test_neurons_are_cosine_tuned(rec):
    # during movement, a neuron fires most for reaches towards its preferred direction
    moving = np.linalg.norm(rec.latent, axis=1) > 0.3
    preferred = rec.metadata["preferred_direction"]
    angles = 2 * np.pi * rec.labels / 8
    rates = np.stack([rec.neural[moving & (rec.labels == k)].mean(0) for k in range(8)])
    estimate = np.angle(
        np.exp(1j * 2 * np.pi * np.arange(8) / 8) @ rates
    )  # population vector per neuron
    error = np.angle(np.exp(1j * (estimate - preferred)))
    assert np.median(np.abs(error)) < 0.5
    assert angles.shape == rec.labels.shape


def test_direction_is_decodable_per_trial(rec):
    per_trial = rec.neural.reshape(80, 60, -1).sum(axis=1)
    targets = rec.labels.reshape(80, 60)[:, 0]
    scores = decode(per_trial, targets, method="linear")
    assert scores["linear_accuracy"] > 0.6  # chance is 1/8


def test_seeded_and_validated():
    a = reaching(n_trials=8, n_neurons=3, random_state=1)
    b = reaching(n_trials=8, n_neurons=3, random_state=1)
    np.testing.assert_array_equal(a.neural, b.neural)
    with pytest.raises(ValueError, match="trial_duration"):
        reaching(n_trials=8, n_neurons=3, trial_duration=0.3)
    with pytest.raises(TypeError):
        reaching(n_trials="8")


@pytest.mark.parametrize("setting", [{"velocity_tuning": 30.0}, {"target_tuning": 1e6}])
def test_rates_too_high_to_draw_name_the_settings(setting):
    with pytest.raises(ValueError, match="velocity_tuning=.*expected spikes per bin"):
        reaching(n_trials=8, n_neurons=3, random_state=0, **setting)

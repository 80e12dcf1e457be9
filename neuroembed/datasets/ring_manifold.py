"""Dense Poisson neurons driven non-linearly by an angle on a ring, whose (cos, sin) is the behaviour."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroembed._validation import check_choice, check_positive_float, check_positive_int
from neuroembed.datasets._common import make_rng
from neuroembed.datasets.latent_manifold import perceptron_counts, slow_noise
from neuroembed.recording import Recording

__all__ = ["ring_manifold"]


def _turning_angle(
    n_samples: int, bin_size: float, turn_speed: float, timescale: float, rng: np.random.Generator
) -> np.ndarray:
    """An angle whose angular velocity is an Ornstein-Uhlenbeck process (std ``turn_speed`` rad/s), unwrapped."""
    omega = turn_speed * slow_noise(n_samples, 1, timescale, bin_size, rng)[:, 0]
    return rng.uniform(0.0, 2.0 * np.pi) + np.cumsum(omega) * bin_size


def ring_manifold(
    n_samples: int = 10000,
    n_neurons: int = 100,
    *,
    bin_size: float = 0.025,
    turn_speed: float = 1.5,
    turn_timescale: float = 0.5,
    latent_noise: float = 0.1,
    noise_timescale: float = 0.25,
    hidden_units: int = 32,
    mean_rate: float = 40.0,
    noise: str = "poisson",
    random_state: Any = None,
) -> Recording:
    """Simulate neurons driven by an angle on a ring, with the angle's ``(cos, sin)`` as behaviour.

    The angle turns smoothly, like an animal's head direction: its angular velocity is an
    Ornstein-Uhlenbeck process with standard deviation ``turn_speed`` (rad/s) and time constant
    ``turn_timescale``. The latent is the point ``(cos, sin)`` of the angle on the unit circle plus slowly
    varying Gaussian noise; a random two-layer perceptron maps it to log firing rates (as in
    :func:`latent_manifold`), and spike counts are drawn from a Poisson distribution per bin. The default
    mean rate (40 Hz in 25 ms bins, one spike per bin on average) makes the counts **dense**: most
    entries are not zero, unlike binned spikes of hippocampal recordings (about 2 %).

    This is the kind of data on which a behaviour on a ring (head direction, a circular cue) must be
    decoded: the behaviour has two columns tied by ``cos^2 + sin^2 = 1``, and errors are circular.

    Parameters
    ----------
    n_samples : int, default=10000
        Number of time bins.
    n_neurons : int, default=100
        Number of neurons.
    bin_size : float, default=0.025
        Bin width in seconds.
    turn_speed : float, default=1.5
        Standard deviation of the angular velocity, in rad/s.
    turn_timescale : float, default=0.5
        Time constant of the angular velocity, in seconds.
    latent_noise : float, default=0.1
        Standard deviation of the noise added to the latent (the circle has radius 1).
    noise_timescale : float, default=0.25
        Time constant in seconds of that noise (an AR(1) process); 0 gives white noise.
    hidden_units : int, default=32
        Width of the random perceptron from latent to rates.
    mean_rate : float, default=40.0
        Mean firing rate in Hz (the average over neurons and time).
    noise : {"poisson", "gaussian"}, default="poisson"
        Observation noise.
    random_state : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Seed; the same seed gives the same recording.

    Returns
    -------
    Recording
        ``neural`` (n_samples, n_neurons) float32 counts; ``behaviour`` (n_samples, 2) float32
        ``(cos, sin)`` of the angle; ``latent`` (n_samples, 2) float32 true latent (the noisy point on the
        circle); ``labels`` None; ``timestamps`` in seconds; ``metadata`` with the settings, the noiseless
        ``rates`` in Hz (n_samples, n_neurons) and the ``angle`` in radians, wrapped to ``[0, 2 pi)``.

    Examples
    --------
    >>> rec = ring_manifold(n_samples=500, n_neurons=20, random_state=0)
    >>> rec.neural.shape, rec.behaviour.shape, rec.latent.shape
    ((500, 20), (500, 2), (500, 2))
    >>> bool(np.allclose((rec.behaviour ** 2).sum(1), 1.0, atol=1e-5))
    True
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    n_neurons = check_positive_int(n_neurons, "n_neurons")
    bin_size = check_positive_float(bin_size, "bin_size")
    turn_speed = check_positive_float(turn_speed, "turn_speed")
    turn_timescale = check_positive_float(turn_timescale, "turn_timescale")
    latent_noise = check_positive_float(latent_noise, "latent_noise", allow_zero=True)
    noise_timescale = check_positive_float(noise_timescale, "noise_timescale", allow_zero=True)
    hidden_units = check_positive_int(hidden_units, "hidden_units")
    mean_rate = check_positive_float(mean_rate, "mean_rate")
    if mean_rate * bin_size > 1e6:
        raise ValueError(
            f"mean_rate={mean_rate} with bin_size={bin_size} expects {mean_rate * bin_size:.3g} spikes per bin; "
            "keep mean_rate * bin_size at or below 1e6 (firing rates are in Hz)."
        )
    check_choice(noise, "noise", ["poisson", "gaussian"])
    rng = make_rng(random_state)

    angle = _turning_angle(n_samples, bin_size, turn_speed, turn_timescale, rng)
    ring = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    latent = ring + latent_noise * slow_noise(n_samples, 2, noise_timescale, bin_size, rng)
    rates, observed = perceptron_counts(
        latent, n_neurons, hidden_units, mean_rate, bin_size, noise, rng
    )

    metadata = {
        "generator": "ring_manifold",
        "bin_size": bin_size,
        "rates": rates.astype(np.float32),
        "angle": np.mod(angle, 2.0 * np.pi).astype(np.float32),
        "settings": {
            "turn_speed": turn_speed,
            "turn_timescale": turn_timescale,
            "latent_noise": latent_noise,
            "noise_timescale": noise_timescale,
            "hidden_units": hidden_units,
            "mean_rate": mean_rate,
            "noise": noise,
        },
    }
    return Recording(
        neural=observed,
        behaviour=ring.astype(np.float32),
        labels=None,
        timestamps=np.arange(n_samples) * bin_size,
        latent=latent.astype(np.float32),
        metadata=metadata,
    )

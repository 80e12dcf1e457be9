"""Poisson neurons driven non-linearly by a low-dimensional latent that follows a behavioural label."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroembed._validation import check_choice, check_positive_float, check_positive_int
from neuroembed.datasets._common import make_rng
from neuroembed.recording import Recording

__all__ = ["latent_manifold"]


def _reflected_walk(
    n_samples: int, n_dims: int, step: float, rng: np.random.Generator
) -> np.ndarray:
    """A Gaussian random walk folded back into the unit cube ``[0, 1]^n_dims``."""
    walk = rng.uniform(0.0, 1.0, n_dims) + np.cumsum(rng.normal(0.0, step, (n_samples, n_dims)), 0)
    folded = np.mod(walk, 2.0)
    return np.where(folded > 1.0, 2.0 - folded, folded)


def slow_noise(
    n_samples: int, n_dims: int, timescale: float, bin_size: float, rng: np.random.Generator
) -> np.ndarray:
    """Unit-variance Gaussian noise, an AR(1) process with time constant ``timescale`` s (0: white noise)."""
    white = rng.normal(0.0, 1.0, (n_samples, n_dims))
    if timescale > 0:
        import scipy.signal  # here, not at import: scipy.signal takes longer to import than a fit to start

        rho = np.exp(-bin_size / timescale)
        white[1:] *= np.sqrt(1.0 - rho**2)
        white = scipy.signal.lfilter([1.0], [1.0, -rho], white, axis=0)
    return white


def perceptron_counts(
    latent: np.ndarray,
    n_neurons: int,
    hidden_units: int,
    mean_rate: float,
    bin_size: float,
    noise: str,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Rates (Hz) and noisy observations of neurons driven by ``latent`` through a random perceptron.

    A random two-layer perceptron (tanh hidden layer) maps the latent to log firing rates; each neuron gets its own
    gain and offset, and the rates are scaled to ``mean_rate`` on average. Observations are Poisson counts per bin,
    or, with ``noise="gaussian"``, the expected counts plus Gaussian noise of the same variance.
    """
    latent_dim = latent.shape[1]
    # random perceptron latent -> log-rates; each neuron gets its own gain and offset
    w1 = rng.normal(0.0, 1.0, (latent_dim, hidden_units)) / np.sqrt(latent_dim)
    b1 = rng.normal(0.0, 0.5, hidden_units)
    w2 = rng.normal(0.0, 1.0, (hidden_units, n_neurons)) / np.sqrt(hidden_units)
    hidden = np.tanh(latent @ w1 + b1)
    drive = hidden @ w2
    drive = (drive - drive.mean(0)) / np.maximum(drive.std(0), 1e-12)
    log_rates = drive * rng.uniform(0.5, 1.5, n_neurons) + rng.normal(0.0, 0.5, n_neurons)
    rates = np.exp(log_rates)
    rates *= mean_rate / rates.mean()

    expected = rates * bin_size
    if noise == "poisson":
        observed = rng.poisson(expected).astype(np.float32)
    else:
        observed = (expected + rng.normal(0.0, 1.0, expected.shape) * np.sqrt(expected)).astype(
            np.float32
        )

    return rates, observed


def latent_manifold(
    n_samples: int = 10000,
    n_neurons: int = 100,
    latent_dim: int = 2,
    label_dim: int = 1,
    *,
    bin_size: float = 0.025,
    step_size: float = 0.01,
    latent_noise: float = 0.1,
    noise_timescale: float = 0.25,
    hidden_units: int = 32,
    mean_rate: float = 10.0,
    noise: str = "poisson",
    random_state: Any = None,
) -> Recording:
    """Simulate neurons whose rates are a non-linear function of a latent that tracks a label.

    A continuous label (the "behaviour") follows a Gaussian random walk folded back into
    ``[0, 1]^label_dim``. The latent is a smooth non-linear image of the label (random Fourier
    features of the label, a curve when ``label_dim=1``) plus slowly varying Gaussian noise, scaled
    to unit variance per dimension. A random two-layer perceptron maps the latent to log firing
    rates, and spike counts are drawn from a Poisson distribution per bin (or, with
    ``noise="gaussian"``, the rates plus Gaussian noise of the same variance). This is the
    generative model of CEBRA's and pi-VAE's synthetic benchmarks: behaviour -> latent ->
    non-linear mixing -> noisy observations, with the latent known.

    Parameters
    ----------
    n_samples : int, default=10000
        Number of time bins.
    n_neurons : int, default=100
        Number of neurons.
    latent_dim : int, default=2
        Dimension of the latent.
    label_dim : int, default=1
        Dimension of the continuous label.
    bin_size : float, default=0.025
        Bin width in seconds.
    step_size : float, default=0.01
        Standard deviation of each step of the label's random walk.
    latent_noise : float, default=0.1
        Standard deviation of the noise added to the latent, relative to the unit-variance signal.
    noise_timescale : float, default=0.25
        Time constant in seconds of that noise (an AR(1) process); 0 gives white noise.
    hidden_units : int, default=32
        Width of the random perceptron from latent to rates.
    mean_rate : float, default=10.0
        Mean firing rate in Hz (the average over neurons and time).
    noise : {"poisson", "gaussian"}, default="poisson"
        Observation noise.
    random_state : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Seed; the same seed gives the same recording.

    Returns
    -------
    Recording
        ``neural`` (n_samples, n_neurons) float32 counts (or noisy rates); ``behaviour``
        (n_samples, label_dim) float32 label; ``latent`` (n_samples, latent_dim) float32 true latent;
        ``labels`` None; ``timestamps`` in seconds; ``metadata`` with the settings and the
        noiseless ``rates`` in Hz, (n_samples, n_neurons).

    Examples
    --------
    >>> rec = latent_manifold(n_samples=300, n_neurons=10, latent_dim=3, random_state=0)
    >>> rec.neural.shape, rec.behaviour.shape, rec.latent.shape
    ((300, 10), (300, 1), (300, 3))
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    n_neurons = check_positive_int(n_neurons, "n_neurons")
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    label_dim = check_positive_int(label_dim, "label_dim")
    bin_size = check_positive_float(bin_size, "bin_size")
    step_size = check_positive_float(step_size, "step_size")
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

    label = _reflected_walk(n_samples, label_dim, step_size, rng)

    # smooth map label -> latent: random Fourier features with 1 to 2 cycles over the label range
    n_features = 4 * latent_dim
    freqs = rng.uniform(0.5, 1.0, (label_dim, n_features)) * rng.choice(
        [-1.0, 1.0], (label_dim, n_features)
    )
    phases = rng.uniform(0.0, 2.0 * np.pi, n_features)
    features = np.sin(2.0 * np.pi * label @ freqs + phases)
    signal = features @ rng.normal(0.0, 1.0, (n_features, latent_dim))
    signal = (signal - signal.mean(0)) / np.maximum(signal.std(0), 1e-12)

    latent = signal + latent_noise * slow_noise(
        n_samples, latent_dim, noise_timescale, bin_size, rng
    )

    rates, observed = perceptron_counts(
        latent, n_neurons, hidden_units, mean_rate, bin_size, noise, rng
    )

    metadata = {
        "generator": "latent_manifold",
        "bin_size": bin_size,
        "rates": rates.astype(np.float32),
        "settings": {
            "latent_dim": latent_dim,
            "label_dim": label_dim,
            "step_size": step_size,
            "latent_noise": latent_noise,
            "noise_timescale": noise_timescale,
            "hidden_units": hidden_units,
            "mean_rate": mean_rate,
            "noise": noise,
        },
    }
    return Recording(
        neural=observed,
        behaviour=label.astype(np.float32),
        labels=None,
        timestamps=np.arange(n_samples) * bin_size,
        latent=latent.astype(np.float32),
        metadata=metadata,
    )

"""Centre-out reaching to eight targets, recorded from cosine-tuned motor cortex neurons."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroembed._validation import check_positive_float, check_positive_int
from neuroembed.datasets._common import check_range, make_rng, minimum_jerk
from neuroembed.recording import Recording

__all__ = ["reaching"]

N_TARGETS = 8


def reaching(
    n_trials: int = 200,
    n_neurons: int = 60,
    *,
    bin_size: float = 0.01,
    trial_duration: float = 0.6,
    reach_distance: float = 0.1,
    onset: float | tuple[float, float] = (0.05, 0.15),
    reach_duration: float | tuple[float, float] = (0.3, 0.45),
    baseline_rate: float = 10.0,
    velocity_tuning: float = 1.0,
    target_tuning: float = 0.3,
    random_state: Any = None,
) -> Recording:
    """Simulate centre-out reaches to eight targets with cosine-tuned neurons.

    Each trial starts with the hand at the centre; after a random hold it moves along a straight,
    minimum-jerk path to one of eight targets on a circle (0, 45, ..., 315 degrees; every target
    equally often, in random order) and stays there until the trial ends. Trials are concatenated,
    as in CEBRA's monkey reaching data. Each neuron has a preferred direction and a log-linear
    (cosine) tuning to hand velocity, ``rate = r0 * exp(k_v * v . p / v_peak + k_t * cos(target - p))``,
    with a weaker tuning to the target direction throughout the trial (preparatory activity), and
    fires Poisson spikes.

    Parameters
    ----------
    n_trials : int, default=200
        Number of reaches.
    n_neurons : int, default=60
        Number of neurons.
    bin_size : float, default=0.01
        Bin width in seconds.
    trial_duration : float, default=0.6
        Length of each trial in seconds.
    reach_distance : float, default=0.1
        Distance from the centre to the targets in metres.
    onset : float or (float, float), default=(0.05, 0.15)
        Movement onset after trial start in seconds, drawn uniformly from the range.
    reach_duration : float or (float, float), default=(0.3, 0.45)
        Duration of the movement in seconds, drawn uniformly from the range; onset plus duration
        must fit in the trial.
    baseline_rate : float, default=10.0
        Median rate in Hz at rest (log-normal across neurons).
    velocity_tuning : float, default=1.0
        Mean log-rate modulation at peak speed in the preferred direction.
    target_tuning : float, default=0.3
        Mean log-rate modulation by the target direction (0 for purely kinematic neurons).
    random_state : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Seed; the same seed gives the same recording.

    Returns
    -------
    Recording
        ``neural`` (n_samples, n_neurons) float32 spike counts with
        ``n_samples = n_trials * round(trial_duration / bin_size)``; ``behaviour`` (n_samples, 4)
        float32 ``[x, y, vx, vy]`` hand position (m) and velocity (m/s); ``labels`` (n_samples,)
        int64 target index 0..7 (target ``k`` lies at ``45 * k`` degrees); ``latent``
        (n_samples, 2) float32 hand velocity; ``timestamps`` in seconds; ``metadata`` with the
        ``trial`` index of every bin, the ``preferred_direction`` of each neuron (radians) and the
        settings.

    Examples
    --------
    >>> rec = reaching(n_trials=16, n_neurons=5, random_state=0)
    >>> rec.neural.shape, rec.behaviour.shape, sorted(set(rec.labels.tolist()))
    ((960, 5), (960, 4), [0, 1, 2, 3, 4, 5, 6, 7])
    """
    n_trials = check_positive_int(n_trials, "n_trials")
    n_neurons = check_positive_int(n_neurons, "n_neurons")
    bin_size = check_positive_float(bin_size, "bin_size")
    trial_duration = check_positive_float(trial_duration, "trial_duration")
    reach_distance = check_positive_float(reach_distance, "reach_distance")
    onset_range = check_range(onset, "onset", allow_zero=True)
    duration_range = check_range(reach_duration, "reach_duration")
    baseline_rate = check_positive_float(baseline_rate, "baseline_rate")
    velocity_tuning = check_positive_float(velocity_tuning, "velocity_tuning", allow_zero=True)
    target_tuning = check_positive_float(target_tuning, "target_tuning", allow_zero=True)
    if onset_range[1] + duration_range[1] > trial_duration:
        raise ValueError(
            f"The latest onset ({onset_range[1]} s) plus the longest reach ({duration_range[1]} s) "
            f"exceeds trial_duration={trial_duration} s; shorten them or lengthen the trial."
        )
    n_bins = int(round(trial_duration / bin_size))
    if n_bins < 2:
        raise ValueError(
            f"trial_duration={trial_duration} s holds {n_bins} bin(s) of {bin_size} s; expected at least 2."
        )
    rng = make_rng(random_state)

    targets = rng.permutation(np.resize(np.arange(N_TARGETS), n_trials))
    angles = 2.0 * np.pi * targets / N_TARGETS
    start = rng.uniform(*onset_range, n_trials)
    duration = rng.uniform(*duration_range, n_trials)

    t = (np.arange(n_bins) + 1) * bin_size  # end of each bin
    tau = (t[None, :] - start[:, None]) / duration[:, None]  # (n_trials, n_bins)
    progress, rate_of_progress = minimum_jerk(tau)
    moving = (tau > 0) & (tau < 1)
    speed = np.where(moving, rate_of_progress * reach_distance / duration[:, None], 0.0)
    unit = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (n_trials, 2)
    position = progress[..., None] * reach_distance * unit[:, None, :]
    velocity = speed[..., None] * unit[:, None, :]
    position = position.reshape(-1, 2)
    velocity = velocity.reshape(-1, 2)
    labels = np.repeat(targets, n_bins)
    trial = np.repeat(np.arange(n_trials), n_bins)

    preferred = rng.uniform(0.0, 2.0 * np.pi, n_neurons)
    pref_unit = np.stack([np.cos(preferred), np.sin(preferred)], axis=1)  # (n_neurons, 2)
    peak_speed = 1.875 * reach_distance / np.mean(duration_range)
    k_v = velocity_tuning * rng.uniform(0.5, 1.5, n_neurons)
    k_t = target_tuning * rng.uniform(0.0, 2.0, n_neurons)
    r0 = baseline_rate * np.exp(rng.normal(0.0, 0.5, n_neurons))
    target_drive = np.cos(np.repeat(angles, n_bins)[:, None] - preferred[None, :])
    log_gain = k_v * (velocity @ pref_unit.T) / peak_speed + k_t * target_drive
    with np.errstate(over="ignore"):  # checked just below
        rates = r0 * np.exp(log_gain)
    if not np.all(rates * bin_size <= 1e6):
        raise ValueError(
            f"baseline_rate={baseline_rate}, velocity_tuning={velocity_tuning} and target_tuning={target_tuning} "
            f"give up to {np.max(rates * bin_size):.3g} expected spikes per bin of {bin_size} s; keep them at or "
            "below 1e6 (the tunings are log-rate modulations: a few units at most)."
        )
    counts = rng.poisson(rates * bin_size)

    behaviour = np.concatenate([position, velocity], axis=1).astype(np.float32)
    metadata = {
        "generator": "reaching",
        "bin_size": bin_size,
        "behaviour_columns": ["x", "y", "vx", "vy"],
        "latent_columns": ["vx", "vy"],
        "target_angles_deg": (45.0 * np.arange(N_TARGETS)).tolist(),
        "trial": trial,
        "preferred_direction": preferred,
        "settings": {
            "n_trials": n_trials,
            "trial_duration": trial_duration,
            "reach_distance": reach_distance,
            "onset": onset_range,
            "reach_duration": duration_range,
            "baseline_rate": baseline_rate,
            "velocity_tuning": velocity_tuning,
            "target_tuning": target_tuning,
        },
    }
    return Recording(
        neural=counts.astype(np.float32),
        behaviour=behaviour,
        labels=labels.astype(np.int64),
        timestamps=np.arange(labels.size) * bin_size,
        latent=velocity.astype(np.float32),
        metadata=metadata,
    )

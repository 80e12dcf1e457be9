"""Neurons driven by an observed latent, a hidden one, both or neither: truth for attribution."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroembed._validation import check_choice, check_positive_float, check_positive_int
from neuroembed.datasets._common import make_rng
from neuroembed.recording import Recording

__all__ = ["attribution_manifold", "GROUP_NAMES"]

#: The four groups of neurons, in the order of ``group_fractions`` and of the neurons themselves.
GROUP_NAMES = ("behaviour", "time", "both", "none")


def smooth_latent(
    n_samples: int, n_dims: int, timescale: float, bin_size: float, rng: np.random.Generator
) -> np.ndarray:
    """A smooth, stationary Gaussian process, unit variance per dimension, independent dimensions.

    White noise filtered twice by the same first-order low-pass filter (an Ornstein-Uhlenbeck
    process smoothed once more, i.e. a critically damped one): with
    ``rho = exp(-bin_size / timescale)`` the autocorrelation at a lag of ``k`` bins is
    ``rho^k (1 + k (1 - rho^2) / (1 + rho^2))``, about
    ``(1 + lag / timescale) exp(-lag / timescale)`` with the lag in seconds. Unlike the
    Ornstein-Uhlenbeck process its paths are differentiable. The filter states start in the
    stationary distribution: there is no transient at the start.
    """
    import scipy.signal  # here, not at import: scipy.signal takes longer to import than a fit to start

    rho = np.exp(-bin_size / timescale)
    one_minus = -np.expm1(-2.0 * bin_size / timescale)  # 1 - rho^2, accurate for slow processes
    # innovations scaled so that the twice-filtered output has unit variance
    innovation_std = np.sqrt(one_minus**3 / (1.0 + rho**2))
    shocks = rng.normal(0.0, innovation_std, (n_samples, n_dims))
    # the first stage starts stationary: variance s^2 / (1 - rho^2)
    shocks[0] /= np.sqrt(one_minus)
    first = scipy.signal.lfilter([1.0], [1.0, -rho], shocks, axis=0)
    # second stage: its initial value given the first stage's, drawn from the stationary joint law
    # (Cov(z, y) = Var(y) / (1 - rho^2), Var(z | y) = s^2 rho^2 / (1 - rho^2)^3)
    conditional_std = innovation_std * rho / np.sqrt(one_minus**3)
    start = first[0] / one_minus + rng.normal(0.0, conditional_std, n_dims)
    second, _ = scipy.signal.lfilter(
        [1.0], [1.0, -rho], first, axis=0, zi=(start - first[0])[None, :]
    )
    return second


def _group_sizes(fractions: tuple[float, ...], n_neurons: int) -> np.ndarray:
    """Split ``n_neurons`` in proportion to ``fractions`` (largest remainders, ties: the first)."""
    share = np.asarray(fractions) / np.sum(fractions) * n_neurons
    sizes = np.floor(share).astype(np.int64)
    remainder = share - sizes
    order = np.argsort(-remainder, kind="stable")
    sizes[order[: n_neurons - int(sizes.sum())]] += 1
    return sizes


def _check_group_fractions(value: Any) -> tuple[float, ...]:
    """Four non-negative numbers with a positive sum: relative sizes of the groups of neurons."""
    if not isinstance(value, (tuple, list, np.ndarray)):
        raise TypeError(
            "group_fractions must be a sequence of 4 numbers, the relative sizes of the groups "
            f"{list(GROUP_NAMES)}; got {value!r} ({type(value).__name__})."
        )
    if len(value) != len(GROUP_NAMES):
        raise ValueError(
            f"group_fractions must have {len(GROUP_NAMES)} entries, one per group "
            f"{list(GROUP_NAMES)}; "
            f"got {len(value)}: {list(value)!r}."
        )
    fractions = tuple(
        check_positive_float(v, f"group_fractions[{i}]", allow_zero=True)
        for i, v in enumerate(value)
    )
    if sum(fractions) == 0:
        raise ValueError(
            f"group_fractions must not all be zero; got {list(value)!r} "
            "(at least one group must have neurons)."
        )
    return fractions


def attribution_manifold(
    n_samples: int = 10000,
    n_neurons: int = 50,
    *,
    behaviour_dim: int = 3,
    time_dim: int = 3,
    group_fractions: tuple[float, float, float, float] = (0.3, 0.3, 0.2, 0.2),
    dims_per_neuron: int | None = None,
    bin_size: float = 0.025,
    behaviour_timescale: float = 0.5,
    time_timescale: float = 2.5,
    mean_rate: float = 20.0,
    modulation: float = 1.0,
    noise: str = "poisson",
    shuffle_neurons: bool = False,
    random_state: Any = None,
) -> Recording:
    """Simulate neurons driven by an observed behaviour latent, a hidden time latent, both or none.

    A synthetic ground truth for attribution maps (which neurons carry which part of an embedding),
    in the setting of xCEBRA (Schneider, González Laiz et al., AISTATS 2025), whose synthetic demo
    has 50 neurons and two 3-D latents. Two independent latent processes evolve over time:

    - the **behaviour latent** (``behaviour_dim`` dimensions) is observed: it is returned as the
      behaviour;
    - the **time latent** (``time_dim`` dimensions) is hidden: only its temporal smoothness reveals
      it, so a time-contrastive objective can find it while a behaviour-contrastive one cannot.

    Each is a smooth, stationary Gaussian process with unit variance per dimension (white noise
    low-pass filtered twice with the time constant ``behaviour_timescale`` or ``time_timescale``).
    The neurons fall into four groups, in this order unless ``shuffle_neurons``: driven by the
    behaviour latent only, by the time latent only, by both, or by neither. A driven neuron
    reads, from each latent it depends on, ``dims_per_neuron`` randomly chosen dimensions (all of
    them by default) through a random unit-norm read-out; the read-outs of the latents it depends
    on are summed and scaled to unit variance. Its firing rate is an exponential of that drive,
    ``rate = base_rate * exp(gain * drive - gain^2 / 2)``, so that its mean is ``base_rate``
    (log-normal across neurons around ``mean_rate``) whatever the gain (``modulation`` times a
    factor between 0.75 and 1.25 per neuron). Neurons of the last group fire at a constant rate.
    Observations are Poisson counts per bin or, with ``noise="gaussian"``, the expected counts plus
    Gaussian noise of the same variance.

    Parameters
    ----------
    n_samples : int, default=10000
        Number of time bins.
    n_neurons : int, default=50
        Number of neurons.
    behaviour_dim : int, default=3
        Dimension of the behaviour latent (the behaviour).
    time_dim : int, default=3
        Dimension of the hidden time latent.
    group_fractions : sequence of 4 floats, default=(0.3, 0.3, 0.2, 0.2)
        Relative sizes of the groups ``("behaviour", "time", "both", "none")``; they are normalised
        to sum to 1 and ``n_neurons`` is split in proportion (largest remainders), so
        ``(15, 15, 10, 10)`` with 50 neurons gives exactly those counts.
    dims_per_neuron : int or None, default=None
        How many dimensions of each latent a driven neuron reads, drawn at random per neuron (at
        most the latent's dimension); None reads all of them.
    bin_size : float, default=0.025
        Bin width in seconds.
    behaviour_timescale : float, default=0.5
        Time constant of the behaviour latent in seconds (20 bins of 25 ms).
    time_timescale : float, default=2.5
        Time constant of the time latent in seconds (100 bins of 25 ms).
    mean_rate : float, default=20.0
        Median over neurons of the mean firing rate, in Hz (log-normal across neurons, standard
        deviation 0.5 of the log).
    modulation : float, default=1.0
        Typical standard deviation of a driven neuron's log-rate; 0 makes every neuron fire at a
        constant rate (the truth map is unchanged: it says what the rates are built from).
    noise : {"poisson", "gaussian"}, default="poisson"
        Observation noise.
    shuffle_neurons : bool, default=False
        Put the neurons in random order instead of grouped by ``GROUP_NAMES``.
    random_state : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Seed; the same seed gives the same recording.

    Returns
    -------
    Recording
        ``neural`` (n_samples, n_neurons) float32 counts (or noisy expected counts); ``behaviour``
        (n_samples, behaviour_dim) float32, the behaviour latent; ``latent``
        (n_samples, behaviour_dim + time_dim) float32, the behaviour latent then the time latent
        (the rows of the truth map); ``labels`` None; ``timestamps`` in seconds; ``metadata``
        with:

        - ``truth``: bool (behaviour_dim + time_dim, n_neurons); ``truth[k, j]`` is True when the
          rate of neuron ``j`` depends on latent dimension ``k`` (behaviour dimensions first);
        - ``behaviour_truth`` (behaviour_dim, n_neurons) and ``time_truth`` (time_dim, n_neurons),
          the two row blocks of ``truth``;
        - ``groups``: str (n_neurons,), each neuron's group, one of ``GROUP_NAMES``;
        - ``time_latent``: float32 (n_samples, time_dim), the hidden latent alone;
        - ``weights``: float64 (behaviour_dim + time_dim, n_neurons), the read-out of each neuron
          times its gain (non-zero exactly where ``truth`` is True when ``modulation > 0``);
        - ``base_rates`` (n_neurons,) in Hz and ``rates`` float32 (n_samples, n_neurons), the
          noiseless rates in Hz;
        - ``latent_columns``, ``group_names``, ``bin_size`` and the ``settings``.

    Notes
    -----
    The truth map has the layout of an attribution map of a hybrid embedding whose first
    ``behaviour_dim`` dimensions are trained on the behaviour and whose last ``time_dim`` on time:
    neurons of the "behaviour" group have True entries in behaviour rows only, "time" neurons in
    time rows only, "both" neurons in both blocks and "none" neurons nowhere. An embedding is
    identifiable only up to an invertible map within each part, so compare attributions with the
    truth per part (``behaviour_truth.any(0)``, ``time_truth.any(0)``) unless the embedding has
    been aligned to the latents.

    Both latents change little over 10 bins (autocorrelation about 0.91 for the behaviour latent
    and 0.995 for the time latent with the defaults), and the rates of driven neurons stay mostly
    within a factor of 7 of their mean (two standard deviations of the log-rate), so both parts
    can be learned from windows of about 10 bins.

    Examples
    --------
    >>> rec = attribution_manifold(n_samples=500, n_neurons=10, random_state=0)
    >>> rec.neural.shape, rec.behaviour.shape, rec.latent.shape, rec.metadata["truth"].shape
    ((500, 10), (500, 3), (500, 6), (6, 10))
    >>> rec.metadata["groups"].tolist()
    ['behaviour', 'behaviour', 'behaviour', 'time', 'time', 'time', 'both', 'both', 'none', 'none']
    >>> rec.metadata["truth"].astype(int)
    array([[1, 1, 1, 0, 0, 0, 1, 1, 0, 0],
           [1, 1, 1, 0, 0, 0, 1, 1, 0, 0],
           [1, 1, 1, 0, 0, 0, 1, 1, 0, 0],
           [0, 0, 0, 1, 1, 1, 1, 1, 0, 0],
           [0, 0, 0, 1, 1, 1, 1, 1, 0, 0],
           [0, 0, 0, 1, 1, 1, 1, 1, 0, 0]])
    """
    n_samples = check_positive_int(n_samples, "n_samples", minimum=2)
    n_neurons = check_positive_int(n_neurons, "n_neurons")
    behaviour_dim = check_positive_int(behaviour_dim, "behaviour_dim")
    time_dim = check_positive_int(time_dim, "time_dim")
    fractions = _check_group_fractions(group_fractions)
    dims_per_neuron = check_positive_int(dims_per_neuron, "dims_per_neuron", allow_none=True)
    bin_size = check_positive_float(bin_size, "bin_size")
    behaviour_timescale = check_positive_float(behaviour_timescale, "behaviour_timescale")
    time_timescale = check_positive_float(time_timescale, "time_timescale")
    mean_rate = check_positive_float(mean_rate, "mean_rate")
    if mean_rate * bin_size > 1e6:
        raise ValueError(
            f"mean_rate={mean_rate} with bin_size={bin_size} expects "
            f"{mean_rate * bin_size:.3g} spikes per bin; "
            "keep mean_rate * bin_size at or below 1e6 (firing rates are in Hz)."
        )
    modulation = check_positive_float(modulation, "modulation", allow_zero=True)
    if modulation > 5.0:
        raise ValueError(
            "modulation must be at most 5 (the standard deviation of the log-rate); "
            f"got {modulation}. "
            "Larger values make rates span many orders of magnitude."
        )
    check_choice(noise, "noise", ["poisson", "gaussian"])
    if not isinstance(shuffle_neurons, (bool, np.bool_)):
        raise TypeError(
            f"shuffle_neurons must be True or False; got {shuffle_neurons!r} "
            f"({type(shuffle_neurons).__name__})."
        )
    rng = make_rng(random_state)

    behaviour_latent = smooth_latent(n_samples, behaviour_dim, behaviour_timescale, bin_size, rng)
    time_latent = smooth_latent(n_samples, time_dim, time_timescale, bin_size, rng)
    latent = np.concatenate([behaviour_latent, time_latent], axis=1)

    # neurons and their groups: 0 behaviour, 1 time, 2 both, 3 none
    group = np.repeat(np.arange(len(GROUP_NAMES)), _group_sizes(fractions, n_neurons))
    if shuffle_neurons:
        group = group[rng.permutation(n_neurons)]
    reads_behaviour = (group == 0) | (group == 2)
    reads_time = (group == 1) | (group == 2)

    # which latent dimensions each neuron reads, and a random unit-norm read-out of each latent
    truth = np.zeros((behaviour_dim + time_dim, n_neurons), dtype=bool)
    readout = np.zeros((behaviour_dim + time_dim, n_neurons))
    for rows, reads in (
        (np.arange(behaviour_dim), reads_behaviour),
        (behaviour_dim + np.arange(time_dim), reads_time),
    ):
        n_read = rows.size if dims_per_neuron is None else min(dims_per_neuron, rows.size)
        for j in np.flatnonzero(reads):
            chosen = rows[np.sort(rng.permutation(rows.size)[:n_read])]
            w = rng.normal(0.0, 1.0, n_read)
            truth[chosen, j] = True
            readout[chosen, j] = w / max(np.linalg.norm(w), 1e-12)
    n_parts = reads_behaviour.astype(float) + reads_time.astype(float)
    readout /= np.sqrt(np.maximum(n_parts, 1.0))  # unit-variance drive: the latents are independent

    gains = modulation * rng.uniform(0.75, 1.25, n_neurons) * (n_parts > 0)
    base_rates = mean_rate * np.exp(rng.normal(0.0, 0.5, n_neurons))
    weights = readout * gains
    log_rates = latent @ weights - 0.5 * gains**2
    rates = base_rates * np.exp(log_rates)

    expected = rates * bin_size
    if noise == "poisson":
        observed = rng.poisson(expected).astype(np.float32)
    else:
        observed = (expected + rng.normal(0.0, 1.0, expected.shape) * np.sqrt(expected)).astype(
            np.float32
        )

    names = np.asarray(GROUP_NAMES)
    metadata = {
        "generator": "attribution_manifold",
        "bin_size": bin_size,
        "truth": truth,
        "behaviour_truth": truth[:behaviour_dim].copy(),
        "time_truth": truth[behaviour_dim:].copy(),
        "groups": names[group],
        "group_names": GROUP_NAMES,
        "time_latent": time_latent.astype(np.float32),
        "weights": weights,
        "base_rates": base_rates,
        "rates": rates.astype(np.float32),
        "latent_columns": [f"behaviour_{k}" for k in range(behaviour_dim)]
        + [f"time_{k}" for k in range(time_dim)],
        "settings": {
            "behaviour_dim": behaviour_dim,
            "time_dim": time_dim,
            "group_fractions": fractions,
            "dims_per_neuron": dims_per_neuron,
            "behaviour_timescale": behaviour_timescale,
            "time_timescale": time_timescale,
            "mean_rate": mean_rate,
            "modulation": modulation,
            "noise": noise,
            "shuffle_neurons": bool(shuffle_neurons),
        },
    }
    return Recording(
        neural=observed,
        behaviour=behaviour_latent.astype(np.float32),
        labels=None,
        timestamps=np.arange(n_samples) * bin_size,
        latent=latent.astype(np.float32),
        metadata=metadata,
    )

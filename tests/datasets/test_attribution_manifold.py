import numpy as np
import pytest
import scipy.ndimage

from neuroembed.datasets import attribution_manifold
from neuroembed.datasets.attribution_manifold import GROUP_NAMES, smooth_latent

pytestmark = pytest.mark.timeout(60)


def _r2(latent, y):
    """R^2 of a least-squares fit of each column of ``y`` on ``latent`` and its squares."""
    design = np.column_stack([np.ones(len(latent)), latent, latent**2])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    return 1.0 - (residual**2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


@pytest.mark.parametrize(("behaviour_dim", "time_dim"), [(3, 3), (1, 2), (4, 1)])
def test_shapes_and_dtypes(behaviour_dim, time_dim):
    rec = attribution_manifold(
        n_samples=400,
        n_neurons=12,
        behaviour_dim=behaviour_dim,
        time_dim=time_dim,
        random_state=0,
    )
    n_latent = behaviour_dim + time_dim
    meta = rec.metadata
    assert rec.neural.shape == (400, 12) and rec.neural.dtype == np.float32
    assert rec.behaviour.shape == (400, behaviour_dim) and rec.behaviour.dtype == np.float32
    assert rec.latent.shape == (400, n_latent) and rec.latent.dtype == np.float32
    assert rec.labels is None
    np.testing.assert_allclose(rec.timestamps, np.arange(400) * 0.025)
    assert meta["truth"].shape == (n_latent, 12) and meta["truth"].dtype == bool
    assert meta["behaviour_truth"].shape == (behaviour_dim, 12)
    assert meta["time_truth"].shape == (time_dim, 12)
    assert meta["time_latent"].shape == (400, time_dim) and meta["time_latent"].dtype == np.float32
    assert meta["weights"].shape == (n_latent, 12)
    assert meta["rates"].shape == (400, 12) and meta["rates"].dtype == np.float32
    assert meta["base_rates"].shape == (12,)
    assert meta["groups"].shape == (12,) and set(meta["groups"]) <= set(GROUP_NAMES)
    assert len(meta["latent_columns"]) == n_latent
    # the behaviour is the first block of the latent, the time latent the second
    np.testing.assert_array_equal(rec.behaviour, rec.latent[:, :behaviour_dim])
    np.testing.assert_array_equal(meta["time_latent"], rec.latent[:, behaviour_dim:])


def test_truth_map_structure():
    rec = attribution_manifold(n_samples=300, n_neurons=50, random_state=1)
    meta = rec.metadata
    truth, groups = meta["truth"], meta["groups"]
    behaviour_rows, time_rows = truth[:3], truth[3:]
    np.testing.assert_array_equal(meta["behaviour_truth"], behaviour_rows)
    np.testing.assert_array_equal(meta["time_truth"], time_rows)
    # default fractions (0.3, 0.3, 0.2, 0.2) of 50 neurons, grouped in order
    expected = np.repeat(np.asarray(GROUP_NAMES), [15, 15, 10, 10])
    np.testing.assert_array_equal(groups, expected)
    # all dimensions are read by default
    assert behaviour_rows[:, groups == "behaviour"].all()
    assert not time_rows[:, groups == "behaviour"].any()
    assert time_rows[:, groups == "time"].all()
    assert not behaviour_rows[:, groups == "time"].any()
    assert truth[:, groups == "both"].all()
    assert not truth[:, groups == "none"].any()
    # the truth map is the support of the read-out weights
    np.testing.assert_array_equal(truth, meta["weights"] != 0)


@pytest.mark.parametrize("dims_per_neuron", [1, 2, 5])
def test_dims_per_neuron(dims_per_neuron):
    rec = attribution_manifold(
        n_samples=200,
        n_neurons=40,
        behaviour_dim=3,
        time_dim=2,
        dims_per_neuron=dims_per_neuron,
        random_state=2,
    )
    meta = rec.metadata
    groups = meta["groups"]
    n_behaviour = meta["behaviour_truth"].sum(0)
    n_time = meta["time_truth"].sum(0)
    reads_behaviour = np.isin(groups, ["behaviour", "both"])
    reads_time = np.isin(groups, ["time", "both"])
    np.testing.assert_array_equal(
        n_behaviour, np.where(reads_behaviour, min(dims_per_neuron, 3), 0)
    )
    np.testing.assert_array_equal(n_time, np.where(reads_time, min(dims_per_neuron, 2), 0))
    if dims_per_neuron == 1:
        # different neurons read different dimensions
        chosen = meta["behaviour_truth"][:, reads_behaviour].argmax(0)
        assert np.unique(chosen).size > 1


def test_rates_depend_exactly_on_the_true_dimensions():
    rec = attribution_manifold(n_samples=2000, n_neurons=20, dims_per_neuron=2, random_state=3)
    meta = rec.metadata
    latent = rec.latent.astype(np.float64)
    log_rates = np.log(meta["rates"].astype(np.float64))
    for j in range(rec.n_neurons):
        used = meta["truth"][:, j]
        centred = log_rates[:, j] - log_rates[:, j].mean()
        predicted = latent[:, used] @ meta["weights"][used, j]
        np.testing.assert_allclose(centred, predicted - predicted.mean(), atol=1e-4)
        if not used.any():
            np.testing.assert_allclose(meta["rates"][:, j], meta["base_rates"][j], rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_truth_is_visible_in_the_counts(seed):
    rec = attribution_manifold(random_state=seed)
    meta = rec.metadata
    smoothed = scipy.ndimage.uniform_filter1d(rec.neural.astype(np.float64), 10, axis=0)
    behaviour = rec.behaviour.astype(np.float64)
    time = meta["time_latent"].astype(np.float64)
    r2_both = _r2(np.hstack([behaviour, time]), smoothed)
    # what each latent explains beyond the other (slow latents correlate by chance a little)
    unique_behaviour = r2_both - _r2(time, smoothed)
    unique_time = r2_both - _r2(behaviour, smoothed)
    on_behaviour = meta["behaviour_truth"].any(0)
    on_time = meta["time_truth"].any(0)
    # (over seeds 0 to 39: driven neurons at least 0.115, the others at most 0.035)
    assert unique_behaviour[on_behaviour].min() > 0.08
    assert unique_behaviour[~on_behaviour].max() < 0.05
    assert unique_time[on_time].min() > 0.08
    assert unique_time[~on_time].max() < 0.05
    # neurons with an all-False column are independent of both latents
    none = meta["groups"] == "none"
    assert none.sum() == 10 and not meta["truth"][:, none].any()
    assert r2_both[none].max() < 0.05


def test_rates_are_modulated_but_not_saturated():
    rec = attribution_manifold(random_state=4)
    meta = rec.metadata
    rates = meta["rates"].astype(np.float64)
    driven = meta["truth"].any(0)
    # the log-rate of a driven neuron varies by about `modulation`, a silent one not at all
    log_std = np.log(rates).std(0)
    assert 0.5 < log_std[driven].min() and log_std[driven].max() < 1.6
    np.testing.assert_allclose(log_std[~driven], 0.0, atol=1e-6)
    # mean rates near the neuron's base rate, median base rate near mean_rate
    np.testing.assert_allclose(rates.mean(0), meta["base_rates"], rtol=0.5)
    assert 10.0 < np.median(meta["base_rates"]) < 40.0
    # counts: Poisson around the expected counts, neither mostly silent nor saturated
    np.testing.assert_array_equal(rec.neural, np.round(rec.neural))
    expected = rates * 0.025
    ratio = ((rec.neural - expected) ** 2).sum() / expected.sum()
    assert 0.9 < ratio < 1.1
    assert 0.2 < (rec.neural > 0).mean() < 0.7


def test_modulation_zero_gives_constant_rates():
    rec = attribution_manifold(n_samples=300, n_neurons=8, modulation=0.0, random_state=5)
    rates = rec.metadata["rates"]
    np.testing.assert_allclose(rates, np.broadcast_to(rates[0], rates.shape), rtol=1e-6)
    assert rec.metadata["truth"].any()


def test_latents_are_smooth_unit_variance_processes():
    rec = attribution_manifold(
        n_samples=20000,
        n_neurons=2,
        behaviour_dim=4,
        time_dim=4,
        behaviour_timescale=0.25,
        time_timescale=1.0,
        random_state=6,
    )
    for block, timescale in ((rec.behaviour, 0.25), (rec.metadata["time_latent"], 1.0)):
        x = block.astype(np.float64)
        np.testing.assert_allclose(x.var(0).mean(), 1.0, rtol=0.25)
        rho = np.exp(-0.025 / timescale)
        for lag in (1, 10):
            measured = np.mean(x[lag:] * x[:-lag]) / np.mean(x * x)
            theory = rho**lag * (1 + lag * (1 - rho**2) / (1 + rho**2))
            assert measured == pytest.approx(theory, abs=0.03)
    # the two latents are independent
    cross = np.corrcoef(rec.latent.T)[:4, 4:]
    assert np.abs(cross).max() < 0.2


def test_smooth_latent_starts_stationary():
    # many short independent runs: the first and the last sample have the same unit variance
    z = smooth_latent(50, 4000, 2.0, 0.025, np.random.default_rng(0))
    np.testing.assert_allclose(z[0].var(), 1.0, rtol=0.08)
    np.testing.assert_allclose(z[-1].var(), 1.0, rtol=0.08)
    np.testing.assert_allclose(np.mean(z[0] * z[10]), np.mean(z[-11] * z[-1]), atol=0.08)


def test_group_fractions_and_shuffle():
    rec = attribution_manifold(
        n_samples=100, n_neurons=10, group_fractions=(1, 0, 3, 1), random_state=7
    )
    np.testing.assert_array_equal(
        rec.metadata["groups"], ["behaviour"] * 2 + ["both"] * 6 + ["none"] * 2
    )
    shuffled = attribution_manifold(
        n_samples=100, n_neurons=40, shuffle_neurons=True, random_state=7
    )
    groups = shuffled.metadata["groups"]
    assert [int((groups == name).sum()) for name in GROUP_NAMES] == [12, 12, 8, 8]
    assert not np.array_equal(groups, np.sort(groups))
    truth = shuffled.metadata["truth"]
    np.testing.assert_array_equal(truth[:3].any(0), np.isin(groups, ["behaviour", "both"]))
    np.testing.assert_array_equal(truth[3:].any(0), np.isin(groups, ["time", "both"]))


def test_gaussian_noise_option():
    rec = attribution_manifold(n_samples=500, n_neurons=10, noise="gaussian", random_state=0)
    assert rec.neural.dtype == np.float32
    assert not np.array_equal(rec.neural, np.round(rec.neural))
    residual = rec.neural - rec.metadata["rates"] * 0.025
    ratio = (residual**2).sum() / (rec.metadata["rates"] * 0.025).sum()
    assert 0.85 < ratio < 1.15


def test_seeded():
    a = attribution_manifold(n_samples=300, n_neurons=8, random_state=9)
    b = attribution_manifold(n_samples=300, n_neurons=8, random_state=np.random.default_rng(9))
    for x, y in ((a.neural, b.neural), (a.latent, b.latent)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.metadata["weights"], b.metadata["weights"])
    c = attribution_manifold(n_samples=300, n_neurons=8, random_state=10)
    assert not np.array_equal(a.neural, c.neural)
    assert not np.array_equal(a.latent, c.latent)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 1}, ValueError, "n_samples"),
        ({"n_neurons": 2.5}, TypeError, "n_neurons"),
        ({"behaviour_dim": 0}, ValueError, "behaviour_dim"),
        ({"time_dim": "3"}, TypeError, "time_dim"),
        ({"group_fractions": 0.5}, TypeError, "group_fractions"),
        ({"group_fractions": (0.5, 0.5)}, ValueError, "4 entries"),
        ({"group_fractions": (0.5, -0.1, 0.3, 0.3)}, ValueError, r"group_fractions\[1\]"),
        ({"group_fractions": (0, 0, 0, 0)}, ValueError, "all be zero"),
        ({"group_fractions": (1, "a", 1, 1)}, TypeError, "group_fractions"),
        ({"dims_per_neuron": 0}, ValueError, "dims_per_neuron"),
        ({"bin_size": 0.0}, ValueError, "bin_size"),
        ({"behaviour_timescale": -1.0}, ValueError, "behaviour_timescale"),
        ({"time_timescale": float("nan")}, ValueError, "time_timescale"),
        ({"mean_rate": 0.0}, ValueError, "mean_rate"),
        ({"mean_rate": 1e9}, ValueError, "spikes per bin"),
        ({"modulation": -0.5}, ValueError, "modulation"),
        ({"modulation": 10.0}, ValueError, "at most 5"),
        ({"noise": "laplace"}, ValueError, "noise"),
        ({"shuffle_neurons": "yes"}, TypeError, "shuffle_neurons"),
        ({"random_state": 1.5}, TypeError, "random_state"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        attribution_manifold(**{"n_samples": 100, "n_neurons": 5, **kwargs})

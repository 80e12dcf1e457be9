"""pynapple objects in and out: real ``Tsd`` / ``TsdFrame`` / ``TsGroup`` / ``IntervalSet`` objects (no mocks), and
the pynapple test NWB file loaded by ``nap.load_file``."""

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

nap = pytest.importorskip(
    "pynapple", reason="pynapple is an optional extra: pip install 'neuroembed[pynapple]'"
)

import neuroembed as ne  # noqa: E402
from neuroembed import Ensemble, Estimator  # noqa: E402
from neuroembed import _pynapple as PN  # noqa: E402
from neuroembed._training import prepare  # noqa: E402

SHARED_NWB = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "pynapple_tests" / "A8604-211122.nwb"
)
FAST = dict(
    model="offset5", batch_size=64, max_iterations=15, time_offset=3, device="cpu", random_state=0
)
BIN = 0.025


def _session(n=2400, n_units=10, seed=0):
    """Place cells as spike times, position tracked at 120 Hz (a TsdFrame of x, y) and the binned counts."""
    rng = np.random.default_rng(seed)
    duration = n * BIN
    frames = np.arange(0, duration, 1 / 120)
    pos = np.stack([np.sin(frames / 3), np.cos(frames / 4)], 1)
    centres = rng.uniform(-1, 1, (n_units, 2))
    spikes = {}
    for u in range(n_units):
        rate = 1 + 40 * np.exp(-((pos - centres[u]) ** 2).sum(1) / 0.3)
        count = rng.poisson(rate / 120)
        spikes[u] = nap.Ts(
            t=np.sort(np.repeat(frames, count) + rng.uniform(0, 1 / 120, count.sum()))
        )
    units = nap.TsGroup(spikes, time_support=nap.IntervalSet(0, duration))
    position = nap.TsdFrame(
        t=frames, d=pos, columns=["x", "y"], time_support=nap.IntervalSet(0, duration)
    )
    return units, position


def test_tsdframe_in_tsdframe_out_on_the_same_time_index():
    units, position = _session()
    counts = units.count(BIN)
    est = Estimator(**FAST).fit(counts, position)
    Z = est.transform(counts)
    assert isinstance(Z, nap.TsdFrame)
    np.testing.assert_array_equal(Z.t, counts.t)
    assert list(Z.columns) == [f"dim{i}" for i in range(8)]
    np.testing.assert_array_equal(
        Z.values, est.transform(np.asarray(counts.values, dtype=np.float32))
    )


def test_a_tsgroup_is_binned_with_bin_size():
    units, position = _session()
    est = Estimator(bin_size=BIN, **FAST).fit(units, position)
    Z = est.transform(units)
    counts = units.count(BIN)
    np.testing.assert_allclose(Z.t, counts.t)
    # the same fit as on the counts binned by hand
    same = Estimator(**FAST).fit(counts, position).transform(counts)
    np.testing.assert_array_equal(Z.values, same.values)


def test_a_tsgroup_without_bin_size_says_what_to_set():
    units, _ = _session()
    with pytest.raises(TypeError, match=r"set the estimator's bin_size.*tsgroup.count"):
        Estimator(conditional="time", **FAST).fit(units)


def test_behaviour_on_another_time_base_is_aligned_by_the_documented_rule():
    units, position = _session()
    counts = units.count(BIN)
    # 120 Hz frames in 25 ms bins: three frames per bin, so their mean
    aligned = ne.io.align_behaviour(position, counts)
    expected = ne.io.resample_behaviour(position.values, position.t, counts.t, method="mean")
    np.testing.assert_allclose(aligned, expected)
    # coarser behaviour is interpolated
    coarse = nap.Tsd(t=np.arange(0, 60, 0.1), d=np.arange(600.0))
    bins = np.arange(0.025, 10, 0.05)
    np.testing.assert_allclose(ne.io.align_behaviour(coarse, bins), 10 * bins)
    # labels take the last value at or before each bin
    labels = nap.Tsd(t=np.array([0.0, 1.0, 2.0]), d=np.array([3, 1, 2]))
    np.testing.assert_array_equal(ne.io.align_behaviour(labels, [0.5, 1.0, 2.2]), [3, 1, 2])
    # the fit uses exactly the aligned behaviour
    t = prepare(Estimator(**FAST), counts, position)
    np.testing.assert_allclose(
        t.solver.sampler.sessions[0].behaviour.numpy(), aligned.astype(np.float32)
    )


def test_behaviour_is_never_averaged_or_interpolated_across_a_gap():
    # 100 Hz behaviour equal to its time, 0.1 s neural bins
    frames = np.arange(0.0, 10.0, 0.01)
    position = nap.Tsd(t=frames, d=frames.copy())
    bins = np.arange(0.05, 10.0, 0.1)
    run = nap.IntervalSet(start=[0.0, 6.0], end=[4.0, 10.0])
    counts = nap.TsdFrame(t=bins, d=np.ones((bins.size, 2))).restrict(run)
    # the bins at the edges of the two segments average their own frames, not those of the gap between them
    aligned = ne.io.align_behaviour(position, counts)
    np.testing.assert_allclose(aligned, counts.t, atol=0.006)
    rec = PN.neural(counts, None)
    np.testing.assert_allclose(PN.align(position, rec, "raise"), aligned)
    # a segment of a single bin takes the bin width of the others
    one = nap.TsdFrame(t=bins, d=np.ones((bins.size, 2))).restrict(
        nap.IntervalSet(start=[0.0, 5.0], end=[3.0, 5.1])
    )
    np.testing.assert_allclose(ne.io.align_behaviour(position, one), one.t, atol=0.006)
    # behaviour restricted to epochs says nothing in the gap between them: NaN, not interpolated
    coarse = nap.Tsd(t=np.arange(0.0, 10.0, 0.2), d=np.arange(0.0, 10.0, 0.2)).restrict(run)
    y = ne.io.align_behaviour(coarse, bins)
    in_gap = (bins > 4.0) & (bins < 6.0)
    assert np.isnan(y[in_gap]).all()
    known = (bins < 3.8) | (bins > 6.0) & (bins < 9.8)  # between two frames of one epoch
    np.testing.assert_allclose(y[known], bins[known])
    labels = nap.Tsd(t=np.arange(0.0, 10.0, 0.2), d=np.arange(50)).restrict(run)
    with pytest.raises(ValueError, match="gap of their time support"):
        ne.io.align_behaviour(labels, bins)


def test_empty_behaviour_is_refused_with_a_clear_error():
    empty = nap.Tsd(t=np.array([]), d=np.array([]))
    with pytest.raises(ValueError, match="empty pynapple Tsd"):
        ne.io.align_behaviour(empty, np.arange(0.0, 1.0, 0.1))


def test_bins_outside_the_behaviour_are_refused_or_dropped():
    units, position = _session()
    counts = units.count(BIN)
    short = position.restrict(nap.IntervalSet(0, 30))
    with pytest.raises(
        ValueError, match=r"leaves \d+ bins without behaviour.*behaviour_nan='drop'"
    ):
        Estimator(**FAST).fit(counts, short)
    est = Estimator(behaviour_nan="drop", **FAST)
    t = prepare(est, counts, short)
    valid = t.solver.sampler.sessions[0].valid.numpy()
    assert not valid[counts.t > 30.1].any() and valid[(counts.t > 1) & (counts.t < 29)].all()
    assert est.fit(counts, short).transform(counts).shape == (len(counts), 8)


def test_epochs_restrict_the_samples_drawn():
    units, position = _session()
    counts = units.count(BIN)
    run = nap.IntervalSet(start=[5.0, 30.0], end=[20.0, 50.0])
    inside = run.in_interval(nap.Ts(t=counts.t))
    inside = ~np.isnan(np.asarray(inside, dtype=float))
    for conditional, hybrid in (("time_delta", False), ("time_delta", True), ("time", False)):
        est = Estimator(conditional=conditional, hybrid=hybrid, **FAST)
        t = prepare(est, counts, None if conditional == "time" else position, epochs=run)
        for _ in range(30):
            b = t.solver.sampler.sample()
            for idx in b.reference + b.positive + b.negative + (b.time_positive or []):
                assert inside[idx.numpy()].all()
    est = Estimator(**FAST).fit(counts, position, epochs=run)
    assert est.transform(counts).shape == (len(counts), 8)  # every bin is embedded


def test_epochs_as_a_boolean_mask_for_arrays():
    units, position = _session()
    counts = units.count(BIN)
    X = np.asarray(counts.values, dtype=np.float32)
    y = ne.io.align_behaviour(position, counts)
    mask = np.zeros(len(X), dtype=bool)
    mask[500:1500] = True
    t = prepare(Estimator(**FAST), X, y, epochs=mask)
    for _ in range(20):
        b = t.solver.sampler.sample()
        for idx in b.reference + b.positive + b.negative:
            assert mask[idx.numpy()].all()
    with pytest.raises(TypeError, match="IntervalSet, but neural has no times"):
        Estimator(**FAST).fit(X, y, epochs=nap.IntervalSet(0, 10))
    with pytest.raises(TypeError, match="boolean array of shape"):
        Estimator(**FAST).fit(X, y, epochs=mask[:10])


def test_a_restricted_recording_is_segments_no_window_spans():
    units, position = _session()
    run = nap.IntervalSet(start=[5.0, 30.0], end=[20.0, 50.0])
    counts = units.count(BIN).restrict(run)
    segment = np.searchsorted(run.start, counts.t, side="right") - 1
    est = Estimator(conditional="time_delta", hybrid=True, **FAST)
    t = prepare(est, counts, position)
    for _ in range(30):
        b = t.solver.sampler.sample()
        for idx in b.reference + b.positive + b.negative + b.time_positive:
            i = idx.numpy()
            np.testing.assert_array_equal(segment[i - 2], segment[i + 2])  # offset5: 2 each side
        np.testing.assert_array_equal(
            segment[b.reference[0].numpy()], segment[b.time_positive[0].numpy()]
        )
    Z = est.fit(counts, position).transform(counts)
    assert isinstance(Z, nap.TsdFrame) and len(Z.time_support) == 2
    # embedded segment by segment: each part as if it were the whole recording
    for k in range(2):
        part = np.asarray(counts.values[segment == k], dtype=np.float32)
        np.testing.assert_array_equal(Z.values[segment == k], est.transform(part))


def test_time_delta_changes_never_cross_a_gap():
    units, position = _session()
    run = nap.IntervalSet(start=[5.0, 30.0], end=[20.0, 50.0])
    counts = units.count(BIN).restrict(run)
    t = prepare(Estimator(**FAST), counts, position)
    y = t.solver.sampler.sessions[0].behaviour.numpy()
    segment = np.searchsorted(run.start, counts.t, side="right") - 1
    lo, hi, off = 2, len(counts) - 2, FAST["time_offset"]
    same = segment[lo + off : hi] == segment[lo : hi - off]
    centres = np.arange(lo, hi)
    inside = (
        segment[centres - 2] == segment[centres + 2]
    )  # windows of offset5 that stay in a segment
    same &= inside[off:] & inside[:-off]
    expected = (y[lo + off : hi] - y[lo : hi - off])[same]
    np.testing.assert_allclose(t.solver.sampler._deltas[0].numpy(), expected)


def test_decode_with_pynapple_and_held_out_epochs():
    units, position = _session()
    counts = units.count(BIN)
    est = Estimator(**FAST).fit(counts, position)
    Z = est.transform(counts)
    test = nap.IntervalSet(start=[10.0, 40.0], end=[15.0, 45.0])
    scores = ne.metrics.decode(Z, position, test=test, method="knn")
    in_test = (counts.t >= 10) & (counts.t <= 15) | (counts.t >= 40) & (counts.t <= 45)
    assert scores["n_test"] == int(in_test.sum())
    assert scores["n_train"] == len(counts) - int(in_test.sum())
    aligned = ne.io.align_behaviour(position, counts)
    same = ne.metrics.decode(np.asarray(Z.values), aligned, test=in_test, method="knn")
    assert same == scores
    with pytest.raises(TypeError, match="timestamps are required"):
        ne.io.write_embedding("unused.nwb", np.ones((3, 2)))
    with pytest.raises(TypeError, match="embedding has no times"):
        ne.metrics.decode(np.asarray(Z.values), aligned, test=test)


def test_metrics_take_tsdframes():
    units, position = _session()
    counts = units.count(BIN)
    a = Estimator(**FAST).fit(counts, position).transform(counts)
    b = Estimator(**{**FAST, "random_state": 1}).fit(counts, position).transform(counts)
    scores = ne.metrics.consistency([a, b])
    assert np.isfinite(
        np.asarray(scores, dtype=float)[~np.isnan(np.asarray(scores, dtype=float))]
    ).all()


def test_an_ensemble_returns_a_tsdframe():
    units, position = _session(n=1200)
    counts = units.count(BIN)
    ens = Ensemble(Estimator(**FAST), n_estimators=2, random_state=0).fit(counts, position)
    Z = ens.transform(counts)
    assert isinstance(Z, nap.TsdFrame) and Z.shape == (len(counts), ens.n_components_)


@pytest.mark.parametrize("spikes", [False, True], ids=["binned counts", "TsGroups"])
def test_an_ensemble_on_several_pynapple_sessions(spikes):
    """A list of pynapple sessions is several sessions to an Ensemble too (a TsGroup has no ``ndim``, and its
    ``len`` is its units): each session comes back as a TsdFrame of its own bins, as Estimator.fit_transform gives."""
    (u1, p1), (u2, p2) = _session(n=1200), _session(n=1000, n_units=7, seed=1)
    X = [u1, u2] if spikes else [u1.count(BIN), u2.count(BIN)]
    ens = Ensemble(
        Estimator(**FAST, bin_size=BIN if spikes else None), n_estimators=2, random_state=0
    )
    Z = ens.fit_transform(X, [p1, p2])
    assert ens.n_sessions_ == 2 and len(Z) == 2
    for s, (z, x) in enumerate(zip(Z, X)):
        again = ens.transform(x, session=s)
        assert isinstance(z, nap.TsdFrame) and isinstance(again, nap.TsdFrame)
        assert len(z) == (1200, 1000)[s]
        np.testing.assert_array_equal(z.t, again.t)
        np.testing.assert_allclose(z.values, again.values, atol=1e-5)


def test_adapt_refuses_a_list_of_pynapple_sessions():
    (u1, p1), (u2, p2) = _session(n=1200), _session(n=1000, n_units=7, seed=1)
    est = Estimator(**FAST).fit(u1.count(BIN), p1)
    with pytest.raises(ValueError, match="adapt adds one recording at a time"):
        est.adapt([u1, u2], [p1, p2], iterations=2)


def test_behaviour_as_pynapple_with_array_neural_is_refused():
    _, position = _session()
    with pytest.raises(TypeError, match="no times to align it to"):
        Estimator(**FAST).fit(np.ones((len(position), 4), dtype=np.float32), position)


@pytest.mark.skipif(not SHARED_NWB.exists(), reason="../shared/data/pynapple_tests is absent")
@pytest.mark.filterwarnings("ignore")  # pynwb's deprecation warnings on this older file
def test_the_pynapple_test_nwb_round_trip(tmp_path):
    path = tmp_path / SHARED_NWB.name
    shutil.copy(SHARED_NWB, path)
    opened = []  # closed at the end: else pynwb warns when they are collected, maybe inside a later pytest.warns
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opened.append(nap.load_file(str(path)))
            units = opened[-1]["units"]
        assert isinstance(units, nap.TsGroup) and len(units) == 3
        est = Estimator(
            conditional="time",
            bin_size=0.1,
            model="offset5",
            batch_size=128,
            time_offset=2,
            max_iterations=20,
            random_state=0,
            device="cpu",
        ).fit(units)
        Z = est.transform(units)
        written = ne.io.write_embedding(
            path, Z, settings=est.get_params()
        )  # a TsdFrame brings its times
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opened.append(nap.load_file(str(written)))
            back = opened[-1]["embedding"]
        assert isinstance(back, nap.TsdFrame)
        np.testing.assert_allclose(back.t, Z.t)
        np.testing.assert_allclose(back.values, Z.values)
    finally:
        for data in opened:
            data.close()


def test_several_pynapple_sessions():
    (u1, p1), (u2, p2) = _session(n=1200), _session(n=1000, n_units=7, seed=1)
    c1, c2 = u1.count(BIN), u2.count(BIN)
    est = Estimator(**FAST).fit([c1, c2], [p1, p2])
    Z = est.transform(c2, session=1)
    assert isinstance(Z, nap.TsdFrame) and len(Z) == len(c2)
    with pytest.raises(ValueError, match="behaviour must be None or a list of 2"):
        Estimator(**FAST).fit([c1, c2], p1)

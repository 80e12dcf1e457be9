"""Missing behaviour (``behaviour_nan``): refused by default with a count and the option's name; with ``"drop"``
the NaN rows are never drawn, still feed their neighbours' windows, and are embedded by ``transform``."""

import numpy as np
import pytest

from neuroembed import Ensemble, Estimator
from neuroembed._training import prepare

FAST = dict(model="offset5", batch_size=64, max_iterations=20, time_offset=3, device="cpu")


def _data(n=1200, n_neurons=12, seed=0, gaps=((100, 160), (500, 520), (900, 990))):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    pos = np.stack([np.sin(t / 40), np.cos(t / 55)], 1)
    centres = rng.uniform(-1, 1, (n_neurons, 2))
    rates = 0.2 + 3 * np.exp(-((pos[:, None, :] - centres) ** 2).sum(-1) / 0.2)
    X = rng.poisson(rates).astype(np.float32)
    y = pos.astype(np.float32)
    for a, b in gaps:
        y[a:b] = np.nan
    return X, y


def test_nan_is_refused_with_a_count_and_the_option():
    X, y = _data()
    with pytest.raises(
        ValueError,
        match=r"NaN value\(s\) in 170 of 1200 rows \(first at row 100\).*behaviour_nan='drop'",
    ):
        Estimator(**FAST).fit(X, y)


def test_one_nan_column_makes_the_row_missing():
    X, y = _data(gaps=())
    y[7, 1] = np.nan
    with pytest.raises(ValueError, match="in 1 of 1200 rows"):
        Estimator(**FAST).fit(X, y)
    est = Estimator(behaviour_nan="drop", random_state=0, **FAST)
    t = prepare(est, X, y)
    assert not bool(t.solver.sampler.sessions[0].valid[7])


@pytest.mark.parametrize("conditional", ["time_delta", "delta"])
def test_dropped_rows_are_never_drawn(conditional):
    X, y = _data()
    missing = np.isnan(y).any(1)
    est = Estimator(
        conditional=conditional, behaviour_nan="drop", hybrid=True, random_state=0, **FAST
    )
    t = prepare(est, X, y)
    sampler = t.solver.sampler
    assert sampler._index[0].n_points == int((~missing[2:-2]).sum())  # window centres of offset5
    for _ in range(50):
        b = sampler.sample()
        for idx in b.reference + b.positive + b.negative:
            assert not missing[idx.numpy()].any()


def test_mixed_drops_nan_rows_and_keeps_labels():
    X, y = _data()
    labels = (np.arange(len(X)) // 100) % 3
    est = Estimator(conditional="mixed", behaviour_nan="drop", random_state=0, **FAST)
    t = prepare(est, X, (y, labels))
    missing = np.isnan(y).any(1)
    for _ in range(20):
        b = t.solver.sampler.sample()
        assert not missing[b.positive[0].numpy()].any()
        np.testing.assert_array_equal(labels[b.positive[0].numpy()], labels[b.reference[0].numpy()])


def test_fit_transform_score_with_missing_rows():
    X, y = _data()
    est = Estimator(behaviour_nan="drop", random_state=0, **FAST).fit(X, y)
    Z = est.transform(X)
    assert Z.shape == (len(X), 8) and np.isfinite(Z).all()  # NaN rows are embedded too
    assert np.isfinite(est.loss_history_).all()
    assert np.isfinite(est.score(X, y))
    # their neural activity feeds the windows: changing it changes the neighbours' embedding
    X2 = X.copy()
    X2[130] += 5
    Z2 = est.transform(X2)
    assert not np.allclose(Z[128:133], Z2[128:133])


def test_same_seed_same_fit_with_missing_rows():
    X, y = _data()
    a = Estimator(behaviour_nan="drop", random_state=5, **FAST).fit(X, y).transform(X)
    b = Estimator(behaviour_nan="drop", random_state=5, **FAST).fit(X, y).transform(X)
    assert a.tobytes() == b.tobytes()


def test_complete_data_fits_the_same_under_either_option():
    X, y = _data(gaps=())
    a = Estimator(random_state=1, **FAST).fit(X, y).transform(X)
    b = Estimator(behaviour_nan="drop", random_state=1, **FAST).fit(X, y).transform(X)
    assert a.tobytes() == b.tobytes()


def test_early_stopping_and_several_sessions_with_missing_rows():
    (X1, y1), (X2, y2) = _data(seed=1), _data(n=900, seed=2, gaps=((850, 900), (10, 40)))
    est = Estimator(
        behaviour_nan="drop",
        early_stopping=True,
        validation_every=5,
        random_state=0,
        **FAST,
    ).fit([X1, X2], [y1, y2])
    assert np.isfinite(est.validation_scores_).all()
    assert est.transform(X2, session=1).shape == (900, 8)


def test_adapt_and_partial_fit_accept_missing_rows():
    X, y = _data()
    est = Estimator(behaviour_nan="drop", random_state=0, **FAST).fit(X, y)
    est.partial_fit(X, y)
    assert est.n_iter_ == 40
    Xn, yn = _data(n=800, n_neurons=7, seed=3)
    est.adapt(Xn, yn, iterations=5)
    assert est.transform(Xn, session=-1).shape == (800, 8)


def test_ensemble_passes_the_option_to_its_members():
    X, y = _data()
    ens = Ensemble(Estimator(behaviour_nan="drop", **FAST), n_estimators=2, random_state=0)
    assert ens.fit(X, y).transform(X).shape[0] == len(X)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda y: y.__setitem__(slice(None), np.nan), "NaN in every one of its 1200 rows"),
        (lambda y: y.__setitem__((5, 0), np.inf), "infinite"),
    ],
)
def test_what_drop_still_refuses(mutate, match):
    X, y = _data()
    mutate(y)
    with pytest.raises(ValueError, match=match):
        Estimator(behaviour_nan="drop", **FAST).fit(X, y)


def test_no_drawable_window_centre_is_refused():
    X, y = _data(n=300, gaps=((2, 300),))  # rows 0 and 1 have behaviour: no window centre
    with pytest.raises(ValueError, match="no window centre that may be drawn"):
        Estimator(behaviour_nan="drop", **FAST).fit(X, y)


def test_unknown_option_is_refused():
    X, y = _data()
    with pytest.raises(ValueError, match="behaviour_nan"):
        Estimator(behaviour_nan="ignore", **FAST).fit(X, y)

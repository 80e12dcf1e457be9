"""An embedding of parts (``Estimator(objectives=...)``): one loss term per part, each with its own positives, shared
references and negatives; every part on its own sphere; parts by name in ``transform``, attribution, ensembles and
saved models."""

import math

import numpy as np
import pytest
import torch
from sklearn.base import clone

from neuroembed import Ensemble, Estimator
from neuroembed._training import prepare
from neuroembed.attribution import attribution_map

FAST = dict(
    model="offset5", batch_size=64, max_iterations=15, time_offset=3, device="cpu", random_state=0
)
PARTS = [("time_delta", 3, [0]), ("time", 2), ("delta", 2, 1)]


def _data(n=900, n_neurons=14, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = np.stack([np.sin(t / 40), np.cos(t / 23)], 1)
    centres = rng.uniform(-1, 1, (n_neurons, 2))
    rates = 0.2 + 3 * np.exp(-((y[:, None, :] - centres) ** 2).sum(-1) / 0.2)
    return rng.poisson(rates).astype(np.float32), y.astype(np.float32)


def _slow_info_nce(a, p, n, temperature):
    """CEBRA's InfoNCE, one anchor at a time, on L2-normalised rows (float64)."""
    a, p, n = (np.asarray(x, dtype=np.float64) for x in (a, p, n))
    unit = lambda z: z / np.linalg.norm(z, axis=1, keepdims=True)  # noqa: E731
    a, p, n = unit(a), unit(p), unit(n)
    total = 0.0
    for i in range(a.shape[0]):
        pos = a[i] @ p[i] / temperature
        negs = [a[i] @ n[k] / temperature for k in range(n.shape[0])]
        top = max(negs)
        total += -pos + top + math.log(sum(math.exp(s - top) for s in negs))
    return total / a.shape[0]


def _embed_rows(t, rows, session=0):
    """The encoder's plain forward on the windows of ``rows`` (no fast path)."""
    R = t.encoder.receptive_field
    left = t.solver.left
    data = t.solver._data[session]
    windows = torch.stack([data[r - left : r - left + R] for r in rows.tolist()])
    with torch.no_grad():
        return t.encoder(windows.transpose(1, 2), session=session)[..., 0].numpy()


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_loss_is_the_sum_of_one_info_nce_per_part(temperature):
    X, y = _data()
    est = Estimator(objectives=PARTS, temperature=temperature, **FAST)
    t = prepare(est, X, y)
    batch = t.solver.sampler.sample()
    with torch.no_grad():
        loss = float(t.solver.loss(batch))
    ref = _embed_rows(t, batch.reference[0])
    neg = _embed_rows(t, batch.negative[0])
    positives = [batch.positive[0]] + [p[0] for p, _ in batch.more_positives]
    expected = 0.0
    for cols, pos in zip([slice(0, 3), slice(3, 5), slice(5, 7)], positives):
        expected += _slow_info_nce(
            ref[:, cols], _embed_rows(t, pos)[:, cols], neg[:, cols], temperature
        )
    assert loss == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_a_term_of_scope_all_compares_the_whole_embedding(distance):
    X, y = _data()
    parts = [("time_delta", 2), {"conditional": "time", "dims": 3, "scope": "all"}]
    t = prepare(Estimator(objectives=parts, distance=distance, **FAST), X, y)
    batch = t.solver.sampler.sample()
    with torch.no_grad():
        loss = float(t.solver.loss(batch))
    ref, neg = _embed_rows(t, batch.reference[0]), _embed_rows(t, batch.negative[0])
    behaviour_pos = _embed_rows(t, batch.positive[0])
    time_pos = _embed_rows(t, batch.more_positives[0][0][0])
    if distance == "cosine":
        expected = _slow_info_nce(ref[:, :2], behaviour_pos[:, :2], neg[:, :2], 1.0)
        expected += _slow_info_nce(ref, time_pos, neg, 1.0)
    else:
        expected = _slow_euclidean_info_nce(ref[:, :2], behaviour_pos[:, :2], neg[:, :2])
        expected += _slow_euclidean_info_nce(ref, time_pos, neg)
    assert loss == pytest.approx(expected, rel=1e-5)


def _slow_euclidean_info_nce(a, p, n):
    """InfoNCE with minus the squared euclidean distance as similarity (temperature 1), one anchor at a time."""
    a, p, n = (np.asarray(x, dtype=np.float64) for x in (a, p, n))
    total = 0.0
    for i in range(a.shape[0]):
        negs = [-np.sum((a[i] - n[k]) ** 2) for k in range(n.shape[0])]
        top = max(negs)
        total += np.sum((a[i] - p[i]) ** 2) + top + math.log(sum(math.exp(s - top) for s in negs))
    return total / a.shape[0]


def test_fit_transform_and_parts():
    X, y = _data()
    est = Estimator(objectives=PARTS, **FAST).fit(X, y)
    Z = est.transform(X)
    assert Z.shape == (900, 7)
    assert est.conditional_ == "objectives"
    assert est.parts_ == {"time_delta": slice(0, 3), "time": slice(3, 5), "delta": slice(5, 7)}
    for cols in est.parts_.values():  # each part on its own sphere
        np.testing.assert_allclose(np.linalg.norm(Z[:, cols], axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(est.transform(X, part="time"), Z[:, 3:5])
    assert list(est.get_feature_names_out()) == [
        "time_delta0",
        "time_delta1",
        "time_delta2",
        "time0",
        "time1",
        "delta0",
        "delta1",
    ]
    assert np.isfinite(est.score(X, y))
    # the same seed, the same fit
    np.testing.assert_array_equal(Estimator(objectives=PARTS, **FAST).fit(X, y).transform(X), Z)


def test_euclidean_parts_are_not_normalised():
    X, y = _data()
    est = Estimator(objectives=[("time", 2), ("time_delta", 2)], distance="euclidean", **FAST).fit(
        X, y
    )
    norms = np.linalg.norm(est.transform(X)[:, :2], axis=1)
    assert not np.allclose(norms, 1.0)


def test_a_single_objective_is_the_plain_fit():
    X, y = _data()
    plain = Estimator(conditional="time_delta", output_dimension=4, **FAST).fit(X, y)
    parts = Estimator(objectives=[("time_delta", 4)], **FAST).fit(X, y)
    np.testing.assert_allclose(parts.transform(X), plain.transform(X), atol=1e-6)
    np.testing.assert_allclose(parts.loss_history_, plain.loss_history_, rtol=1e-6)


def test_part_errors():
    X, y = _data()
    plain = Estimator(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="fitted with objectives"):
        plain.transform(X, part="time")
    est = Estimator(objectives=PARTS, **FAST).fit(X, y)
    with pytest.raises(
        ValueError, match=r"not one of the fitted parts \['time_delta', 'time', 'delta'\]"
    ):
        est.transform(X, part="position")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(hybrid=True), "hybrid=True cannot be combined with objectives"),
        (dict(criterion="supcon"), "criterion='supcon' cannot be combined with objectives"),
        (dict(objectives=[("time", 0)]), "dims must be a positive integer"),
    ],
)
def test_settings_refused(kwargs, match):
    X, y = _data()
    kwargs.setdefault("objectives", PARTS)
    with pytest.raises(ValueError, match=match):
        Estimator(**{**FAST, **kwargs}).fit(X, y)


def test_data_a_part_needs():
    X, y = _data()
    with pytest.raises(ValueError, match=r"columns \[2\].*2 column"):
        Estimator(objectives=[("delta", 2, [2]), ("time", 2)], **FAST).fit(X, y)
    with pytest.raises(ValueError, match="label parts need behaviour"):
        Estimator(objectives=[("delta", 2), ("time", 2)], **FAST).fit(X)
    # time parts alone need no behaviour
    Estimator(objectives=[("time", 2), ("time", 2)], **FAST).fit(X)


def test_labels_and_continuous_behaviour_together():
    X, y = _data()
    labels = (np.arange(900) // 60) % 3
    est = Estimator(objectives=[("discrete", 2), ("time_delta", 2), ("mixed", 2, [1])], **FAST)
    with pytest.raises(TypeError, match=r"tuple \(continuous, discrete labels\)"):
        est.fit(X, y)
    Z = est.fit(X, (y, labels)).transform(X)
    assert Z.shape == (900, 6)


def test_several_sessions():
    (X1, y1), (X2, y2) = _data(seed=0), _data(n=700, n_neurons=9, seed=1)
    est = Estimator(objectives=[("time_delta", 2), ("time", 2)], **FAST).fit([X1, X2], [y1, y2])
    assert est.transform(X2, session=1).shape == (700, 4)


def test_with_dropped_behaviour_early_stopping_and_the_jacobian_penalty():
    X, y = _data()
    y[100:150] = np.nan
    est = Estimator(
        objectives=[("time_delta", 2), ("time", 2)],
        behaviour_nan="drop",
        early_stopping=True,
        validation_every=5,
        jacobian_weight=0.01,
        **FAST,
    ).fit(X, y)
    assert est.validation_scores_.size >= 1
    assert np.isfinite(est.loss_history_).all()


def test_save_load_clone_and_partial_fit(tmp_path):
    X, y = _data()
    est = Estimator(objectives=PARTS, **FAST).fit(X, y)
    est.save(tmp_path / "m.pt")
    back = Estimator.load(tmp_path / "m.pt")
    assert back.parts_ == est.parts_
    np.testing.assert_array_equal(back.transform(X), est.transform(X))
    np.testing.assert_array_equal(back.transform(X, part="delta"), est.transform(X, part="delta"))
    copy = clone(est)
    assert copy.get_params()["objectives"] == PARTS
    est.partial_fit(X, y)
    assert est.n_iter_ == 30


def test_attribution_of_one_part():
    X, y = _data()
    est = Estimator(objectives=PARTS, **FAST).fit(X, y)
    whole = attribution_map(est, X[:200], method="jacobian")
    assert whole.shape == (7, 14)
    np.testing.assert_allclose(
        attribution_map(est, X[:200], method="jacobian", part="time"), whole[3:5]
    )
    with pytest.raises(
        ValueError, match=r"not one of the fitted parts \['time_delta', 'time', 'delta'\]"
    ):
        attribution_map(est, X[:200], part="nope")
    with pytest.raises(ValueError, match="fitted with objectives"):
        attribution_map(Estimator(**FAST).fit(X, y), X[:200], part="time")


def test_ensemble_aligns_part_by_part(tmp_path):
    X, y = _data()
    ens = Ensemble(
        Estimator(objectives=[("time_delta", 3), ("time", 2)], **FAST),
        n_estimators=2,
        random_state=0,
    )
    Z = ens.fit(X, y).transform(X)
    assert Z.shape == (900, 5)
    for cols in (slice(0, 3), slice(3, 5)):
        np.testing.assert_allclose(np.linalg.norm(Z[:, cols], axis=1), 1.0, atol=1e-5)
    for m in ens.alignments_:  # no map mixes the two parts
        np.testing.assert_array_equal(m.weights[:3, 3:], 0.0)
        np.testing.assert_array_equal(m.weights[3:, :3], 0.0)
        rotation = m.weights
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(5), atol=1e-8)
    assert list(ens.get_feature_names_out())[:4] == [
        "time_delta0",
        "time_delta1",
        "time_delta2",
        "time0",
    ]
    ens.save(tmp_path / "e.pt")
    np.testing.assert_allclose(Ensemble.load(tmp_path / "e.pt").transform(X), Z, atol=1e-6)


def test_adapt_to_new_neurons_keeps_the_parts():
    X, y = _data()
    X2, y2 = _data(n=600, n_neurons=9, seed=3)
    est = Estimator(objectives=[("time_delta", 2), ("time", 2)], **FAST).fit(X, y)
    est.adapt(X2, y2, iterations=5)
    Z2 = est.transform(X2, session=-1)
    assert Z2.shape == (600, 4)
    for cols in est.parts_.values():
        np.testing.assert_allclose(np.linalg.norm(Z2[:, cols], axis=1), 1.0, atol=1e-5)


def test_goodness_of_fit_counts_every_term():
    from neuroembed.metrics import goodness_of_fit, goodness_of_fit_history

    X, y = _data()
    est = Estimator(objectives=PARTS, **FAST).fit(X, y)
    k = est.num_negatives_
    bits = goodness_of_fit_history(est)
    np.testing.assert_allclose(bits, (3 * np.log(k) - est.loss_history_) / np.log(2))
    assert goodness_of_fit(est, X, y) == pytest.approx(
        (3 * np.log(k) + est.score(X, y)) / np.log(2)
    )

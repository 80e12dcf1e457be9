"""Continuing and transferring fits: partial_fit, warm starts from given weights, and adapt to new neurons."""

import numpy as np
import pytest
import torch

from neuroembed import Estimator

pytestmark = pytest.mark.timeout(120)


def _data(n=600, neurons=7, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(1.0, (n, neurons)).astype(np.float32)
    y = np.cumsum(rng.normal(0, 0.1, (n, 2)), 0).astype(np.float32)
    return X, y


def _est(**kw):
    params = dict(model="offset5", batch_size=32, time_offset=2, device="cpu", random_state=3)
    params.update(kw)
    return Estimator(**params)


def _same_model(a, b):
    for (name, p), (_, q) in zip(a.encoder_.state_dict().items(), b.encoder_.state_dict().items()):
        assert torch.equal(p, q), name


@pytest.mark.parametrize(
    "kw",
    [
        dict(conditional="time_delta"),
        dict(conditional="time", temperature_mode="learnable"),
        dict(conditional="delta", model="dilated18"),
    ],
)
def test_partial_fit_twice_equals_one_fit_of_twice_the_steps(kw):
    X, y = _data()
    whole = _est(max_iterations=12, **kw).fit(X, y)
    parts = _est(max_iterations=6, **kw)
    parts.partial_fit(X, y).partial_fit(X, y)
    assert parts.n_iter_ == whole.n_iter_ == 12
    _same_model(parts, whole)
    np.testing.assert_array_equal(parts.loss_history_, whole.loss_history_)
    assert parts.temperature_ == whole.temperature_
    np.testing.assert_array_equal(parts.transform(X), whole.transform(X))


def test_partial_fit_of_several_sessions_continues_them_all():
    X1, y1 = _data(500, 5, 1)
    X2, y2 = _data(400, 9, 2)
    whole = _est(max_iterations=8).fit([X1, X2], [y1, y2])
    parts = _est(max_iterations=4).partial_fit([X1, X2], [y1, y2]).partial_fit([X1, X2], [y1, y2])
    _same_model(parts, whole)


def test_partial_fit_on_new_data_of_the_same_neurons_trains_on_it():
    X, y = _data()
    X2, y2 = _data(seed=5)
    est = _est(max_iterations=5).fit(X, y)
    before = {k: v.clone() for k, v in est.encoder_.state_dict().items()}
    est.partial_fit(X2, y2)
    assert est.n_iter_ == 10 and est.loss_history_.shape == (10,)
    assert any(not torch.equal(before[k], v) for k, v in est.encoder_.state_dict().items())


def test_partial_fit_refuses_other_neurons_and_early_stopping():
    X, y = _data()
    est = _est(max_iterations=3).fit(X, y)
    with pytest.raises(
        ValueError, match=r"X has 4 features, but Estimator is expecting 7 features"
    ):
        est.partial_fit(X[:, :4], y)
    with pytest.raises(ValueError, match="partial_fit does not early-stop"):
        _est(max_iterations=3, early_stopping=True).partial_fit(X, y)


def test_partial_fit_after_load_continues_from_the_saved_weights(tmp_path):
    X, y = _data()
    est = _est(max_iterations=4).fit(X, y)
    est.save(tmp_path / "m.pt")
    loaded = Estimator.load(tmp_path / "m.pt", device="cpu")
    loaded.partial_fit(X, y)
    assert loaded.n_iter_ == 8 and loaded.loss_history_.shape == (8,)


@pytest.mark.parametrize("source", ["estimator", "file", "state_dict"])
def test_initial_weights_are_the_weights_a_fit_starts_from(source, tmp_path):
    X, y = _data()
    trained = _est(max_iterations=10, random_state=1).fit(X, y)
    weights = {"estimator": trained, "state_dict": trained.encoder_.state_dict()}.get(source)
    if source == "file":
        trained.save(tmp_path / "m.pt")
        weights = str(tmp_path / "m.pt")
    start = _est(max_iterations=0).fit(X, y, initial_weights=weights)
    _same_model(start, trained)
    # the batches are those of a cold fit with the same seed: one step from the same weights agrees
    warm = _est(max_iterations=3).fit(X, y, initial_weights=weights)
    cold = _est(max_iterations=3).fit(X, y)
    cold_from_trained = _est(max_iterations=3).fit(X, y, initial_weights=cold.encoder_.state_dict())
    assert warm.loss_history_.shape == cold.loss_history_.shape == (3,)
    assert not np.array_equal(warm.loss_history_, cold.loss_history_)
    assert cold_from_trained.n_iter_ == 3


def test_initial_weights_of_another_shape_name_both():
    X, y = _data()
    other = _est(max_iterations=1).fit(X[:, :4], y)
    with pytest.raises(ValueError, match=r"initial_weights do not fit the encoder .*size mismatch"):
        _est(max_iterations=1).fit(X, y, initial_weights=other)
    with pytest.raises(TypeError, match="initial_weights must be a fitted Estimator"):
        _est(max_iterations=1).fit(X, y, initial_weights=3)
    with pytest.raises(ValueError, match="not both"):
        _est(max_iterations=1, checkpoint_dir="x").fit(X, y, resume=True, initial_weights=other)


def test_initial_weights_match_an_untrained_fit_of_zero_iterations():
    # max_iterations=0 hands out the untrained weights of a seed: what the benchmarks give CEBRA
    X, y = _data()
    a = _est(max_iterations=0).fit(X, y)
    b = _est(max_iterations=0).fit(X, y)
    _same_model(a, b)
    assert a.n_iter_ == 0


@pytest.mark.parametrize("conditional", ["time_delta", "time"])
def test_adapt_adds_a_session_and_leaves_the_old_ones_as_they_were(conditional):
    X, y = _data(600, 7, 0)
    X_new, y_new = _data(500, 12, 4)
    est = _est(max_iterations=6, conditional=conditional).fit(X, y)
    before = est.transform(X)
    trunk = {k: v.clone() for k, v in est.encoder_.trunk.state_dict().items()}
    est.adapt(X_new, y_new if conditional != "time" else None, iterations=5)
    assert est.n_sessions_ == 2 and est.session_n_features_ == [7, 12]
    np.testing.assert_array_equal(est.transform(X, session=0), before)
    for k, v in est.encoder_.trunk.state_dict().items():
        assert torch.equal(v, trunk[k]), k
    assert est.adapt_loss_history_.shape == (5,)
    assert est.transform(X_new, session=-1).shape == (500, 8)
    with pytest.raises(ValueError, match="fitted on 2 sessions"):
        est.transform(X)


def test_adapt_trains_the_new_layer_and_fine_tunes_the_trunk_when_asked():
    X, y = _data(600, 7, 0)
    X_new, y_new = _data(500, 12, 4)
    est = _est(max_iterations=6).fit(X, y)
    trunk = {k: v.clone() for k, v in est.encoder_.trunk.state_dict().items()}
    est.adapt(X_new, y_new, iterations=3, finetune_iterations=4)
    assert est.adapt_loss_history_.shape == (7,)
    assert any(not torch.equal(v, trunk[k]) for k, v in est.encoder_.trunk.state_dict().items())
    assert all(p.requires_grad for p in est.encoder_.parameters())


def test_adapt_trains_each_phase_at_its_own_rate(monkeypatch):
    """The frozen phase at learning_rate (1e-2 unless given), the fine-tuning at finetune_learning_rate (the
    estimator's unless given): one optimiser per phase, over the new layer, then over the layer and the trunk."""
    from neuroembed import _training

    made = []
    real = _training.make_adam

    def spy(params, lr, *args, **kwargs):
        made.append((len(list(params)) if not isinstance(params, list) else len(params), lr))
        return real(params, lr, *args, **kwargs)

    monkeypatch.setattr(_training, "make_adam", spy)
    X, y = _data(600, 7, 0)
    X_new, y_new = _data(500, 12, 4)
    est = _est(max_iterations=2, learning_rate=5e-4).fit(X, y)
    made.clear()
    est.adapt(X_new, y_new, iterations=2, finetune_iterations=2)
    assert [lr for _, lr in made] == [1e-2, 5e-4]
    assert made[0][0] < made[1][0]  # the new layer alone, then with the trunk
    made.clear()
    est.adapt(
        X_new,
        y_new,
        iterations=2,
        finetune_iterations=1,
        learning_rate=3e-3,
        finetune_learning_rate=1e-4,
    )
    assert [lr for _, lr in made] == [3e-3, 1e-4]
    with pytest.raises(ValueError, match="finetune_learning_rate"):
        est.adapt(X_new, y_new, finetune_learning_rate=-1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        est.adapt(X_new, y_new, learning_rate=0.0)


def test_adapt_of_a_multi_session_model_saves_and_loads(tmp_path):
    X1, y1 = _data(500, 5, 1)
    X2, y2 = _data(400, 9, 2)
    X3, y3 = _data(450, 3, 3)
    est = _est(max_iterations=4).fit([X1, X2], [y1, y2])
    old = [est.transform(X1, session=0), est.transform(X2, session=1)]
    est.adapt(X3, y3, iterations=4)
    assert est.session_n_features_ == [5, 9, 3]
    np.testing.assert_array_equal(est.transform(X2, session=1), old[1])
    est.save(tmp_path / "m.pt")
    loaded = Estimator.load(tmp_path / "m.pt", device="cpu")
    assert loaded.n_sessions_ == 3
    for s, x in enumerate([X1, X2, X3]):
        np.testing.assert_array_equal(loaded.transform(x, session=s), est.transform(x, session=s))


def test_adapt_is_seeded():
    X, y = _data()
    X_new, y_new = _data(500, 12, 4)
    a = _est(max_iterations=3).fit(X, y).adapt(X_new, y_new, iterations=4)
    b = _est(max_iterations=3).fit(X, y).adapt(X_new, y_new, iterations=4)
    np.testing.assert_array_equal(a.transform(X_new, session=1), b.transform(X_new, session=1))


def test_adapt_checks_its_input():
    from sklearn.exceptions import NotFittedError

    X, y = _data()
    with pytest.raises(NotFittedError):
        _est().adapt(X, y)
    est = _est(max_iterations=2).fit(X, y)
    with pytest.raises(ValueError, match="one recording at a time"):
        est.adapt([X, X], [y, y])
    with pytest.raises(ValueError, match="iterations"):
        est.adapt(X, y, iterations=-1)
    with pytest.raises(ValueError, match="needs behaviour"):
        est.adapt(X, None)
    assert est.n_sessions_ == 1  # a refused adapt leaves the model as it was


def test_partial_fit_after_adapt_trains_every_session_with_a_fresh_optimiser():
    X, y = _data()
    X_new, y_new = _data(500, 12, 4)
    est = _est(max_iterations=3).fit(X, y).adapt(X_new, y_new, iterations=2)
    before = est.transform(X_new, session=1)
    est.partial_fit(
        [X, X_new], [y, y_new]
    )  # the last fit's optimiser state had no moments for the new layer
    assert est.n_iter_ == 6 and est.n_sessions_ == 2
    assert not np.array_equal(est.transform(X_new, session=1), before)


def test_adapt_attributes_survive_save_and_load(tmp_path):
    X, y = _data()
    X_new, y_new = _data(500, 12, 4)
    plain = _est(max_iterations=3).fit(X, y)
    plain.save(tmp_path / "plain.pt")
    loaded = Estimator.load(tmp_path / "plain.pt", device="cpu")
    assert loaded.adapt_loss_history_ is None and not hasattr(loaded, "adapt_seconds_")
    est = plain.adapt(X_new, y_new, iterations=4)
    est.save(tmp_path / "adapted.pt")
    loaded = Estimator.load(tmp_path / "adapted.pt", device="cpu")
    np.testing.assert_array_equal(loaded.adapt_loss_history_, est.adapt_loss_history_)
    assert (
        loaded.adapt_loss_history_.dtype == np.float64
        and loaded.adapt_seconds_ == est.adapt_seconds_
    )

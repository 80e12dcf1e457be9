"""Early stopping on a held-out block, the time budget, and why training stopped (``Estimator``)."""

import json

import numpy as np
import pytest
import torch
from sklearn.base import clone

from neuroembed._early_stopping import EarlyStopping
from neuroembed.estimator import Estimator
from neuroembed.sampling import ContrastiveSampler
from tests.test_estimator import _toy

# 600 samples: the last 60 are held out; training runs on the first 540
ES = dict(
    model="offset5",
    batch_size=32,
    time_offset=3,
    device="cpu",
    random_state=0,
    early_stopping=True,
    validation_every=5,
    n_iter_no_change=100,
    max_iterations=30,
)
N_TRAIN = 540


def _held_out_score(est, X, y, weights_of=None):
    """Minus the held-out loss of ``weights_of``'s weights (default ``est``'s), recomputed from scratch."""
    source = est if weights_of is None else weights_of
    fresh = clone(est)
    fresh._check_params()
    run = fresh._prepare(X, y)
    run.encoder.load_state_dict(source.encoder_.state_dict())
    run.criterion.load_state_dict(source.criterion_.state_dict())
    return -run.held_out_loss()


def test_the_validation_block_is_contiguous_and_never_trained_on(monkeypatch):
    X, y = _toy()
    drawn = []
    original = ContrastiveSampler.sample

    def spy(self):
        batch = original(self)
        drawn.append((self.sessions[0].n_samples, self.sessions[0], batch))
        return batch

    monkeypatch.setattr(ContrastiveSampler, "sample", spy)
    reference = Estimator(**ES).fit(X, y)
    monkeypatch.setattr(ContrastiveSampler, "sample", original)
    # the training sampler knows only the first 540 samples, the held-out one only the last 60; every window of
    # a drawn index lies inside its part
    assert sorted({n for n, _, _ in drawn}) == [60, N_TRAIN]
    assert sum(n == 60 for n, _, _ in drawn) == 4  # the held-out batches are drawn once
    for _, session, batch in drawn:
        for idx in batch.reference + batch.positive + batch.negative:
            assert int(idx.min()) - session.left >= 0
            assert int(idx.max()) + session.right <= session.n_samples

    # whatever the held-out block holds, training is the same, bit for bit (its scores differ)
    rng = np.random.default_rng(1)
    X_other, y_other = X.copy(), y.copy()
    X_other[N_TRAIN:] = rng.poisson(9.0, X_other[N_TRAIN:].shape)
    y_other[N_TRAIN:] = rng.uniform(0, 1, 60)
    other = Estimator(**ES).fit(X_other, y_other)
    np.testing.assert_array_equal(other.loss_history_, reference.loss_history_)
    assert not np.array_equal(other.validation_scores_, reference.validation_scores_)
    # ... and a change of the last training samples does change training
    X_last = X.copy()
    X_last[N_TRAIN - 3 : N_TRAIN] += 5.0
    changed = Estimator(**ES).fit(X_last, y)
    assert not np.array_equal(changed.loss_history_, reference.loss_history_)


def test_the_best_weights_are_kept_and_differ_from_the_last_ones(monkeypatch):
    X, y = _toy()
    params = dict(ES, max_iterations=80, learning_rate=3e-3, temperature_mode="learnable")
    est = Estimator(**params).fit(X, y)
    scores, iterations = est.validation_scores_, est.validation_iterations_
    np.testing.assert_array_equal(iterations, np.arange(5, 81, 5))
    assert est.best_validation_score_ == scores.max()
    assert est.best_iteration_ == iterations[scores.argmax()] < est.n_iter_ == 80
    assert est.stop_reason_ == "max_iterations" and est.loss_history_.shape == (80,)
    # the kept weights (encoder and learned temperature) score what best_validation_score_ says
    assert _held_out_score(est, X, y) == pytest.approx(est.best_validation_score_, abs=1e-6)

    # the same fit without restoring: the last iterate scores the last (worse) score
    monkeypatch.setattr(EarlyStopping, "restore_best", lambda self: None)
    last = Estimator(**params).fit(X, y)
    np.testing.assert_array_equal(last.validation_scores_, scores)
    assert _held_out_score(est, X, y, weights_of=last) == pytest.approx(scores[-1], abs=1e-6)
    assert scores[-1] < est.best_validation_score_
    assert not np.allclose(last.transform(X), est.transform(X))
    assert last.temperature_ != est.temperature_


def test_n_iter_no_change_stops_early():
    X, y = _toy()
    # with a huge tol no evaluation after the first counts as an improvement: stop at the third evaluation
    est = Estimator(**{**ES, "max_iterations": 500, "n_iter_no_change": 2, "tol": 100.0}).fit(X, y)
    assert est.stop_reason_ == "early_stopping" and est.n_iter_ == 15
    np.testing.assert_array_equal(est.validation_iterations_, [5, 10, 15])
    assert est.loss_history_.shape == (15,) and not est.interrupted_
    # the default tol: training goes on while the score improves, and stops once it has not for 3 evaluations
    est = Estimator(
        **{**ES, "max_iterations": 2000, "n_iter_no_change": 3, "learning_rate": 3e-3}
    ).fit(X, y)
    assert est.stop_reason_ == "early_stopping" and est.n_iter_ < 2000
    best = int(np.argmax(est.validation_scores_))
    assert len(est.validation_scores_) - 1 - best >= 3 > 0


def test_max_seconds_stops_training():
    X, y = _toy()
    est = Estimator(**{**ES, "early_stopping": False, "max_iterations": 10**6, "max_seconds": 0.05})
    est.fit(X, y)
    assert 1 <= est.n_iter_ < 10**6 and est.stop_reason_ == "max_seconds"
    assert est.loss_history_.shape == (est.n_iter_,) and est.validation_scores_ is None
    # with early stopping, the final weights are scored when the budget ends between two evaluations
    est = Estimator(
        **{**ES, "max_iterations": 10**6, "max_seconds": 0.05, "validation_every": 10**5}
    )
    est.fit(X, y)
    assert est.stop_reason_ == "max_seconds"
    np.testing.assert_array_equal(est.validation_iterations_, [est.n_iter_])
    assert est.best_iteration_ == est.n_iter_


def test_the_same_seed_gives_the_same_early_stopped_model():
    X, y = _toy()
    params = {**ES, "max_iterations": 200, "n_iter_no_change": 2, "learning_rate": 3e-3}
    a, b = Estimator(**params).fit(X, y), Estimator(**params).fit(X, y)
    assert a.transform(X).tobytes() == b.transform(X).tobytes()
    np.testing.assert_array_equal(a.validation_scores_, b.validation_scores_)
    assert (a.n_iter_, a.best_iteration_, a.stop_reason_) == (
        b.n_iter_,
        b.best_iteration_,
        b.stop_reason_,
    )
    c = Estimator(**{**params, "random_state": 1}).fit(X, y)
    assert not np.array_equal(a.validation_scores_[:3], c.validation_scores_[:3])


def _labels(n=600):
    return np.arange(n) // 5 % 3


@pytest.mark.parametrize(
    "params,kind",
    [
        (dict(conditional="time"), None),
        (dict(conditional="delta"), "cont"),
        (dict(conditional="time_delta"), "cont"),
        (dict(conditional="time_delta", hybrid=True), "cont"),
        (dict(conditional="discrete"), "labels"),
        (dict(conditional="discrete", criterion="supcon", temperature=0.5), "labels"),
        (dict(conditional="discrete", hybrid=True), "labels"),
        (dict(conditional="mixed"), "tuple"),
        (dict(conditional="time_delta", model="offset1"), "cont"),
        (dict(conditional="time_delta", model="offset36"), "cont"),
    ],
)
@pytest.mark.parametrize("n_sessions", [1, 2])
def test_every_conditional_and_several_sessions(params, kind, n_sessions):
    X, y = _toy()
    behaviour = {"cont": y, "labels": _labels(), "tuple": (y, _labels()), None: None}[kind]
    est = Estimator(**{**ES, "max_iterations": 10, **params})
    if n_sessions == 1:
        est.fit(X, behaviour)
    else:
        X2, y2 = _toy(n=500, n_neurons=12, seed=1)
        behaviour2 = {"cont": y2, "labels": _labels(500), "tuple": (y2, _labels(500)), None: None}[
            kind
        ]
        est.fit([X, X2], None if kind is None else [behaviour, behaviour2])
    np.testing.assert_array_equal(est.validation_iterations_, [5, 10])
    assert np.isfinite(est.validation_scores_).all() and est.best_iteration_ in (5, 10)


def test_a_class_missing_from_the_validation_block_or_alone_in_it_is_fine():
    X, _ = _toy()
    # the block (samples 540..599) has no class 2, and class 1 once
    labels = np.r_[np.arange(540) % 3, np.zeros(30, int), [1], np.zeros(29, int)]
    est = Estimator(**{**ES, "conditional": "discrete", "max_iterations": 10}).fit(X, labels)
    assert np.isfinite(est.validation_scores_).all()


def test_a_validation_block_of_unique_labels_is_refused():
    X, _ = _toy()
    labels = np.r_[np.arange(540) % 60, np.arange(60)]
    with pytest.raises(ValueError, match="raise validation_fraction so that labels repeat"):
        Estimator(**{**ES, "conditional": "discrete"}).fit(X, labels)


def test_mixed_sessions_need_every_class_in_every_validation_block():
    X, y = _toy()
    labels = _labels()
    other = labels.copy()
    other[540:] = 0  # session 1's block holds only class 0
    with pytest.raises(ValueError, match=r"validation block of session 1 lacks classes \[1, 2\]"):
        Estimator(**{**ES, "conditional": "mixed"}).fit([X, X], [(y, labels), (y, other)])


def test_a_part_with_nothing_to_draw_is_named():
    X, y = _toy()
    # behaviour lost over the whole held-out block: the refusal says it is the block, not the recording
    lost = np.where(np.arange(600) >= N_TRAIN, np.nan, y)
    with pytest.raises(
        ValueError,
        match="early_stopping=True splits .* in the held-out validation block: .*all 56 lack",
    ):
        Estimator(**{**ES, "behaviour_nan": "drop"}).fit(X, lost)
    # epochs only inside the held-out block: the training part has nothing to draw
    epochs = np.arange(600) >= N_TRAIN
    with pytest.raises(ValueError, match="in the training part: .*all 536 lack"):
        Estimator(**ES).fit(X, y, epochs=epochs)


@pytest.mark.parametrize(
    "params,error,match",
    [
        (dict(max_seconds=0), ValueError, "max_seconds must be a finite number > 0"),
        (dict(max_seconds="10"), TypeError, "max_seconds must be a number"),
        (dict(early_stopping="yes"), TypeError, "early_stopping must be True or False"),
        (
            dict(validation_fraction=0.0),
            ValueError,
            r"validation_fraction must be a number in \(0, 1\)",
        ),
        (
            dict(validation_fraction=1),
            ValueError,
            r"validation_fraction must be a number in \(0, 1\)",
        ),
        (
            dict(validation_fraction="0.1"),
            TypeError,
            r"validation_fraction must be a number in \(0, 1\)",
        ),
        (dict(n_iter_no_change=0), ValueError, "n_iter_no_change must be an integer >= 1"),
        (dict(n_iter_no_change=2.5), TypeError, "n_iter_no_change must be an integer"),
        (dict(validation_every=0), ValueError, "validation_every must be an integer >= 1"),
        (dict(tol=-1e-3), ValueError, "tol must be a finite number >= 0"),
        # the checks hold also when early stopping is off (as in scikit-learn)
        (dict(early_stopping=False, validation_fraction=2.0), ValueError, "validation_fraction"),
        # 600 samples: 0.01 holds out 6, fewer than 4 windows of 5 samples (8); a batch may be larger than the
        # block (indices are drawn with replacement)
        (
            dict(validation_fraction=0.01),
            ValueError,
            r"holds out the last validation_fraction=0.01 of the 600 samples, 6 samples, but the validation "
            r"block needs at least 8 \(4 window centres of the receptive field of 5 samples, more than "
            r"time_offset=3\); raise validation_fraction to at least 0.014",
        ),
        (
            dict(validation_fraction=0.995),
            ValueError,
            "leaving 3 to train on, fewer than the 5 training needs .* at most 0.991",
        ),
        (
            dict(batch_size=4, time_offset=40, validation_fraction=0.05),
            ValueError,
            r"needs at least 45 \(41 window centres of the receptive field of 5 samples, more than time_offset=40\)",
        ),
        (
            dict(time_offset=700),
            ValueError,
            "too few to hold out a validation block of at least 705",
        ),
    ],
)
def test_bad_settings_are_refused(params, error, match):
    X, y = _toy()
    with pytest.raises(error, match=match):
        Estimator(**{**ES, **params}).fit(X, y)


def test_resume_with_early_stopping_equals_the_uninterrupted_fit(tmp_path, monkeypatch):
    from neuroembed import solver

    X, y = _toy()
    params = {**ES, "max_iterations": 60, "n_iter_no_change": 3, "learning_rate": 3e-3}
    reference = Estimator(**params).fit(X, y)
    calls = {"n": 0}
    original = solver.ContrastiveSolver.loss

    def crash(self, batch=None, **kwargs):
        calls["n"] += 1
        if calls["n"] == 40:
            raise KeyboardInterrupt
        return original(self, batch, **kwargs)

    est = Estimator(**params, checkpoint_dir=str(tmp_path), checkpoint_every=10)
    monkeypatch.setattr(solver.ContrastiveSolver, "loss", crash)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        est.fit(X, y)
    assert est.stop_reason_ == "interrupted" and est.n_iter_ < 30
    monkeypatch.setattr(solver.ContrastiveSolver, "loss", original)
    # a different time budget does not stop a resume
    est.set_params(max_seconds=1000.0).fit(X, y, resume=True)
    for name in ("n_iter_", "best_iteration_", "stop_reason_", "best_validation_score_"):
        assert getattr(est, name) == getattr(reference, name), name
    np.testing.assert_array_equal(est.validation_scores_, reference.validation_scores_)
    np.testing.assert_array_equal(est.loss_history_, reference.loss_history_)
    assert est.transform(X).tobytes() == reference.transform(X).tobytes()


def test_save_and_load_keep_the_new_settings_and_attributes(tmp_path):
    X, y = _toy()
    est = Estimator(**{**ES, "max_seconds": 100.0, "tol": 0.01}).fit(X, y)
    est.save(tmp_path / "m.pt")
    loaded = Estimator.load(tmp_path / "m.pt", device="cpu")
    assert loaded.get_params() == est.get_params()
    np.testing.assert_array_equal(loaded.validation_scores_, est.validation_scores_)
    np.testing.assert_array_equal(loaded.validation_iterations_, est.validation_iterations_)
    assert loaded.validation_iterations_.dtype == np.int64
    for name in ("best_iteration_", "best_validation_score_", "stop_reason_"):
        assert getattr(loaded, name) == getattr(est, name)
    assert loaded.transform(X).tobytes() == est.transform(X).tobytes()

    # without early stopping the attributes are None, and a file from before they existed still loads
    plain = Estimator(**{**ES, "early_stopping": False}).fit(X, y)
    plain.save(tmp_path / "p.pt")
    payload = torch.load(tmp_path / "p.pt", weights_only=True)
    config = json.loads(payload["config"])
    assert config["fitted"]["validation_scores_"] is None
    for key in ("stop_reason_", "validation_scores_", "validation_iterations_", "best_iteration_"):
        del config["fitted"][key]
    for key in ("max_seconds", "early_stopping", "validation_fraction", "n_iter_no_change", "tol"):
        del config["params"][key]
    del config["params"]["validation_every"]
    torch.save({**payload, "config": json.dumps(config)}, tmp_path / "old.pt")
    old = Estimator.load(tmp_path / "old.pt", device="cpu")
    assert old.stop_reason_ == "max_iterations" and old.validation_scores_ is None
    assert old.best_iteration_ is None and old.best_validation_score_ is None
    assert old.transform(X).tobytes() == plain.transform(X).tobytes()


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a,
        lambda a: a.astype(">f4"),  # big-endian: not viewable by torch
        lambda a: np.asfortranarray(a),
        lambda a: a[:, ::2],  # strided
    ],
    ids=["float32", "big-endian", "fortran", "strided"],
)
def test_a_nan_is_found_however_the_array_is_laid_out(make):
    from neuroembed._validation import check_neural

    a = np.ones((50, 8), dtype=np.float32)
    a[17, 4] = np.nan
    a = make(a)
    ro = a.copy()
    ro.flags.writeable = False
    for arr in (a, ro):
        with pytest.raises(ValueError, match=r"1 NaN and 0 infinite.*first at index \(17, [24]\)"):
            check_neural(arr)


def test_a_finite_sum_that_overflows_is_not_taken_for_an_infinity():
    from neuroembed._validation import check_neural

    a = np.full((10, 3), 3e38, dtype=np.float32)  # finite entries whose float32 sum overflows
    assert check_neural(a).shape == (10, 3)
    with pytest.raises(ValueError, match="too large for float32"):
        check_neural(np.full((10, 3), 1e39))  # finite float64 entries that float32 cannot hold

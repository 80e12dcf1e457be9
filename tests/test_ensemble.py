"""Ensemble: the scikit-learn meta-estimator contract, seeds, alignment and averaging, sessions, parallel fits,
persistence and bad input."""

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import ortho_group
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import neuroembed as ne
from neuroembed.ensemble import ENSEMBLE_FORMAT_VERSION, Ensemble, _member_seeds
from neuroembed.estimator import Estimator

CHECK_KW = dict(batch_size=4, max_iterations=2, num_hidden_units=8, time_offset=1, device="cpu")
TEMPORAL_CONTEXT = (
    "a conv encoder embeds each sample from its neighbours in time, so rows are not independent"
)


def _expected_failures(ensemble):
    if ensemble.estimator.model == "offset1":
        return {}
    return {
        "check_methods_subset_invariance": TEMPORAL_CONTEXT,
        "check_methods_sample_order_invariance": TEMPORAL_CONTEXT,
    }


@parametrize_with_checks(
    [
        Ensemble(Estimator(model="offset1", **CHECK_KW), n_estimators=2, random_state=0),
        Ensemble(Estimator(model="offset10", **CHECK_KW), n_estimators=2, random_state=0),
    ],
    expected_failed_checks=_expected_failures,
)
@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("ignore:time_offset=1 is not shorter than the recording:UserWarning")
# a check fits 10 samples: one window of offset10, fewer than the batch, which is clipped with this warning
@pytest.mark.filterwarnings("ignore:.*batch_size=4 is larger than the 1 window centres:UserWarning")
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks run faster on one thread, and the test machine is shared (as in tests/ssl)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _toy(n=300, n_neurons=12, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    pos = (np.sin(t / 30) + 1) / 2
    centres = rng.uniform(0, 1, n_neurons)
    rates = 0.2 + 3 * np.exp(-((pos[:, None] - centres) ** 2) / (2 * 0.1**2))
    return rng.poisson(rates).astype(np.float32), pos.astype(np.float32)


TEMPLATE = Estimator(
    model="offset5",
    batch_size=32,
    max_iterations=5,
    time_offset=2,
    num_hidden_units=8,
    output_dimension=4,
    device="cpu",
)


def _ensemble(**kwargs):
    kwargs = {"estimator": clone(TEMPLATE), "n_estimators": 3, "random_state": 0, **kwargs}
    return Ensemble(**kwargs)


class Rotated(TransformerMixin, BaseEstimator):
    """A stand-in member whose embeddings are exact rotations of one fixed embedding, one rotation per seed."""

    def __init__(
        self, distance="cosine", random_state=None, fail_seed=None, extra=None, interrupt=False
    ):
        self.distance = distance
        self.random_state = random_state
        self.fail_seed = fail_seed
        self.extra = extra
        self.interrupt = interrupt

    def fit(self, X, y=None):
        if self.fail_seed is not None and self.random_state == self.fail_seed:
            raise ValueError("the loss diverged")
        self.interrupted_ = self.interrupt  # as Estimator.fit reports Ctrl-C
        self.rotation_ = ortho_group.rvs(3, random_state=self.random_state)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return (base_embedding(X, self.distance) @ self.rotation_).astype(np.float32)


def base_embedding(X, distance):
    Z = np.asarray(X, dtype=np.float64)[:, :3] + 0.5
    if distance == "cosine":
        return Z / np.linalg.norm(Z, axis=1, keepdims=True)
    return 2 * Z + 1


# ------------------------------------------------------------------------------------------------------------
# the meta-estimator contract
# ------------------------------------------------------------------------------------------------------------
def test_exported():
    assert ne.Ensemble is Ensemble and "Ensemble" in ne.__all__


def test_get_set_params_and_clone():
    ens = _ensemble()
    params = ens.get_params(deep=True)
    assert params["estimator__max_iterations"] == 5 and params["n_estimators"] == 3
    assert set(TEMPLATE.get_params()) <= {k.removeprefix("estimator__") for k in params}
    ens.set_params(estimator__max_iterations=7, n_estimators=2)
    assert ens.estimator.max_iterations == 7 and ens.n_estimators == 2
    copy = clone(ens)
    assert copy.estimator is not ens.estimator
    assert copy.get_params()["estimator__max_iterations"] == 7
    # the default template is a plain Estimator()
    assert Ensemble().get_params()["estimator"] is None


def test_fit_leaves_the_template_alone_and_passes_every_parameter_through():
    X, _ = _toy()
    template = Rotated(extra={"max_seconds": 3.0}, random_state=123)
    ens = Ensemble(template, n_estimators=3, random_state=0).fit(X)
    assert template.random_state == 123 and not hasattr(template, "rotation_")
    seeds = [m.random_state for m in ens.estimators_]
    assert seeds == _member_seeds(0, 3) and len(set(seeds)) == 3
    for m in ens.estimators_:
        assert m.extra == {
            "max_seconds": 3.0
        }  # parameters the Ensemble does not know are cloned as they are


def test_fit_transform_attributes_and_unit_rows():
    X, y = _toy()
    ens = _ensemble()
    Z = ens.fit_transform(X, y)
    assert Z.shape == (300, 4) and Z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)
    assert Z.tobytes() == ens.transform(X).tobytes()
    assert len(ens.estimators_) == 3 and len(ens.alignments_) == 3
    assert ens.n_features_in_ == 12 and ens.n_components_ == 4 and ens.normalize_
    assert ens.n_sessions_ == 1 and ens.session_n_features_ == [12] and ens.fit_seconds_ > 0
    np.testing.assert_array_equal(
        ens.alignments_[0].weights, np.eye(4)
    )  # the reference member's frame
    for m in ens.alignments_[1:]:  # cosine: rotations about the origin
        np.testing.assert_allclose(m.weights @ m.weights.T, np.eye(4), atol=1e-10)
        np.testing.assert_array_equal(m.bias, 0.0)
    scores = [m.score(X, y) for m in ens.estimators_]
    assert ens.score(X, y) == pytest.approx(np.mean(scores))


def test_euclidean_members_are_averaged_without_normalising():
    X, y = _toy()
    ens = _ensemble(estimator=clone(TEMPLATE).set_params(distance="euclidean")).fit(X, y)
    assert not ens.normalize_
    members = [
        m.transform(X).astype(np.float64) @ a.weights + a.bias
        for m, a in zip(ens.estimators_, ens.alignments_)
    ]
    np.testing.assert_allclose(ens.transform(X), np.mean(members, axis=0), rtol=1e-5, atol=1e-6)


def test_same_seed_same_ensemble_and_stable_prefix():
    X, y = _toy()
    a = _ensemble(n_estimators=2).fit(X, y)
    b = _ensemble(n_estimators=2).fit(X, y)
    assert a.transform(X).tobytes() == b.transform(X).tobytes()
    c = _ensemble(n_estimators=2, random_state=1).fit(X, y)
    assert not np.array_equal(a.transform(X), c.transform(X))
    assert _member_seeds(5, 2) == _member_seeds(5, 4)[:2]  # more members keep the first ones
    assert _member_seeds(np.random.default_rng(3), 2) == _member_seeds(np.random.default_rng(3), 2)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize(
    "alignment,reference", [("procrustes", 0), ("procrustes", "mean"), ("linear", 0)]
)
def test_average_of_exact_rotations_is_that_embedding(distance, alignment, reference):
    X, _ = _toy()
    ens = Ensemble(
        Rotated(distance=distance),
        n_estimators=5,
        alignment=alignment,
        reference=reference,
        random_state=0,
    ).fit(X)
    expected = base_embedding(X, distance) @ ens.estimators_[0].rotation_
    np.testing.assert_allclose(ens.transform(X), expected, atol=1e-5)
    np.testing.assert_allclose(
        ens.transform(X[:50]), expected[:50], atol=1e-5
    )  # new data: the same maps


def test_pipeline_and_grid_search():
    X, y = _toy()
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("ensemble", _ensemble(n_estimators=2)),
            ("knn", KNeighborsRegressor()),
        ]
    )
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (300,)
    assert np.isfinite(pipe.score(X, y))
    search = GridSearchCV(
        _ensemble(n_estimators=2), {"estimator__max_iterations": [2, 4]}, cv=KFold(2)
    ).fit(X, y)
    assert search.best_params_["estimator__max_iterations"] in (2, 4)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert (
        search.best_estimator_.estimators_[0].max_iterations
        == search.best_params_["estimator__max_iterations"]
    )


# ------------------------------------------------------------------------------------------------------------
# sessions, parallel fits, persistence
# ------------------------------------------------------------------------------------------------------------
def test_several_sessions_share_one_frame():
    X1, y1 = _toy(n=200, n_neurons=10, seed=1)
    X2, y2 = _toy(n=150, n_neurons=14, seed=2)
    ens = _ensemble(n_estimators=2)
    Z1, Z2 = ens.fit_transform([X1, X2], [y1, y2])
    assert Z1.shape == (200, 4) and Z2.shape == (150, 4)
    assert ens.n_sessions_ == 2 and ens.session_n_features_ == [10, 14]
    np.testing.assert_allclose(ens.transform(X1, session=0), Z1, atol=1e-6)
    np.testing.assert_allclose(ens.transform(X2, session=1), Z2, atol=1e-6)
    # one map per member, fitted on the sessions together: member 1's session-1 embedding lands on member 0's
    member_view = ens.estimators_[1].transform(X2, session=1) @ ens.alignments_[1].weights
    assert ens.alignments_[1].n_samples == 350 and member_view.shape == (150, 4)
    assert np.isfinite(ens.score(X2, y2, session=1))
    with pytest.raises(ValueError, match="pass session=0..1"):
        ens.transform(X1)


@pytest.mark.timeout(120)
def test_parallel_fits_are_identical_to_sequential():
    X, y = _toy()
    torch.set_num_threads(
        2
    )  # sequential members with two torch threads, parallel ones with one each
    one = _ensemble(n_estimators=2, n_jobs=1).fit(X, y)
    two = _ensemble(n_estimators=2, n_jobs=2).fit(X, y)
    assert torch.get_num_threads() == 2  # nothing global changed here
    for a, b in zip(one.estimators_, two.estimators_):
        assert a.random_state == b.random_state
        assert a.transform(X).tobytes() == b.transform(X).tobytes()
    assert one.transform(X).tobytes() == two.transform(X).tobytes()
    # a member that fails in a worker is named
    X_bad = X.copy()
    X_bad[3, 2] = np.nan
    with pytest.raises(
        ValueError, match=r"ensemble member [01] of 2 \(random_state=\d+\) failed: neural contains"
    ):
        _ensemble(n_estimators=2, n_jobs=2).fit(X_bad, y)


def test_save_load_round_trip(tmp_path):
    X, y = _toy()
    ens = _ensemble(n_estimators=2, reference="mean").fit(X, y)
    ens.save(tmp_path / "ensemble.pt")
    loaded = Ensemble.load(tmp_path / "ensemble.pt", device="cpu")
    assert loaded.transform(X).tobytes() == ens.transform(X).tobytes()
    assert loaded.get_params()["estimator__max_iterations"] == 5
    assert loaded.reference == "mean" and loaded.n_estimators == 2 and loaded.random_state == 0
    assert [m.random_state for m in loaded.estimators_] == [m.random_state for m in ens.estimators_]
    assert loaded.n_features_in_ == 12 and loaded.normalize_ and loaded.n_components_ == 4
    for a, b in zip(ens.alignments_, loaded.alignments_):
        np.testing.assert_array_equal(a.weights, b.weights)
        assert (a.method, a.n_samples) == (b.method, b.n_samples)
    assert loaded.score(X, y) == ens.score(X, y)


def test_load_refuses_other_files(tmp_path):
    X, y = _toy()
    single = clone(TEMPLATE).set_params(random_state=0).fit(X, y)
    single.save(tmp_path / "model.pt")
    with pytest.raises(ValueError, match="holds a single model, not an ensemble; read it with"):
        Ensemble.load(tmp_path / "model.pt")
    torch.save({"config": "{}", "members": [], "x": ortho_group}, tmp_path / "code.pt")
    with pytest.raises(ValueError, match="refused to load"):
        Ensemble.load(tmp_path / "code.pt")
    with pytest.raises(FileNotFoundError):
        Ensemble.load(tmp_path / "missing.pt")
    payload = {"config": '{"format": "neuroembed-ensemble", "format_version": 99}'}
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(
        ValueError, match=f"format version 99 .* reads version {ENSEMBLE_FORMAT_VERSION}"
    ):
        Ensemble.load(tmp_path / "future.pt")
    with pytest.raises(
        TypeError, match="save writes neuroembed Estimator members; member 0 is a Rotated"
    ):
        Ensemble(Rotated(), n_estimators=2, random_state=0).fit(X).save(tmp_path / "fake.pt")


def test_estimator_load_points_an_ensemble_file_to_ensemble_load(tmp_path):
    X, y = _toy()
    _ensemble(n_estimators=1).fit(X, y).save(tmp_path / "ensemble.pt")
    with pytest.raises(
        ValueError, match="holds an ensemble .* read it with neuroembed.Ensemble.load"
    ):
        Estimator.load(tmp_path / "ensemble.pt")


def test_members_checkpoint_to_a_folder_each(tmp_path):
    X, y = _toy()
    template = clone(TEMPLATE).set_params(checkpoint_dir=tmp_path / "ckpt", checkpoint_every=2)
    ens = Ensemble(template, n_estimators=2, random_state=0).fit(X, y)
    dirs = [Path(m.checkpoint_dir) for m in ens.estimators_]
    assert dirs == [tmp_path / "ckpt" / "member0", tmp_path / "ckpt" / "member1"]
    assert all((d / "checkpoint.pt").is_file() for d in dirs)
    assert template.checkpoint_dir == tmp_path / "ckpt"  # the template is left as given


def test_load_names_a_bad_device_not_a_damaged_file(tmp_path):
    X, y = _toy()
    _ensemble(n_estimators=1).fit(X, y).save(tmp_path / "ensemble.pt")
    with pytest.raises(ValueError, match="device='tpu' is not a valid device") as info:
        Ensemble.load(tmp_path / "ensemble.pt", device="tpu")
    assert "damaged" not in str(info.value)


def test_fit_transform_of_sessions_with_pandas_output_is_refused_before_fitting():
    X, y = _toy()
    ens = _ensemble(n_estimators=2).set_output(transform="pandas")
    with pytest.raises(ValueError, match=r"set_output\(transform='pandas'\) wraps one embedding"):
        ens.fit_transform([X, X[:200]], [y, y[:200]])
    assert not hasattr(ens, "estimators_")


def test_a_session_given_as_nested_lists_is_a_session():
    X, y = _toy()
    Z = _ensemble(n_estimators=2).fit_transform([X, X[:200].tolist()], [y, y[:200]])
    assert [z.shape for z in Z] == [(300, 4), (200, 4)]


def test_verbose_shows_progress(capsys):
    X, _ = _toy()
    Ensemble(Rotated(), n_estimators=2, random_state=0, verbose=True).fit(X)
    assert "neuroembed ensemble" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------------------
X_TOY, Y_TOY = _toy(n=60)


@pytest.mark.parametrize(
    "kwargs,error,pattern",
    [
        (dict(n_estimators=0), ValueError, "n_estimators must be an integer >= 1; got 0"),
        (dict(n_estimators=2.0), TypeError, "n_estimators must be an integer"),
        (dict(alignment="affine"), ValueError, "alignment='affine' is not supported"),
        (dict(alignment=None), TypeError, "alignment must be one of"),
        (dict(reference=3), ValueError, "reference=3 is out of range for n_estimators=3"),
        (dict(reference="median"), ValueError, "use a member index 0..2 or 'mean'"),
        (dict(reference=1.5), TypeError, "reference must be a member index"),
        (dict(alignment="linear", reference="mean"), ValueError, "needs alignment='procrustes'"),
        (dict(n_jobs=0), ValueError, "n_jobs=0 has no meaning"),
        (dict(n_jobs="2"), TypeError, "n_jobs must be None or an int"),
        (dict(verbose="yes"), TypeError, "verbose must be True or False"),
        (
            dict(random_state="seed"),
            TypeError,
            "random_state must be None, an int or a numpy Generator",
        ),
        (dict(random_state=-1), ValueError, "random_state must be a non-negative int"),
        (dict(estimator=Estimator), TypeError, "got the class Estimator"),
        (
            dict(estimator=StandardScaler()),
            TypeError,
            r"StandardScaler \(no random_state parameter\)",
        ),
        (dict(estimator=object()), TypeError, r"object \(it has no fit, transform, get_params\)"),
    ],
)
def test_bad_settings(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        _ensemble(**kwargs).fit(X_TOY, Y_TOY)


def test_a_failing_member_is_named():
    X, _ = _toy()
    seed = _member_seeds(0, 3)[1]
    with pytest.raises(
        ValueError,
        match=rf"ensemble member 1 of 3 \(random_state={seed}\) failed: the loss diverged",
    ):
        Ensemble(Rotated(fail_seed=seed), n_estimators=3, random_state=0).fit(X)


def test_an_interrupted_member_stops_the_ensemble():
    X, _ = _toy()
    with pytest.raises(KeyboardInterrupt, match="interrupted while training member 0 of 3"):
        Ensemble(Rotated(interrupt=True), n_estimators=3, random_state=0).fit(X)


def test_open_h5py_data_cannot_go_to_worker_processes(tmp_path):
    import h5py

    X, y = _toy()
    with h5py.File(tmp_path / "rec.h5", "w") as f:
        f["x"] = X
    with h5py.File(tmp_path / "rec.h5", "r") as f:
        with pytest.raises(
            ValueError, match="cannot receive an open h5py.Dataset; use n_jobs=None"
        ):
            _ensemble(n_estimators=2, n_jobs=2).fit(f["x"], y)


def test_bad_data():
    with pytest.raises(NotFittedError):
        _ensemble().transform(X_TOY)
    ens = _ensemble(n_estimators=2).fit(X_TOY, Y_TOY)
    with pytest.raises(ValueError, match="X has 5 features, but Estimator is expecting 12"):
        ens.transform(X_TOY[:, :5])
    with pytest.raises(
        ValueError, match="ensemble member 0 of 2 .* failed: behaviour has 59 samples"
    ):
        _ensemble(n_estimators=2).fit(X_TOY, Y_TOY[:-1])

"""The scikit-learn face: contract, determinism, persistence, decoding quality and bad input."""

import os
import pickle
import warnings

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from neuroembed.estimator import FORMAT_VERSION, Estimator

CHECK_KW = dict(batch_size=4, max_iterations=3, time_offset=1, random_state=0, device="cpu")

# Encoders with a receptive field > 1 embed each sample from a window of its neighbours in time, so the embedding
# of a row depends on the rows around it: these two checks assume rows are independent and cannot pass.
TEMPORAL_CONTEXT = (
    "a conv encoder embeds each sample from its neighbours in time, so rows are not independent"
)


def _expected_failures(estimator):
    if estimator.model == "offset1":
        return {}
    return {
        "check_methods_subset_invariance": TEMPORAL_CONTEXT,
        "check_methods_sample_order_invariance": TEMPORAL_CONTEXT,
    }


@parametrize_with_checks(
    [Estimator(model="offset1", **CHECK_KW), Estimator(model="offset10", **CHECK_KW)],
    expected_failed_checks=_expected_failures,
)
@pytest.mark.timeout(120)
# some checks fit 10 samples: a single window of offset10, which fit accepts with this warning
@pytest.mark.filterwarnings("ignore:time_offset=1 is not shorter than the recording:UserWarning")
# a check fits 10 samples: one window of offset10, fewer than the batch, which is clipped with this warning
@pytest.mark.filterwarnings("ignore:.*batch_size=4 is larger than the 1 window centres:UserWarning")
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _toy(n=600, n_neurons=20, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    pos = (np.sin(t / 40) + 1) / 2
    centres = rng.uniform(0, 1, n_neurons)
    rates = 0.2 + 3 * np.exp(-((pos[:, None] - centres) ** 2) / (2 * 0.08**2))
    return rng.poisson(rates).astype(np.float32), pos.astype(np.float32)


FAST = dict(model="offset5", batch_size=64, max_iterations=30, time_offset=3, device="cpu")


@pytest.mark.parametrize("conditional", ["time", "time_delta", "delta"])
def test_same_seed_same_embedding_bitwise(conditional, device):
    X, y = _toy()
    kw = {**FAST, "device": device}
    a = Estimator(conditional=conditional, random_state=3, **kw).fit(X, y).transform(X)
    b = Estimator(conditional=conditional, random_state=3, **kw).fit(X, y).transform(X)
    c = Estimator(conditional=conditional, random_state=4, **kw).fit(X, y).transform(X)
    if device == "cpu":
        assert a.tobytes() == b.tobytes()
    else:  # CUDA's atomic adds (index_add_, the gathers' backward) sum in any order: the same up to rounding
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert not np.array_equal(a, c)


def test_fit_transform_shapes_and_attributes(device):
    X, y = _toy()
    est = Estimator(random_state=0, output_dimension=3, **{**FAST, "device": device})
    Z = est.fit_transform(X, y)
    assert Z.shape == (600, 3) and Z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)
    assert est.n_iter_ == 30 and est.loss_history_.shape == (30,)
    assert est.n_features_in_ == 20 and est.receptive_field_ == 5 and est.num_negatives_ == 64
    assert np.isfinite(est.score(X, y))


def test_training_lowers_the_loss(device):
    X, y = _toy()
    est = Estimator(random_state=0, **{**FAST, "max_iterations": 200, "device": device})
    est.fit(X, y)
    assert est.loss_history_[-20:].mean() < est.loss_history_[:20].mean() - 0.1


def test_linear_track_embedding_decodes_3x_better_than_raw_counts():
    from neuroembed.datasets import linear_track
    from neuroembed.metrics import decode

    rec = linear_track(n_samples=10000, random_state=0)
    X, y = rec.neural, rec.behaviour
    n_train = int(0.8 * len(X))
    est = Estimator(max_iterations=500, batch_size=256, random_state=0, device="cpu")
    est.fit(X[:n_train], y[:n_train])
    Z = est.transform(X)
    err_embedding = decode(Z, y[:, 0], train_fraction=0.8, method="knn")["knn_median_error"]
    err_raw = decode(X, y[:, 0], train_fraction=0.8, method="knn")["knn_median_error"]
    assert err_raw >= 3 * err_embedding, (err_raw, err_embedding)


@pytest.mark.parametrize(
    "kwargs,y_kind",
    [
        (dict(conditional="discrete"), "labels"),
        (dict(conditional="discrete", criterion="supcon", temperature=0.5), "labels"),
        (dict(conditional="mixed"), "tuple"),
        (dict(conditional="time_delta", hybrid=True), "cont"),
        (
            dict(
                conditional="time",
                temperature_mode="learnable",
                temperature=1.0,
                min_temperature=0.5,
            ),
            None,
        ),
        (dict(conditional="time_delta", distance="euclidean"), "cont"),
        (dict(conditional="time", num_negatives=17), None),
        (dict(conditional="time_delta", model="offset36"), "cont"),
        (dict(conditional="time_delta", model="offset1"), "cont"),
    ],
)
def test_variants_train(kwargs, y_kind, device):
    X, pos = _toy()
    labels = (pos > 0.5).astype(int)
    y = {"labels": labels, "tuple": (pos, labels), "cont": pos, None: None}[y_kind]
    params = {**FAST, **kwargs, "device": device}
    est = Estimator(random_state=0, **params).fit(X, y)
    Z = est.transform(X)
    assert Z.shape == (600, 8) and np.isfinite(Z).all()
    assert np.isfinite(est.loss_history_).all()
    if kwargs.get("temperature_mode") == "learnable":
        assert est.temperature_ >= 0.5 - 1e-6


def test_learnable_temperature_moves_but_respects_minimum():
    X, _ = _toy()
    est = Estimator(
        conditional="time",
        temperature_mode="learnable",
        temperature=1.0,
        min_temperature=0.9,
        learning_rate=0.05,
        random_state=0,
        **{k: v for k, v in FAST.items() if k != "max_iterations"},
        max_iterations=60,
    ).fit(X)
    assert 0.9 - 1e-6 <= est.temperature_ <= 1.0 + 1e-6
    assert est.temperature_ != 1.0


def test_dataframe_feature_names():
    X, y = _toy()
    df = pd.DataFrame(X, columns=[f"n{i}" for i in range(X.shape[1])])
    est = Estimator(random_state=0, **FAST).fit(df, y)
    assert list(est.feature_names_in_) == list(df.columns)
    with pytest.raises(ValueError, match="columns differ"):
        est.transform(df.rename(columns={"n0": "other"}))


def test_multisession_shared_space(device):
    X1, y1 = _toy(600, 20, seed=0)
    X2, y2 = _toy(500, 12, seed=1)
    est = Estimator(random_state=0, **{**FAST, "device": device}).fit([X1, X2], [y1, y2])
    assert est.n_sessions_ == 2 and est.session_n_features_ == [20, 12]
    # as many negatives as references, as in CEBRA
    assert est.num_negatives_ == 2 * FAST["batch_size"]
    assert est.transform(X2, session=1).shape == (500, 8)
    with pytest.raises(ValueError, match="pass session"):
        est.transform(X1)
    with pytest.raises(ValueError, match="out of range"):
        est.transform(X1, session=2)
    with pytest.raises(ValueError, match="expecting 12 features"):
        est.transform(X1, session=1)
    assert np.isfinite(est.score(X2, y2, session=1))


def test_fit_transform_of_sessions_gives_one_embedding_per_session():
    X1, y1 = _toy(300, 20, seed=0)
    X2, y2 = _toy(200, 12, seed=1)
    est = Estimator(random_state=0, **{**FAST, "max_iterations": 3})
    Z1, Z2 = est.fit_transform([X1, X2], [y1, y2])
    np.testing.assert_array_equal(Z1, est.transform(X1, session=0))
    np.testing.assert_array_equal(Z2, est.transform(X2, session=1))
    # a DataFrame cannot hold a list of embeddings of different lengths: refused before any training
    est = clone(est).set_output(transform="pandas")
    with pytest.raises(ValueError, match=r"set_output\(transform='pandas'\) wraps one embedding"):
        est.fit_transform([X1, X2], [y1, y2])
    assert not hasattr(est, "encoder_")
    assert isinstance(est.fit_transform(X1, y1), pd.DataFrame)


def test_transform_streams_hdf5(tmp_path):
    X, y = _toy()
    est = Estimator(random_state=0, **FAST).fit(X, y)
    with h5py.File(tmp_path / "rec.h5", "w") as f:
        f["neural"] = X
    with h5py.File(tmp_path / "rec.h5", "r") as f:
        Z = est.transform(f["neural"], chunk_size=97)
    np.testing.assert_allclose(Z, est.transform(X), atol=1e-6)


def test_fit_maps_a_contiguous_hdf5_dataset_and_matches_the_array(tmp_path):
    X, y = _toy()
    X = X.astype(np.float32)
    with h5py.File(tmp_path / "rec.h5", "w") as f:
        f.create_dataset("neural", data=X)  # contiguous, uncompressed float32
    expected = Estimator(random_state=0, **FAST).fit(X, y)
    with h5py.File(tmp_path / "rec.h5", "r") as f:
        est = Estimator(random_state=0, **FAST).fit(f["neural"], y)
        Z = est.transform(f["neural"])
    np.testing.assert_array_equal(est.loss_history_, expected.loss_history_)
    np.testing.assert_array_equal(Z, expected.transform(X))


@pytest.mark.parametrize(
    "kwargs, data, match",
    [
        ({"chunks": (64, 2)}, "finite", "stored contiguously"),
        ({"compression": "gzip"}, "finite", "stored contiguously"),
        ({"dtype": "float64"}, "finite", "float32"),
        ({}, "nan", "NaN or inf \\(first at row 300\\)"),
    ],
)
def test_fit_refuses_hdf5_it_cannot_map(tmp_path, kwargs, data, match):
    X, y = _toy()
    X = X.astype(np.float32)
    if data == "nan":
        X[300, 1] = np.nan
    with h5py.File(tmp_path / "rec.h5", "w") as f:
        f.create_dataset("neural", data=X, **kwargs)
    with h5py.File(tmp_path / "rec.h5", "r") as f, pytest.raises(ValueError, match=match):
        Estimator(random_state=0, **FAST).fit(f["neural"], y)


def test_transform_hdf5_with_nan_is_refused(tmp_path):
    X, y = _toy()
    est = Estimator(random_state=0, **FAST).fit(X, y)
    X = X.copy()
    X[300, 2] = np.nan
    with h5py.File(tmp_path / "rec.h5", "w") as f:
        f["neural"] = X
    with h5py.File(tmp_path / "rec.h5", "r") as f, pytest.raises(ValueError, match="row 300"):
        est.transform(f["neural"], chunk_size=100)


# ---------------------------------------------------------------------------------------------------------------
# persistence
# ---------------------------------------------------------------------------------------------------------------
def test_save_load_roundtrip_bitwise(tmp_path):
    X, y = _toy()
    est = Estimator(random_state=0, temperature_mode="learnable", **FAST).fit(X, y)
    path = tmp_path / "model.pt"
    est.save(path)
    loaded = Estimator.load(path, device="cpu")
    assert loaded.transform(X).tobytes() == est.transform(X).tobytes()
    assert loaded.get_params() == {**est.get_params(), "device": "cpu"}
    np.testing.assert_array_equal(loaded.loss_history_, est.loss_history_)
    assert loaded.temperature_ == est.temperature_
    assert clone(loaded).get_params() == loaded.get_params()


def test_a_torch_device_is_saved_as_its_name(tmp_path):
    X, y = _toy()
    est = Estimator(random_state=0, **{**FAST, "device": torch.device("cpu")}).fit(X, y)
    est.save(tmp_path / "model.pt")
    loaded = Estimator.load(tmp_path / "model.pt", device="cpu")
    assert loaded.transform(X).tobytes() == est.transform(X).tobytes()


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/neuroembed_pwned",))


def test_malicious_model_file_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"config": "{}", "encoder": _Exploit()}, f)
    marker = "/tmp/neuroembed_pwned"
    if os.path.exists(marker):
        os.remove(marker)
    with pytest.raises(ValueError, match="refused to load"):
        Estimator.load(path)
    assert not os.path.exists(marker)
    # the same through torch.save
    torch.save({"config": "{}", "encoder": _Exploit()}, path)
    with pytest.raises(ValueError, match="refused to load"):
        Estimator.load(path)
    assert not os.path.exists(marker)


def test_other_format_versions_and_garbage(tmp_path):
    X, y = _toy()
    est = Estimator(random_state=0, **FAST).fit(X, y)
    est.save(tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    import json

    for version, hint in [(FORMAT_VERSION + 1, "upgrade neuroembed"), (0, "re-fit")]:
        config = json.loads(payload["config"])
        config["format_version"] = version
        torch.save({**payload, "config": json.dumps(config)}, tmp_path / "v.pt")
        with pytest.raises(ValueError, match=hint):
            Estimator.load(tmp_path / "v.pt")
    # weights that do not fit the settings (a damaged file, or another version's layer widths)
    weights = dict(payload["encoder"])
    name = next(k for k in weights if k.endswith("out.weight"))
    weights[name] = torch.zeros(3, 3, 3)
    torch.save({**payload, "encoder": weights}, tmp_path / "w.pt")
    with pytest.raises(
        ValueError, match=r"weights in the file do not fit .*size mismatch for trunk\.out\.weight"
    ):
        Estimator.load(tmp_path / "w.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="refused to load .* not a model file"):
        Estimator.load(tmp_path / "garbage.pt")
    with pytest.raises(FileNotFoundError):
        Estimator.load(tmp_path / "missing.pt")


# ---------------------------------------------------------------------------------------------------------------
# interruption and resume
# ---------------------------------------------------------------------------------------------------------------
def test_keyboard_interrupt_leaves_usable_estimator(monkeypatch):
    from neuroembed import solver

    X, y = _toy()
    calls = {"n": 0}
    original = solver.ContrastiveSolver.loss

    def interrupted(self, batch=None):
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(solver.ContrastiveSolver, "loss", interrupted)
    est = Estimator(random_state=0, **FAST)
    with pytest.warns(RuntimeWarning, match="interrupted after 11"):
        est.fit(X, y)
    assert est.n_iter_ == 11 and est.interrupted_
    assert est.transform(X).shape == (600, 8)


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    from neuroembed import solver

    X, y = _toy()
    params = dict(random_state=5, **{**FAST, "max_iterations": 40})
    reference = Estimator(**params).fit(X, y)

    calls = {"n": 0}
    original = solver.ContrastiveSolver.loss

    def crash(self, batch=None):
        calls["n"] += 1
        if calls["n"] == 27:
            raise KeyboardInterrupt
        return original(self, batch)

    ckpt = tmp_path / "ckpt"
    est = Estimator(checkpoint_dir=str(ckpt), checkpoint_every=10, **params)
    monkeypatch.setattr(solver.ContrastiveSolver, "loss", crash)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        est.fit(X, y)
    monkeypatch.setattr(solver.ContrastiveSolver, "loss", original)
    assert (ckpt / "checkpoint.pt").exists()
    est.fit(X, y, resume=True)
    assert est.n_iter_ == 40
    np.testing.assert_array_equal(est.loss_history_, reference.loss_history_)
    assert est.transform(X).tobytes() == reference.transform(X).tobytes()


def test_resume_refuses_other_settings_or_data(tmp_path):
    X, y = _toy()
    ckpt = str(tmp_path)
    Estimator(checkpoint_dir=ckpt, checkpoint_every=10, random_state=0, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="other settings"):
        Estimator(
            checkpoint_dir=ckpt, checkpoint_every=10, random_state=0, **{**FAST, "batch_size": 32}
        ).fit(X, y, resume=True)
    with pytest.raises(ValueError, match="other data"):
        Estimator(checkpoint_dir=ckpt, checkpoint_every=10, random_state=0, **FAST).fit(
            X * 2, y, resume=True
        )
    with pytest.raises(ValueError, match="checkpoint_dir"):
        Estimator(**FAST).fit(X, y, resume=True)


def test_nan_loss_names_the_iteration(monkeypatch):
    from neuroembed import solver
    from neuroembed.solver import TrainingDivergedError

    X, y = _toy()
    calls = {"n": 0}
    original = solver.ContrastiveSolver.loss

    def poisoned(self, batch=None):
        calls["n"] += 1
        loss = original(self, batch)
        return loss * float("nan") if calls["n"] == 8 else loss

    monkeypatch.setattr(solver.ContrastiveSolver, "loss", poisoned)
    with pytest.raises(TrainingDivergedError, match="iteration 7"):
        Estimator(random_state=0, **FAST).fit(X, y)


def test_no_warnings_in_plain_use():
    X, y = _toy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Estimator(random_state=0, **FAST).fit(X, y).transform(X)


def _synthetic(name):
    from neuroembed import datasets

    if name == "linear_track":
        rec = datasets.linear_track(n_samples=3000, n_neurons=40, random_state=0)
        return rec.neural, rec.behaviour
    if name == "latent_manifold":
        rec = datasets.latent_manifold(n_samples=3000, n_neurons=40, random_state=0)
        return rec.neural, rec.behaviour
    rec = datasets.reaching(n_trials=40, random_state=0)
    return rec.neural, rec.behaviour


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
@pytest.mark.parametrize("dataset", ["linear_track", "latent_manifold", "reaching"])
def test_reduced_precision_training_stays_finite(precision, dataset, device):
    X, y = _synthetic(dataset)
    est = Estimator(
        model="offset10",
        batch_size=128,
        max_iterations=60,
        learning_rate=1e-3,
        precision=precision,
        device=device,
        random_state=0,
    ).fit(X, y)
    assert np.isfinite(est.loss_history_).all()
    assert np.isfinite(est.transform(X)).all()


def test_a_recording_of_one_window_fits_with_a_warning():
    X = np.random.default_rng(0).poisson(2.0, (10, 3)).astype(np.float32)
    est = Estimator(
        model="offset10", conditional="time", batch_size=4, max_iterations=2, device="cpu"
    )
    with (
        pytest.warns(
            UserWarning, match="a single window fits, so every time positive is its own reference"
        ),
        pytest.warns(UserWarning, match="batch_size=4 is larger than the 1 window centres"),
    ):
        est.fit(X)
    assert est.transform(X).shape == (10, 8) and np.isfinite(est.loss_history_).all()


def test_a_time_offset_past_the_recording_is_clipped_with_a_warning():
    X, y = _toy(n=40)
    est = Estimator(**{**FAST, "time_offset": 50, "batch_size": 16, "max_iterations": 2})
    with pytest.warns(
        UserWarning, match=r"time_offset=50 is not shorter .* drawn 35 samples later"
    ):
        est.fit(X, y)
    assert np.isfinite(est.transform(X)).all()


def test_a_label_alone_among_the_window_centres_is_warned_about():
    X, _ = _toy(n=100)
    # offset5's window centres are samples 2..97: class 2 (samples 97..99) has one of them
    labels = np.r_[np.full(50, 0), np.full(47, 1), [2, 2, 2]]
    est = Estimator(**{**FAST, "conditional": "discrete", "max_iterations": 2})
    with pytest.warns(
        UserWarning, match=r"classes with a single sample among the window centres \(\[2\]"
    ):
        est.fit(X, labels)


# --- class names as labels -----------------------------------------------------------------------------------------
NAMES = np.array(["left", "right", "rest"])


def _named_labels(pos):
    """Class names by position, and the codes of their sorted names (left 0, rest 1, right 2)."""
    which = np.digitize(pos, [0.33, 0.66])
    codes = np.searchsorted(np.sort(NAMES), NAMES)[which]
    return NAMES[which], codes


@pytest.mark.parametrize(
    "form", ["str array", "object array", "list", "series", "categorical", "mixed tuple"]
)
def test_class_names_are_labels(form):
    """Names are classes as their codes are (sorted order): the same fit, bit for bit."""
    X, pos = _toy()
    names, codes = _named_labels(pos)
    y, y_codes = {
        "str array": (names, codes),
        "object array": (names.astype(object), codes),
        "list": (names.tolist(), codes),
        "series": (pd.Series(names), codes),
        "categorical": (pd.Categorical(names, categories=["rest", "left", "right"]), codes),
        "mixed tuple": ((pos, names), (pos, codes)),
    }[form]
    conditional = "mixed" if form == "mixed tuple" else "discrete"
    params = {**FAST, "max_iterations": 5, "random_state": 0, "conditional": conditional}
    by_name = Estimator(**params).fit(X, y)
    by_code = Estimator(**params).fit(X, y_codes)
    np.testing.assert_array_equal(by_name.loss_history_, by_code.loss_history_)
    assert by_name.score(X, y) == by_code.score(X, y_codes)
    if form != "mixed tuple":
        assert Estimator(**{**params, "conditional": "auto"}).fit(X, y).conditional_ == "discrete"


def test_a_class_name_is_one_class_in_every_session():
    (X1, p1), (X2, p2) = _toy(), _toy(n=500, seed=1)
    n1, _ = _named_labels(p1)
    # no "left" here: the codes still follow all the sessions' names
    n2 = np.where(p2 > 0.5, "right", "rest")
    codes = [np.searchsorted(["left", "rest", "right"], n) for n in (n1, n2)]
    params = {**FAST, "max_iterations": 5, "random_state": 0, "conditional": "discrete"}
    by_name = Estimator(**params).fit([X1, X2], [n1, n2])
    by_code = Estimator(**params).fit([X1, X2], codes)
    np.testing.assert_array_equal(by_name.loss_history_, by_code.loss_history_)


def test_class_names_are_checked_by_name():
    X, pos = _toy()
    names, codes = _named_labels(pos)
    est = Estimator(**FAST, conditional="discrete")
    with pytest.raises(
        TypeError, match="labels of session 0 are class names but those of session 1"
    ):
        est.fit([X, X], [names, codes])
    lone = names.copy()
    lone[10] = "groom"
    with pytest.raises(ValueError, match=r"classes with a single sample \(\['groom'\]\)"):
        est.fit(X, lone)
    with pytest.raises(ValueError, match=r"only 1 class \('left'\)"):
        est.fit(X, np.full(len(X), "left"))
    with pytest.raises(
        TypeError, match=r"holds class names \(text\), but conditional='time_delta' needs"
    ):
        Estimator(**FAST, conditional="time_delta").fit(X, names)
    with pytest.raises(ValueError, match=r"class names with 1 missing label"):
        est.fit(X, [None] + names[1:].tolist())


# --- conditional="auto" --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (None, "time"),
        ("continuous", "time_delta"),
        ("continuous_2d", "time_delta"),
        ("labels", "discrete"),
        ("labels_column", "discrete"),
        ("labels_series", "discrete"),
        ("labels_nullable_int", "discrete"),
        ("labels_nullable_bool", "discrete"),
        ("labels_tensor", "discrete"),
        ("labels_list_of_numpy_ints", "discrete"),
        ("float_labels", "time_delta"),
        ("mixed", "mixed"),
    ],
)
def test_auto_conditional_follows_the_behaviour(behaviour, expected):
    X, pos = _toy()
    labels = (pos > 0.5).astype(np.int64)
    y = {
        None: None,
        "continuous": pos,
        "continuous_2d": np.stack([pos, pos**2], 1),
        "labels": labels,
        "labels_column": labels[:, None],
        "labels_series": pd.Series(labels),
        "labels_nullable_int": pd.Series(labels, dtype="Int64"),
        "labels_nullable_bool": pd.Series(labels.astype(bool), dtype="boolean"),
        "labels_tensor": torch.from_numpy(labels),
        "labels_list_of_numpy_ints": list(labels),
        "float_labels": labels.astype(np.float32),
        "mixed": (pos, labels),
    }[behaviour]
    params = {**FAST, "max_iterations": 3, "random_state": 0}
    auto = Estimator(**params, conditional="auto").fit(X, y)
    assert auto.conditional_ == expected
    assert auto.conditional == "auto"  # the parameter is left as given
    # and it is the same fit as naming that conditional
    named = Estimator(**params, conditional=expected).fit(X, y)
    np.testing.assert_array_equal(auto.loss_history_, named.loss_history_)


def test_auto_conditional_reads_the_first_session():
    X, pos = _toy()
    labels = (pos > 0.5).astype(np.int64)
    est = Estimator(**{**FAST, "max_iterations": 2}, conditional="auto", random_state=0)
    est.fit([X, X[:400]], [labels, labels[:400]])
    assert est.conditional_ == "discrete"
    assert est.score(X[:400], labels[:400], session=1) < 0


def test_auto_conditional_is_saved(tmp_path):
    X, pos = _toy()
    est = Estimator(**{**FAST, "max_iterations": 2}, conditional="auto", random_state=0).fit(X, pos)
    est.save(tmp_path / "m.pt")
    loaded = Estimator.load(tmp_path / "m.pt", device="cpu")
    assert loaded.conditional == "auto" and loaded.conditional_ == "time_delta"
    assert loaded.score(X, pos) == pytest.approx(est.score(X, pos))


def test_auto_conditional_refuses_what_cannot_work():
    X, pos = _toy()
    with pytest.raises(
        ValueError, match=r"conditional='time' \(from conditional='auto'\) already is one"
    ):
        Estimator(**FAST, conditional="auto", hybrid=True).fit(X)
    with pytest.raises(
        ValueError, match=r"criterion='supcon' needs discrete labels .*'time_delta' \(from"
    ):
        Estimator(**FAST, conditional="auto", criterion="supcon").fit(X, pos)


def test_fits_in_threads_get_their_own_initial_weights():
    # the initial weights come from torch's global generator: fits in threads must not seed it in between
    from concurrent.futures import ThreadPoolExecutor

    X, pos = _toy(n=200)

    def weights(seed):
        est = Estimator(**{**FAST, "max_iterations": 0}, random_state=seed).fit(X, pos)
        return torch.cat([p.detach().flatten() for p in est.encoder_.parameters()])

    alone = [weights(seed) for seed in range(8)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(weights, range(8)))
    for a, b in zip(alone, threaded):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# --- a real calcium recording ----------------------------------------------------------------------------------------
SUITE2P = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "pynapple_tests")


@pytest.mark.skipif(
    not os.path.exists(os.path.join(SUITE2P, "suite2p_F.npy")),
    reason="../shared/data/pynapple_tests (suite2p output of a two-photon session) is absent",
)
def test_real_calcium_traces_from_suite2p():
    """suite2p's fluorescence (ROIs x frames, neuropil subtracted, cells only) as a lab passes it: dense float
    traces with an offset of tens of units; time-contrastive learning lowers the loss and embeds every frame."""
    F = np.load(os.path.join(SUITE2P, "suite2p_F.npy"))
    neuropil = np.load(os.path.join(SUITE2P, "suite2p_Fneu.npy"))
    cells = np.load(os.path.join(SUITE2P, "suite2p_iscell.npy"))[:, 0].astype(bool)
    traces = (F - 0.7 * neuropil)[cells].T  # frames x cells
    assert traces.shape[0] == 2000 and traces.shape[1] >= 10
    est = Estimator(
        conditional="time", batch_size=256, max_iterations=300, random_state=0, device="cpu"
    ).fit(traces)
    first, last = np.mean(est.loss_history_[:30]), np.mean(est.loss_history_[-30:])
    assert last < first - 0.2
    Z = est.transform(traces)
    assert Z.shape == (2000, est.output_dimension) and np.isfinite(Z).all()
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)

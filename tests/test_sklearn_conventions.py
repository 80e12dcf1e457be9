"""scikit-learn's conventions at the estimator's default settings: batches clipped to the data with a warning,
``check_estimator`` with only the two row-independence checks failing, ``set_output(transform="pandas")`` and a
``GridSearchCV`` over the parameters users tune."""

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from neuroembed import Ensemble, Estimator

CLIPPED = "ignore:batch_size=512 is larger than the:UserWarning"
# the two checks that assume a row's output depends on that row alone (a conv encoder reads its neighbours)
ROW_INDEPENDENCE = {
    "check_methods_subset_invariance": "a conv encoder embeds each sample from its neighbours in time",
    "check_methods_sample_order_invariance": "a conv encoder embeds each sample from its neighbours in time",
}


def _toy(n=300, n_neurons=10, seed=0):
    rng = np.random.default_rng(seed)
    pos = (np.sin(np.arange(n) / 20) + 1) / 2
    centres = rng.uniform(0, 1, n_neurons)
    rates = 0.2 + 3 * np.exp(-((pos[:, None] - centres) ** 2) / 0.02)
    return rng.poisson(rates).astype(np.float32), pos.astype(np.float32)


def test_a_batch_larger_than_the_recording_is_clipped_with_a_warning():
    X, y = _toy(n=300)
    est = Estimator(max_iterations=3, random_state=0)  # batch_size=512 by default
    with pytest.warns(
        UserWarning, match=r"batch_size=512 is larger than the 291 window centres of the recording"
    ):
        est.fit(X, y)
    assert est.batch_size_ == 291 and est.num_negatives_ == 291
    # no warning when the batch fits
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = Estimator(batch_size=64, max_iterations=3, random_state=0).fit(X, y)
    assert est.batch_size_ == 64


def test_several_sessions_clip_to_the_shortest():
    (X1, y1), (X2, y2) = _toy(n=400), _toy(n=120, seed=1)
    with pytest.warns(UserWarning, match="window centres of the shortest of the 2 sessions"):
        est = Estimator(batch_size=200, max_iterations=3, random_state=0).fit([X1, X2], [y1, y2])
    assert est.batch_size_ == 111


def test_the_clipped_batch_is_saved_and_loaded(tmp_path):
    X, y = _toy(n=200)
    with pytest.warns(UserWarning, match="is clipped to 191"):
        est = Estimator(max_iterations=2, random_state=0).fit(X, y)
    est.save(tmp_path / "m.pt")
    assert Estimator.load(tmp_path / "m.pt").batch_size_ == 191


@pytest.mark.parametrize("model", ["offset10", "offset1"])
@pytest.mark.filterwarnings(CLIPPED)
@pytest.mark.filterwarnings("ignore:time_offset=10 is not shorter than the recording:UserWarning")
@pytest.mark.timeout(600)
def test_check_estimator_at_the_defaults_but_the_length(model):
    """Every default except ``max_iterations`` (5000 steps per fit would make this test take half an hour; the slow
    test below runs the true defaults)."""
    expected = ROW_INDEPENDENCE if model != "offset1" else {}
    check_estimator(
        Estimator(model=model, max_iterations=5),
        expected_failed_checks=expected,
        on_fail="raise",
        on_skip=None,
    )


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("NEUROEMBED_TRUE_DEFAULT_CHECKS"),
    reason="about 100 fits of 5000 steps each (an hour on 2 cores): set NEUROEMBED_TRUE_DEFAULT_CHECKS=1 to run",
)
@pytest.mark.parametrize("model", ["offset10", "offset1"])
@pytest.mark.filterwarnings(CLIPPED)
@pytest.mark.filterwarnings("ignore:time_offset=10 is not shorter than the recording:UserWarning")
@pytest.mark.timeout(7200)
def test_check_estimator_at_the_true_defaults(model):
    expected = ROW_INDEPENDENCE if model != "offset1" else {}
    check_estimator(
        Estimator() if model == "offset10" else Estimator(model=model),
        expected_failed_checks=expected,
        on_fail="raise",
        on_skip=None,
    )


def test_set_output_pandas():
    X, y = _toy()
    est = Estimator(batch_size=64, max_iterations=3, output_dimension=4, random_state=0)
    frame = pd.DataFrame(X, index=pd.RangeIndex(1000, 1000 + len(X)))
    Z = est.set_output(transform="pandas").fit(frame, y).transform(frame)
    assert isinstance(Z, pd.DataFrame)
    assert list(Z.columns) == ["dim0", "dim1", "dim2", "dim3"]
    assert Z.index.equals(frame.index)
    np.testing.assert_array_equal(Z.to_numpy(), est.set_output(transform="default").transform(X))
    # in a pipeline, and for an ensemble
    pipe = make_pipeline(
        StandardScaler(), Estimator(batch_size=64, max_iterations=3, random_state=0)
    )
    assert isinstance(pipe.set_output(transform="pandas").fit(X, y).transform(X), pd.DataFrame)
    ens = Ensemble(Estimator(batch_size=64, max_iterations=3), n_estimators=2, random_state=0)
    out = ens.set_output(transform="pandas").fit(X, y).transform(X)
    assert list(out.columns) == [f"dim{i}" for i in range(ens.n_components_)]


def test_feature_names_out_need_a_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        Estimator().get_feature_names_out()


def test_grid_search_over_time_offset_temperature_and_dimension():
    X, y = _toy(n=600)
    search = GridSearchCV(
        Estimator(model="offset5", batch_size=64, max_iterations=5, random_state=0),
        {"time_offset": [2, 5], "temperature": [0.5, 1.0], "output_dimension": [3, 8]},
        cv=TimeSeriesSplit(n_splits=2),
    )
    search.fit(X, y)
    assert set(search.best_params_) == {"time_offset", "temperature", "output_dimension"}
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()

"""Bad input gets a ValueError/TypeError that names what was wrong (the table in docs/errors.md is built from these)."""

import numpy as np
import pandas as pd
import pytest

from neuroembed.estimator import Estimator

FAST = dict(
    model="offset5", batch_size=16, max_iterations=2, time_offset=2, device="cpu", random_state=0
)


def _data(n=200, n_neurons=6):
    rng = np.random.default_rng(0)
    return rng.poisson(1.0, size=(n, n_neurons)).astype(np.float32), np.linspace(0, 1, n).astype(
        np.float32
    )


X, Y = _data()
X_nan = X.copy()
X_nan[5, 1] = np.nan
X_inf = X.copy()
X_inf[7, 0] = np.inf
Y_nan = Y.copy()
Y_nan[3] = np.nan

# (case, estimator params, X, y, error type, message pattern)
FIT_CASES = [
    ("NaN in neural data", {}, X_nan, Y, ValueError, "NaN"),
    ("inf in neural data", {}, X_inf, Y, ValueError, "infinite"),
    ("NaN in behaviour", {}, X, Y_nan, ValueError, "behaviour contains 1 NaN"),
    (
        "masked array with masked values",
        {},
        np.ma.masked_array(X, mask=X > 3),
        Y,
        ValueError,
        r"neural is a masked array with \d+ masked value",
    ),
    ("length mismatch", {}, X, Y[:150], ValueError, "150 samples but the neural data has 200"),
    (
        "fewer samples than the receptive field",
        {"model": "offset10"},
        X[:6],
        Y[:6],
        ValueError,
        "fewer than the 10",
    ),
    (
        "non-numeric neural data",
        {},
        np.array([["a", "b"], ["c", "d"]] * 20),
        None,
        TypeError,
        "real numbers",
    ),
    (
        "object dtype that is not numbers",
        {},
        np.array([[{}, 1]] * 20, dtype=object),
        None,
        TypeError,
        "dtype object",
    ),
    ("1-D neural data", {}, X[:, 0], Y, ValueError, "must be 2-D"),
    ("3-D neural data", {}, X[None], Y, ValueError, "3-D"),
    ("empty array", {}, np.empty((0, 5)), None, ValueError, "0 sample"),
    ("no features", {}, np.empty((50, 0)), None, ValueError, "0 feature"),
    ("None as neural data", {}, None, None, TypeError, "got None"),
    (
        "integers beyond float32 precision",
        {},
        (X + 2**25).astype(np.int64),
        Y,
        ValueError,
        "float32 cannot represent",
    ),
    ("constant behaviour with behaviour positives", {}, X, np.ones(200), ValueError, "constant"),
    ("behaviour missing for a behaviour conditional", {}, X, None, ValueError, "needs behaviour"),
    (
        "discrete labels with one class",
        {"conditional": "discrete"},
        X,
        np.zeros(200, int),
        ValueError,
        "only 1 class",
    ),
    (
        "discrete labels with a class of one sample",
        {"conditional": "discrete"},
        X,
        np.r_[np.zeros(199, int), 1],
        ValueError,
        "single sample",
    ),
    (
        "non-integer discrete labels",
        {"conditional": "discrete"},
        X,
        Y,
        TypeError,
        r"integers; got non-integer floats such as 0\.00502513\.",  # a number, not np.float64(...)
    ),
    ("mixed without a tuple", {"conditional": "mixed"}, X, Y, TypeError, "tuple"),
    (
        "mixed sessions without the same classes",
        {"conditional": "mixed"},
        [X, X],
        [(Y, np.arange(200) % 2), (Y, np.arange(200) % 3)],
        ValueError,
        r"labels of session 0 lack classes \[2\]",
    ),
    (
        "early stopping with a validation block shorter than a few windows",
        {"early_stopping": True, "validation_fraction": 0.01},
        X,
        Y,
        ValueError,
        r"the validation block needs at least \d+ \(\d+ window centres",
    ),
    (
        "validation_fraction outside (0, 1)",
        {"validation_fraction": 1.5},
        X,
        Y,
        ValueError,
        r"validation_fraction must be a number in \(0, 1\)",
    ),
    ("max_seconds not positive", {"max_seconds": -1.0}, X, Y, ValueError, "max_seconds must be"),
    (
        "sessions with different behaviour widths",
        {},
        [X, X],
        [Y, np.c_[Y, Y]],
        ValueError,
        "same number of columns",
    ),
    ("sessions list with a behaviour of wrong count", {}, [X, X], [Y], ValueError, "list of 2"),
    ("unknown model", {"model": "offset7"}, X, Y, ValueError, r"model='offset7'.*offset10"),
    (
        "CEBRA's model name",
        {"model": "offset10-model"},
        X,
        Y,
        ValueError,
        r"CEBRA's name; neuroembed's is model='offset10'\.",
    ),
    (
        "CEBRA's -mse model name",
        {"model": "offset5-model-mse"},
        X,
        Y,
        ValueError,
        r"model='offset5', with distance='euclidean'",
    ),
    (
        "model name in capitals",
        {"model": "Offset10"},
        X,
        Y,
        ValueError,
        r"Did you mean model='offset10'\?",
    ),
    (
        "unknown conditional",
        {"conditional": "space"},
        X,
        Y,
        ValueError,
        r"conditional='space'.*time_delta",
    ),
    (
        "unknown distance",
        {"distance": "manhattan"},
        X,
        Y,
        ValueError,
        r"distance='manhattan'.*cosine",
    ),
    (
        "unknown criterion",
        {"criterion": "triplet"},
        X,
        Y,
        ValueError,
        r"criterion='triplet'.*supcon",
    ),
    ("unknown device", {"device": "tpu"}, X, Y, ValueError, r"device='tpu'"),
    ("supcon without labels", {"criterion": "supcon"}, X, Y, ValueError, "needs discrete labels"),
    ("negative temperature", {"temperature": -1.0}, X, Y, ValueError, "temperature must be"),
    (
        "non-integer batch_size",
        {"batch_size": 3.5},
        X,
        Y,
        TypeError,
        "batch_size must be an integer",
    ),
    ("sparse input", {}, "sparse", Y, TypeError, "sparse"),
    (
        "unknown behaviour_nan",
        {"behaviour_nan": "ignore"},
        X,
        Y,
        ValueError,
        "behaviour_nan='ignore'",
    ),
    (
        "NaN in every behaviour row with behaviour_nan='drop'",
        {"behaviour_nan": "drop"},
        X,
        np.full(200, np.nan),
        ValueError,
        "NaN in every one of its 200 rows",
    ),
    (
        "inf in behaviour with behaviour_nan='drop'",
        {"behaviour_nan": "drop"},
        X,
        np.where(np.arange(200) == 4, np.inf, Y),
        ValueError,
        "infinite",
    ),
    ("non-positive bin_size", {"bin_size": 0.0}, X, Y, ValueError, "bin_size must be"),
    (
        "hybrid given as text",
        {"hybrid": "no"},
        X,
        Y,
        TypeError,
        "hybrid must be True or False; got 'no'",
    ),
    (
        "checkpoint_dir not a path",
        {"checkpoint_dir": 3},
        X,
        Y,
        TypeError,
        "checkpoint_dir must be None or",
    ),
    (
        "negative random_state",
        {"random_state": -1},
        X,
        Y,
        ValueError,
        "random_state must be None, an int >= 0",
    ),
    (
        "random_state given as text",
        {"random_state": "0"},
        X,
        Y,
        TypeError,
        "random_state must be None",
    ),
    (
        "labels beyond the int64 range",
        {"conditional": "discrete"},
        X,
        np.where(np.arange(200) % 2 == 0, 1e19, 2e19),
        ValueError,
        "outside the int64 range",
    ),
    (
        "per-session behaviour for one recording",
        {},
        X,
        [Y, Y],
        ValueError,
        "behaviour is a list of 2 arrays but neural is a single array of 200 samples",
    ),
    (
        "a 1-D session among sessions",
        {},
        [X, X[:, 0]],
        [Y, Y],
        ValueError,
        r"neural\[1\] must be 2-D",
    ),
    (
        "a missing value (pandas NA) in a nullable column",
        {},
        pd.DataFrame(X.astype(np.int64)).astype("Int64").mask(np.eye(200, 6, dtype=bool)),
        Y,
        ValueError,
        r"neural contains \d+ NaN",
    ),
]


@pytest.mark.parametrize(
    "case,params,X_in,y_in,error,pattern", FIT_CASES, ids=[c[0] for c in FIT_CASES]
)
def test_fit_rejects(case, params, X_in, y_in, error, pattern):
    if isinstance(X_in, str) and X_in == "sparse":
        import scipy.sparse

        X_in = scipy.sparse.csr_matrix(X)
    with pytest.raises(error, match=pattern):
        Estimator(**{**FAST, **params}).fit(X_in, y_in)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="CUDA is present")
def test_cuda_asked_where_none_exists():
    with pytest.raises(ValueError, match="CUDA is not available"):
        Estimator(**{**FAST, "device": "cuda"}).fit(X, Y)


@pytest.fixture(scope="module")
def fitted():
    return Estimator(**FAST).fit(X, Y)


TRANSFORM_CASES = [
    (
        "wrong feature count",
        dict(X=X[:, :4]),
        ValueError,
        "X has 4 features, but Estimator is expecting 6",
    ),
    ("session out of range", dict(X=X, session=3), ValueError, "out of range"),
    ("session not an int", dict(X=X, session="0"), TypeError, "session must be an int"),
    ("NaN at transform", dict(X=X_nan), ValueError, "NaN"),
    ("1-D at transform", dict(X=X[:, 0]), ValueError, "2-D"),
]


@pytest.mark.parametrize(
    "case,kwargs,error,pattern", TRANSFORM_CASES, ids=[c[0] for c in TRANSFORM_CASES]
)
def test_transform_rejects(fitted, case, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        fitted.transform(**kwargs)


def test_transform_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        Estimator().transform(X)


# More bad settings and data, beyond the cases of docs/errors.md: (case, estimator params, X, y, error, pattern)
def test_resume_must_be_a_bool():
    with pytest.raises(TypeError, match="resume must be True or False; got 'no'"):
        Estimator(**FAST).fit(X, Y, resume="no")


def test_behaviour_as_a_list_of_numbers_or_rows_is_one_array():
    # NumPy scalars have a shape, and rows are arrays: neither is a list of sessions
    reference = Estimator(**FAST).fit(X, Y).loss_history_
    np.testing.assert_array_equal(Estimator(**FAST).fit(X, list(Y)).loss_history_, reference)
    two = np.c_[Y, Y[::-1]]
    est = Estimator(**FAST).fit(X, list(two))
    assert est.behaviour_dimension_ == 2
    np.testing.assert_array_equal(est.loss_history_, Estimator(**FAST).fit(X, two).loss_history_)


@pytest.mark.parametrize(
    "chunk_size,error,pattern",
    [
        (0, ValueError, "chunk_size must be an integer >= 1; got 0"),
        (-1, ValueError, "chunk_size must be an integer >= 1; got -1"),
        (2.5, TypeError, r"chunk_size must be an integer >= 1; got 2.5 \(float\)"),
    ],
)
def test_transform_rejects_a_bad_chunk_size(fitted, chunk_size, error, pattern):
    with pytest.raises(error, match=pattern):
        fitted.transform(X, chunk_size=chunk_size)


def _frame(columns="abcdef", x=X):
    import pandas as pd

    return pd.DataFrame(x, columns=list(columns))


def test_dataframe_columns_are_checked_by_name_and_order():
    est = Estimator(**FAST).fit(_frame(), Y)
    with pytest.raises(ValueError, match="column 0 is 'f', expected 'a'"):
        est.transform(_frame("fedcba"))
    with pytest.raises(
        ValueError, match=r"got 3 columns \['a', 'b', 'c'\], expected the 6 columns"
    ):
        est.transform(_frame("abc", X[:, :3]))
    with pytest.raises(ValueError, match="column 0 is 'f', expected 'a'"):
        est.score(_frame("fedcba"), Y)
    assert est.score(_frame(), Y) == est.score(X, Y)


def test_a_new_session_has_its_own_columns():
    # feature_names_in_ are the columns of the fit's session; an adapted session has other neurons
    est = Estimator(**FAST).fit(_frame(), Y)
    new = _frame("xyz", X[:, :3])
    est.adapt(new, Y, iterations=1)
    np.testing.assert_array_equal(est.transform(new, session=1), est.transform(X[:, :3], session=1))
    with pytest.raises(ValueError, match="columns differ"):
        est.transform(_frame("fedcba"), session=0)


@pytest.mark.parametrize(
    "changed,pattern",
    [
        ({"output_dimension": 3}, r"trunk.out.weight has shape \(8, 32, 2\) in the fitted one, \(3, 32, 2\) now"),
        ({"num_hidden_units": 8}, r"stems.0.weight has shape \(32, 6, 2\) in the fitted one, \(8, 6, 2\) now"),
        ({"model": "offset10"}, "another MultiSessionEncoder"),
        ({"temperature_mode": "learnable"}, "another InfoNCE .*log_inverse_temperature"),
    ],
)  # fmt: skip
def test_partial_fit_refuses_settings_that_change_the_network(changed, pattern):
    est = Estimator(**FAST).fit(X, Y)
    before = est.transform(X)
    with pytest.raises(
        ValueError, match="partial_fit continues the fitted model, but .*" + pattern
    ):
        est.set_params(**changed).partial_fit(X, Y)
    np.testing.assert_array_equal(est.transform(X), before)  # the fitted model is untouched


def test_partial_fit_keeps_the_column_names_of_fit():
    est = Estimator(**FAST).fit(_frame(), Y)
    est.partial_fit(X, Y)  # an array: the names stay
    assert list(est.feature_names_in_) == list("abcdef")
    est.partial_fit(_frame(), Y)
    assert list(est.feature_names_in_) == list("abcdef")
    with pytest.raises(ValueError, match="column 0 is 'g', expected 'a'"):
        est.partial_fit(_frame("ghijkl"), Y)
    assert (
        list(est.feature_names_in_) == list("abcdef") and est.n_iter_ == 3 * FAST["max_iterations"]
    )

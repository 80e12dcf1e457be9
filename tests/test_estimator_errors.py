"""Bad input gets a ValueError/TypeError that names what was wrong (the table in docs/errors.md is built from these)."""

import numpy as np
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
    ("non-integer discrete labels", {"conditional": "discrete"}, X, Y, TypeError, "integers"),
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

"""Property-based checks of the estimator over shapes, dtypes, values and settings (hypothesis).

* ``fit`` + ``transform`` on anything a user might pass either returns a finite ``(n_samples, output_dimension)``
  float32 embedding or raises ValueError / TypeError; and it raises exactly when the input breaks a documented
  rule (integers float32 cannot hold), which :func:`_expected_error` restates.
  A time offset as long as the recording is clipped with a warning, never an error.
* Two fits with the same seed and data give bitwise-identical embeddings and loss histories.

Fits are kept to two or three iterations on tiny data, so every example takes a few tens of milliseconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from neuroembed.estimator import Estimator
from neuroembed.solver import TrainingDivergedError

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_]
VALUES = ["zeros", "counts", "large counts", "tiny floats", "constant", "sparse spikes"]
SETTINGS = dict(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _values(
    kind: str, shape: tuple[int, int], dtype: type, rng: np.random.Generator, peak: int
) -> np.ndarray:
    """Neural data of ``kind`` in ``dtype``; 'large counts' of wide integers reach ``peak`` at one sample."""
    integer = np.issubdtype(dtype, np.integer)
    if dtype is np.bool_:
        return rng.random(shape) < (0.0 if kind == "zeros" else 0.3)
    if kind == "zeros":
        x = np.zeros(shape)
    elif kind == "counts":
        x = rng.poisson(2.0, shape)
    elif kind == "large counts":
        if dtype is np.uint8:
            x = rng.integers(0, 256, shape)
        elif integer:
            # 2**24 + 1 and beyond are past what float32 holds exactly
            x = rng.integers(0, 2**24, shape)
            x.flat[rng.integers(x.size)] = peak
        else:
            x = rng.uniform(0.0, 1e6, shape)
    elif kind == "tiny floats":
        x = rng.uniform(0.0, 1.0, shape) * (1e-300 if dtype is np.float64 else 1e-40)
        if integer:
            x = (x > 0).astype(int)
    elif kind == "constant":
        x = np.full(shape, 3)
    else:  # "sparse spikes"
        x = (rng.random(shape) < 0.02) * rng.integers(1, 5, shape)
    return np.asarray(x).astype(dtype)


@st.composite
def problems(draw: Any) -> dict:
    n = draw(st.integers(20, 200))
    n_neurons = draw(st.integers(1, 10))
    dtype = draw(st.sampled_from(DTYPES))
    kind = draw(st.sampled_from(VALUES))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    peak = draw(st.sampled_from([2**24, 2**24 + 1, 2**31 - 1]))
    X = _values(kind, (n, n_neurons), dtype, rng, peak)
    conditional = draw(st.sampled_from(["time", "time_delta", "discrete"]))
    if conditional == "time":
        y = None
    elif conditional == "time_delta":
        y = rng.normal(size=(n, draw(st.integers(1, 3)))).astype(
            draw(st.sampled_from([np.float32, np.float64]))
        )
    else:
        k = draw(st.integers(2, 4))
        y = rng.permutation(np.arange(n) % k)  # every class has at least n // k >= 5 samples
    params = dict(
        model=draw(st.sampled_from(["offset1", "offset5"])),
        conditional=conditional,
        distance=draw(st.sampled_from(["cosine", "euclidean"])),
        output_dimension=draw(st.integers(1, 6)),
        num_hidden_units=draw(st.sampled_from([8, 16])),
        batch_size=draw(st.integers(1, 40)),
        time_offset=draw(st.integers(1, 5)),
        temperature_mode=draw(st.sampled_from(["constant", "learnable"])),
        max_iterations=2,
        device="cpu",
        random_state=draw(st.integers(0, 2**31 - 1)),
    )
    return {"X": X, "y": y, "params": params}


def _expected_error(X: np.ndarray, params: dict) -> str | None:
    """The documented rule this input breaks, or None when ``fit`` must succeed."""
    if X.dtype.kind in "iu" and np.abs(X.astype(np.int64)).max() > 2**24:
        return "float32 cannot represent"
    return None


_BASE = dict(
    model="offset5",
    conditional="time",
    output_dimension=3,
    batch_size=8,
    time_offset=2,
    max_iterations=2,
    device="cpu",
)


@settings(max_examples=80, **SETTINGS)
@given(problem=problems())
@example(
    problem={
        "X": np.r_[np.zeros((29, 2)), [[2**24 + 1, 0]]].astype(np.int64),
        "y": None,
        "params": _BASE,
    }
)
@example(
    problem={"X": np.ones((20, 2), np.uint8), "y": None, "params": {**_BASE, "batch_size": 17}}
)
@example(
    problem={"X": np.zeros((20, 1), np.bool_), "y": None, "params": {**_BASE, "batch_size": 16}}
)
# a batch larger than the window centres is clipped with this warning (tested in test_sklearn_conventions.py)
@pytest.mark.filterwarnings("ignore:batch_size=.* is larger than the .* window centres:UserWarning")
def test_fit_transform_gives_finite_embeddings_or_a_documented_error(problem):
    X, y, params = problem["X"], problem["y"], problem["params"]
    expected = _expected_error(X, params)
    est = Estimator(**params)
    event(f"expected error: {expected}")
    if expected is not None:
        with pytest.raises(ValueError, match=expected):
            est.fit(X, y)
        return
    Z = est.fit(X, y).transform(X)
    assert Z.shape == (X.shape[0], params["output_dimension"])
    assert Z.dtype == np.float32
    assert np.isfinite(Z).all()
    assert np.isfinite(est.loss_history_).all() and est.loss_history_.shape == (2,)


@settings(max_examples=40, **SETTINGS)
@given(
    data=st.data(),
    model=st.sampled_from(["offset1", "offset5"]),
    conditional=st.sampled_from(["time", "time_delta", "delta", "discrete"]),
    distance=st.sampled_from(["cosine", "euclidean"]),
    n_sessions=st.integers(1, 2),
    seed=st.integers(0, 2**31 - 1),
)
def test_same_seed_same_data_gives_bitwise_identical_fits(
    data, model, conditional, distance, n_sessions, seed
):
    rng = np.random.default_rng(seed)
    Xs, ys = [], []
    for _ in range(n_sessions):
        n = data.draw(st.integers(30, 120))
        Xs.append(rng.poisson(1.5, size=(n, data.draw(st.integers(1, 8)))).astype(np.float32))
        ys.append(
            rng.permutation(np.arange(n) % 3) if conditional == "discrete" else rng.normal(size=n)
        )
    params = dict(
        model=model,
        conditional=conditional,
        distance=distance,
        batch_size=data.draw(st.integers(2, 24)),
        time_offset=data.draw(st.integers(1, 4)),
        max_iterations=3,
        num_hidden_units=16,
        device="cpu",
        random_state=seed,
    )
    X_in = Xs if n_sessions > 1 else Xs[0]
    y_in = None if conditional == "time" else (ys if n_sessions > 1 else ys[0])
    first = Estimator(**params).fit(X_in, y_in)
    second = Estimator(**params).fit(X_in, y_in)
    assert first.loss_history_.tobytes() == second.loss_history_.tobytes()
    for s, x in enumerate(Xs):
        session = s if n_sessions > 1 else None
        assert (
            first.transform(x, session=session).tobytes()
            == second.transform(x, session=session).tobytes()
        )


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_huge_finite_input_never_gives_a_nan_embedding(distance):
    # 1e20 is finite in float32, but squared euclidean distances of such embeddings overflow: the fit must then
    # stop with TrainingDivergedError (a documented error that names the input scaling), never return NaN
    X = np.random.default_rng(0).random((60, 4)).astype(np.float32) * 1e20
    est = Estimator(model="offset1", conditional="time", time_offset=1, batch_size=16, max_iterations=2,
                    distance=distance, device="cpu", random_state=0)  # fmt: skip
    try:
        Z = est.fit(X).transform(X)
    except TrainingDivergedError as err:
        assert "input scaling" in str(err)
    else:
        assert np.isfinite(Z).all()

import numpy as np
import pandas as pd
import pytest

from neuroembed.metrics import consistency


def _reference_r2(source, target, multioutput="uniform_average"):
    """Slow, obviously-correct reference: sklearn's LinearRegression + r2_score.

    With the default it is ``LinearRegression().fit(source, target).score(source, target)``, the score CEBRA's
    ``consistency_score`` reports for a pair of embeddings.
    """
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    model = LinearRegression().fit(source, target)
    prediction = model.predict(source)
    if multioutput == "uniform_average":
        assert r2_score(target, prediction) == pytest.approx(model.score(source, target), abs=1e-12)
    return r2_score(target, prediction, multioutput=multioutput)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_identical_and_linearly_transformed_embeddings_score_one(rng):
    z = rng.normal(size=(300, 4))
    transform = rng.normal(size=(4, 4))
    scores = consistency([z, z, z @ transform + 5.0])
    off_diagonal = scores.to_numpy()[~np.eye(3, dtype=bool)]
    np.testing.assert_allclose(off_diagonal, 1.0, atol=1e-10)
    assert np.isnan(np.diag(scores.to_numpy())).all()


def test_independent_embeddings_score_about_zero(rng):
    scores = consistency([rng.normal(size=(2000, 3)) for _ in range(3)])
    off_diagonal = scores.to_numpy()[~np.eye(3, dtype=bool)]
    assert np.all(np.abs(off_diagonal) < 0.02)


@pytest.mark.parametrize("multioutput", ["uniform_average", "variance_weighted"])
def test_matches_sklearn_reference_and_is_directional(rng, multioutput):
    a = rng.normal(size=(500, 3))
    b = np.c_[a[:, :2] @ rng.normal(size=(2, 2)), rng.normal(size=500)] + 0.3 * rng.normal(
        size=(500, 3)
    )
    c = rng.normal(size=(500, 5))
    embeddings = {"seed0": a, "seed1": b, "seed2": c}
    scores = consistency(embeddings, multioutput=multioutput)
    assert list(scores.index) == list(scores.columns) == ["seed0", "seed1", "seed2"]
    assert scores.index.name == "source" and scores.columns.name == "target"
    for src in embeddings:
        for tgt in embeddings:
            if src != tgt:
                assert scores.loc[src, tgt] == pytest.approx(
                    _reference_r2(embeddings[src], embeddings[tgt], multioutput), abs=1e-10
                )
    # a is fully predictable from c? no; a -> b loses the independent third column
    assert (
        scores.loc["seed0", "seed1"] < 0.8
        and scores.loc["seed0", "seed1"] != scores.loc["seed1", "seed0"]
    )


def test_sessions_align_on_behaviour(rng):
    # two "animals" with different lengths whose embeddings are different linear images of position
    def session(n, transform):
        position = rng.uniform(0, 1.6, n)
        latent = np.c_[np.cos(2 * position), np.sin(2 * position), position]
        return latent @ transform + 0.05 * rng.normal(size=(n, 3)), position

    z1, p1 = session(3000, rng.normal(size=(3, 3)))
    z2, p2 = session(2000, rng.normal(size=(3, 3)))
    z3 = rng.normal(size=(2500, 3))
    p3 = rng.uniform(0, 1.6, 2500)
    # linear images off the sphere: fitted on the raw bin means
    kw = dict(between="sessions", n_bins=40, normalize_bins=False)
    scores = consistency([z1, z2, z3], behaviour=[p1, p2, p3], **kw)
    assert scores.loc[0, 1] > 0.95 and scores.loc[1, 0] > 0.95
    assert scores.loc[0, 2] < 0.5 and scores.loc[2, 1] < 0.5
    # bootstrap over the shared bins
    point, lower, upper = consistency(
        [z1, z2], behaviour=[p1, p2], bootstrap=50, random_state=1, **kw
    )
    assert (
        lower.loc[0, 1] <= point.loc[0, 1] <= upper.loc[0, 1]
        and upper.loc[0, 1] - lower.loc[0, 1] < 0.05
    )


@pytest.mark.parametrize("normalize_bins", [True, False])
def test_sessions_binning_matches_a_loop_reference(rng, normalize_bins):
    z1, z2 = rng.normal(size=(400, 2)), rng.normal(size=(300, 2))
    b1, b2 = rng.uniform(0, 1, 400), rng.uniform(0.2, 1, 300)
    n_bins = 10
    edges = np.linspace(min(b1.min(), b2.min()), max(b1.max(), b2.max()), n_bins + 1)

    def means(z, b):
        out = {}
        for k in range(n_bins):
            inside = (b >= edges[k]) & (
                (b < edges[k + 1]) if k < n_bins - 1 else (b <= edges[k + 1])
            )
            if inside.any():
                mean = z[inside].mean(axis=0)
                out[k] = mean / np.sqrt((mean**2).sum()) if normalize_bins else mean
        return out

    m1, m2 = means(z1, b1), means(z2, b2)
    shared = sorted(set(m1) & set(m2))
    expected = _reference_r2(np.array([m1[k] for k in shared]), np.array([m2[k] for k in shared]))
    scores = consistency(
        {"a": z1, "b": z2},
        between="sessions",
        behaviour={"b": b2, "a": b1},
        n_bins=n_bins,
        normalize_bins=normalize_bins,
    )
    assert scores.loc["a", "b"] == pytest.approx(expected, abs=1e-10)


def test_sessions_with_discrete_and_multicolumn_behaviour(rng):
    codes = rng.normal(
        size=(5, 2)
    )  # one point per condition, shared by both animals up to a linear map
    labels1, labels2 = rng.integers(0, 5, 300), rng.integers(0, 5, 200)
    z1 = codes[labels1] + 0.01 * rng.normal(size=(300, 2))
    z2 = codes[labels2] @ rng.normal(size=(2, 3))
    scores = consistency(
        [z1, z2], between="sessions", behaviour=[labels1, labels2], normalize_bins=False
    )
    assert scores.loc[0, 1] == pytest.approx(1.0, abs=1e-3)
    assert scores.loc[1, 0] == pytest.approx(1.0, abs=1e-3)
    # rat-style behaviour: [position, right, left] as float columns
    pos1, pos2 = rng.uniform(0, 1.6, 600), rng.uniform(0, 1.6, 500)
    d1, d2 = rng.integers(0, 2, 600), rng.integers(0, 2, 500)
    beh1, beh2 = (
        np.c_[pos1, d1 == 0, d1 == 1].astype(float),
        np.c_[pos2, d2 == 0, d2 == 1].astype(float),
    )
    emb1, emb2 = np.c_[pos1, d1], np.c_[pos2, d2] @ [[1.0, 2.0], [0.5, -1.0]]
    scores = consistency(
        [emb1, emb2],
        between="sessions",
        behaviour=[beh1, beh2],
        n_bins=[20, 2, 2],
        normalize_bins=False,
    )
    assert scores.loc[0, 1] > 0.99


def test_bootstrap_interval_brackets_the_estimate(rng):
    a = rng.normal(size=(300, 2))
    b = a @ rng.normal(size=(2, 2)) + 0.8 * rng.normal(size=(300, 2))
    scores, lower, upper = consistency([a, b], bootstrap=200, random_state=0)
    for frame in (scores, lower, upper):
        assert isinstance(frame, pd.DataFrame) and frame.shape == (2, 2)
    assert lower.loc[0, 1] < scores.loc[0, 1] < upper.loc[0, 1]
    assert upper.loc[0, 1] - lower.loc[0, 1] < 0.3
    again = consistency([a, b], bootstrap=200, random_state=0)
    pd.testing.assert_frame_equal(again[1], lower)
    narrow = consistency([a, b], bootstrap=200, confidence=0.5, random_state=0)
    assert narrow[2].loc[0, 1] - narrow[1].loc[0, 1] < upper.loc[0, 1] - lower.loc[0, 1]


def test_bad_input(rng):
    z = rng.normal(size=(50, 2))
    with pytest.raises(ValueError, match="at least two"):
        consistency([z])
    with pytest.raises(ValueError, match="same number of samples"):
        consistency([z, z[:40]])
    with pytest.raises(ValueError, match="only used between sessions"):
        consistency([z, z], behaviour=[z[:, 0], z[:, 0]])
    with pytest.raises(ValueError, match="behaviour is required"):
        consistency([z, z], between="sessions")
    with pytest.raises(ValueError, match="between"):
        consistency([z, z], between="animals")
    with pytest.raises(TypeError, match="list"):
        consistency(np.stack([z, z]))
    with pytest.raises(ValueError, match="NaN"):
        consistency([z, np.full_like(z, np.nan)])
    with pytest.raises(ValueError, match="share only"):
        consistency([z, z], between="sessions", behaviour=[np.zeros(50), np.ones(50)], n_bins=2)
    with pytest.raises(ValueError, match="49 samples, but 50"):
        consistency([z, z], between="sessions", behaviour=[np.zeros(50), np.ones(49)])
    with pytest.raises(ValueError, match="confidence"):
        consistency([z, z], bootstrap=5, confidence=1.5)


def test_uniform_average_counts_every_dimension_and_variance_weighted_discounts_small_ones(rng):
    # the target's second dimension is tiny and unpredictable: the mean over dimensions halves the score, the
    # variance-weighted score hardly notices it
    z = rng.normal(size=(1000, 2))
    target = np.c_[z[:, 0], 1e-3 * rng.normal(size=1000)]
    uniform = consistency([z, target]).iloc[0, 1]
    weighted = consistency([z, target], multioutput="variance_weighted").iloc[0, 1]
    assert uniform == pytest.approx(0.5, abs=0.01)
    assert weighted > 0.99
    with pytest.raises(ValueError, match="multioutput='mean'"):
        consistency([z, target], multioutput="mean")


def test_sessions_take_class_names_as_one_set_of_categories(rng):
    codes = rng.normal(size=(6, 2))
    labels1, labels2 = (
        rng.integers(0, 6, 300),
        rng.integers(1, 6, 200),
    )  # session 2 never sees class 0
    z1 = codes[labels1] + 0.1 * rng.normal(size=(300, 2))
    z2 = codes[labels2] @ rng.normal(size=(2, 3)) + 0.1 * rng.normal(size=(200, 3))
    names = np.array(["a", "b", "c", "d", "e", "f"])
    want = consistency([z1, z2], between="sessions", behaviour=[labels1, labels2])
    # one name, one category across sessions: the same scores as the integer codes
    as_text = [names[labels1].tolist(), pd.Series(pd.Categorical(names[labels2]))]
    got = consistency([z1, z2], between="sessions", behaviour=as_text)
    pd.testing.assert_frame_equal(got, want)
    with pytest.raises(TypeError, match=r"class names in some sessions but not in \[1\]"):
        consistency([z1, z2], between="sessions", behaviour=[names[labels1], labels2])


def test_sessions_on_the_sphere_related_by_a_rotation_score_one(rng):
    # cosine embeddings of two animals that differ by a rotation: the normalised bin means are rotated copies
    def session(n):
        position = rng.uniform(0, 1.6, n)
        z = np.c_[np.cos(2 * position), np.sin(2 * position), position - 0.8]
        z += 0.2 * rng.normal(size=z.shape)
        return z / np.linalg.norm(z, axis=1, keepdims=True), position

    (z1, p1), (z2, p2) = session(3000), session(2500)
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    scores = consistency([z1, z2 @ rotation], between="sessions", behaviour=[p1, p2], n_bins=30)
    assert scores.loc[0, 1] > 0.99 and scores.loc[1, 0] > 0.99
    raw = consistency(
        [z1, z2 @ rotation], between="sessions", behaviour=[p1, p2], n_bins=30, normalize_bins=False
    )
    assert raw.loc[0, 1] > 0.99  # the two agree when the means are a linear image of each other


def test_normalize_bins_must_be_a_bool(rng):
    z = rng.normal(size=(50, 2))
    with pytest.raises(TypeError, match="normalize_bins must be True or False; got 'yes'"):
        consistency([z, z], between="sessions", behaviour=[z[:, 0], z[:, 0]], normalize_bins="yes")

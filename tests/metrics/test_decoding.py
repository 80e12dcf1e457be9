import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsRegressor

from neuroembed.metrics import decode


def _ring(n=1000, turns=8, rng=None):
    t = np.linspace(0, 2 * np.pi * turns, n)
    embedding = np.stack([np.cos(t), np.sin(t)], axis=1)
    return embedding, np.mod(t, 2 * np.pi)


def test_noiseless_latent_decodes_almost_perfectly():
    embedding, angle = _ring()
    # decode the position along the circle from the embedding (an unambiguous function of it)
    target = np.stack([np.cos(angle), np.sin(angle)], axis=1) * 3.0
    scores = decode(embedding, target, method="both")
    assert scores["knn_median_error"] < 0.05 and scores["knn_r2"] > 0.999
    assert scores["linear_median_error"] < 1e-2 and scores["linear_r2"] > 0.9999
    assert scores["n_train"] == 800 and scores["n_test"] == 200


def test_discrete_labels_give_accuracy():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 25)[rng.permutation(100)].repeat(5)
    centres = rng.normal(size=(4, 6)) * 5
    embedding = centres[labels] + rng.normal(size=(500, 6))
    scores = decode(embedding, labels)
    assert set(scores) == {"n_train", "n_test", "knn_accuracy", "linear_accuracy"}
    assert scores["knn_accuracy"] > 0.95 and scores["linear_accuracy"] > 0.95
    # random labels are at chance
    shuffled = decode(embedding, rng.integers(0, 4, 500), method="knn")
    assert shuffled["knn_accuracy"] < 0.45
    # integer values treated as continuous on request
    assert "knn_r2" in decode(embedding, labels, discrete=False, method="knn")


def test_uses_first_block_for_training_and_last_for_testing():
    # behaviour differs between the two blocks: a contiguous split cannot peek at the test block
    n = 500
    embedding = np.random.default_rng(0).normal(size=(n, 3))
    behaviour = np.r_[np.zeros(400), np.ones(100)]
    scores = decode(embedding, behaviour, method="knn", n_neighbors=5)
    assert scores["knn_median_error"] == pytest.approx(1.0)  # it only ever saw zeros


def test_matches_sklearn_knn_reference_with_cosine_and_multid_error():
    rng = np.random.default_rng(3)
    embedding = rng.normal(size=(300, 4))
    behaviour = embedding[:, :2] @ rng.normal(size=(2, 2)) + 0.3 * rng.normal(size=(300, 2))
    scores = decode(
        embedding, behaviour, train_fraction=0.7, method="knn", n_neighbors=7, weights="distance"
    )
    knn = KNeighborsRegressor(n_neighbors=7, metric="cosine", weights="distance").fit(
        embedding[:210], behaviour[:210]
    )
    errors = np.sqrt(((knn.predict(embedding[210:]) - behaviour[210:]) ** 2).sum(axis=1))
    assert scores["knn_median_error"] == pytest.approx(np.median(errors))
    assert scores["n_train"] == 210


def test_silent_rows_are_fine_with_cosine():
    counts = np.zeros((200, 5))
    counts[::3, 0] = 1.0
    scores = decode(counts, np.linspace(0, 1, 200), method="knn", n_neighbors=4)
    assert np.isfinite(scores["knn_median_error"])


def test_bad_input():
    embedding = np.zeros((100, 2))
    with pytest.raises(ValueError, match="aligned"):
        decode(embedding, np.zeros(99))
    with pytest.raises(ValueError, match="NaN"):
        decode(embedding, np.full(100, np.nan))
    with pytest.raises(ValueError, match="method"):
        decode(embedding, np.zeros(100), method="svm")
    with pytest.raises(ValueError, match="train_fraction"):
        decode(embedding, np.zeros(100), train_fraction=1.0)
    with pytest.raises(ValueError, match="leaves"):
        decode(embedding[:3], np.zeros(3), train_fraction=0.1, method="linear")
    with pytest.raises(ValueError, match="n_neighbors"):
        decode(embedding, np.zeros(100), n_neighbors=81)
    with pytest.raises(ValueError, match="single label"):
        decode(embedding, np.r_[np.zeros(80, int), np.ones(20, int)], method="linear")
    with pytest.raises(TypeError, match="discrete"):
        decode(embedding, np.zeros(100), discrete="yes")
    with pytest.raises(TypeError, match="non-integer"):
        decode(embedding, np.linspace(0, 1, 100), discrete=True)


def test_class_names_decode_like_their_integer_codes():
    rng = np.random.default_rng(3)
    codes = np.repeat(np.arange(3), 100)[rng.permutation(300)]
    Z = np.eye(3)[codes] + 0.4 * rng.normal(size=(300, 3))
    # sorted names, so their codes are the same integers
    names = np.array(["left", "right", "stop"])[codes]
    want = decode(Z, codes)
    assert decode(Z, names) == want
    assert decode(Z, list(names)) == want
    assert decode(Z, pd.Series(names)) == want
    assert decode(Z, pd.Categorical(names)) == want
    with pytest.raises(TypeError, match="holds text .* cannot be decoded as continuous"):
        decode(Z, names, discrete=False)
    # one text column of a DataFrame, as a one-column integer array is
    assert decode(Z, pd.DataFrame({"side": names})[["side"]]) == want


def test_class_names_with_missing_labels_say_so():
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(60, 3))
    names = np.array(["left", "right", "stop"], dtype=object)[np.arange(60) % 3]
    # was "must hold numbers ... could not convert string to float"
    for missing in (None, np.nan, pd.NA):
        labels = names.copy()
        labels[7] = missing
        with pytest.raises(
            ValueError, match=r"class names with 1 missing label\(s\) .* first at row 7"
        ):
            decode(Z, labels)
    with pytest.raises(ValueError, match="class names with 1 missing"):
        decode(Z, pd.Series(names).astype("category").where(np.arange(60) != 7))


def test_infinite_behaviour_is_not_sent_to_behaviour_nan():
    Z = np.random.default_rng(0).normal(size=(50, 2))
    y = np.linspace(0.0, 1.0, 50)
    y[10] = np.inf  # behaviour_nan='drop' leaves infinities in: the message must not suggest it
    with pytest.raises(ValueError, match="infinite") as info:
        decode(Z, y)
    assert "behaviour_nan" not in str(info.value)


def test_behaviour_nan_drop_keeps_the_blocks_of_the_rows_as_given():
    t = np.linspace(0, 8 * np.pi, 1000)
    emb = np.stack([np.cos(t), np.sin(t)], axis=1)
    y = np.mod(t, 2 * np.pi)
    y_gaps = y.copy()
    y_gaps[850:950] = (
        np.nan
    )  # inside the last 20 %: the test block shrinks, no training row moves into it
    with pytest.raises(ValueError, match="behaviour_nan='drop'"):
        decode(emb, y_gaps, method="knn")
    scores = decode(emb, y_gaps, method="knn", behaviour_nan="drop")
    assert (scores["n_train"], scores["n_test"]) == (800, 100)
    keep = ~np.isnan(y_gaps)
    test = (np.arange(1000) >= 800)[keep]
    same = decode(emb[keep], y[keep], method="knn", test=test)
    assert same == scores


def test_test_rows_as_a_mask():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(300, 3))
    y = emb[:, 0] * 2
    test = np.zeros(300, dtype=bool)
    test[100:150] = True
    scores = decode(emb, y, method="linear", test=test)
    assert (scores["n_train"], scores["n_test"]) == (250, 50)
    assert scores["linear_r2"] > 0.99
    with pytest.raises(TypeError, match="boolean array of shape \\(300,\\)"):
        decode(emb, y, test=np.arange(300))
    with pytest.raises(ValueError, match="leaves 300 for training and 0 for testing"):
        decode(emb, y, test=np.zeros(300, dtype=bool))

import numpy as np
import pytest

from neuroembed.metrics import latent_recovery


def test_affine_transform_recovers_perfectly():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(500, 3))
    embedding = latent @ rng.normal(size=(3, 8)) + rng.normal(size=8)  # higher-dimensional image
    assert latent_recovery(embedding, latent) == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("multioutput", ["uniform_average", "variance_weighted"])
def test_matches_sklearn_reference(multioutput):
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(1)
    latent = rng.normal(size=(400, 2))
    embedding = np.tanh(latent @ rng.normal(size=(2, 4))) + 0.2 * rng.normal(size=(400, 4))
    prediction = LinearRegression().fit(embedding, latent).predict(embedding)
    expected = r2_score(latent, prediction, multioutput=multioutput)
    assert latent_recovery(embedding, latent, multioutput) == pytest.approx(expected, abs=1e-10)
    assert 0.3 < expected < 0.99


def test_unrelated_embedding_scores_about_zero_and_1d_latent_is_accepted():
    rng = np.random.default_rng(2)
    assert abs(latent_recovery(rng.normal(size=(3000, 2)), rng.normal(size=3000))) < 0.01


def test_bad_input():
    with pytest.raises(ValueError, match="samples"):
        latent_recovery(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match="NaN"):
        latent_recovery(np.full((10, 2), np.nan), np.zeros(10))
    with pytest.raises(ValueError, match="at least two"):
        latent_recovery(np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match="constant"):
        latent_recovery(np.random.default_rng(0).normal(size=(10, 2)), np.ones(10))

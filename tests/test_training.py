"""The estimator's training runs (neuroembed/_training.py): the divergence check."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from neuroembed import Estimator
from neuroembed._training import DIVERGENCE_FACTOR, warn_if_diverged

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    "losses, where",
    [
        ([6.0, 5.0, np.nan, 4.0], 2),
        ([6.0, 5.0, np.inf], 2),
        ([6.0, 3.0, -DIVERGENCE_FACTOR * 6.0 - 1.0, 2.0], 2),
        ([0.5, 0.4, DIVERGENCE_FACTOR + 1.0], 2),  # the limit is at least DIVERGENCE_FACTOR * 1
    ],
)
def test_a_run_whose_loss_blows_up_or_is_not_finite_warns(losses, where):
    with pytest.warns(ConvergenceWarning, match=f"iteration {10 + where} .*distance='cosine'"):
        warn_if_diverged("euclidean", 1e-3, np.array(losses), 10, stacklevel=1)


def test_a_run_that_stays_in_bounds_is_quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_diverged(
            "euclidean", 1e-3, np.array([6.0, -DIVERGENCE_FACTOR * 6.0, 1.0]), 0, stacklevel=1
        )
        warn_if_diverged("cosine", 1e-3, np.array([]), 0, stacklevel=1)


def test_a_cosine_run_is_told_only_to_lower_the_rate():
    with pytest.warns(ConvergenceWarning, match="lower learning_rate\\.$"):
        warn_if_diverged("cosine", 0.5, np.array([6.0, np.nan]), 0, stacklevel=1)


def test_a_diverging_euclidean_fit_warns_at_the_callers_line():
    """Unnormalised embeddings and an unbounded loss: a large rate sends them off, and the fit says so."""
    rng = np.random.default_rng(0)
    X = rng.poisson(2.0, (400, 6)).astype(np.float32)
    y = np.cumsum(rng.normal(0, 0.1, (400, 2)), 0).astype(np.float32)
    est = Estimator(
        model="offset5",
        distance="euclidean",
        learning_rate=0.5,
        max_iterations=60,
        batch_size=64,
        time_offset=2,
        device="cpu",
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning, match="distance='euclidean'") as record:
        est.fit(X, y)
    assert record[0].filename == __file__

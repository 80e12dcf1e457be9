"""attribution_auc against the Mann-Whitney count of correctly ordered (true, false) pairs, and bad input."""

import numpy as np
import pytest

from neuroembed.attribution import Attribution
from neuroembed.metrics import attribution_auc

pytestmark = pytest.mark.timeout(30)


def mann_whitney_auc(scores, labels):
    """Pairs (true, false) in which the true entry scores higher, ties counting one half, over all pairs."""
    scores, labels = np.ravel(scores), np.ravel(labels).astype(bool)
    count = 0.0
    for s_true in scores[labels]:
        for s_false in scores[~labels]:
            count += 1.0 if s_true > s_false else 0.5 if s_true == s_false else 0.0
    return count / (labels.sum() * (~labels).sum())


def test_by_hand():
    # |map| scores 0.9, 0.4 (true) against 0.5, 0.1, 0.4, 0.0 (false): of 8 pairs, 0.9 wins 4, 0.4 wins 2 and
    # ties 1 -> (4 + 2 + 0.5) / 8
    attribution = np.array([[0.9, -0.5, 0.1], [0.4, -0.4, 0.0]])
    truth = np.array([[True, False, False], [True, False, False]])
    assert attribution_auc(attribution, truth) == pytest.approx(6.5 / 8)
    assert attribution_auc(attribution, truth.astype(int)) == pytest.approx(6.5 / 8)


@pytest.mark.parametrize("seed", range(5))
def test_matches_the_pair_count(seed):
    rng = np.random.default_rng(seed)
    attribution = rng.normal(size=(4, 12)).round(1)  # rounded: ties happen
    truth = rng.random((4, 12)) < 0.3
    assert attribution_auc(attribution, truth) == pytest.approx(
        mann_whitney_auc(np.abs(attribution), truth)
    )
    neurons = rng.random(12) < 0.4
    by_max = attribution_auc(attribution, neurons)
    by_mean = attribution_auc(attribution, neurons, reduce="mean")
    assert by_max == pytest.approx(mann_whitney_auc(np.abs(attribution).max(0), neurons))
    assert by_mean == pytest.approx(mann_whitney_auc(np.abs(attribution).mean(0), neurons))
    # a 1-D map against a 1-D truth
    assert attribution_auc(attribution[0], neurons) == pytest.approx(
        mann_whitney_auc(np.abs(attribution[0]), neurons)
    )


def test_perfect_chance_and_reversed():
    truth = np.array([True, True, False, False])
    assert attribution_auc([3.0, -2.0, 1.0, 0.0], truth) == 1.0
    assert attribution_auc([0.0, 1.0, -2.0, 3.0], truth) == 0.0
    assert attribution_auc([1.0, 1.0, 1.0, 1.0], truth) == 0.5


def test_an_attribution_result_is_read_through_its_summary():
    summary = np.array([[0.9, 0.1], [0.2, 0.8]])
    result = Attribution(summary, np.zeros((3, 2, 2), np.float32))
    truth = np.eye(2, dtype=bool)
    assert attribution_auc(result, truth) == attribution_auc(summary, truth) == 1.0


def test_bad_input():
    attribution = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"does not match truth of shape \(3, 2\)"):
        attribution_auc(attribution, np.eye(3, 2, dtype=bool))
    with pytest.raises(ValueError, match=r"does not match truth of shape \(4,\)"):
        attribution_auc(attribution, [True, False, True, False])
    with pytest.raises(ValueError, match="true everywhere"):
        attribution_auc(attribution, np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="false everywhere"):
        attribution_auc(attribution, [False, False, False])
    with pytest.raises(ValueError, match="boolean"):
        attribution_auc(attribution, [[0, 2, 1], [0, 0, 1]])
    with pytest.raises(ValueError, match="NaN"):
        attribution_auc([[np.nan, 1.0, 0.0]], [[True, False, False]])
    with pytest.raises(ValueError, match="reduce='median'"):
        attribution_auc(attribution, [True, False, True], reduce="median")
    with pytest.raises(ValueError, match="output_dim, n_neurons"):
        attribution_auc(np.ones((2, 2, 2)), np.ones((2, 2, 2), bool))
    with pytest.raises(TypeError, match="truth"):
        attribution_auc(attribution, None)

import math

import numpy as np
import pytest

from neuroembed.metrics import goodness_of_fit, goodness_of_fit_history, infonce_to_bits


class FakeEstimator:
    """Stands in for a fitted neuroembed.Estimator: score() is the negative mean InfoNCE loss."""

    def __init__(self, loss, num_negatives=512, history=None, criterion="infonce"):
        self.loss = loss
        self.num_negatives_ = num_negatives
        self.loss_history_ = np.asarray(history if history is not None else [loss])
        self.criterion = criterion
        self.calls = []

    def score(self, X, y=None, session=None):
        self.calls.append((np.shape(X), None if y is None else np.shape(y), session))
        return -self.loss


@pytest.mark.parametrize("k", [1, 2, 64, 512, 4096])
def test_untrained_model_is_at_zero_bits(k):
    assert infonce_to_bits(math.log(k), k) == pytest.approx(0.0, abs=1e-12)


def test_formula_on_floats_and_arrays():
    assert infonce_to_bits(math.log(8) - math.log(2) * 3, 8) == pytest.approx(3.0)
    losses = np.array([[math.log(16), 0.0], [math.log(4), -1.0]])
    bits = infonce_to_bits(losses, 16)
    assert isinstance(bits, np.ndarray) and bits.shape == (2, 2)
    np.testing.assert_allclose(bits, (np.log(16) - losses) / np.log(2))
    assert isinstance(infonce_to_bits(np.float32(1.0), 16), float)
    # a perfect model on a batch of K negatives scores log2(K) bits when its loss reaches zero... and more when negative
    assert infonce_to_bits(0.0, 1024) == pytest.approx(10.0)


def test_goodness_of_fit_of_an_estimator():
    X, y = np.zeros((1000, 3)), np.zeros(1000)
    at_chance = FakeEstimator(loss=math.log(512))
    assert goodness_of_fit(at_chance, X) == pytest.approx(0.0, abs=1e-12)
    assert at_chance.calls == [((1000, 3), None, None)]
    good = FakeEstimator(loss=math.log(512) - 2 * math.log(2))
    assert goodness_of_fit(good, X, y, session=1) == pytest.approx(2.0)
    assert good.calls == [((1000, 3), (1000,), 1)]


def test_short_data_use_the_negatives_score_can_draw():
    est = FakeEstimator(loss=math.log(91), num_negatives=512)
    est.receptive_field_ = 10
    assert goodness_of_fit(est, np.zeros((100, 2))) == pytest.approx(0.0, abs=1e-12)  # 91 windows
    # the same recording as nested lists (no .shape): K is still the 91 windows, not num_negatives_
    assert goodness_of_fit(est, np.zeros((100, 2)).tolist()) == pytest.approx(0.0, abs=1e-12)


def test_history():
    losses = np.array([math.log(64), math.log(64) - math.log(2), math.log(64) - 3 * math.log(2)])
    np.testing.assert_allclose(goodness_of_fit_history(losses, num_negatives=64), [0.0, 1.0, 3.0])
    est = FakeEstimator(loss=0.0, num_negatives=64, history=losses)
    np.testing.assert_allclose(goodness_of_fit_history(est), [0.0, 1.0, 3.0])
    np.testing.assert_allclose(
        goodness_of_fit_history(est, num_negatives=8), (np.log(8) - losses) / np.log(2)
    )


def test_bad_input():
    with pytest.raises(TypeError, match="score"):
        goodness_of_fit(object(), np.zeros((5, 2)))
    unfitted = FakeEstimator(loss=1.0)
    del unfitted.num_negatives_
    with pytest.raises(ValueError, match="num_negatives_"):
        goodness_of_fit(unfitted, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="supcon"):
        goodness_of_fit(FakeEstimator(loss=1.0, criterion="supcon"), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="finite"):
        goodness_of_fit(FakeEstimator(loss=float("nan")), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="num_negatives is required"):
        goodness_of_fit_history([1.0, 2.0])
    with pytest.raises(ValueError, match="1-D"):
        goodness_of_fit_history(np.zeros((2, 2)), num_negatives=4)
    with pytest.raises(ValueError):
        infonce_to_bits(1.0, 0)
    with pytest.raises(TypeError):
        infonce_to_bits("1.0", 4)


@pytest.mark.timeout(120)
def test_with_the_real_estimator_if_available():
    ne_estimator = pytest.importorskip("neuroembed.estimator")
    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(300, 6)).astype(np.float32)
    est = ne_estimator.Estimator(
        model="offset1",
        output_dimension=3,
        batch_size=64,
        max_iterations=2,
        conditional="time",
        time_offset=1,
        random_state=0,
        device="cpu",
    ).fit(X)
    bits = goodness_of_fit(est, X)
    assert math.isfinite(bits) and abs(bits) < 2.0  # two steps from random init: close to chance
    history = goodness_of_fit_history(est)
    assert history.shape == (2,)
    np.testing.assert_allclose(
        history, (np.log(est.num_negatives_) - est.loss_history_) / np.log(2)
    )


def test_metrics_do_not_import_upper_floors():
    import ast
    from pathlib import Path

    import neuroembed.metrics as package

    for path in Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        upper = ("neuroembed.estimator", "neuroembed.ssl", "neuroembed.batch", "neuroembed.cli")
        assert not any(m.startswith(upper) for m in imported), path.name

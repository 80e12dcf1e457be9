"""A user's own encoder class as ``model=``: its declared receptive field is checked, and it saves and loads."""

import numpy as np
import pytest
import torch
from torch import nn

from neuroembed import Estimator
from neuroembed.models import ConvEncoder

pytestmark = pytest.mark.timeout(120)


class TwoLayer(nn.Module):
    """Kernel-3 then kernel-4 convolutions: a receptive field of 6."""

    receptive_field = 6

    def __init__(self, n_inputs, n_hidden, output_dimension, *, normalize=True):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(n_inputs, n_hidden, 3), nn.GELU(), nn.Conv1d(n_hidden, output_dimension, 4)
        )

    def forward(self, x):
        return self.net(x)


class WrongField(TwoLayer):
    receptive_field = 5


class Padded(TwoLayer):
    """Same-length output (padding): one output row depends on neighbours it does not count."""

    receptive_field = 1

    def __init__(self, n_inputs, n_hidden, output_dimension, *, normalize=True):
        super().__init__(n_inputs, n_hidden, output_dimension)
        self.net = nn.Conv1d(n_inputs, output_dimension, 3, padding=1)


class WideConv(ConvEncoder):
    """A ConvEncoder subclass: multi-session and the fast paths."""

    def __init__(self, n_inputs, n_hidden=32, output_dimension=8, *, normalize=True):
        super().__init__(n_inputs, n_hidden, output_dimension, n_residual=2, normalize=normalize)


class NoField(nn.Module):
    def __init__(self, n_inputs, n_hidden, output_dimension, *, normalize=True):
        super().__init__()
        self.conv = nn.Conv1d(n_inputs, output_dimension, 2)

    def forward(self, x):
        return self.conv(x)


def _data(n=400, neurons=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(1.0, (n, neurons)).astype(np.float32)
    y = np.cumsum(rng.normal(0, 0.1, (n, 1)), 0).astype(np.float32)
    return X, y


def _est(model, **kw):
    return Estimator(
        model=model,
        batch_size=32,
        time_offset=2,
        max_iterations=5,
        device="cpu",
        random_state=0,
        **kw,
    )


def test_a_custom_module_fits_transforms_and_scores():
    X, y = _data()
    est = _est(TwoLayer).fit(X, y)
    assert est.receptive_field_ == 6
    Z = est.transform(X)
    assert Z.shape == (400, 8)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)
    assert np.isfinite(est.score(X, y))
    assert est.loss_history_.shape == (5,) and np.isfinite(est.loss_history_).all()


class DoublePrecision(TwoLayer):
    """A module in float64: the float32 recording is given to it in its own precision."""

    def __init__(self, n_inputs, n_hidden, output_dimension, *, normalize=True):
        super().__init__(n_inputs, n_hidden, output_dimension)
        self.double()


def test_a_float64_module_fits_and_transforms():
    X, y = _data()
    est = _est(DoublePrecision).fit(X, y)
    assert next(est.encoder_.module.parameters()).dtype == torch.float64
    Z = est.transform(X)
    assert Z.dtype == np.float32 and Z.shape == (400, 8) and np.isfinite(Z).all()
    with torch.no_grad():
        window = torch.from_numpy(X[100 - 3 : 100 + 3].T[None]).double()
        want = torch.nn.functional.normalize(est.encoder_.module(window), dim=1)[0, :, 0].numpy()
    np.testing.assert_allclose(Z[100], want, rtol=1e-5, atol=1e-6)


def test_the_embedding_of_a_custom_module_is_its_forward_on_each_window():
    X, y = _data()
    est = _est(TwoLayer).fit(X, y)
    module = est.encoder_.module
    with torch.no_grad():
        window = torch.from_numpy(
            X[100 - 3 : 100 + 3].T[None]
        )  # R = 6: 3 samples before, 3 from t on
        want = torch.nn.functional.normalize(module(window), dim=1)[0, :, 0].numpy()
    np.testing.assert_allclose(est.transform(X)[100], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls,declared,measured", [(WrongField, 5, 6), (Padded, 1, 2)])
def test_a_wrong_declared_receptive_field_names_both_numbers(cls, declared, measured):
    X, y = _data()
    with pytest.raises(
        ValueError,
        match=rf"declares receptive_field={declared}, but a probe measured {measured}",
    ):
        _est(cls).fit(X, y)


def test_a_module_without_a_receptive_field_is_refused():
    X, y = _data()
    with pytest.raises(TypeError, match="must declare its receptive field"):
        _est(NoField).fit(X, y)


def test_a_custom_model_loads_only_when_allowed(tmp_path):
    X, y = _data()
    est = _est(TwoLayer).fit(X, y)
    est.save(tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"custom model class, .*TwoLayer.*allow_custom=True"):
        Estimator.load(tmp_path / "m.pt", device="cpu")
    loaded = Estimator.load(tmp_path / "m.pt", device="cpu", allow_custom=True)
    assert loaded.model is TwoLayer
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_a_conv_encoder_subclass_trains_several_sessions_and_adapts(tmp_path):
    X1, y1 = _data(400, 6, 1)
    X2, y2 = _data(300, 9, 2)
    est = _est(WideConv).fit([X1, X2], [y1, y2])
    assert est.receptive_field_ == 2 + 4 + 2
    est.adapt(*_data(300, 4, 3), iterations=3)
    est.save(tmp_path / "m.pt")
    loaded = Estimator.load(tmp_path / "m.pt", device="cpu", allow_custom=True)
    np.testing.assert_array_equal(loaded.transform(X2, session=1), est.transform(X2, session=1))


def test_a_plain_module_trains_one_session_only_and_does_not_adapt():
    X, y = _data()
    with pytest.raises(ValueError, match="no separate input layer"):
        _est(TwoLayer).fit([X, X], [y, y])
    est = _est(TwoLayer).fit(X, y)
    with pytest.raises(ValueError, match="has none"):
        est.adapt(X, y)


def test_a_class_defined_in_a_function_cannot_be_saved(tmp_path):
    class Local(TwoLayer):
        pass

    X, y = _data()
    est = _est(Local).fit(X, y)
    with pytest.raises(ValueError, match="defined inside a function"):
        est.save(tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_a_model_that_is_neither_a_name_nor_a_module_class_names_both_kinds():
    X, y = _data()
    with pytest.raises(
        TypeError, match=r"model=dict is a class but not a torch.nn.Module subclass"
    ):
        _est(dict).fit(X, y)
    with pytest.raises(
        ValueError, match=r"model='offset7' is not supported; .*your own torch.nn.Module"
    ):
        _est("offset7").fit(X, y)


def test_a_model_instance_is_asked_for_its_class():
    X, y = _data()
    with pytest.raises(
        TypeError, match=r"model is an instance of Linear; pass the class itself \(model=Linear\)"
    ):
        _est(torch.nn.Linear(6, 8)).fit(X, y)

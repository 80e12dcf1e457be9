"""The shared scikit-learn face of the image methods: validation, seeds, budgets, clone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from neuroembed.models.image import ImageCNN
from neuroembed.ssl import (
    BYOL,
    CLIP,
    DINO,
    IBOT,
    AutoEncoder,
    MoCo,
    MultiCrop,
    SimCLR,
    SimSiam,
    SupCon,
    Triplet,
    check_images,
)

ALL = [SimCLR, MoCo, BYOL, SimSiam, DINO, IBOT, CLIP, SupCon, Triplet, AutoEncoder]


def tiny(cls, **extra):
    """A few-step, tiny-network configuration of ``cls``."""
    params = {"output_dimension": 8, "batch_size": 8, "max_iterations": 4, "random_state": 0}
    if cls is IBOT:
        params.update(head_dimension=16, hidden_dimension=16, bottleneck_dimension=8)
    else:
        torch.manual_seed(0)  # a passed backbone starts from its own weights
        params["backbone"] = ImageCNN(1, 8, width=4, n_stages=2)
    if cls is DINO:
        params.update(head_dimension=16, hidden_dimension=16, bottleneck_dimension=8)
        params["augmentation"] = MultiCrop(n_local=1, local_size=6)
    if cls is IBOT:
        params["augmentation"] = MultiCrop(n_local=1, local_size=6)
    if cls is MoCo:
        params["queue_size"] = 32
    params.update(extra)
    return cls(**params)


def fit(model, X, y):
    if isinstance(model, CLIP):
        return model.fit(X, np.eye(10, dtype=np.float32)[y])
    if isinstance(model, (SupCon, Triplet)):
        return model.fit(X, y)
    return model.fit(X)


@pytest.mark.parametrize("cls", ALL)
def test_contract_clone_params_and_fitted_attributes(cls, digits):
    X, y = digits
    model = tiny(cls)
    params = model.get_params()
    assert params["random_state"] == 0 and params["max_iterations"] == 4
    copy = clone(model)
    assert copy.get_params().keys() == params.keys()
    assert not hasattr(copy, "backbone_")
    with pytest.raises(NotFittedError):
        copy.transform(X[:2])
    assert fit(model, X[:32], y[:32]) is model
    for name in (
        "backbone_",
        "module_",
        "loss_history_",
        "n_iterations_",
        "images_per_second_",
        "image_shape_",
    ):
        assert hasattr(model, name), name
    assert model.n_iterations_ == 4 and model.loss_history_.shape == (4,)
    assert model.images_per_second_ > 0
    assert model.image_shape_ == (1, 8, 8)
    assert model.get_feature_names_out().tolist() == [
        f"{cls.__name__.lower()}{i}" for i in range(8)
    ]
    # the constructor arguments are left as given (a passed backbone is copied, not trained)
    assert model.get_params()["max_iterations"] == 4
    if isinstance(params["backbone"], torch.nn.Module):
        assert params["backbone"] is model.backbone and model.backbone_ is not model.backbone


@pytest.mark.parametrize("cls", ALL)
def test_same_seed_same_embedding_different_seed_different(cls, digits):
    X, y = digits
    a = fit(tiny(cls), X[:32], y[:32])
    b = fit(tiny(cls), X[:32], y[:32])
    c = fit(tiny(cls, random_state=1), X[:32], y[:32])
    np.testing.assert_array_equal(a.loss_history_, b.loss_history_)
    np.testing.assert_array_equal(a.transform(X[:16]), b.transform(X[:16]))
    assert not np.array_equal(a.transform(X[:16]), c.transform(X[:16]))


def test_passed_backbone_weights_are_not_trained(digits):
    X, _ = digits
    net = ImageCNN(1, 8, width=4, n_stages=2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    model = SimCLR(
        backbone=net, output_dimension=8, batch_size=8, max_iterations=3, random_state=0
    ).fit(X[:16])
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert not torch.equal(model.backbone_.fc.weight, net.fc.weight)


def test_passed_backbone_must_match_output_dimension(digits):
    X, _ = digits
    with pytest.raises(ValueError, match=r"expected shape \(2, output_dimension=16\)"):
        SimCLR(backbone=ImageCNN(1, 8), output_dimension=16, max_iterations=1).fit(X[:8])
    with pytest.raises(ValueError, match="failed on images of shape"):
        SimCLR(backbone=ImageCNN(3, 8), output_dimension=8, max_iterations=1).fit(X[:8])


def test_uint8_images_are_scaled(digits):
    X, _ = digits
    as_uint8 = np.round(X[:16] * 255).astype(np.uint8)
    a = tiny(SimCLR).fit(as_uint8)
    b = tiny(SimCLR).fit(as_uint8.astype(np.float32) / 255)
    np.testing.assert_array_equal(a.loss_history_, b.loss_history_)
    np.testing.assert_allclose(
        a.transform(as_uint8), b.transform(as_uint8.astype(np.float32) / 255)
    )


def test_transform_is_batched_and_matches_eval_forward(digits):
    X, _ = digits
    model = tiny(SimCLR).fit(X[:16])
    Z = model.transform(X)
    with torch.no_grad():
        ref = model.backbone_.eval()(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(Z, ref, atol=1e-5)
    assert model.fit_transform(X[:16]).shape == (16, 8)


def test_wall_clock_budget_stops_training(digits):
    X, _ = digits
    model = tiny(SimCLR, max_iterations=100_000, max_seconds=0.5).fit(X[:32])
    assert 1 <= model.n_iterations_ < 100_000
    assert model.loss_history_.shape == (model.n_iterations_,)
    assert model.training_seconds_ < 10


def test_verbose_progress_bar(digits, capsys):
    X, _ = digits
    tiny(SimCLR, verbose=True, max_iterations=2).fit(X[:16])
    assert "SimCLR" in capsys.readouterr().err
    tiny(SimCLR, max_iterations=2).fit(X[:16])
    assert "SimCLR" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.zeros((8, 8, 8)), ValueError, r"4-D images.*X\[:, None\]"),
        (np.zeros((8, 64)), ValueError, r"reshape\(-1, 1, 8, 8\)"),
        (
            np.full((4, 1, 8, 8), 16.0),
            ValueError,
            r"values from 16 to 16; expected images as uint8",
        ),
        (np.full((4, 1, 8, 8), -0.5), ValueError, "Rescale them"),
        (np.full((4, 1, 8, 8), np.nan), ValueError, "NaN or infinite"),
        (np.zeros((1, 1, 8, 8)), ValueError, "at least 2 are needed"),
        (np.zeros((4, 1, 0, 8)), ValueError, "empty image dimension"),
        (
            np.zeros((4, 8, 8, 3)),
            ValueError,
            r"channels-last .*\(4, 8, 8, 3\).*transpose\(0, 3, 1, 2\)",
        ),
        (np.zeros((4, 28, 28, 1), np.uint8), ValueError, "channels-last"),
        ("images", TypeError, "array of numbers"),
        (np.array([["a"]]), TypeError, "real numbers"),
    ],
)
def test_bad_images_are_rejected_clearly(X, error, match):
    with pytest.raises(error, match=match):
        SimCLR(max_iterations=1).fit(X)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"backbone": "mlp"}, ValueError, r"backbone='mlp' is not supported; choose one of"),
        ({"batch_size": 1}, ValueError, "batch_size must be an integer >= 2"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate must be a finite number > 0"),
        ({"max_iterations": 0}, ValueError, "max_iterations"),
        ({"max_seconds": 0}, ValueError, "max_seconds"),
        ({"output_dimension": 2.5}, TypeError, "output_dimension must be an integer"),
        ({"temperature": 0.0}, ValueError, "temperature"),
        ({"augmentation": "strong"}, TypeError, "augmentation must be a neuroembed.ssl.Augment"),
        ({"device": "tpu"}, ValueError, "device"),
        ({"random_state": "seed"}, TypeError, "random_state"),
    ],
)
def test_bad_hyperparameters_are_rejected_in_fit(params, error, match, digits):
    X, _ = digits
    model = SimCLR(**{"max_iterations": 1, **params})  # constructing never raises
    with pytest.raises(error, match=match):
        model.fit(X[:8])


def test_transform_checks_image_size(digits):
    X, _ = digits
    model = tiny(SimCLR).fit(X[:16])
    with pytest.raises(ValueError, match=r"shape \(1, 7, 8\).*fitted on \(1, 8, 8\)"):
        model.transform(X[:4, :, :7])


def test_check_images():
    out = check_images(np.array([[[[0, 255]]]], dtype=np.uint8).repeat(2, 0))
    assert out.dtype == np.float32 and out.max() == 1.0 and out.min() == 0.0
    assert check_images(np.ones((2, 1, 2, 2), dtype=bool)).max() == 1.0
    assert check_images(torch.rand(2, 3, 4, 4)).shape == (2, 3, 4, 4)


def test_check_images_takes_channels_first_images_of_any_size():
    """Only a last axis of 1, 3 or 4 beside a second of another size reads as channels-last."""
    for shape in [(2, 1, 1, 1), (2, 3, 5, 3), (2, 4, 9, 1), (2, 8, 16, 16), (2, 1, 7, 4)]:
        assert check_images(np.zeros(shape)).shape == shape
    with pytest.raises(ValueError, match="channels-last"):
        check_images(np.zeros((2, 32, 32, 4)))

"""Property-based checks of every loss: finite inputs give a finite loss and finite gradients.

Inputs are drawn by hypothesis over shapes, float32 / float64, magnitudes from 0 and subnormal numbers to 1e30,
and degenerate layouts (every row the same vector, anchor equal to positive, one class). Scale-invariant losses
(cosine similarity, softmax over normalised logits) must stay finite over the whole float32 range used here;
losses whose value grows with the scale of the input (euclidean distances, squared errors, unnormalised Gram
matrices) are checked up to the magnitude where their true value is still representable in float32, and the
euclidean InfoNCE beyond it is recorded as a known defect (it returns NaN where the true value is finite).

A second group feeds random, possibly inconsistent shapes: the only exceptions allowed are ValueError/TypeError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import neuroembed.losses as L

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# magnitudes of the inputs; 1e-40 is subnormal in float32
MAGNITUDES = [0.0, 1e-40, 1e-30, 1e-6, 1.0, 1e3, 1e9, 1e15, 1e30]


def _dino(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    loss = L.DINOLoss(output_dim=student.shape[-1], center_momentum=0.5).to(student.dtype)
    first = loss(student, teacher)
    return first + loss(student, teacher)  # the second call uses the updated centre


def _bce(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return L.reconstruction_loss(reconstruction, torch.sigmoid(target.detach()), kind="bce")


# name: (loss(*tensors, labels), shapes(n, d) of the float inputs, needs labels, largest magnitude)
LOSSES: dict[str, tuple[Callable[..., torch.Tensor], Callable[[int, int], list[tuple[int, ...]]], bool, float]] = {
    "info_nce cosine": (lambda a, p, n: L.info_nce(a, p, n, 0.1), lambda n, d: [(n, d), (n, d), (n + 3, d)], False, 1e30),
    "info_nce cosine, positive in denominator": (lambda a, p, n: L.info_nce(a, p, n, 0.5, positive_in_denominator=True), lambda n, d: [(n, d), (n, d), (n, 2, d)], False, 1e30),
    "info_nce euclidean": (lambda a, p, n: L.info_nce(a, p, n, 1.0, "euclidean"), lambda n, d: [(n, d), (n, d), (n + 3, d)], False, 1e9),
    "InfoNCE learnable": (lambda a, p, n: L.InfoNCE(temperature=0.5, learnable=True).to(a.dtype)(a, p, n), lambda n, d: [(n, d), (n, d), (n, d)], False, 1e30),
    "supcon cosine": (lambda f, y: L.supcon(f, y, 0.1), lambda n, d: [(n, d)], True, 1e30),
    "supcon two views": (lambda f, y: L.supcon(f, y, 0.1), lambda n, d: [(n, 2, d)], True, 1e30),
    "supcon euclidean": (lambda f, y: L.supcon(f, y, 1.0, "euclidean"), lambda n, d: [(n, d)], True, 1e9),
    "nt_xent": (lambda a, b: L.nt_xent(a, b, 0.5), lambda n, d: [(n, d), (n, d)], False, 1e30),
    "triplet_margin batch_hard": (lambda e, y: L.triplet_margin(e, y, 0.2, "batch_hard"), lambda n, d: [(n, d)], True, 1e30),
    "triplet_margin semi_hard": (lambda e, y: L.triplet_margin(e, y, 0.2, "semi_hard"), lambda n, d: [(n, d)], True, 1e30),
    "triplet_margin all": (lambda e, y: L.triplet_margin(e, y, 0.2, "all"), lambda n, d: [(n, d)], True, 1e30),
    "clip_loss": (lambda a, b: L.clip_loss(a, b, 1.0 / 0.07), lambda n, d: [(n, d), (n, d)], False, 1e30),
    "byol_loss": (lambda p, z: L.byol_loss(p, z, stop_gradient=False), lambda n, d: [(n, d), (n, d)], False, 1e30),
    "negative_cosine": (lambda p, z: L.negative_cosine(p, z, stop_gradient=False), lambda n, d: [(n, d), (n, d)], False, 1e30),
    "DINOLoss": (_dino, lambda n, d: [(3, n, d), (2, n, d)], False, 1e30),
    "gram_loss": (lambda s, t: L.gram_loss(s, t), lambda n, d: [(2, n, d), (2, n, d + 1)], False, 1e30),
    "gram_loss unnormalised": (lambda s, t: L.gram_loss(s, t, normalize=False), lambda n, d: [(2, n, d), (2, n, d)], False, 1e4),
    "reconstruction_loss mse": (lambda r, t: L.reconstruction_loss(r, t), lambda n, d: [(n, d), (n, d)], False, 1e9),
    "reconstruction_loss l1": (lambda r, t: L.reconstruction_loss(r, t, kind="l1"), lambda n, d: [(n, d), (n, d)], False, 1e30),
    "reconstruction_loss bce": (_bce, lambda n, d: [(n, d), (n, d)], False, 1e30),
}  # fmt: skip


@st.composite
def loss_inputs(
    draw: Any, shapes: Callable[[int, int], list[tuple[int, ...]]], largest: float
) -> dict:
    """Finite tensors of the loss's shapes: random values, whole-array repeats, or one repeated row."""
    n = draw(st.integers(1, 10))
    d = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    magnitude = draw(st.sampled_from([m for m in MAGNITUDES if m <= largest]))
    layout = draw(
        st.sampled_from(["random", "identical rows", "all inputs equal", "hypothesis values"])
    )
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes(n, d):
        if layout == "hypothesis values":
            limit = float(dtype(largest))  # representable in the dtype, as hypothesis requires
            elements = st.floats(
                -limit, limit, width=32 if dtype == np.float32 else 64, allow_nan=False
            )
            x = draw(arrays(dtype, shape, elements=elements))
        else:
            x = (rng.standard_normal(shape) * magnitude).astype(dtype)
            if layout == "identical rows":
                x[...] = x.reshape(-1, shape[-1])[:1]
            elif layout == "all inputs equal" and out and out[0].shape == shape:
                x = out[0].copy()
        out.append(x)
    n_classes = draw(st.integers(1, 4))
    labels = rng.integers(0, n_classes, size=n)
    return {"arrays": out, "labels": labels, "magnitude": magnitude, "layout": layout}


def _finite_loss_and_gradients(
    loss_fn: Callable[..., torch.Tensor], inputs: dict, needs_labels: bool
) -> None:
    tensors = [torch.tensor(a, requires_grad=True) for a in inputs["arrays"]]
    args: list[Any] = list(tensors)
    if needs_labels:
        args.append(torch.as_tensor(inputs["labels"]))
    loss = loss_fn(*args)
    assert loss.ndim == 0
    assert torch.isfinite(loss), (
        f"loss {loss.item()} for {inputs['layout']} inputs of magnitude {inputs['magnitude']}"
    )
    loss.backward()
    for i, t in enumerate(tensors):
        if t.grad is not None:
            assert torch.isfinite(t.grad).all(), f"non-finite gradient of input {i}"


@pytest.mark.parametrize("name", list(LOSSES))
def test_finite_inputs_give_finite_loss_and_gradients(name):
    loss_fn, shapes, needs_labels, largest = LOSSES[name]

    @SETTINGS
    @given(inputs=loss_inputs(shapes, largest))
    def check(inputs):
        _finite_loss_and_gradients(loss_fn, inputs, needs_labels)

    check()


@pytest.mark.parametrize("name", ["info_nce euclidean", "supcon euclidean"])
def test_euclidean_losses_beyond_the_float32_range_of_squared_distances(name):
    loss_fn, shapes, needs_labels, _ = LOSSES[name]
    rng = np.random.default_rng(0)
    inputs = {
        "arrays": [(rng.standard_normal(s) * 1e20).astype(np.float32) for s in shapes(6, 3)],
        "labels": np.array([0, 0, 1, 1, 2, 2]),
        "magnitude": 1e20,
        "layout": "random",
    }
    loss = loss_fn(
        *[torch.tensor(a) for a in inputs["arrays"]],
        *([torch.as_tensor(inputs["labels"])] if needs_labels else []),
    )
    assert not torch.isnan(loss)


def test_identical_vectors_give_the_collapsed_value():
    # every vector the same: each anchor's positive and negatives are equally similar, so InfoNCE is log(K)
    z = torch.full((5, 3), 7.0)
    for magnitude in (1e-30, 1.0, 1e30):
        loss = L.info_nce(z * magnitude, z * magnitude, torch.full((9, 3), 7.0) * magnitude)
        assert loss.item() == pytest.approx(np.log(9), rel=1e-6)


# ------------------------------------------------------------------------------------------------------------
# random, possibly inconsistent shapes: ValueError / TypeError or a finite loss, nothing else
# ------------------------------------------------------------------------------------------------------------
SHAPE_CALLS: dict[str, tuple[Callable[..., torch.Tensor], int, bool]] = {
    "info_nce": (lambda a, b, c: L.info_nce(a, b, c), 3, False),
    "supcon": (lambda a, y: L.supcon(a, y), 1, True),
    "nt_xent": (lambda a, b: L.nt_xent(a, b), 2, False),
    "triplet_margin": (lambda a, y: L.triplet_margin(a, y), 1, True),
    "clip_loss": (lambda a, b: L.clip_loss(a, b), 2, False),
    "byol_loss": (lambda a, b: L.byol_loss(a, b), 2, False),
    "negative_cosine": (lambda a, b: L.negative_cosine(a, b), 2, False),
    "DINOLoss": (lambda a, b: L.DINOLoss(output_dim=4)(a, b), 2, False),
    "gram_loss": (lambda a, b: L.gram_loss(a, b), 2, False),
    "reconstruction_loss": (lambda a, b: L.reconstruction_loss(a, b), 2, False),
}

_shape = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)


@pytest.mark.parametrize("name", list(SHAPE_CALLS))
def test_any_shape_gives_a_finite_loss_or_a_clear_error(name):
    loss_fn, n_inputs, needs_labels = SHAPE_CALLS[name]

    @SETTINGS
    @given(
        shapes=st.lists(_shape, min_size=n_inputs, max_size=n_inputs),
        label_shape=_shape,
        dtype=st.sampled_from([torch.float32, torch.float64, torch.int64]),
    )
    def check(shapes, label_shape, dtype):
        tensors = [
            torch.ones(s, dtype=dtype) if s else torch.tensor(1.0, dtype=dtype) for s in shapes
        ]
        args = tensors + ([torch.zeros(label_shape, dtype=torch.int64)] if needs_labels else [])
        try:
            loss = loss_fn(*args)
        except (ValueError, TypeError) as err:
            assert str(err), "an error without a message"
            return
        assert loss.ndim == 0 and torch.isfinite(loss)

    check()

import math

import pytest
import torch

from neuroembed.losses import ReconstructionLoss, reconstruction_loss


def reference(x, y, kind, logits=True):
    values = []
    for a, b in zip(x.flatten().tolist(), y.flatten().tolist()):
        if kind == "mse":
            values.append((a - b) ** 2)
        elif kind == "l1":
            values.append(abs(a - b))
        else:
            p = 1 / (1 + math.exp(-a)) if logits else a
            values.append(-(b * math.log(p) + (1 - b) * math.log(1 - p)))
    return sum(values) / len(values)


@pytest.mark.parametrize("kind", ["mse", "l1", "bce"])
@pytest.mark.parametrize("shape", [(4,), (3, 5), (2, 3, 4)])
def test_matches_loop_reference(kind, shape):
    g = torch.Generator().manual_seed(len(shape))
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    y = torch.rand(shape, generator=g, dtype=torch.float64)
    assert reconstruction_loss(x, y, kind).item() == pytest.approx(reference(x, y, kind), rel=1e-10)


def test_bce_probabilities_and_stability():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(3, 4, generator=g, dtype=torch.float64) * 0.9 + 0.05
    y = (torch.rand(3, 4, generator=g) > 0.5).double()
    got = reconstruction_loss(p, y, "bce", logits=False)
    assert got.item() == pytest.approx(reference(p, y, "bce", logits=False), rel=1e-10)
    big = torch.tensor([[1e4, -1e4]], requires_grad=True)
    loss = reconstruction_loss(big, torch.tensor([[0.0, 1.0]]), "bce")
    loss.backward()
    assert torch.isfinite(loss) and loss.item() == pytest.approx(1e4)
    assert torch.isfinite(big.grad).all()


def test_perfect_reconstruction_is_zero():
    x = torch.randn(4, 3)
    assert reconstruction_loss(x, x).item() == 0.0
    assert reconstruction_loss(x, x, "l1").item() == 0.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(target=torch.zeros(3, 4)), ValueError, "same shape"),
        (dict(kind="huber"), ValueError, "kind='huber' is not supported"),
        (dict(target=torch.zeros(2, 3, dtype=torch.long)), TypeError, "floating-point"),
        (dict(reconstruction=[[0.0]]), TypeError, "reconstruction must be a torch.Tensor"),
        (dict(reconstruction=torch.zeros(0, 3), target=torch.zeros(0, 3)), ValueError, "empty"),
        (dict(kind="bce", target=torch.full((2, 3), 2.0)), ValueError, r"targets in \[0, 1\]"),
        (
            dict(kind="bce", logits=False, reconstruction=torch.full((2, 3), 1.5)),
            ValueError,
            "probabilities",
        ),
    ],
)
def test_bad_input_raises(kwargs, error, match):
    args = dict(reconstruction=torch.zeros(2, 3), target=torch.zeros(2, 3))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        reconstruction_loss(**args)


def test_module():
    x, y = torch.randn(2, 3), torch.rand(2, 3)
    for kind in ("mse", "l1", "bce"):
        torch.testing.assert_close(ReconstructionLoss(kind)(x, y), reconstruction_loss(x, y, kind))
    assert "kind='l1'" in repr(ReconstructionLoss("l1"))
    with pytest.raises(ValueError, match="kind"):
        ReconstructionLoss("nope")

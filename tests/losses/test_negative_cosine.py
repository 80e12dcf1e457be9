import pytest
import torch

from neuroembed.losses import BYOLLoss, NegativeCosine, byol_loss, negative_cosine, symmetric

from ._reference import cos, mean


def data(n=6, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, d, generator=g, dtype=torch.float64),
        torch.randn(n, d, generator=g, dtype=torch.float64),
    )


def test_match_loop_reference():
    p, z = data()
    want_simsiam = -mean([cos(a, b) for a, b in zip(p.tolist(), z.tolist())])
    want_byol = mean([2 - 2 * cos(a, b) for a, b in zip(p.tolist(), z.tolist())])
    assert negative_cosine(p, z).item() == pytest.approx(want_simsiam, rel=1e-12)
    assert byol_loss(p, z).item() == pytest.approx(want_byol, rel=1e-12)
    # BYOL's form is the squared distance of the normalised vectors
    pn, zn = torch.nn.functional.normalize(p, dim=1), torch.nn.functional.normalize(z, dim=1)
    torch.testing.assert_close(byol_loss(p, z), ((pn - zn) ** 2).sum(1).mean())


def test_closed_forms():
    x = torch.randn(5, 3)
    assert negative_cosine(x, 3 * x).item() == pytest.approx(-1.0, abs=1e-6)
    assert negative_cosine(x, -x).item() == pytest.approx(1.0, abs=1e-6)
    assert byol_loss(x, 2 * x).item() == pytest.approx(0.0, abs=1e-6)
    assert byol_loss(x, -x).item() == pytest.approx(4.0, abs=1e-6)


@pytest.mark.parametrize("loss", [negative_cosine, byol_loss])
def test_stop_gradient(loss):
    p, z = data()
    p.requires_grad_(True)
    z.requires_grad_(True)
    loss(p, z).backward()
    assert z.grad is None
    assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    p.grad = None
    loss(p, z, stop_gradient=False).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_gradcheck_and_zero_vector():
    p, z = data(n=3)
    p.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: negative_cosine(a, z), (p,))
    assert torch.autograd.gradcheck(lambda a: byol_loss(a, z), (p,))
    zero = torch.zeros(2, 3, requires_grad=True)
    negative_cosine(zero, torch.ones(2, 3)).backward()
    assert torch.isfinite(zero.grad).all()


def test_symmetric():
    p1, z1 = data(seed=1)
    p2, z2 = data(seed=2)
    mean_form = symmetric(negative_cosine, p1, p2, z1, z2)
    want = (negative_cosine(p1, z2) + negative_cosine(p2, z1)) / 2
    torch.testing.assert_close(mean_form, want)
    summed = symmetric(BYOLLoss(), p1, p2, z1, z2, reduction="sum")
    torch.testing.assert_close(summed, byol_loss(p1, z2) + byol_loss(p2, z1))
    with pytest.raises(ValueError, match="reduction"):
        symmetric(negative_cosine, p1, p2, z1, z2, reduction="max")


@pytest.mark.parametrize("loss", [negative_cosine, byol_loss])
@pytest.mark.parametrize(
    ("p", "z", "error", "match"),
    [
        (torch.zeros(3, 2), torch.zeros(4, 2), ValueError, "same shape"),
        (torch.zeros(3), torch.zeros(3), ValueError, "p must have shape"),
        (torch.zeros(3, 2), torch.zeros(3, 2, dtype=torch.long), TypeError, "floating-point"),
        (torch.zeros(3, 2), None, TypeError, "z must be a torch.Tensor"),
    ],
)
def test_bad_input_raises(loss, p, z, error, match):
    with pytest.raises(error, match=match):
        loss(p, z)


def test_modules():
    p, z = data()
    torch.testing.assert_close(NegativeCosine()(p, z), negative_cosine(p, z))
    torch.testing.assert_close(BYOLLoss()(p, z), byol_loss(p, z))
    p.requires_grad_(True)
    z.requires_grad_(True)
    NegativeCosine(stop_gradient=False)(p, z).backward()
    assert z.grad is not None
    assert "stop_gradient=True" in repr(BYOLLoss())

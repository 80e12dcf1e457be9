import math

import pytest
import torch

from neuroembed.losses import NTXent, nt_xent

from ._reference import cos, logsumexp, mean


def reference_nt_xent(z0, z1, temperature):
    z = z0.tolist() + z1.tolist()
    n = len(z0)
    losses = []
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        scores = [cos(z[i], z[j]) / temperature for j in range(2 * n) if j != i]
        losses.append(-cos(z[i], z[partner]) / temperature + logsumexp(scores))
    return mean(losses)


@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("temperature", [0.07, 0.5, 2.0])
def test_matches_loop_reference(n, temperature):
    g = torch.Generator().manual_seed(n)
    z0 = torch.randn(n, 4, generator=g, dtype=torch.float64)
    z1 = torch.randn(n, 4, generator=g, dtype=torch.float64)
    got = nt_xent(z0, z1, temperature)
    assert got.item() == pytest.approx(reference_nt_xent(z0, z1, temperature), rel=1e-10, abs=1e-12)


def test_symmetric_in_views():
    z0, z1 = torch.randn(6, 3), torch.randn(6, 3)
    torch.testing.assert_close(nt_xent(z0, z1), nt_xent(z1, z0))


def test_identical_orthogonal_views_closed_form():
    n, t = 4, 0.5
    z = torch.eye(n) * 3.0
    want = math.log(math.exp(1 / t) + 2 * n - 2) - 1 / t
    assert nt_xent(z, z, t).item() == pytest.approx(want, rel=1e-6)


def test_collapsed_gives_log_2n_minus_1():
    n = 5
    z = torch.ones(n, 3)
    assert nt_xent(z, z, 0.1).item() == pytest.approx(math.log(2 * n - 1), rel=1e-5)


def test_stable_and_gradcheck():
    z0 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    z1 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    loss = nt_xent(z0.float() * 100, z1.float(), 1e-4)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(z0.grad).all()
    assert torch.autograd.gradcheck(lambda a, b: nt_xent(a, b, 0.3), (z0, z1))


@pytest.mark.parametrize(
    ("z0", "z1", "t", "error", "match"),
    [
        (torch.zeros(3, 2), torch.zeros(4, 2), 0.5, ValueError, "same shape"),
        (torch.zeros(3, 2), torch.zeros(3, 5), 0.5, ValueError, "same shape"),
        (torch.zeros(3), torch.zeros(3), 0.5, ValueError, "z0 must have shape"),
        (torch.zeros(3, 2), torch.zeros(3, 2), 0.0, ValueError, "temperature"),
        (torch.zeros(3, 2), torch.zeros(3, 2), -1.0, ValueError, "temperature"),
        (torch.zeros(0, 2), torch.zeros(0, 2), 0.5, ValueError, "empty"),
        (torch.zeros(3, 2), "x", 0.5, TypeError, "z1 must be a torch.Tensor"),
    ],
)
def test_bad_input_raises(z0, z1, t, error, match):
    with pytest.raises(error, match=match):
        nt_xent(z0, z1, t)


def test_module():
    z0, z1 = torch.randn(3, 2), torch.randn(3, 2)
    torch.testing.assert_close(NTXent(0.2)(z0, z1), nt_xent(z0, z1, 0.2))
    assert "temperature=0.2" in repr(NTXent(0.2))
    with pytest.raises(ValueError, match="temperature"):
        NTXent(temperature=0.0)

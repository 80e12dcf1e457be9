import math

import pytest
import torch

from neuroembed.losses import CLIPLoss, clip_loss

from ._reference import cos, logsumexp, mean


def reference_clip(a, b, scale):
    a, b = a.tolist(), b.tolist()
    n = len(a)
    a_to_b = [
        -scale * cos(a[i], b[i]) + logsumexp([scale * cos(a[i], b[j]) for j in range(n)])
        for i in range(n)
    ]
    b_to_a = [
        -scale * cos(b[i], a[i]) + logsumexp([scale * cos(b[i], a[j]) for j in range(n)])
        for i in range(n)
    ]
    return (mean(a_to_b) + mean(b_to_a)) / 2


@pytest.mark.parametrize("scale", [1.0, 14.3, 100.0])
@pytest.mark.parametrize("n", [1, 3, 7])
def test_matches_loop_reference(scale, n):
    g = torch.Generator().manual_seed(n)
    a = torch.randn(n, 4, generator=g, dtype=torch.float64)
    b = torch.randn(n, 4, generator=g, dtype=torch.float64)
    assert clip_loss(a, b, scale).item() == pytest.approx(reference_clip(a, b, scale), rel=1e-10)


def test_symmetric_and_closed_forms():
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    torch.testing.assert_close(clip_loss(a, b), clip_loss(b, a))
    assert clip_loss(a[:1], b[:1]).item() == pytest.approx(0.0, abs=1e-6)  # one pair: log 1
    z = torch.ones(4, 3)
    assert clip_loss(z, z, 50.0).item() == pytest.approx(math.log(4), rel=1e-5)  # collapsed


def test_stable_and_gradients():
    a = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 3, dtype=torch.float64)
    scale = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, s: clip_loss(x, b, s), (a, scale))
    loss = clip_loss(a.float(), b.float(), 1e5)
    assert torch.isfinite(loss)


@pytest.mark.parametrize(
    ("a", "b", "scale", "error", "match"),
    [
        (torch.zeros(3, 2), torch.zeros(4, 2), 1.0, ValueError, "same shape"),
        (torch.zeros(3), torch.zeros(3), 1.0, ValueError, "a must have shape"),
        (torch.zeros(3, 2), torch.zeros(3, 2), 0.0, ValueError, "logit_scale"),
        (torch.zeros(3, 2), torch.zeros(3, 2), torch.tensor(-1.0), ValueError, "logit_scale"),
    ],
)
def test_bad_input_raises(a, b, scale, error, match):
    with pytest.raises(error, match=match):
        clip_loss(a, b, scale)


def test_module_learnable_scale():
    crit = CLIPLoss(temperature=0.07)
    (param,) = list(crit.parameters())
    assert param is crit.log_logit_scale
    assert crit.logit_scale == pytest.approx(1 / 0.07)
    assert crit.temperature == pytest.approx(0.07)
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    torch.testing.assert_close(crit(a, b), clip_loss(a, b, 1 / 0.07))
    crit(a, b).backward()
    assert param.grad is not None and param.grad.item() != 0.0
    with torch.no_grad():
        param.fill_(10.0)
    assert crit.logit_scale == pytest.approx(100.0)


def test_a_scale_pushed_past_the_bound_is_clamped_and_can_come_back():
    """open_clip's rule: the parameter itself is clamped to log(100), where its gradient still acts (a cap on
    exp(parameter) alone would leave it above the bound with a zero gradient for good)."""
    g = torch.Generator().manual_seed(0)
    # unrelated pairs: a lower scale is better
    a, b = torch.randn(16, 4, generator=g), torch.randn(16, 4, generator=g)
    crit = CLIPLoss(temperature=0.07)
    param = crit.log_logit_scale
    with torch.no_grad():
        param.fill_(10.0)  # as if an optimiser step had pushed it past log(100)
    crit.eval()
    # evaluation leaves the parameter alone; above the bound it has no gradient
    crit(a, b).backward()
    assert param.item() == 10.0 and param.grad.item() == 0.0
    crit.train()
    param.grad = None
    loss = crit(a, b)
    assert param.item() == pytest.approx(math.log(100.0))
    torch.testing.assert_close(loss, clip_loss(a, b, 100.0))
    loss.backward()
    assert param.grad.item() > 0.0
    torch.optim.SGD([param], lr=0.1).step()
    assert crit.logit_scale < 100.0


def test_module_fixed_and_validation():
    crit = CLIPLoss(temperature=0.5, learnable=False)
    assert list(crit.parameters()) == []
    assert crit.logit_scale == 2.0
    assert "learnable=False" in repr(crit)
    assert CLIPLoss(temperature=0.001, learnable=False).logit_scale == pytest.approx(1000.0)
    with pytest.raises(ValueError, match="max_logit_scale"):
        CLIPLoss(temperature=0.001)
    with pytest.raises(ValueError, match="temperature"):
        CLIPLoss(temperature=0.0)
    with pytest.raises(ValueError, match="max_logit_scale"):
        CLIPLoss(max_logit_scale=-1.0)


def test_clamp_after_the_step_instead_of_in_forward():
    """A training loop may clamp after each optimiser step (as ssl.CLIP does) and leave the forward alone."""
    a, b = torch.randn(8, 3), torch.randn(8, 3)
    crit = CLIPLoss(temperature=0.07)
    crit.clamp_in_forward = False
    with torch.no_grad():
        crit.log_logit_scale.fill_(10.0)
    crit(a, b)
    assert crit.log_logit_scale.item() == 10.0  # the forward left it (the scale used is capped)
    assert crit.clamp_() is crit and crit.log_logit_scale.item() == pytest.approx(math.log(100.0))
    assert CLIPLoss(temperature=0.5, learnable=False).clamp_().logit_scale == 2.0

"""The time-major trunk with its hand-written backward gives the module's own values and gradients."""

import pytest
import torch

from neuroembed.models import MODELS, make_encoder
from neuroembed.models.time_major import supports_time_major, trunk_time_major


def _grads(trunk, stem_out, run):
    for p in trunk.parameters():
        p.grad = None
    stem_out = stem_out.detach().clone().requires_grad_(True)
    out = run(stem_out)
    weights = torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).view_as(out)
    (out * weights).sum().backward()
    return out.detach(), stem_out.grad, [p.grad.clone() for p in trunk.parameters()]


@pytest.mark.parametrize("name", ["offset5", "offset10", "offset36"])
@pytest.mark.parametrize("normalize", [True, False])
def test_values_and_gradients_match_the_module(name, normalize):
    torch.manual_seed(0)
    encoder = MODELS[name](7, 16, 5, normalize=normalize).double()
    trunk = encoder.trunk
    assert supports_time_major(trunk)
    length = encoder.receptive_field - encoder.stem.kernel_size[0] + 1 + 3  # 4 outputs per window
    stem_out = torch.randn(length, 11, 16, dtype=torch.float64)

    def reference(h):  # the module's channels-last forward, through autograd
        return trunk.forward_channels_last(h.transpose(0, 1)).transpose(0, 1)

    want = _grads(trunk, stem_out, reference)
    got = _grads(trunk, stem_out, lambda h: trunk_time_major(trunk, h))
    assert got[0].shape == (4, 11, 5)
    torch.testing.assert_close(got[0], want[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got[1], want[1], rtol=1e-12, atol=1e-12)
    for g, w in zip(got[2], want[2]):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_gradcheck():
    torch.manual_seed(1)
    trunk = MODELS["offset10"](3, 4, 2).double().trunk
    stem_out = torch.randn(9, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h: trunk_time_major(trunk, h), (stem_out,))


def test_dense_trunks_are_not_supported():
    assert not supports_time_major(make_encoder("offset1", 3, 8, 2, normalize=True).trunk)

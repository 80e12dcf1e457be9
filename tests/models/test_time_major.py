"""The time-major trunk with its hand-written backward gives the module's own values and gradients, on every device
of ``tests/conftest.py``."""

import functools

import pytest
import torch

from neuroembed.models import MODELS, make_encoder
from neuroembed.models.time_major import (
    conv_time_major,
    supports_time_major,
    trunk_time_major,
    whole_shrink,
)


def _grads(trunk, stem_out, run):
    for p in trunk.parameters():
        p.grad = None
    stem_out = stem_out.detach().clone().requires_grad_(True)
    out = run(stem_out)
    weights = torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype, device=out.device).view_as(
        out
    )
    (out * weights).sum().backward()
    return out.detach(), stem_out.grad, [p.grad.clone() for p in trunk.parameters()]


@pytest.mark.parametrize("name", ["offset5", "offset10", "offset36", "dilated18", "dilated34"])
@pytest.mark.parametrize("normalize", [True, False])
def test_values_and_gradients_match_the_module(name, normalize, device):
    torch.manual_seed(0)
    encoder = MODELS[name](7, 16, 5, normalize=normalize).double().to(device)
    trunk = encoder.trunk
    assert supports_time_major(trunk)
    length = encoder.receptive_field - encoder.stem.kernel_size[0] + 1 + 3  # 4 outputs per window
    stem_out = torch.randn(length, 11, 16, dtype=torch.float64).to(device)

    def reference(h):  # the module's channels-last forward, through autograd
        return trunk.forward_channels_last(h.transpose(0, 1)).transpose(0, 1)

    want = _grads(trunk, stem_out, reference)
    got = _grads(trunk, stem_out, lambda h: trunk_time_major(trunk, h))
    assert got[0].shape == (4, 11, 5)
    torch.testing.assert_close(got[0], want[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got[1], want[1], rtol=1e-12, atol=1e-12)
    for g, w in zip(got[2], want[2]):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_gradcheck(device):
    torch.manual_seed(1)
    trunk = MODELS["offset10"](3, 4, 2).double().trunk.to(device)
    stem_out = torch.randn(9, 3, 4, dtype=torch.float64).to(device).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda h: trunk_time_major(trunk, h), (stem_out,))


def test_dense_trunks_are_not_supported():
    assert not supports_time_major(make_encoder("offset1", 3, 8, 2, normalize=True).trunk)


@pytest.mark.parametrize("name", ["offset5", "offset10", "offset36", "dilated18", "dilated34"])
def test_blocks_on_a_whole_recording_then_windows_match_the_module_per_window(name, device):
    # the GELU and the first n_whole blocks on one long sequence, then the windows cut out of it, equal the
    # module run on each window cut from the stem's output
    torch.manual_seed(2)
    encoder = MODELS[name](7, 16, 5).double().to(device)
    trunk = encoder.trunk
    length = encoder.receptive_field - encoder.stem.kernel_size[0] + 1 + 2  # 3 outputs per window
    sequence = torch.randn(60, 1, 16, dtype=torch.float64).to(device)
    start = torch.tensor([0, 5, 5, 17, 60 - length], device=device)  # a repeat and both ends
    time = torch.arange(length, device=device)
    windows = sequence[start[None, :] + time[:, None], 0]  # (length, n_windows, 16)

    def reference(h):  # h: the long sequence; autograd through the cut and the module
        cut = h[start[None, :] + time[:, None], 0]
        return trunk.forward_channels_last(cut.transpose(0, 1)).transpose(0, 1)

    want = _grads(trunk, sequence, reference)
    assert want[0].shape == (3, 5, 5) and windows.shape == (length, 5, 16)
    for n_whole in range(len(trunk.blocks) + 1):
        rows = start[None, :] + time[: length - whole_shrink(trunk, n_whole), None]
        run = functools.partial(trunk_time_major, trunk, rows=rows, n_whole=n_whole)
        got = _grads(trunk, sequence, run)
        torch.testing.assert_close(got[0], want[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(got[1], want[1], rtol=1e-12, atol=1e-12)
        for g, w in zip(got[2], want[2]):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_n_whole_out_of_range():
    trunk = MODELS["offset5"](3, 4, 2).trunk
    with pytest.raises(ValueError, match="n_whole must be between 0 and 1; got 2"):
        trunk_time_major(
            trunk, torch.randn(9, 1, 4), rows=torch.zeros(1, 1, dtype=torch.long), n_whole=2
        )


def test_gradcheck_dilated(device):
    torch.manual_seed(3)
    trunk = MODELS["dilated18"](3, 4, 2).double().trunk.to(device)
    stem_out = torch.randn(19, 2, 4, dtype=torch.float64).to(device).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda h: trunk_time_major(trunk, h), (stem_out,))


def test_whole_shrink_adds_the_blocks_dilations():
    trunk = MODELS["dilated34"](3, 4, 2).trunk
    assert [whole_shrink(trunk, n) for n in range(5)] == [0, 2, 6, 14, 30]
    assert whole_shrink(MODELS["offset10"](3, 4, 2).trunk, 2) == 4


@pytest.mark.parametrize("name", ["offset10", "dilated34"])
def test_a_frozen_trunk_passes_the_same_input_gradient_and_computes_no_weight_gradients(
    name, device
):
    torch.manual_seed(5)
    trunk = MODELS[name](3, 8, 4).double().trunk.to(device)
    stem_out = torch.randn(trunk_length(trunk) + 2, 5, 8, dtype=torch.float64).to(device)
    want = _grads(trunk, stem_out, lambda h: trunk_time_major(trunk, h))
    trunk.requires_grad_(False)
    for p in trunk.parameters():
        p.grad = None
    h = stem_out.clone().requires_grad_(True)
    out = trunk_time_major(trunk, h)
    weights = torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype, device=out.device)
    (out * weights.view_as(out)).sum().backward()
    torch.testing.assert_close(h.grad, want[1], rtol=1e-12, atol=1e-12)
    assert all(p.grad is None for p in trunk.parameters())


def trunk_length(trunk):
    """The input length of one output row: the blocks' shrink plus the output kernel."""
    return whole_shrink(trunk, len(trunk.blocks)) + trunk.out.kernel_size[0]


def _conv_reference(h, weight, bias, dilation):
    """``conv_time_major`` through ``F.conv1d`` on channels-first input (autograd's own backward)."""
    out = torch.nn.functional.conv1d(h.permute(1, 2, 0), weight, bias, dilation=dilation)
    return out.permute(2, 0, 1)


@pytest.mark.parametrize("kernel, dilation", [(1, 1), (2, 1), (3, 1), (3, 4)])
@pytest.mark.parametrize("c_in", [3, 130])
def test_conv_time_major_values_and_gradients_match_conv1d(kernel, dilation, c_in, device):
    # its own backward (the weight's gradient as grad.T @ h) against autograd through F.conv1d, in float64; a
    # first layer of many neurons (130) as well as a narrow one
    torch.manual_seed(7)
    h = torch.randn(dilation * (kernel - 1) + 5, 4, c_in, dtype=torch.float64, device=device)
    weight = torch.randn(6, c_in, kernel, dtype=torch.float64, device=device)
    bias = torch.randn(6, dtype=torch.float64, device=device)

    def grads(run):
        leaves = [t.detach().clone().requires_grad_(True) for t in (h, weight, bias)]
        out = run(*leaves, dilation)
        w = torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype, device=device)
        (out * w.view_as(out)).sum().backward()
        return [out.detach()] + [t.grad for t in leaves]

    got, want = grads(conv_time_major), grads(_conv_reference)
    assert got[0].shape == (5, 4, 6)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_conv_time_major_computes_only_the_gradients_asked_for(device):
    # data need no gradient (a first layer); a frozen layer's weight and bias get none
    torch.manual_seed(8)
    h = torch.randn(9, 3, 5, dtype=torch.float64, device=device)
    weight = torch.randn(4, 5, 2, dtype=torch.float64, device=device, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, device=device)
    conv_time_major(h, weight, bias).sum().backward()
    assert weight.grad is not None and bias.grad is None and h.grad is None
    h.requires_grad_(True)
    weight.grad = None
    weight.requires_grad_(False)
    conv_time_major(h, weight, bias).sum().backward()
    assert h.grad is not None and weight.grad is None


def test_conv_time_major_gradcheck(device):
    torch.manual_seed(9)
    h = torch.randn(8, 2, 3, dtype=torch.float64, device=device, requires_grad=True)
    weight = torch.randn(4, 3, 3, dtype=torch.float64, device=device, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: conv_time_major(a, b, c, 2), (h, weight, bias))

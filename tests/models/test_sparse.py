"""The first convolution over a sparse recording equals the dense convolution, in values and gradients."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from neuroembed.models.sparse import SparseRecording, conv_sparse_recording


def _spikes(n, channels, rate, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((n, channels), rate, dtype=dtype), generator=g)


def _dense_conv(x, weight, bias):
    # (n, in) -> (n - k + 1, out), torch's own Conv1d through autograd
    return F.conv1d(x.t()[None], weight, bias)[0].t()


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("rate", [0.05, 1.0])
def test_values_and_gradients_match_the_dense_convolution(k, rate):
    x = _spikes(40, 6, rate, seed=k)
    x[3] = 0.0  # an empty row, and an empty channel
    x[:, 2] = 0.0
    torch.manual_seed(k)
    weight = torch.randn(4, 6, k, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(40 - k + 1, 4, dtype=torch.float64)

    want = _dense_conv(x, weight, bias)
    want_grads = torch.autograd.grad(want, (weight, bias), grad_out)
    got = conv_sparse_recording(SparseRecording(x), weight, bias)
    got_grads = torch.autograd.grad(got, (weight, bias), grad_out)
    assert got.shape == (40 - k + 1, 4)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_float32_matches_to_rounding():
    x = _spikes(500, 30, 0.1, seed=0, dtype=torch.float32)
    weight = torch.randn(8, 30, 2, requires_grad=True)
    bias = torch.randn(8, requires_grad=True)
    got = conv_sparse_recording(SparseRecording(x), weight, bias)
    want = _dense_conv(x, weight, bias)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    got.sum().backward()
    grad_sparse = weight.grad.clone()
    weight.grad = None
    want.sum().backward()
    torch.testing.assert_close(grad_sparse, weight.grad, rtol=1e-5, atol=1e-4)


def test_gradcheck():
    x = _spikes(12, 3, 0.5, seed=3)
    weight = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(2, dtype=torch.float64, requires_grad=True)
    recording = SparseRecording(x)
    assert torch.autograd.gradcheck(
        lambda w, b: conv_sparse_recording(recording, w, b), (weight, bias)
    )


def test_only_the_gradients_asked_for():
    x = _spikes(20, 3, 0.5, seed=4)
    weight = torch.randn(2, 3, 2, dtype=torch.float64)
    bias = torch.randn(2, dtype=torch.float64, requires_grad=True)
    out = conv_sparse_recording(SparseRecording(x), weight, bias)
    (grad_bias,) = torch.autograd.grad(out.sum(), bias)
    torch.testing.assert_close(grad_bias, torch.full((2,), 19.0, dtype=torch.float64))


def test_recording_properties_and_no_warning():
    x = torch.tensor([[0.0, 2.0], [0.0, 0.0], [1.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "beta" warning on CSR tensors is not passed on
        recording = SparseRecording(x)
    assert recording.shape == (3, 2)
    assert recording.density == pytest.approx(2 / 6)
    assert SparseRecording.density_of(x) == pytest.approx(2 / 6)
    assert SparseRecording.density_of(torch.zeros(0, 3)) == 0.0


def test_bad_shapes():
    recording = SparseRecording(torch.eye(4))
    with pytest.raises(ValueError, match=r"weight must have shape \(out, 4, k\)"):
        conv_sparse_recording(recording, torch.zeros(2, 3, 2), torch.zeros(2))
    with pytest.raises(
        ValueError, match="kernel \\(5 samples\\) is longer than the recording \\(4 samples\\)"
    ):
        conv_sparse_recording(recording, torch.zeros(2, 4, 5), torch.zeros(2))
    with pytest.raises(ValueError, match="data must be 2-D"):
        SparseRecording(torch.zeros(3))


def test_scratch_buffers_are_reused_and_their_stale_contents_never_read():
    x = _spikes(30, 5, 0.3, seed=5)
    recording = SparseRecording(x)
    weight = torch.randn(3, 5, 2, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    conv_sparse_recording(recording, weight, bias).sum().backward()
    buffers = dict(recording._buffers)
    assert {name for name, _, _ in buffers} == {"output", "gradient"}
    for buffer in buffers.values():
        buffer.fill_(float("nan"))  # what a previous step left there must not matter
    weight.grad = bias.grad = None
    got = conv_sparse_recording(recording, weight, bias)
    got.sum().backward()
    assert all(recording._buffers[key] is buffers[key] for key in buffers)
    want = _dense_conv(x, weight, bias)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    grad_weight = weight.grad.clone()
    weight.grad = None
    want.sum().backward()
    torch.testing.assert_close(grad_weight, weight.grad, rtol=1e-12, atol=1e-12)

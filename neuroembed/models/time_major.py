"""The residual trunk of the conv encoders in time-major layout, with a hand-written backward pass.

Training embeds a few thousand short windows per step. In the channels-last layout ``(windows, length, channels)``
each kernel-``k`` convolution lays ``k`` shifted copies of its input side by side (im2col) for one matrix product,
and autograd's backward of those copies writes and sums ``k`` zero-padded gradients of the full input. In the
time-major layout ``(length, windows, channels)`` a shift in time is a contiguous block of rows, so

* a convolution is ``k`` accumulating matrix products on views of its input (no copies), and
* its input gradient is ``k`` matrix products accumulated in place into one buffer,

with the same products and the same number of multiply-adds. :func:`trunk_time_major` runs the trunk of a
:class:`~neuroembed.models.conv.ConvEncoder` that way (residual blocks ``x[1:-1] + GELU(conv_3(x))`` then the output
convolution, dilated blocks ``x[d:-d] + GELU(conv_3_dilation_d(x))`` alike); it saves only each block's input and
pre-activation for the backward pass, and gives the same values and gradients as the module's own forward (tested
against it in float64).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from neuroembed.models.conv import Trunk, _Residual, normalize_parts

__all__ = ["conv_time_major", "supports_time_major", "trunk_time_major", "whole_shrink"]

_gelu_backward = torch.ops.aten.gelu_backward


def supports_time_major(trunk: Trunk) -> bool:
    """Whether ``trunk`` is made of residual conv blocks (every ``offset-N`` with ``N > 1``, every ``dilated-N``)."""
    return len(trunk.blocks) > 0 and all(type(b) is _Residual for b in trunk.blocks)


def conv_time_major(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dilation: int = 1
) -> torch.Tensor:
    """A Conv1d ``(L, B, C_in) -> (L - d (k - 1), B, C_out)``: one accumulating product per kernel tap, on views of
    ``h``; the taps are ``dilation`` (``d``) rows apart.

    Differentiable: outside autocast through :class:`_ConvFunction`, whose backward does the products of
    :func:`_conv_backward` (the weight's gradient as ``grad.T @ h``, ``(C_out, C_in)``: the orientation autograd
    would pick, ``h.T @ grad``, ran at a third of the speed on one thread of an Intel Xeon for a first layer of 500
    neurons; ``benchmarks/README.md``); under autocast through autograd (``addmm``).
    """
    needs_grad = torch.is_grad_enabled() and (
        h.requires_grad or weight.requires_grad or bias.requires_grad
    )
    if needs_grad and not torch.is_autocast_enabled(h.device.type):
        return _ConvFunction.apply(h, weight, bias, int(dilation))
    return _conv_products(h, weight, bias, dilation)


def _conv_products(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dilation: int = 1
) -> torch.Tensor:
    """:func:`conv_time_major`'s forward products."""
    k, d = weight.shape[2], dilation
    length, batch, c_in = h.shape[0] - d * (k - 1), h.shape[1], h.shape[2]
    out = torch.addmm(bias, h[:length].reshape(-1, c_in), weight[:, :, 0].t())
    # in-place products do not take part in autocast: under it, accumulate out of place
    autocast = torch.is_autocast_enabled(h.device.type)
    for i in range(1, k):
        tap = (h[i * d : i * d + length].reshape(-1, c_in), weight[:, :, i].t())
        out = torch.addmm(out, *tap) if autocast else out.addmm_(*tap)
    return out.view(length, batch, -1)


class _ConvFunction(torch.autograd.Function):
    """:func:`conv_time_major` with the backward of :func:`_conv_backward` (gradients only where asked for)."""

    @staticmethod
    def forward(
        ctx, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dilation: int
    ) -> torch.Tensor:
        ctx.dilation = dilation
        ctx.save_for_backward(h, weight)
        return _conv_products(h, weight, bias, dilation)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        h, weight = ctx.saved_tensors
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        grad_h, grad_w, grad_b = _conv_backward(
            grad.contiguous(), h, weight, ctx.dilation, weights=need_w or need_b, inputs=need_h
        )
        return grad_h, grad_w if need_w else None, grad_b if need_b else None, None


def _conv_backward(
    grad: torch.Tensor,
    h: torch.Tensor,
    weight: torch.Tensor,
    dilation: int = 1,
    weights: bool = True,
    inputs: bool = True,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Gradients of :func:`conv_time_major` with respect to its input, weight and bias, given the output's gradient
    (those of the weight and bias ``None`` unless ``weights``: a frozen layer; the input's ``None`` unless
    ``inputs``: a first layer, whose input is the data)."""
    k, d = weight.shape[2], dilation
    length, c_in = grad.shape[0], h.shape[2]
    g = grad.reshape(-1, grad.shape[2])
    grad_weight = grad_bias = None
    if weights:
        grad_weight = torch.stack(
            [g.t() @ h[i * d : i * d + length].reshape(-1, c_in) for i in range(k)], 2
        )
        grad_bias = g.sum(0)
    if not inputs:
        return None, grad_weight, grad_bias
    grad_input = torch.empty_like(h)
    grad_input[length:].zero_()
    torch.mm(g, weight[:, :, 0], out=grad_input[:length].view(-1, c_in))
    for i in range(1, k):
        grad_input[i * d : i * d + length].view(-1, c_in).addmm_(g, weight[:, :, i])
    return grad_input, grad_weight, grad_bias


class _TrunkFunction(torch.autograd.Function):
    """GELU (unless ``activated``), residual blocks and output convolution on time-major input.

    With ``rows`` (``(length, n_windows)`` indices), the input is one long sequence ``(n, 1, C)`` (a whole
    recording): the GELU and the first ``n_whole`` blocks run on it, then the windows ``rows`` are gathered and
    the rest runs per window. ``dilations`` are the blocks' dilations. Parameters after them are
    ``w_0, b_0, ..., w_out, b_out``.
    """

    @staticmethod
    def forward(
        ctx,
        stem_out: torch.Tensor,
        activated: bool,
        rows: torch.Tensor | None,
        n_whole: int,
        dilations: tuple[int, ...],
        *params: torch.Tensor,
    ) -> torch.Tensor:
        weights, biases = params[0::2], params[1::2]
        h = stem_out if activated else F.gelu(stem_out)
        inputs, pre_activations = [], []
        for j in range(len(weights)):
            if rows is not None and j == n_whole:  # gather the windows from the long sequence
                ctx.long_shape = h.shape
                h = torch.index_select(h[:, 0], 0, rows.reshape(-1)).view(*rows.shape, -1)
            if j == len(weights) - 1:
                break
            d = dilations[j]
            pre = conv_time_major(h, weights[j], biases[j], d)
            inputs.append(h)
            pre_activations.append(pre)
            h = h[d:-d] + F.gelu(pre)
        inputs.append(h)
        ctx.activated, ctx.n_blocks, ctx.n_whole = activated, len(pre_activations), n_whole
        ctx.dilations = dilations
        ctx.gathered = rows is not None
        ctx.save_for_backward(stem_out, rows, *inputs, *pre_activations, *weights)
        return conv_time_major(h, weights[-1], biases[-1])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        n = ctx.n_blocks
        saved = ctx.saved_tensors
        stem_out, rows, inputs = saved[0], saved[1], saved[2 : n + 3]
        pre_activations, weights = saved[n + 3 : 2 * n + 3], saved[2 * n + 3 :]
        # a frozen trunk (adapting a new input layer) needs only the gradient of its input
        train = any(ctx.needs_input_grad[5:])
        grads: list[torch.Tensor | None] = []
        grad_h, grad_w, grad_b = _conv_backward(
            grad_out.contiguous(), inputs[-1], weights[-1], weights=train
        )
        grads[:0] = [grad_w, grad_b]
        for j in range(n, -1, -1):
            # scatter the windows' gradient back onto the long sequence
            if ctx.gathered and j == ctx.n_whole:
                length, channels = ctx.long_shape[0], ctx.long_shape[2]
                long = grad_h.new_zeros(length, channels)
                long.index_add_(0, rows.reshape(-1), grad_h.reshape(-1, channels))
                grad_h = long.view(ctx.long_shape)
            if j == 0:
                break
            d = ctx.dilations[j - 1]
            grad_pre = _gelu_backward(grad_h, pre_activations[j - 1])
            grad_in, grad_w, grad_b = _conv_backward(
                grad_pre, inputs[j - 1], weights[j - 1], d, weights=train
            )
            # the residual path (not "+=", which would copy the slice onto itself)
            grad_in[d:-d].add_(grad_h)
            grad_h = grad_in
            grads[:0] = [grad_w, grad_b]
        grad_stem = grad_h if ctx.activated else _gelu_backward(grad_h, stem_out)
        return (grad_stem, None, None, None, None, *grads)


def trunk_time_major(
    trunk: Trunk,
    stem_out: torch.Tensor,
    activated: bool = False,
    rows: torch.Tensor | None = None,
    n_whole: int = 1,
) -> torch.Tensor:
    """Apply ``trunk`` to the stem's output in time-major layout.

    Parameters
    ----------
    trunk : Trunk
        A trunk of residual blocks (see :func:`supports_time_major`).
    stem_out : Tensor of shape (length, n_windows, n_hidden), or (n_samples, 1, n_hidden) with ``rows``
        The first layer's output: per window, or over a whole recording.
    activated : bool
        ``stem_out`` has been through the trunk's first GELU already.
    rows : Tensor of shape (length - shrink, n_windows), optional
        With a whole recording as ``stem_out``: the GELU and the first ``n_whole`` residual blocks run on all of
        it (they commute with cutting out windows), then window ``w`` is made of the rows ``rows[:, w]`` of their
        output, and the rest of the trunk runs per window. ``shrink`` is what those blocks take off the length,
        ``2 * n_whole`` for undilated blocks (see :func:`whole_shrink`).
    n_whole : int
        Residual blocks to run on the whole recording (with ``rows`` only; at most the number of blocks).

    Returns
    -------
    Tensor of shape (length - receptive field of the trunk + 1, n_windows, output_dimension)
        L2-normalised over the last dimension when the trunk normalises.
    """
    if rows is not None and not 0 <= n_whole <= len(trunk.blocks):
        raise ValueError(f"n_whole must be between 0 and {len(trunk.blocks)}; got {n_whole}.")
    params = []
    for block in trunk.blocks:
        params += [block.conv.weight, block.conv.bias]
    params += [trunk.out.weight, trunk.out.bias]
    z = _TrunkFunction.apply(
        stem_out.contiguous(),
        bool(activated),
        rows,
        int(n_whole) if rows is not None else 0,
        tuple(block.dilation for block in trunk.blocks),
        *params,
    )
    return normalize_parts(z, -1, trunk.parts) if trunk.normalize else z


def whole_shrink(trunk: Trunk, n_whole: int) -> int:
    """Samples the first ``n_whole`` residual blocks of ``trunk`` take off a sequence's length."""
    return sum(block.shrink for block in trunk.blocks[:n_whole])

"""1D-convolutional encoders for neural time series (the ``offset-N`` family).

An ``offset-N`` encoder maps a window of ``N`` consecutive samples ``(n_neurons, N)`` to one embedding vector. It is
split into a *stem* (the first layer, which sees the neurons) and a *trunk* (everything after), so that several
recordings with different neuron counts can share one trunk (see :class:`MultiSessionEncoder`).

Architecture (following the description in Schneider, Lee & Mathis 2023): a kernel-2 convolution from the neurons to
``n_hidden`` channels, then residual blocks ``x[..., 1:-1] + GELU(conv_k3(x))``, then a final convolution to
``output_dimension`` channels, L2-normalised when the distance is cosine. ``offset1`` is the same with kernels of size 1,
i.e. an MLP applied to each sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Offset1",
    "Offset5",
    "Offset10",
    "Offset36",
    "ConvEncoder",
    "MultiSessionEncoder",
    "window_offsets",
]


def window_offsets(receptive_field: int) -> tuple[int, int]:
    """Samples taken before and after (exclusive) the sample an embedding belongs to.

    An encoder with receptive field ``R`` embeds sample ``t`` from the window ``[t - left, t + right)`` with
    ``left = R // 2`` and ``right = R - left``.

    Examples
    --------
    >>> window_offsets(10), window_offsets(5), window_offsets(1)
    ((5, 5), (2, 3), (0, 1))
    """
    left = receptive_field // 2
    return left, receptive_field - left


def conv_weight_matrix(conv: nn.Conv1d) -> torch.Tensor:
    """A Conv1d weight ``(out, in, k)`` as a matrix ``(out, k * in)`` for channels-last im2col input (k-major)."""
    out_channels, in_channels, k = conv.weight.shape
    return conv.weight.permute(0, 2, 1).reshape(out_channels, k * in_channels)


def conv_channels_last(h: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """Apply ``conv`` to channels-last input ``(B, L, C_in) -> (B, L - k + 1, C_out)`` as one matrix product.

    Equivalent to ``conv(h.transpose(1, 2)).transpose(1, 2)``, but the shifted copies of the input are laid side by
    side (im2col) and multiplied with the reshaped weight in a single GEMM, which on CPUs is markedly faster than a
    direct convolution over windows this short.
    """
    k = conv.kernel_size[0]
    length = h.shape[1] - k + 1
    cols = h if k == 1 else torch.cat([h[:, i : i + length] for i in range(k)], dim=-1)
    return F.linear(cols, conv_weight_matrix(conv), conv.bias)


class _Residual(nn.Module):
    """``x[..., 1:-1] + GELU(conv_3(x))``: a residual block that shortens the sequence by two."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., 1:-1] + F.gelu(self.conv(x))

    def forward_channels_last(self, h: torch.Tensor) -> torch.Tensor:
        return h[:, 1:-1] + F.gelu(conv_channels_last(h, self.conv))


class _Dense(nn.Module):
    """``GELU(conv_1(x))``: a per-sample dense layer."""

    def __init__(self, channels: int, out_channels: int | None = None) -> None:
        super().__init__()
        self.out_channels = channels if out_channels is None else out_channels
        self.conv = nn.Conv1d(channels, self.out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.conv(x))

    def forward_channels_last(self, h: torch.Tensor) -> torch.Tensor:
        return F.gelu(conv_channels_last(h, self.conv))


class Trunk(nn.Module):
    """Everything after the stem: GELU, hidden blocks, the output convolution, optional L2 normalisation.

    Works on channels-first ``(B, C, L)`` input (:meth:`forward`) and on channels-last ``(B, L, C)`` input
    (:meth:`forward_channels_last`, used for training and transform).
    """

    def __init__(
        self,
        blocks: list[nn.Module],
        n_hidden: int,
        output_dimension: int,
        last_kernel: int,
        normalize: bool,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Conv1d(n_hidden, output_dimension, kernel_size=last_kernel)
        self.normalize = normalize

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = F.gelu(h)
        for block in self.blocks:
            h = block(h)
        z = self.out(h)
        return F.normalize(z, dim=1) if self.normalize else z

    def forward_channels_last(self, h: torch.Tensor) -> torch.Tensor:
        h = F.gelu(h)
        for block in self.blocks:
            h = block.forward_channels_last(h)
        z = conv_channels_last(h, self.out)
        return F.normalize(z, dim=-1) if self.normalize else z


class ConvEncoder(nn.Module):
    """Convolutional encoder: ``(batch, n_inputs, length) -> (batch, output_dimension, length - R + 1)``.

    Parameters
    ----------
    n_inputs : int
        Number of neurons (input channels).
    n_hidden : int
        Channels of the hidden layers.
    output_dimension : int
        Size of the embedding.
    n_residual : int
        Number of kernel-3 residual blocks.
    first_kernel, last_kernel : int
        Kernel sizes of the first (stem) and last convolution.
    normalize : bool
        L2-normalise the output (for the cosine distance).

    Attributes
    ----------
    receptive_field : int
        Samples one output row depends on.
    stem : nn.Conv1d
        The first layer (the only one that sees the neurons).
    trunk : Trunk
        The rest.
    """

    def __init__(
        self,
        n_inputs: int,
        n_hidden: int = 32,
        output_dimension: int = 8,
        *,
        n_residual: int = 3,
        first_kernel: int = 2,
        last_kernel: int = 3,
        normalize: bool = True,
        dense: bool = False,
    ) -> None:
        super().__init__()
        self.n_inputs = n_inputs
        self.output_dimension = output_dimension
        self.normalize = normalize
        self.stem = nn.Conv1d(n_inputs, n_hidden, kernel_size=first_kernel)
        if dense:  # the last dense layer halves the width, as in CEBRA's offset1-model
            widths = [n_hidden] * n_residual + [max(1, n_hidden // 2)] if n_residual else [n_hidden]
            blocks: list[nn.Module] = [_Dense(a, b) for a, b in zip(widths[:-1], widths[1:])]
        else:
            widths = [n_hidden]
            blocks = [_Residual(n_hidden) for _ in range(n_residual)]
        self.trunk = Trunk(
            blocks,
            widths[-1],
            output_dimension,
            last_kernel,
            normalize,
        )
        shrink = 0 if dense else 2 * n_residual
        self.receptive_field = first_kernel + shrink + last_kernel - 1

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """The trunk on channels-first stem output."""
        return self.trunk(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(self.stem(x))

    def forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L, n_inputs) -> (B, L - R + 1, output_dimension)``; same numbers as :meth:`forward`."""
        return self.trunk.forward_channels_last(conv_channels_last(x, self.stem))


class _MLPEncoder(ConvEncoder):
    """Per-sample MLP written as kernel-1 convolutions (receptive field 1)."""

    def __init__(
        self,
        n_inputs: int,
        n_hidden: int = 32,
        output_dimension: int = 8,
        *,
        normalize: bool = True,
    ):
        super().__init__(
            n_inputs,
            n_hidden,
            output_dimension,
            n_residual=2,
            first_kernel=1,
            last_kernel=1,
            normalize=normalize,
            dense=True,
        )


class Offset1(_MLPEncoder):
    """MLP on single samples (receptive field 1).

    Examples
    --------
    >>> Offset1(n_inputs=4).receptive_field
    1
    """


class Offset5(ConvEncoder):
    """Conv encoder with a 5-sample receptive field.

    Examples
    --------
    >>> Offset5(n_inputs=4)(torch.zeros(2, 4, 5)).shape
    torch.Size([2, 8, 1])
    """

    def __init__(
        self,
        n_inputs: int,
        n_hidden: int = 32,
        output_dimension: int = 8,
        *,
        normalize: bool = True,
    ):
        super().__init__(
            n_inputs,
            n_hidden,
            output_dimension,
            n_residual=1,
            first_kernel=2,
            last_kernel=2,
            normalize=normalize,
        )


class Offset10(ConvEncoder):
    """Conv encoder with a 10-sample receptive field (the default model).

    Examples
    --------
    >>> Offset10(n_inputs=4).receptive_field
    10
    """

    def __init__(
        self,
        n_inputs: int,
        n_hidden: int = 32,
        output_dimension: int = 8,
        *,
        normalize: bool = True,
    ):
        super().__init__(
            n_inputs,
            n_hidden,
            output_dimension,
            n_residual=3,
            first_kernel=2,
            last_kernel=3,
            normalize=normalize,
        )


class Offset36(ConvEncoder):
    """Conv encoder with a 36-sample receptive field.

    Examples
    --------
    >>> Offset36(n_inputs=4).receptive_field
    36
    """

    def __init__(
        self,
        n_inputs: int,
        n_hidden: int = 32,
        output_dimension: int = 8,
        *,
        normalize: bool = True,
    ):
        super().__init__(
            n_inputs,
            n_hidden,
            output_dimension,
            n_residual=16,
            first_kernel=2,
            last_kernel=3,
            normalize=normalize,
        )


class MultiSessionEncoder(nn.Module):
    """Several recordings into one space: one stem per session, one shared trunk.

    Parameters
    ----------
    encoders : list of ConvEncoder
        One encoder per session, all of the same class and hidden size; the trunk of the first is shared (the others'
        trunks are discarded).
    """

    def __init__(self, encoders: list[ConvEncoder]) -> None:
        super().__init__()
        first = encoders[0]
        self.stems = nn.ModuleList([e.stem for e in encoders])
        self.trunk = first.trunk
        self.receptive_field = first.receptive_field
        self.output_dimension = first.output_dimension

    @property
    def n_sessions(self) -> int:
        return len(self.stems)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """The shared trunk on channels-first stem output."""
        return self.trunk(hidden)

    def forward(self, x: torch.Tensor, session: int = 0) -> torch.Tensor:
        return self.trunk(self.stems[session](x))

    def forward_channels_last(self, x: torch.Tensor, session: int = 0) -> torch.Tensor:
        """``(B, L, n_inputs_s) -> (B, L - R + 1, output_dimension)`` through session ``session``'s stem."""
        return self.trunk.forward_channels_last(conv_channels_last(x, self.stems[session]))

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


class _Residual(nn.Module):
    """``x[..., 1:-1] + GELU(conv_3(x))``: a length-preserving-minus-two residual block."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., 1:-1] + F.gelu(self.conv(x))


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
    ) -> None:
        super().__init__()
        self.n_inputs = n_inputs
        self.output_dimension = output_dimension
        self.normalize = normalize
        self.stem = nn.Conv1d(n_inputs, n_hidden, kernel_size=first_kernel)
        layers: list[nn.Module] = [nn.GELU()]
        layers += [_Residual(n_hidden) for _ in range(n_residual)]
        layers.append(nn.Conv1d(n_hidden, output_dimension, kernel_size=last_kernel))
        self.trunk = nn.Sequential(*layers)
        self.receptive_field = first_kernel + 2 * n_residual + last_kernel - 1

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Run the trunk on stem output and normalise: ``(B, n_hidden, L') -> (B, output_dimension, L' - ...)``."""
        out = self.trunk(hidden)
        return F.normalize(out, dim=1) if self.normalize else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stem(x))


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
        nn.Module.__init__(self)
        self.n_inputs = n_inputs
        self.output_dimension = output_dimension
        self.normalize = normalize
        self.stem = nn.Conv1d(n_inputs, n_hidden, kernel_size=1)
        self.trunk = nn.Sequential(
            nn.GELU(),
            nn.Conv1d(n_hidden, n_hidden, 1),
            nn.GELU(),
            nn.Conv1d(n_hidden, n_hidden, 1),
            nn.GELU(),
            nn.Conv1d(n_hidden, output_dimension, 1),
        )
        self.receptive_field = 1


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
        self.normalize = first.normalize
        self.receptive_field = first.receptive_field
        self.output_dimension = first.output_dimension

    @property
    def n_sessions(self) -> int:
        return len(self.stems)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        out = self.trunk(hidden)
        return F.normalize(out, dim=1) if self.normalize else out

    def forward(self, x: torch.Tensor, session: int = 0) -> torch.Tensor:
        return self.head(self.stems[session](x))

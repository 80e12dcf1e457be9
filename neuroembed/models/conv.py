"""1D-convolutional encoders for neural time series (the ``offset-N`` family).

An ``offset-N`` encoder maps a window of ``N`` consecutive samples ``(n_neurons, N)`` to one embedding vector. It is
split into a *stem* (the first layer, which sees the neurons) and a *trunk* (everything after), so that several
recordings with different neuron counts can share one trunk (see :class:`MultiSessionEncoder`).

Architecture (following the description in Schneider, Lee & Mathis 2023): a kernel-2 convolution from the neurons to
``n_hidden`` channels, then residual blocks ``x[..., 1:-1] + GELU(conv_k3(x))``, then a final convolution to
``output_dimension`` channels, L2-normalised when the distance is cosine. ``offset1`` is the same with kernels of size 1,
i.e. an MLP applied to each sample.

The ``dilated-N`` encoders reach a wide receptive field with few layers: their residual blocks are dilated,
``x[..., d:-d] + GELU(conv_k3_dilation_d(x))`` with ``d`` doubling from block to block, so that ``dilated34`` sees 34
samples with four blocks where ``offset36`` needs sixteen, at a quarter of the multiply-adds per window.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Offset1",
    "Offset5",
    "Offset10",
    "Offset15",
    "Offset20",
    "Offset36",
    "Offset40",
    "Offset50",
    "Dilated18",
    "Dilated34",
    "ConvEncoder",
    "MultiSessionEncoder",
    "ModuleEncoder",
    "window_offsets",
    "padded_rows",
    "normalize_parts",
    "set_output_parts",
]


def normalize_parts(z: torch.Tensor, dim: int, parts: tuple[int, ...] | None) -> torch.Tensor:
    """L2-normalise ``z`` along ``dim``: as a whole (``parts=None``), or each consecutive run of ``parts[i]``
    entries on its own (an embedding of several parts, each on its own sphere).

    >>> z = torch.tensor([[3.0, 4.0, 2.0]])
    >>> normalize_parts(z, -1, (2, 1)).tolist()
    [[0.6000000238418579, 0.800000011920929, 1.0]]
    """
    if parts is None:
        return F.normalize(z, dim=dim)
    return torch.cat(
        [F.normalize(p, dim=dim) for p in torch.split(z, list(parts), dim=dim)], dim=dim
    )


def set_output_parts(model: nn.Module, parts: tuple[int, ...] | None) -> None:
    """Make ``model`` (a :class:`ConvEncoder`, :class:`MultiSessionEncoder` or :class:`ModuleEncoder`) normalise
    its output part by part (see :func:`normalize_parts`; ``None``: as a whole)."""
    if parts is not None and sum(parts) != int(model.output_dimension):
        raise ValueError(
            f"the parts {list(parts)} add up to {sum(parts)}, not to the model's {model.output_dimension} outputs."
        )
    target = model.trunk if hasattr(model, "trunk") else model
    target.parts = None if parts is None else tuple(int(p) for p in parts)


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


def host_tensor(array: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy(array)``, also for a read-only array without torch's warning about it: pandas 3 hands
    out read-only arrays (copy-on-write), and neuroembed only ever reads the recording's tensors."""
    if array.flags.writeable:
        return torch.from_numpy(array)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The given NumPy array is not writable", UserWarning)
        return torch.from_numpy(array)


def padded_rows(data: Any, start: int, stop: int, receptive_field: int) -> np.ndarray:
    """The rows every window of samples ``start .. stop - 1`` reads, as float32, the recording edge-padded.

    Sample ``t``'s window is rows ``t - left .. t + right - 1`` (:func:`window_offsets`); rows before the first and
    after the last repeat the first and last. Only rows ``start - left .. stop + right - 1`` are read (one contiguous
    slice, so ``data`` may be an HDF5 dataset). Returns ``stop - start + receptive_field - 1`` rows.
    """
    n = int(data.shape[0])
    left, right = window_offsets(receptive_field)
    lo, hi = max(0, start - left), min(n, stop + right - 1)
    block = np.asarray(data[lo:hi], dtype=np.float32)
    pad_before, pad_after = left - (start - lo), (stop + right - 1) - hi
    if pad_before or pad_after:
        block = np.concatenate(
            [np.repeat(block[:1], pad_before, 0), block, np.repeat(block[-1:], pad_after, 0)]
        )
    return np.ascontiguousarray(block)


def conv_weight_matrix(conv: nn.Conv1d) -> torch.Tensor:
    """A Conv1d weight ``(out, in, k)`` as a matrix ``(out, k * in)`` for channels-last im2col input (k-major)."""
    out_channels, in_channels, k = conv.weight.shape
    return conv.weight.permute(0, 2, 1).reshape(out_channels, k * in_channels)


def conv_channels_last(h: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """Apply ``conv`` to channels-last input ``(B, L, C_in) -> (B, L - k + 1, C_out)`` as one matrix product.

    Equivalent to ``conv(h.transpose(1, 2)).transpose(1, 2)``, but the shifted copies of the input are laid side by
    side (im2col) and multiplied with the reshaped weight in a single GEMM, which on CPUs is markedly faster than a
    direct convolution over windows this short. A dilated ``conv`` (dilation ``d``) takes its taps ``d`` apart:
    ``(B, L, C_in) -> (B, L - d (k - 1), C_out)``.
    """
    k, d = conv.kernel_size[0], conv.dilation[0]
    length = h.shape[1] - d * (k - 1)
    cols = h if k == 1 else torch.cat([h[:, i * d : i * d + length] for i in range(k)], dim=-1)
    return F.linear(cols, conv_weight_matrix(conv), conv.bias)


class _Residual(nn.Module):
    """``x[..., d:-d] + GELU(conv_3(x))`` with the convolution's dilation ``d``: shortens the sequence by ``2 d``."""

    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size=3, dilation=dilation)
        self.dilation = dilation

    @property
    def shrink(self) -> int:
        """Samples the block removes from its input's length."""
        return 2 * self.dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dilation
        return x[..., d:-d] + F.gelu(self.conv(x))

    def forward_channels_last(self, h: torch.Tensor) -> torch.Tensor:
        d = self.dilation
        return h[:, d:-d] + F.gelu(conv_channels_last(h, self.conv))


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
        # normalised part by part (an embedding of several objectives' parts; see set_output_parts)
        self.parts: tuple[int, ...] | None = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = F.gelu(h)
        for block in self.blocks:
            h = block(h)
        z = self.out(h)
        return normalize_parts(z, 1, self.parts) if self.normalize else z

    def forward_channels_last(self, h: torch.Tensor) -> torch.Tensor:
        h = F.gelu(h)
        for block in self.blocks:
            h = block.forward_channels_last(h)
        z = conv_channels_last(h, self.out)
        return normalize_parts(z, -1, self.parts) if self.normalize else z


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
    dilations : tuple of int, optional
        One residual block per entry, with that dilation (instead of ``n_residual`` undilated blocks).
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
        dilations: tuple[int, ...] | None = None,
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
            if dilations is None:
                dilations = (1,) * n_residual
            if any(not isinstance(d, int) or d < 1 for d in dilations):
                raise ValueError(f"dilations must be positive integers; got {dilations!r}.")
            blocks = [_Residual(n_hidden, d) for d in dilations]
        self.trunk = Trunk(
            blocks,
            widths[-1],
            output_dimension,
            last_kernel,
            normalize,
        )
        shrink = 0 if dense else sum(b.shrink for b in blocks)
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


class _ResidualEncoder(ConvEncoder):
    """Kernel-2 stem, :attr:`n_residual` kernel-3 residual blocks, output convolution of kernel :attr:`last_kernel`:
    the layout of CEBRA's ``offset-N-model`` family."""

    n_residual: int = 3
    last_kernel: int = 3

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
            n_residual=self.n_residual,
            first_kernel=2,
            last_kernel=self.last_kernel,
            normalize=normalize,
        )


class Offset5(_ResidualEncoder):
    """Conv encoder with a 5-sample receptive field (1 residual block, kernel-2 output; CEBRA's ``offset5-model``).

    Examples
    --------
    >>> Offset5(n_inputs=4)(torch.zeros(2, 4, 5)).shape
    torch.Size([2, 8, 1])
    """

    n_residual, last_kernel = 1, 2


class Offset10(_ResidualEncoder):
    """Conv encoder with a 10-sample receptive field (3 residual blocks; the default model, CEBRA's
    ``offset10-model``).

    Examples
    --------
    >>> Offset10(n_inputs=4).receptive_field
    10
    """

    n_residual = 3


class Offset15(_ResidualEncoder):
    """Conv encoder with a 15-sample receptive field (6 residual blocks, kernel-2 output; CEBRA's ``offset15-model``).

    Examples
    --------
    >>> Offset15(n_inputs=4).receptive_field
    15
    """

    n_residual, last_kernel = 6, 2


class Offset20(_ResidualEncoder):
    """Conv encoder with a 20-sample receptive field (8 residual blocks; CEBRA's ``offset20-model``).

    Examples
    --------
    >>> Offset20(n_inputs=4).receptive_field
    20
    """

    n_residual = 8


class Offset36(_ResidualEncoder):
    """Conv encoder with a 36-sample receptive field (16 residual blocks; CEBRA's ``offset36-model``).

    Examples
    --------
    >>> Offset36(n_inputs=4).receptive_field
    36
    """

    n_residual = 16


class Offset40(_ResidualEncoder):
    """Conv encoder with a 40-sample receptive field (18 residual blocks; CEBRA's ``offset40-model``).

    Examples
    --------
    >>> Offset40(n_inputs=4).receptive_field
    40
    """

    n_residual = 18


class Offset50(_ResidualEncoder):
    """Conv encoder with a 50-sample receptive field (23 residual blocks; CEBRA's ``offset50-model``).

    Examples
    --------
    >>> Offset50(n_inputs=4).receptive_field
    50
    """

    n_residual = 23


class _DilatedEncoder(ConvEncoder):
    """Kernel-2 stem, dilated kernel-3 residual blocks (dilations :attr:`dilations`), kernel-3 output convolution."""

    dilations: tuple[int, ...] = ()

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
            first_kernel=2,
            last_kernel=3,
            normalize=normalize,
            dilations=self.dilations,
        )


class Dilated18(_DilatedEncoder):
    """Conv encoder with an 18-sample receptive field from three residual blocks of dilation 1, 2 and 4.

    Examples
    --------
    >>> Dilated18(n_inputs=4).receptive_field
    18
    """

    dilations = (1, 2, 4)


class Dilated34(_DilatedEncoder):
    """Conv encoder with a 34-sample receptive field from four residual blocks of dilation 1, 2, 4 and 8.

    As wide as ``offset36`` (16 blocks) at the cost of four blocks per window.

    Examples
    --------
    >>> Dilated34(n_inputs=4)(torch.zeros(2, 4, 34)).shape
    torch.Size([2, 8, 1])
    """

    dilations = (1, 2, 4, 8)


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


class ModuleEncoder(nn.Module):
    """Any convolutional ``torch.nn.Module`` as a one-session encoder (a user's own ``model=`` class).

    The module maps ``(batch, n_inputs, length)`` to ``(batch, output_dimension, length - R + 1)``; it is trained and
    embedded through its own ``forward`` on windows of ``R = receptive_field`` samples, without the stem/trunk
    fast paths of :class:`ConvEncoder`. With ``normalize``, the output is L2-normalised here (again, if the module
    does it already: normalising is idempotent).
    """

    def __init__(
        self, module: nn.Module, receptive_field: int, output_dimension: int, normalize: bool
    ) -> None:
        super().__init__()
        self.module = module
        self.receptive_field = int(receptive_field)
        self.output_dimension = int(output_dimension)
        self.normalize = normalize
        self.parts: tuple[int, ...] | None = None

    n_sessions = 1

    def forward(self, x: torch.Tensor, session: int = 0) -> torch.Tensor:
        # the recording is float32; a module of another precision (a float64 model, say) gets its own
        dtype = next((p.dtype for p in self.module.parameters() if p.is_floating_point()), x.dtype)
        z = self.module(x.to(dtype))
        return normalize_parts(z, 1, self.parts) if self.normalize else z

    def forward_channels_last(self, x: torch.Tensor, session: int = 0) -> torch.Tensor:
        """``(B, L, n_inputs) -> (B, L - R + 1, output_dimension)`` through the module's forward."""
        return self.forward(x.transpose(1, 2)).transpose(1, 2)

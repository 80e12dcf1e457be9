"""The first convolution over a whole recording of sparse spike counts, as sparse matrix products.

Binned spike counts are mostly zeros (CEBRA's rat hippocampus recordings: 2 % of the entries are not zero). When a
step runs the first layer over a whole recording (short recordings, see
:attr:`neuroembed.solver.ContrastiveSolver.whole_recording_fraction`), its two products with the recording, the
output ``X @ W`` and the weight gradient ``X.T @ G``, cost in proportion to the entries of ``X``; in compressed
sparse row (CSR) form they cost in proportion to its non-zero entries. The recording does not change during a fit, so
:class:`SparseRecording` converts it (and its transpose) once, and :func:`conv_sparse_recording` is the
convolution with a hand-written backward that uses both. The result equals the dense convolution up to the order of
the float additions (tested against it).
"""

from __future__ import annotations

import warnings

import torch
from torch.autograd.function import once_differentiable

__all__ = ["SparseRecording", "conv_sparse_recording"]


class SparseRecording:
    """A recording ``(n_samples, n_channels)`` and its transpose in CSR form, for :func:`conv_sparse_recording`.

    Parameters
    ----------
    data : Tensor of shape (n_samples, n_channels)
        A float32 or float64 recording on the CPU.

    Examples
    --------
    >>> x = torch.tensor([[0.0, 2.0], [0.0, 0.0], [1.0, 0.0]])
    >>> rec = SparseRecording(x)
    >>> rec.shape, rec.density
    ((3, 2), 0.3333333333333333)
    """

    def __init__(self, data: torch.Tensor) -> None:
        if data.ndim != 2:
            raise ValueError(
                f"data must be 2-D (n_samples, n_channels); got shape {tuple(data.shape)}."
            )
        # torch calls its CSR support "beta"; what is used here is covered by tests
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.rows = data.to_sparse_csr()
            self.columns = data.t().contiguous().to_sparse_csr()
        self.shape = (int(data.shape[0]), int(data.shape[1]))
        self.density = self.rows.values().numel() / max(1, data.numel())
        self._buffers: dict[tuple[str, int, torch.dtype], torch.Tensor] = {}

    def buffer(self, name: str, columns: int, dtype: torch.dtype) -> torch.Tensor:
        """A ``(n_samples, columns)`` scratch tensor kept between calls (the products are written into it instead
        of into a fresh allocation every step). Its contents are only valid until the next call."""
        key = (name, columns, dtype)
        if key not in self._buffers:
            self._buffers[key] = torch.empty(
                self.shape[0], columns, dtype=dtype, device=self.rows.device
            )
        return self._buffers[key]

    @staticmethod
    def density_of(data: torch.Tensor) -> float:
        """Fraction of the entries of ``data`` that are not zero."""
        return int(torch.count_nonzero(data)) / max(1, data.numel())


class _SparseConv(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx, weight: torch.Tensor, bias: torch.Tensor, recording: SparseRecording
    ) -> torch.Tensor:
        out_channels, in_channels, k = weight.shape
        length = recording.shape[0] - k + 1
        # one product for all taps: tap i's output channels are the columns i * out .. (i + 1) * out
        taps = weight.permute(1, 2, 0).reshape(in_channels, k * out_channels)
        full = recording.buffer("output", k * out_channels, taps.dtype)  # (n_samples, k * out)
        # beta 0: the buffer's contents are not read
        torch.addmm(full, recording.rows, taps, beta=0.0, out=full)
        out = torch.add(full[:length, :out_channels], bias)
        for i in range(1, k):
            out += full[i : i + length, i * out_channels : (i + 1) * out_channels]
        ctx.recording = recording
        ctx.weight_shape = weight.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        out_channels, in_channels, k = ctx.weight_shape
        recording: SparseRecording = ctx.recording
        length = grad.shape[0]
        grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            # tap i's weight gradient is sum_t grad[t] x[t + i]: place grad at rows i .. i + length of block i
            shifted = recording.buffer("gradient", k * out_channels, grad.dtype)
            for i in range(k):
                block = shifted[:, i * out_channels : (i + 1) * out_channels]
                block[i : i + length] = grad
                block[:i].zero_()
                block[i + length :].zero_()
            products = recording.columns @ shifted  # (in, k * out)
            grad_weight = products.view(in_channels, k, out_channels).permute(2, 0, 1).contiguous()
        if ctx.needs_input_grad[1]:
            grad_bias = grad.sum(0)
        return grad_weight, grad_bias, None


def conv_sparse_recording(
    recording: SparseRecording, weight: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """A Conv1d over a whole recording, ``(n_samples, in) -> (n_samples - k + 1, out)``, with sparse products.

    Parameters
    ----------
    recording : SparseRecording
    weight : Tensor of shape (out, in, k)
        A Conv1d's weight, of the recording's dtype and device.
    bias : Tensor of shape (out,)

    Returns
    -------
    Tensor of shape (n_samples - k + 1, out)
        Differentiable with respect to ``weight`` and ``bias`` (once).
    """
    if weight.ndim != 3 or weight.shape[1] != recording.shape[1]:
        raise ValueError(
            f"weight must have shape (out, {recording.shape[1]}, k) for a recording of {recording.shape[1]} "
            f"channels; got {tuple(weight.shape)}."
        )
    if weight.shape[2] > recording.shape[0]:
        raise ValueError(
            f"the kernel ({weight.shape[2]} samples) is longer than the recording ({recording.shape[0]} samples)."
        )
    return _SparseConv.apply(weight, bias, recording)

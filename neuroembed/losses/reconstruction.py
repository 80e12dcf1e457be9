"""Reconstruction losses for auto-encoders: mean squared error, L1, binary cross-entropy.

All are the mean over every element (not a sum per sample). ``"bce"`` takes logits by default
(``binary_cross_entropy_with_logits``, stable for any value); pass ``logits=False`` for a decoder that
already ends in a sigmoid (log-probabilities are then clamped at -100 by PyTorch).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from neuroembed._validation import check_choice, describe

__all__ = ["reconstruction_loss", "ReconstructionLoss", "RECONSTRUCTION_KINDS"]

RECONSTRUCTION_KINDS = ("mse", "bce", "l1")


def reconstruction_loss(
    reconstruction: Tensor, target: Tensor, kind: str = "mse", logits: bool = True
) -> Tensor:
    """Mean element-wise reconstruction error.

    Parameters
    ----------
    reconstruction : torch.Tensor of shape (n_samples, ...)
        Decoder output (logits for ``kind="bce"`` unless ``logits=False``).
    target : torch.Tensor of the same shape
        What was encoded; in ``[0, 1]`` for ``"bce"``.
    kind : {"mse", "bce", "l1"}
        ``"mse"``: mean of ``(x - y)^2``; ``"l1"``: mean of ``|x - y|``; ``"bce"``: mean binary
        cross-entropy.
    logits : bool
        For ``"bce"``: whether ``reconstruction`` holds logits (default) or probabilities.

    Returns
    -------
    torch.Tensor, 0-d

    Examples
    --------
    >>> import torch
    >>> x, y = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    >>> reconstruction_loss(x, y), reconstruction_loss(x, y, kind="l1")
    (tensor(2.5000), tensor(1.5000))
    >>> round(reconstruction_loss(torch.zeros(1, 2), y, kind="bce").item(), 4)  # log 2
    0.6931
    """
    check_choice(kind, "kind", RECONSTRUCTION_KINDS)
    for name, x in (("reconstruction", reconstruction), ("target", target)):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {describe(x)}.")
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor; got dtype {x.dtype}.")
    if reconstruction.shape != target.shape:
        raise ValueError(
            "reconstruction and target must have the same shape; got "
            f"{tuple(reconstruction.shape)} and {tuple(target.shape)}."
        )
    if reconstruction.numel() == 0:
        raise ValueError(f"reconstruction is empty (shape {tuple(reconstruction.shape)}).")
    if kind == "mse":
        return F.mse_loss(reconstruction, target)
    if kind == "l1":
        return F.l1_loss(reconstruction, target)
    if target.device.type == "cpu" and bool(((target < 0) | (target > 1)).any()):
        raise ValueError(
            f"kind='bce' needs targets in [0, 1]; got values from {float(target.min()):.4g} to "
            f"{float(target.max()):.4g}. Use kind='mse' or rescale the data."
        )
    if logits:
        return F.binary_cross_entropy_with_logits(reconstruction, target)
    if reconstruction.device.type == "cpu" and bool(
        ((reconstruction < 0) | (reconstruction > 1)).any()
    ):
        raise ValueError(
            "kind='bce' with logits=False needs probabilities in [0, 1]; got values from "
            f"{float(reconstruction.min()):.4g} to {float(reconstruction.max()):.4g}. "
            "Pass logits=True if the decoder outputs logits."
        )
    return F.binary_cross_entropy(reconstruction, target)


class ReconstructionLoss(nn.Module):
    """Reconstruction loss module (see :func:`reconstruction_loss`).

    Parameters
    ----------
    kind : {"mse", "bce", "l1"}
    logits : bool
        For ``"bce"``: the decoder outputs logits.

    Examples
    --------
    >>> import torch
    >>> ReconstructionLoss("l1")(torch.zeros(2, 2), torch.ones(2, 2))
    tensor(1.)
    """

    def __init__(self, kind: str = "mse", logits: bool = True) -> None:
        super().__init__()
        self.kind = check_choice(kind, "kind", RECONSTRUCTION_KINDS)
        self.logits = bool(logits)

    def forward(self, reconstruction: Tensor, target: Tensor) -> Tensor:
        """Mean reconstruction error of two same-shape tensors."""
        return reconstruction_loss(reconstruction, target, self.kind, self.logits)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, logits={self.logits}"

r"""Predictor-target losses of the non-contrastive methods SimSiam and BYOL.

* SimSiam (Chen & He, CVPR 2021): :math:`D(p, z) = -\cos(p, \mathrm{sg}(z))`, mean over the batch.
* BYOL (Grill et al., NeurIPS 2020): :math:`\lVert \bar p - \bar z \rVert^2 = 2 - 2 \cos(p,
  \mathrm{sg}(z))` with :math:`\bar x = x / \lVert x \rVert`, mean over the batch.

``sg`` is the stop-gradient: the target ``z`` is detached (pass ``stop_gradient=False`` to study
what happens without it; both methods collapse).

Symmetrised use. Both papers feed each view's prediction against the other view's target; use
:func:`symmetric`::

    loss = symmetric(negative_cosine, p1, p2, z1, z2)          # SimSiam: (D(p1, z2) + D(p2, z1)) / 2
    loss = symmetric(byol_loss, p1, p2, z1, z2, reduction="sum")  # BYOL: L + L~ (the paper sums)
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from neuroembed._validation import check_choice
from neuroembed.losses._checks import check_float_tensor, unit

__all__ = ["negative_cosine", "byol_loss", "symmetric", "NegativeCosine", "BYOLLoss"]


def _cosine(p: Tensor, z: Tensor, stop_gradient: bool) -> Tensor:
    check_float_tensor(p, "p", (2,), "(n_samples, n_features)")
    check_float_tensor(z, "z", (2,), "(n_samples, n_features)")
    if p.shape != z.shape:
        raise ValueError(
            "p (predictions) and z (targets) must have the same shape (n_samples, n_features); got "
            f"shapes {tuple(p.shape)} and {tuple(z.shape)}."
        )
    if stop_gradient:
        z = z.detach()
    return (unit(p, dim=1) * unit(z, dim=1)).sum(1)


def negative_cosine(p: Tensor, z: Tensor, stop_gradient: bool = True) -> Tensor:
    """SimSiam's negative cosine similarity ``-mean_i cos(p_i, stopgrad(z_i))``.

    Parameters
    ----------
    p : torch.Tensor of shape (n_samples, n_features)
        Predictor outputs.
    z : torch.Tensor of shape (n_samples, n_features)
        Targets (projections of the other view); detached when ``stop_gradient``.
    stop_gradient : bool
        Detach ``z``.

    Returns
    -------
    torch.Tensor, 0-d
        In ``[-1, 1]``; -1 when every prediction points along its target.

    Examples
    --------
    >>> import torch
    >>> negative_cosine(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[3.0, 0.0], [1.0, 0.0]]))
    tensor(-0.5000)
    """
    return -_cosine(p, z, stop_gradient).mean()


def byol_loss(p: Tensor, z: Tensor, stop_gradient: bool = True) -> Tensor:
    """BYOL's normalised squared error ``mean_i (2 - 2 cos(p_i, stopgrad(z_i)))``.

    Parameters
    ----------
    p : torch.Tensor of shape (n_samples, n_features)
        Online predictor outputs.
    z : torch.Tensor of shape (n_samples, n_features)
        Target-network projections; detached when ``stop_gradient``.
    stop_gradient : bool
        Detach ``z``.

    Returns
    -------
    torch.Tensor, 0-d
        In ``[0, 4]``.

    Examples
    --------
    >>> import torch
    >>> byol_loss(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[3.0, 0.0], [1.0, 0.0]]))
    tensor(1.)
    """
    return (2.0 - 2.0 * _cosine(p, z, stop_gradient)).mean()


def symmetric(
    loss: Callable[[Tensor, Tensor], Tensor],
    p1: Tensor,
    p2: Tensor,
    z1: Tensor,
    z2: Tensor,
    reduction: str = "mean",
) -> Tensor:
    """Symmetrised predictor loss ``loss(p1, z2)`` and ``loss(p2, z1)``, averaged or summed.

    Parameters
    ----------
    loss : callable
        ``loss(p, z) -> 0-d tensor``, e.g. :func:`negative_cosine`, :func:`byol_loss` or a module.
    p1, p2 : torch.Tensor of shape (n_samples, n_features)
        Predictions from view 1 and view 2.
    z1, z2 : torch.Tensor of shape (n_samples, n_features)
        Targets from view 1 and view 2.
    reduction : {"mean", "sum"}
        ``"mean"`` (SimSiam's ``D(p1, z2) / 2 + D(p2, z1) / 2``) or ``"sum"`` (BYOL's ``L + L~``).

    Examples
    --------
    >>> import torch
    >>> a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    >>> symmetric(negative_cosine, a, b, a, a)  # (-0 + -1) / 2
    tensor(-0.5000)
    """
    check_choice(reduction, "reduction", ("mean", "sum"))
    total = loss(p1, z2) + loss(p2, z1)
    return total / 2 if reduction == "mean" else total


class NegativeCosine(nn.Module):
    """SimSiam loss module ``forward(p, z) = negative_cosine(p, z)``; see :func:`symmetric`.

    Parameters
    ----------
    stop_gradient : bool
        Detach the target.

    Examples
    --------
    >>> import torch
    >>> round(NegativeCosine()(torch.ones(2, 3), torch.ones(2, 3)).item(), 4)
    -1.0
    """

    def __init__(self, stop_gradient: bool = True) -> None:
        super().__init__()
        self.stop_gradient = bool(stop_gradient)

    def forward(self, p: Tensor, z: Tensor) -> Tensor:
        """Loss for predictions ``p`` and targets ``z``, both ``(n_samples, n_features)``."""
        return negative_cosine(p, z, self.stop_gradient)

    def extra_repr(self) -> str:
        return f"stop_gradient={self.stop_gradient}"


class BYOLLoss(nn.Module):
    """BYOL loss module ``forward(p, z) = byol_loss(p, z)``; see :func:`symmetric`.

    Parameters
    ----------
    stop_gradient : bool
        Detach the target.

    Examples
    --------
    >>> import torch
    >>> round(BYOLLoss()(torch.ones(2, 3), -torch.ones(2, 3)).item(), 4)
    4.0
    """

    def __init__(self, stop_gradient: bool = True) -> None:
        super().__init__()
        self.stop_gradient = bool(stop_gradient)

    def forward(self, p: Tensor, z: Tensor) -> Tensor:
        """Loss for predictions ``p`` and targets ``z``, both ``(n_samples, n_features)``."""
        return byol_loss(p, z, self.stop_gradient)

    def extra_repr(self) -> str:
        return f"stop_gradient={self.stop_gradient}"

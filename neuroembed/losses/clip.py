r"""CLIP's symmetric contrastive loss (Radford et al., ICML 2021).

For ``n`` paired samples of two modalities (image and text; neural activity and behaviour; ...)
with L2-normalised embeddings :math:`a_i, b_i` and a logit scale :math:`s = 1 / \tau`, the logits are
:math:`L_{ij} = s \, a_i \cdot b_j` and

.. math::

    \text{loss} = \tfrac12 \big(\mathrm{CE}(L, \mathrm{diag}) + \mathrm{CE}(L^\top, \mathrm{diag})\big),

the mean of the a-to-b and b-to-a cross-entropies, each averaged over the ``n`` samples, whose
targets are the matching pairs on the diagonal (the positive is in the denominator).

:class:`CLIPLoss` learns the logit scale as ``log_logit_scale`` (initialised to
``log(1 / temperature)``) and keeps it at most ``log(max_logit_scale)`` (100 in CLIP, a temperature
floor of 0.01). As open_clip does, the parameter itself is clamped (at the next training forward, as
open_clip clamps it after each optimiser step), so at the bound its gradient still acts and the scale
can come back down; a cap on ``exp(parameter)`` alone would leave a parameter pushed past the bound
with no gradient, stuck there.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuroembed._validation import check_positive_float
from neuroembed.losses._checks import Temperature, check_float_tensor, check_temperature, unit

__all__ = ["clip_loss", "CLIPLoss"]


def clip_loss(a: Tensor, b: Tensor, logit_scale: Temperature = 1.0 / 0.07) -> Tensor:
    """Symmetric cross-entropy over the cosine-similarity logits of paired embeddings.

    Parameters
    ----------
    a : torch.Tensor of shape (n_samples, n_features)
        Embeddings of the first modality (normalised here).
    b : torch.Tensor of shape (n_samples, n_features)
        Embeddings of the second modality; ``b[i]`` is paired with ``a[i]``.
    logit_scale : float or 0-d torch.Tensor
        Multiplier of the cosine similarities, the inverse temperature (> 0). Pass the exponential
        of a learned log scale, not the log itself.

    Returns
    -------
    torch.Tensor, 0-d

    Examples
    --------
    Orthonormal pairs, scale 1: each row has logit 1 on the diagonal and 0 elsewhere.

    >>> import torch
    >>> round(clip_loss(torch.eye(3), torch.eye(3), logit_scale=1.0).item(), 4)  # log(e + 2) - 1
    0.5514
    """
    check_float_tensor(a, "a", (2,), "(n_samples, n_features)")
    check_float_tensor(b, "b", (2,), "(n_samples, n_features)")
    if a.shape != b.shape:
        raise ValueError(
            "a and b must have the same shape (n_samples, n_features), one pair per row; got shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}."
        )
    logit_scale = check_temperature(logit_scale, "logit_scale")
    logits = logit_scale * (unit(a, dim=1) @ unit(b, dim=1).T)
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class CLIPLoss(nn.Module):
    """CLIP loss module with a fixed or learnable logit scale.

    Parameters
    ----------
    temperature : float
        Initial (or fixed) temperature; the logit scale is ``1 / temperature``.
    learnable : bool
        Learn ``log_logit_scale`` (an :class:`torch.nn.Parameter`).
    max_logit_scale : float
        Upper clamp of a learnable logit scale; the initial ``1 / temperature`` must not exceed it.
        Ignored when the scale is fixed.

    Attributes
    ----------
    clamp_in_forward : bool
        Whether :meth:`forward` applies the clamp (:meth:`clamp_`) in training mode; ``True`` unless a training
        loop calls :meth:`clamp_` after each optimiser step itself.

    Examples
    --------
    >>> import torch
    >>> crit = CLIPLoss(temperature=0.5)
    >>> round(crit.logit_scale, 4)
    2.0
    >>> round(crit(torch.eye(3), torch.eye(3)).item(), 4)  # log(e^2 + 2) - 2
    0.2395
    """

    def __init__(
        self, temperature: float = 0.07, learnable: bool = True, max_logit_scale: float = 100.0
    ) -> None:
        super().__init__()
        temperature = check_positive_float(temperature, "temperature")
        self.max_logit_scale = check_positive_float(max_logit_scale, "max_logit_scale")
        self.learnable = bool(learnable)
        self.clamp_in_forward = True
        if self.learnable:
            if 1.0 / temperature > self.max_logit_scale * (1 + 1e-12):
                raise ValueError(
                    f"temperature={temperature} gives a logit scale of {1 / temperature:.4g}, above "
                    f"max_logit_scale={self.max_logit_scale}; raise the temperature or the bound."
                )
            self.log_logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        else:
            self._fixed_scale = 1.0 / temperature

    def effective_logit_scale(self) -> Temperature:
        """Scale used by :meth:`forward`: a float, or a 0-d tensor carrying gradients."""
        if not self.learnable:
            return self._fixed_scale
        return self.log_logit_scale.clamp(max=math.log(self.max_logit_scale)).exp()

    @property
    def logit_scale(self) -> float:
        """Current logit scale as a python float."""
        value = self.effective_logit_scale()
        return float(value.detach()) if isinstance(value, Tensor) else value

    @property
    def temperature(self) -> float:
        """Current temperature ``1 / logit_scale`` as a python float."""
        return 1.0 / self.logit_scale

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """Loss for paired ``a, b`` of shape ``(n_samples, n_features)``.

        In training mode (and with ``clamp_in_forward``, the default) a ``log_logit_scale`` that an optimiser step
        pushed above ``log(max_logit_scale)`` is first set back to it (:meth:`clamp_`).
        """
        if self.learnable and self.training and self.clamp_in_forward:
            with torch.no_grad():
                # only then: a graph still waiting for its backward keeps the parameter's version
                if bool(self.log_logit_scale > math.log(self.max_logit_scale)):
                    self.clamp_()
        return clip_loss(a, b, self.effective_logit_scale())

    @torch.no_grad()
    def clamp_(self) -> CLIPLoss:
        """Set a learnable ``log_logit_scale`` above ``log(max_logit_scale)`` back to it, in place (open_clip's
        step after each optimiser step). :meth:`forward` does it in training mode, which on an accelerator reads
        the parameter back to the host; a training loop may instead call this after each optimiser step and set
        ``clamp_in_forward = False`` (as :class:`neuroembed.ssl.CLIP` does)."""
        if self.learnable:
            self.log_logit_scale.clamp_(max=math.log(self.max_logit_scale))
        return self

    def extra_repr(self) -> str:
        return (
            f"logit_scale={self.logit_scale:.4g}, learnable={self.learnable}, "
            f"max_logit_scale={self.max_logit_scale}"
        )

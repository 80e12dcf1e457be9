r"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al., ICML 2020).

The two views of ``n`` samples give ``2n`` L2-normalised vectors. Each of them is an anchor whose
positive is the other view of the same sample; the remaining ``2n - 2`` vectors are its negatives
and the anchor itself is excluded. With :math:`s_{ij} = \cos(z_i, z_j) / \tau`,

.. math::

    \ell_i = -s_{i, \pi(i)} + \log \sum_{j \ne i} e^{s_{ij}}

where :math:`\pi(i)` is the partner of :math:`i`, and the loss is the mean over all ``2n`` anchors
(the positive *is* in the denominator, as in SimCLR). Computed with ``cross_entropy`` on the masked
similarity matrix, so it is stable at any temperature.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuroembed._validation import check_positive_float
from neuroembed.losses._checks import Temperature, check_float_tensor, check_temperature, unit

__all__ = ["nt_xent", "NTXent"]


def nt_xent(z0: Tensor, z1: Tensor, temperature: Temperature = 0.5) -> Tensor:
    """SimCLR's NT-Xent loss over the ``2 * n_samples`` views, mean over all of them.

    Parameters
    ----------
    z0 : torch.Tensor of shape (n_samples, n_features)
        First view of each sample (projection-head outputs; normalised here).
    z1 : torch.Tensor of shape (n_samples, n_features)
        Second view; ``z1[i]`` is the positive of ``z0[i]`` and vice versa.
    temperature : float or 0-d torch.Tensor
        Must be > 0.

    Returns
    -------
    torch.Tensor, 0-d

    Examples
    --------
    One sample: each view's only other vector is its positive, so the loss is ``log 1 = 0``.

    >>> import torch
    >>> nt_xent(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])).item()
    0.0
    """
    temperature = check_temperature(temperature)
    check_float_tensor(z0, "z0", (2,), "(n_samples, n_features)")
    check_float_tensor(z1, "z1", (2,), "(n_samples, n_features)")
    if z0.shape != z1.shape:
        raise ValueError(
            "z0 and z1 must have the same shape (n_samples, n_features), two views of the same "
            f"samples; got shapes {tuple(z0.shape)} and {tuple(z1.shape)}."
        )
    n = z0.shape[0]
    z = unit(torch.cat([z0, z1], dim=0), dim=1)
    logits = (z @ z.T) / temperature
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    target = torch.arange(2 * n, device=z.device).roll(n)  # partner of i is i + n (mod 2n)
    return F.cross_entropy(logits, target)


class NTXent(nn.Module):
    """NT-Xent loss module (see :func:`nt_xent`).

    Parameters
    ----------
    temperature : float
        Must be > 0.

    Examples
    --------
    >>> import torch
    >>> z = torch.eye(3)
    >>> round(NTXent(temperature=1.0)(z, z).item(), 4)  # log(e + 4) - 1
    0.9048
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        self.temperature = check_positive_float(temperature, "temperature")

    def forward(self, z0: Tensor, z1: Tensor) -> Tensor:
        """Loss for two views ``z0, z1`` of shape ``(n_samples, n_features)``."""
        return nt_xent(z0, z1, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

r"""Supervised contrastive loss (Khosla et al., NeurIPS 2020), the :math:`L^{sup}_{out}` variant.

With all samples (and views) flattened into :math:`M` vectors :math:`z_i` with labels :math:`y_i`,
:math:`s_{ij}` their similarity divided by the temperature, :math:`A(i) = \{j \ne i\}` and
:math:`P(i) = \{j \in A(i) : y_j = y_i\}`,

.. math::

    \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)} \Big( s_{ip} - \log \sum_{a \in A(i)} e^{s_{ia}} \Big)

and the loss is the mean of :math:`\ell_i` over the anchors with :math:`|P(i)| > 0`.

Conventions (published implementations differ):

* The positives are averaged *outside* the log (:math:`L_{out}`, the variant the paper recommends).
* The anchor itself is left out of both the positives and the denominator; every other sample
  (other views of the same sample included) is in the denominator.
* Anchors without any positive are left out of the mean (not counted as zero). If no anchor has a
  positive the loss is a zero that is still connected to the graph, so ``backward()`` works and
  gives zero gradients.
* Khosla's reference code multiplies the loss by ``temperature / base_temperature``. Here
  ``base_temperature=None`` (default) applies no such factor; pass a number to apply it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from neuroembed._validation import check_positive_float
from neuroembed.losses._checks import (
    Temperature,
    check_distance,
    check_float_tensor,
    check_labels,
    check_temperature,
    zero_with_graph,
)
from neuroembed.losses.info_nce import _pairwise

__all__ = ["supcon", "SupCon"]


def supcon(
    features: Tensor,
    labels: Tensor,
    temperature: Temperature = 0.1,
    distance: str = "cosine",
    base_temperature: float | None = None,
) -> Tensor:
    r"""Supervised contrastive loss :math:`L_{out}`, mean over anchors that have a positive.

    Parameters
    ----------
    features : torch.Tensor of shape (n_samples, n_features) or (n_samples, n_views, n_features)
        Embeddings. Views are flattened into ``n_samples * n_views`` anchors that keep their
        sample's label, so the other views of a sample are positives of each other.
    labels : torch.Tensor of shape (n_samples,)
        Integer class labels; samples with equal labels are positives.
    temperature : float or 0-d torch.Tensor
        Similarities are divided by it; must be > 0.
    distance : {"cosine", "euclidean"}
        ``"cosine"``: dot product of L2-normalised vectors; ``"euclidean"``: minus the squared
        euclidean distance.
    base_temperature : float, optional
        If given, the loss is multiplied by ``temperature / base_temperature`` (Khosla's reference
        code). ``None`` applies no factor.

    Returns
    -------
    torch.Tensor, 0-d
        The loss; a zero connected to the graph of ``features`` when no anchor has a positive.

    Examples
    --------
    Two classes, every sample exactly on its class direction: each anchor has one positive at
    similarity 1 and two negatives at 0, so the loss is ``log(e^{1/t} + 2) - 1/t``.

    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    >>> y = torch.tensor([0, 0, 1, 1])
    >>> round(supcon(x, y, temperature=1.0).item(), 4)
    0.5514
    """
    distance = check_distance(distance)
    temperature = check_temperature(temperature)
    check_float_tensor(
        features,
        "features",
        (2, 3),
        "(n_samples, n_features) or (n_samples, n_views, n_features)",
    )
    labels = check_labels(labels, features.shape[0])
    scale: float | Tensor = 1.0
    if base_temperature is not None:
        base = check_positive_float(base_temperature, "base_temperature")
        scale = temperature / base

    if features.ndim == 3:
        n_views = features.shape[1]
        labels = labels.repeat_interleave(n_views)
        features = features.reshape(-1, features.shape[-1])
    n = features.shape[0]
    if n < 2:
        return zero_with_graph(features)

    sim = _pairwise(features, features, distance, temperature)  # (n, n)
    eye = torch.eye(n, dtype=torch.bool, device=features.device)
    log_denominator = torch.logsumexp(sim.masked_fill(eye, float("-inf")), dim=1, keepdim=True)
    log_prob = sim - log_denominator  # finite everywhere, diagonal unused
    positive = (labels[:, None] == labels[None, :]) & ~eye
    n_positive = positive.sum(1)
    mean_log_prob = torch.where(positive, log_prob, 0.0).sum(1) / n_positive.clamp(min=1)
    has_positive = n_positive > 0
    per_anchor = -mean_log_prob * has_positive
    loss = per_anchor.sum() / has_positive.sum().clamp(min=1)
    return loss * scale


class SupCon(nn.Module):
    """Supervised contrastive loss module (see :func:`supcon`).

    Parameters
    ----------
    temperature : float
        Must be > 0.
    distance : {"cosine", "euclidean"}
    base_temperature : float, optional
        Khosla's ``temperature / base_temperature`` factor; ``None`` for none.

    Examples
    --------
    >>> import torch
    >>> crit = SupCon(temperature=1.0)
    >>> x = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    >>> round(crit(x, torch.tensor([0, 0, 1, 1])).item(), 4)
    0.5514
    """

    def __init__(
        self,
        temperature: float = 0.1,
        distance: str = "cosine",
        base_temperature: float | None = None,
    ) -> None:
        super().__init__()
        self.temperature = check_positive_float(temperature, "temperature")
        self.distance = check_distance(distance)
        self.base_temperature = (
            None
            if base_temperature is None
            else check_positive_float(base_temperature, "base_temperature")
        )

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        """Loss for ``features (n_samples, [n_views,] n_features)`` and ``labels (n_samples,)``."""
        return supcon(features, labels, self.temperature, self.distance, self.base_temperature)

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, distance={self.distance!r}, "
            f"base_temperature={self.base_temperature}"
        )

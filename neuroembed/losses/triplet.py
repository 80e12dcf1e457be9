r"""Triplet margin loss with in-batch mining (Schroff et al. 2015; Hermans et al. 2017).

Embeddings are L2-normalised and compared with the (non-squared) euclidean distance
:math:`d(x, y) = \lVert x / \lVert x \rVert - y / \lVert y \rVert \rVert_2`, which lies in
``[0, 2]``; the loss of a triplet is :math:`\max(0, d(a, p) - d(a, n) + m)`. A positive of an
anchor is another sample with the same label, a negative one with a different label.

Mining strategies (published implementations differ; these are the conventions used here):

``"batch_hard"`` (Hermans et al.)
    For each anchor, its farthest positive and its nearest negative. Mean over the anchors that have
    at least one positive and one negative (zero-loss anchors included).
``"semi_hard"`` (FaceNet)
    For each (anchor, positive) pair, the nearest negative that is strictly farther than the
    positive, :math:`d(a, n) > d(a, p)`. If that negative is within the margin this is the classic
    semi-hard negative; if it lies beyond the margin the pair contributes 0. When *no* negative is
    farther than the positive (all are harder), the pair falls back to its farthest negative, the
    least hard of the hard ones (as in the TensorFlow Addons implementation). Mean over all
    (anchor, positive) pairs that have at least one negative.
``"all"`` ("batch all", Hermans et al.)
    Every valid triplet; the mean is taken over the triplets with a *positive* loss only (the many
    easy triplets would otherwise wash out the signal). Zero if no triplet is active.

``"semi_hard"`` and ``"all"`` build ``(n, n, n)`` intermediates: they are meant for batches of a few
hundred samples.

When no anchor has both a positive and a negative the loss is a zero connected to the graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuroembed._validation import check_choice, check_positive_float
from neuroembed.losses._checks import check_float_tensor, check_labels, unit

__all__ = ["triplet_margin", "normalized_distances", "TripletMargin", "MINING_STRATEGIES"]

MINING_STRATEGIES = ("batch_hard", "semi_hard", "all")

_EPS = 1e-12


def normalized_distances(embeddings: Tensor) -> Tensor:
    """Euclidean distances between the L2-normalised rows, ``(n_samples, n_samples)``.

    Computed as ``sqrt(2 - 2 cos)``; entries below ``1e-12`` squared (the diagonal) are clamped so
    that the gradient stays finite (below the smallest normal number of the dtype where that is
    larger: ``1e-12`` is zero in float16).

    Parameters
    ----------
    embeddings : torch.Tensor of shape (n_samples, n_features)

    Returns
    -------
    torch.Tensor of shape (n_samples, n_samples)

    Examples
    --------
    >>> import torch
    >>> normalized_distances(torch.tensor([[2.0, 0.0], [0.0, 1.0]])).round(decimals=4)
    tensor([[0.0000, 1.4142],
            [1.4142, 0.0000]])
    """
    z = unit(embeddings, dim=1)
    squared = (2.0 - 2.0 * (z @ z.T)).clamp(min=max(_EPS, torch.finfo(z.dtype).tiny))
    return squared.sqrt()


def triplet_margin(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = 0.2,
    mining: str = "batch_hard",
) -> Tensor:
    """Triplet margin loss on L2-normalised embeddings with in-batch mining.

    Parameters
    ----------
    embeddings : torch.Tensor of shape (n_samples, n_features)
    labels : torch.Tensor of shape (n_samples,)
        Integer class labels.
    margin : float
        Margin :math:`m >= 0` on the euclidean distance of unit vectors (which lies in [0, 2]).
    mining : {"batch_hard", "semi_hard", "all"}
        Triplet selection; see the module documentation for the exact conventions.

    Returns
    -------
    torch.Tensor, 0-d

    Examples
    --------
    Two tight, opposite classes: every negative is 2 away and every positive 0, so nothing is
    violated.

    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [2.0, 0.0], [-1.0, 0.0], [-3.0, 0.0]])
    >>> y = torch.tensor([0, 0, 1, 1])
    >>> triplet_margin(x, y, margin=0.5).item()
    0.0
    >>> round(triplet_margin(x, y, margin=2.5).item(), 4)  # hinge: 0 - 2 + 2.5
    0.5
    """
    check_float_tensor(embeddings, "embeddings", (2,), "(n_samples, n_features)")
    labels = check_labels(labels, embeddings.shape[0])
    margin = check_positive_float(margin, "margin", allow_zero=True)
    check_choice(mining, "mining", MINING_STRATEGIES)

    n = embeddings.shape[0]
    dist = normalized_distances(embeddings)
    eye = torch.eye(n, dtype=torch.bool, device=embeddings.device)
    same = labels[:, None] == labels[None, :]
    positive = same & ~eye  # (anchor, positive)
    negative = ~same  # (anchor, negative)
    has_negative = negative.any(1)

    if mining == "batch_hard":
        hardest_pos = torch.where(positive, dist, float("-inf")).amax(1)
        hardest_neg = torch.where(negative, dist, float("inf")).amin(1)
        valid = positive.any(1) & has_negative
        per_anchor = F.relu(hardest_pos - hardest_neg + margin)
        per_anchor = torch.where(valid, per_anchor, 0.0)
        return per_anchor.sum() / valid.sum().clamp(min=1)

    if mining == "semi_hard":
        d_ap = dist[:, :, None]  # (a, p, 1)
        d_an = dist[:, None, :]  # (a, 1, n)
        neg = negative[:, None, :]
        farther = neg & (d_an > d_ap)
        nearest_farther = torch.where(farther, d_an, float("inf")).amin(2)  # (a, p)
        farthest = torch.where(neg, d_an, float("-inf")).amax(2)  # (a, p)
        chosen = torch.where(farther.any(2), nearest_farther, farthest)
        valid = positive & has_negative[:, None]
        per_pair = torch.where(valid, F.relu(dist - chosen + margin), 0.0)
        return per_pair.sum() / valid.sum().clamp(min=1)

    # "all": every (a, p, n) with p a positive and n a negative of a
    valid = positive[:, :, None] & negative[:, None, :]
    per_triplet = F.relu(dist[:, :, None] - dist[:, None, :] + margin)
    per_triplet = torch.where(valid, per_triplet, 0.0)
    active = per_triplet > 0
    return per_triplet.sum() / active.sum().clamp(min=1)


class TripletMargin(nn.Module):
    """Triplet margin loss module (see :func:`triplet_margin`).

    Parameters
    ----------
    margin : float
        Margin on the euclidean distance of unit vectors, >= 0.
    mining : {"batch_hard", "semi_hard", "all"}

    Examples
    --------
    >>> import torch
    >>> crit = TripletMargin(margin=0.2, mining="all")
    >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.1], [-1.0, 0.0], [-1.0, 0.1]])
    >>> crit(x, torch.tensor([0, 0, 1, 1])).item()
    0.0
    """

    def __init__(self, margin: float = 0.2, mining: str = "batch_hard") -> None:
        super().__init__()
        self.margin = check_positive_float(margin, "margin", allow_zero=True)
        self.mining = check_choice(mining, "mining", MINING_STRATEGIES)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Loss for ``embeddings (n_samples, n_features)`` and ``labels (n_samples,)``."""
        return triplet_margin(embeddings, labels, self.margin, self.mining)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, mining={self.mining!r}"

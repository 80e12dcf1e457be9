r"""InfoNCE, the contrastive loss of CEBRA, CPC and MoCo.

For an anchor :math:`a_i`, its positive :math:`p_i` and negatives :math:`n_{ik}`, with a similarity
:math:`s(x, y)` already divided by the temperature :math:`\tau`,

.. math::

    \ell_i = -s(a_i, p_i) + \log \sum_{k=1}^{K} \exp s(a_i, n_{ik})

and the loss is the mean of :math:`\ell_i` over the anchors.

Conventions (published implementations differ):

* **Positive outside the denominator (default)**, as in CEBRA. For a collapsed or untrained encoder
  (all similarities equal) the loss is :math:`\log K`, so the goodness of fit in bits is
  :math:`(\log K - \text{loss}) / \log 2`. The loss can be negative.
* **Positive inside the denominator** (``positive_in_denominator=True``), the cross-entropy form of
  CPC, MoCo and SimCLR: :math:`\ell_i = -\log \frac{e^{s_{ip}}}{e^{s_{ip}} + \sum_k e^{s_{ik}}}`,
  which is always >= 0 and equals :math:`\log(K + 1)` when collapsed.
* **Similarities**: ``"cosine"`` is the dot product of L2-normalised vectors divided by
  :math:`\tau`; ``"euclidean"`` is minus the squared euclidean distance divided by :math:`\tau`
  (no normalisation).
* Everything goes through ``logsumexp`` (or a softmax and its largest entry), so large inverse temperatures do
  not overflow.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from neuroembed._custom_paths import custom_paths_on
from neuroembed._validation import check_positive_float
from neuroembed.losses._checks import (
    Temperature,
    check_distance,
    check_float_tensor,
    check_same_size,
    check_temperature,
    unit,
)

__all__ = ["similarity", "pairwise_similarity", "info_nce", "info_nce_parts", "InfoNCE"]


def _power_of_two_scale(*tensors: Tensor) -> Tensor:
    """A power of two near the largest magnitude in ``tensors`` (1 where they are all zero).

    Squared euclidean distances are computed on the inputs divided by it and multiplied back: powers of two scale
    exactly, so results are unchanged in the normal range, while inputs whose squares would overflow (|x| ~ 1e19 in
    float32) or underflow no longer turn into ``inf - inf = NaN``.
    """
    largest = torch.stack([t.detach().abs().amax() for t in tensors]).amax()
    tiny = torch.finfo(largest.dtype).tiny
    return torch.exp2(torch.ceil(torch.log2(largest.clamp(min=tiny))))


def _euclidean_scores(squared: Tensor, scale: Tensor, temperature: Temperature) -> Tensor:
    # Multiply back one factor at a time (0 * scale stays 0, never inf * 0). Scores below -sqrt(max float) (1.8e19
    # in float32) are clamped there: exp() of them is 0 already, and means and sums over the batch stay finite (no
    # inf - inf). float16's square root (256) would clip real distances, so there the bound is a quarter of its max.
    scores = -(squared * scale) * scale / temperature
    largest = torch.finfo(scores.dtype).max
    bound = largest / 4 if scores.dtype == torch.float16 else largest**0.5
    return scores.clamp(min=-bound)


def _rowwise(
    anchor: Tensor, other: Tensor, distance: str, temperature: Temperature = 1.0
) -> Tensor:
    if distance == "cosine":
        return (unit(anchor) * unit(other)).sum(-1) / temperature
    scale = _power_of_two_scale(anchor, other)
    return _euclidean_scores(((anchor / scale - other / scale) ** 2).sum(-1), scale, temperature)


def _pairwise(
    anchor: Tensor, others: Tensor, distance: str, temperature: Temperature = 1.0
) -> Tensor:
    if distance == "cosine":
        anchor = unit(anchor)
        others = unit(others)
        if others.ndim == 2:
            return anchor @ others.T / temperature
        return torch.einsum("bd,bkd->bk", anchor, others) / temperature
    scale = _power_of_two_scale(anchor, others)
    anchor, others = anchor / scale, others / scale
    if others.ndim == 2:
        # ||a - n||^2 = ||a||^2 + ||n||^2 - 2 a.n, one matrix product for the whole batch
        sq = (anchor**2).sum(-1, keepdim=True) + (others**2).sum(-1) - 2.0 * (anchor @ others.T)
    else:
        sq = ((anchor[:, None, :] - others) ** 2).sum(-1)
    return _euclidean_scores(sq, scale, temperature)


def similarity(
    anchor: Tensor, other: Tensor, distance: str = "cosine", temperature: Temperature = 1.0
) -> Tensor:
    """Row-wise similarity score of two batches of vectors.

    Parameters
    ----------
    anchor : torch.Tensor of shape (n_samples, n_features)
    other : torch.Tensor of shape (n_samples, n_features)
        Row ``i`` is scored against ``anchor[i]``.
    distance : {"cosine", "euclidean"}
        ``"cosine"``: dot product of the L2-normalised rows; ``"euclidean"``: minus the squared
        euclidean distance.
    temperature : float or 0-d torch.Tensor
        The scores are divided by it; must be > 0.

    Returns
    -------
    torch.Tensor of shape (n_samples,)

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    >>> b = torch.tensor([[2.0, 0.0], [1.0, 0.0]])
    >>> similarity(a, b)
    tensor([1., 0.])
    >>> similarity(a, b, distance="euclidean", temperature=2.0)
    tensor([-0.5000, -2.5000])
    """
    distance = check_distance(distance)
    temperature = check_temperature(temperature)
    check_float_tensor(anchor, "anchor", (2,), "(n_samples, n_features)")
    check_float_tensor(other, "other", (2,), "(n_samples, n_features)")
    check_same_size(anchor, other, "anchor", "other", 0, "number of samples")
    check_same_size(anchor, other, "anchor", "other", 1, "number of features")
    return _rowwise(anchor, other, distance, temperature)


def pairwise_similarity(
    anchor: Tensor, others: Tensor, distance: str = "cosine", temperature: Temperature = 1.0
) -> Tensor:
    """Similarity of every anchor with a set of other vectors, shared or per anchor.

    Parameters
    ----------
    anchor : torch.Tensor of shape (n_samples, n_features)
    others : torch.Tensor of shape (n_others, n_features) or (n_samples, n_others, n_features)
        A 2-D tensor is shared by all anchors (every anchor against every row); a 3-D tensor gives
        each anchor its own ``n_others`` vectors.
    distance : {"cosine", "euclidean"}
        As in :func:`similarity`.
    temperature : float or 0-d torch.Tensor
        The scores are divided by it; must be > 0.

    Returns
    -------
    torch.Tensor of shape (n_samples, n_others)

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> n = torch.tensor([[1.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    >>> pairwise_similarity(a, n)
    tensor([[ 1.,  0., -1.],
            [ 0.,  1.,  0.]])
    >>> pairwise_similarity(2 * a, n[None].expand(2, 3, 2), distance="euclidean").tolist()
    [[-1.0, -13.0, -9.0], [-5.0, -1.0, -5.0]]
    """
    distance = check_distance(distance)
    temperature = check_temperature(temperature)
    _check_anchor_others(anchor, others, "others")
    return _pairwise(anchor, others, distance, temperature)


def _check_anchor_others(anchor: Tensor, others: Tensor, name: str) -> None:
    check_float_tensor(anchor, "anchor", (2,), "(n_samples, n_features)")
    check_float_tensor(
        others, name, (2, 3), "(n_negatives, n_features) or (n_samples, n_negatives, n_features)"
    )
    if others.shape[-1] != anchor.shape[-1]:
        raise ValueError(
            f"anchor and {name} must have the same number of features (last axis); got shapes "
            f"{tuple(anchor.shape)} and {tuple(others.shape)}."
        )
    if others.ndim == 3 and others.shape[0] != anchor.shape[0]:
        raise ValueError(
            f"per-anchor {name} of shape (n_samples, n_negatives, n_features) must have one row per "
            f"anchor; got {others.shape[0]} rows for {anchor.shape[0]} anchors (shapes "
            f"{tuple(others.shape)} and {tuple(anchor.shape)}). Pass a 2-D tensor to share the "
            "negatives between anchors."
        )


def info_nce_parts(
    anchor: Tensor,
    positive: Tensor,
    negatives: Tensor,
    temperature: Temperature = 1.0,
    distance: str = "cosine",
    positive_in_denominator: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """InfoNCE loss split into its alignment and uniformity terms.

    Same arguments as :func:`info_nce`.

    Returns
    -------
    loss : torch.Tensor, 0-d
        ``alignment + uniformity``, identical to :func:`info_nce`.
    alignment : torch.Tensor, 0-d
        Mean over anchors of ``-s(a_i, p_i)`` (the positive term; lower is better aligned).
    uniformity : torch.Tensor, 0-d
        Mean over anchors of the log-sum-exp of the scores in the denominator: the negatives, plus
        the positive when ``positive_in_denominator`` is True.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> neg = torch.tensor([[-1.0, 0.0], [0.0, -1.0]])
    >>> loss, align, unif = info_nce_parts(a, a, neg)
    >>> align
    tensor(-1.)
    >>> torch.allclose(loss, align + unif)
    True
    """
    distance = check_distance(distance)
    temperature = check_temperature(temperature)
    check_float_tensor(anchor, "anchor", (2,), "(n_samples, n_features)")
    check_float_tensor(positive, "positive", (2,), "(n_samples, n_features)")
    if positive.shape != anchor.shape:
        raise ValueError(
            "positive must have the same shape as anchor (n_samples, n_features), one positive per "
            f"anchor; got shapes {tuple(positive.shape)} and {tuple(anchor.shape)}."
        )
    _check_anchor_others(anchor, negatives, "negatives")
    if not isinstance(positive_in_denominator, bool):
        raise TypeError(
            f"positive_in_denominator must be a bool; got {positive_in_denominator!r} "
            f"({type(positive_in_denominator).__name__})."
        )

    # CEBRA's case (cosine, negatives shared by all anchors, positive outside the denominator, a temperature
    # without gradient) in float32 or float64: one function with a hand-written backward, on the devices where
    # the custom paths are on (the CPU by default, see neuroembed._custom_paths)
    fused = (
        distance == "cosine"
        and negatives.ndim == 2
        and not positive_in_denominator
        and anchor.dtype in (torch.float32, torch.float64)
        and anchor.dtype == positive.dtype == negatives.dtype
        and anchor.device == positive.device == negatives.device
        and not (isinstance(temperature, Tensor) and temperature.requires_grad)
        and custom_paths_on(anchor.device)
    )
    if fused:
        return _CosineSharedInfoNCE.apply(anchor, positive, negatives, temperature)
    return _parts_autograd(
        anchor, positive, negatives, temperature, distance, positive_in_denominator
    )


def _parts_autograd(
    anchor: Tensor,
    positive: Tensor,
    negatives: Tensor,
    temperature: Temperature,
    distance: str,
    positive_in_denominator: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`info_nce_parts` (inputs checked) composed of torch operations: every case, differentiable twice."""
    pos = _rowwise(anchor, positive, distance, temperature)  # (n_samples,)
    neg = _pairwise(anchor, negatives, distance, temperature)  # (n_samples, n_negatives)
    if positive_in_denominator:
        neg = torch.cat([pos[:, None], neg], dim=1)
    alignment = -pos.mean()
    uniformity = torch.logsumexp(neg, dim=1).mean()
    return alignment + uniformity, alignment, uniformity


def _unit_rows(x: Tensor) -> tuple[Tensor, Tensor]:
    """``(x / n, n)`` with ``n = max(||x||, eps)`` per row: :func:`torch.nn.functional.normalize`'s convention."""
    norm = torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(_NORMALIZE_EPS)
    return x / norm, norm


def _unit_rows_backward(grad: Tensor, unit: Tensor, norm: Tensor) -> Tensor:
    """Gradient with respect to ``x`` of ``x / max(||x||, eps)``, given the gradient of the result."""
    # the norm is constant where it was clamped (rows shorter than eps): only the division passes the gradient
    radial = (unit * grad).sum(1, keepdim=True).masked_fill_(norm <= _NORMALIZE_EPS, 0.0)
    return (grad - unit * radial) / norm


_NORMALIZE_EPS = 1e-12


class _CosineSharedInfoNCE(torch.autograd.Function):
    """``(loss, alignment, uniformity)`` for cosine scores against negatives shared by all anchors, in a few fused
    operations, with a hand-written backward pass.

    This is the loss of every neural training step, so it avoids what composing it from autograd operations costs:
    the log-sum-exp's backward recomputes the exponentials that its forward had (here the softmax is kept from
    the forward), the second normalisation of the positive's score is a separate pass, and the gradient's matrix
    products run in the layouts BLAS is fast at for a narrow embedding (``(d, n) @ (n, n)``). Values and gradients
    equal :func:`_parts_autograd`'s (tested in float64, with ``gradcheck``). When the backward pass itself is to be
    differentiated (``create_graph=True``), it is :func:`_parts_autograd`'s, through autograd.
    """

    @staticmethod
    def forward(
        ctx, anchor: Tensor, positive: Tensor, negatives: Tensor, temperature: Temperature
    ) -> tuple[Tensor, Tensor, Tensor]:
        inverse_temperature = 1.0 / temperature
        a_unit, a_norm = _unit_rows(anchor)
        p_unit, p_norm = _unit_rows(positive)
        n_unit, n_norm = _unit_rows(negatives)
        a_scaled = a_unit * inverse_temperature
        scores = a_scaled @ n_unit.T  # (n_samples, n_negatives)
        prob = torch.softmax(scores, dim=1)
        # log-sum-exp from the softmax: at a row's largest score s_max, p_max = exp(s_max - lse) >= 1 / n_negatives,
        # so lse = s_max - log(p_max) is as accurate as the softmax itself, also where other entries underflow
        lse = scores.amax(1) - prob.amax(1).log()
        alignment = -(a_scaled * p_unit).sum(1).mean()
        uniformity = lse.mean()
        ctx.save_for_backward(
            anchor, positive, negatives, a_unit, a_norm, p_unit, p_norm, n_unit, n_norm, prob
        )
        ctx.temperature, ctx.inverse_temperature = temperature, inverse_temperature
        return alignment + uniformity, alignment, uniformity

    @staticmethod
    def backward(
        ctx, grad_loss: Tensor, grad_alignment: Tensor, grad_uniformity: Tensor
    ) -> tuple[Tensor | None, ...]:
        anchor, positive, negatives, *saved = ctx.saved_tensors
        a_unit, a_norm, p_unit, p_norm, n_unit, n_norm, prob = saved
        inverse = ctx.inverse_temperature
        if torch.is_grad_enabled():  # create_graph: a backward that can itself be differentiated
            return _CosineSharedInfoNCE._backward_through_autograd(
                ctx, (anchor, positive, negatives), (grad_loss, grad_alignment, grad_uniformity)
            )
        n_samples = a_unit.shape[0]
        # d loss / d score: the softmax (uniformity) and -1 on each anchor's positive (alignment), over n_samples
        g_align = (grad_loss + grad_alignment) * (inverse / n_samples)
        g_unif = (grad_loss + grad_uniformity) * (inverse / n_samples)
        need_a, need_p, need_n = ctx.needs_input_grad[:3]
        grad_a = grad_p = grad_n = None
        if need_a:
            # (d, n_negatives) @ (n_negatives, n_samples), transposed: BLAS is slow at a narrow right-hand side
            grad_a_unit = (n_unit.T @ prob.T).T * g_unif - p_unit * g_align
            grad_a = _unit_rows_backward(grad_a_unit, a_unit, a_norm)
        if need_p:
            grad_p = _unit_rows_backward(a_unit * -g_align, p_unit, p_norm)
        if need_n:
            grad_n = _unit_rows_backward((a_unit.T @ prob).T * g_unif, n_unit, n_norm)
        return grad_a, grad_p, grad_n, None

    @staticmethod
    def _backward_through_autograd(
        ctx, inputs: tuple[Tensor, Tensor, Tensor], grads: tuple[Tensor, Tensor, Tensor]
    ) -> tuple[Tensor | None, ...]:
        wanted = [x for x, need in zip(inputs, ctx.needs_input_grad[:3]) if need]
        parts = _parts_autograd(*inputs, ctx.temperature, "cosine", False)
        found = iter(
            torch.autograd.grad(parts, wanted, grads, create_graph=True, allow_unused=True)
        )
        return (*(next(found) if need else None for need in ctx.needs_input_grad[:3]), None)


def info_nce(
    anchor: Tensor,
    positive: Tensor,
    negatives: Tensor,
    temperature: Temperature = 1.0,
    distance: str = "cosine",
    positive_in_denominator: bool = False,
) -> Tensor:
    r"""InfoNCE loss, mean over anchors.

    :math:`\ell_i = -s(a_i, p_i) + \log \sum_k \exp s(a_i, n_k)` (CEBRA's convention, the positive
    not in the denominator), or with ``positive_in_denominator=True`` the cross-entropy form
    :math:`-\log \frac{\exp s(a_i, p_i)}{\exp s(a_i, p_i) + \sum_k \exp s(a_i, n_k)}` of CPC/MoCo.
    ``s`` is the similarity divided by ``temperature`` (see :func:`similarity`).

    Parameters
    ----------
    anchor : torch.Tensor of shape (n_samples, n_features)
    positive : torch.Tensor of shape (n_samples, n_features)
        ``positive[i]`` is the positive of ``anchor[i]``.
    negatives : torch.Tensor of shape (n_negatives, n_features) or (n_samples, n_negatives, n_features)
        Shared by all anchors (CEBRA, a MoCo queue; ``n_negatives`` may differ from ``n_samples``)
        or one set per anchor.
    temperature : float or 0-d torch.Tensor
        Must be > 0. A tensor (e.g. a learnable parameter) carries gradients.
    distance : {"cosine", "euclidean"}
        ``"cosine"``: dot product of L2-normalised vectors; ``"euclidean"``: minus the squared
        euclidean distance.
    positive_in_denominator : bool
        Use the cross-entropy form (positive also in the log-sum-exp).

    Returns
    -------
    torch.Tensor, 0-d

    Raises
    ------
    ValueError
        Mismatched shapes, an unknown ``distance`` or a temperature that is not > 0.

    See Also
    --------
    info_nce_parts : the same loss with its alignment and uniformity terms.
    InfoNCE : module holding the hyperparameters, optionally a learnable temperature.

    Examples
    --------
    A collapsed encoder scores ``log(n_negatives)``:

    >>> import math, torch
    >>> z = torch.ones(4, 3)
    >>> loss = info_nce(z, z, torch.ones(8, 3))
    >>> round(loss.item(), 4), round(math.log(8), 4)
    (2.0794, 2.0794)
    >>> round(info_nce(z, z, torch.ones(8, 3), positive_in_denominator=True).item(), 4)
    2.1972
    """
    return info_nce_parts(
        anchor, positive, negatives, temperature, distance, positive_in_denominator
    )[0]


class InfoNCE(nn.Module):
    """InfoNCE loss module with a fixed or learnable temperature.

    Parameters
    ----------
    temperature : float
        Fixed temperature, or the initial one when ``learnable``. Must be > 0.
    distance : {"cosine", "euclidean"}
        Similarity used (see :func:`similarity`).
    learnable : bool
        Learn the temperature. The module then holds ``log_inverse_temperature``, an
        :class:`torch.nn.Parameter` initialised to ``-log(temperature)``; the effective inverse
        temperature ``exp(log_inverse_temperature)`` is clamped from above at
        ``1 / min_temperature``, i.e. the temperature never drops below ``min_temperature``.
    min_temperature : float
        Lower bound of a learnable temperature (ignored when the temperature is fixed). The initial
        ``temperature`` must not be below it.
    positive_in_denominator : bool
        Cross-entropy form of CPC/MoCo instead of CEBRA's (see :func:`info_nce`).

    Examples
    --------
    >>> import torch
    >>> crit = InfoNCE(temperature=0.5, learnable=True)
    >>> crit.temperature
    0.5
    >>> z = torch.ones(4, 3)
    >>> round(crit(z, z, torch.ones(6, 3)).item(), 4)
    1.7918
    """

    def __init__(
        self,
        temperature: float = 1.0,
        distance: str = "cosine",
        learnable: bool = False,
        min_temperature: float = 0.1,
        positive_in_denominator: bool = False,
    ) -> None:
        super().__init__()
        temperature = check_positive_float(temperature, "temperature")
        min_temperature = check_positive_float(min_temperature, "min_temperature")
        if learnable and temperature < min_temperature:
            raise ValueError(
                f"temperature={temperature} is below min_temperature={min_temperature}; a learnable "
                "temperature starts at or above its lower bound."
            )
        self.distance = check_distance(distance)
        self.learnable = bool(learnable)
        self.min_temperature = min_temperature
        self.positive_in_denominator = bool(positive_in_denominator)
        if self.learnable:
            self.log_inverse_temperature = nn.Parameter(torch.tensor(-math.log(temperature)))
        else:
            self._fixed_temperature = temperature

    def effective_temperature(self) -> Temperature:
        """The temperature used by :meth:`forward`: a float, or a 0-d tensor carrying gradients."""
        if not self.learnable:
            return self._fixed_temperature
        inverse = self.log_inverse_temperature.exp().clamp(max=1.0 / self.min_temperature)
        return 1.0 / inverse

    @property
    def temperature(self) -> float:
        """Current effective temperature as a python float (for logging)."""
        value = self.effective_temperature()
        return float(value.detach()) if isinstance(value, Tensor) else value

    def forward(self, anchor: Tensor, positive: Tensor, negatives: Tensor) -> Tensor:
        """Mean InfoNCE loss; shapes as in :func:`info_nce`."""
        return self.forward_parts(anchor, positive, negatives)[0]

    def forward_parts(
        self, anchor: Tensor, positive: Tensor, negatives: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss, alignment, uniformity)`` as in :func:`info_nce_parts`."""
        return info_nce_parts(
            anchor,
            positive,
            negatives,
            temperature=self.effective_temperature(),
            distance=self.distance,
            positive_in_denominator=self.positive_in_denominator,
        )

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature:.4g}, distance={self.distance!r}, "
            f"learnable={self.learnable}, min_temperature={self.min_temperature}, "
            f"positive_in_denominator={self.positive_in_denominator}"
        )

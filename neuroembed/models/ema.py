"""Exponential moving averages of networks (momentum encoders, EMA teachers).

:func:`ema_update_` moves a target network towards an online one,
``target <- momentum * target + (1 - momentum) * online``, over every parameter **and** every
floating-point buffer (batch-norm running statistics), in a handful of fused ``torch._foreach_*``
calls; integer buffers (``num_batches_tracked``) are copied. :func:`cosine_momentum` is the
schedule BYOL and DINO use to raise the momentum towards 1 over training, and
:func:`frozen_copy` makes the initial target. Pure torch.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["ema_update_", "cosine_momentum", "frozen_copy"]


def frozen_copy(module: nn.Module) -> nn.Module:
    """Deep copy of ``module`` with gradients switched off (the initial EMA target).

    Examples
    --------
    >>> from torch import nn
    >>> target = frozen_copy(nn.Linear(2, 2))
    >>> any(p.requires_grad for p in target.parameters())
    False
    """
    target = copy.deepcopy(module)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


def _pairs(
    target: nn.Module, online: nn.Module, kind: str
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    t_items = list(target.named_parameters() if kind == "parameter" else target.named_buffers())
    o_items = list(online.named_parameters() if kind == "parameter" else online.named_buffers())
    if len(t_items) != len(o_items) or any(
        tn != on or t.shape != o.shape for (tn, t), (on, o) in zip(t_items, o_items)
    ):
        t_desc = [(n, tuple(t.shape)) for n, t in t_items]
        o_desc = [(n, tuple(o.shape)) for n, o in o_items]
        raise ValueError(
            f"target and online networks must have the same {kind}s (names and shapes); "
            f"got {t_desc} and {o_desc}."
        )
    return [t for _, t in t_items], [o for _, o in o_items]


@torch.no_grad()
def ema_update_(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """Update ``target`` in place: ``target = momentum * target + (1 - momentum) * online``.

    Applied to all parameters and all floating-point buffers (e.g. batch-norm running mean and
    variance) with ``torch._foreach_mul_`` / ``torch._foreach_add_``; non-floating buffers are
    copied from ``online``. The two networks must have the same structure.

    Parameters
    ----------
    target : torch.nn.Module
        The slow network (momentum encoder / teacher), updated in place.
    online : torch.nn.Module
        The network trained by gradient descent.
    momentum : float
        In ``[0, 1]``; 1 leaves ``target`` unchanged, 0 copies ``online``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> online, target = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = online.weight.fill_(1.0), target.weight.fill_(0.0)
    >>> ema_update_(target, online, momentum=0.9)
    >>> round(target.weight.item(), 6)
    0.1
    """
    momentum = float(momentum)
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1]; got {momentum}.")
    t_params, o_params = _pairs(target, online, "parameter")
    t_bufs, o_bufs = _pairs(target, online, "buffer")
    t_float = [t for t in t_bufs if t.is_floating_point()]
    o_float = [o for o in o_bufs if o.is_floating_point()]
    t_other = [t for t in t_bufs if not t.is_floating_point()]
    o_other = [o for o in o_bufs if not o.is_floating_point()]
    t_all, o_all = t_params + t_float, o_params + o_float
    if t_all:
        torch._foreach_mul_(t_all, momentum)
        torch._foreach_add_(t_all, o_all, alpha=1.0 - momentum)
    if t_other:
        torch._foreach_copy_(t_other, o_other)


def cosine_momentum(step: float, total: float, base: float = 0.996, final: float = 1.0) -> float:
    """Cosine schedule from ``base`` at step 0 to ``final`` at step ``total`` (BYOL, DINO).

    ``final - (final - base) * (cos(pi * step / total) + 1) / 2``; steps beyond ``total`` give
    ``final``. ``step`` and ``total`` may be fractions (e.g. ``cosine_momentum(progress, 1.0)``).

    Examples
    --------
    >>> [round(cosine_momentum(s, 100, base=0.99, final=1.0), 6) for s in (0, 50, 100, 200)]
    [0.99, 0.995, 1.0, 1.0]
    """
    if not total > 0:
        raise ValueError(f"total must be > 0; got {total}.")
    fraction = min(max(step, 0), total) / total
    return final - (final - base) * (math.cos(math.pi * fraction) + 1.0) / 2.0

"""Adam for the neural training step: torch's fused kernel, without torch.optim's bookkeeping on every call.

A neural training step on a laptop CPU takes a few milliseconds, and ``torch.optim.Adam.step`` spends a few hundred
microseconds of it in Python (grouping the tensors by device and dtype, checks, a profiler scope) around the one fused
kernel that updates every parameter. :class:`FusedAdam` calls that kernel directly on lists made once, whenever the
optimiser is in the plain state a fit keeps it in; otherwise, and for its first step (which creates the state), it is
``torch.optim.Adam``. Its updates and ``state_dict`` are those of ``torch.optim.Adam(..., fused=True)`` (tested bit
for bit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["FusedAdam", "make_adam"]


class FusedAdam(torch.optim.Adam):
    """``torch.optim.Adam(params, lr, fused=True)`` with a fast path for the common case.

    The fast path applies when there is one parameter group, every parameter has a dense gradient, no closure is
    given, and the group asks for none of amsgrad, maximize, differentiable or capturable; it reads the group's
    ``lr``, ``betas``, ``eps`` and ``weight_decay`` at every step, so schedulers work as with ``torch.optim.Adam``.
    """

    def __init__(
        self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3, **kwargs: Any
    ) -> None:
        super().__init__(params, lr=lr, fused=True, **kwargs)
        self._lists: tuple[list[torch.Tensor], ...] | None = None

    def _fast_lists(self) -> tuple[list[torch.Tensor], ...] | None:
        """(params, exp_avgs, exp_avg_sqs, steps) when the fast path applies, else None."""
        if len(self.param_groups) != 1:
            return None
        group = self.param_groups[0]
        if any(group[key] for key in ("amsgrad", "maximize", "differentiable", "capturable")):
            return None
        if group.get("decoupled_weight_decay", False):
            return None
        if any(isinstance(v, torch.Tensor) for v in (group["lr"], *group["betas"])):
            return None
        if self._lists is None:
            params = group["params"]
            if not params or any(
                p not in self.state or "exp_avg" not in self.state[p] for p in params
            ):
                return None  # the first step creates the state
            if len({(p.device, p.dtype) for p in params}) > 1:
                return None  # one fused call takes tensors of one device and dtype
            self._lists = (
                list(params),
                [self.state[p]["exp_avg"] for p in params],
                [self.state[p]["exp_avg_sq"] for p in params],
                [self.state[p]["step"] for p in params],
            )
        return self._lists

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        lists = None if closure is not None else self._fast_lists()
        if lists is None:
            return self._torch_step(closure)
        params, exp_avgs, exp_avg_sqs, steps = lists
        grads = [p.grad for p in params]
        if any(g is None or g.is_sparse for g in grads):
            return self._torch_step(closure)
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        if steps[0].device.type == "cpu":
            # on the CPU a loop of scalar adds is cheaper than torch's foreach fallback
            for s in steps:
                s += 1
        else:
            torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            params,
            grads,  # type: ignore[arg-type]
            exp_avgs,
            exp_avg_sqs,
            [],
            steps,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            amsgrad=False,
            maximize=False,
            grad_scale=None,
            found_inf=None,
        )
        return None

    def _torch_step(self, closure: Callable[[], float] | None) -> float | None:
        # torch.optim.Adam's step, without the hooks: this class's own step, which calls it, has run them (torch
        # wraps every optimiser class's step, once, in a function that calls the hooks)
        step = torch.optim.Adam.step
        if getattr(step, "hooked", False):
            step = step.__wrapped__  # type: ignore[attr-defined]
        return step(self, closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        if not set_to_none:
            return super().zero_grad(set_to_none=False)
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._lists = None  # the state tensors were replaced

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        self._lists = None


def make_adam(params: list[torch.nn.Parameter], learning_rate: float) -> torch.optim.Adam:
    """:class:`FusedAdam` where this torch build has a fused Adam kernel for the parameters' device, else
    ``torch.optim.Adam`` (the same update rule, one parameter at a time)."""
    try:
        return FusedAdam(params, lr=learning_rate)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(params, lr=learning_rate)

"""Adam for the neural training step: torch's fused kernel, without torch.optim's bookkeeping on every call.

A neural training step on a laptop CPU takes a few milliseconds, and ``torch.optim.Adam.step`` spends a few hundred
microseconds of it in Python (grouping the tensors by device and dtype, checks, a profiler scope) around the one fused
kernel that updates every parameter. :class:`FusedAdam` calls that kernel directly on lists made once, whenever the
optimiser is in the plain state a fit keeps it in; otherwise, and for its first step (which creates the state), it is
``torch.optim.Adam``. Its updates and ``state_dict`` are those of ``torch.optim.Adam(..., fused=True)`` (tested bit
for bit).

``torch.optim.Optimizer`` wraps ``add_param_group``, ``zero_grad``, ``state_dict``, ``load_state_dict`` and every
``step`` in functions whose first call imports ``torch._dynamo`` (and with it ``torch.distributed``, ``sympy`` and
much of ``torch.fx``: about a second at start-up) only to tell a ``torch.compile`` trace what not to trace.
:class:`FusedAdam` calls the functions inside those wrappers (:func:`_undecorated`), so an eager fit never imports
the compiler; under ``torch.compile`` the fit's step is not traced anyway (the loop runs eagerly).

:func:`make_adam` makes a :class:`FusedAdam` where neuroembed's custom training paths are on (the CPU by default,
see :mod:`neuroembed._custom_paths`), and ``torch.optim.Adam(fused=True)`` elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from neuroembed._custom_paths import custom_paths_on

__all__ = ["FusedAdam", "make_adam"]


def _undecorated(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` without the wrappers torch.optim puts around it (each one keeps the function it wraps in
    ``__wrapped__``, as :func:`functools.wraps` does): the profiler-and-hooks wrapper of ``step``, the grad-mode
    wrapper ``_use_grad_for_differentiable`` (a graph break for ``torch.compile``, then ``torch.set_grad_enabled
    (differentiable)``) and ``torch._disable_dynamo``. What they do besides importing ``torch._dynamo`` is done by
    the callers here: :class:`FusedAdam` runs its step under ``torch.no_grad`` (a fused Adam is never
    differentiable) and calls the hooks once, in its own wrapped ``step``."""
    while hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    return function


_ADD_PARAM_GROUP = _undecorated(torch.optim.Optimizer.add_param_group)
_STATE_DICT = _undecorated(torch.optim.Optimizer.state_dict)
_LOAD_STATE_DICT = _undecorated(torch.optim.Optimizer.load_state_dict)
_ZERO_GRAD = _undecorated(torch.optim.Optimizer.zero_grad)


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
        # torch.optim.Adam's step, without the hooks (this class's own step, which calls it, has run them: torch
        # wraps every optimiser class's step, once, in a function that calls the hooks) and without the grad-mode
        # wrapper (this class's step runs under no_grad, which is what that wrapper sets for a fused Adam)
        return _undecorated(torch.optim.Adam.step)(self, closure)  # type: ignore[no-any-return]

    def zero_grad(self, set_to_none: bool = True) -> None:
        if not set_to_none:
            _ZERO_GRAD(self, set_to_none=False)
            return
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def state_dict(self) -> dict[str, Any]:
        return _STATE_DICT(self)  # type: ignore[no-any-return]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _LOAD_STATE_DICT(self, state_dict)
        self._lists = None  # the state tensors were replaced

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _ADD_PARAM_GROUP(self, param_group)
        self._lists = None


def make_adam(params: list[torch.nn.Parameter], learning_rate: float) -> torch.optim.Adam:
    """Adam with torch's fused kernel where this torch build has one for the parameters' device, else
    ``torch.optim.Adam`` (the same update rule, one parameter at a time).

    The fused optimiser is a :class:`FusedAdam` where neuroembed's custom training paths are on for the parameters'
    device (the CPU by default, see :mod:`neuroembed._custom_paths`), and ``torch.optim.Adam(fused=True)`` elsewhere,
    capturable on CUDA.
    """
    device = params[0].device if params else torch.device("cpu")
    custom = custom_paths_on(device)
    try:
        if custom:
            return FusedAdam(params, lr=learning_rate)
        # capturable on CUDA: its step counts stay on the device, so a CUDA graph can replay it (neuroembed._graphs)
        return torch.optim.Adam(
            params, lr=learning_rate, fused=True, capturable=device.type == "cuda"
        )
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(params, lr=learning_rate)

r"""DINO self-distillation loss (Caron et al., ICCV 2021).

For teacher view :math:`i` and student view :math:`j` of the same images, with prototype scores
:math:`t_i, s_j \in \mathbb{R}^K`, the centre :math:`c`, and temperatures :math:`\tau_t, \tau_s`,

.. math::

    q_i = \mathrm{softmax}\big((t_i - c) / \tau_t\big) \ \text{(no gradient)}, \qquad
    H(q_i, s_j) = -\sum_k q_{ik} \log \mathrm{softmax}(s_j / \tau_s)_k

and the loss is the mean of :math:`H` over the batch and over all pairs :math:`(i, j)` with
:math:`i \ne j`. The first ``V_t`` student views are the same (global) crops as the teacher's, so
pairs of a view with itself are skipped, as in the reference implementation.

After each training forward the centre follows the teacher's batch mean:
:math:`c \leftarrow m c + (1 - m) \bar t` (averaged over all teacher views and images, and over
processes when ``torch.distributed`` is initialised). The teacher temperature can warm up linearly
from ``warmup_teacher_temperature`` to ``teacher_temperature`` over ``warmup_steps`` steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuroembed._validation import check_positive_float, check_positive_int, describe
from neuroembed.losses._checks import Temperature, check_float_tensor, check_temperature

__all__ = ["dino_cross_entropy", "teacher_temperature_at", "DINOLoss"]


def _stack_views(outputs: Tensor | Sequence[Tensor], name: str) -> Tensor:
    if isinstance(outputs, (list, tuple)):
        if len(outputs) == 0:
            raise ValueError(
                f"{name} is an empty list; expected one (batch_size, output_dim) tensor per view."
            )
        for k, view in enumerate(outputs):
            check_float_tensor(view, f"{name}[{k}]", (2,), "(batch_size, output_dim)")
            if view.shape != outputs[0].shape:
                raise ValueError(
                    f"all views in {name} must have the same shape (batch_size, output_dim); view 0 has "
                    f"shape {tuple(outputs[0].shape)} and view {k} {tuple(view.shape)}."
                )
        return torch.stack(list(outputs))
    return check_float_tensor(
        outputs, name, (3,), "(n_views, batch_size, output_dim) or a list of views"
    )


def _check_pair(student: Tensor, teacher: Tensor, center: Tensor | None) -> None:
    if student.shape[1:] != teacher.shape[1:]:
        raise ValueError(
            "student and teacher outputs must agree in batch size and output dimension; got student "
            f"{tuple(student.shape)} and teacher {tuple(teacher.shape)} (n_views, batch_size, output_dim)."
        )
    if center is not None and center.shape[-1] != teacher.shape[-1]:
        raise ValueError(
            f"center must have {teacher.shape[-1]} entries (the output dimension); got shape "
            f"{tuple(center.shape)}."
        )


def dino_cross_entropy(
    student_outputs: Tensor | Sequence[Tensor],
    teacher_outputs: Tensor | Sequence[Tensor],
    center: Tensor | None = None,
    teacher_temperature: Temperature = 0.04,
    student_temperature: Temperature = 0.1,
) -> Tensor:
    """DINO cross-entropy between sharpened, centred teacher and student distributions.

    Parameters
    ----------
    student_outputs : torch.Tensor of shape (n_student_views, batch_size, output_dim) or list
        Student head outputs (logits over the prototypes), or a list of ``(batch_size, output_dim)``
        views. The first ``n_teacher_views`` must be the same crops as the teacher's.
    teacher_outputs : torch.Tensor of shape (n_teacher_views, batch_size, output_dim) or list
        Teacher head outputs; detached here.
    center : torch.Tensor of shape (output_dim,) or (1, output_dim), optional
        Subtracted from the teacher outputs; ``None`` for no centring.
    teacher_temperature, student_temperature : float or 0-d torch.Tensor
        Must be > 0.

    Returns
    -------
    torch.Tensor, 0-d
        Mean over the batch and over the ``(teacher view i, student view j)`` pairs with ``i != j``.

    Raises
    ------
    ValueError
        Mismatched shapes, or no pair of different views (one student and one teacher view).

    Examples
    --------
    Uniform teacher over ``K`` prototypes and a uniform student: the cross-entropy is ``log K``.

    >>> import torch
    >>> round(dino_cross_entropy(torch.zeros(3, 2, 4), torch.zeros(2, 2, 4)).item(), 4)  # log 4
    1.3863
    """
    student = _stack_views(student_outputs, "student_outputs")
    teacher = _stack_views(teacher_outputs, "teacher_outputs")
    if center is not None:
        check_float_tensor(center, "center", (1, 2), "(output_dim,) or (1, output_dim)")
    _check_pair(student, teacher, center)
    teacher_temperature = check_temperature(teacher_temperature, "teacher_temperature")
    student_temperature = check_temperature(student_temperature, "student_temperature")
    n_student, n_teacher = student.shape[0], teacher.shape[0]
    n_pairs = n_teacher * n_student - min(n_teacher, n_student)
    if n_pairs == 0:
        raise ValueError(
            f"DINO needs at least one (teacher view, student view) pair of different views; got "
            f"{n_teacher} teacher and {n_student} student view(s). Give the student more views."
        )
    teacher = teacher.detach()
    if center is not None:
        teacher = teacher - center.reshape(-1).detach()
    q = F.softmax(teacher / teacher_temperature, dim=-1)  # (V_t, B, K)
    log_p = F.log_softmax(student / student_temperature, dim=-1)  # (V_s, B, K)
    # cross-entropy of every (teacher i, student j) pair, averaged over the batch: (V_t, V_s)
    ce = -torch.einsum("ibk,jbk->ij", q, log_p) / student.shape[1]
    keep = ~torch.eye(n_teacher, n_student, dtype=torch.bool, device=student.device)
    return torch.where(keep, ce, 0.0).sum() / n_pairs


def teacher_temperature_at(
    step: int, final: float, warmup: float | None = None, warmup_steps: int = 0
) -> float:
    """Teacher temperature at ``step``: linear from ``warmup`` to ``final`` over ``warmup_steps``.

    ``warmup`` at step 0, ``final`` from step ``warmup_steps`` on. DINO's schedule with
    ``warmup_teacher_temp_epochs=W`` (``linspace(warmup, final, W)``, reaching ``final`` at epoch
    ``W - 1``) is this one with ``warmup_steps = W - 1``.

    Examples
    --------
    >>> round(teacher_temperature_at(5, final=0.07, warmup=0.04, warmup_steps=10), 12)
    0.055
    >>> teacher_temperature_at(50, final=0.07, warmup=0.04, warmup_steps=10)
    0.07
    """
    if warmup is None or warmup_steps <= 0 or step >= warmup_steps:
        return final
    return warmup + (final - warmup) * step / warmup_steps


def ema_center_(center: Tensor, batch_center: Tensor, momentum: float) -> None:
    """In place ``center <- momentum * center + (1 - momentum) * batch_center`` (all-reduced)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        batch_center = batch_center.clone()
        torch.distributed.all_reduce(batch_center)
        batch_center /= torch.distributed.get_world_size()
    center.mul_(momentum).add_(batch_center.to(center.dtype), alpha=1.0 - momentum)


class _TeacherCentered(nn.Module):
    """Shared state of DINO and iBOT: centre buffer, temperatures, warm-up."""

    center: Tensor
    num_updates: Tensor

    def __init__(
        self,
        output_dim: int,
        teacher_temperature: float,
        student_temperature: float,
        center_momentum: float,
        warmup_teacher_temperature: float | None,
        warmup_steps: int,
    ) -> None:
        super().__init__()
        self.output_dim = cast(int, check_positive_int(output_dim, "output_dim"))
        self.teacher_temperature = check_positive_float(teacher_temperature, "teacher_temperature")
        self.student_temperature = check_positive_float(student_temperature, "student_temperature")
        momentum = check_positive_float(center_momentum, "center_momentum", allow_zero=True)
        if momentum >= 1.0:
            raise ValueError(f"center_momentum must be in [0, 1); got {momentum}.")
        self.center_momentum = momentum
        self.warmup_teacher_temperature = (
            None
            if warmup_teacher_temperature is None
            else check_positive_float(warmup_teacher_temperature, "warmup_teacher_temperature")
        )
        self.warmup_steps = cast(int, check_positive_int(warmup_steps, "warmup_steps", minimum=0))
        self.register_buffer("center", torch.zeros(1, self.output_dim))
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    def current_teacher_temperature(self, step: int | None = None) -> float:
        """Teacher temperature at ``step`` (default: the number of centre updates so far)."""
        if self.warmup_teacher_temperature is None or self.warmup_steps == 0:
            step = 0 if step is None else step
        if step is None:
            step = int(self.num_updates)
        elif isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(
                f"step must be a non-negative int or None; got {step!r} ({describe(step)})."
            )
        elif step < 0:
            raise ValueError(f"step must be a non-negative int or None; got {step}.")
        return teacher_temperature_at(
            step, self.teacher_temperature, self.warmup_teacher_temperature, self.warmup_steps
        )

    def _update_center(self, teacher: Tensor) -> None:
        if not self.training:
            return
        with torch.no_grad():
            flat = teacher.detach().reshape(-1, teacher.shape[-1])
            ema_center_(self.center, flat.mean(0, keepdim=True), self.center_momentum)
            self.num_updates += 1

    def extra_repr(self) -> str:
        return (
            f"output_dim={self.output_dim}, teacher_temperature={self.teacher_temperature}, "
            f"student_temperature={self.student_temperature}, center_momentum={self.center_momentum}, "
            f"warmup_teacher_temperature={self.warmup_teacher_temperature}, warmup_steps={self.warmup_steps}"
        )


class DINOLoss(_TeacherCentered):
    """DINO loss with the teacher centre as a buffer (see :func:`dino_cross_entropy`).

    Parameters
    ----------
    output_dim : int
        Number of prototypes ``K`` (size of the head output).
    teacher_temperature : float
        Final teacher temperature.
    student_temperature : float
    center_momentum : float
        EMA momentum of the centre, in ``[0, 1)``.
    warmup_teacher_temperature : float, optional
        Starting teacher temperature of a linear warm-up; ``None`` for none.
    warmup_steps : int
        Length of the warm-up in steps.

    Attributes
    ----------
    center : torch.Tensor of shape (1, output_dim)
        Buffer; updated after every forward in training mode (not in ``eval()`` mode).
    num_updates : torch.Tensor, 0-d
        Number of centre updates, the default ``step`` of the warm-up.

    Examples
    --------
    >>> import torch
    >>> crit = DINOLoss(output_dim=4, center_momentum=0.5)
    >>> loss = crit(torch.zeros(3, 2, 4), torch.ones(2, 2, 4))
    >>> round(loss.item(), 4), crit.center.tolist()
    (1.3863, [[0.5, 0.5, 0.5, 0.5]])
    """

    def __init__(
        self,
        output_dim: int,
        teacher_temperature: float = 0.04,
        student_temperature: float = 0.1,
        center_momentum: float = 0.9,
        warmup_teacher_temperature: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        super().__init__(
            output_dim,
            teacher_temperature,
            student_temperature,
            center_momentum,
            warmup_teacher_temperature,
            warmup_steps,
        )

    def forward(
        self,
        student_outputs: Tensor | Sequence[Tensor],
        teacher_outputs: Tensor | Sequence[Tensor],
        step: int | None = None,
    ) -> Tensor:
        """Loss for ``(n_views, batch_size, output_dim)`` outputs (or lists of views); updates the centre."""
        teacher = _stack_views(teacher_outputs, "teacher_outputs")
        if teacher.shape[-1] != self.output_dim:
            raise ValueError(
                f"teacher_outputs have {teacher.shape[-1]} prototypes but the loss was built with "
                f"output_dim={self.output_dim}."
            )
        loss = dino_cross_entropy(
            student_outputs,
            teacher,
            self.center,
            self.current_teacher_temperature(step),
            self.student_temperature,
        )
        self._update_center(teacher)
        return loss

r"""iBOT masked-patch self-distillation loss (Zhou et al., ICLR 2022).

The student sees an image with some patch tokens masked; the teacher sees it unmasked. For every
masked token :math:`u` of image :math:`b`, with patch-head outputs :math:`t_{bu}, s_{bu} \in
\mathbb{R}^K` and the patch centre :math:`c`,

.. math::

    H_{bu} = -\sum_k \mathrm{softmax}\big((t_{bu} - c)/\tau_t\big)_k
             \log \mathrm{softmax}(s_{bu}/\tau_s)_k .

The loss averages :math:`H_{bu}` over the masked tokens of each image, then over all the images of
the batch, an image without any masked token counting as zero (the normalisation of the iBOT and
DINOv2 code, and of lightly's ``IBOTPatchLoss``: with half the images masked, the loss is half the
mean over the masked ones). If no token is masked at all it is a zero connected to the graph. The
teacher is detached. After each training forward the patch centre follows the mean
teacher output over *all* tokens of the batch (masked or not), by EMA, as in the reference code.

For several global views, flatten the views into the batch axis (iBOT pairs each student view's
patches with the teacher's patches of the *same* view).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from neuroembed._validation import describe
from neuroembed.losses._checks import Temperature, check_float_tensor, check_temperature
from neuroembed.losses.dino import _TeacherCentered

__all__ = ["ibot_patch_cross_entropy", "IBOTPatchLoss"]


def ibot_patch_cross_entropy(
    student_patches: Tensor,
    teacher_patches: Tensor,
    mask: Tensor,
    center: Tensor | None = None,
    teacher_temperature: Temperature = 0.04,
    student_temperature: Temperature = 0.1,
) -> Tensor:
    """Masked-token cross-entropy of iBOT, mean over masked tokens per image, then over all images (an
    image without a masked token counts as zero).

    Parameters
    ----------
    student_patches : torch.Tensor of shape (batch_size, n_patches, output_dim)
        Student patch-head outputs on the masked image.
    teacher_patches : torch.Tensor of shape (batch_size, n_patches, output_dim)
        Teacher patch-head outputs on the unmasked image (detached here).
    mask : torch.Tensor of shape (batch_size, n_patches), bool
        True where the student's token was masked; only those tokens count.
    center : torch.Tensor of shape (output_dim,) or (1, output_dim), optional
        Subtracted from the teacher outputs.
    teacher_temperature, student_temperature : float or 0-d torch.Tensor
        Must be > 0.

    Returns
    -------
    torch.Tensor, 0-d

    Examples
    --------
    >>> import torch
    >>> s, t = torch.zeros(2, 3, 5), torch.zeros(2, 3, 5)
    >>> mask = torch.tensor([[True, False, False], [False, False, False]])
    >>> round(ibot_patch_cross_entropy(s, t, mask).item(), 4)  # (log 5 + 0) / 2: image 2 has no masked token
    0.8047
    """
    shape_doc = "(batch_size, n_patches, output_dim)"
    check_float_tensor(student_patches, "student_patches", (3,), shape_doc)
    check_float_tensor(teacher_patches, "teacher_patches", (3,), shape_doc)
    if student_patches.shape != teacher_patches.shape:
        raise ValueError(
            f"student_patches and teacher_patches must have the same shape {shape_doc}; got "
            f"{tuple(student_patches.shape)} and {tuple(teacher_patches.shape)}."
        )
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise TypeError(
            f"mask must be a bool tensor of shape (batch_size, n_patches); got {describe(mask)}."
        )
    if mask.shape != student_patches.shape[:2]:
        raise ValueError(
            f"mask must have shape (batch_size, n_patches) = {tuple(student_patches.shape[:2])}; got "
            f"{tuple(mask.shape)}."
        )
    if center is not None:
        check_float_tensor(center, "center", (1, 2), "(output_dim,) or (1, output_dim)")
        if center.shape[-1] != teacher_patches.shape[-1]:
            raise ValueError(
                f"center must have {teacher_patches.shape[-1]} entries (the output dimension); got "
                f"shape {tuple(center.shape)}."
            )
    teacher_temperature = check_temperature(teacher_temperature, "teacher_temperature")
    student_temperature = check_temperature(student_temperature, "student_temperature")

    teacher = teacher_patches.detach()
    if center is not None:
        teacher = teacher - center.reshape(-1).detach()
    q = F.softmax(teacher / teacher_temperature, dim=-1)
    log_p = F.log_softmax(student_patches / student_temperature, dim=-1)
    per_token = -(q * log_p).sum(-1)  # (batch_size, n_patches)
    n_masked = mask.sum(1)
    per_image = torch.where(mask, per_token, 0.0).sum(1) / n_masked.clamp(min=1)
    return per_image.sum() / max(per_image.shape[0], 1)


class IBOTPatchLoss(_TeacherCentered):
    """iBOT patch loss with the patch centre as a buffer (see :func:`ibot_patch_cross_entropy`).

    Parameters
    ----------
    output_dim : int
        Number of patch prototypes ``K``.
    teacher_temperature : float
        Final teacher temperature.
    student_temperature : float
    center_momentum : float
        EMA momentum of the patch centre, in ``[0, 1)``.
    warmup_teacher_temperature : float, optional
        Starting teacher temperature of a linear warm-up; ``None`` for none.
    warmup_steps : int

    Attributes
    ----------
    center : torch.Tensor of shape (1, output_dim)
        Buffer; updated after each forward in training mode.
    num_updates : torch.Tensor, 0-d

    Examples
    --------
    >>> import torch
    >>> crit = IBOTPatchLoss(output_dim=5)
    >>> mask = torch.tensor([[True, False, True]])
    >>> round(crit(torch.zeros(1, 3, 5), torch.zeros(1, 3, 5), mask).item(), 4)
    1.6094
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
        student_patches: Tensor,
        teacher_patches: Tensor,
        mask: Tensor,
        step: int | None = None,
    ) -> Tensor:
        """Loss for ``(batch_size, n_patches, output_dim)`` outputs and a ``(batch_size, n_patches)`` mask."""
        check_float_tensor(
            teacher_patches, "teacher_patches", (3,), "(batch_size, n_patches, output_dim)"
        )
        if teacher_patches.shape[-1] != self.output_dim:
            raise ValueError(
                f"teacher_patches have {teacher_patches.shape[-1]} prototypes but the loss was built "
                f"with output_dim={self.output_dim}."
            )
        loss = ibot_patch_cross_entropy(
            student_patches,
            teacher_patches,
            mask,
            self.center,
            self.current_teacher_temperature(step),
            self.student_temperature,
        )
        self._update_center(teacher_patches)
        return loss

r"""Gram anchoring loss of DINOv3 (Siméoni et al., 2025).

The patch-to-patch similarity structure of the student is pulled towards that of a Gram teacher
(an earlier checkpoint whose dense features are still good). With :math:`X_S, X_G \in
\mathbb{R}^{P \times D}` the (L2-normalised) patch features of one image,

.. math::

    \mathcal{L}_{\text{Gram}} = \frac{1}{P^2} \lVert X_S X_S^\top - X_G X_G^\top \rVert_F^2,

i.e. the mean squared difference between the two ``P x P`` Gram matrices, averaged over the images
of the batch. This normalisation (mean, not sum, of the squared entries) keeps the loss in
``[0, 4]`` for unit features whatever the number of patches. The teacher is detached. Student and
teacher may have different feature sizes (only the Gram matrices are compared).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from neuroembed.losses._checks import check_float_tensor, unit

__all__ = ["gram_loss", "GramLoss"]


def gram_loss(student_patches: Tensor, teacher_patches: Tensor, normalize: bool = True) -> Tensor:
    """Mean squared difference between student and teacher patch Gram matrices.

    Parameters
    ----------
    student_patches : torch.Tensor of shape (batch_size, n_patches, n_features)
    teacher_patches : torch.Tensor of shape (batch_size, n_patches, n_teacher_features)
        Detached here.
    normalize : bool
        L2-normalise every patch feature first (DINOv3), so the Gram entries are cosine similarities.

    Returns
    -------
    torch.Tensor, 0-d
        ``mean_{b, i, j} (G_S[b, i, j] - G_G[b, i, j])^2``.

    Examples
    --------
    >>> import torch
    >>> s = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])   # orthogonal patches
    >>> t = torch.tensor([[[1.0, 0.0], [2.0, 0.0]]])   # parallel patches
    >>> gram_loss(s, t)  # off-diagonal entries differ by 1: (0 + 1 + 1 + 0) / 4
    tensor(0.5000)
    """
    check_float_tensor(
        student_patches, "student_patches", (3,), "(batch_size, n_patches, n_features)"
    )
    check_float_tensor(
        teacher_patches, "teacher_patches", (3,), "(batch_size, n_patches, n_features)"
    )
    if student_patches.shape[:2] != teacher_patches.shape[:2]:
        raise ValueError(
            "student_patches and teacher_patches must have the same batch size and number of patches "
            f"(first two axes); got shapes {tuple(student_patches.shape)} and "
            f"{tuple(teacher_patches.shape)}."
        )
    teacher = teacher_patches.detach()
    student = student_patches
    if normalize:
        student = unit(student)
        teacher = unit(teacher)
    g_student = student @ student.transpose(1, 2)
    g_teacher = teacher @ teacher.transpose(1, 2)
    return F.mse_loss(g_student, g_teacher)


class GramLoss(nn.Module):
    """Gram anchoring loss module (see :func:`gram_loss`).

    Parameters
    ----------
    normalize : bool
        L2-normalise the patch features before the Gram matrices.

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(24.0).reshape(2, 4, 3)
    >>> round(GramLoss()(x, 5 * x).item(), 6)  # same directions: same Gram matrices
    0.0
    """

    def __init__(self, normalize: bool = True) -> None:
        super().__init__()
        self.normalize = bool(normalize)

    def forward(self, student_patches: Tensor, teacher_patches: Tensor) -> Tensor:
        """Loss for ``(batch_size, n_patches, n_features)`` student and teacher patch features."""
        return gram_loss(student_patches, teacher_patches, self.normalize)

    def extra_repr(self) -> str:
        return f"normalize={self.normalize}"

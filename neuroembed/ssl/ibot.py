"""iBOT (Zhou et al. 2022): DINO on the CLS token plus masked patch-token distillation on a ViT."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroembed._validation import check_positive_float, check_positive_int
from neuroembed.losses import DINOLoss, GramLoss, IBOTPatchLoss
from neuroembed.models.ema import cosine_momentum, ema_update_, frozen_copy
from neuroembed.models.heads import DINOHead
from neuroembed.ssl._base import SSLEstimator, SSLMethod, TrainBatch, fill_doc
from neuroembed.ssl.augment import MultiCrop
from neuroembed.ssl.byol import check_momenta
from neuroembed.ssl.dino import SCHEDULE_STEPS, check_bool, check_multi_crop, check_warmup

__all__ = ["IBOT", "random_patch_mask"]


def random_patch_mask(
    n_samples: int,
    n_patches: int,
    ratio: tuple[float, float],
    probability: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Random patch masks ``(n_samples, n_patches)`` (bool, ``True`` = masked).

    A fraction ``probability`` of the samples is masked; each of them draws a ratio
    ``r ~ U(ratio)`` and masks every patch independently with probability ``r``.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> random_patch_mask(3, 16, (0.5, 0.5), 1.0, g).shape
    torch.Size([3, 16])
    """
    device = generator.device
    chosen = torch.rand(n_samples, generator=generator, device=device) < probability
    r = ratio[0] + (ratio[1] - ratio[0]) * torch.rand(n_samples, generator=generator, device=device)
    masked = torch.rand(n_samples, n_patches, generator=generator, device=device) < r[:, None]
    return masked & chosen[:, None]


class _IBOTMethod(SSLMethod):
    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        patch_head: nn.Module,
        multi_crop: MultiCrop,
        cls_criterion: DINOLoss,
        patch_criterion: IBOTPatchLoss,
        mask_ratio: tuple[float, float],
        mask_probability: float,
        patch_loss_weight: float,
        gram_weight: float,
        base_momentum: float,
        final_momentum: float,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.student = nn.ModuleDict({"backbone": backbone, "head": head, "patch_head": patch_head})
        self.teacher = frozen_copy(self.student)
        self._grid_shape: Callable[[int, int], tuple[int, int]] = backbone.grid_shape  # type: ignore[assignment]
        self.multi_crop = multi_crop
        self.cls_criterion = cls_criterion
        self.patch_criterion = patch_criterion
        self.gram = GramLoss()
        self.mask_ratio, self.mask_probability = mask_ratio, mask_probability
        self.patch_loss_weight, self.gram_weight = patch_loss_weight, gram_weight
        self.base_momentum, self.final_momentum = base_momentum, final_momentum

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        globals_, locals_ = self.multi_crop(batch.images, batch.generator)
        n_global, b = len(globals_), batch.images.shape[0]
        g = torch.cat(globals_)
        rows, cols = self._grid_shape(g.shape[2], g.shape[3])
        mask = random_patch_mask(
            g.shape[0], rows * cols, self.mask_ratio, self.mask_probability, batch.generator
        )
        s: Any = self.student
        s_cls, s_patch = s["backbone"].forward_tokens(g, mask)
        student = [s["head"](s_cls)]
        if locals_:
            student.append(s["head"](s["backbone"](torch.cat(locals_))))
        student_out = torch.cat(student).view(-1, b, student[0].shape[-1])
        with torch.no_grad():
            t: Any = self.teacher
            t_cls, t_patch = t["backbone"].forward_tokens(g)
            teacher_out = t["head"](t_cls).view(n_global, b, -1)
            teacher_patch_out = t["patch_head"](t_patch)
        step = round(batch.progress * SCHEDULE_STEPS)
        loss = self.cls_criterion(student_out, teacher_out, step)
        loss = loss + self.patch_loss_weight * self.patch_criterion(
            s["patch_head"](s_patch), teacher_patch_out, mask, step
        )
        if self.gram_weight > 0:
            loss = loss + self.gram_weight * self.gram(s_patch, t_patch)
        return loss

    def after_step(self, step: int, progress: float) -> None:
        momentum = cosine_momentum(progress, 1.0, self.base_momentum, self.final_momentum)
        ema_update_(self.teacher, self.student, momentum)


@fill_doc
class IBOT(SSLEstimator):
    """iBOT: DINO's CLS self-distillation plus masked patch-token self-distillation, on a ViT.

    As :class:`~neuroembed.ssl.DINO`, and in addition the student sees the global crops with a
    random subset of patch tokens replaced by a learned mask token, while the EMA teacher sees
    them intact; a patch head's outputs for the masked tokens are distilled from the teacher's
    (Zhou et al., ICLR 2022; random rather than block-wise masking). With ``gram_weight > 0`` a Gram
    anchoring term (DINOv3) keeps the student's patch-similarity structure close to the EMA
    teacher's. Needs a backbone that returns patch tokens (``backbone="vit"``).

    Parameters
    ----------
    %(common_parameters)s
    head_dimension : int
        Prototypes of the CLS head and of the patch head.
    hidden_dimension : int
        Hidden width of both heads.
    bottleneck_dimension : int
        Width of the heads' normalised bottleneck.
    teacher_temperature : float
        Teacher temperature (CLS and patches) after the warm-up.
    warmup_teacher_temperature : float
        Teacher temperature at the start of training (equal to ``teacher_temperature`` by default:
        no warm-up, DINO's setting for small ViTs; e.g. 0.04 -> 0.07 for long runs).
    warmup_fraction : float
        Fraction of training over which the teacher temperature rises linearly.
    student_temperature : float
        Student temperature.
    center_momentum : float
        EMA momentum of the teacher centres.
    mask_ratio : (float, float)
        Range of the fraction of patches masked in a masked image.
    mask_probability : float
        Fraction of the global crops that are masked.
    patch_loss_weight : float
        Weight of the masked-patch loss (a mean over all global crops, unmasked ones counting as zero, as in
        iBOT: with ``mask_probability=0.5`` about half the crops contribute).
    gram_weight : float
        Weight of the Gram anchoring loss (0 disables it).
    head_batch_norm : bool
        Batch norm in the heads' MLPs (see :class:`~neuroembed.ssl.DINO`; without it a small ViT
        on small images drifts to uniform outputs).
    base_momentum, final_momentum : float
        Teacher EMA momentum at the start and the end of training (cosine schedule).
    augmentation : MultiCrop, optional
        Global and local views; ``MultiCrop()`` by default.

    Attributes
    ----------
    %(common_attributes)s

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((8, 1, 8, 8))
    >>> model = IBOT(output_dimension=8, head_dimension=16, batch_size=4, max_iterations=2, random_state=0)
    >>> model.fit(X).transform(X).shape
    (8, 8)
    """

    def __init__(
        self,
        backbone: str = "vit",
        output_dimension: int = 64,
        head_dimension: int = 256,
        hidden_dimension: int = 256,
        bottleneck_dimension: int = 64,
        teacher_temperature: float = 0.04,
        warmup_teacher_temperature: float = 0.04,
        warmup_fraction: float = 0.3,
        student_temperature: float = 0.1,
        center_momentum: float = 0.9,
        mask_ratio: tuple[float, float] = (0.1, 0.5),
        mask_probability: float = 0.5,
        patch_loss_weight: float = 1.0,
        gram_weight: float = 0.0,
        head_batch_norm: bool = True,
        base_momentum: float = 0.99,
        final_momentum: float = 1.0,
        augmentation: MultiCrop | None = None,
        batch_size: int = 256,
        learning_rate: float = 5e-4,
        weight_decay: float = 1e-4,
        max_iterations: int = 1000,
        max_seconds: float | None = None,
        device: str = "auto",
        random_state: Any = None,
        verbose: bool = False,
    ) -> None:
        self.backbone = backbone
        self.output_dimension = output_dimension
        self.head_dimension = head_dimension
        self.hidden_dimension = hidden_dimension
        self.bottleneck_dimension = bottleneck_dimension
        self.teacher_temperature = teacher_temperature
        self.warmup_teacher_temperature = warmup_teacher_temperature
        self.warmup_fraction = warmup_fraction
        self.student_temperature = student_temperature
        self.center_momentum = center_momentum
        self.mask_ratio = mask_ratio
        self.mask_probability = mask_probability
        self.patch_loss_weight = patch_loss_weight
        self.gram_weight = gram_weight
        self.head_batch_norm = head_batch_norm
        self.base_momentum = base_momentum
        self.final_momentum = final_momentum
        self.augmentation = augmentation
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_iterations = max_iterations
        self.max_seconds = max_seconds
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build(
        self, image_shape: tuple[int, int, int], labels: np.ndarray | None, data: torch.Tensor
    ) -> SSLMethod:
        backbone = self._make_backbone(image_shape)
        if not (hasattr(backbone, "forward_tokens") and hasattr(backbone, "grid_shape")):
            raise ValueError(
                f"IBOT needs a backbone that returns patch tokens (forward_tokens / grid_shape), such "
                f"as backbone='vit'; got backbone={self.backbone!r}."
            )
        ratio = tuple(float(r) for r in self.mask_ratio)
        if len(ratio) != 2 or not 0.0 <= ratio[0] <= ratio[1] <= 1.0:
            raise ValueError(
                f"mask_ratio must be a pair (a, b) with 0 <= a <= b <= 1; got {self.mask_ratio!r}."
            )
        probability = check_positive_float(
            self.mask_probability, "mask_probability", allow_zero=True
        )
        if probability > 1:
            raise ValueError(f"mask_probability must be in [0, 1]; got {probability}.")
        base, final = check_momenta(self.base_momentum, self.final_momentum)
        teacher_t, warmup_t, warmup_steps = check_warmup(
            self.teacher_temperature, self.warmup_teacher_temperature, self.warmup_fraction
        )
        k = check_positive_int(self.head_dimension, "head_dimension")
        hidden = check_positive_int(self.hidden_dimension, "hidden_dimension")
        bottleneck = check_positive_int(self.bottleneck_dimension, "bottleneck_dimension")
        loss_args: dict[str, Any] = {
            "teacher_temperature": teacher_t,
            "student_temperature": self.student_temperature,
            "center_momentum": self.center_momentum,
            "warmup_teacher_temperature": warmup_t,
            "warmup_steps": warmup_steps,
        }
        bn = check_bool(self.head_batch_norm, "head_batch_norm")
        return _IBOTMethod(
            backbone,
            DINOHead(self.output_dimension, k, hidden, bottleneck, batch_norm=bn),
            DINOHead(self.output_dimension, k, hidden, bottleneck, batch_norm=bn),
            check_multi_crop(self.augmentation),
            DINOLoss(k, **loss_args),
            IBOTPatchLoss(k, **loss_args),
            (ratio[0], ratio[1]),
            probability,
            check_positive_float(self.patch_loss_weight, "patch_loss_weight", allow_zero=True),
            check_positive_float(self.gram_weight, "gram_weight", allow_zero=True),
            base,
            final,
        )

"""DINO (Caron et al. 2021): self-distillation from an EMA teacher with multi-crop views."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from neuroembed._validation import check_positive_float, check_positive_int
from neuroembed.losses import DINOLoss
from neuroembed.models.ema import cosine_momentum, ema_update_, frozen_copy
from neuroembed.models.heads import DINOHead
from neuroembed.ssl._base import SSLEstimator, SSLMethod, TrainBatch, fill_doc
from neuroembed.ssl.augment import MultiCrop
from neuroembed.ssl.byol import check_momenta

__all__ = ["DINO"]

#: Schedules driven by the fraction of training done (teacher temperature warm-up) are given to the
#: losses as integer steps on this scale, so that they work the same for iteration and time budgets.
SCHEDULE_STEPS = 10_000


def check_warmup(teacher: Any, warmup: Any, fraction: Any) -> tuple[float, float, int]:
    """Validate a teacher temperature warm-up; return (teacher, warmup, warmup steps on the schedule scale)."""
    teacher = check_positive_float(teacher, "teacher_temperature")
    warmup = check_positive_float(warmup, "warmup_teacher_temperature")
    fraction = check_positive_float(fraction, "warmup_fraction", allow_zero=True)
    if fraction > 1:
        raise ValueError(f"warmup_fraction must be in [0, 1]; got {fraction}.")
    return teacher, warmup, round(fraction * SCHEDULE_STEPS)


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` as a bool; raise TypeError for anything but True / False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def check_multi_crop(augmentation: Any) -> MultiCrop:
    """The multi-crop views of DINO / iBOT: ``MultiCrop()`` by default."""
    if augmentation is None:
        return MultiCrop()
    if not isinstance(augmentation, MultiCrop):
        raise TypeError(
            "augmentation must be a neuroembed.ssl.MultiCrop (global and local views) or None; "
            f"got {type(augmentation).__name__}."
        )
    return augmentation


class _DINOMethod(SSLMethod):
    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        multi_crop: MultiCrop,
        criterion: DINOLoss,
        base_momentum: float,
        final_momentum: float,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.student = nn.Sequential(backbone, head)
        self.teacher = frozen_copy(self.student)
        self.multi_crop = multi_crop
        self.criterion = criterion
        self.base_momentum, self.final_momentum = base_momentum, final_momentum

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        globals_, locals_ = self.multi_crop(batch.images, batch.generator)
        n_global, b = len(globals_), batch.images.shape[0]
        g = torch.cat(globals_)
        student = [self.student(g)]
        if locals_:
            student.append(self.student(torch.cat(locals_)))
        student_out = torch.cat(student).view(-1, b, student[0].shape[-1])  # (V_s, B, K)
        with torch.no_grad():
            teacher_out = self.teacher(g).view(n_global, b, -1)  # (V_t, B, K)
        return self.criterion(student_out, teacher_out, round(batch.progress * SCHEDULE_STEPS))

    def after_step(self, step: int, progress: float) -> None:
        momentum = cosine_momentum(progress, 1.0, self.base_momentum, self.final_momentum)
        ema_update_(self.teacher, self.student, momentum)


@fill_doc
class DINO(SSLEstimator):
    """DINO: a student matches the centred, sharpened output of an EMA teacher across crops.

    Each image gives 2 global and several local crops (:class:`~neuroembed.ssl.MultiCrop`). The
    teacher (an exponential moving average of the student's backbone and DINO head, parameters and
    buffers) sees the global crops, the student all of them; the loss is the cross-entropy between
    the teacher's centred, low-temperature softmax and the student's softmax over every pair of
    different views. Centring and sharpening avoid collapse (Caron et al., ICCV 2021).

    Parameters
    ----------
    %(common_parameters)s
    head_dimension : int
        Number of prototypes ``K`` of the DINO head.
    hidden_dimension : int
        Hidden width of the DINO head.
    bottleneck_dimension : int
        Width of the head's normalised bottleneck.
    teacher_temperature : float
        Teacher temperature after the warm-up.
    warmup_teacher_temperature : float
        Teacher temperature at the start of training (equal to ``teacher_temperature`` by default:
        no warm-up, DINO's setting for small ViTs; e.g. 0.04 -> 0.07 for long runs).
    warmup_fraction : float
        Fraction of training over which the teacher temperature rises linearly.
    student_temperature : float
        Student temperature.
    center_momentum : float
        EMA momentum of the teacher centre.
    head_batch_norm : bool
        Batch norm in the DINO head's MLP (DINO's choice for ResNets). On by default: on small
        images and small models, the ViT as well as the CNN, training without it drifts to the
        collapsed solution (uniform outputs, loss ``log(head_dimension)``).
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
    >>> X = np.random.default_rng(0).random((16, 1, 8, 8))
    >>> DINO(output_dimension=4, head_dimension=16, batch_size=8, max_iterations=2, random_state=0).fit(X).transform(X).shape
    (16, 4)
    """

    def __init__(
        self,
        backbone: str = "cnn",
        output_dimension: int = 64,
        head_dimension: int = 256,
        hidden_dimension: int = 256,
        bottleneck_dimension: int = 64,
        teacher_temperature: float = 0.04,
        warmup_teacher_temperature: float = 0.04,
        warmup_fraction: float = 0.3,
        student_temperature: float = 0.1,
        center_momentum: float = 0.9,
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
        base, final = check_momenta(self.base_momentum, self.final_momentum)
        teacher_t, warmup_t, warmup_steps = check_warmup(
            self.teacher_temperature, self.warmup_teacher_temperature, self.warmup_fraction
        )
        k = check_positive_int(self.head_dimension, "head_dimension")
        backbone = self._make_backbone(image_shape)
        head = DINOHead(
            self.output_dimension,
            k,
            check_positive_int(self.hidden_dimension, "hidden_dimension"),
            check_positive_int(self.bottleneck_dimension, "bottleneck_dimension"),
            batch_norm=check_bool(self.head_batch_norm, "head_batch_norm"),
        )
        criterion = DINOLoss(
            k,
            teacher_temperature=teacher_t,
            student_temperature=self.student_temperature,
            center_momentum=self.center_momentum,
            warmup_teacher_temperature=warmup_t,
            warmup_steps=warmup_steps,
        )
        return _DINOMethod(
            backbone, head, check_multi_crop(self.augmentation), criterion, base, final
        )

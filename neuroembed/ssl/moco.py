"""MoCo v2 (He et al. 2020; Chen et al. 2020): momentum key encoder and a queue of negatives."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neuroembed._validation import check_positive_float, check_positive_int
from neuroembed.losses import InfoNCE
from neuroembed.models.ema import ema_update_, frozen_copy
from neuroembed.models.heads import ProjectionMLP
from neuroembed.ssl._base import SSLEstimator, SSLMethod, TrainBatch, fill_doc
from neuroembed.ssl.augment import Augment

__all__ = ["MoCo"]


class _MoCoMethod(SSLMethod):
    queue: torch.Tensor
    queue_pointer: torch.Tensor

    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module,
        projection_dimension: int,
        augment: Augment,
        temperature: float,
        queue_size: int,
        momentum: float,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.encoder = nn.Sequential(backbone, projector)
        self.key_encoder = frozen_copy(self.encoder)
        self.augment = augment
        self.momentum = momentum
        self.criterion = InfoNCE(temperature, positive_in_denominator=True)
        # random unit vectors, as in MoCo: replaced by real keys after queue_size / batch_size steps
        self.register_buffer(
            "queue", F.normalize(torch.randn(queue_size, projection_dimension), dim=1)
        )
        self.register_buffer("queue_pointer", torch.zeros((), dtype=torch.long))
        self._keys: torch.Tensor | None = None

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        images, generator = batch.images, batch.generator
        q = self.encoder(self.augment(images, generator))
        with torch.no_grad():
            k = F.normalize(self.key_encoder(self.augment(images, generator)), dim=1)
        self._keys = k
        # the queue holds keys of earlier batches only: this batch's keys join it after the step
        return self.criterion(q, k, self.queue.clone())

    @torch.no_grad()
    def after_step(self, step: int, progress: float) -> None:
        ema_update_(self.key_encoder, self.encoder, self.momentum)
        if self._keys is None:
            return
        size = self.queue.shape[0]
        keys = self._keys[-size:]
        slots = (self.queue_pointer + torch.arange(keys.shape[0], device=keys.device)) % size
        self.queue[slots] = keys
        self.queue_pointer.copy_((self.queue_pointer + keys.shape[0]) % size)
        self._keys = None


@fill_doc
class MoCo(SSLEstimator):
    """MoCo v2: a query encoder against a momentum key encoder and a queue of past keys.

    Two views of each image go through the query encoder (backbone + projection MLP) and the key
    encoder, an exponential moving average of it (:func:`~neuroembed.models.ema.ema_update_`,
    parameters and batch-norm buffers). InfoNCE in its cross-entropy form scores each query against
    its own key and the ``queue_size`` keys of earlier batches; the batch's keys then replace the
    oldest ones (He et al., CVPR 2020; MoCo v2: Chen et al. 2020). Batch norm is not shuffled across
    devices (single-device training).

    Parameters
    ----------
    %(common_parameters)s
    projection_dimension : int
        Output size of the projection head.
    hidden_dimension : int
        Hidden width of the projection head.
    temperature : float
        InfoNCE temperature.
    queue_size : int
        Number of negative keys kept (keep it below the number of training images).
    momentum : float
        Key encoder momentum in ``[0, 1)``, constant.
    augmentation : Augment, optional
        View pipeline; ``Augment()`` by default.

    Attributes
    ----------
    %(common_attributes)s

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((16, 1, 8, 8))
    >>> model = MoCo(output_dimension=4, batch_size=8, queue_size=32, max_iterations=2, random_state=0)
    >>> model.fit(X).transform(X).shape
    (16, 4)
    """

    def __init__(
        self,
        backbone: str = "cnn",
        output_dimension: int = 64,
        projection_dimension: int = 64,
        hidden_dimension: int = 256,
        temperature: float = 0.2,
        queue_size: int = 1024,
        momentum: float = 0.99,
        augmentation: Augment | None = None,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-5,
        max_iterations: int = 1000,
        max_seconds: float | None = None,
        device: str = "auto",
        random_state: Any = None,
        verbose: bool = False,
    ) -> None:
        self.backbone = backbone
        self.output_dimension = output_dimension
        self.projection_dimension = projection_dimension
        self.hidden_dimension = hidden_dimension
        self.temperature = temperature
        self.queue_size = queue_size
        self.momentum = momentum
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
        momentum = check_positive_float(self.momentum, "momentum", allow_zero=True)
        if momentum >= 1.0:
            raise ValueError(
                f"momentum must be in [0, 1); got {momentum} (1 would freeze the key encoder)."
            )
        projection_dimension = check_positive_int(self.projection_dimension, "projection_dimension")
        projector = ProjectionMLP(
            self.output_dimension,
            check_positive_int(self.hidden_dimension, "hidden_dimension"),
            projection_dimension,
        )
        return _MoCoMethod(
            self._make_backbone(image_shape),
            projector,
            projection_dimension,
            self._augment(Augment()),
            check_positive_float(self.temperature, "temperature"),
            check_positive_int(self.queue_size, "queue_size"),
            momentum,
        )

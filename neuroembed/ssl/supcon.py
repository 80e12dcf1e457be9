"""Supervised contrastive learning (Khosla et al. 2020): every same-label view is a positive."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from neuroembed._validation import check_positive_float, check_positive_int
from neuroembed.losses import SupCon as SupConLoss
from neuroembed.models.heads import ProjectionMLP
from neuroembed.ssl._base import SSLEstimator, SSLMethod, TrainBatch, fill_doc
from neuroembed.ssl.augment import Augment

__all__ = ["SupCon"]


class _SupConMethod(SSLMethod):
    def __init__(
        self, backbone: nn.Module, projector: nn.Module, augment: Augment, temperature: float
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector
        self.augment = augment
        self.criterion = SupConLoss(temperature)

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        images, generator = batch.images, batch.generator
        views = torch.cat([self.augment(images, generator), self.augment(images, generator)])
        z0, z1 = self.projector(self.backbone(views)).chunk(2)
        return self.criterion(torch.stack([z0, z1], dim=1), batch.labels)


@fill_doc
class SupCon(SSLEstimator):
    """Supervised contrastive learning: two views per image, every same-label view is a positive.

    Like :class:`~neuroembed.ssl.SimCLR`, but the loss (Khosla et al., NeurIPS 2020, :math:`L_{out}`)
    treats all views of images with the anchor's class label as positives. ``fit(X, y)`` needs the
    labels.

    Parameters
    ----------
    %(common_parameters)s
    projection_dimension : int
        Output size of the projection head.
    hidden_dimension : int
        Hidden width of the projection head.
    temperature : float
        SupCon temperature.
    augmentation : Augment, optional
        View pipeline; ``Augment()`` by default.

    Attributes
    ----------
    %(common_attributes)s

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((16, 1, 8, 8))
    >>> y = np.arange(16) % 2
    >>> SupCon(output_dimension=4, batch_size=8, max_iterations=2, random_state=0).fit(X, y).transform(X).shape
    (16, 4)
    """

    _requires_labels = True

    def __init__(
        self,
        backbone: str = "cnn",
        output_dimension: int = 64,
        projection_dimension: int = 64,
        hidden_dimension: int = 256,
        temperature: float = 0.1,
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
        projector = ProjectionMLP(
            self.output_dimension,
            check_positive_int(self.hidden_dimension, "hidden_dimension"),
            check_positive_int(self.projection_dimension, "projection_dimension"),
        )
        return _SupConMethod(
            self._make_backbone(image_shape),
            projector,
            self._augment(Augment()),
            check_positive_float(self.temperature, "temperature"),
        )

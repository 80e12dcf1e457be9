"""SimCLR (Chen et al. 2020): two augmented views, a projection head and the NT-Xent loss."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from neuroembed._validation import check_positive_float, check_positive_int
from neuroembed.losses import NTXent
from neuroembed.models.heads import ProjectionMLP
from neuroembed.ssl._base import SSLEstimator, SSLMethod, TrainBatch, fill_doc
from neuroembed.ssl.augment import Augment

__all__ = ["SimCLR"]


class _SimCLRMethod(SSLMethod):
    def __init__(
        self, backbone: nn.Module, projector: nn.Module, augment: Augment, temperature: float
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector
        self.augment = augment
        self.criterion = NTXent(temperature)

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        images, generator = batch.images, batch.generator
        views = torch.cat([self.augment(images, generator), self.augment(images, generator)])
        z0, z1 = self.projector(self.backbone(views)).chunk(2)
        return self.criterion(z0, z1)


@fill_doc
class SimCLR(SSLEstimator):
    """SimCLR: contrast two augmented views of each image against the rest of the batch.

    Each image gives two random views (:class:`~neuroembed.ssl.Augment`); backbone and projection
    MLP embed them, and the NT-Xent loss pulls the two views of an image together and pushes the
    other ``2 * batch_size - 2`` views away (Chen et al., ICML 2020).

    Parameters
    ----------
    %(common_parameters)s
    projection_dimension : int
        Output size of the projection head (the space the loss works in).
    hidden_dimension : int
        Hidden width of the projection head.
    temperature : float
        NT-Xent temperature.
    augmentation : Augment, optional
        View pipeline; ``Augment()`` by default.

    Attributes
    ----------
    %(common_attributes)s

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((16, 1, 8, 8))
    >>> model = SimCLR(output_dimension=4, batch_size=8, max_iterations=2, random_state=0)
    >>> model.fit(X).transform(X).shape
    (16, 4)
    """

    def __init__(
        self,
        backbone: str = "cnn",
        output_dimension: int = 64,
        projection_dimension: int = 64,
        hidden_dimension: int = 256,
        temperature: float = 0.5,
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
        return _SimCLRMethod(
            self._make_backbone(image_shape),
            projector,
            self._augment(Augment()),
            check_positive_float(self.temperature, "temperature"),
        )

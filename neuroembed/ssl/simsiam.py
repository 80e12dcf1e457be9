"""SimSiam (Chen & He 2021): a predictor and a stop-gradient, no negatives and no momentum encoder."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from neuroembed._validation import check_positive_int
from neuroembed.losses import NegativeCosine, symmetric
from neuroembed.models.heads import PredictionMLP, ProjectionMLP
from neuroembed.ssl._base import SSLEstimator, SSLMethod, TrainBatch, fill_doc
from neuroembed.ssl.augment import Augment

__all__ = ["SimSiam"]


class _SimSiamMethod(SSLMethod):
    def __init__(
        self, backbone: nn.Module, projector: nn.Module, predictor: nn.Module, augment: Augment
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector
        self.predictor = predictor
        self.augment = augment
        self.criterion = NegativeCosine(stop_gradient=True)

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        images, generator = batch.images, batch.generator
        views = torch.cat([self.augment(images, generator), self.augment(images, generator)])
        z = self.projector(self.backbone(views))
        p1, p2 = self.predictor(z).chunk(2)
        z1, z2 = z.chunk(2)  # detached inside the loss: the stop-gradient
        return symmetric(self.criterion, p1, p2, z1, z2)


@fill_doc
class SimSiam(SSLEstimator):
    """SimSiam: a predictor maps one view's projection onto the other's, with a stop-gradient.

    Backbone and a 3-layer projection MLP (batch-normalised output) embed two views; a bottleneck
    prediction MLP maps each onto the other, scored by the negative cosine similarity against the
    *detached* projection of the other view, symmetrised. The stop-gradient alone prevents collapse
    (Chen & He, CVPR 2021). The loss lies in ``[-1, 1]``.

    Parameters
    ----------
    %(common_parameters)s
    projection_dimension : int
        Output size of the projector (and the predictor).
    hidden_dimension : int
        Hidden width of the projector.
    prediction_dimension : int
        Bottleneck width of the predictor (SimSiam uses a quarter of ``projection_dimension``).
    augmentation : Augment, optional
        View pipeline; ``Augment()`` by default.

    Attributes
    ----------
    %(common_attributes)s

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((16, 1, 8, 8))
    >>> SimSiam(output_dimension=4, batch_size=8, max_iterations=2, random_state=0).fit(X).transform(X).shape
    (16, 4)
    """

    def __init__(
        self,
        backbone: str = "cnn",
        output_dimension: int = 64,
        projection_dimension: int = 128,
        hidden_dimension: int = 256,
        prediction_dimension: int = 32,
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
        self.prediction_dimension = prediction_dimension
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
        dim = check_positive_int(self.projection_dimension, "projection_dimension")
        projector = ProjectionMLP(
            self.output_dimension,
            check_positive_int(self.hidden_dimension, "hidden_dimension"),
            dim,
            n_layers=3,
            last_batch_norm=True,
        )
        predictor = PredictionMLP(
            dim, check_positive_int(self.prediction_dimension, "prediction_dimension"), dim
        )
        return _SimSiamMethod(
            self._make_backbone(image_shape), projector, predictor, self._augment(Augment())
        )

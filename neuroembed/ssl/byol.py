"""BYOL (Grill et al. 2020): online network with a predictor regresses an EMA target network."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from neuroembed._validation import check_positive_float, check_positive_int
from neuroembed.losses import BYOLLoss, symmetric
from neuroembed.models.ema import cosine_momentum, ema_update_, frozen_copy
from neuroembed.models.heads import PredictionMLP, ProjectionMLP
from neuroembed.ssl._base import SSLEstimator, SSLMethod, TrainBatch, fill_doc
from neuroembed.ssl.augment import Augment

__all__ = ["BYOL"]


def check_momenta(base: Any, final: Any) -> tuple[float, float]:
    """Validate an EMA schedule ``0 <= base <= final <= 1``."""
    base = check_positive_float(base, "base_momentum", allow_zero=True)
    final = check_positive_float(final, "final_momentum", allow_zero=True)
    if not base <= final <= 1.0:
        raise ValueError(
            f"expected 0 <= base_momentum <= final_momentum <= 1; got base_momentum={base} and "
            f"final_momentum={final}."
        )
    return base, final


class _BYOLMethod(SSLMethod):
    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module,
        predictor: nn.Module,
        augment: Augment,
        base_momentum: float,
        final_momentum: float,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.online = nn.Sequential(backbone, projector)
        self.predictor = predictor
        self.target = frozen_copy(self.online)
        self.augment = augment
        self.base_momentum, self.final_momentum = base_momentum, final_momentum
        self.criterion = BYOLLoss()

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        images, generator = batch.images, batch.generator
        views = torch.cat([self.augment(images, generator), self.augment(images, generator)])
        p1, p2 = self.predictor(self.online(views)).chunk(2)
        with torch.no_grad():
            z1, z2 = self.target(views).chunk(2)
        return symmetric(self.criterion, p1, p2, z1, z2)

    def after_step(self, step: int, progress: float) -> None:
        momentum = cosine_momentum(progress, 1.0, self.base_momentum, self.final_momentum)
        ema_update_(self.target, self.online, momentum)


@fill_doc
class BYOL(SSLEstimator):
    """BYOL: predict the target network's projection of one view from the other view.

    The online network (backbone, projection MLP, prediction MLP) regresses, with the normalised
    squared error ``2 - 2 cos``, the projection that the target network -- an exponential moving
    average of the online backbone and projector, parameters and batch-norm buffers -- gives for
    the other view; symmetrised over the two views. No negatives. The EMA momentum rises from
    ``base_momentum`` to ``final_momentum`` on a cosine schedule over training (Grill et al.,
    NeurIPS 2020).

    Parameters
    ----------
    %(common_parameters)s
    projection_dimension : int
        Output size of the projection and prediction heads.
    hidden_dimension : int
        Hidden width of the projection and prediction heads.
    base_momentum, final_momentum : float
        EMA momentum at the start and the end of training, ``0 <= base <= final <= 1``.
    augmentation : Augment, optional
        View pipeline; ``Augment()`` by default.

    Attributes
    ----------
    %(common_attributes)s

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((16, 1, 8, 8))
    >>> BYOL(output_dimension=4, batch_size=8, max_iterations=2, random_state=0).fit(X).transform(X).shape
    (16, 4)
    """

    def __init__(
        self,
        backbone: str = "cnn",
        output_dimension: int = 64,
        projection_dimension: int = 64,
        hidden_dimension: int = 256,
        base_momentum: float = 0.99,
        final_momentum: float = 1.0,
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
        hidden = check_positive_int(self.hidden_dimension, "hidden_dimension")
        dim = check_positive_int(self.projection_dimension, "projection_dimension")
        return _BYOLMethod(
            self._make_backbone(image_shape),
            ProjectionMLP(self.output_dimension, hidden, dim),
            PredictionMLP(dim, hidden, dim),
            self._augment(Augment()),
            base,
            final,
        )

"""Triplet-loss metric learning on images, with hard negatives mined over the whole training set."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from neuroembed._validation import check_choice, check_positive_float, check_positive_int
from neuroembed.losses import MINING_STRATEGIES, HardNegativeMiner, TripletMargin
from neuroembed.ssl._base import SSLEstimator, SSLMethod, TrainBatch, fill_doc
from neuroembed.ssl.augment import Augment

__all__ = ["Triplet"]

_MINERS = ("knn", "kmeans")


class _SameLabelSampler:
    """Uniform draws of a sample with a given label (batched: one gather per batch)."""

    def __init__(self, labels: torch.Tensor) -> None:
        _, inverse = torch.unique(labels, return_inverse=True)
        self.inverse = inverse
        self.order = torch.argsort(inverse, stable=True)
        self.counts = torch.bincount(inverse)
        self.starts = torch.cumsum(self.counts, 0) - self.counts

    def draw(self, anchors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        group = self.inverse[anchors]
        u = torch.rand(anchors.shape[0], generator=generator, device=anchors.device)
        offset = torch.minimum((u * self.counts[group]).long(), self.counts[group] - 1)
        return self.order[self.starts[group] + offset]


class _TripletMethod(SSLMethod):
    def __init__(
        self,
        backbone: nn.Module,
        augment: Augment | None,
        criterion: TripletMargin,
        miner: HardNegativeMiner,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.augment = augment
        self.criterion = criterion
        self.miner = miner
        self._positives: _SameLabelSampler | None = None

    @torch.no_grad()
    def _refresh_miner(self, batch: TrainBatch) -> None:
        last = self.miner.last_update_step_
        if last is not None and batch.step - last < self.miner.update_every:
            return
        was_training = self.backbone.training
        self.backbone.eval()  # embed with the running statistics; do not disturb them
        chunks = torch.split(batch.dataset, 1024)
        embeddings = torch.cat([self.backbone(c) for c in chunks])
        self.backbone.train(was_training)
        self.miner.update(embeddings, batch.step, batch.dataset_labels)

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        if batch.dataset_labels is None or batch.labels is None:
            raise ValueError("Triplet needs class labels.")
        if self._positives is None:
            self._positives = _SameLabelSampler(batch.dataset_labels)
        self._refresh_miner(batch)
        anchors = batch.indices
        positives = self._positives.draw(anchors, batch.generator)
        negatives = self.miner.sample(anchors, generator=batch.generator)
        rows = torch.cat([anchors, positives, negatives])
        images = batch.dataset[rows]
        if self.augment is not None:
            images = self.augment(images, batch.generator)
        return self.criterion(self.backbone(images), batch.dataset_labels[rows])


@fill_doc
class Triplet(SSLEstimator):
    """Triplet-margin metric learning with hard negatives mined from the whole training set.

    Each step takes a batch of anchors, a random same-label positive for each, and a hard negative
    for each -- a different-label image among the anchor's nearest neighbours in the current
    embedding (:class:`~neuroembed.losses.HardNegativeMiner`, refreshed every ``update_every``
    steps). The anchors, positives and negatives are augmented and embedded by the backbone, and
    the triplet margin loss with in-batch mining (``mining``) is taken over all of them, so the
    mined negatives are available to every anchor (Schroff et al. 2015; Hermans et al. 2017).
    ``fit(X, y)`` needs the labels. Embeddings are compared after L2 normalisation.

    Parameters
    ----------
    %(common_parameters)s
    margin : float
        Margin on the euclidean distance of unit vectors (in [0, 2]).
    mining : {"semi_hard", "batch_hard", "all"}
        In-batch triplet selection of :class:`~neuroembed.losses.TripletMargin`. ``"semi_hard"``
        and ``"all"`` cost ``O((3 * batch_size)^3)`` per step. With the mined hard negatives in
        the batch, ``"batch_hard"`` tends to drive the loss to the margin (the collapsed solution)
        on small data sets; ``"semi_hard"`` does not.
    n_neighbors : int
        Neighbourhood size of the hard-negative miner.
    update_every : int
        Steps between refreshes of the miner (each embeds the whole training set).
    miner : {"knn", "kmeans"}
        How the miner finds neighbourhoods.
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
    >>> Triplet(output_dimension=4, batch_size=8, max_iterations=2, random_state=0).fit(X, y).transform(X).shape
    (16, 4)
    """

    _requires_labels = True

    def __init__(
        self,
        backbone: str = "cnn",
        output_dimension: int = 64,
        margin: float = 0.2,
        mining: str = "semi_hard",
        n_neighbors: int = 10,
        update_every: int = 50,
        miner: str = "knn",
        augmentation: Augment | None = None,
        batch_size: int = 64,
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
        self.margin = margin
        self.mining = mining
        self.n_neighbors = n_neighbors
        self.update_every = update_every
        self.miner = miner
        self.augmentation = augmentation
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_iterations = max_iterations
        self.max_seconds = max_seconds
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _validate_y(self, y: Any, n_samples: int) -> np.ndarray | None:
        labels = super()._validate_y(y, n_samples)
        if labels is not None and np.unique(labels).size < 2:
            raise ValueError(
                "Triplet needs at least two classes in y (a negative has a different label); "
                f"got only the label {labels[0]}."
            )
        return labels

    def _build(
        self, image_shape: tuple[int, int, int], labels: np.ndarray | None, data: torch.Tensor
    ) -> SSLMethod:
        criterion = TripletMargin(
            check_positive_float(self.margin, "margin", allow_zero=True),
            check_choice(self.mining, "mining", MINING_STRATEGIES),
        )
        miner = HardNegativeMiner(
            n_neighbors=check_positive_int(self.n_neighbors, "n_neighbors"),
            update_every=check_positive_int(self.update_every, "update_every"),
            method=check_choice(self.miner, "miner", _MINERS),
            random_state=int(torch.randint(0, 2**31 - 1, ()).item()),
        )
        return _TripletMethod(
            self._make_backbone(image_shape), self._augment(Augment()), criterion, miner
        )

"""Autoencoder: the backbone's embedding must be enough to redraw the image (a non-contrastive baseline)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from neuroembed._validation import (
    check_choice,
    check_neural,
    check_positive_float,
    check_positive_int,
)
from neuroembed.losses import RECONSTRUCTION_KINDS, ReconstructionLoss
from neuroembed.models.heads import ImageDecoder
from neuroembed.ssl._base import SSLEstimator, SSLMethod, TrainBatch, fill_doc
from neuroembed.ssl.augment import Augment

__all__ = ["AutoEncoder"]


class _AutoEncoderMethod(SSLMethod):
    def __init__(
        self,
        backbone: nn.Module,
        decoder: ImageDecoder,
        criterion: ReconstructionLoss,
        augment: Augment | None,
        noise_std: float,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.decoder = decoder  # outputs logits
        self.criterion = criterion
        self.augment = augment
        self.noise_std = noise_std

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        target = batch.images
        if self.augment is not None:
            target = self.augment(target, batch.generator)
        x = target
        if self.noise_std > 0:
            noise = torch.randn(x.shape, generator=batch.generator, device=x.device, dtype=x.dtype)
            x = x + self.noise_std * noise
        logits = self.decoder(self.backbone(x))
        out = logits if self.criterion.kind == "bce" else torch.sigmoid(logits)
        return self.criterion(out, target)


@fill_doc
class AutoEncoder(SSLEstimator):
    """Autoencoder: backbone embedding, then a convolutional decoder redraws the image.

    The backbone encodes each image (optionally augmented, optionally with Gaussian noise added:
    a denoising autoencoder) and :class:`~neuroembed.models.heads.ImageDecoder` reconstructs the
    clean image; the loss is a pixel-wise reconstruction error. A non-contrastive baseline for the
    other methods. :meth:`inverse_transform` decodes embeddings back to images.

    Parameters
    ----------
    %(common_parameters)s
    loss : {"mse", "bce", "l1"}
        Reconstruction error (``"bce"``: binary cross-entropy on the decoder's logits).
    decoder_width : int
        Channels of the decoder's last stage.
    noise_std : float
        Standard deviation of the Gaussian noise added to the encoder input (0: plain autoencoder).
    augmentation : Augment, optional
        View pipeline applied before encoding (the target is the augmented image); none by default.

    Attributes
    ----------
    %(common_attributes)s

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((16, 1, 8, 8))
    >>> ae = AutoEncoder(output_dimension=4, batch_size=8, max_iterations=2, random_state=0).fit(X)
    >>> ae.transform(X).shape, ae.inverse_transform(ae.transform(X)).shape
    ((16, 4), (16, 1, 8, 8))
    """

    def __init__(
        self,
        backbone: str = "cnn",
        output_dimension: int = 64,
        loss: str = "mse",
        decoder_width: int = 16,
        noise_std: float = 0.0,
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
        self.loss = loss
        self.decoder_width = decoder_width
        self.noise_std = noise_std
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
        criterion = ReconstructionLoss(
            check_choice(self.loss, "loss", RECONSTRUCTION_KINDS), logits=True
        )
        decoder = ImageDecoder(
            self.output_dimension,
            image_shape,
            width=check_positive_int(self.decoder_width, "decoder_width"),
            sigmoid=False,
        )
        return _AutoEncoderMethod(
            self._make_backbone(image_shape),
            decoder,
            criterion,
            self._augment(None),
            check_positive_float(self.noise_std, "noise_std", allow_zero=True),
        )

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decode embeddings ``(n_samples, output_dimension)`` to images ``(n_samples, channels, height, width)`` in [0, 1]."""
        check_is_fitted(self)
        z = check_neural(X, "X", n_features=self.output_dimension)
        decoder = cast(nn.Module, self.module_.decoder)
        return self._embed(z, lambda t: torch.sigmoid(decoder(t)))

"""CLIP (Radford et al. 2021): two encoders map two paired modalities into one space.

The modalities can be images ``(n, channels, height, width)``, feature vectors ``(n, n_features)``
or windows ``(n, n_timesteps, n_features)`` -- e.g. neural activity windows paired with the
behaviour at their centre (:func:`neural_behaviour_pairs`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from neuroembed._validation import (
    as_numeric_array,
    check_neural,
    check_positive_float,
    check_positive_int,
)
from neuroembed.losses import CLIPLoss
from neuroembed.recording import Recording
from neuroembed.solver import make_generators, resolve_device
from neuroembed.ssl._base import SSLEstimator, SSLMethod, TrainBatch, check_images, fill_doc
from neuroembed.ssl.augment import Augment

__all__ = ["CLIP", "neural_behaviour_pairs"]


def neural_behaviour_pairs(
    neural: Any, behaviour: Any = None, window: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a recording into neural windows paired with the behaviour at each window's centre.

    Parameters
    ----------
    neural : array-like of shape (n_samples, n_neurons) or Recording
        Neural data; a :class:`~neuroembed.recording.Recording` brings its own behaviour.
    behaviour : array-like of shape (n_samples,) or (n_samples, n_behaviour), optional
        Behaviour aligned with ``neural`` row by row (taken from the recording when omitted).
    window : int
        Time bins per window.

    Returns
    -------
    windows : ndarray of shape (n_samples - window + 1, window, n_neurons)
        ``windows[i] = neural[i : i + window]`` (float32, a copy).
    targets : ndarray of shape (n_samples - window + 1, n_behaviour)
        The behaviour at row ``i + window // 2``.

    Examples
    --------
    >>> import numpy as np
    >>> w, b = neural_behaviour_pairs(np.zeros((20, 3)), np.arange(20.0), window=5)
    >>> w.shape, b.shape, b[0, 0]
    ((16, 5, 3), (16, 1), np.float32(2.0))
    """
    if isinstance(neural, Recording):
        if behaviour is None:
            behaviour = neural.behaviour
        neural = neural.neural
    window = check_positive_int(window, "window")
    x = check_neural(neural, "neural", min_samples=window)
    if behaviour is None:
        raise ValueError("behaviour is required (pass it, or a Recording that has behaviour).")
    b = as_numeric_array(behaviour, "behaviour")
    if b.ndim == 1:
        b = b[:, None]
    b = check_neural(b, "behaviour")
    if b.shape[0] != x.shape[0]:
        raise ValueError(
            f"behaviour has {b.shape[0]} samples but the neural data has {x.shape[0]}; they must be "
            "aligned row by row."
        )
    windows = np.lib.stride_tricks.sliding_window_view(x, window, axis=0)  # (n - w + 1, neurons, w)
    windows = np.ascontiguousarray(windows.transpose(0, 2, 1))
    return windows, np.ascontiguousarray(b[window // 2 : window // 2 + windows.shape[0]])


def _check_modality(x: Any, name: str, n_samples: int | None = None) -> np.ndarray:
    """Images (4-D, scaled to [0, 1]) or float32 vectors / windows (1-D -> one column, 2-D, 3-D)."""
    arr = as_numeric_array(x, name)
    if arr.ndim == 4:
        out = check_images(arr, name)
    elif arr.ndim in (1, 2, 3):
        flat = arr.reshape(arr.shape[0], -1) if arr.ndim != 1 else arr[:, None]
        check_neural(flat, name)  # finite, non-empty, float32-representable
        out = np.ascontiguousarray(arr if arr.ndim != 1 else flat, dtype=np.float32)
    else:
        raise ValueError(
            f"{name} must be images (n_samples, channels, height, width), vectors (n_samples, "
            f"n_features) or windows (n_samples, n_timesteps, n_features); got shape {arr.shape}."
        )
    if n_samples is not None and out.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {out.shape[0]} samples but X has {n_samples}; the two modalities must be "
            "paired row by row."
        )
    return out


class _VectorEncoder(nn.Module):
    """Standardise (with training statistics), flatten and embed vectors or windows with an MLP."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, data: np.ndarray, hidden: int, output_dimension: int) -> None:
        super().__init__()
        flat = data.reshape(data.shape[0], -1)
        self.register_buffer("mean", torch.from_numpy(flat.mean(0)))
        self.register_buffer(
            "scale", torch.from_numpy(np.maximum(flat.std(0), 1e-6).astype(np.float32))
        )
        self.net = nn.Sequential(
            nn.Linear(flat.shape[1], hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, output_dimension),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x.reshape(x.shape[0], -1) - self.mean) / self.scale)


class _CLIPMethod(SSLMethod):
    def __init__(
        self,
        encoder_a: nn.Module,
        encoder_b: nn.Module,
        augment_a: Augment | None,
        augment_b: Augment | None,
        criterion: CLIPLoss,
    ) -> None:
        super().__init__()
        self.backbone = encoder_a
        self.encoder_b = encoder_b
        self.augment_a, self.augment_b = augment_a, augment_b
        self.criterion = criterion
        # the scale's bound is kept after each step instead: no read-back of the parameter in every forward
        self.criterion.clamp_in_forward = False

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        a, b = batch.images, batch.labels
        if b is None:
            raise RuntimeError(
                "CLIP trains on pairs: the second modality is missing from the batch."
            )
        if self.augment_a is not None:
            a = self.augment_a(a, batch.generator)
        if self.augment_b is not None:
            b = self.augment_b(b, batch.generator)
        return self.criterion(self.backbone(a), self.encoder_b(b))

    def embed_b(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder_b(x)

    def after_step(self, step: int, progress: float) -> None:
        self.criterion.clamp_()


@fill_doc
class CLIP(SSLEstimator):
    """CLIP: contrast two paired modalities, each with its own encoder, in one embedding space.

    ``fit(X, y)`` takes the two modalities, paired row by row: images
    ``(n, channels, height, width)`` (encoded by ``backbone``), vectors ``(n, n_features)`` or
    windows ``(n, n_timesteps, n_features)`` (standardised with the training statistics and encoded
    by an MLP) -- for a neural recording, neural windows and the behaviour at their centre
    (:func:`neural_behaviour_pairs`). The symmetric cross-entropy over the batch's similarity matrix
    pulls each pair together (Radford et al., ICML 2021). :meth:`transform` embeds the first
    modality, :meth:`transform_b` the second, into the same space.

    Parameters
    ----------
    %(common_parameters)s
    hidden_dimension : int
        Hidden width of the MLP encoders of vector / window modalities.
    temperature : float
        Initial (or fixed) temperature of the loss.
    learnable_temperature : bool
        Learn the temperature (as CLIP does).
    augmentation : Augment, optional
        Applied to image modalities during training; none by default.

    Attributes
    ----------
    %(common_attributes)s
    input_shape_b_ : tuple of int
        Shape of one sample of the second modality (``image_shape_`` holds that of the first).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> images, vectors = rng.random((16, 1, 8, 8)), rng.normal(size=(16, 3))
    >>> clip = CLIP(output_dimension=4, batch_size=8, max_iterations=2, random_state=0).fit(images, vectors)
    >>> clip.transform(images).shape, clip.transform_b(vectors).shape
    ((16, 4), (16, 4))
    """

    def __init__(
        self,
        backbone: str = "cnn",
        output_dimension: int = 64,
        hidden_dimension: int = 256,
        temperature: float = 0.07,
        learnable_temperature: bool = True,
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
        self.hidden_dimension = hidden_dimension
        self.temperature = temperature
        self.learnable_temperature = learnable_temperature
        self.augmentation = augmentation
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_iterations = max_iterations
        self.max_seconds = max_seconds
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _encoder(self, data: np.ndarray) -> nn.Module:
        if data.ndim == 4:
            return self._make_backbone(tuple(int(s) for s in data.shape[1:]))  # type: ignore[arg-type]
        return _VectorEncoder(
            data,
            check_positive_int(self.hidden_dimension, "hidden_dimension"),
            self.output_dimension,
        )

    def fit(self, X: Any, y: Any = None) -> CLIP:
        """Train on paired modalities ``X`` and ``y`` (row ``i`` of one belongs with row ``i`` of the other).

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width), (n_samples, n_features) or (n_samples, n_timesteps, n_features)
            First modality; images as ``uint8`` or in ``[0, 1]``.
        y : array-like, same forms as ``X``
            Second modality (required).

        Returns
        -------
        self
        """
        self._check_common()
        if y is None:
            raise ValueError(
                "CLIP needs two paired modalities: fit(X, y) with y the second one (e.g. behaviour "
                "paired with neural windows); got y=None."
            )
        a = _check_modality(X, "X")
        b = _check_modality(y, "y", n_samples=a.shape[0])
        if a.shape[0] < 2:
            raise ValueError(f"X has {a.shape[0]} sample(s); at least 2 pairs are needed.")
        temperature = check_positive_float(self.temperature, "temperature")
        device = resolve_device(self.device)
        rng, generator = make_generators(self.random_state, device)
        aug = self._augment(None)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(0, 2**63 - 1)))
            method = _CLIPMethod(
                self._encoder(a),
                self._encoder(b),
                aug if a.ndim == 4 else None,
                aug if b.ndim == 4 else None,
                CLIPLoss(temperature, learnable=bool(self.learnable_temperature)),
            )
        method.to(device).train()
        self.input_shape_b_ = tuple(int(s) for s in b.shape[1:])
        return self._train(  # type: ignore[return-value]
            method,
            torch.from_numpy(a).to(device),
            torch.from_numpy(b).to(device),
            tuple(int(s) for s in a.shape[1:]),
            device,
            generator,
        )

    def _check_like(self, X: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
        arr = _check_modality(X, name)
        if tuple(arr.shape[1:]) != tuple(shape):
            raise ValueError(
                f"{name} has samples of shape {tuple(arr.shape[1:])}, but this modality was fitted on "
                f"{tuple(shape)}."
            )
        return arr

    def transform(self, X: Any) -> np.ndarray:
        """Embed the first modality: ``(n_samples, output_dimension)``."""
        check_is_fitted(self)
        return self._embed(self._check_like(X, "X", self.image_shape_), self.module_.embed)

    def transform_b(self, Y: Any) -> np.ndarray:
        """Embed the second modality into the same space: ``(n_samples, output_dimension)``."""
        check_is_fitted(self)
        return self._embed(self._check_like(Y, "Y", self.input_shape_b_), self.module_.embed_b)

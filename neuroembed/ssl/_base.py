"""The scikit-learn plumbing shared by the image methods: validation, training, transform.

Every method in :mod:`neuroembed.ssl` is a small :class:`SSLEstimator` subclass that lists its
hyperparameters in ``__init__`` and builds a :class:`SSLMethod` -- an :class:`torch.nn.Module`
holding its networks and loss, with ``loss(batch, labels, step, progress, generator)`` for one
training batch and ``after_step`` for EMA / queue / miner updates. The base class does the rest:
validates the images, seeds everything, moves the data to the device once, runs
:func:`neuroembed.solver.train_loop` and embeds new images in batches.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from neuroembed._validation import (
    as_numeric_array,
    check_choice,
    check_discrete,
    check_positive_float,
    check_positive_int,
    describe,
)
from neuroembed.models.image import BACKBONES, make_backbone
from neuroembed.solver import flush_denormal, make_generators, resolve_device, train_loop
from neuroembed.ssl.augment import Augment, MultiCrop

__all__ = ["SSLEstimator", "SSLMethod", "TrainBatch", "check_images", "fill_doc"]

#: Images embedded per forward pass in :meth:`SSLEstimator.transform`.
TRANSFORM_CHUNK = 1024
#: Channels of grey, RGB and RGBA images: a 4-D array whose last axis is one of these and whose second is not is
#: taken for channels-last images and refused.
_CHANNEL_COUNTS = (1, 3, 4)

_COMMON_PARAMETERS = """\
backbone : {"cnn", "resnet", "vit"} or torch.nn.Module
        Image encoder: a name (:class:`~neuroembed.models.image.ImageCNN`,
        :class:`~neuroembed.models.image.ImageResNet`, :class:`~neuroembed.models.image.TinyViT`
        with their default sizes), or a module mapping ``(n, channels, height, width)`` to
        ``(n, output_dimension)``: ``fit`` trains a copy, starting from its current weights.
    output_dimension : int
        Size of the backbone embedding returned by :meth:`transform`.
    batch_size : int
        Images per training step (capped at the number of images).
    learning_rate : float
        AdamW learning rate.
    weight_decay : float
        AdamW weight decay (>= 0).
    max_iterations : int
        Training steps.
    max_seconds : float, optional
        Wall-clock budget: training stops after the step that exceeds it (schedules such as the EMA
        momentum then advance with the elapsed fraction of the budget).
    device : str
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    random_state : int, numpy Generator or None
        Seeds the weights, the batches and the augmentations. Same seed, data and device: same
        embedding.
    verbose : bool
        Show a progress bar."""

_COMMON_ATTRIBUTES = """\
backbone_ : torch.nn.Module
        The trained image encoder (in eval mode).
    module_ : torch.nn.Module
        All networks of the method (backbone, heads, EMA copies) and its loss.
    loss_history_ : ndarray of shape (n_iterations_,)
        Training loss at every step.
    n_iterations_ : int
        Steps run (fewer than ``max_iterations`` when ``max_seconds`` ran out).
    training_seconds_ : float
        Wall-clock time of the training loop.
    images_per_second_ : float
        Training throughput, input images (not views) per second.
    image_shape_ : tuple of int
        ``(channels, height, width)`` of the training images.
    device_ : torch.device
        Where the networks live."""


def fill_doc(cls: type) -> type:
    """Substitute the shared parameter and attribute descriptions into a class docstring."""
    if cls.__doc__:
        cls.__doc__ = cls.__doc__.replace("%(common_parameters)s", _COMMON_PARAMETERS).replace(
            "%(common_attributes)s", _COMMON_ATTRIBUTES
        )
    return cls


def check_images(
    X: Any,
    name: str = "X",
    *,
    image_shape: tuple[int, int, int] | None = None,
    min_samples: int = 1,
) -> np.ndarray:
    """Validate images and return them as a float32 array ``(n_samples, channels, height, width)`` in [0, 1].

    ``uint8`` images are divided by 255; ``bool`` images become 0 / 1; other numbers must already
    lie in ``[0, 1]``. An array that looks channels-last (a last axis of 1, 3 or 4 and a second
    axis of any other size, such as ``(n, 28, 28, 1)``) is refused rather than read as images a few
    pixels wide.

    Parameters
    ----------
    X : array-like of shape (n_samples, channels, height, width)
        Images (numpy array, nested lists or a torch tensor).
    name : str
        Name used in error messages.
    image_shape : (int, int, int), optional
        Required ``(channels, height, width)`` (e.g. as seen in ``fit``).
    min_samples : int
        Fewest images accepted.

    Examples
    --------
    >>> import numpy as np
    >>> check_images(np.full((2, 1, 4, 4), 255, dtype=np.uint8)).max()
    np.float32(1.0)
    """
    arr = as_numeric_array(X, name)
    if arr.ndim != 4:
        hint = ""
        if arr.ndim == 3:
            hint = f" For single-channel images use {name}[:, None]."
        elif arr.ndim == 2:
            hint = f" For flattened images reshape them, e.g. {name}.reshape(-1, 1, 8, 8) for 8x8 digits."
        raise ValueError(
            f"{name} must be 4-D images (n_samples, channels, height, width); got a {arr.ndim}-D array "
            f"of shape {arr.shape}.{hint}"
        )
    if min(arr.shape[1:]) == 0:
        raise ValueError(f"{name} has an empty image dimension (shape {arr.shape}).")
    if arr.shape[3] in _CHANNEL_COUNTS and arr.shape[1] not in _CHANNEL_COUNTS:
        # (n, height, width, channels) would otherwise train silently on images `channels` pixels wide
        raise ValueError(
            f"{name} looks like channels-last images (n_samples, height, width, channels) of shape "
            f"{arr.shape}; expected channels first (n_samples, channels, height, width). Reorder the axes, "
            f"e.g. {name}.transpose(0, 3, 1, 2)."
        )
    if arr.shape[0] < min_samples:
        raise ValueError(f"{name} has {arr.shape[0]} image(s); at least {min_samples} are needed.")
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    else:
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            bad = ~np.isfinite(arr)
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} contains {int(bad.sum())} NaN or infinite value(s) (first at index {first}); "
                "expected finite pixel values."
            )
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{name} holds values from {lo:g} to {hi:g}; expected images as uint8 (0..255) or as "
                f"numbers in [0, 1]. Rescale them, e.g. {name} / {hi:g} for non-negative data."
            )
        out = arr.astype(np.float32)
    out = np.ascontiguousarray(out)
    if image_shape is not None and tuple(out.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"{name} has images of shape {tuple(out.shape[1:])} (channels, height, width), but the "
            f"model was fitted on {tuple(image_shape)}."
        )
    return out


@dataclass
class TrainBatch:
    """What a method sees at one training step."""

    images: torch.Tensor
    """``(batch_size, channels, height, width)`` images in [0, 1], on the device."""
    labels: torch.Tensor | None
    """``(batch_size,)`` class labels (supervised methods), the paired second modality (CLIP), else None."""
    indices: torch.Tensor
    """``(batch_size,)`` rows of the training set."""
    dataset: torch.Tensor
    """The whole training set ``(n_samples, channels, height, width)`` (e.g. for a miner)."""
    dataset_labels: torch.Tensor | None
    """Labels (or second modality) of the whole training set, or None."""
    step: int
    """Iteration number, from 0."""
    progress: float
    """Fraction of training done before this step, in [0, 1] (iterations or seconds)."""
    generator: torch.Generator
    """Seeded source of randomness on the device (augmentations, masks)."""


class SSLMethod(nn.Module):
    """Networks and loss of one self-supervised method (the part each method file defines).

    Subclasses set ``self.backbone`` and implement :meth:`loss`; :meth:`after_step` (EMA, queues)
    and :meth:`embed` have defaults.
    """

    backbone: nn.Module

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        """Scalar loss of one training batch (forward only)."""
        raise NotImplementedError

    def after_step(self, step: int, progress: float) -> None:
        """Called after each optimiser step; ``progress`` in [0, 1] is the fraction of training done."""

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Embedding ``(n_samples, output_dimension)`` returned by ``transform``."""
        return self.backbone(images)


class SSLEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base of the image methods: ``fit(X, y=None)`` trains, ``transform(X)`` embeds.

    Not used directly; see :class:`~neuroembed.ssl.SimCLR` and the other methods. Subclasses
    define ``__init__`` (storing every hyperparameter, nothing else) and :meth:`_build`.
    """

    #: Whether ``fit`` needs class labels ``y`` (SupCon, Triplet).
    _requires_labels = False

    # ------------------------------------------------------------------ hooks
    def _build(
        self, image_shape: tuple[int, int, int], labels: np.ndarray | None, data: torch.Tensor
    ) -> SSLMethod:
        raise NotImplementedError

    def _validate_y(self, y: Any, n_samples: int) -> np.ndarray | None:
        if self._requires_labels:
            if y is None:
                raise ValueError(
                    f"{type(self).__name__} is supervised: fit(X, y) needs class labels y of shape "
                    "(n_samples,); got y=None."
                )
            return check_discrete(y, n_samples, "y", reference="X")
        return None

    # ------------------------------------------------------------------ helpers
    def _check_common(self) -> None:
        if not isinstance(self.backbone, nn.Module):
            check_choice(self.backbone, "backbone", list(BACKBONES))
        check_positive_int(self.output_dimension, "output_dimension")
        check_positive_int(self.batch_size, "batch_size", minimum=2)
        check_positive_float(self.learning_rate, "learning_rate")
        check_positive_float(self.weight_decay, "weight_decay", allow_zero=True)
        check_positive_int(self.max_iterations, "max_iterations")
        if self.max_seconds is not None:
            check_positive_float(self.max_seconds, "max_seconds")

    def _make_backbone(self, image_shape: tuple[int, int, int]) -> nn.Module:
        channels, height, width = image_shape
        if not isinstance(self.backbone, nn.Module):
            return make_backbone(
                self.backbone, channels, self.output_dimension, image_size=max(height, width)
            )
        net = copy.deepcopy(self.backbone)
        was_training = net.training
        net.eval()
        with torch.no_grad():
            probe = next(net.parameters(), torch.zeros(())).new_zeros((2, *image_shape))
            try:
                out = net(probe)
            except Exception as err:  # report what the module could not handle, with its error
                raise ValueError(
                    f"backbone {type(net).__name__} failed on images of shape (2, {channels}, "
                    f"{height}, {width}): {err}"
                ) from err
        net.train(was_training)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, self.output_dimension):
            raise ValueError(
                f"backbone {type(net).__name__} maps images (2, {channels}, {height}, {width}) to "
                f"{describe(out)}; expected shape (2, output_dimension={self.output_dimension})."
            )
        return net

    def _augment(self, default: Augment | MultiCrop | None = None) -> Any:
        aug = getattr(self, "augmentation", None)
        if aug is None:
            return default
        if not isinstance(aug, (Augment, MultiCrop)):
            raise TypeError(
                f"augmentation must be a neuroembed.ssl.Augment (or MultiCrop for DINO / iBOT) or None; "
                f"got {describe(aug)}."
            )
        return aug

    @property
    def _n_features_out(self) -> int:
        return int(self.output_dimension)

    # ------------------------------------------------------------------ sklearn API
    def fit(self, X: Any, y: Any = None) -> SSLEstimator:
        """Train on images ``X (n_samples, channels, height, width)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            ``uint8`` images (0..255) or numbers in ``[0, 1]``; at least 2 images.
        y : array-like of shape (n_samples,), optional
            Class labels for the supervised methods (SupCon, Triplet); ignored by the others.

        Returns
        -------
        self
        """
        self._check_common()
        images = check_images(X, "X", min_samples=2)
        labels = self._validate_y(y, images.shape[0])
        device = resolve_device(self.device)
        rng, generator = make_generators(self.random_state, device)
        image_shape = tuple(int(s) for s in images.shape[1:])
        data = torch.from_numpy(images).to(device)
        label_t = None if labels is None else torch.from_numpy(labels).to(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(0, 2**63 - 1)))
            method = self._build(image_shape, labels, data)  # type: ignore[arg-type]
        method.to(device).train()
        return self._train(method, data, label_t, image_shape, device, generator)

    def _train(
        self,
        method: SSLMethod,
        data: torch.Tensor,
        labels: torch.Tensor | None,
        image_shape: tuple[int, ...],
        device: torch.device,
        generator: torch.Generator,
    ) -> SSLEstimator:
        n = data.shape[0]
        batch = min(int(self.batch_size), n)
        params = [p for p in method.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.learning_rate, weight_decay=self.weight_decay)
        max_iterations = int(self.max_iterations)
        max_seconds = self.max_seconds
        start = time.perf_counter()

        def progress(i: int) -> float:
            done = (i + 1) / max_iterations
            if max_seconds is not None:
                done = max(done, (time.perf_counter() - start) / max_seconds)
            return min(done, 1.0)

        def step(i: int) -> torch.Tensor:
            idx = torch.randperm(n, generator=generator, device=device)[:batch]
            return method.loss(
                TrainBatch(
                    images=data[idx],
                    labels=None if labels is None else labels[idx],
                    indices=idx,
                    dataset=data,
                    dataset_labels=labels,
                    step=i,
                    progress=progress(i - 1) if i else 0.0,
                    generator=generator,
                )
            )

        def after_step(i: int) -> None:
            method.after_step(i, progress(i))

        with flush_denormal(device):
            result = train_loop(
                step,
                optimizer,
                max_iterations,
                max_seconds=max_seconds,
                verbose=bool(self.verbose),
                desc=type(self).__name__,
                after_step=after_step,
            )
        method.eval()
        self.module_ = method
        self.backbone_ = method.backbone
        self.loss_history_ = result.loss_history
        self.n_iterations_ = int(result.n_iterations)
        self.training_seconds_ = float(result.seconds)
        self.images_per_second_ = (
            self.n_iterations_ * batch / result.seconds if result.seconds > 0 else float("nan")
        )
        self.image_shape_ = tuple(image_shape)
        self.device_ = device
        return self

    @torch.no_grad()
    def _embed(self, arr: np.ndarray, encode: Any) -> np.ndarray:
        self.module_.eval()
        out = []
        for a in range(0, arr.shape[0], TRANSFORM_CHUNK):
            chunk = torch.from_numpy(arr[a : a + TRANSFORM_CHUNK]).to(self.device_)
            out.append(encode(chunk).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.output_dimension), np.float32)

    def transform(self, X: Any) -> np.ndarray:
        """Embed images with the trained backbone.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Images of the same size and channels as in ``fit`` (``uint8`` or in ``[0, 1]``).

        Returns
        -------
        ndarray of shape (n_samples, output_dimension)
            float32 embeddings.
        """
        check_is_fitted(self)
        images = check_images(X, "X", image_shape=self.image_shape_)  # type: ignore[arg-type]
        return self._embed(images, self.module_.embed)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self._requires_labels
        return tags

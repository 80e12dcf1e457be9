"""Image augmentations as batched torch operations on the device (no torchvision, no PIL).

Images are float tensors ``(n_samples, channels, height, width)`` with values in ``[0, 1]``
(the estimators in :mod:`neuroembed.ssl` scale ``uint8`` input by 1/255). Every function works
on the whole batch at once, draws **its own random parameters for each sample** from the
:class:`torch.Generator` it is given (which must live on the images' device), and returns a new
tensor; the same generator state gives the same output.

* :func:`random_resized_crop` -- per-sample boxes resampled with ``affine_grid`` / ``grid_sample``;
* :func:`random_horizontal_flip`;
* :func:`color_jitter` -- per-sample brightness, contrast, saturation and hue factors;
* :func:`random_grayscale`;
* :func:`gaussian_blur` -- per-sample sigma, separable grouped convolution;
* :func:`random_solarize`;
* :class:`Augment` -- the usual view pipeline (crop, flip, jitter, grayscale, blur, solarise);
* :class:`MultiCrop` -- 2 global + ``n_local`` local views (DINO, iBOT).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "Augment",
    "MultiCrop",
    "color_jitter",
    "gaussian_blur",
    "random_grayscale",
    "random_horizontal_flip",
    "random_resized_crop",
    "random_solarize",
]

# ITU-R BT.601 luma weights, as used for grayscale conversion of RGB images.
_LUMA = (0.299, 0.587, 0.114)
# RGB -> YIQ (luma and two chroma axes) and back, for hue rotation
_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_FROM_YIQ = np.linalg.inv(_TO_YIQ)


def _check_images(images: torch.Tensor, generator: torch.Generator | None) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(
            f"images must be a floating-point tensor (n_samples, channels, height, width); got {shape}."
        )
    if generator is not None and generator.device != images.device:
        raise ValueError(
            f"the generator lives on {generator.device} but the images on {images.device}; "
            "create the generator on the images' device."
        )


def _uniform(
    n: int, low: float, high: float, generator: torch.Generator | None, like: torch.Tensor
) -> torch.Tensor:
    u = torch.rand(n, generator=generator, device=like.device, dtype=like.dtype)
    return low + (high - low) * u


def _coin(n: int, p: float, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=like.device) < p


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _pair(value: Any, name: str = "size") -> tuple[int, int]:
    """``(height, width)`` from an int (square) or a pair of ints."""
    if _is_int(value):
        return int(value), int(value)
    pair = not isinstance(value, (str, bytes)) and hasattr(value, "__len__") and len(value) == 2
    if pair and all(_is_int(v) for v in value):
        return int(value[0]), int(value[1])
    raise TypeError(f"{name} must be an int or a pair of ints (height, width); got {value!r}.")


def _check_size(name: str, value: Any) -> None:
    if value is not None and min(_pair(value, name)) < 1:
        raise ValueError(f"{name} must be positive; got {value!r}.")


def _gray(images: torch.Tensor) -> torch.Tensor:
    """Per-pixel luminance ``(n, 1, H, W)`` (luma weights for RGB, channel mean otherwise)."""
    if images.shape[1] == 3:
        w = images.new_tensor(_LUMA).view(1, 3, 1, 1)
        return (images * w).sum(dim=1, keepdim=True)
    return images.mean(dim=1, keepdim=True)


def random_resized_crop(
    images: torch.Tensor,
    size: int | tuple[int, int],
    *,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Crop a random box from each image and resize it to ``size`` (bilinear).

    Each sample draws an area fraction from ``scale`` and a log-uniform aspect ratio (width /
    height, in pixels) from ``ratio``; a box side longer than the image is clipped to it, and the
    box is placed uniformly inside the image.

    Parameters
    ----------
    images : torch.Tensor of shape (n_samples, channels, height, width)
        Input images.
    size : int or (int, int)
        Output ``height`` and ``width`` (an int for square crops).
    scale : (float, float)
        Range of the crop area as a fraction of the image area.
    ratio : (float, float)
        Range of the crop aspect ratio.
    generator : torch.Generator, optional
        Source of randomness, on the images' device.

    Returns
    -------
    torch.Tensor of shape (n_samples, channels, size[0], size[1])

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> random_resized_crop(torch.rand(4, 1, 8, 8), 6, scale=(0.5, 1.0), generator=g).shape
    torch.Size([4, 1, 6, 6])
    """
    _check_images(images, generator)
    n, c, h, w = images.shape
    out_h, out_w = _pair(size)
    area = _uniform(n, scale[0], scale[1], generator, images)
    log_r = _uniform(n, math.log(ratio[0]), math.log(ratio[1]), generator, images)
    r = torch.exp(log_r)
    # box sides as fractions of the image sides: (bw * W) / (bh * H) = r, bw * bh = area
    bw = torch.sqrt(area * r * h / w).clamp(max=1.0)
    bh = torch.sqrt(area / r * w / h).clamp(max=1.0)
    # centres in the normalised [-1, 1] coordinates of affine_grid, box kept inside the image
    cx = (1.0 - bw) * (
        2.0 * torch.rand(n, generator=generator, device=images.device, dtype=images.dtype) - 1.0
    )
    cy = (1.0 - bh) * (
        2.0 * torch.rand(n, generator=generator, device=images.device, dtype=images.dtype) - 1.0
    )
    zero = torch.zeros_like(bw)
    theta = torch.stack([torch.stack([bw, zero, cx], 1), torch.stack([zero, bh, cy], 1)], 1)
    grid = F.affine_grid(theta, [n, c, out_h, out_w], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_horizontal_flip(
    images: torch.Tensor, *, p: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``.

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(3.0).view(1, 1, 1, 3)
    >>> random_horizontal_flip(x, p=1.0).flatten().tolist()
    [2.0, 1.0, 0.0]
    """
    _check_images(images, generator)
    flip = _coin(images.shape[0], p, generator, images).view(-1, 1, 1, 1)
    return torch.where(flip, images.flip(-1), images)


def color_jitter(
    images: torch.Tensor,
    *,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.2,
    hue: float = 0.1,
    p: float = 0.8,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Randomly change brightness, contrast, saturation and hue, with per-sample factors.

    With probability ``p`` a sample gets brightness factor ``b ~ U(1 - brightness, 1 + brightness)``
    (pixels times ``b``), contrast ``c`` (blend with its mean gray level), saturation ``s`` (blend
    with its grayscale image) and hue shift ``u ~ U(-hue, hue)`` of a full turn (a rotation of the
    chroma plane in YIQ space), applied in this fixed order, each result clipped to ``[0, 1]``.
    Saturation and hue need 3 channels and leave other images unchanged.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> out = color_jitter(torch.rand(5, 3, 4, 4), p=1.0, generator=g)
    >>> out.shape, bool(((out >= 0) & (out <= 1)).all())
    (torch.Size([5, 3, 4, 4]), True)
    """
    _check_images(images, generator)
    n = images.shape[0]
    apply = _coin(n, p, generator, images)
    one = torch.ones(n, device=images.device, dtype=images.dtype)
    b = torch.where(
        apply, _uniform(n, max(0.0, 1 - brightness), 1 + brightness, generator, images), one
    )
    c = torch.where(
        apply, _uniform(n, max(0.0, 1 - contrast), 1 + contrast, generator, images), one
    )
    s = torch.where(
        apply, _uniform(n, max(0.0, 1 - saturation), 1 + saturation, generator, images), one
    )
    u = torch.where(apply, _uniform(n, -hue, hue, generator, images), one - 1)
    x = (images * b.view(-1, 1, 1, 1)).clamp(0, 1)
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    x = (c.view(-1, 1, 1, 1) * x + (1 - c.view(-1, 1, 1, 1)) * mean).clamp(0, 1)
    keep = ~apply.view(-1, 1, 1, 1)
    if images.shape[1] != 3:
        return torch.where(keep, images, x)
    x = (s.view(-1, 1, 1, 1) * x + (1 - s.view(-1, 1, 1, 1)) * _gray(x)).clamp(0, 1)
    # hue: rotate the (I, Q) chroma plane by 2 * pi * u, per sample
    to_yiq, from_yiq = images.new_tensor(_TO_YIQ), images.new_tensor(_FROM_YIQ)
    angle = 2 * math.pi * u
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(n, 3, 3, device=images.device, dtype=images.dtype)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    transform = from_yiq @ rot @ to_yiq  # (n, 3, 3)
    x = torch.einsum("nij,njhw->nihw", transform, x).clamp(0, 1)
    return torch.where(keep, images, x)  # untouched samples exactly as given


def random_grayscale(
    images: torch.Tensor, *, p: float = 0.2, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Replace each image by its grayscale version (all channels equal) with probability ``p``.

    RGB images use the ITU-R BT.601 luma weights; other channel counts the channel mean
    (single-channel images are unchanged).

    Examples
    --------
    >>> import torch
    >>> out = random_grayscale(torch.rand(2, 3, 4, 4), p=1.0)
    >>> bool((out[:, 0] == out[:, 1]).all())
    True
    """
    _check_images(images, generator)
    gray = _coin(images.shape[0], p, generator, images).view(-1, 1, 1, 1)
    return torch.where(gray, _gray(images).expand_as(images), images)


def default_blur_kernel(height: int, width: int) -> int:
    """Odd Gaussian kernel size of about a tenth of the shorter image side (at least 3)."""
    return max(3, 2 * (min(height, width) // 20) + 1)


def gaussian_blur(
    images: torch.Tensor,
    *,
    sigma: tuple[float, float] = (0.1, 2.0),
    p: float = 0.5,
    kernel_size: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Gaussian blur with a per-sample ``sigma ~ U(sigma)``, applied with probability ``p``.

    The separable kernel of each sample is applied to all its channels by a grouped convolution
    (one group per sample and channel); borders are replicated.

    Parameters
    ----------
    images : torch.Tensor of shape (n_samples, channels, height, width)
        Input images.
    sigma : (float, float)
        Range of the kernel's standard deviation, in pixels.
    p : float
        Probability of blurring each sample.
    kernel_size : int, optional
        Odd kernel size; by default about a tenth of the shorter side, at least 3.
    generator : torch.Generator, optional
        Source of randomness, on the images' device.

    Examples
    --------
    >>> import torch
    >>> x = torch.zeros(1, 1, 5, 5)
    >>> x[0, 0, 2, 2] = 1.0
    >>> out = gaussian_blur(x, sigma=(1.0, 1.0), p=1.0)
    >>> round(out.sum().item(), 5), bool(out[0, 0, 2, 2] < 1)
    (1.0, True)
    """
    _check_images(images, generator)
    n, c, h, w = images.shape
    k = default_blur_kernel(h, w) if kernel_size is None else int(kernel_size)
    if k < 1 or k % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer; got {kernel_size}.")
    apply = _coin(n, p, generator, images)
    sig = _uniform(n, sigma[0], sigma[1], generator, images).clamp(min=1e-3)
    offsets = torch.arange(k, device=images.device, dtype=images.dtype) - k // 2
    kernel = torch.exp(-(offsets**2) / (2 * sig[:, None] ** 2))
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    delta = (offsets == 0).to(images.dtype).expand(n, k)
    kernel = torch.where(apply[:, None], kernel, delta)  # identity kernel for untouched samples
    weights = kernel.repeat_interleave(c, dim=0)  # (n * c, k)
    x = images.reshape(1, n * c, h, w)
    pad = k // 2
    x = F.conv2d(
        F.pad(x, (pad, pad, 0, 0), mode="replicate"), weights.view(n * c, 1, 1, k), groups=n * c
    )
    x = F.conv2d(
        F.pad(x, (0, 0, pad, pad), mode="replicate"), weights.view(n * c, 1, k, 1), groups=n * c
    )
    return x.reshape(n, c, h, w)


def random_solarize(
    images: torch.Tensor,
    *,
    threshold: float = 0.5,
    p: float = 0.2,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Invert the pixels at or above ``threshold`` (``x -> 1 - x``) with probability ``p``.

    Examples
    --------
    >>> import torch
    >>> random_solarize(torch.tensor([[[[0.2, 0.7]]]]), p=1.0).flatten().tolist()
    [0.20000000298023224, 0.30000001192092896]
    """
    _check_images(images, generator)
    apply = _coin(images.shape[0], p, generator, images).view(-1, 1, 1, 1)
    return torch.where(apply & (images >= threshold), 1.0 - images, images)


def _check_range(name: str, value: tuple[float, float], low: float, high: float) -> None:
    if len(value) != 2 or not (low <= value[0] <= value[1] <= high):
        raise ValueError(
            f"{name} must be a pair (a, b) with {low} <= a <= b <= {high}; got {value!r}."
        )


def _check_probability(name: str, value: float) -> None:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1]; got {value!r}.")


@dataclass(frozen=True)
class Augment:
    """The view pipeline of SimCLR-style methods: crop, flip, colour jitter, grayscale, blur, solarise.

    Calling it on images ``(n_samples, channels, height, width)`` in ``[0, 1]`` returns one random
    view of each, ``(n_samples, channels, crop_height, crop_width)``. Call it twice for two views.

    Parameters
    ----------
    crop_size : int or (int, int), optional
        Output size of the random resized crop; the input size by default.
    crop_scale : (float, float)
        Range of the crop area fraction (``(1, 1)`` disables cropping).
    crop_ratio : (float, float)
        Range of the crop aspect ratio.
    flip_p : float
        Probability of a horizontal flip (set 0 for digits and text, where mirroring changes meaning).
    jitter_p, brightness, contrast, saturation, hue : float
        Probability and strengths of :func:`color_jitter`.
    grayscale_p : float
        Probability of :func:`random_grayscale`.
    blur_p : float
        Probability of :func:`gaussian_blur`.
    blur_sigma : (float, float)
        Range of the blur's sigma, in pixels.
    blur_kernel_size : int, optional
        Odd blur kernel size; about a tenth of the shorter side by default.
    solarize_p : float
        Probability of :func:`random_solarize`.

    Examples
    --------
    >>> import torch
    >>> aug = Augment(crop_scale=(0.5, 1.0), flip_p=0.0)
    >>> g = torch.Generator().manual_seed(0)
    >>> aug(torch.rand(3, 1, 8, 8), g).shape
    torch.Size([3, 1, 8, 8])
    """

    crop_size: int | tuple[int, int] | None = None
    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_kernel_size: int | None = None
    solarize_p: float = 0.0

    def __post_init__(self) -> None:
        _check_range("crop_scale", self.crop_scale, 1e-6, 1.0)
        _check_range("crop_ratio", self.crop_ratio, 1e-6, math.inf)
        _check_range("blur_sigma", self.blur_sigma, 0.0, math.inf)
        for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p", "solarize_p"):
            _check_probability(name, getattr(self, name))
        for name in ("brightness", "contrast", "saturation"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)!r}.")
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5]; got {self.hue!r}.")
        _check_size("crop_size", self.crop_size)

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Return one augmented view ``(n_samples, channels, crop_height, crop_width)`` of ``images``."""
        _check_images(images, generator)
        size = images.shape[-2:] if self.crop_size is None else _pair(self.crop_size)
        x = random_resized_crop(
            images,
            (int(size[0]), int(size[1])),
            scale=self.crop_scale,
            ratio=self.crop_ratio,
            generator=generator,
        )
        if self.flip_p > 0:
            x = random_horizontal_flip(x, p=self.flip_p, generator=generator)
        if self.jitter_p > 0:
            x = color_jitter(
                x,
                brightness=self.brightness,
                contrast=self.contrast,
                saturation=self.saturation,
                hue=self.hue,
                p=self.jitter_p,
                generator=generator,
            )
        if self.grayscale_p > 0:
            x = random_grayscale(x, p=self.grayscale_p, generator=generator)
        if self.blur_p > 0:
            x = gaussian_blur(
                x,
                sigma=self.blur_sigma,
                p=self.blur_p,
                kernel_size=self.blur_kernel_size,
                generator=generator,
            )
        if self.solarize_p > 0:
            x = random_solarize(x, p=self.solarize_p, generator=generator)
        return x


@dataclass(frozen=True)
class MultiCrop:
    """Multi-crop views (DINO, iBOT): ``n_global`` large crops and ``n_local`` small ones.

    Global views are crops of area fraction ``global_scale`` resized to ``global_size``; local
    views are crops of area fraction ``local_scale`` resized to ``local_size``; all then go through
    the rest of ``view`` (flip, jitter, grayscale, blur, solarise; its own crop settings are
    replaced).

    Parameters
    ----------
    n_global : int
        Number of global views (2 in DINO).
    n_local : int
        Number of local views.
    global_size : int or (int, int), optional
        Size of the global views; the input size by default.
    local_size : int or (int, int), optional
        Size of the local views; 3/7 of the input size by default (96 / 224 as in DINO), at least 2.
        For tiny images pick it by hand: on 8x8 digits 3-pixel local views carry too little to
        match the global ones, and 6-pixel views of a quarter to half of the image work better.
    global_scale, local_scale : (float, float)
        Ranges of the crop area fraction.
    view : Augment
        Photometric part of the pipeline.

    Examples
    --------
    >>> import torch
    >>> mc = MultiCrop(n_local=3)
    >>> g = torch.Generator().manual_seed(0)
    >>> globals_, locals_ = mc(torch.rand(4, 1, 14, 14), g)
    >>> [tuple(v.shape) for v in globals_], tuple(locals_[0].shape), len(locals_)
    ([(4, 1, 14, 14), (4, 1, 14, 14)], (4, 1, 6, 6), 3)
    """

    n_global: int = 2
    n_local: int = 6
    global_size: int | tuple[int, int] | None = None
    local_size: int | tuple[int, int] | None = None
    global_scale: tuple[float, float] = (0.4, 1.0)
    local_scale: tuple[float, float] = (0.05, 0.4)
    view: Augment = field(default_factory=Augment)

    def __post_init__(self) -> None:
        if not (_is_int(self.n_global) and _is_int(self.n_local)):
            raise TypeError(
                f"n_global and n_local must be integers; got {self.n_global!r} and {self.n_local!r}."
            )
        if self.n_global < 1 or self.n_local < 0:
            raise ValueError(
                f"n_global must be >= 1 and n_local >= 0; got {self.n_global} and {self.n_local}."
            )
        _check_range("global_scale", self.global_scale, 1e-6, 1.0)
        _check_range("local_scale", self.local_scale, 1e-6, 1.0)
        _check_size("global_size", self.global_size)
        _check_size("local_size", self.local_size)
        if not isinstance(self.view, Augment):
            raise TypeError(f"view must be an Augment; got {type(self.view).__name__}.")

    def sizes(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Global and local view sizes ``((h, w), (h, w))`` for inputs of the given size."""
        g = (height, width) if self.global_size is None else _pair(self.global_size)
        if self.local_size is None:
            loc = (max(2, round(height * 3 / 7)), max(2, round(width * 3 / 7)))
        else:
            loc = _pair(self.local_size)
        return g, loc

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Return ``(global_views, local_views)``: lists of ``(n_samples, channels, h, w)`` tensors."""
        _check_images(images, generator)
        g_size, l_size = self.sizes(images.shape[2], images.shape[3])
        g_aug = replace(self.view, crop_size=g_size, crop_scale=self.global_scale)
        l_aug = replace(self.view, crop_size=l_size, crop_scale=self.local_scale)
        globals_ = [g_aug(images, generator) for _ in range(self.n_global)]
        locals_ = [l_aug(images, generator) for _ in range(self.n_local)]
        return globals_, locals_

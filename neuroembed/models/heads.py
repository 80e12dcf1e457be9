"""Heads placed on top of a backbone by the self-supervised methods.

* :class:`ProjectionMLP` -- the projector of SimCLR, MoCo v2, BYOL, SimSiam, SupCon;
* :class:`PredictionMLP` -- the predictor of BYOL and SimSiam (a bottleneck MLP);
* :class:`DINOHead` -- MLP, L2-normalised bottleneck and a weight-normalised last layer (DINO, iBOT);
* :class:`ImageDecoder` -- embedding back to an image, for the autoencoder.

Every head maps ``(n_samples, in_dimension)`` to ``(n_samples, out_dimension)`` (the decoder to
``(n_samples, channels, height, width)``); :class:`DINOHead` also takes patch tokens
``(n_samples, n_patches, in_dimension)``. Pure torch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ProjectionMLP", "PredictionMLP", "DINOHead", "WeightNormLinear", "ImageDecoder"]


class ProjectionMLP(nn.Module):
    """MLP projector: ``n_layers`` linear layers with batch norm and ReLU between them.

    Parameters
    ----------
    in_dimension, hidden_dimension, out_dimension : int
        Input, hidden and output widths.
    n_layers : int
        Number of linear layers (at least 1; 1 is a plain linear map).
    batch_norm : bool
        Batch norm after every hidden linear layer.
    last_batch_norm : bool
        Also batch-normalise the output (without affine parameters), as SimSiam does.

    Examples
    --------
    >>> import torch
    >>> ProjectionMLP(8, 16, 4)(torch.randn(5, 8)).shape
    torch.Size([5, 4])
    """

    def __init__(
        self,
        in_dimension: int,
        hidden_dimension: int = 256,
        out_dimension: int = 64,
        n_layers: int = 2,
        batch_norm: bool = True,
        last_batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1; got {n_layers}.")
        layers: list[nn.Module] = []
        width = in_dimension
        for _ in range(n_layers - 1):
            layers.append(nn.Linear(width, hidden_dimension, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dimension))
            layers.append(nn.ReLU(inplace=True))
            width = hidden_dimension
        layers.append(nn.Linear(width, out_dimension, bias=not last_batch_norm))
        if last_batch_norm:
            layers.append(nn.BatchNorm1d(out_dimension, affine=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project ``(n_samples, in_dimension)`` -> ``(n_samples, out_dimension)``."""
        return self.net(x)


class PredictionMLP(nn.Module):
    """Predictor of BYOL / SimSiam: linear, batch norm, ReLU, linear.

    Examples
    --------
    >>> import torch
    >>> PredictionMLP(4, 8)(torch.randn(3, 4)).shape
    torch.Size([3, 4])
    """

    def __init__(
        self, in_dimension: int, hidden_dimension: int = 128, out_dimension: int | None = None
    ) -> None:
        super().__init__()
        out = in_dimension if out_dimension is None else out_dimension
        self.net = nn.Sequential(
            nn.Linear(in_dimension, hidden_dimension, bias=False),
            nn.BatchNorm1d(hidden_dimension),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dimension, out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict ``(n_samples, in_dimension)`` -> ``(n_samples, out_dimension)``."""
        return self.net(x)


class WeightNormLinear(nn.Module):
    """Bias-free linear layer whose weight rows are ``gain * v / ||v||`` (weight normalisation).

    With ``learnable_gain=False`` the gain is fixed at 1, so every output unit is a unit vector
    (DINO's ``norm_last_layer``). The direction ``v`` is the stored parameter ``weight_v``
    ``(out_features, in_features)``.

    Examples
    --------
    >>> import torch
    >>> layer = WeightNormLinear(4, 3)
    >>> torch.allclose(layer.weight.norm(dim=1), torch.ones(3))
    True
    """

    def __init__(self, in_features: int, out_features: int, learnable_gain: bool = False) -> None:
        super().__init__()
        self.weight_v = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight_v, a=math.sqrt(5))
        self.weight_g = nn.Parameter(torch.ones(out_features, 1), requires_grad=learnable_gain)

    @property
    def weight(self) -> torch.Tensor:
        """The effective weight ``(out_features, in_features)``."""
        return self.weight_g * F.normalize(self.weight_v, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer to ``(..., in_features)``."""
        return F.linear(x, self.weight)


class DINOHead(nn.Module):
    """DINO projection head: MLP (GELU), L2-normalised bottleneck, weight-normalised last layer.

    Parameters
    ----------
    in_dimension : int
        Backbone embedding size.
    out_dimension : int
        Number of prototypes (``K``, the softmax width of the DINO loss).
    hidden_dimension : int
        Width of the hidden layers.
    bottleneck_dimension : int
        Width of the normalised bottleneck before the last layer.
    n_layers : int
        Linear layers before the last one (at least 1).
    norm_last_layer : bool
        Fix the gain of the last layer at 1 (the usual choice; stabilises training).
    batch_norm : bool
        Batch norm after the hidden linear layers (DINO's choice for convolutional backbones).

    Examples
    --------
    >>> import torch
    >>> head = DINOHead(16, 32, hidden_dimension=24, bottleneck_dimension=8)
    >>> head(torch.randn(4, 16)).shape, head(torch.randn(4, 9, 16)).shape
    (torch.Size([4, 32]), torch.Size([4, 9, 32]))
    """

    def __init__(
        self,
        in_dimension: int,
        out_dimension: int = 256,
        hidden_dimension: int = 256,
        bottleneck_dimension: int = 64,
        n_layers: int = 3,
        norm_last_layer: bool = True,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1; got {n_layers}.")
        layers: list[nn.Module] = []
        width = in_dimension
        for _ in range(n_layers - 1):
            layers.append(nn.Linear(width, hidden_dimension))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dimension))
            layers.append(nn.GELU())
            width = hidden_dimension
        layers.append(nn.Linear(width, bottleneck_dimension))
        self.mlp = nn.Sequential(*layers)
        for module in self.mlp:
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
        self.last_layer = WeightNormLinear(
            bottleneck_dimension, out_dimension, learnable_gain=not norm_last_layer
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(..., in_dimension)`` to prototype scores ``(..., out_dimension)``."""
        shape = x.shape[:-1]
        h = self.mlp(x.reshape(-1, x.shape[-1]))  # batch norm wants (n, features)
        return self.last_layer(F.normalize(h, dim=-1)).reshape(*shape, -1)


class ImageDecoder(nn.Module):
    """Decode an embedding back to an image (the autoencoder's decoder).

    A linear layer makes a ``(4 * width, ceil(H / 4), ceil(W / 4))`` feature map, two stages of
    nearest 2x upsampling + 3x3 conv + batch norm + ReLU bring it to about ``(H, W)``, a last 3x3
    conv gives the channels, the map is cropped to exactly ``(H, W)`` and, with ``sigmoid``, a
    sigmoid keeps pixels in ``[0, 1]`` (the range :mod:`neuroembed.ssl` uses for images).

    Parameters
    ----------
    in_dimension : int
        Embedding size.
    image_shape : tuple of int
        ``(channels, height, width)`` of the reconstructed images.
    width : int
        Channels of the last upsampling stage.
    sigmoid : bool
        Apply a sigmoid to the output; ``False`` returns logits (e.g. for a binary cross-entropy
        computed from logits).

    Examples
    --------
    >>> import torch
    >>> dec = ImageDecoder(16, image_shape=(1, 8, 8), width=4)
    >>> out = dec(torch.randn(2, 16))
    >>> out.shape, bool(((out >= 0) & (out <= 1)).all())
    (torch.Size([2, 1, 8, 8]), True)
    """

    def __init__(
        self,
        in_dimension: int,
        image_shape: tuple[int, int, int],
        width: int = 16,
        sigmoid: bool = True,
    ) -> None:
        super().__init__()
        self.sigmoid = sigmoid
        channels, height, width_px = image_shape
        self.image_shape = (channels, height, width_px)
        self.start = (math.ceil(height / 4), math.ceil(width_px / 4))
        self.start_channels = 4 * width
        self.fc = nn.Linear(in_dimension, self.start_channels * self.start[0] * self.start[1])
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(4 * width, 2 * width, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(2 * width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, channels, 3, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode ``(n_samples, in_dimension)`` -> images ``(n_samples, channels, height, width)``."""
        h = F.relu(self.fc(z)).reshape(z.shape[0], self.start_channels, *self.start)
        _, height, width = self.image_shape
        out = self.up(h)[:, :, :height, :width]
        return torch.sigmoid(out) if self.sigmoid else out

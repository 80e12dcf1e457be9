"""Small image backbones for the self-supervised methods in :mod:`neuroembed.ssl`.

Three encoders map images ``(n_samples, in_channels, height, width)`` to embeddings
``(n_samples, output_dimension)``:

* :class:`ImageCNN` -- a plain convolutional network (3x3 conv, batch norm, ReLU; stride-2 stages),
  sized for 8x8 digits up to 32x32 and beyond;
* :class:`ImageResNet` -- a small ResNet of basic residual blocks;
* :class:`TinyViT` -- a small vision transformer that also returns its patch tokens
  (``forward_tokens``), with an optional learned mask token for masked-patch methods (iBOT) and
  position embeddings interpolated to whatever patch grid the input gives (multi-crop).

All three end in global pooling (or the CLS token) and a linear layer, so any reasonable height and
width works. :data:`BACKBONES` is the one lookup table from name to class; :func:`make_backbone`
builds one by name. Pure torch: nothing here imports from the rest of the package.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ImageCNN", "ImageResNet", "TinyViT", "BACKBONES", "make_backbone"]


def _check_channels(x: torch.Tensor, in_channels: int, name: str) -> None:
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(
            f"{name} expects images of shape (n_samples, {in_channels}, height, width); "
            f"got a tensor of shape {tuple(x.shape)}."
        )


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ImageCNN(nn.Module):
    """Plain convolutional image encoder.

    ``n_stages`` stages of two 3x3 conv + batch norm + ReLU layers; every stage after the first
    halves the resolution and doubles the channels. Global average pooling and a linear layer give
    the embedding.

    Parameters
    ----------
    in_channels : int
        Channels of the input images (1 for grayscale, 3 for RGB).
    output_dimension : int
        Size of the embedding.
    width : int
        Channels of the first stage.
    n_stages : int
        Number of stages (resolution is halved ``n_stages - 1`` times; inputs smaller than that
        simply stay at 1x1).

    Examples
    --------
    >>> import torch
    >>> net = ImageCNN(in_channels=1, output_dimension=16, width=8)
    >>> net(torch.zeros(4, 1, 8, 8)).shape
    torch.Size([4, 16])
    """

    def __init__(
        self, in_channels: int = 1, output_dimension: int = 64, width: int = 32, n_stages: int = 3
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.output_dimension = output_dimension
        layers: list[nn.Module] = []
        channels = in_channels
        for stage in range(n_stages):
            out = width * 2**stage
            layers.append(_conv_bn_relu(channels, out, stride=1 if stage == 0 else 2))
            layers.append(_conv_bn_relu(out, out, stride=1))
            channels = out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, output_dimension)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed images ``(n_samples, in_channels, height, width)`` -> ``(n_samples, output_dimension)``."""
        _check_channels(x, self.in_channels, type(self).__name__)
        h = self.features(x)
        return self.fc(h.mean(dim=(2, 3)))


class _BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)), inplace=True)
        h = self.bn2(self.conv2(h))
        return F.relu(h + self.shortcut(x), inplace=True)


class ImageResNet(nn.Module):
    """Small ResNet of basic residual blocks (a 3x3 stem, no max-pool, for small images).

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    output_dimension : int
        Size of the embedding.
    width : int
        Channels of the first stage; each later stage doubles them and halves the resolution.
    blocks : tuple of int
        Residual blocks per stage.

    Examples
    --------
    >>> import torch
    >>> net = ImageResNet(in_channels=3, output_dimension=10, width=8, blocks=(1, 1))
    >>> net(torch.zeros(2, 3, 16, 12)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        in_channels: int = 1,
        output_dimension: int = 64,
        width: int = 16,
        blocks: tuple[int, ...] = (1, 1, 1),
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.output_dimension = output_dimension
        self.stem = _conv_bn_relu(in_channels, width, stride=1)
        stages: list[nn.Module] = []
        channels = width
        for stage, n_blocks in enumerate(blocks):
            out = width * 2**stage
            for b in range(n_blocks):
                stride = 2 if (stage > 0 and b == 0) else 1
                stages.append(_BasicBlock(channels, out, stride))
                channels = out
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(channels, output_dimension)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed images ``(n_samples, in_channels, height, width)`` -> ``(n_samples, output_dimension)``."""
        _check_channels(x, self.in_channels, type(self).__name__)
        h = self.stages(self.stem(x))
        return self.fc(h.mean(dim=(2, 3)))


class _Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (b, heads, t, head_dim)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, t, d))


class _Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """Small vision transformer returning the CLS embedding and the patch tokens.

    Images are cut into non-overlapping ``patch_size`` x ``patch_size`` patches (a strided
    convolution; height and width are zero-padded up to a multiple of ``patch_size``), a CLS token
    is prepended, learned position embeddings (defined on the grid of an ``image_size`` input) are
    bilinearly interpolated to the actual grid, and ``depth`` pre-norm transformer blocks follow.

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    output_dimension : int
        Token width (the embedding size); must be divisible by ``num_heads``.
    image_size : int
        Side of the images the position embeddings are laid out for (others are interpolated).
    patch_size : int
        Side of a square patch.
    depth : int
        Number of transformer blocks.
    num_heads : int
        Attention heads per block.
    mlp_ratio : float
        Hidden width of each block's MLP relative to ``output_dimension``.

    Examples
    --------
    >>> import torch
    >>> vit = TinyViT(in_channels=1, output_dimension=16, image_size=8, patch_size=2, depth=1, num_heads=2)
    >>> vit(torch.zeros(3, 1, 8, 8)).shape
    torch.Size([3, 16])
    >>> cls, patches = vit.forward_tokens(torch.zeros(3, 1, 8, 8))
    >>> patches.shape  # 4 x 4 patches
    torch.Size([3, 16, 16])
    """

    def __init__(
        self,
        in_channels: int = 1,
        output_dimension: int = 64,
        image_size: int = 32,
        patch_size: int = 4,
        depth: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
    ) -> None:
        super().__init__()
        if output_dimension % num_heads:
            raise ValueError(
                f"output_dimension ({output_dimension}) must be divisible by num_heads ({num_heads})."
            )
        self.in_channels = in_channels
        self.output_dimension = output_dimension
        self.patch_size = patch_size
        self.base_grid = max(1, math.ceil(image_size / patch_size))
        self.patch_embed = nn.Conv2d(in_channels, output_dimension, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, output_dimension))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, output_dimension))
        self.pos_embed = nn.Parameter(
            torch.randn(1, self.base_grid**2 + 1, output_dimension) * 0.02
        )
        self.blocks = nn.ModuleList(
            [_Block(output_dimension, num_heads, mlp_ratio) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(output_dimension)
        nn.init.normal_(self.cls_token, std=0.02)
        # no patch-embedding bias at the start: with it, tokens of blank patches (the background of
        # digits or sketches) share one large constant and images look alike to the transformer
        if self.patch_embed.bias is not None:
            nn.init.zeros_(self.patch_embed.bias)

    def grid_shape(self, height: int, width: int) -> tuple[int, int]:
        """Patch grid ``(rows, columns)`` for an input of the given size."""
        return math.ceil(height / self.patch_size), math.ceil(width / self.patch_size)

    def _pos_embed(self, rows: int, cols: int) -> torch.Tensor:
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        if rows == cols == self.base_grid:
            return self.pos_embed
        d = self.output_dimension
        grid = patch_pos.reshape(1, self.base_grid, self.base_grid, d).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(rows, cols), mode="bilinear", align_corners=False)
        return torch.cat([cls_pos, grid.permute(0, 2, 3, 1).reshape(1, rows * cols, d)], dim=1)

    def forward_tokens(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the CLS embedding ``(n_samples, dim)`` and patch tokens ``(n_samples, n_patches, dim)``.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, in_channels, height, width)
            Images.
        mask : torch.Tensor of shape (n_samples, n_patches), optional
            Boolean; ``True`` patches are replaced by the learned mask token before the transformer
            (patches are numbered row by row over the grid given by :meth:`grid_shape`).
        """
        _check_channels(x, self.in_channels, type(self).__name__)
        p = self.patch_size
        pad_h, pad_w = (-x.shape[2]) % p, (-x.shape[3]) % p
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        tokens = self.patch_embed(x)  # (n, d, rows, cols)
        rows, cols = tokens.shape[2], tokens.shape[3]
        tokens = tokens.flatten(2).transpose(1, 2)  # (n, rows * cols, d)
        if mask is not None:
            if mask.shape != tokens.shape[:2]:
                raise ValueError(
                    f"mask must have shape (n_samples, n_patches) = {tuple(tokens.shape[:2])}; "
                    f"got {tuple(mask.shape)}."
                )
            tokens = torch.where(mask.unsqueeze(-1), self.mask_token.to(tokens.dtype), tokens)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        h = torch.cat([cls, tokens], dim=1) + self._pos_embed(rows, cols)
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)
        return h[:, 0], h[:, 1:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed images ``(n_samples, in_channels, height, width)`` -> CLS ``(n_samples, output_dimension)``."""
        return self.forward_tokens(x)[0]


#: Backbone classes by name (the one lookup table used by :mod:`neuroembed.ssl`).
BACKBONES: dict[str, type[nn.Module]] = {
    "cnn": ImageCNN,
    "resnet": ImageResNet,
    "vit": TinyViT,
}


def make_backbone(
    name: str, in_channels: int, output_dimension: int, image_size: int = 32
) -> nn.Module:
    """Build the backbone ``name`` (a key of :data:`BACKBONES`) with its default architecture.

    Parameters
    ----------
    name : {"cnn", "resnet", "vit"}
        Which backbone.
    in_channels : int
        Channels of the input images.
    output_dimension : int
        Size of the embedding.
    image_size : int
        Typical image side; the ViT picks its patch size (2 below 16 pixels, else 4) and lays out
        its position embeddings for it. Ignored by the convolutional backbones.

    Examples
    --------
    >>> make_backbone("cnn", in_channels=1, output_dimension=8).output_dimension
    8
    """
    if name not in BACKBONES:
        raise ValueError(f"backbone={name!r} is not supported; choose one of {sorted(BACKBONES)}.")
    if name == "vit":
        patch = 2 if image_size < 16 else 4
        heads = 4 if output_dimension % 4 == 0 else (2 if output_dimension % 2 == 0 else 1)
        return TinyViT(
            in_channels,
            output_dimension,
            image_size=image_size,
            patch_size=patch,
            num_heads=heads,
        )
    return BACKBONES[name](in_channels, output_dimension)

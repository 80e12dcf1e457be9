"""Encoders, heads and EMA helpers.

1D-conv ``offset-N`` encoders for neural time series (``MODELS`` maps their names to classes), image backbones
for the self-supervised methods (``BACKBONES``), projection / prediction / DINO heads, and the exponential moving
average helpers of the momentum-teacher methods.
"""

from neuroembed.models._registry import MODELS, make_encoder
from neuroembed.models.conv import (
    ConvEncoder,
    Dilated18,
    Dilated34,
    ModuleEncoder,
    MultiSessionEncoder,
    Offset1,
    Offset5,
    Offset10,
    Offset15,
    Offset20,
    Offset36,
    Offset40,
    Offset50,
    window_offsets,
)
from neuroembed.models.ema import cosine_momentum, ema_update_, frozen_copy
from neuroembed.models.heads import (
    DINOHead,
    ImageDecoder,
    PredictionMLP,
    ProjectionMLP,
    WeightNormLinear,
)
from neuroembed.models.image import BACKBONES, ImageCNN, ImageResNet, TinyViT, make_backbone

__all__ = [
    "MODELS",
    "make_encoder",
    "ConvEncoder",
    "MultiSessionEncoder",
    "ModuleEncoder",
    "Offset1",
    "Offset5",
    "Offset10",
    "Offset15",
    "Offset20",
    "Offset36",
    "Offset40",
    "Offset50",
    "Dilated18",
    "Dilated34",
    "window_offsets",
    "BACKBONES",
    "make_backbone",
    "ImageCNN",
    "ImageResNet",
    "TinyViT",
    "ProjectionMLP",
    "PredictionMLP",
    "DINOHead",
    "WeightNormLinear",
    "ImageDecoder",
    "ema_update_",
    "cosine_momentum",
    "frozen_copy",
]

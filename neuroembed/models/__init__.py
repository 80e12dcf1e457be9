"""Encoders: 1D-conv ``offset-N`` models for neural data (image backbones and heads live beside them)."""

from neuroembed.models._registry import MODELS, make_encoder
from neuroembed.models.conv import (
    ConvEncoder,
    MultiSessionEncoder,
    Offset1,
    Offset5,
    Offset10,
    Offset36,
    window_offsets,
)

__all__ = [
    "MODELS",
    "make_encoder",
    "ConvEncoder",
    "MultiSessionEncoder",
    "Offset1",
    "Offset5",
    "Offset10",
    "Offset36",
    "window_offsets",
]

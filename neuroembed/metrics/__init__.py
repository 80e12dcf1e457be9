"""Metrics for embeddings: consistency across runs and animals, decoding, goodness of fit, latent recovery."""

from neuroembed.metrics.consistency import consistency
from neuroembed.metrics.decoding import decode
from neuroembed.metrics.goodness_of_fit import (
    goodness_of_fit,
    goodness_of_fit_history,
    infonce_to_bits,
)
from neuroembed.metrics.latent import latent_recovery

__all__ = [
    "consistency",
    "decode",
    "goodness_of_fit",
    "goodness_of_fit_history",
    "infonce_to_bits",
    "latent_recovery",
]

"""Metrics for embeddings: consistency across runs and animals, decoding, goodness of fit, latent recovery,
alignment of embeddings onto one another, and the ROC AUC of attribution maps against known drivers."""

from neuroembed.metrics.alignment import (
    AlignedEmbeddings,
    Alignment,
    align,
    align_embeddings,
    fit_alignment,
)
from neuroembed.metrics.attribution import attribution_auc
from neuroembed.metrics.consistency import consistency
from neuroembed.metrics.decoding import decode
from neuroembed.metrics.goodness_of_fit import (
    goodness_of_fit,
    goodness_of_fit_history,
    infonce_to_bits,
)
from neuroembed.metrics.latent import latent_recovery

__all__ = [
    "AlignedEmbeddings",
    "Alignment",
    "align",
    "align_embeddings",
    "attribution_auc",
    "consistency",
    "decode",
    "fit_alignment",
    "goodness_of_fit",
    "goodness_of_fit_history",
    "infonce_to_bits",
    "latent_recovery",
]

"""Self-supervised and contrastive image methods, each a scikit-learn transformer.

Every method composes a backbone (:mod:`neuroembed.models.image`), heads
(:mod:`neuroembed.models.heads`), batched on-device augmentations (:mod:`neuroembed.ssl.augment`)
and a loss (:mod:`neuroembed.losses`), and is used as ``Method(...).fit(X).transform(X)`` on images
``(n_samples, channels, height, width)``, ``uint8`` or in ``[0, 1]``.
"""

from neuroembed.ssl._base import SSLEstimator, check_images
from neuroembed.ssl.augment import (
    Augment,
    MultiCrop,
    color_jitter,
    gaussian_blur,
    random_grayscale,
    random_horizontal_flip,
    random_resized_crop,
    random_solarize,
)
from neuroembed.ssl.autoencoder import AutoEncoder
from neuroembed.ssl.byol import BYOL
from neuroembed.ssl.clip import CLIP, neural_behaviour_pairs
from neuroembed.ssl.dino import DINO
from neuroembed.ssl.evaluation import few_label_split, knn_probe, linear_probe
from neuroembed.ssl.ibot import IBOT
from neuroembed.ssl.moco import MoCo
from neuroembed.ssl.simclr import SimCLR
from neuroembed.ssl.simsiam import SimSiam
from neuroembed.ssl.supcon import SupCon
from neuroembed.ssl.triplet import Triplet

__all__ = [
    "AutoEncoder",
    "BYOL",
    "CLIP",
    "DINO",
    "IBOT",
    "MoCo",
    "SimCLR",
    "SimSiam",
    "SupCon",
    "Triplet",
    "SSLEstimator",
    "Augment",
    "MultiCrop",
    "color_jitter",
    "gaussian_blur",
    "random_grayscale",
    "random_horizontal_flip",
    "random_resized_crop",
    "random_solarize",
    "linear_probe",
    "knn_probe",
    "few_label_split",
    "check_images",
    "neural_behaviour_pairs",
]

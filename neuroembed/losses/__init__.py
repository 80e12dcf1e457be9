"""Contrastive and self-supervised losses: pure functions plus thin :class:`torch.nn.Module` wrappers.

Each module documents its formula and, where published implementations differ, the convention it
follows (e.g. :func:`info_nce` keeps the positive out of the denominator, as CEBRA does).
"""

from neuroembed.losses.clip import CLIPLoss, clip_loss
from neuroembed.losses.dino import DINOLoss, dino_cross_entropy, teacher_temperature_at
from neuroembed.losses.gram import GramLoss, gram_loss
from neuroembed.losses.ibot import IBOTPatchLoss, ibot_patch_cross_entropy
from neuroembed.losses.info_nce import (
    InfoNCE,
    info_nce,
    info_nce_parts,
    pairwise_similarity,
    similarity,
)
from neuroembed.losses.jacobian import JACOBIAN_ESTIMATES, jacobian_penalty, ramp_weight
from neuroembed.losses.mining import HardNegativeMiner
from neuroembed.losses.negative_cosine import (
    BYOLLoss,
    NegativeCosine,
    byol_loss,
    negative_cosine,
    symmetric,
)
from neuroembed.losses.ntxent import NTXent, nt_xent
from neuroembed.losses.reconstruction import (
    RECONSTRUCTION_KINDS,
    ReconstructionLoss,
    reconstruction_loss,
)
from neuroembed.losses.supcon import SupCon, supcon
from neuroembed.losses.triplet import (
    MINING_STRATEGIES,
    TripletMargin,
    normalized_distances,
    triplet_margin,
)

__all__ = [
    "JACOBIAN_ESTIMATES",
    "jacobian_penalty",
    "ramp_weight",
    # modules
    "BYOLLoss",
    "CLIPLoss",
    "DINOLoss",
    "GramLoss",
    "HardNegativeMiner",
    "IBOTPatchLoss",
    "InfoNCE",
    "NTXent",
    "NegativeCosine",
    "ReconstructionLoss",
    "SupCon",
    "TripletMargin",
    # functions
    "byol_loss",
    "clip_loss",
    "dino_cross_entropy",
    "gram_loss",
    "ibot_patch_cross_entropy",
    "info_nce",
    "info_nce_parts",
    "negative_cosine",
    "normalized_distances",
    "nt_xent",
    "pairwise_similarity",
    "reconstruction_loss",
    "similarity",
    "supcon",
    "symmetric",
    "teacher_temperature_at",
    "triplet_margin",
    # constants
    "MINING_STRATEGIES",
    "RECONSTRUCTION_KINDS",
]

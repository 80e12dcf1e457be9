"""Index sampling for contrastive learning: reference, positive and negative samples, on the device."""

from neuroembed.sampling.discrete import SameLabelSampler
from neuroembed.sampling.neighbours import NearestNeighbours
from neuroembed.sampling.objectives import Objective, ObjectiveSampler, part_slices
from neuroembed.sampling.sampler import (
    BEHAVIOUR_CONDITIONALS,
    CONDITIONALS,
    ContrastiveSampler,
    IndexBatch,
    SessionData,
)

__all__ = [
    "BEHAVIOUR_CONDITIONALS",
    "CONDITIONALS",
    "ContrastiveSampler",
    "IndexBatch",
    "NearestNeighbours",
    "Objective",
    "ObjectiveSampler",
    "SameLabelSampler",
    "SessionData",
    "part_slices",
]

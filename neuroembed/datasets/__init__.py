"""Recordings with ground truth made in code, and a reader for CEBRA's rat hippocampus data.

Every function returns a :class:`neuroembed.recording.Recording`: ``neural`` float32
(n_samples, n_neurons), ``behaviour`` float32 (n_samples, n_behaviour), ``labels`` int64
(n_samples,) where there are discrete conditions, ``latent`` the true latent variables of the
synthetic data, ``timestamps`` in seconds and a ``metadata`` dict. The synthetic generators take
``random_state``; the same seed gives the same recording.
"""

from neuroembed.datasets.attribution_manifold import attribution_manifold
from neuroembed.datasets.latent_manifold import latent_manifold
from neuroembed.datasets.linear_track import linear_track
from neuroembed.datasets.rat_hippocampus import (
    RAT_HIPPOCAMPUS_FILES,
    RATS,
    default_data_dir,
    load_rat_hippocampus,
)
from neuroembed.datasets.reaching import reaching
from neuroembed.datasets.ring_manifold import ring_manifold

__all__ = [
    "RATS",
    "RAT_HIPPOCAMPUS_FILES",
    "attribution_manifold",
    "default_data_dir",
    "latent_manifold",
    "linear_track",
    "load_rat_hippocampus",
    "reaching",
    "ring_manifold",
]

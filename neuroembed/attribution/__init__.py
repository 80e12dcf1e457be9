"""Attribution maps: which neurons drive which dimensions of a fitted estimator's embedding.

``attribution_map(estimator, X, method=...)`` computes, for every sample of a recording, a ``(output_dim, n_neurons)``
map from the window the encoder embeds that sample from, and summarises them as ``abs(map).mean(0)``. The methods
(:data:`METHODS`) are the (inverted) Jacobian, integrated gradients and feature ablation; each is also available as a
function of any encoder on a batch of windows. Compare a map with a known ground truth with
:func:`neuroembed.metrics.attribution_auc`, and draw it with :func:`neuroembed.plotting.plot_attribution`.

This package reads a fitted estimator by its attributes and does not import :mod:`neuroembed.estimator`.
"""

from neuroembed.attribution.ablation import feature_ablation
from neuroembed.attribution.integrated_gradients import integrated_gradients
from neuroembed.attribution.jacobian import REDUCTIONS, inverted_jacobian, jacobian
from neuroembed.attribution.maps import METHODS, Attribution, attribution_map

__all__ = [
    "METHODS",
    "REDUCTIONS",
    "Attribution",
    "attribution_map",
    "feature_ablation",
    "integrated_gradients",
    "inverted_jacobian",
    "jacobian",
]

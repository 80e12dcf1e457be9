"""Feature ablation: how much each embedding dimension changes when one neuron is silenced over the window.

For a window ``w`` of shape ``(n_neurons, R)`` and neuron ``c``, the ablated window ``w^(c)`` is ``w`` with neuron
``c``'s row (all ``R`` samples) replaced by the baseline; the attribution is ``A[d, c] = z[d](w) - z[d](w^(c))``. It
needs no gradients, so it also applies to encoders that are not differentiable, at ``n_neurons + 1`` forward passes
per window. Unlike gradients it measures a finite change, which includes what a neuron does through the
non-linearities (and, for a cosine embedding, through the normalisation) all the way to the baseline.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["feature_ablation"]

#: Entries (floats) of the ablated windows built for one forward pass; neurons are ablated this many windows'
#: worth at a time (at least one neuron).
MAX_ABLATED_ENTRIES = 1 << 24


@torch.no_grad()
def feature_ablation(
    forward: Callable[[torch.Tensor], torch.Tensor],
    windows: torch.Tensor,
    *,
    baseline: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """Change of each window's embedding row when each neuron's row is replaced by the baseline:
    ``(n_windows, output_dim, n_neurons)``.

    The ablated windows of several neurons go through ``forward`` together (up to :data:`MAX_ABLATED_ENTRIES`
    entries at a time).

    Parameters
    ----------
    forward : callable
        ``(n_windows, n_neurons, R) -> (n_windows, output_dim)``, each output row depending on its own window only.
    windows : Tensor of shape (n_windows, n_neurons, R)
    baseline : float or Tensor broadcastable to (n_neurons, 1)
        The value each neuron is set to when ablated (one per neuron, the same at every lag).

    Returns
    -------
    Tensor of shape (n_windows, output_dim, n_neurons)
        ``z(w) - z(w with neuron c at the baseline)``.

    Examples
    --------
    >>> weight = torch.tensor([[1.0, -2.0]])
    >>> forward = lambda w: w.sum(-1) @ weight.T
    >>> feature_ablation(forward, torch.tensor([[[1.0, 2.0], [0.5, 0.5]]]))
    tensor([[[ 3., -2.]]])
    """
    n_windows, n_neurons, length = windows.shape
    base = torch.as_tensor(baseline, dtype=windows.dtype, device=windows.device)
    try:
        fits = torch.broadcast_shapes(base.shape, (n_neurons, 1)) == (n_neurons, 1)
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"baseline must be a number or one value per neuron, shape ({n_neurons}, 1); got shape "
            f"{tuple(base.shape)}."
        )
    base = base.expand(n_neurons, 1)
    full = forward(windows)
    out = full.new_empty((n_windows, full.shape[1], n_neurons))
    chunk = max(1, min(n_neurons, MAX_ABLATED_ENTRIES // max(1, windows.numel())))
    neuron = torch.arange(n_neurons, device=windows.device)
    for first in range(0, n_neurons, chunk):
        ablated_neurons = neuron[first : first + chunk]
        k = ablated_neurons.shape[0]
        mask = (neuron[None, :] == ablated_neurons[:, None])[None, :, :, None]  # (1, k, C, 1)
        ablated = torch.where(mask, base, windows[:, None])  # (n_windows, k, C, R)
        z = forward(ablated.reshape(n_windows * k, n_neurons, length)).reshape(
            n_windows, k, full.shape[1]
        )
        out[:, :, first : first + k] = (full[:, None, :] - z).transpose(1, 2)
    return out

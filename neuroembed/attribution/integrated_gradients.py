"""Integrated gradients (Sundararajan, Taly & Yan, 2017) of each embedding dimension, per neuron.

For a window ``w`` of shape ``(n_neurons, R)``, a baseline window ``b`` and output dimension ``d``, the integrated
gradient of entry ``(c, r)`` is

    IG[d, c, r] = (w - b)[c, r] * integral_0^1 dz[d] / dw[c, r] (b + a (w - b)) da,

approximated here by the midpoint rule with ``n_steps`` points ``a_k = (k + 1/2) / n_steps``. The map reports
``IG[d, c] = sum_r IG[d, c, r]``: the share of neuron ``c``, over the whole window, in moving ``z[d]`` from its value at
the baseline to its value at ``w``. The shares add up (*completeness*): ``sum_c IG[d, c] = z[d](w) - z[d](b)``, up to
the error of the quadrature, which falls as ``1 / n_steps**2`` for smooth encoders.

All windows of a batch are integrated together; each step is one forward pass and one backward pass per output
dimension on the batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from neuroembed.attribution.jacobian import input_gradients

__all__ = ["integrated_gradients"]


def integrated_gradients(
    forward: Callable[[torch.Tensor], torch.Tensor],
    windows: torch.Tensor,
    *,
    baseline: torch.Tensor | float = 0.0,
    n_steps: int = 50,
) -> torch.Tensor:
    """Integrated gradients of each window's embedding row, summed over the window: ``(n_windows, output_dim,
    n_neurons)``.

    Parameters
    ----------
    forward : callable
        ``(n_windows, n_neurons, R) -> (n_windows, output_dim)``, each output row depending on its own window only.
    windows : Tensor of shape (n_windows, n_neurons, R)
    baseline : float or Tensor broadcastable to (n_neurons, R)
        The reference input, e.g. ``0`` (silence) or each neuron's mean rate as a ``(n_neurons, 1)`` tensor.
    n_steps : int
        Points of the midpoint rule along the straight path from the baseline to the window.

    Returns
    -------
    Tensor of shape (n_windows, output_dim, n_neurons)

    Examples
    --------
    For a linear map the integrated gradients are exact, ``weight * (w - b)`` summed over the window:

    >>> weight = torch.tensor([[1.0, -2.0]])
    >>> forward = lambda w: w.sum(-1) @ weight.T
    >>> w = torch.tensor([[[1.0, 2.0], [0.5, 0.5]]])  # one window of 2 neurons x 2 samples
    >>> integrated_gradients(forward, w, n_steps=4)
    tensor([[[ 3., -2.]]])
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1; got {n_steps!r}.")
    base = torch.as_tensor(baseline, dtype=windows.dtype, device=windows.device)
    window_shape = tuple(windows.shape[1:])
    try:
        fits = torch.broadcast_shapes(base.shape, window_shape) == window_shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"baseline must be a number or broadcastable to a window, shape (n_neurons, R) = {window_shape} (e.g. "
            f"one value per neuron, shape ({window_shape[0]}, 1)); got shape {tuple(base.shape)}."
        )
    diff = windows - base
    total = torch.zeros((), dtype=windows.dtype, device=windows.device)  # grows to the map's shape
    for k in range(n_steps):
        alpha = (k + 0.5) / n_steps
        out, gradient = input_gradients(forward, base + alpha * diff)
        total = total + torch.stack(
            [(gradient(d) * diff).sum(-1) for d in range(out.shape[1])], dim=1
        )
    return total / n_steps

"""Jacobian attribution: how each output dimension moves with each neuron of a sample's input window.

For an encoder ``f`` that maps a window ``w`` of shape ``(n_neurons, R)`` (``R`` samples, the receptive field) to
one embedding row ``z = f(w)`` of size ``output_dim``, the Jacobian ``J[d, c, r] = dz[d] / dw[c, r]`` is reduced over
the window positions ``r`` to an ``(output_dim, n_neurons)`` matrix per sample: its mean (``"mean"``), or the mean of
its absolute values (``"mean_abs"``). The *inverted* Jacobian is the Moore-Penrose pseudo-inverse of that matrix,
transposed back to ``(output_dim, n_neurons)``: where the Jacobian says how the embedding follows the neurons, its
inverse says how much of each neuron it takes to move each embedding dimension, the reading the xCEBRA paper
(Schneider et al., 2025) argues identifies the neurons that drive a latent.

The Jacobians are computed for a whole batch of windows at once by batched reverse-mode autograd: one forward pass,
then one backward pass per output dimension (each window's output depends on its own window only, so the gradient of
the batch's summed output dimension ``d`` is every window's row ``d`` of its Jacobian). Memory is that of one batch:
``(n_windows, n_neurons, R)`` input gradients at a time, never the full ``(n_windows, output_dim, n_neurons, R)``
Jacobian.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["REDUCTIONS", "jacobian", "inverted_jacobian"]

#: How a Jacobian ``(output_dim, n_neurons, R)`` is reduced over the ``R`` positions of the window.
REDUCTIONS = ("mean", "mean_abs")

Forward = Callable[[torch.Tensor], torch.Tensor]


def check_reduce_window(reduce_window: str) -> str:
    """``reduce_window`` if it names a reduction in :data:`REDUCTIONS`; ``ValueError`` otherwise."""
    if not isinstance(reduce_window, str) or reduce_window not in REDUCTIONS:
        raise ValueError(
            f"reduce_window={reduce_window!r} is not supported; choose one of {list(REDUCTIONS)}."
        )
    return reduce_window


def input_gradients(
    forward: Forward, windows: torch.Tensor
) -> tuple[torch.Tensor, Callable[[int], torch.Tensor]]:
    """The output of ``forward`` on ``windows`` and a function giving, for output dimension ``d``, the gradient of
    every window's ``z[d]`` with respect to its own window, ``(n_windows, n_neurons, R)``.

    Parameters
    ----------
    forward : callable
        ``(n_windows, n_neurons, R) -> (n_windows, output_dim)``; each output row must depend on its own window
        only (true of every neuroembed encoder in eval mode).
    windows : Tensor of shape (n_windows, n_neurons, R)

    Returns
    -------
    output : Tensor of shape (n_windows, output_dim)
        Detached.
    gradient : callable
        ``gradient(d)``: Tensor of shape (n_windows, n_neurons, R). Call it for ``d = 0, 1, ...`` in order: the
        graph is freed after the last dimension.
    """
    # gradients are taken whatever the caller's mode (under torch.no_grad or torch.inference_mode too); a window
    # made in inference mode is copied into an ordinary tensor, which autograd can record
    with torch.inference_mode(False), torch.enable_grad():
        x = (windows.clone() if windows.is_inference() else windows.detach()).requires_grad_(True)
        out = forward(x)
    if out.ndim != 2 or out.shape[0] != windows.shape[0]:
        raise ValueError(
            f"forward must map windows of shape (n_windows, n_neurons, R) = {tuple(windows.shape)} to "
            f"(n_windows, output_dim); got shape {tuple(out.shape)}."
        )
    last = out.shape[1] - 1

    def gradient(d: int) -> torch.Tensor:
        with torch.inference_mode(False), torch.enable_grad():
            (g,) = torch.autograd.grad(out[:, d].sum(), x, retain_graph=d < last)
        return g

    return out.detach(), gradient


def jacobian(
    forward: Forward, windows: torch.Tensor, *, reduce_window: str = "mean"
) -> torch.Tensor:
    """The Jacobian of each window's embedding row, reduced over the window: ``(n_windows, output_dim, n_neurons)``.

    Parameters
    ----------
    forward : callable
        ``(n_windows, n_neurons, R) -> (n_windows, output_dim)``: the encoder on windows of ``R`` samples, channels
        first, each output row depending on its own window only.
    windows : Tensor of shape (n_windows, n_neurons, R)
    reduce_window : {"mean", "mean_abs"}
        ``"mean"``: ``J[d, c] = mean_r dz[d] / dw[c, r]`` (the effect of raising neuron ``c`` over the whole window,
        divided by ``R``); ``"mean_abs"``: the mean of ``|dz[d] / dw[c, r]|`` over ``r`` (effects of opposite sign
        at different lags do not cancel).

    Returns
    -------
    Tensor of shape (n_windows, output_dim, n_neurons)

    Examples
    --------
    A linear map of the window's mean has the Jacobian of the map:

    >>> weight = torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])  # (output_dim, n_neurons)
    >>> forward = lambda w: w.mean(-1) @ weight.T
    >>> jacobian(forward, torch.randn(4, 3, 5)).shape
    torch.Size([4, 2, 3])
    >>> torch.allclose(jacobian(forward, torch.randn(4, 3, 5))[0], weight / 5)
    True
    """
    check_reduce_window(reduce_window)
    out, gradient = input_gradients(forward, windows)
    rows = []
    for d in range(out.shape[1]):
        g = gradient(d)
        rows.append(g.mean(-1) if reduce_window == "mean" else g.abs().mean(-1))
    return torch.stack(rows, dim=1)


def inverted_jacobian(
    forward: Forward,
    windows: torch.Tensor,
    *,
    reduce_window: str = "mean",
    rtol: float = 1e-4,
) -> torch.Tensor:
    """The pseudo-inverse of each window's reduced Jacobian, transposed: ``(n_windows, output_dim, n_neurons)``.

    Each sample's ``(output_dim, n_neurons)`` Jacobian (see :func:`jacobian`) is inverted with
    :func:`torch.linalg.pinv` (batched, in float64 where the device has it), giving ``(n_neurons, output_dim)``,
    and transposed to ``(output_dim, n_neurons)``.

    Parameters
    ----------
    forward, windows, reduce_window
        As in :func:`jacobian`.
    rtol : float
        Singular values below ``rtol`` times the largest (per sample) count as zero. The default suits float32
        models: an L2-normalised (cosine) embedding has a Jacobian of rank at most ``output_dim - 1`` (moving
        along the embedding itself leaves the sphere), whose missing singular value is computed as rounding error,
        about ``1e-7`` of the largest; inverting it would swamp the map.

    Returns
    -------
    Tensor of shape (n_windows, output_dim, n_neurons)
        In float64 (float32 on devices without float64).

    Examples
    --------
    The inverse of an invertible linear map:

    >>> weight = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    >>> forward = lambda w: w.mean(-1) @ weight.T
    >>> inverse = inverted_jacobian(forward, torch.randn(3, 2, 1))[0]
    >>> torch.allclose(inverse, torch.linalg.inv(weight).T.double())
    True
    """
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 <= rtol < 1:
        raise ValueError(f"rtol must be a number in [0, 1); got {rtol!r}.")
    jac = jacobian(forward, windows, reduce_window=reduce_window)
    dtype = torch.float32 if jac.device.type == "mps" else torch.float64
    return torch.linalg.pinv(jac.to(dtype), rtol=float(rtol)).transpose(1, 2)

"""Jacobian regularisation of an encoder (xCEBRA: Schneider, González Laiz et al., AISTATS 2025).

For an encoder ``f`` mapping an input window ``x_b`` to an embedding, the penalty of a batch of ``B`` windows is

    R = 1 / (2B) * sum_b ||J_f(x_b)||_F^2,

one such term per output slice (a part of the embedding), summed over the slices. Keeping the Jacobian small makes
the map from neurons to embedding smooth and the attribution maps read off its (pseudo-)inverse identifiable.

Two estimates, both batched on the device and differentiable with respect to the encoder's weights (so the penalty
can be trained on):

* ``"exact"``: one backward pass per output dimension, ``g_d = d(sum_b f_d(x_b)) / dx``; since the windows of a
  batch do not interact, ``g_d[b]`` is row ``d`` of ``J_f(x_b)``, and ``||J_f(x_b)||_F^2 = sum_d ||g_d[b]||^2``.
* ``"projection"``: one backward pass per slice, with a random ``v_b ~ N(0, I)`` on the slice per window:
  ``E ||v_b^T J_f(x_b)||^2 = ||J_f(x_b)||_F^2`` (an unbiased estimate, as in xCEBRA's random-projection version).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

__all__ = ["JACOBIAN_ESTIMATES", "jacobian_penalty", "ramp_weight"]

JACOBIAN_ESTIMATES = ("projection", "exact")


def _slices(dim: int, slices: Sequence[slice] | None) -> list[slice]:
    if slices is None:
        return [slice(0, dim)]
    out = list(slices)
    if not out:
        raise ValueError("slices must hold at least one slice of the output.")
    return out


def jacobian_penalty(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    slices: Sequence[slice] | None = None,
    estimate: str = "projection",
    generator: torch.Generator | None = None,
    create_graph: bool = True,
) -> torch.Tensor:
    """``1/(2B) * sum_b ||J_f(x_b)||_F^2`` per output slice, summed over the slices.

    Parameters
    ----------
    f : callable
        Maps a batch of inputs ``(B, ...)`` to outputs ``(B, D)``; rows must not interact (no batch statistics).
    x : Tensor of shape (B, ...)
        The inputs (windows). Need not require grad: a leaf copy is made.
    slices : sequence of slice, optional
        Parts of the output with a term each (default: the whole output, one term).
    estimate : {"projection", "exact"}
        One random projection per window and slice (one backward pass per slice), or the exact norm (one backward
        pass per output dimension).
    generator : torch.Generator, optional
        Source of the projections (on ``x``'s device).
    create_graph : bool
        Keep the graph, so that the penalty can be differentiated with respect to ``f``'s weights (training).

    Returns
    -------
    Tensor (scalar)

    Examples
    --------
    >>> w = torch.tensor([[1.0, 2.0], [0.0, 3.0]])
    >>> x = torch.randn(5, 2)
    >>> float(jacobian_penalty(lambda v: v @ w.T, x, estimate="exact"))  # ||w||_F^2 / 2
    7.0
    """
    if estimate not in JACOBIAN_ESTIMATES:
        raise ValueError(
            f"estimate={estimate!r} is not supported; choose one of {list(JACOBIAN_ESTIMATES)}."
        )
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch (B, ...); got shape {tuple(x.shape)}.")
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = f(x)
        if out.ndim != 2 or out.shape[0] != x.shape[0]:
            raise ValueError(
                f"f must map a batch of {x.shape[0]} inputs to (B, D); got {tuple(out.shape)}."
            )
        B = x.shape[0]
        total = out.new_zeros(())
        for part in _slices(out.shape[1], slices):
            piece = out[:, part]
            if estimate == "exact":
                for d in range(piece.shape[1]):
                    (g,) = torch.autograd.grad(
                        piece[:, d].sum(), x, create_graph=create_graph, retain_graph=True
                    )
                    total = total + g.pow(2).sum()
            else:
                v = torch.randn(
                    piece.shape, generator=generator, device=piece.device, dtype=piece.dtype
                )
                (g,) = torch.autograd.grad(
                    (piece * v).sum(), x, create_graph=create_graph, retain_graph=True
                )
                total = total + g.pow(2).sum()
    return total / (2 * B)


def ramp_weight(iteration: int, weight: float, ramp: tuple[int, int] | None) -> float:
    """The penalty's weight at ``iteration``: ``weight`` throughout (``ramp=None``), or 0 before ``ramp[0]``,
    rising linearly to ``weight`` at ``ramp[1]`` and constant after (xCEBRA switches it on late and ramps it).

    Examples
    --------
    >>> [ramp_weight(i, 0.01, (100, 300)) for i in (0, 100, 200, 300, 900)]
    [0.0, 0.0, 0.005, 0.01, 0.01]
    """
    if ramp is None:
        return float(weight)
    start, stop = ramp
    if iteration < start:
        return 0.0
    if iteration >= stop:
        return float(weight)
    return float(weight) * (iteration - start) / (stop - start)

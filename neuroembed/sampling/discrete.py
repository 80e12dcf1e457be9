"""Positives with the same discrete label, drawn uniformly, the reference itself excluded."""

from __future__ import annotations

import torch

__all__ = ["SameLabelSampler"]


class SameLabelSampler:
    """Draw, for each reference, a uniformly random *other* sample with the same label.

    The labels are sorted once; a draw is then three gathers and a random integer per reference (batched, on the
    labels' device). A label that occurs once has no other sample: its reference is returned as its own positive
    (the estimator warns before it comes to that).

    Parameters
    ----------
    labels : Tensor of shape (n_samples,)
        Integer labels (int64).

    Examples
    --------
    >>> sampler = SameLabelSampler(torch.tensor([0, 1, 0, 1, 1]))
    >>> g = torch.Generator().manual_seed(0)
    >>> ref = torch.tensor([0, 1, 2])
    >>> pos = sampler.sample(ref, g)
    >>> bool((sampler.labels[pos] == sampler.labels[ref]).all()), bool((pos != ref).all())
    (True, True)
    """

    def __init__(self, labels: torch.Tensor) -> None:
        self.labels = labels
        self._order = torch.argsort(labels, stable=True)
        self.classes, counts = torch.unique_consecutive(labels[self._order], return_counts=True)
        self._counts = counts
        self._starts = torch.cumsum(counts, 0) - counts
        rank = torch.empty_like(self._order)
        rank[self._order] = torch.arange(labels.numel(), device=labels.device)
        self._rank = rank  # position of each sample in the sorted order

    def sample(self, reference: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Indices ``(B,)`` of same-label samples, never the reference itself unless it is alone in its class."""
        cls = torch.searchsorted(self.classes, self.labels[reference])
        start, count = self._starts[cls], self._counts[cls]
        u = torch.rand(reference.shape, generator=generator, device=reference.device)
        # uniform over the count - 1 others
        k = (u * (count - 1)).long().clamp_max(count - 2).clamp_min(0)
        own = self._rank[reference] - start
        k = torch.where(count > 1, k + (k >= own).long(), own)
        return self._order[start + k]

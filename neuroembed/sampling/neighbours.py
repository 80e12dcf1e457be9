"""Exact nearest-neighbour search on the device, used to find behaviour positives.

Two strategies, chosen by the dimensionality of the behaviour:

* **1-D** (position on a track, head direction): the points are sorted once; a query is located with
  :func:`torch.searchsorted` and the nearest point is among the two neighbours on each side of the insertion point
  (two, so that the query's own reference can be excluded). ``O(log n)`` per query, independent of recording length.
* **several dimensions**: brute force in chunks of the recording, keeping a running minimum, so memory is bounded
  by ``chunk_elements`` whatever the recording length.

Both accept labels: a query then only matches points with the same label (the *mixed* conditional).
"""

from __future__ import annotations

import torch

__all__ = ["NearestNeighbours"]


class NearestNeighbours:
    """Exact nearest-neighbour index over ``points`` (all tensors stay on ``points.device``).

    Parameters
    ----------
    points : Tensor of shape (n_points, n_dims)
        The searchable behaviour values.
    labels : Tensor of shape (n_points,), optional
        Integer labels; queries then match only points of their own label.
    chunk_elements : int
        Upper bound on ``n_queries * chunk`` for the brute-force path (memory bound).

    Examples
    --------
    >>> index = NearestNeighbours(torch.tensor([[0.0], [1.0], [2.0]]))
    >>> index.query(torch.tensor([[0.9], [1.9]])).tolist()
    [1, 2]
    >>> index.query(torch.tensor([[0.9]]), exclude=torch.tensor([1])).tolist()
    [0]
    """

    def __init__(
        self,
        points: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        chunk_elements: int = 1 << 22,
    ):
        if points.ndim != 2:
            raise ValueError(
                f"points must be 2-D (n_points, n_dims); got shape {tuple(points.shape)}."
            )
        self.points = points
        self.labels = labels
        self.chunk_elements = chunk_elements
        self.n_points, self.n_dims = points.shape
        if self.n_dims == 1:
            values = points[:, 0].double()
            self._gap = 0.0
            self._lo, self._hi = values.min(), values.max()
            if labels is not None:
                span = float(self._hi - self._lo)
                # bands of one label never come closer than any within-band query distance (queries stay
                # within +-span of the band, see query), so a same-label point always wins
                self._gap = 4.0 * span + 1.0
                values = values + labels.double() * self._gap
            self._sorted, self._order = torch.sort(values)

    def query(
        self,
        targets: torch.Tensor,
        labels: torch.Tensor | None = None,
        exclude: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Index of the nearest point to each target.

        Parameters
        ----------
        targets : Tensor of shape (n_queries, n_dims)
        labels : Tensor of shape (n_queries,), optional
            Required when the index was built with labels.
        exclude : Tensor of shape (n_queries,), optional
            One point index per query that must not be returned (the reference itself).

        Returns
        -------
        Tensor of shape (n_queries,)
            Indices into ``points`` (int64).
        """
        if (labels is None) != (self.labels is None):
            raise ValueError(
                "labels must be given to query() exactly when the index was built with labels."
            )
        if self.n_dims == 1:
            return self._query_sorted(targets, labels, exclude)
        return self._query_brute(targets, labels, exclude)

    def _query_sorted(self, targets, labels, exclude):
        keys = targets[:, 0].double()
        if labels is not None:
            span = self._hi - self._lo
            keys = keys.clamp(self._lo - span, self._hi + span) + labels.double() * self._gap
        pos = torch.searchsorted(self._sorted, keys)
        cand = pos[:, None] + torch.arange(-2, 2, device=pos.device)
        inside = (cand >= 0) & (cand < self.n_points)
        cand = cand.clamp(0, self.n_points - 1)
        dist = (self._sorted[cand] - keys[:, None]).abs()
        idx = self._order[cand]
        bad = ~inside
        if exclude is not None:
            bad |= idx == exclude[:, None]
        dist = dist.masked_fill(bad, float("inf"))
        return idx.gather(1, dist.argmin(dim=1, keepdim=True)).squeeze(1)

    def _query_brute(self, targets, labels, exclude):
        n_queries = targets.shape[0]
        chunk = max(1, self.chunk_elements // max(n_queries, 1))
        best_dist = torch.full(
            (n_queries,), float("inf"), device=targets.device, dtype=self.points.dtype
        )
        best_idx = torch.zeros(n_queries, dtype=torch.long, device=targets.device)
        targets = targets.to(self.points.dtype)
        for start in range(0, self.n_points, chunk):
            block = self.points[start : start + chunk]
            dist = ((targets[:, None, :] - block[None, :, :]) ** 2).sum(
                -1
            )  # exact, no matmul cancellation
            if labels is not None:
                dist = dist.masked_fill(
                    labels[:, None] != self.labels[None, start : start + chunk], float("inf")
                )
            if exclude is not None:
                local = exclude - start
                hit = ((local >= 0) & (local < block.shape[0]))[:, None]
                local = local.clamp(0, block.shape[0] - 1)[:, None]
                # no boolean indexing: that would synchronise with the host
                dist = dist.scatter(1, local, torch.where(hit, float("inf"), dist.gather(1, local)))
            value, arg = dist.min(dim=1)
            better = value < best_dist
            best_dist = torch.where(better, value, best_dist)
            best_idx = torch.where(better, arg + start, best_idx)
        return best_idx

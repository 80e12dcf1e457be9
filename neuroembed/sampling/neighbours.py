"""Exact nearest-neighbour search on the device, used to find behaviour positives.

Two strategies, chosen once from the data when the index is built:

* **sorted** — when at most one column is continuous and the others take few distinct values (position on a track
  with direction flags, head direction, a 1-D label). The points are split into groups by their few-valued columns
  (and their label, for the *mixed* conditional), and sorted by the continuous column within each group (one sort of
  ``group * gap + value``). A query is located in every group at once with :func:`torch.searchsorted`; within a group
  the nearest point lies among the two neighbours on each side of the insertion point (two, so that the query's own
  reference can be excluded), and the exact euclidean distance of those few candidates decides. The cost per query is
  ``O(n_groups * log n)``, independent of recording length in practice.
* **tree** — on the CPU, for several continuous columns (2-D position, ...) of a long recording without labels: a
  k-d tree (:class:`scipy.spatial.cKDTree`) built once; a query asks for the two nearest points (two, so that the
  reference can be excluded). ``O(log n)`` per query. On a GPU the brute-force path below stays on the device.
* **brute force** — otherwise: exact distances to every point, in chunks of the recording accumulated one dimension
  at a time, keeping a running minimum, so memory stays bounded by ``chunk_elements`` whatever the recording length.

Both return the exact nearest neighbour (ties go to the candidate found first) and accept labels: a query then only
matches points with the same label (the *mixed* conditional).
"""

from __future__ import annotations

import torch

__all__ = ["NearestNeighbours"]

_MAX_LEVELS = 32  # a column with at most this many distinct values is grouped on, not searched
_MAX_GROUPS = 64
_TREE_MIN_POINTS = (
    4096  # below this, brute force over the whole recording is as fast as a tree query
)


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

    Attributes
    ----------
    strategy : {"sorted", "tree", "brute"}
        The search used (see the module docstring).

    Examples
    --------
    >>> index = NearestNeighbours(torch.tensor([[0.0], [1.0], [2.0]]))
    >>> index.query(torch.tensor([[0.9], [1.9]])).tolist()
    [1, 2]
    >>> index.query(torch.tensor([[0.9]]), exclude=torch.tensor([1])).tolist()
    [0]
    >>> NearestNeighbours(torch.tensor([[0.1, 0.0], [0.5, 1.0], [0.9, 0.0]])).strategy
    'sorted'
    """

    def __init__(
        self,
        points: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        chunk_elements: int = 1 << 20,
    ):
        if points.ndim != 2 or points.shape[0] == 0:
            raise ValueError(
                f"points must be a non-empty 2-D tensor (n_points, n_dims); got shape {tuple(points.shape)}."
            )
        self.points = points
        self.labels = labels
        self.chunk_elements = chunk_elements
        self.n_points, self.n_dims = points.shape
        self.strategy = "brute"
        continuous = [d for d in range(self.n_dims) if not self._few_levels(points[:, d])]
        if len(continuous) <= 1:
            self._build_sorted(continuous[0] if continuous else 0)
        if (
            self.strategy == "brute"
            and labels is None
            and points.device.type == "cpu"
            and self.n_points >= _TREE_MIN_POINTS
        ):
            from scipy.spatial import cKDTree

            self._tree = cKDTree(points.double().numpy())
            self.strategy = "tree"

    @staticmethod
    def _few_levels(column: torch.Tensor) -> bool:
        return torch.unique(column).numel() <= _MAX_LEVELS

    def _build_sorted(self, search_dim: int) -> None:
        keys = [self.points[:, d] for d in range(self.n_dims) if d != search_dim]
        if self.labels is not None:
            keys.append(self.labels.to(self.points.dtype))
        if keys:
            _, group = torch.unique(torch.stack(keys, 1), dim=0, return_inverse=True)
            n_groups = int(group.max()) + 1
        else:
            group = torch.zeros(self.n_points, dtype=torch.long, device=self.points.device)
            n_groups = 1
        if n_groups > _MAX_GROUPS:
            return
        values = self.points[:, search_dim].double()
        self._lo, self._hi = values.min(), values.max()
        span = self._hi - self._lo
        # queries are clamped to within one span of the data, so a group's band never lends a nearer neighbour to
        # a query searched in another band; only true distances of the candidates decide in the end
        self._gap = float(4.0 * span + 1.0)
        self._span = span
        self._sorted, self._order = torch.sort(values + group.double() * self._gap)
        self._group_offsets = (
            torch.arange(n_groups, device=values.device, dtype=torch.float64) * self._gap
        )
        self._search_dim = search_dim
        self.strategy = "sorted"

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
        if targets.ndim != 2 or targets.shape[1] != self.n_dims:
            raise ValueError(
                f"targets must have shape (n_queries, {self.n_dims}); got {tuple(targets.shape)}."
            )
        targets = targets.to(self.points.dtype)
        if self.strategy == "sorted":
            return self._query_sorted(targets, labels, exclude)
        if self.strategy == "tree":
            return self._query_tree(targets, exclude)
        return self._query_brute(targets, labels, exclude)

    def _query_tree(self, targets, exclude):
        k = 1 if exclude is None or self.n_points < 2 else 2
        _, idx = self._tree.query(targets.detach().double().numpy(), k=k)
        idx = torch.from_numpy(idx.astype("int64", copy=False)).reshape(targets.shape[0], k)
        if k == 1:
            return idx[:, 0]
        # the two nearest are distinct points, so at most one is the excluded reference
        return torch.where(idx[:, 0] == exclude, idx[:, 1], idx[:, 0])

    def _query_sorted(self, targets, labels, exclude):
        value = (
            targets[:, self._search_dim]
            .double()
            .clamp(self._lo - self._span, self._hi + self._span)
        )
        keys = value[:, None] + self._group_offsets  # (B, G): the query in every group's band
        pos = torch.searchsorted(self._sorted, keys)
        cand = (pos[..., None] + torch.arange(-2, 2, device=pos.device)).flatten(1)  # (B, 4G)
        inside = (cand >= 0) & (cand < self.n_points)
        idx = self._order[cand.clamp(0, self.n_points - 1)]
        dist = ((self.points[idx] - targets[:, None, :]) ** 2).sum(-1)
        bad = ~inside
        if exclude is not None:
            bad |= idx == exclude[:, None]
        if labels is not None:
            bad |= self.labels[idx] != labels[:, None]
        dist = dist.masked_fill(bad, float("inf"))
        best, arg = dist.min(dim=1)
        return self._alone(idx.gather(1, arg[:, None]).squeeze(1), best, exclude)

    @staticmethod
    def _alone(found, best_dist, exclude):
        """Where no point qualified (the reference alone in its label), answer with the reference itself."""
        if exclude is None:
            return found
        return torch.where(torch.isinf(best_dist) & (exclude >= 0), exclude, found)

    def _query_brute(self, targets, labels, exclude):
        n_queries = targets.shape[0]
        chunk = max(1, self.chunk_elements // max(n_queries, 1))
        best_dist = torch.full(
            (n_queries,), float("inf"), device=targets.device, dtype=self.points.dtype
        )
        best_idx = torch.zeros(n_queries, dtype=torch.long, device=targets.device)
        for start in range(0, self.n_points, chunk):
            block = self.points[start : start + chunk]
            # exact squared distances, one dimension at a time (no matmul cancellation, no (B, chunk, d) temporary)
            dist = (targets[:, :1] - block[:, 0]) ** 2
            for d in range(1, self.n_dims):
                dist += (targets[:, d : d + 1] - block[:, d]) ** 2
            if labels is not None:
                dist.masked_fill_(
                    labels[:, None] != self.labels[None, start : start + chunk], float("inf")
                )
            if exclude is not None:
                local = exclude - start
                hit = ((local >= 0) & (local < block.shape[0]))[:, None]
                local = local.clamp(0, block.shape[0] - 1)[:, None]
                # no boolean indexing: that would synchronise with the host
                dist.scatter_(1, local, torch.where(hit, float("inf"), dist.gather(1, local)))
            value, arg = dist.min(dim=1)
            better = value < best_dist
            best_dist = torch.where(better, value, best_dist)
            best_idx = torch.where(better, arg + start, best_idx)
        return self._alone(best_idx, best_dist, exclude)

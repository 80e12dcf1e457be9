"""Exact nearest-neighbour search on the device, used to find behaviour positives.

The strategy is chosen once from the data when the index is built (``strategy="auto"``):

* **sorted** — when at most one column is continuous and the others take few distinct values (position on a track
  with direction flags, head direction, a 1-D label). The points are split into groups by their few-valued columns
  (and their label, for the *mixed* conditional), and sorted by the continuous column within each group (one sort of
  ``group * gap + value``). A query is located in every group at once with :func:`torch.searchsorted`; within a group
  the nearest point lies among the two neighbours on each side of the insertion point (two, so that the query's own
  reference can be excluded), and the exact euclidean distance of those few candidates decides. The cost per query is
  ``O(n_groups * log n)``, independent of recording length in practice.
* **circle** — on the CPU, for 2-D behaviour without labels that lies on a circle (head direction or any phase as
  ``(cos, sin)``, every radius within ``CIRCLE_TOLERANCE`` of the others, a circle fitted by Kasa's algebraic least
  squares). A k-d tree is slow there: a ``time_delta`` target falls inside the ring, almost equally far from a
  whole arc of it, and the tree's boxes cannot tell those points apart. Here the distinct values are sorted by
  their angle round the centre; a query is located by :func:`torch.searchsorted` on its own angle, a window of
  values on both sides gives exact distances, and the window grows (fourfold) only for the queries where a value
  outside it could still be nearer: beyond an angle ``g`` every value is at least
  ``min over r in [r_min, r_max] of |q|^2 + r^2 - 2 |q| r cos g`` away (squared), which is nearly exact on a thin
  circle. Most queries are answered by their first window; a target at the centre scans the whole circle, in
  chunks of ``chunk_elements``. Exact for any 2-D points (``strategy="circle"``); "auto" uses it only on circles.
* **tree** — on the CPU, for several continuous columns without labels (2-D position, 3-D): a k-d tree
  (:class:`scipy.spatial.cKDTree`) over the *distinct* values, each keeping its first two sample indices, so that
  thousands of identical points (an animal sitting still) are one node, not thousands of ties to visit; its nodes
  are not shrunk to their points, which on behaviour lying on a curve (a ring that is not thin) makes a query
  visit several times fewer of them. A query asks for the two nearest values (two, so that the reference can be
  excluded).
* **blocks** — on the CPU with labels (the *mixed* conditional with several continuous columns), or when asked
  for: the points are cut once into blocks of about ``_BLOCK_SIZE`` neighbouring points by a balanced k-d
  partition (at every level each block is halved at the median of its widest column; the label enters as one more
  column whose values lie further apart than any two behaviour values, so blocks rarely mix labels), and
  consecutive blocks form groups. A batch of queries is answered with tensor operations: a lower bound of the
  distance from every query to every group's bounding box, the nearest groups, the nearest of their blocks by the
  same bound, and exact distances to those blocks' points. Where a group or block left out has a bound below the
  best distance found (a target far from every point, such as inside a ring), every such block is searched, so
  the answer is exact.
* **brute force** — otherwise (short recordings, other devices): exact distances to every point, in chunks of the
  recording accumulated one dimension at a time, keeping a running minimum, so memory stays bounded by
  ``chunk_elements`` whatever the recording length; on a GPU its cost stays small next to the encoder.

All return the exact nearest neighbour (among points at exactly the same distance, the lowest index in the brute
force and among identical points in the tree; one of them otherwise) and accept labels: a query then only matches points with the same label (the *mixed*
conditional).
"""

from __future__ import annotations

import math

import torch

__all__ = ["NearestNeighbours", "STRATEGIES"]

#: Points per leaf of the k-d tree (see ``_build_tree``).
TREE_LEAF_SIZE = 64
#: Distinct behaviour values from which the k-d tree is queried with several threads.
_TREE_THREADS_MIN_POINTS = 200_000
STRATEGIES = ("auto", "circle", "tree", "blocks", "brute")  # what ``strategy=`` may ask for
#: Largest spread of the radii, relative to their mean, at which "auto" takes 2-D behaviour to lie on a circle.
CIRCLE_TOLERANCE = 1e-5
#: Values the circle search scans on each side of a query's angle at first (four times more while unsure).
_CIRCLE_WINDOW = 16

_MAX_LEVELS = 32  # a column with at most this many distinct values is grouped on, not searched
_MAX_GROUPS = 64
_INDEX_MIN_POINTS = 2048  # below this, brute force over the whole recording is as fast as an index
_BLOCK_SIZE = 16  # points per block (the last level of the partition)
_NEAR_GROUPS = 4  # groups of blocks, and blocks, searched per query before the bounds are checked
_NEAR_BLOCKS = 8


class NearestNeighbours:
    """Exact nearest-neighbour index over ``points`` (all tensors stay on ``points.device``).

    Parameters
    ----------
    points : Tensor of shape (n_points, n_dims)
        The searchable behaviour values.
    labels : Tensor of shape (n_points,), optional
        Integer labels; queries then match only points of their own label.
    chunk_elements : int
        Upper bound on the number of query-point distances held at once (memory bound).
    strategy : {"auto", "tree", "blocks", "brute"}
        ``"auto"`` chooses from the data (see the module docstring); the others force a search (``"tree"`` only
        for unlabelled points on the CPU), which tests and benchmarks use to compare them.

    Attributes
    ----------
    strategy : {"sorted", "tree", "blocks", "brute"}
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
        strategy: str = "auto",
    ):
        if points.ndim != 2 or points.shape[0] == 0:
            raise ValueError(
                f"points must be a non-empty 2-D tensor (n_points, n_dims); got shape {tuple(points.shape)}."
            )
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}; got {strategy!r}.")
        if strategy == "tree" and (labels is not None or points.device.type != "cpu"):
            raise ValueError(
                "strategy='tree' searches unlabelled points on the CPU; use 'blocks' or 'brute' for labels or "
                f"another device (got labels={labels is not None}, device={points.device.type!r})."
            )
        if strategy == "circle" and (labels is not None or points.shape[1] != 2):
            raise ValueError(
                "strategy='circle' searches unlabelled 2-D points; use 'blocks' or 'brute' otherwise (got "
                f"labels={labels is not None}, {points.shape[1]} columns)."
            )
        self.points = points
        self.labels = labels
        self.chunk_elements = chunk_elements
        self.n_points, self.n_dims = points.shape
        self.strategy = "brute"
        if strategy == "auto":
            continuous = [d for d in range(self.n_dims) if not self._few_levels(points[:, d])]
            if len(continuous) <= 1:
                self._build_sorted(continuous[0] if continuous else 0)
            indexed = self.n_points >= _INDEX_MIN_POINTS and points.device.type == "cpu"
            if self.strategy == "brute" and indexed and labels is None and self.n_dims == 2:
                # only where the points lie on a circle; the tree, if not, takes the same distinct values
                unique = self._distinct()
                self._build_circle(unique, CIRCLE_TOLERANCE)
                if self.strategy == "brute":
                    self._build_tree(unique)
            elif self.strategy == "brute" and indexed:
                strategy = "tree" if labels is None else "blocks"
        if strategy == "circle":
            self._build_circle(self._distinct(), None)
        elif strategy == "tree":
            self._build_tree(self._distinct())
        elif strategy == "blocks":
            self._build_blocks()

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

    def _distinct(self):
        """The distinct rows of ``points`` (float64, numpy); keeps, per row, the indices of its first two samples
        (-1: only one), and each sample's row. An animal sitting still gives thousands of identical points, which
        a search would otherwise visit one by one (all tie)."""
        import numpy as np

        values = self.points.detach().double().cpu().numpy()
        n = values.shape[0]
        # what np.unique(axis=0) gives, three times faster (one stable lexsort of the columns): the distinct rows in
        # lexicographic order, each sample's row, and each row's samples in time order
        order = np.lexsort(values.T[::-1])
        ordered = values[order]
        new = np.ones(n, dtype=bool)
        new[1:] = (ordered[1:] != ordered[:-1]).any(1)
        starts = np.flatnonzero(new)
        counts = np.diff(np.r_[starts, n])
        unique, first = ordered[starts], order[starts]
        inverse = np.empty(n, dtype=np.int64)
        inverse[order] = np.cumsum(new) - 1
        second = np.where(counts > 1, order[np.minimum(starts + 1, n - 1)], -1)
        device = self.points.device
        self._unique_of = torch.from_numpy(inverse.astype(np.int64)).to(device)
        self._first = torch.from_numpy(first.astype(np.int64)).to(device)
        self._second = torch.from_numpy(second.astype(np.int64)).to(device)
        return unique

    def _build_circle(self, unique, tolerance: float | None) -> None:
        """The distinct values ``unique`` sorted by their angle around the circle fitted to them (Kasa's algebraic
        fit); with ``tolerance``, only where every radius is within ``tolerance * mean radius`` of the others."""
        import numpy as np

        x, y = unique[:, 0], unique[:, 1]
        design = np.c_[x, y, np.ones_like(x)]
        # x^2 + y^2 + D x + E y + F = 0 in the least-squares sense: a linear system of three unknowns
        coef, *_ = np.linalg.lstsq(design, -(x * x + y * y), rcond=None)
        centre = -0.5 * coef[:2]
        radius = np.hypot(x - centre[0], y - centre[1])
        extent = float(np.hypot(np.ptp(x), np.ptp(y)))
        # points on a line, or on a short arc, fit a circle far larger than themselves, whose centre would cost the
        # bound its precision: around such a centre the search is not worth it ("auto") or not precise (forced)
        if not (np.isfinite(radius).all() and radius.mean() <= 2.0 * extent):
            if tolerance is not None:
                return
            centre = 0.5 * np.array([x.min() + x.max(), y.min() + y.max()])
            radius = np.hypot(x - centre[0], y - centre[1])
        elif tolerance is not None and not (
            radius.max() - radius.min() <= tolerance * radius.mean()
        ):
            return
        angle = np.arctan2(y - centre[1], x - centre[0])
        order = np.argsort(angle, kind="stable")
        device = self.points.device
        self._angle = torch.from_numpy(angle[order]).to(device)
        self._circle_x = torch.from_numpy(np.ascontiguousarray(unique[order, 0])).to(device)
        self._circle_y = torch.from_numpy(np.ascontiguousarray(unique[order, 1])).to(device)
        self._circle_value_of_row = torch.from_numpy(order.astype(np.int64)).to(device)
        self._centre = torch.from_numpy(centre).to(device)
        self._radius_range = (float(radius.min()), float(radius.max()))
        self.strategy = "circle"

    def _build_tree(self, unique) -> None:
        from scipy.spatial import cKDTree

        # no shrinking of the nodes to their points and no median splits: on behaviour that lies on a curve (a
        # ring) shrunken nodes make a query visit many times more of them (10x measured on a ring). Leaves of 64
        # points, not scipy's 16: a target inside a ring is almost equally far from a whole arc of it, which the
        # query must visit; fewer, larger leaves make that 1.5-1.7x cheaper (ring of 1e5 and 1e6 points), at a
        # cost of 0.01-0.1 ms a batch on lines, clusters, duplicates and 3-D boxes (benchmarks/search.py)
        self._tree = cKDTree(
            unique, leafsize=TREE_LEAF_SIZE, compact_nodes=False, balanced_tree=False
        )
        self.strategy = "tree"

    def _build_blocks(self) -> None:
        points = self.points
        coords = points
        if self.labels is not None:
            # the label as one more column, its values further apart than any two behaviour values: blocks then
            # rarely mix labels, and a block's distance bound still holds for the points of the query's label
            self._label_values, code = torch.unique(self.labels, return_inverse=True)
            span = float((points.max(0).values - points.min(0).values).max())
            self._label_gap = 4.0 * span + 1.0
            coords = torch.cat([points, (code.to(points.dtype) * self._label_gap)[:, None]], 1)
        n = coords.shape[0]
        depth = max(2, math.ceil(math.log2(n / _BLOCK_SIZE)))
        n_blocks = 1 << depth
        position = torch.arange(n, device=points.device)
        order = position
        for level in range(depth):
            # order every block of this level along its widest column; the next level halves it at its median
            segment = position * (1 << level) // n
            lo, hi = self._segment_bounds(coords[order], segment, 1 << level)
            widest = (hi - lo).argmax(1)
            value = coords[order].gather(1, widest[segment][:, None]).squeeze(1).double()
            low = lo.gather(1, widest[:, None]).squeeze(1).double()[segment]
            width = (hi - lo).max(1).values.double().clamp_min(1e-300)[segment]
            key = segment.double() + 0.5 * (value - low) / width  # within [segment, segment + 0.5]
            order = order[torch.argsort(key, stable=True)]
        block = position * n_blocks // n
        self._block_lo, self._block_hi = self._segment_bounds(coords[order], block, n_blocks)
        counts = torch.bincount(block, minlength=n_blocks)
        starts = torch.cumsum(counts, 0) - counts
        members = torch.full(
            (n_blocks, int(counts.max())), -1, dtype=torch.long, device=points.device
        )
        members[block, position - starts[block]] = order
        self._members = members
        # groups of consecutive blocks (the nodes of the partition some levels up), with their own boxes: a query
        # first bounds its distance to every group, then to the blocks of its nearest groups
        per_group = 1 << max(0, round(math.log2(math.sqrt(n_blocks / _NEAR_GROUPS))))
        group = torch.arange(n_blocks, device=points.device) // per_group
        self._group_lo = self._segment_bounds(self._block_lo, group, n_blocks // per_group)[0]
        self._group_hi = self._segment_bounds(self._block_hi, group, n_blocks // per_group)[1]
        self._per_group = per_group
        self.strategy = "blocks"

    @staticmethod
    def _segment_bounds(
        values: torch.Tensor, segment: torch.Tensor, n_segments: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per segment, the smallest and largest value of every column."""
        index = segment[:, None].expand(-1, values.shape[1])
        shape = (n_segments, values.shape[1])
        lo = values.new_full(shape, float("inf")).scatter_reduce(0, index, values, "amin")
        hi = values.new_full(shape, float("-inf")).scatter_reduce(0, index, values, "amax")
        return lo, hi

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
        if self.strategy == "circle":
            return self._query_circle(targets, exclude)
        if self.strategy == "blocks":
            return self._query_blocks(targets, labels, exclude)
        return self._query_brute(targets, labels, exclude)

    def _query_tree(self, targets, exclude):
        n_unique = self._first.shape[0]
        k = 1 if exclude is None or n_unique < 2 else 2
        # a large tree is worth a second thread (1.3x at 10^6 points on 2 cores; dearer below 10^5 points)
        workers = min(torch.get_num_threads(), 4) if n_unique >= _TREE_THREADS_MIN_POINTS else 1
        _, idx = self._tree.query(targets.detach().double().numpy(), k=k, workers=workers)
        idx = torch.from_numpy(idx.astype("int64", copy=False)).reshape(targets.shape[0], k)
        nearest = idx[:, 0]
        if exclude is None:
            return self._first[nearest]
        # the nearest value, unless it is the reference's own and the reference is its only sample
        own = nearest == self._unique_of[exclude]
        first = self._first[nearest]
        other_copy = torch.where(first == exclude, self._second[nearest], first)
        if k == 1:
            return torch.where(own & (other_copy < 0), exclude, torch.where(own, other_copy, first))
        next_value = self._first[idx[:, 1]]
        return torch.where(own, torch.where(other_copy >= 0, other_copy, next_value), first)

    def _query_circle(self, targets, exclude):
        q = targets.double()
        n_values = self._angle.shape[0]
        offset = q - self._centre
        radius = torch.linalg.vector_norm(offset, dim=1)
        angle = torch.atan2(offset[:, 1], offset[:, 0])
        # a value left out: the reference's own, where the reference is its only sample (otherwise its copy counts)
        lone = torch.full_like(radius, -1, dtype=torch.long)
        if exclude is not None:
            own = self._unique_of[exclude]
            lone = torch.where(self._second[own] < 0, own, lone)
        position = torch.searchsorted(self._angle, angle)
        best = torch.full_like(radius, float("inf"))
        found = torch.zeros_like(lone)
        rows = torch.arange(q.shape[0], device=q.device)
        r_lo, r_hi = self._radius_range
        half = _CIRCLE_WINDOW
        while rows.numel():
            # all of them, once, when the window has grown past the circle; in chunks of rows, so that memory
            # stays bounded however many rows are unsure
            width = min(2 * half, n_values)
            step = max(1, self.chunk_elements // width)
            for start in range(0, rows.numel(), step):
                self._scan_circle(
                    rows[start : start + step], half, width, q, position, lone, best, found
                )
            if width == n_values:
                break
            # every value not scanned is at least this far round the circle from the query's angle
            at, a = position.index_select(0, rows), angle.index_select(0, rows)
            before = self._angle.index_select(0, (at - half - 1) % n_values)
            after = self._angle.index_select(0, (at + half) % n_values)
            gap = torch.minimum(
                torch.remainder(a - before, 2 * math.pi), torch.remainder(after - a, 2 * math.pi)
            ).clamp(max=math.pi)
            # ... so at least this far in the plane: the nearest radius in the range at that angle
            cos = torch.cos(gap)
            rq = radius.index_select(0, rows)
            r = (rq * cos).clamp(r_lo, r_hi)
            bound = (rq * rq + r * r - 2 * rq * r * cos).clamp_min(0)
            # (a margin for the rounding of the bound; an equal distance beyond the window is only a tie)
            rows = rows[bound * (1 - 1e-9) <= best.index_select(0, rows)]
            half *= 4
        nearest = self._first[found]
        if exclude is not None:
            nearest = torch.where(nearest == exclude, self._second[found], nearest)
        return self._alone(nearest, best, exclude)

    def _scan_circle(self, rows, half, width, q, position, lone, best, found):
        """Exact distances from the queries ``rows`` to the ``width`` values from sorted position ``position - half``
        on (round the circle); ``best`` and ``found`` take the nearer ones, in place."""
        n_values = self._angle.shape[0]
        span = torch.arange(-half, width - half, device=q.device)
        where = ((position.index_select(0, rows)[:, None] + span) % n_values).flatten()
        shape = (rows.numel(), width)
        value = self._circle_value_of_row.index_select(0, where).view(shape)
        qx, qy = q[:, 0].index_select(0, rows)[:, None], q[:, 1].index_select(0, rows)[:, None]
        dist = (self._circle_x.index_select(0, where).view(shape) - qx).square()
        dist += (self._circle_y.index_select(0, where).view(shape) - qy).square()
        dist.masked_fill_(value == lone.index_select(0, rows)[:, None], float("inf"))
        near, arg = dist.min(dim=1)
        so_far = best.index_select(0, rows)
        better = near < so_far
        best[rows] = torch.where(better, near, so_far)
        found[rows] = torch.where(
            better, value.gather(1, arg[:, None]).squeeze(1), found.index_select(0, rows)
        )

    def _query_blocks(self, targets, labels, exclude):
        coords = targets
        if labels is not None:
            code = torch.searchsorted(self._label_values, labels)
            coords = torch.cat([targets, (code.to(targets.dtype) * self._label_gap)[:, None]], 1)
        n_groups = self._group_lo.shape[0]
        k_groups = min(_NEAR_GROUPS, n_groups)
        rows = max(1, self.chunk_elements // max(n_groups, k_groups * self._per_group))
        found, best = [], []
        for start in range(0, targets.shape[0], rows):
            part = slice(start, start + rows)
            f, b = self._query_blocks_chunk(
                targets[part],
                coords[part],
                None if labels is None else labels[part],
                None if exclude is None else exclude[part],
                k_groups,
            )
            found.append(f)
            best.append(b)
        return self._alone(torch.cat(found), torch.cat(best), exclude)

    @staticmethod
    def _box_bound(coords, lo, hi):
        """Squared distance from each query to each box: a lower bound of its distance to every point inside."""
        if lo.ndim == 2:
            lo, hi = lo[None], hi[None]
        q = coords[:, None, :]
        return (((lo - q).clamp_min(0) + (q - hi).clamp_min(0)) ** 2).sum(-1)

    def _query_blocks_chunk(self, targets, coords, labels, exclude, k_groups):
        group_bound = self._box_bound(coords, self._group_lo, self._group_hi)  # (B, n_groups)
        found, best, blocks_needed = self._search_blocks(
            targets, coords, group_bound, labels, exclude, k_groups, _NEAR_BLOCKS
        )
        # A group or block whose bound is below the best distance found may hold a nearer point. Where more of
        # them exist than were searched (a target far from the behaviour, such as inside a ring, where many blocks
        # are almost equally far), search every one of them: the answer is then exact.
        groups_needed = (group_bound < best[:, None]).sum(1)
        unsure = torch.nonzero((groups_needed > k_groups) | (blocks_needed > _NEAR_BLOCKS))
        if not unsure.numel():
            return found, best
        unsure = unsure.squeeze(1)
        # in groups of rows of similar need (a power of two), each in chunks of bounded memory
        level = torch.ceil(torch.log2(groups_needed[unsure].clamp_min(1).double())).long()
        for lv in torch.unique(level).tolist():
            rows = unsure[level == lv]
            k = min(1 << lv, self._group_lo.shape[0])
            step = max(1, self.chunk_elements // (k * self._per_group * self._members.shape[1]))
            for start in range(0, rows.numel(), step):
                r = rows[start : start + step]
                f, b, _ = self._search_blocks(
                    targets[r],
                    coords[r],
                    group_bound[r],
                    None if labels is None else labels[r],
                    None if exclude is None else exclude[r],
                    k,
                    None,
                    best[r],
                )
                nearer = b < best[r]
                found[r] = torch.where(nearer, f, found[r])
                best[r] = torch.where(nearer, b, best[r])
        return found, best

    def _search_blocks(
        self, targets, coords, group_bound, labels, exclude, k_groups, k_blocks, upper=None
    ):
        """The nearest point among the ``k_blocks`` nearest blocks (by their bound) of each query's ``k_groups``
        nearest groups, its squared distance, and how many of those groups' blocks have a bound below it.

        With ``k_blocks=None``, every block of those groups whose bound is below ``upper`` is searched."""
        _, near_groups = torch.topk(group_bound, k_groups, dim=1, largest=False, sorted=False)
        blocks = (
            near_groups[:, :, None] * self._per_group
            + torch.arange(self._per_group, device=near_groups.device)
        ).flatten(1)  # (B, k_groups * per_group)
        block_bound = self._box_bound(coords, self._block_lo[blocks], self._block_hi[blocks])
        if k_blocks is None:
            k_blocks = max(1, int((block_bound < upper[:, None]).sum(1).max()))
        k_blocks = min(k_blocks, blocks.shape[1])
        _, near = torch.topk(block_bound, k_blocks, dim=1, largest=False, sorted=False)
        idx = self._members[blocks.gather(1, near)].flatten(1)  # (B, k_blocks * size); -1: padding
        safe = idx.clamp_min(0)
        dist = (self.points[safe, 0] - targets[:, :1]) ** 2
        for d in range(1, self.n_dims):
            dist += (self.points[safe, d] - targets[:, d : d + 1]) ** 2
        bad = idx < 0
        if exclude is not None:
            bad |= idx == exclude[:, None]
        if labels is not None:
            bad |= self.labels[safe] != labels[:, None]
        dist.masked_fill_(bad, float("inf"))
        best, arg = dist.min(dim=1)
        return safe.gather(1, arg[:, None]).squeeze(1), best, (block_bound < best[:, None]).sum(1)

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

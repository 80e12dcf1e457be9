"""Hard-negative mining over the whole dataset, refreshed from the current embeddings.

:class:`HardNegativeMiner` keeps, for every sample of a dataset, a neighbourhood computed from the
embeddings of all samples, and draws negatives for a batch of anchors from it: samples the current
encoder places close to the anchor (hard negatives) rather than uniformly random ones. The
neighbourhood is recomputed every ``update_every`` training steps.

Everything is batched torch on the embeddings' device: the k nearest neighbours come from ``topk``
on chunks of the similarity matrix, the k-means variant runs a few batched Lloyd iterations, and
drawing is a handful of gathers (no loop over samples).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

from neuroembed._validation import check_choice, check_positive_int, describe
from neuroembed.losses._checks import DISTANCES, check_float_tensor, check_labels, unit

__all__ = ["HardNegativeMiner"]

_METHODS = ("knn", "kmeans")


class _BlockSampler:
    """Uniform draws inside an outer group, excluding the anchor's own inner group.

    Samples are sorted by ``(outer, inner)`` so that every outer group is a contiguous block and,
    inside it, the anchor's inner group (its label, or only itself) is a contiguous sub-block. A draw
    picks a uniform position among the ``outer_count - inner_count`` other positions and skips the
    sub-block, which is exact and needs no rejection loop.
    """

    def __init__(self, outer: Tensor, inner: Tensor, n_inner: int) -> None:
        n = outer.shape[0]
        key = outer * n_inner + inner
        self.order = torch.argsort(key, stable=True)
        _, inverse, counts = torch.unique_consecutive(
            key[self.order], return_inverse=True, return_counts=True
        )
        starts = torch.cumsum(counts, 0) - counts
        self.block_start = torch.empty(n, dtype=torch.long, device=outer.device)
        self.block_count = torch.empty(n, dtype=torch.long, device=outer.device)
        self.block_start[self.order] = starts[inverse]
        self.block_count[self.order] = counts[inverse]
        n_outer = int(outer.max()) + 1
        outer_count = torch.bincount(outer, minlength=n_outer)
        self.outer = outer
        self.outer_count = outer_count
        self.outer_start = torch.cumsum(outer_count, 0) - outer_count
        self.n = n

    def draw(self, anchors: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        """Negative for each anchor and whether one existed (``u`` uniform in [0, 1))."""
        group = self.outer[anchors]
        start = self.outer_start[group]
        bstart, bcount = self.block_start[anchors], self.block_count[anchors]
        available = self.outer_count[group] - bcount
        r = torch.minimum((u * available).long(), (available - 1).clamp(min=0))
        pos = start + r
        pos = pos + bcount * (pos >= bstart)
        return self.order[pos.clamp(max=self.n - 1)], available > 0


class HardNegativeMiner:
    """Hard negatives drawn from each sample's neighbourhood in the current embedding.

    Call :meth:`update` with the embeddings of the whole dataset at every training step (it only
    recomputes every ``update_every`` steps), and :meth:`sample` to draw one hard negative per
    anchor.

    Parameters
    ----------
    n_neighbors : int
        ``"knn"``: number of nearest neighbours kept per sample, among which a negative is drawn
        uniformly. ``"kmeans"``: sets the default number of clusters (``n_samples // n_neighbors``).
    update_every : int
        Recompute the neighbourhood when at least this many steps passed since the last update.
    method : {"knn", "kmeans"}
        ``"knn"``: the ``n_neighbors`` most similar other samples (exact, ``O(n^2)`` work done in
        chunks of ``chunk_size`` rows). ``"kmeans"``: a negative is drawn uniformly from the anchor's
        k-means cluster (``O(n * n_clusters)`` per Lloyd iteration), cheaper for large datasets.
    n_clusters : int, optional
        Number of k-means clusters; default ``max(1, n_samples // n_neighbors)``.
    distance : {"cosine", "euclidean"}
        ``"cosine"``: neighbours by cosine similarity (spherical k-means on L2-normalised
        embeddings); ``"euclidean"``: by euclidean distance (plain k-means).
    n_iter : int
        Lloyd iterations per k-means update.
    chunk_size : int
        Rows of the similarity matrix computed at once.
    random_state : int, numpy.random.Generator or None
        Seeds the k-means initialisation and the draws of :meth:`sample` when no ``generator`` is
        passed there.

    Attributes
    ----------
    n_samples_ : int
        Size of the dataset seen by the last update.
    neighbors_ : torch.Tensor of shape (n_samples, n_neighbors)
        ``"knn"`` only: indices of each sample's nearest neighbours, most similar first.
    neighbors_valid_ : torch.Tensor of shape (n_samples, n_neighbors)
        ``"knn"`` only: False where fewer than ``n_neighbors`` eligible samples existed.
    assignments_ : torch.Tensor of shape (n_samples,)
        ``"kmeans"`` only: cluster of each sample.
    centroids_ : torch.Tensor of shape (n_clusters, n_features)
        ``"kmeans"`` only.
    last_update_step_ : int or None
        Step of the last recomputation (None if it was called without a step, or never).

    Notes
    -----
    Same-label samples are never returned when labels are known (passed to :meth:`update`, or to
    :meth:`sample` for the whole dataset), and the anchor itself never is. When an anchor's
    neighbourhood holds no eligible sample, its negative is drawn uniformly from all eligible
    samples of the dataset.

    Examples
    --------
    >>> import torch
    >>> emb = torch.tensor([[0.0], [0.1], [5.0], [5.2], [9.0]])
    >>> miner = HardNegativeMiner(n_neighbors=1, distance="euclidean", random_state=0)
    >>> miner.update(emb, step=0)
    True
    >>> miner.sample(torch.tensor([0, 2, 4])).tolist()
    [1, 3, 3]
    >>> miner.update(emb, step=5)  # fewer than update_every steps later: kept
    False
    """

    def __init__(
        self,
        n_neighbors: int = 10,
        update_every: int = 100,
        method: str = "knn",
        n_clusters: int | None = None,
        distance: str = "cosine",
        n_iter: int = 10,
        chunk_size: int = 4096,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.n_neighbors = cast(int, check_positive_int(n_neighbors, "n_neighbors"))
        self.update_every = cast(int, check_positive_int(update_every, "update_every"))
        self.method = check_choice(method, "method", _METHODS)
        self.n_clusters = check_positive_int(n_clusters, "n_clusters", allow_none=True)
        self.distance = check_choice(distance, "distance", DISTANCES)
        self.n_iter = cast(int, check_positive_int(n_iter, "n_iter"))
        self.chunk_size = cast(int, check_positive_int(chunk_size, "chunk_size"))
        if random_state is not None and not isinstance(
            random_state, (int, np.integer, np.random.Generator)
        ):
            raise TypeError(
                "random_state must be None, an int or a numpy.random.Generator; got "
                f"{describe(random_state)}."
            )
        self.random_state = random_state
        self.last_update_step_: int | None = None
        self._generator: torch.Generator | None = None
        self._label_cache: tuple[Any, ...] | None = None

    # ------------------------------------------------------------------ update
    def update(
        self, embeddings: Tensor, step: int | None = None, labels: Tensor | None = None
    ) -> bool:
        """Recompute the neighbourhoods if due; return whether they were recomputed.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (n_samples, n_features)
            Current embeddings of the whole dataset (detached here).
        step : int, optional
            Current training step. The neighbourhoods are recomputed on the first call, when the
            dataset size changed, when ``step`` or the step of the last update is None, or when
            ``step - last_update_step_ >= update_every``.
        labels : torch.Tensor of shape (n_samples,), optional
            Class labels; same-label samples are then excluded from the neighbourhoods.
        """
        check_float_tensor(embeddings, "embeddings", (2,), "(n_samples, n_features)")
        n = embeddings.shape[0]
        if n < 2:
            raise ValueError(f"embeddings must hold at least 2 samples to mine negatives; got {n}.")
        if labels is not None:
            labels = check_labels(labels, n).to(embeddings.device)
        if step is not None:
            step = cast(int, check_positive_int(step, "step", minimum=0))
        due = (
            step is None
            or self.last_update_step_ is None
            or getattr(self, "n_samples_", None) != n
            or step - self.last_update_step_ >= self.update_every
        )
        if not due:
            return False

        z = embeddings.detach()
        if self.distance == "cosine":
            z = unit(z, dim=1)
        self._device = z.device
        self.n_samples_ = n
        self._labels = labels
        self._label_cache = None
        inner, n_inner = self._inner_groups(labels, n, z.device)
        self._global = _BlockSampler(torch.zeros_like(inner), inner, n_inner)
        if self.method == "knn":
            self.neighbors_, self.neighbors_valid_ = self._knn(z, labels)
        else:
            self.centroids_, self.assignments_ = self._kmeans(z)
            self._cluster_sampler = _BlockSampler(self.assignments_, inner, n_inner)
        self.last_update_step_ = step
        return True

    @staticmethod
    def _inner_groups(labels: Tensor | None, n: int, device: torch.device) -> tuple[Tensor, int]:
        if labels is None:
            return torch.arange(n, device=device), n
        _, inverse = torch.unique(labels, return_inverse=True)
        n_labels = int(inverse.max()) + 1
        if n_labels < 2:
            raise ValueError(
                "labels hold a single class, so no sample has a negative (a sample with a "
                "different label); pass labels with at least two classes or none."
            )
        return inverse, n_labels

    def _scores(self, rows: Tensor, z: Tensor, sq_norms: Tensor | None) -> Tensor:
        """Higher is closer: cosine similarity, or minus squared distance up to a row constant."""
        if sq_norms is None:
            return rows @ z.T
        return 2.0 * (rows @ z.T) - sq_norms

    def _knn(self, z: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor]:
        n = z.shape[0]
        k = min(self.n_neighbors, n - 1)
        sq_norms = None if self.distance == "cosine" else (z**2).sum(1)
        indices, valid = [], []
        for start in range(0, n, self.chunk_size):
            rows = torch.arange(start, min(start + self.chunk_size, n), device=z.device)
            scores = self._scores(z[rows], z, sq_norms)
            exclude = rows[:, None] == torch.arange(n, device=z.device)
            if labels is not None:
                exclude = exclude | (labels[rows][:, None] == labels[None, :])
            scores = scores.masked_fill(exclude, float("-inf"))
            values, idx = torch.topk(scores, k, dim=1)
            indices.append(idx)
            valid.append(values > float("-inf"))
        return torch.cat(indices), torch.cat(valid)

    def _torch_generator(self, device: torch.device) -> torch.Generator:
        if self._generator is None or self._generator.device != device:
            gen = torch.Generator(device=device)
            if self.random_state is None:
                gen.seed()
            elif isinstance(self.random_state, np.random.Generator):
                gen.manual_seed(int(self.random_state.integers(2**63 - 1)))
            else:
                gen.manual_seed(int(self.random_state))
            self._generator = gen
        return self._generator

    def _kmeans(self, z: Tensor) -> tuple[Tensor, Tensor]:
        n = z.shape[0]
        n_clusters = self.n_clusters or max(1, n // self.n_neighbors)
        n_clusters = min(n_clusters, n)
        gen = self._torch_generator(z.device)
        centroids = z[torch.randperm(n, generator=gen, device=z.device)[:n_clusters]].clone()
        assignments = self._assign(z, centroids)
        for _ in range(self.n_iter):
            sums = torch.zeros_like(centroids).index_add_(0, assignments, z)
            counts = torch.bincount(assignments, minlength=n_clusters)
            updated = sums / counts.clamp(min=1)[:, None].to(z.dtype)
            if self.distance == "cosine":
                updated = unit(updated, dim=1)
            centroids = torch.where((counts > 0)[:, None], updated, centroids)  # empty: keep
            assignments = self._assign(z, centroids)
        return centroids, assignments

    def _assign(self, z: Tensor, centroids: Tensor) -> Tensor:
        sq_norms = None if self.distance == "cosine" else (centroids**2).sum(1)
        out = [
            self._scores(z[s : s + self.chunk_size], centroids, sq_norms).argmax(1)
            for s in range(0, z.shape[0], self.chunk_size)
        ]
        return torch.cat(out)

    # ------------------------------------------------------------------ sample
    def sample(
        self,
        indices: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Draw one hard negative per anchor.

        Parameters
        ----------
        indices : torch.Tensor of shape (batch_size,)
            Dataset indices of the anchors.
        labels : torch.Tensor of shape (n_samples,), optional
            Labels of the *whole dataset*; same-label samples are not returned. Defaults to the
            labels given to :meth:`update`, if any. Prefer giving them to :meth:`update`: labels
            known only here filter neighbourhoods computed without them, which in a trained
            embedding are mostly same-label samples, so many draws fall back to uniform ones.
        generator : torch.Generator, optional
            Source of randomness (on the embeddings' device); defaults to one seeded from
            ``random_state``.

        Returns
        -------
        torch.Tensor of shape (batch_size,)
            Dataset indices of the negatives, on the embeddings' device.
        """
        if not hasattr(self, "n_samples_"):
            raise RuntimeError("HardNegativeMiner.sample called before update(embeddings, step).")
        if not isinstance(indices, Tensor) or indices.ndim != 1 or indices.is_floating_point():
            raise ValueError(
                f"indices must be a 1-D integer tensor (batch_size,); got {describe(indices)}."
            )
        n = self.n_samples_
        if (
            indices.device.type == "cpu"
            and indices.numel()
            and (int(indices.min()) < 0 or int(indices.max()) >= n)
        ):
            raise ValueError(
                f"indices must lie in [0, {n}) (the dataset seen by update); got values from "
                f"{int(indices.min())} to {int(indices.max())}."
            )
        indices = indices.to(self._device, torch.long)
        global_sampler, cluster_sampler, labels = self._samplers(labels)
        gen = generator if generator is not None else self._torch_generator(self._device)
        u = torch.rand(2, indices.shape[0], generator=gen, device=self._device)

        fallback, _ = global_sampler.draw(indices, u[1])
        if self.method == "kmeans":
            drawn, ok = cluster_sampler.draw(indices, u[0])
            return torch.where(ok, drawn, fallback)

        neighbors = self.neighbors_[indices]  # (batch, k)
        valid = self.neighbors_valid_[indices]
        if labels is not None:
            valid = valid & (labels[neighbors] != labels[indices][:, None])
        n_valid = valid.sum(1)
        rank = torch.minimum((u[0] * n_valid).long(), (n_valid - 1).clamp(min=0))
        hit = valid & (valid.cumsum(1) == (rank + 1)[:, None])
        drawn = neighbors.gather(1, hit.long().argmax(1, keepdim=True))[:, 0]
        return torch.where(n_valid > 0, drawn, fallback)

    def _samplers(self, labels: Tensor | None) -> tuple[_BlockSampler, Any, Tensor | None]:
        if labels is None or labels is self._labels:
            return self._global, getattr(self, "_cluster_sampler", None), self._labels
        if self._label_cache is not None and self._label_cache[0] is labels:
            return self._label_cache[1], self._label_cache[2], self._label_cache[3]
        checked = check_labels(labels, self.n_samples_).to(self._device)
        inner, n_inner = self._inner_groups(checked, self.n_samples_, self._device)
        glob = _BlockSampler(torch.zeros_like(inner), inner, n_inner)
        cluster = (
            _BlockSampler(self.assignments_, inner, n_inner) if self.method == "kmeans" else None
        )
        self._label_cache = (labels, glob, cluster, checked)
        return glob, cluster, checked

    def __repr__(self) -> str:
        return (
            f"HardNegativeMiner(n_neighbors={self.n_neighbors}, update_every={self.update_every}, "
            f"method={self.method!r}, n_clusters={self.n_clusters}, distance={self.distance!r})"
        )

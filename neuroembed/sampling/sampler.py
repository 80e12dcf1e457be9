"""Which indices are reference, positive and negative, for one or several recordings.

All draws are batched tensor operations on the data's device, seeded by one :class:`torch.Generator`; nothing here
synchronises with the host, so a training step never waits on the sampler.

Conditionals (how the positive of a reference ``t`` is chosen):

``"time"``
    ``t + time_offset`` (references are drawn so that it stays inside the recording).
``"delta"``
    the sample whose behaviour is nearest to ``behaviour[t] + noise``, ``noise ~ N(0, delta**2)``.
``"time_delta"``
    the sample whose behaviour is nearest to ``behaviour[t] + d``, with ``d`` drawn from the empirical distribution of
    behaviour changes over ``time_offset`` samples.
``"discrete"``
    a uniformly random other sample with the same label.
``"mixed"``
    the sample with the same label whose continuous behaviour is nearest to ``behaviour[t] + d`` (``d`` as for
    ``time_delta``).

Negatives are uniform over the valid samples of every session (``num_negatives // n_sessions`` from each).
With several sessions, behaviour positives are searched in a *randomly permuted* session, so that the shared space
aligns the recordings; the reference itself is excluded when the positive comes from its own session.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuroembed.sampling.discrete import SameLabelSampler
from neuroembed.sampling.neighbours import NearestNeighbours

__all__ = [
    "CONDITIONALS",
    "BEHAVIOUR_CONDITIONALS",
    "IndexBatch",
    "SessionData",
    "ContrastiveSampler",
]

CONDITIONALS = ("time", "delta", "time_delta", "discrete", "mixed")
BEHAVIOUR_CONDITIONALS = ("delta", "time_delta", "mixed")


@dataclass
class SessionData:
    """What the sampler needs to know of one recording (all tensors on one device).

    Parameters
    ----------
    n_samples : int
        Rows of the recording.
    left, right : int
        Window extent of the encoder (a window for sample ``t`` is ``[t - left, t + right)``).
    behaviour : Tensor of shape (n_samples, n_dims), optional
    labels : Tensor of shape (n_samples,), optional
    """

    n_samples: int
    left: int
    right: int
    behaviour: torch.Tensor | None = None
    labels: torch.Tensor | None = None

    @property
    def lo(self) -> int:
        """First sample whose window fits."""
        return self.left

    @property
    def hi(self) -> int:
        """One past the last sample whose window fits."""
        return self.n_samples - self.right + 1


@dataclass
class IndexBatch:
    """Indices of one training step, per session.

    Attributes
    ----------
    reference : list of Tensor (batch_size,)
        Reference samples of each session.
    positive : list of Tensor (batch_size,)
        Positive samples *located in* each session. Concatenated over sessions and gathered with
        ``positive_order`` they line up with the concatenated references.
    negative : list of Tensor (n_negatives_s,)
        Negative samples of each session (a pool shared by every reference).
    positive_order : Tensor (n_sessions * batch_size,) or None
        ``None`` when positives are already aligned with references.
    time_positive : list of Tensor (batch_size,) or None
        Extra same-session time positives for hybrid training.
    """

    reference: list[torch.Tensor]
    positive: list[torch.Tensor]
    negative: list[torch.Tensor]
    positive_order: torch.Tensor | None = None
    time_positive: list[torch.Tensor] | None = None


class ContrastiveSampler:
    """Draw :class:`IndexBatch` es for a list of sessions.

    Parameters
    ----------
    sessions : list of SessionData
    conditional : str
        One of :data:`CONDITIONALS`.
    batch_size : int
        References per session per step.
    num_negatives : int
        Negatives per step, split evenly over sessions.
    time_offset : int
        Offset of time positives and of the behaviour changes used by ``time_delta`` / ``mixed``. In a session
        with no more window centres than ``time_offset``, the offset is clipped to the last centre: positives
        then lie ``n_centres - 1`` samples later (the reference itself when a single window fits).
    delta : float
        Standard deviation of the noise for ``delta``.
    hybrid : bool
        Also draw same-session time positives.
    generator : torch.Generator
        Source of all randomness (on the sessions' device).
    """

    def __init__(
        self,
        sessions: list[SessionData],
        conditional: str,
        *,
        batch_size: int,
        num_negatives: int,
        time_offset: int,
        delta: float = 0.1,
        hybrid: bool = False,
        generator: torch.Generator,
    ) -> None:
        if conditional not in CONDITIONALS:
            raise ValueError(
                f"conditional={conditional!r} is not supported; choose one of {list(CONDITIONALS)}."
            )
        self.sessions = sessions
        self.conditional = conditional
        self.batch_size = batch_size
        self.time_offset = time_offset
        self.delta = delta
        self.hybrid = hybrid
        self.generator = generator
        self.device = generator.device
        n = len(sessions)
        base, extra = divmod(num_negatives, n)
        self.negatives_per_session = [base + (i < extra) for i in range(n)]
        # the time offset clipped to each session: the largest gap between two window centres
        self._offsets = [min(time_offset, s.hi - s.lo - 1) for s in sessions]
        self._index: list[NearestNeighbours] = []
        self._deltas: list[torch.Tensor] = []
        self._same_label: list[SameLabelSampler] = []
        for s, offset in zip(sessions, self._offsets):
            lo, hi = s.lo, s.hi
            if conditional in BEHAVIOUR_CONDITIONALS:
                points = s.behaviour[lo:hi]
                labels = s.labels[lo:hi] if conditional == "mixed" else None
                self._index.append(NearestNeighbours(points, labels))
                if conditional != "delta":
                    self._deltas.append(
                        s.behaviour[lo + offset : hi] - s.behaviour[lo : hi - offset]
                    )
            if conditional == "discrete":
                self._same_label.append(SameLabelSampler(s.labels[lo:hi]))

    # -- helpers -------------------------------------------------------------------------------------------------
    def _uniform(self, lo: int, hi: int, n: int) -> torch.Tensor:
        return torch.randint(lo, hi, (n,), generator=self.generator, device=self.device)

    def _behaviour_targets(self, i: int, ref: torch.Tensor) -> torch.Tensor:
        s = self.sessions[i]
        y = s.behaviour[ref]
        if self.conditional == "delta":
            noise = torch.randn(
                y.shape, generator=self.generator, device=self.device, dtype=y.dtype
            )
            return y + self.delta * noise
        deltas = self._deltas[i]
        pick = self._uniform(0, deltas.shape[0], ref.shape[0])
        return y + deltas[pick]

    # -- main ----------------------------------------------------------------------------------------------------
    def sample(self) -> IndexBatch:
        """Draw one step's indices."""
        B = self.batch_size
        refs, negs = [], []
        is_time = self.conditional == "time"
        for s, k, offset in zip(self.sessions, self.negatives_per_session, self._offsets):
            refs.append(self._uniform(s.lo, s.hi - offset if is_time else s.hi, B))
            negs.append(self._uniform(s.lo, s.hi, k))
        time_pos = None
        if self.hybrid:
            time_pos = [
                torch.clamp(r + offset, max=s.hi - 1)
                for r, s, offset in zip(refs, self.sessions, self._offsets)
            ]
        if is_time:
            return IndexBatch(
                refs, [r + offset for r, offset in zip(refs, self._offsets)], negs, None, time_pos
            )
        if self.conditional == "discrete":
            pos = [
                sl.sample(r - s.lo, self.generator) + s.lo
                for sl, r, s in zip(self._same_label, refs, self.sessions)
            ]
            return IndexBatch(refs, pos, negs, None, time_pos)
        return self._behaviour_batch(refs, negs, time_pos)

    def _behaviour_batch(self, refs, negs, time_pos) -> IndexBatch:
        n = len(self.sessions)
        B = self.batch_size
        targets = torch.cat([self._behaviour_targets(i, r) for i, r in enumerate(refs)])
        labels = None
        if self.conditional == "mixed":
            labels = torch.cat([s.labels[r] for s, r in zip(self.sessions, refs)])
        ref_global = torch.cat(refs)
        ref_session = torch.arange(n, device=self.device).repeat_interleave(B)
        if n > 1:
            # queries of all sessions are dealt out to sessions by a random permutation; session j answers
            # queries perm[j*B:(j+1)*B] so every session handles exactly B of them (fixed shapes, no host sync)
            perm = torch.randperm(n * B, generator=self.generator, device=self.device)
        else:
            perm = None
        positives = []
        for j, s in enumerate(self.sessions):
            q = perm[j * B : (j + 1) * B] if perm is not None else slice(None)
            own = ref_session[q] == j
            exclude = torch.where(own, ref_global[q] - s.lo, torch.full_like(ref_global[q], -1))
            found = self._index[j].query(targets[q], None if labels is None else labels[q], exclude)
            positives.append(found + s.lo)
        order = torch.argsort(perm) if perm is not None else None
        return IndexBatch(refs, positives, negs, order, time_pos)

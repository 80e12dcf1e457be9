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

A session may mark samples that must not be drawn (``SessionData.valid``: behaviour missing under
``behaviour_nan="drop"``, outside the epochs a fit is restricted to, or a window that would span a gap between two
segments of a recording). Such a sample is never a reference, a positive or a negative, and its behaviour never
enters the nearest-neighbour index or the behaviour changes of ``time_delta`` / ``mixed``; its neural activity
still feeds the windows of its neighbours. A time positive ``t + time_offset`` must be drawable and lie in its
reference's segment (``SessionData.segment``), so references are drawn among the samples whose time positive is.
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
    valid : Tensor of bool of shape (n_samples,), optional
        Samples that may be drawn (``None``: every window centre).
    segment : Tensor of int of shape (n_samples,), optional
        Contiguous segment of each sample (a recording restricted to several epochs); time positives stay in
        their reference's segment. ``None``: one segment.
    """

    n_samples: int
    left: int
    right: int
    behaviour: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    valid: torch.Tensor | None = None
    segment: torch.Tensor | None = None

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
    more_positives : list of (list of Tensor, Tensor or None), optional
        With several objectives (:class:`~neuroembed.sampling.ObjectiveSampler`): the positives and their order
        (as ``positive`` and ``positive_order``) of every objective after the first, for the same references.
    """

    reference: list[torch.Tensor]
    positive: list[torch.Tensor]
    negative: list[torch.Tensor]
    positive_order: torch.Tensor | None = None
    time_positive: list[torch.Tensor] | None = None
    more_positives: list[tuple[list[torch.Tensor], torch.Tensor | None]] | None = None


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
        # per session, where some samples must not be drawn: the window centres that may be, and each centre's
        # position among them (None where every centre may be drawn, which keeps the draws of complete data as
        # they were); and the references whose time positive may be drawn too
        self._drawable: list[torch.Tensor | None] = []
        self._rank: list[torch.Tensor | None] = []
        self._time_refs: list[torch.Tensor | None] = []
        self._keep: list[torch.Tensor | None] = []
        for i, (s, offset) in enumerate(zip(sessions, self._offsets)):
            lo, hi = s.lo, s.hi
            keep = None
            if s.valid is not None and not bool(s.valid[lo:hi].all()):
                keep = s.valid[lo:hi]
                drawable = torch.nonzero(keep).squeeze(1)
                if drawable.numel() == 0:
                    raise ValueError(
                        f"session {i} has no window centre that may be drawn (all {hi - lo} lack behaviour, lie "
                        "outside the epochs, or have windows across a gap)."
                    )
                self._drawable.append(drawable + lo)
                self._rank.append(torch.cumsum(keep.long(), 0) - 1)
            else:
                self._drawable.append(None)
                self._rank.append(None)
            self._keep.append(keep)
            self._time_refs.append(
                self._time_references(i, keep, offset) if conditional == "time" or hybrid else None
            )
            if conditional in BEHAVIOUR_CONDITIONALS:
                points = s.behaviour[lo:hi]
                labels = s.labels[lo:hi] if conditional == "mixed" else None
                if keep is not None:
                    points = points[keep]
                    labels = None if labels is None else labels[keep]
                self._index.append(NearestNeighbours(points, labels))
                if conditional != "delta":
                    deltas = s.behaviour[lo + offset : hi] - s.behaviour[lo : hi - offset]
                    pairs = None
                    if keep is not None:
                        pairs = keep[offset:] & keep[: keep.shape[0] - offset]
                    if (
                        s.segment is not None
                    ):  # a change across a gap between segments is no movement
                        segment = s.segment[lo:hi]
                        same = segment[offset:] == segment[: segment.shape[0] - offset]
                        pairs = same if pairs is None else pairs & same
                    if pairs is not None:
                        deltas = deltas[pairs]
                        if deltas.shape[0] == 0:
                            raise ValueError(
                                f"session {i} has no two drawable samples time_offset={offset} apart, so no "
                                f"behaviour change can be drawn for conditional={conditional!r}; lower "
                                "time_offset or pass behaviour with fewer gaps."
                            )
                    self._deltas.append(deltas)
            if conditional == "discrete":
                labels = s.labels[lo:hi]
                self._same_label.append(SameLabelSampler(labels if keep is None else labels[keep]))

    def _time_references(
        self, i: int, keep: torch.Tensor | None, offset: int
    ) -> torch.Tensor | None:
        """The centres of session ``i`` whose time positive ``offset`` later may be drawn too, in their segment
        (``None`` where that is every centre but the last ``offset``)."""
        s = self.sessions[i]
        lo, hi = s.lo, s.hi
        if keep is None and s.segment is None:
            return None
        n = hi - lo
        ok = torch.ones(n - offset, dtype=torch.bool, device=self.device)
        if keep is not None:
            ok &= keep[: n - offset] & keep[offset:]
        if s.segment is not None:
            segment = s.segment[lo:hi]
            ok &= segment[: n - offset] == segment[offset:]
        refs = torch.nonzero(ok).squeeze(1)
        if refs.numel() == 0:
            raise ValueError(
                f"session {i} has no drawable sample whose time positive time_offset={offset} later is drawable "
                "and in the same segment; lower time_offset, or fit on longer epochs."
            )
        return refs + lo

    # -- helpers -------------------------------------------------------------------------------------------------
    def _uniform(self, lo: int, hi: int, n: int) -> torch.Tensor:
        return torch.randint(lo, hi, (n,), generator=self.generator, device=self.device)

    def _centres(self, i: int, n: int) -> torch.Tensor:
        """``n`` window centres of session ``i`` drawn uniformly among those that may be drawn."""
        drawable = self._drawable[i]
        if drawable is None:
            s = self.sessions[i]
            return self._uniform(s.lo, s.hi, n)
        return drawable[self._uniform(0, drawable.shape[0], n)]

    def _references(self, i: int, n: int) -> torch.Tensor:
        """``n`` references of session ``i``: with time positives, only those whose positive may be drawn."""
        refs = self._time_refs[i]
        if refs is not None:
            return refs[self._uniform(0, refs.shape[0], n)]
        if self.conditional == "time":
            s = self.sessions[i]
            return self._uniform(s.lo, s.hi - self._offsets[i], n)
        return self._centres(i, n)

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
        refs, negs = self.references_and_negatives()
        time_pos = None
        if self.hybrid:
            time_pos = [
                torch.clamp(r + offset, max=s.hi - 1)
                for r, s, offset in zip(refs, self.sessions, self._offsets)
            ]
        pos, order = self.positives(refs)
        return IndexBatch(refs, pos, negs, order, time_pos)

    def references_and_negatives(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """One step's references (``batch_size`` per session) and negatives, per session."""
        refs, negs = [], []
        for i, k in enumerate(self.negatives_per_session):
            refs.append(self._references(i, self.batch_size))
            negs.append(self._centres(i, k))
        return refs, negs

    def positives(self, refs: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """The positives of references ``refs`` (one tensor per session) under this sampler's conditional, and the
        order that lines them up with the concatenated references (``None`` when they already are)."""
        if self.conditional == "time":
            return [r + offset for r, offset in zip(refs, self._offsets)], None
        if self.conditional == "discrete":
            pos = []
            for sl, r, s, rank, drawable in zip(
                self._same_label, refs, self.sessions, self._rank, self._drawable
            ):
                if rank is None:
                    pos.append(sl.sample(r - s.lo, self.generator) + s.lo)
                else:  # the sampler holds only the drawable centres: their positions
                    pos.append(drawable[sl.sample(rank[r - s.lo], self.generator)])
            return pos, None
        return self._behaviour_positives(refs)

    def _behaviour_positives(
        self, refs: list[torch.Tensor]
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        n = len(self.sessions)
        B = refs[0].shape[0]
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
            local = ref_global[q] - s.lo
            rank, drawable = self._rank[j], self._drawable[j]
            if rank is not None:  # the index holds only the centres with behaviour: its positions
                local = rank[local.clamp(0, rank.shape[0] - 1)]
            exclude = torch.where(own, local, torch.full_like(local, -1))
            found = self._index[j].query(targets[q], None if labels is None else labels[q], exclude)
            positives.append(found + s.lo if drawable is None else drawable[found])
        order = torch.argsort(perm) if perm is not None else None
        return positives, order

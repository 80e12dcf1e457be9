"""Several objectives on one embedding: each part of the embedding has its own positives.

An embedding of parts (xCEBRA's subspaces: Schneider, González Laiz et al., AISTATS 2025) is trained with one
InfoNCE term per part, each comparing that part of the references' embeddings with that part of its own positives
and of the negatives. The references and the negatives are drawn once per step and shared by every part; only the
positives differ. One part may follow the behaviour (``"time_delta"`` on position, say) while another follows time
alone, so that what time structure shows beyond the behaviour lands in its own dimensions.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neuroembed.sampling.sampler import (
    BEHAVIOUR_CONDITIONALS,
    CONDITIONALS,
    ContrastiveSampler,
    IndexBatch,
    SessionData,
)

__all__ = ["Objective", "ObjectiveSampler", "check_objectives", "part_slice", "part_slices"]

_SPELLING = (
    "each entry is (conditional, dims), (conditional, dims, behaviour columns) or a dict with keys 'conditional', "
    "'dims' and optionally 'name', 'columns' and 'scope'; for example objectives=[('time_delta', 3), ('time', 3)]"
)
SCOPES = ("part", "all")


@dataclass(frozen=True)
class Objective:
    """One part of an embedding and the positives it is trained with.

    Attributes
    ----------
    name : str
        What the part is called (``Estimator.parts_``, ``transform(..., part=name)``).
    conditional : str
        How its positives are drawn (:data:`~neuroembed.sampling.CONDITIONALS`).
    dims : int
        Its number of dimensions.
    columns : tuple of int, optional
        The columns of the continuous behaviour its positives follow (``None``: all of them).
    scope : {"part", "all"}
        The embedding columns its loss term compares: its own part's, or the whole embedding's (xCEBRA's
        time-contrastive term, which makes the whole embedding explain the time structure, so that a part trained
        on time alone holds what the other parts do not).
    """

    name: str
    conditional: str
    dims: int
    columns: tuple[int, ...] | None = None
    scope: str = "part"


def check_objectives(objectives: Any) -> list[Objective] | None:
    """The ``objectives`` parameter of :class:`~neuroembed.Estimator` as a list of :class:`Objective` (``None``
    stays ``None``), or a ``TypeError`` / ``ValueError`` that says what was given and what is expected.

    Unnamed parts are named after their conditional, numbered from 0 where a conditional occurs more than once.

    >>> [o.name for o in check_objectives([("time_delta", 3, [0, 1]), ("time", 2)])]
    ['time_delta', 'time']
    >>> [o.name for o in check_objectives([("time", 2), ("time", 2)])]
    ['time_0', 'time_1']
    """
    if objectives is None:
        return None
    if isinstance(objectives, (str, dict)) or not isinstance(objectives, (list, tuple)):
        raise TypeError(
            f"objectives must be a list of parts or None; {_SPELLING}; got {objectives!r}."
        )
    if len(objectives) == 0:
        raise ValueError(
            f"objectives is empty; pass None for one objective, or a list of parts ({_SPELLING})."
        )
    entries = [_entry(e, i) for i, e in enumerate(objectives)]
    counts = Counter(cond for name, cond, _, _, _ in entries if name is None)
    seen: Counter[str] = Counter()
    out = []
    for name, cond, dims, columns, scope in entries:
        if name is None:
            name = cond if counts[cond] == 1 else f"{cond}_{seen[cond]}"
            seen[cond] += 1
        out.append(Objective(name, cond, dims, columns, scope))
    names = [o.name for o in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"objectives have repeated names {repeated}; give every part its own 'name'."
        )
    return out


def _entry(entry: Any, i: int) -> tuple[str | None, str, int, tuple[int, ...] | None, str]:
    """One entry of ``objectives`` as ``(name or None, conditional, dims, columns, scope)``."""
    name = columns = None
    scope = "part"
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - {"name", "conditional", "dims", "columns", "scope"})
        if unknown or "conditional" not in entry or "dims" not in entry:
            raise ValueError(
                f"objectives[{i}] = {entry!r}: a dict needs the keys 'conditional' and 'dims', and may have 'name', "
                f"'columns' and 'scope'" + (f"; unknown keys {unknown}" if unknown else "") + "."
            )
        cond, dims, columns, name = (
            entry["conditional"],
            entry["dims"],
            entry.get("columns"),
            entry.get("name"),
        )
        scope = entry.get("scope", "part")
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"objectives[{i}]: 'name' must be a non-empty string; got {name!r}.")
        if not isinstance(scope, str) or scope not in SCOPES:
            raise ValueError(
                f"objectives[{i}]: 'scope' must be 'part' (the loss compares this part's columns) or 'all' (the "
                f"whole embedding's); got {scope!r}."
            )
    elif isinstance(entry, (tuple, list)) and len(entry) in (2, 3):
        cond, dims = entry[0], entry[1]
        columns = entry[2] if len(entry) == 3 else None
    else:
        raise TypeError(f"objectives[{i}] = {entry!r} is not a part; {_SPELLING}.")
    if not isinstance(cond, str) or cond not in CONDITIONALS:
        raise ValueError(
            f"objectives[{i}]: conditional {cond!r} is not one of {list(CONDITIONALS)} ('auto' is not allowed in a "
            "part: say which positives it uses)."
        )
    if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)) or dims < 1:
        raise ValueError(f"objectives[{i}]: dims must be a positive integer; got {dims!r}.")
    if columns is not None:
        if cond not in BEHAVIOUR_CONDITIONALS:
            raise ValueError(
                f"objectives[{i}]: conditional {cond!r} does not use continuous behaviour, so it takes no columns; "
                f"columns are for {list(BEHAVIOUR_CONDITIONALS)}."
            )
        flat = [columns] if isinstance(columns, (int, np.integer)) else columns
        if (
            isinstance(flat, (str, bytes))
            or not hasattr(flat, "__iter__")
            or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in flat)
        ):
            raise TypeError(
                f"objectives[{i}]: columns must be an int or a list of ints (behaviour columns); got {columns!r}."
            )
        flat = [int(c) for c in flat]
        if not flat or min(flat) < 0 or len(set(flat)) != len(flat):
            raise ValueError(
                f"objectives[{i}]: columns must be distinct non-negative column indices, at least one; got {columns!r}."
            )
        columns = tuple(flat)
    return name, cond, int(dims), columns, scope


def check_columns(objectives: list[Objective], n_columns: int) -> None:
    """Every objective's behaviour columns exist in behaviour of ``n_columns`` columns."""
    for o in objectives:
        if o.columns is not None and max(o.columns) >= n_columns:
            raise ValueError(
                f"objective {o.name!r} follows behaviour columns {list(o.columns)}, but the continuous behaviour has "
                f"{n_columns} column(s) (0 to {n_columns - 1})."
            )


def part_slice(parts: dict[str, slice] | None, part: str) -> slice:
    """The columns of the fitted part named ``part`` among ``parts`` (an estimator's ``parts_``), or a clear error
    when the model has no parts or none of that name."""
    if not parts:
        raise ValueError(
            f"part={part!r} needs a model fitted with objectives; this one has a single embedding."
        )
    if part not in parts:
        raise ValueError(f"part={part!r} is not one of the fitted parts {list(parts)}.")
    return parts[part]


def part_slices(objectives: list[Objective]) -> list[slice]:
    """Where each objective's part lies in the embedding: consecutive column ranges, in order.

    >>> part_slices([Objective("a", "time", 2), Objective("b", "time", 3)])
    [slice(0, 2, None), slice(2, 5, None)]
    """
    out, start = [], 0
    for o in objectives:
        out.append(slice(start, start + o.dims))
        start += o.dims
    return out


class ObjectiveSampler:
    """Draw :class:`~neuroembed.sampling.IndexBatch` es with one set of positives per objective.

    References and negatives are drawn once per step and shared: the references by the first ``"time"``
    objective's sampler if there is one (its references are those whose time positive may be drawn), else by the
    first objective's. The batch's ``positive`` / ``positive_order`` belong to the first objective, its
    ``more_positives`` to the others, in order.

    Parameters
    ----------
    sessions : list of SessionData
    objectives : list of Objective
    batch_size, num_negatives, time_offset, delta, generator
        As for :class:`~neuroembed.sampling.ContrastiveSampler` (one generator draws everything).
    """

    def __init__(
        self,
        sessions: list[SessionData],
        objectives: list[Objective],
        *,
        batch_size: int,
        num_negatives: int,
        time_offset: int,
        delta: float = 0.1,
        generator: torch.Generator,
    ) -> None:
        if not objectives:
            raise ValueError("ObjectiveSampler needs at least one objective.")
        self.sessions = sessions
        self.objectives = list(objectives)
        self.batch_size = batch_size
        self.generator = generator
        self.device = generator.device
        self.samplers = [
            ContrastiveSampler(
                [_with_columns(s, o.columns) for s in sessions],
                o.conditional,
                batch_size=batch_size,
                num_negatives=num_negatives,
                time_offset=time_offset,
                delta=delta,
                generator=generator,
            )
            for o in self.objectives
        ]
        self._anchor = next((s for s in self.samplers if s.conditional == "time"), self.samplers[0])
        self.negatives_per_session = self._anchor.negatives_per_session

    @property
    def slices(self) -> list[slice]:
        """Each objective's part of the embedding (:func:`part_slices`)."""
        return part_slices(self.objectives)

    @property
    def loss_slices(self) -> list[slice]:
        """The columns each objective's loss term compares: its part, or all of the embedding (``scope="all"``)."""
        return [
            slice(None) if o.scope == "all" else part
            for o, part in zip(self.objectives, self.slices)
        ]

    def sample(self) -> IndexBatch:
        """Draw one step's indices: shared references and negatives, each objective's positives."""
        refs, negs = self._anchor.references_and_negatives()
        drawn = [sampler.positives(refs) for sampler in self.samplers]
        (pos, order), more = drawn[0], drawn[1:]
        return IndexBatch(refs, pos, negs, order, None, more)


def _with_columns(session: SessionData, columns: tuple[int, ...] | None) -> SessionData:
    """``session`` whose continuous behaviour is only ``columns`` (all of it for ``None``)."""
    if columns is None or session.behaviour is None:
        return session
    index = torch.as_tensor(columns, dtype=torch.long, device=session.behaviour.device)
    return dataclasses.replace(session, behaviour=session.behaviour[:, index])

"""One training run of :class:`neuroembed.Estimator`: what it is built from, and the loop that runs it.

:func:`prepare` turns validated data and the estimator's settings into a :class:`Training`: the recordings on the
device, the encoder (one input layer per session, a shared trunk), the loss module, the sampler, the
:class:`~neuroembed.solver.ContrastiveSolver`, the optimiser and, with early stopping, the held-out loss.
:func:`run` trains it for a range of iterations, with validation and checkpoints. The estimator keeps the settings
and the fitted state; everything between them lives here, so that ``fit``, ``partial_fit`` and ``adapt`` share it.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning

from neuroembed import _pynapple as PN
from neuroembed import _validation as V
from neuroembed._early_stopping import EarlyStopping, HeldOutLoss, n_held_out
from neuroembed._graphs import graphed_training
from neuroembed._optim import make_adam
from neuroembed.losses import InfoNCE, SupCon
from neuroembed.losses.jacobian import ramp_weight
from neuroembed.models import (
    MODELS,
    ConvEncoder,
    ModuleEncoder,
    MultiSessionEncoder,
    make_encoder,
    window_offsets,
)
from neuroembed.models.conv import host_tensor, set_output_parts
from neuroembed.sampling import (
    BEHAVIOUR_CONDITIONALS,
    ContrastiveSampler,
    Objective,
    ObjectiveSampler,
    SessionData,
)
from neuroembed.sampling.objectives import check_columns, check_objectives, part_slice, part_slices
from neuroembed.solver import (
    ContrastiveSolver,
    TrainResult,
    embed,
    flush_denormal,
    make_generators,
    resolve_device,
    train_loop,
)

__all__ = ["Training", "prepare", "run"]

#: The conditional of a fit with ``objectives``: each part has its own (see :mod:`neuroembed.sampling.objectives`).
OBJECTIVES = "objectives"
#: Adam rate of ``adapt``'s frozen-trunk phase. Chosen on seeds 5-9 of benchmarks/transfer.py's buddy -> achilles
#: setting among 3e-4 (the estimator's default, used before), 1e-3, 3e-3 and 1e-2; reported on seeds 0-4
#: (benchmarks/results/transfer.md).
ADAPT_LEARNING_RATE = 1e-2


def objectives_of(est: Any) -> list[Objective] | None:
    """``est.objectives`` parsed (``None`` for one objective on the whole embedding)."""
    return check_objectives(getattr(est, "objectives", None))


def embedding_dimension(est: Any) -> int:
    """The embedding's columns: the sum of the parts' ``dims`` with ``objectives``, else ``output_dimension``."""
    parts = objectives_of(est)
    return int(est.output_dimension) if parts is None else sum(o.dims for o in parts)


def parts_of(est: Any) -> dict[str, slice] | None:
    """Each part's columns of the embedding, by name (``None`` without ``objectives``)."""
    parts = objectives_of(est)
    if parts is None:
        return None
    return {o.name: part for o, part in zip(parts, part_slices(parts))}


def conditionals_of(est: Any, conditional: str) -> list[str]:
    """The conditionals a fit draws positives with: each part's with ``objectives``, else ``conditional``."""
    parts = objectives_of(est) if conditional == OBJECTIVES else None
    return [conditional] if parts is None else [o.conditional for o in parts]


#: Serialises the seeding of torch's global generator while encoders are built (see :func:`prepare`).
GLOBAL_RNG_LOCK = threading.Lock()


def receptive_field_of(est: Any) -> int:
    """The receptive field of ``est``'s encoder, read off a probe built without touching the caller's (or another
    thread's) draws from torch's global generator. A user's own model class is checked: the receptive field it
    declares must be the one its outputs depend on (:func:`measured_receptive_field`)."""
    with GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
        if isinstance(est.model, str):
            return int(MODELS[est.model](1).receptive_field)
        return check_custom_model(est, 2)


def class_path(cls: type) -> str:
    """``"module:QualifiedName"``, how a model file names a user's model class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def build_custom(est: Any, n_inputs: int) -> torch.nn.Module:
    """An instance of the user's model class, called as the built-in encoders are."""
    try:
        return est.model(
            n_inputs,
            est.num_hidden_units,
            embedding_dimension(est),
            normalize=est.distance == "cosine",
        )
    except TypeError as err:
        raise TypeError(
            f"model={est.model.__qualname__} could not be built as model(n_inputs, n_hidden, output_dimension, "
            f"normalize=...) ({err}); a model class takes these arguments, as neuroembed's encoders do."
        ) from None


def check_custom_model(est: Any, n_inputs: int) -> int:
    """Build the user's model class for ``n_inputs`` neurons and return its receptive field once the probe agrees
    with what it declares; ``ValueError`` naming both numbers where not."""
    name = est.model.__qualname__
    module = build_custom(est, n_inputs)
    declared = getattr(module, "receptive_field", None)
    if isinstance(declared, bool) or not isinstance(declared, (int, np.integer)) or declared < 1:
        raise TypeError(
            f"model={name} must declare its receptive field as an int attribute receptive_field >= 1 (the samples "
            f"one output row depends on); got {declared!r}."
        )
    measured, length, n_out = measured_receptive_field(
        module, n_inputs, int(declared), embedding_dimension(est), name
    )
    if measured != declared:
        padded = length - n_out + 1 < measured
        fix = (
            "its output rows depend on samples outside the window their count implies (padding?): remove the "
            "padding"
            if padded
            else f"declare receptive_field={measured}, or change the model"
        )
        raise ValueError(
            f"model={name} declares receptive_field={declared}, but a probe measured {measured}: an input of "
            f"{length} samples gives {n_out} output rows, and the first depends on the first {measured} samples; "
            f"{fix} ((batch, n_inputs, L) must map to (batch, output_dimension, L - receptive_field + 1))."
        )
    return int(declared)


def measured_receptive_field(
    module: torch.nn.Module, n_inputs: int, declared: int, output_dimension: int, name: str
) -> tuple[int, int, int]:
    """The receptive field of a convolutional module: from the length of its output, and from the input samples
    its first output row depends on (its gradient), whichever is larger. Returns it with the probe's input length
    and output rows."""
    length = declared + 7
    dtype = next((p.dtype for p in module.parameters()), torch.float32)
    x = torch.randn(2, n_inputs, length, dtype=dtype, requires_grad=True)
    out = module(x)
    if not isinstance(out, torch.Tensor) or out.ndim != 3 or out.shape[:2] != (2, output_dimension):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"model={name} maps an input of shape (2, {n_inputs}, {length}) to {shape}; expected (2, "
            f"{output_dimension}, {length} - receptive_field + 1)."
        )
    n_out = int(out.shape[2])
    if n_out < 1:
        return length + 1, length, n_out
    out[0, :, 0].sum().backward()
    touched = (x.grad[0].abs().sum(0) > 0).nonzero()
    span = int(touched.max()) + 1 if touched.numel() else 0
    return max(length - n_out + 1, span), length, n_out


def clipped_batch_size(
    batch_size: int, n_centres: list[int], multi: bool, *, stacklevel: int
) -> int:
    """``batch_size``, or the fewest window centres of a session where that is smaller, with a ``UserWarning``
    (scikit-learn's ``MLPRegressor`` clips its batches to the samples the same way). References are drawn with
    replacement, so a larger batch would work; it would only repeat samples within every batch."""
    fewest = min(n_centres)
    if batch_size <= fewest:
        return int(batch_size)
    where = f"the shortest of the {len(n_centres)} sessions" if multi else "the recording"
    warnings.warn(
        f"batch_size={batch_size} is larger than the {fewest} window centres of {where} (samples minus the "
        f"receptive field plus one); the batch is clipped to {fewest}. Pass batch_size <= {fewest} to silence "
        "this warning.",
        UserWarning,
        stacklevel=stacklevel + 1,
    )
    return int(fewest)


def uses_offset(conditionals: list[str], hybrid: bool) -> bool:
    """Whether positives depend on ``time_offset`` (time positives, or behaviour changes over it): with any of
    ``conditionals`` (the fit's one, or each part's with ``objectives``), or with ``hybrid``."""
    return any(c in ("time", "time_delta", "mixed") for c in conditionals) or hybrid


def is_sessions(X: Any) -> bool:
    """Whether ``X`` is a list of sessions: a list holding a 2-D array or a pynapple recording."""
    return (
        isinstance(X, list)
        and len(X) > 0
        and any(
            PN.kind(x) in ("TsdFrame", "Tsd", "TsGroup") or getattr(x, "ndim", None) == 2 for x in X
        )
    )


def refuse_wrapped_sessions(est: Any) -> None:
    """``set_output(transform="pandas")`` wraps one array in a DataFrame; a fit on several sessions returns a list of
    them, which it cannot wrap, so ``fit_transform`` refuses before it fits."""
    output = getattr(est, "_sklearn_output_config", {}).get(
        "transform", sklearn.get_config()["transform_output"]
    )
    if output != "default":
        raise ValueError(
            f"set_output(transform={output!r}) wraps one embedding, but fit_transform on a list of sessions returns a "
            "list of them (one per session); call fit, then transform(X[i], session=i) for each session."
        )


def unwrap(
    est: Any, X: Any, y: Any, epochs: Any = None
) -> tuple[Any, Any, list[Layout | None] | None, list[PN.Timed | None]]:
    """pynapple inputs as arrays (neural rows with their times; behaviour aligned to them) and ``epochs`` as the
    rows that may be drawn. Returns ``X`` and ``y`` with every pynapple object replaced, the per-session
    :class:`Layout` (``None`` where nothing restricts the draws) and each session's :class:`~neuroembed._pynapple.Timed`
    (``None`` for arrays). Anything else passes through to the checks of :mod:`neuroembed._validation`."""
    multi = is_sessions(X)
    xs = list(X) if multi else [X]
    if not any(PN.is_pynapple(x) for x in xs) and epochs is None:
        if any(PN.is_pynapple(b) for b in (y if multi and isinstance(y, list) else [y])):
            raise TypeError(
                "behaviour is a pynapple object but the neural data has no times to align it to; pass the neural "
                "data as a pynapple TsdFrame too, or both as arrays aligned row by row."
            )
        return X, y, None, [None] * len(xs)
    if multi and y is not None and not (isinstance(y, list) and len(y) == len(xs)):
        raise ValueError(
            f"neural is a list of {len(xs)} sessions, so behaviour must be None or a list of {len(xs)} behaviour "
            f"arrays; got {V.describe(y)}."
        )
    ys = list(y) if multi and y is not None else ([y] if not multi else [None] * len(xs))
    eps = list(epochs) if multi and isinstance(epochs, list) else [epochs] * len(xs)
    if len(eps) != len(xs):
        raise ValueError(
            f"epochs is a list of {len(eps)}, but there are {len(xs)} sessions; pass one per session or one for all."
        )
    out_x, out_y, layouts, timed = [], [], [], []
    for i, (x, b, ep) in enumerate(zip(xs, ys, eps)):
        name = f"neural[{i}]" if multi else "neural"
        rows = segment = None
        rec = None
        if PN.is_pynapple(x):
            rec = PN.neural(x, getattr(est, "bin_size", None), name)
            b = PN.align(b, rec, getattr(est, "behaviour_nan", "raise"))
            x = rec.values
            segment = rec.segment if rec.n_segments > 1 else None
            if ep is not None:
                rows = (
                    PN.in_epochs(rec.t, ep)
                    if PN.kind(ep) == "IntervalSet"
                    else _row_mask(ep, len(x), i)
                )
        elif ep is not None:
            if PN.kind(ep) == "IntervalSet":
                raise TypeError(
                    f"epochs is a pynapple IntervalSet, but {name} has no times; pass the neural data as a "
                    "pynapple TsdFrame, or epochs as a boolean array with one entry per sample."
                )
            rows = _row_mask(ep, getattr(x, "shape", (len(x),))[0], i)
        out_x.append(x)
        out_y.append(b)
        timed.append(rec)
        layouts.append(None if rows is None and segment is None else Layout(rows, segment))
    if multi:
        return out_x, (None if y is None else out_y), layouts, timed
    return out_x[0], out_y[0], layouts, timed


def _row_mask(mask: Any, n: int, session: int) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.dtype != bool or arr.shape != (n,):
        raise TypeError(
            f"epochs must be a pynapple IntervalSet or a boolean array of shape ({n},) (one entry per sample of "
            f"session {session}); got {V.describe(mask)}."
        )
    if not arr.any():
        raise ValueError(f"epochs leaves no sample of session {session} to fit on.")
    return arr


def check_data(
    est: Any, X: Any, y: Any, conditional: str, receptive_field: int | None = None
) -> tuple[list[np.ndarray], list[V.Behaviour], bool, np.ndarray | None]:
    """:func:`neuroembed._validation.check_sessions` with what ``est`` and ``conditional`` ask of the data."""
    conds = conditionals_of(est, conditional)
    needs_continuous = any(c in BEHAVIOUR_CONDITIONALS for c in conds)
    needs_labels = any(c in ("discrete", "mixed") for c in conds) or est.criterion == "supcon"
    arrays, behaviours, multi, names = V.check_sessions(
        X,
        y,
        receptive_field=receptive_field_of(est) if receptive_field is None else receptive_field,
        needs_continuous=needs_continuous,
        needs_labels=needs_labels,
        conditional=conditional,
        behaviour_nan=getattr(est, "behaviour_nan", "raise"),
    )
    parts = objectives_of(est) if conditional == OBJECTIVES else None
    if parts is not None and needs_continuous:
        for cont, _ in behaviours:
            check_columns(parts, cont.shape[1])
    return arrays, behaviours, multi, names


@dataclass
class Training:
    """Everything one training run works with (built by :func:`prepare`)."""

    arrays: list[np.ndarray]
    behaviours: list[V.Behaviour]
    multi: bool
    device: torch.device
    generator: torch.Generator
    encoder: MultiSessionEncoder
    criterion: torch.nn.Module
    solver: ContrastiveSolver
    optimizer: torch.optim.Optimizer
    receptive_field: int
    num_negatives: int
    conditional: str
    feature_names: np.ndarray | None = None
    early_stopping: EarlyStopping | None = None
    held_out_loss: HeldOutLoss | None = None
    losses: list[torch.Tensor] = field(default_factory=list)
    batch_size: int = 0
    timed: list[PN.Timed | None] = field(default_factory=list)
    parts: dict[str, slice] | None = None
    #: Why the last run trained eagerly rather than from a CUDA graph (``None``: from a graph); see neuroembed._graphs
    graph_reason: str | None = "not trained yet"

    def loss_history(self) -> np.ndarray:
        """The losses of the iterations run so far (by :func:`run`)."""
        if not self.losses:
            return np.empty(0)
        return torch.stack(self.losses).double().cpu().numpy()


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """Move an array to the device once; through pinned memory (an asynchronous copy) on CUDA."""
    tensor = host_tensor(array)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def autocast(device: torch.device, precision: str) -> Any:
    """Mixed precision for the forward pass (``"float32"`` disables it)."""
    if precision == "float32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def session_view(encoder: Any, sessions: list[int]) -> torch.nn.Module:
    """``encoder`` restricted to ``sessions`` (a user's one-session module is its own view)."""
    return encoder if isinstance(encoder, ModuleEncoder) else SessionView(encoder, sessions)


class SessionView(torch.nn.Module):
    """Present some sessions of a multi-session encoder as a model of those sessions alone (for scoring and
    adapting)."""

    def __init__(self, encoder: MultiSessionEncoder, sessions: list[int]) -> None:
        super().__init__()
        self.stems = torch.nn.ModuleList([encoder.stems[s] for s in sessions])
        self.trunk = encoder.trunk
        self.receptive_field = encoder.receptive_field


def build_criterion(est: Any) -> torch.nn.Module:
    """The loss module ``est``'s settings describe (untrained: the initial temperature)."""
    if est.criterion == "supcon":
        return SupCon(temperature=est.temperature, distance=est.distance)
    return InfoNCE(
        temperature=est.temperature,
        distance=est.distance,
        learnable=est.temperature_mode == "learnable",
        min_temperature=min(est.min_temperature, est.temperature),
    )


def build_stems_and_trunk(est: Any, n_features: list[int]) -> MultiSessionEncoder | ModuleEncoder:
    """A fresh encoder for sessions of ``n_features`` neurons, drawn from torch's global generator as it is.

    A user's model class that is a :class:`~neuroembed.models.ConvEncoder` gets the built-ins' treatment (one
    input layer per session, a shared trunk); any other module is one session's :class:`ModuleEncoder`.
    """
    parts = objectives_of(est)
    encoder: MultiSessionEncoder | ModuleEncoder
    if not isinstance(est.model, str):
        modules = [build_custom(est, n) for n in n_features]
        if all(isinstance(m, ConvEncoder) for m in modules):
            encoder = MultiSessionEncoder(modules)
        elif len(modules) > 1:
            raise ValueError(
                f"model={est.model.__qualname__} is not a neuroembed.models.ConvEncoder, so it has no separate "
                f"input layer to give each of the {len(modules)} sessions; fit one session, or subclass ConvEncoder."
            )
        else:
            encoder = ModuleEncoder(
                modules[0],
                int(modules[0].receptive_field),
                embedding_dimension(est),
                est.distance == "cosine",
            )
    else:
        encoder = MultiSessionEncoder(
            [
                make_encoder(
                    est.model,
                    n,
                    est.num_hidden_units,
                    embedding_dimension(est),
                    normalize=est.distance == "cosine",
                )
                for n in n_features
            ]
        )
    if parts is not None:  # each part on its own sphere (with the cosine distance)
        set_output_parts(encoder, tuple(o.dims for o in parts))
    return encoder


def seeded_encoder(
    est: Any, n_features: list[int], seed: int, device: torch.device
) -> MultiSessionEncoder:
    """:func:`build_stems_and_trunk` with torch's global generator seeded by ``seed``, inside a fork so the caller's
    generator is left as it was; the lock keeps fits in several threads of one process (a threading backend, say)
    from seeding and drawing in between."""
    with (
        GLOBAL_RNG_LOCK,
        torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
    ):
        torch.manual_seed(seed)
        return build_stems_and_trunk(est, n_features)


@dataclass
class Layout:
    """Which rows of a session may be drawn, beyond its behaviour: ``rows`` (``fit(..., epochs=...)``; ``None``:
    all) and the contiguous ``segment`` of each row (a pynapple recording restricted to several epochs; ``None``:
    one segment)."""

    rows: np.ndarray | None = None
    segment: np.ndarray | None = None

    def head(self, n: int) -> Layout:
        return Layout(*(None if a is None else a[:n] for a in (self.rows, self.segment)))

    def tail(self, n: int) -> Layout:
        return Layout(*(None if a is None else a[n:] for a in (self.rows, self.segment)))


def drawable_rows(
    n: int, cont: np.ndarray | None, layout: Layout | None, left: int, right: int
) -> np.ndarray | None:
    """The rows of a session of ``n`` samples the sampler may draw (``None``: every window centre): behaviour
    known (a NaN row is missing), inside the epochs, and a window that stays in one segment."""
    ok = np.ones(n, dtype=bool)
    if cont is not None:
        ok &= ~np.isnan(cont).any(axis=1)
    if layout is not None and layout.rows is not None:
        ok &= layout.rows
    if layout is not None and layout.segment is not None:
        segment = layout.segment
        centres = np.arange(left, n - right + 1)
        inside = np.zeros(n, dtype=bool)
        inside[centres] = segment[centres - left] == segment[centres + right - 1]
        ok &= inside
    return None if ok.all() else ok


def session_data(
    arrays: list[np.ndarray],
    behaviours: list[V.Behaviour],
    receptive_field: int,
    device: torch.device,
    layouts: list[Layout] | None = None,
) -> tuple[list[SessionData], list[torch.Tensor]]:
    """The sampler's view of each session and its recording, on the device. Rows that must not be drawn (NaN
    behaviour under ``behaviour_nan="drop"``, outside the epochs, windows across a gap) are marked not ``valid``;
    NaN behaviour is replaced by zeros, so nothing downstream meets a NaN."""
    left, right = window_offsets(receptive_field)
    sessions, data = [], []
    layouts = layouts if layouts is not None else [None] * len(arrays)
    for a, (cont, disc), layout in zip(arrays, behaviours, layouts):
        data.append(to_device(a, device))
        valid = drawable_rows(a.shape[0], cont, layout, left, right)
        if cont is not None and valid is not None:
            cont = np.where(np.isnan(cont).any(axis=1)[:, None], np.float32(0.0), cont)
        segment = None if layout is None else layout.segment
        sessions.append(
            SessionData(
                n_samples=a.shape[0],
                left=left,
                right=right,
                behaviour=None if cont is None else to_device(cont, device),
                labels=None if disc is None else to_device(disc, device),
                valid=None if valid is None else to_device(valid, device),
                segment=None if segment is None else to_device(segment, device),
            )
        )
    return sessions, data


def build_solver(
    est: Any,
    conditional: str,
    sessions: list[SessionData],
    data: list[torch.Tensor],
    model: torch.nn.Module,
    criterion: torch.nn.Module,
    num_negatives: int,
    generator: torch.Generator,
    batch_size: int | None = None,
) -> ContrastiveSolver:
    """A sampler with ``est``'s positives and a solver of ``model`` on ``sessions``."""
    supcon = est.criterion == "supcon"
    sampler: ContrastiveSampler | ObjectiveSampler
    if conditional == OBJECTIVES:
        sampler = ObjectiveSampler(
            sessions,
            objectives_of(est) or [],
            batch_size=est.batch_size if batch_size is None else batch_size,
            num_negatives=num_negatives,
            time_offset=est.time_offset,
            delta=est.delta,
            generator=generator,
        )
        return ContrastiveSolver(model, criterion, sampler, data)
    sampler = ContrastiveSampler(
        sessions,
        conditional,
        batch_size=est.batch_size if batch_size is None else batch_size,
        num_negatives=0 if supcon else num_negatives,
        time_offset=est.time_offset,
        delta=est.delta,
        hybrid=est.hybrid,
        generator=generator,
    )
    return ContrastiveSolver(
        model,
        criterion,
        sampler,
        data,
        supcon_labels=[s.labels for s in sessions] if supcon else None,
    )


@contextlib.contextmanager
def held_out_context(est: Any, part: str) -> Any:
    """With early stopping, a sampler's refusal of a session names the ``part`` of it that it was built on (the
    training part or the held-out block), which is not the whole recording."""
    try:
        yield
    except ValueError as err:
        if not est.early_stopping:
            raise
        raise ValueError(
            f"early_stopping=True splits each session into a training part and a held-out validation block (its last "
            f"validation_fraction={est.validation_fraction:g}); in the {part}: {err} Change validation_fraction or "
            "the epochs, or set early_stopping=False."
        ) from None


def prepare(est: Any, X: Any, y: Any, *, epochs: Any = None, stacklevel: int = 2) -> Training:
    """Validate data and build everything a training run of ``est`` needs, in the order that fixes its seeds:
    the batch generator and the weights come from ``random_state``, then the seed of the held-out batches."""
    X, y, layouts, timed = unwrap(est, X, y, epochs)
    if objectives_of(est) is not None:
        conditional = OBJECTIVES
    else:
        conditional = V.resolve_conditional(
            est.conditional, X, y, criterion=est.criterion, hybrid=est.hybrid
        )
    conds = conditionals_of(est, conditional)
    receptive_field = receptive_field_of(est)
    arrays, behaviours, multi, names = check_data(est, X, y, conditional, receptive_field)
    device = resolve_device(est.device)
    rng, generator = make_generators(est.random_state, device)
    left, _ = window_offsets(receptive_field)
    offset = uses_offset(conds, est.hybrid)
    # with early stopping, training sees only each session's first part; the held-out blocks are separate arrays
    held_out = None
    train_arrays, train_behaviours, train_layouts = arrays, behaviours, layouts
    if est.early_stopping:
        train_arrays, train_behaviours, held_out = V.split_validation(
            arrays,
            behaviours,
            multi,
            receptive_field,
            n_val_of=n_held_out,
            fraction=float(est.validation_fraction),
            time_offset=est.time_offset,
            uses_offset=offset,
            mixed="mixed" in conds,
        )
        if layouts is not None:
            n_train = [a.shape[0] for a in train_arrays]
            train_layouts = [
                None if lay is None else lay.head(n) for lay, n in zip(layouts, n_train)
            ]
            held_out = (
                *held_out,
                [None if lay is None else lay.tail(n) for lay, n in zip(layouts, n_train)],
            )
    batch_size = clipped_batch_size(
        est.batch_size,
        [a.shape[0] - receptive_field + 1 for a in train_arrays],
        multi,
        stacklevel=stacklevel + 1,
    )
    # by default as many negatives as references: batch_size per session, as CEBRA draws them
    num_negatives = int(
        est.num_negatives if est.num_negatives is not None else batch_size * len(arrays)
    )
    for i, (a, (_, disc)) in enumerate(zip(train_arrays, train_behaviours)):
        V.warn_degenerate(
            a.shape[0] - receptive_field + 1,
            receptive_field,
            a.shape[0],
            disc,
            left,
            f" of session {i}" if multi else "",
            time_offset=est.time_offset,
            uses_offset=offset,
            uses_labels=any(c in ("discrete", "mixed") for c in conds),
            stacklevel=stacklevel + 1,
        )
    if multi and "mixed" in conds:
        V.check_shared_labels(
            [
                d[left : left + a.shape[0] - receptive_field + 1]
                for a, (_, d) in zip(train_arrays, train_behaviours)
            ]
        )
    sessions, data = session_data(
        train_arrays, train_behaviours, receptive_field, device, train_layouts
    )
    # the encoders' initial weights come from torch's process-wide generator, seeded from rng
    weight_seed = int(rng.integers(0, 2**63 - 1))
    encoder = seeded_encoder(est, [a.shape[1] for a in arrays], weight_seed, device).to(device)
    criterion = build_criterion(est).to(device)
    with held_out_context(est, "training part"):
        solver = build_solver(
            est,
            conditional,
            sessions,
            data,
            encoder,
            criterion,
            num_negatives,
            generator,
            batch_size,
        )
    optimizer = make_adam(
        list(encoder.parameters()) + list(criterion.parameters()), est.learning_rate
    )
    monitor: EarlyStopping | None = None
    loss_of_block: HeldOutLoss | None = None
    if held_out is not None:
        # seeded by a draw after every other use of rng: the weights and training batches do not depend on it
        val_arrays, val_behaviours = held_out[0], held_out[1]
        val_layouts = held_out[2] if len(held_out) > 2 else None
        val_sessions, val_data = session_data(
            val_arrays, val_behaviours, receptive_field, device, val_layouts
        )
        with held_out_context(est, "held-out validation block"):
            val_solver = build_solver(
                est,
                conditional,
                val_sessions,
                val_data,
                encoder,
                criterion,
                num_negatives,
                torch.Generator(device=device),
                batch_size,
            )
        held = loss_of_block = HeldOutLoss(val_solver, int(rng.integers(0, 2**63 - 1)))
        monitor = EarlyStopping(
            lambda: -held(),
            [encoder, criterion],
            n_iter_no_change=est.n_iter_no_change,
            tol=float(est.tol),
        )
    if est.compile:
        solver.compile()
    return Training(
        arrays,
        behaviours,
        multi,
        device,
        generator,
        encoder,
        criterion,
        solver,
        optimizer,
        receptive_field,
        num_negatives,
        conditional,
        names,
        monitor,
        loss_of_block,
        batch_size=batch_size,
        timed=timed,
        parts=parts_of(est),
    )


def run(
    est: Any,
    t: Training,
    start: int,
    stop: int,
    *,
    checkpoint: Callable[[int], None] | None = None,
    desc: str = "neuroembed fit",
) -> tuple[TrainResult, int, float]:
    """Train ``t`` from iteration ``start`` to ``stop`` (exclusive) under ``est``'s time budget, precision,
    validation and checkpoint settings; ``checkpoint(i)`` writes a checkpoint after iteration ``i``.

    Returns the loop's result, the iterations completed (counted from 0) and the seconds of the loop (with the
    last held-out evaluation). With early stopping, the best weights are restored.
    """
    monitor = t.early_stopping

    def after_step(i: int) -> str | None:
        halt = None
        if monitor is not None and (i + 1) % est.validation_every == 0:
            if monitor.update(i + 1):
                halt = "early_stopping"
        if checkpoint is not None and (i + 1) % est.checkpoint_every == 0 and i + 1 < stop:
            checkpoint(i + 1)
        return halt

    weight = float(getattr(est, "jacobian_weight", 0.0) or 0.0)
    ramp = getattr(est, "jacobian_ramp", None)

    def forward(i: int) -> torch.Tensor:
        loss = t.solver.loss()
        w = ramp_weight(i, weight, None if ramp is None else tuple(ramp)) if weight else 0.0
        if w > 0.0:
            loss = loss + w * t.solver.jacobian_penalty(
                t.solver.last_batch, estimate=est.jacobian_estimate, generator=t.generator
            )
        return loss

    t.encoder.train()
    with (
        flush_denormal(t.device),
        autocast(t.device, est.precision),
        graphed_training(est, t, forward) as graphed,
    ):

        def step(i: int) -> torch.Tensor:
            if graphed is None:
                loss = forward(i)
                t.losses.append(loss.detach())
            else:  # the graph's loss tensor is overwritten by the next replay: keep a copy
                loss = graphed(i)
                t.losses.append(loss.detach().clone())
            return loss

        result = train_loop(
            step,
            t.optimizer,
            stop,
            max_seconds=None if est.max_seconds is None else float(est.max_seconds),
            verbose=est.verbose,
            desc=desc,
            after_step=after_step,
            start_iteration=start,
            update=graphed is None,
        )
        n_iter = start + result.n_iterations
        seconds = result.seconds
        if monitor is not None:
            # score the final weights too when training ended between two evaluations, then keep the best
            if not monitor.iterations or monitor.iterations[-1] != n_iter:
                t0 = time.perf_counter()
                monitor.update(n_iter)
                seconds += time.perf_counter() - t0
            monitor.restore_best()
    t.encoder.eval()
    warn_if_diverged(est.distance, est.learning_rate, result.loss_history, start, stacklevel=4)
    return result, n_iter, seconds


#: A loss whose magnitude grows past this multiple of its first value (at least 1) is reported as diverged.
DIVERGENCE_FACTOR = 100.0


def warn_if_diverged(
    distance: str, learning_rate: float, losses: np.ndarray, start: int, *, stacklevel: int
) -> None:
    """A ``ConvergenceWarning`` when the losses of one run became non-finite or blew up (``DIVERGENCE_FACTOR``):
    with ``distance="euclidean"`` the embedding is not normalised and InfoNCE has no lower bound as it spreads out,
    so a rate that is too high sends it off (CEBRA 0.6.1 does the same at 1e-3 on ``attribution_manifold``)."""
    losses = np.asarray(losses, dtype=np.float64)
    if losses.size == 0:
        return
    bad = ~np.isfinite(losses)
    limit = DIVERGENCE_FACTOR * max(1.0, abs(losses[0]) if np.isfinite(losses[0]) else 1.0)
    bad |= np.abs(np.nan_to_num(losses, nan=0.0, posinf=0.0, neginf=0.0)) > limit
    if not bad.any():
        return
    i = int(np.argmax(bad))
    why = (
        "with distance='euclidean' the embedding is not normalised and the InfoNCE loss has no lower bound as it "
        "spreads out; lower learning_rate or use distance='cosine'"
        if distance == "euclidean"
        else "lower learning_rate"
    )
    warnings.warn(
        f"Training diverged: the loss was {losses[0]:.4g} at the first step of this run and {losses[i]:.4g} at "
        f"iteration {start + i} (learning_rate={learning_rate}); {why}.",
        ConvergenceWarning,
        stacklevel=stacklevel + 1,
    )


def adapt(
    est: Any,
    X: Any,
    y: Any,
    steps: tuple[Any, Any],
    rates: tuple[Any, Any],
    epochs: Any = None,
) -> tuple[MultiSessionEncoder, int, np.ndarray, float]:
    """The work of :meth:`Estimator.adapt`: a copy of the fitted encoder with a new input layer for ``X``, trained
    on ``X`` for ``steps = (iterations, finetune)`` steps, first with the trunk frozen, then with it, at
    ``rates = (learning_rate, finetune_learning_rate)`` (``None``: the estimator's rate). Returns the encoder, the
    new layer's neurons, the losses of both phases and their seconds."""
    (iterations, finetune), (learning_rate, finetune_learning_rate) = steps, rates
    iterations = V.check_positive_int(iterations, "iterations", minimum=0)
    finetune = V.check_positive_int(finetune, "finetune_iterations", minimum=0)
    learning_rate = V.check_positive_float(learning_rate, "learning_rate")
    finetune_learning_rate = (
        est.learning_rate
        if finetune_learning_rate is None
        else V.check_positive_float(finetune_learning_rate, "finetune_learning_rate")
    )
    if is_sessions(X):
        raise ValueError("adapt adds one recording at a time; call it once per session.")
    if isinstance(est.encoder_, ModuleEncoder):
        raise ValueError(
            f"adapt gives a new recording its own input layer; model={est.model.__qualname__} has none (it is not "
            "a neuroembed.models.ConvEncoder with a stem and a trunk)."
        )
    X, y, layouts, _ = unwrap(est, X, y, epochs)
    arrays, behaviours, _, _ = check_data(est, X, y, est.conditional_, est.receptive_field_)
    device = est.device_
    rng, generator = make_generators(est.random_state, device)
    n_new = arrays[0].shape[1]
    seed = int(rng.integers(0, 2**63 - 1))
    stem = seeded_encoder(est, [n_new], seed, device).stems[0].to(device)
    encoder = copy.deepcopy(est.encoder_)
    encoder.stems.append(stem)
    sessions, data = session_data(arrays, behaviours, est.receptive_field_, device, layouts)
    criterion = copy.deepcopy(est.criterion_).requires_grad_(False)
    batch_size = clipped_batch_size(
        est.batch_size, [arrays[0].shape[0] - est.receptive_field_ + 1], False, stacklevel=4
    )
    negatives = est.num_negatives if est.num_negatives is not None else batch_size
    view = SessionView(encoder, [len(encoder.stems) - 1])
    solver = build_solver(
        est, est.conditional_, sessions, data, view, criterion, negatives, generator, batch_size
    )
    losses, seconds = [], 0.0
    encoder.train()
    with flush_denormal(device), autocast(device, est.precision):
        phases = ((iterations, False, learning_rate), (finetune, True, finetune_learning_rate))
        for n_steps, trunk_trains, rate in phases:
            if n_steps == 0:
                continue
            encoder.trunk.requires_grad_(trunk_trains)
            params = list(stem.parameters())
            if trunk_trains:
                params += list(encoder.trunk.parameters())
            result = train_loop(
                lambda i: solver.loss(),
                make_adam(params, rate),
                n_steps,
                verbose=est.verbose,
                desc="neuroembed adapt",
            )
            losses.append(result.loss_history)
            seconds += result.seconds
            warn_if_diverged(est.distance, rate, result.loss_history, 0, stacklevel=3)
    encoder.trunk.requires_grad_(True)
    return encoder.eval(), n_new, np.concatenate(losses) if losses else np.empty(0), seconds


def fitted_attributes(
    t: Training, result: TrainResult, n_iter: int, seconds: float, history: np.ndarray
) -> dict[str, Any]:
    """The estimator's fitted attributes after run ``t`` (``history``: the losses of the iterations before it)."""
    cont = t.behaviours[0][0]
    monitor = t.early_stopping
    n_features = [a.shape[1] for a in t.arrays]
    out: dict[str, Any] = {
        "encoder_": t.encoder,
        "criterion_": t.criterion,
        "loss_history_": np.concatenate([history, result.loss_history]),
        "n_iter_": n_iter,
        "session_n_features_": n_features,
        "n_features_in_": n_features[0],
        "n_sessions_": len(n_features),
        "multisession_": t.multi,
        "receptive_field_": t.receptive_field,
        "num_negatives_": t.num_negatives,
        "batch_size_": t.batch_size,
        "temperature_": float(t.criterion.temperature),
        "behaviour_dimension_": None if cont is None else int(cont.shape[1]),
        "fit_seconds_": seconds,
        "device_": t.device,
        "interrupted_": result.interrupted,
        "stop_reason_": result.stop_reason,
        "conditional_": t.conditional,
        "parts_": t.parts,
        "validation_scores_": None,
        "validation_iterations_": None,
        "best_validation_score_": None,
        "best_iteration_": None,
        "adapt_loss_history_": None,
        # how the last run trained: "cuda-graph", or "eager" and why (neuroembed._graphs)
        "_training_path_": "cuda-graph" if t.graph_reason is None else f"eager ({t.graph_reason})",
        # what partial_fit continues from (the optimiser's moments and the batch generator)
        "_continuation_": {
            "optimizer": copy.deepcopy(t.optimizer.state_dict()),
            "generator": t.generator.get_state(),
        },
    }
    if monitor is not None:
        out["validation_scores_"] = np.asarray(monitor.scores, dtype=np.float64)
        out["validation_iterations_"] = np.asarray(monitor.iterations, dtype=np.int64)
        out["best_validation_score_"] = float(monitor.best_score)
        out["best_iteration_"] = monitor.best_iteration
    return out


def embed_session(est: Any, data: Any, session: int, chunk_size: int) -> np.ndarray:
    """Every sample of ``data`` through ``est``'s fitted session ``session`` (for :meth:`Estimator.transform`)."""
    encoder = est.encoder_
    module = isinstance(encoder, ModuleEncoder)
    with flush_denormal(est.device_):
        return embed(
            None if module else encoder.stems[session],
            encoder if module else encoder.trunk,
            data,
            est.receptive_field_,
            est.device_,
            chunk_size=chunk_size,
            verbose=est.verbose,
        )


def score(
    est: Any,
    a: np.ndarray,
    behaviour: V.Behaviour,
    session: int,
    n_batches: int,
    layout: Layout | None = None,
) -> float:
    """Minus the mean loss of ``n_batches`` batches of recording ``a``, seeded with 0 (:meth:`Estimator.score`)."""
    R = est.receptive_field_
    n_valid = a.shape[0] - R + 1
    if n_valid < 2:
        raise ValueError(
            f"score needs at least two windows of the receptive field ({R} samples) to draw a positive pair; "
            f"got {a.shape[0]} samples. Pass at least {R + 1} samples."
        )
    solver = scoring_solver(est, a, behaviour, session, n_valid, layout)
    with torch.no_grad(), flush_denormal(est.device_):
        losses = [float(solver.loss()) for _ in range(n_batches)]
    return -float(np.mean(losses))


def scoring_solver(
    est: Any,
    a: np.ndarray,
    behaviour: V.Behaviour,
    session: int,
    n_valid: int,
    layout: Layout | None = None,
) -> ContrastiveSolver:
    """A solver of ``est``'s fitted session ``session`` on recording ``a``, its batches seeded with 0 (for
    :meth:`Estimator.score`)."""
    device = est.device_
    sessions, data = session_data([a], [behaviour], est.receptive_field_, device, [layout])
    generator = torch.Generator(device=device)
    generator.manual_seed(0)
    return build_solver(
        est,
        est.conditional_,
        sessions,
        data,
        session_view(est.encoder_, [session]),
        est.criterion_,
        min(est.num_negatives_, n_valid),
        generator,
        batch_size=min(est.batch_size, n_valid),
    )


# ---------------------------------------------------------------------------------------------------------------------
# what the fitted estimator's methods share
# ---------------------------------------------------------------------------------------------------------------------
def continue_fitted(est: Any, t: Training) -> None:
    """Make run ``t`` continue ``est``'s fit (for ``partial_fit``): the same sessions, conditional and neurons per
    session, the fitted weights and temperature, and the optimiser state and batch generator where the last run
    left them."""
    if len(t.arrays) != est.n_sessions_ or t.conditional != est.conditional_:
        raise ValueError(
            f"partial_fit continues the fitted model of {est.n_sessions_} session(s) and conditional "
            f"{est.conditional_!r}; got {len(t.arrays)} and {t.conditional!r}."
        )
    for s, a in enumerate(t.arrays):  # the same neurons (adapt takes a recording of others)
        V.check_n_features(a, est.session_n_features_[s], t.multi, s)
    # the fit's column names, which a DataFrame given now must repeat (an array keeps them)
    fitted_names = getattr(est, "feature_names_in_", None)
    V.check_same_names(t.feature_names, fitted_names)
    t.feature_names = fitted_names
    for module, fitted in ((t.encoder, est.encoder_), (t.criterion, est.criterion_)):
        try:
            module.load_state_dict(fitted.state_dict())
        except RuntimeError:
            raise ValueError(
                f"partial_fit continues the fitted model, but the settings now build another "
                f"{type(module).__name__} ({mismatch(fitted.state_dict(), module.state_dict())}); set back the "
                "settings that shape it (model, output_dimension, num_hidden_units, temperature_mode, objectives, "
                "criterion) as they were in fit, or call fit to start anew."
            ) from None
    state = getattr(est, "_continuation_", None)
    if state is not None:
        t.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        t.generator.set_state(state["generator"])


def mismatch(fitted: dict[str, torch.Tensor], built: dict[str, torch.Tensor]) -> str:
    """The first difference between the state dict of the ``fitted`` module and that of the one ``built`` now."""
    for key, value in fitted.items():
        if key not in built:
            return f"the fitted one has {key}, the new one has not"
        if tuple(value.shape) != tuple(built[key].shape):
            return f"{key} has shape {tuple(value.shape)} in the fitted one, {tuple(built[key].shape)} now"
    extra = next((key for key in built if key not in fitted), None)
    if extra is None:
        return "their parameters differ"
    return f"the new one has {extra}, the fitted one has not"


def transform(est: Any, X: Any, session: int, chunk_size: int, part: str | None) -> Any:
    """``est.transform``: pynapple in and out, a recording of several segments embedded segment by segment (each
    edge-padded at its own ends), and one part's columns with ``part``."""
    chunk_size = V.check_positive_int(chunk_size, "chunk_size")
    columns = None if part is None else part_slice(getattr(est, "parts_", None), part)
    timed = None
    if PN.is_pynapple(X):
        timed = PN.neural(X, est.bin_size)
        X = timed.values
    names = getattr(est, "feature_names_in_", None)
    data = V.check_transform_input(
        X, est.session_n_features_[session], names, est.n_sessions_ > 1, session
    )
    if timed is None or timed.n_segments < 2:
        embedding = embed_session(est, data, session, chunk_size)
    else:
        cuts = np.flatnonzero(np.diff(timed.segment)) + 1
        embedding = np.concatenate(
            [embed_session(est, block, session, chunk_size) for block in np.split(data, cuts)]
        )
    if columns is not None:
        embedding = embedding[:, columns]
    if timed is None:
        return embedding
    names = feature_names_out(est)
    return PN.as_tsdframe(embedding, timed, names if columns is None else names[columns])


def feature_names_out(est: Any) -> np.ndarray:
    """The embedding's column names: ``dim0``, ... or, with ``objectives``, each part's name numbered."""
    parts = getattr(est, "parts_", None)
    if parts is None:
        return np.asarray(
            [f"dim{i}" for i in range(int(est.encoder_.output_dimension))], dtype=object
        )
    names = [f"{name}{i}" for name, cols in parts.items() for i in range(cols.stop - cols.start)]
    return np.asarray(names, dtype=object)

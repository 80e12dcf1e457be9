"""The training machinery: device choice, the optimisation loop, and the contrastive step for neural data.

Nothing here knows about scikit-learn. :func:`train_loop` is shared by the neural estimator and the image methods in
:mod:`neuroembed.ssl`; :class:`ContrastiveSolver` turns sampled indices into a loss for recordings that are resident on
the device; :func:`embed` runs a whole recording (an array or a streamed HDF5 dataset) through an encoder.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from neuroembed._custom_paths import custom_paths_on
from neuroembed.losses.jacobian import jacobian_penalty
from neuroembed.models.conv import conv_channels_last, host_tensor, padded_rows
from neuroembed.models.sparse import SparseRecording, conv_sparse_recording
from neuroembed.models.time_major import (
    conv_time_major,
    supports_time_major,
    trunk_time_major,
    whole_shrink,
)
from neuroembed.sampling import ContrastiveSampler, IndexBatch, ObjectiveSampler

__all__ = [
    "DEVICES",
    "TrainingDivergedError",
    "TrainResult",
    "resolve_device",
    "make_generators",
    "flush_denormal",
    "train_loop",
    "ContrastiveSolver",
    "embed",
]

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")

_INITIAL_BUFFER = 4096  # losses kept on the device before the history buffer first grows


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite; the message names the iteration."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` into an available :class:`torch.device`.

    ``"auto"`` picks CUDA when present, else the CPU. Asking for a device that does not exist raises ``ValueError``.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as {list(DEVICES)}; got {device!r}.")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"device={device!r} is not a valid device; choose one of {list(DEVICES)}."
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was asked for, but CUDA is not available on this machine; use 'cpu' or 'auto'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)."
            )
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(
                "device='mps' was asked for, but MPS is not available on this machine; use 'cpu' or 'auto'."
            )
    elif dev.type != "cpu":
        raise ValueError(f"device={device!r} is not supported; choose one of {list(DEVICES)}.")
    return dev


def make_generators(
    random_state: Any, device: torch.device
) -> tuple[np.random.Generator, torch.Generator]:
    """A numpy Generator and a torch Generator on ``device``, both derived from ``random_state``.

    ``random_state`` may be None (fresh entropy), an int, or a :class:`numpy.random.Generator`/``RandomState``.

    Examples
    --------
    >>> rng, gen = make_generators(0, torch.device("cpu"))
    >>> gen.initial_seed() == make_generators(0, torch.device("cpu"))[1].initial_seed()
    True
    """
    if isinstance(random_state, np.random.RandomState):
        rng = np.random.default_rng(random_state.randint(0, 2**31 - 1))
    elif isinstance(random_state, (np.random.Generator, type(None))) or (
        isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)
    ):
        rng = np.random.default_rng(random_state)
    else:
        raise TypeError(
            f"random_state must be None, an int or a numpy Generator; got {random_state!r}."
        )
    gen = torch.Generator(device=device)
    gen.manual_seed(int(rng.integers(0, 2**63 - 1)))
    return rng, gen


@contextlib.contextmanager
def flush_denormal(device: torch.device) -> Iterator[None]:
    """Flush denormal floats to zero on the CPU while training (denormal arithmetic can slow a step several-fold).

    Restores the default (off) afterwards. No effect on other devices.
    """
    enabled = device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if enabled:
            torch.set_flush_denormal(False)


@dataclass
class TrainResult:
    """What :func:`train_loop` did."""

    loss_history: np.ndarray
    n_iterations: int
    seconds: float
    interrupted: bool
    #: Why the loop ended: ``"max_iterations"``, ``"max_seconds"``, ``"interrupted"`` (``KeyboardInterrupt``), or the
    #: string that ``after_step`` returned to stop it.
    stop_reason: str = "max_iterations"


def train_loop(
    step: Callable[[int], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    max_iterations: int,
    *,
    max_seconds: float | None = None,
    verbose: bool = False,
    desc: str = "fit",
    after_step: Callable[[int], str | None] | None = None,
    log_every: int = 50,
    start_iteration: int = 0,
    update: bool = True,
) -> TrainResult:
    """Run ``optimizer`` on the loss returned by ``step(i)`` for iterations ``start_iteration .. max_iterations - 1``.

    Parameters
    ----------
    step : callable
        ``step(i) -> scalar loss tensor`` (forward only; the loop does ``zero_grad``, ``backward`` and ``step``).
    optimizer : torch.optim.Optimizer
    max_iterations : int
        Index one past the last iteration.
    max_seconds : float, optional
        Wall-clock budget in seconds, ``after_step`` included; the loop stops after the iteration that exceeds it
        (``stop_reason="max_seconds"``).
    verbose : bool
        Show a tqdm progress bar with the current loss.
    after_step : callable, optional
        ``after_step(i)`` after each optimiser step (EMA updates, queues, checkpoints, validation). Returning a
        string stops the loop after iteration ``i``; the string becomes ``TrainResult.stop_reason`` (for example
        ``"early_stopping"``). Returning ``None`` goes on.
    log_every : int
        Iterations between host synchronisations on accelerators (loss read-out, NaN check, progress text). On the
        CPU, where reading a value costs nothing, every iteration is checked.
    start_iteration : int
        First iteration (when resuming).
    update : bool
        Whether the loop runs ``zero_grad``, ``backward`` and the optimiser's step on ``step``'s loss; ``False`` when
        ``step`` updates the model itself (a step replayed from a CUDA graph, :mod:`neuroembed._graphs`).

    Returns
    -------
    TrainResult
        ``loss_history`` holds one loss per iteration run. A ``KeyboardInterrupt`` stops the loop with a warning and
        ``interrupted=True``; the model keeps the iterations done so far. ``stop_reason`` says why the loop ended.

    Raises
    ------
    TrainingDivergedError
        If the loss becomes NaN or infinite (the message names the iteration).
    """
    total = max_iterations - start_iteration
    first_param = next((p for g in optimizer.param_groups for p in g["params"]), None)
    on_cpu = first_param is None or first_param.device.type == "cpu"
    sync_every = 1 if on_cpu else max(1, log_every)
    # the losses stay on the device until the end; the buffer grows by doubling, so a large max_iterations that a
    # time budget cuts short allocates only what is used
    buffer = torch.zeros(
        max(min(total, _INITIAL_BUFFER), 0),
        device=first_param.device if first_param is not None else "cpu",
    )
    done = checked = 0
    interrupted = False
    stop_reason = "max_iterations"
    t0 = time.perf_counter()
    bar = tqdm(total=total, desc=desc, disable=not verbose, leave=False, dynamic_ncols=True)
    try:
        for i in range(start_iteration, max_iterations):
            loss = step(i)
            if update:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            if done == buffer.shape[0]:
                buffer = torch.cat([buffer, torch.zeros_like(buffer)])
            buffer[done] = loss.detach()
            done += 1
            asked = after_step(i) if after_step is not None else None
            bar.update(1)
            last = i == max_iterations - 1
            if done % sync_every == 0 or last or asked is not None:
                _check_finite(buffer[checked:done], start_iteration + checked)
                checked = done
                if verbose and done % max(1, log_every) == 0:
                    bar.set_postfix(loss=f"{float(buffer[done - 1]):.4f}")
            if asked is not None:
                stop_reason = asked
                break
            if not last and max_seconds is not None and time.perf_counter() - t0 >= max_seconds:
                stop_reason = "max_seconds"
                break
    except KeyboardInterrupt:
        interrupted = True
        stop_reason = "interrupted"
        warnings.warn(
            f"{desc} interrupted after {done} of {total} iterations; the model keeps the iterations done so far.",
            RuntimeWarning,
            stacklevel=2,
        )
    finally:
        bar.close()
    history = buffer[:done].cpu().numpy().astype(np.float64)
    _check_finite(torch.from_numpy(history), start_iteration)
    return TrainResult(history, done, time.perf_counter() - t0, interrupted, stop_reason)


def _check_finite(losses: torch.Tensor, start_iteration: int) -> None:
    bad = ~torch.isfinite(losses)
    if bool(bad.any()):
        first = int(bad.nonzero()[0, 0]) + start_iteration
        value = float(losses[first - start_iteration])
        if (
            first == 0
        ):  # before any update: the model's output is not finite, whatever the learning rate
            raise TrainingDivergedError(
                f"the loss was {value} at the first iteration, before any weight was updated; training stopped. "
                "The encoder's output is not finite on this data: check the input scaling and a custom model's "
                "forward (a lower learning rate cannot help here)."
            )
        raise TrainingDivergedError(
            f"the loss became {value} at iteration {first}; training stopped. "
            "Lower the learning rate, raise the temperature (or its minimum), or check the input scaling."
        )


class ContrastiveSolver:
    """One contrastive training step on recordings resident on the device.

    Parameters
    ----------
    model : MultiSessionEncoder
        One stem per session, shared trunk (a single session is a one-stem model).
    criterion : nn.Module
        ``criterion(anchor, positive, negatives)`` (InfoNCE), or ``criterion(features, labels)`` when
        ``supcon_labels`` is given.
    sampler : ContrastiveSampler or ObjectiveSampler
        With an :class:`~neuroembed.sampling.ObjectiveSampler`, the loss is the sum of one term per objective, each
        with its own positives, on the columns it compares (its ``loss_slices``).
    data : list of Tensor (n_samples_s, n_neurons_s)
        Each session's neural data, already on the device.
    supcon_labels : list of Tensor (n_samples_s,), optional
        Labels for the SupCon criterion: every same-label sample in the batch is a positive.
    """

    def __init__(
        self,
        model: nn.Module,
        criterion: nn.Module,
        sampler: ContrastiveSampler | ObjectiveSampler,
        data: list[torch.Tensor],
        *,
        supcon_labels: list[torch.Tensor] | None = None,
    ) -> None:
        self.model = model
        self.criterion = criterion
        self.sampler = sampler
        self.supcon_labels = supcon_labels
        # the parts of the embedding, each with its own loss term (an ObjectiveSampler's), or one loss on all of it
        self.slices: list[slice] | None = getattr(sampler, "loss_slices", None)
        self.left = sampler.sessions[0].left
        R = model.receptive_field
        # a user's own module (no stem/trunk split): windows through its forward
        self._module = None if hasattr(model, "trunk") else model
        if self._module is not None:
            self._data = data
            self._time_major = False
            self._window_rows = torch.arange(R, device=data[0].device)
            return
        self._trunk_forward = model.trunk.forward_channels_last
        self._time_major = supports_time_major(model.trunk)
        self._data = data
        self._sparse: dict[int, SparseRecording | None] = {}
        dev = data[0].device
        # the hand-written paths (time-major layout, whole-recording first layer, the trunk's own backward) where
        # they are on (the CPU by default); elsewhere the modules' own forward (see neuroembed._custom_paths)
        self._custom_paths = custom_paths_on(dev)
        self._window_rows = torch.arange(R, device=dev)
        # row offsets of a window's samples relative to its first, (receptive field, 1): time-major
        self._window = torch.arange(R, device=dev)[:, None]
        # the length of each session's first-layer output per window, and its row offsets
        self._stem_length = [R - stem.kernel_size[0] + 1 for stem in model.stems]
        self._time = [torch.arange(length, device=dev)[:, None] for length in self._stem_length]

    #: The first layer is applied to the whole recording, then gathered per window, when the recording has fewer
    #: samples than this fraction of the rows the windows of a step read: the product is then smaller than the
    #: window-by-window product, and samples shared by several windows are multiplied once.
    whole_recording_fraction = 0.8

    def _whole(self, s: int, n_windows: int) -> bool:
        """Whether session ``s``'s first layer runs over its whole recording for ``n_windows`` windows."""
        rows_read = n_windows * self._stem_length[s]
        return self._data[s].shape[0] < self.whole_recording_fraction * rows_read

    #: The first layer runs over a whole recording as sparse products (:mod:`neuroembed.models.sparse`) on the CPU
    #: when at most this fraction of the recording's entries are not zero (binned spike counts: a few percent).
    #: The sparse products cost in proportion to the non-zero entries, the dense ones to all; on a 2-core CPU they
    #: break even at about 20 % (the *sparse* part of ``benchmarks/speed.py``).
    max_sparse_density = 0.1

    def _sparse_recording(self, s: int) -> SparseRecording | None:
        """Session ``s``'s recording in sparse form, if it is sparse enough and on the CPU (made once, when first
        asked for: only short recordings run the first layer over all of it)."""
        if s not in self._sparse:
            data = self._data[s]
            sparse = (
                data.device.type == "cpu"
                and data.dtype in (torch.float32, torch.float64)
                and SparseRecording.density_of(data) <= self.max_sparse_density
            )
            self._sparse[s] = SparseRecording(data) if sparse else None
        return self._sparse[s]

    def _blocks_on_whole(self, n_windows: int) -> int:
        """Residual blocks that run over the whole (single-session) recording for ``n_windows`` windows: each one
        whose input rows over all windows outnumber the recording's samples (by :attr:`whole_recording_fraction`),
        the same rule as for the first layer. The windows shorten from block to block, so these are the first
        blocks; on a short recording all of them, and each window's embedding is then one row of the output."""
        n, length, count = self._data[0].shape[0], self._stem_length[0], 0
        for block in self.model.trunk.blocks:
            if n >= self.whole_recording_fraction * n_windows * length:
                break
            length -= block.shrink
            count += 1
        return count

    def _whole_recording_stem(self, s: int) -> torch.Tensor:
        """The first layer over session ``s``'s whole recording, ``(n - k + 1, 1, out)`` (time-major, one sequence)."""
        stem = self.model.stems[s]
        data = self._data[s]
        sparse = self._sparse_recording(s)
        if sparse is not None and not torch.is_autocast_enabled(data.device.type):
            return conv_sparse_recording(sparse, stem.weight, stem.bias)[:, None, :]
        # one product per kernel tap on views of the data
        return conv_time_major(data[:, None, :], stem.weight, stem.bias)

    def _stem(self, s: int, start: torch.Tensor, activate: bool) -> torch.Tensor:
        """The first layer's output ``(length, n_windows, out)`` (time-major) for windows starting at ``start``.

        With ``activate``, the trunk's first GELU is applied too. When the first layer runs over the whole
        recording, so does the GELU (it commutes with cutting out the windows), and the windows are gathered from
        its output.
        """
        stem, data, length = self.model.stems[s], self._data[s], self._stem_length[s]
        n_windows = start.shape[0]
        if self._whole(s, n_windows):
            h = self._whole_recording_stem(s)[:, 0]
            if activate:
                h = F.gelu(h)
            rows = start + self._time[s]  # (length, n_windows)
            return torch.index_select(h, 0, rows.reshape(-1)).view(length, n_windows, -1)
        # each window's samples, time-major (window length, n_windows, channels), then one product per kernel tap
        # on views of them: half the rows an im2col copy (length x kernel) would gather
        rows = start + self._window
        windows = torch.index_select(data, 0, rows.reshape(-1)).view(rows.shape[0], n_windows, -1)
        out = conv_time_major(windows, stem.weight, stem.bias)
        return F.gelu(out) if activate else out

    def compile(self) -> None:
        """Compile the shared trunk with :func:`torch.compile` (one-off cost at the first step)."""
        if self._module is not None:
            self._module = torch.compile(self._module, dynamic=False)
            return
        self._trunk_forward = torch.compile(self.model.trunk.forward_channels_last, dynamic=False)
        self._time_major = False

    def encode(self, indices: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        """Embed groups of sample indices in one fused forward pass.

        ``indices[s]`` is a list of index tensors for session ``s``; returns, for each group position ``g``, the
        embeddings of all sessions' ``indices[s][g]`` concatenated over sessions.

        The windows are gathered straight from the resident recording, time-major (one ``index_select``), and
        each session's stem is one matrix product per kernel tap on views of them. On a recording shorter than the
        rows a step reads (see :attr:`whole_recording_fraction`), the stem and the first GELU are instead applied
        once to every sample (as sparse products for sparse spike counts, see :attr:`max_sparse_density`) and the
        windows cut out of their output; with one session, so do the residual blocks whose rows over all windows
        outnumber the samples (all of them on a short recording: each window is then one row of the trunk's
        output, and the wide encoders cost little more per step than the narrow ones). The shared trunk runs once on the hidden activations of every session together: time-major with its
        hand-written backward (:mod:`neuroembed.models.time_major`), or through the module's own forward under
        autocast, when compiled, and for MLP encoders. Where neuroembed's custom paths are off (by default on every
        device but the CPU, see :mod:`neuroembed._custom_paths`), all of it runs through the modules' own forward
        and autograd instead (windows gathered channels-last, as ``transform`` runs them).
        """
        if self._module is not None:
            return self._encode_module(indices)
        if not self._custom_paths:
            return self._encode_modules(indices)
        time_major = self._time_major and not torch.is_autocast_enabled(self._data[0].device.type)
        trunk = self.model.trunk
        sizes = [[len(g) for g in groups] for groups in indices]
        n_sessions = len(indices)
        if time_major and n_sessions == 1 and self._whole(0, sum(sizes[0])):
            # one short recording: the first layer, its GELU and the first residual blocks run once over all of
            # it, and the trunk cuts the windows out of that
            n_whole = self._blocks_on_whole(sum(sizes[0]))
            start = torch.cat(indices[0]) - self.left
            rows = start + self._time[0][: self._stem_length[0] - whole_shrink(trunk, n_whole)]
            out = trunk_time_major(trunk, self._whole_recording_stem(0), rows=rows, n_whole=n_whole)
        else:
            hidden = [
                self._stem(s, torch.cat(groups) - self.left, activate=time_major)
                for s, groups in enumerate(indices)
            ]
            h = hidden[0] if n_sessions == 1 else torch.cat(hidden, dim=1)
            if time_major:
                out = trunk_time_major(trunk, h, activated=True)
            else:  # under autocast, compiled, or an MLP: the module's own channels-last forward
                out = self._trunk_forward(h.transpose(0, 1).contiguous())
        out = out.squeeze(0) if time_major else out.squeeze(1)
        # float32 from here on, also under autocast: the loss's log-sum-exp wants the precision
        return _groups(out.float(), sizes)

    def _encode_modules(self, indices: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        """:meth:`encode` through the modules' own channels-last forward and autograd, as ``transform`` runs them:
        each session's windows ``(n_windows, receptive field, channels)`` through its first layer, then the shared
        trunk once on all of them. The path where the custom paths are off (by default every device but the CPU)."""
        sizes = [[len(g) for g in groups] for groups in indices]
        hidden = []
        for s, groups in enumerate(indices):
            start = torch.cat(groups) - self.left
            rows = (start[:, None] + self._window_rows).reshape(-1)
            windows = torch.index_select(self._data[s], 0, rows).view(
                start.shape[0], -1, self._data[s].shape[1]
            )
            hidden.append(conv_channels_last(windows, self.model.stems[s]))
        h = hidden[0] if len(hidden) == 1 else torch.cat(hidden)
        return _groups(self._trunk_forward(h).squeeze(1).float(), sizes)

    def _encode_module(self, indices: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        """:meth:`encode` for a user's module of one session: its forward on the windows, channels first."""
        groups = indices[0]
        start = torch.cat(groups) - self.left
        windows = self._data[0][start[:, None] + self._window_rows]  # (n, R, C)
        out = self._module(windows.transpose(1, 2))[..., 0].float()
        return list(torch.split(out, [len(g) for g in groups]))

    def loss(
        self, batch: IndexBatch | None = None, *, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Draw a batch (unless given) and return its loss (forward only).

        Parameters
        ----------
        batch : IndexBatch, optional
            The indices to use; default a fresh draw of the sampler.
        rows : Tensor of shape (n_rows,), optional
            Which reference/positive pairs count, as positions in the references concatenated over sessions (the
            negatives are kept whole); default all. The held-out loss of early stopping leaves out the pairs whose
            positive is the reference itself.
        """
        if batch is None:
            batch = self.sampler.sample()
        self.last_batch = batch
        more = batch.more_positives or []
        groups = [[r, p, n] for r, p, n in zip(batch.reference, batch.positive, batch.negative)]
        for positives, _ in more:
            for g, p in zip(groups, positives):
                g.append(p)
        if batch.time_positive is not None:
            for g, t in zip(groups, batch.time_positive):
                g.append(t)
        embedded = self.encode(groups)
        ref, neg = embedded[0], embedded[2]
        # every set of positives lined up with the references: the first objective's, the others', hybrid's
        pos = [embedded[1], *embedded[3 : 3 + len(more)]]
        orders = [batch.positive_order, *(order for _, order in more)]
        pos = [p if order is None else p[order] for p, order in zip(pos, orders)]
        time_pos = embedded[3 + len(more)] if batch.time_positive is not None else None
        if rows is not None:
            ref, pos = ref[rows], [p[rows] for p in pos]
            time_pos = None if time_pos is None else time_pos[rows]
        if self.supcon_labels is not None:
            ref_labels = torch.cat([lab[r] for lab, r in zip(self.supcon_labels, batch.reference)])
            pos_labels = torch.cat([lab[p] for lab, p in zip(self.supcon_labels, batch.positive)])
            if batch.positive_order is not None:
                pos_labels = pos_labels[batch.positive_order]
            if rows is not None:
                ref_labels, pos_labels = ref_labels[rows], pos_labels[rows]
            return self.criterion(torch.cat([ref, pos[0]]), torch.cat([ref_labels, pos_labels]))
        if (
            self.slices is not None
        ):  # one term per part of the embedding, each with its own positives
            terms = [
                self.criterion(ref[:, part], p[:, part], neg[:, part])
                for part, p in zip(self.slices, pos)
            ]
            return torch.stack(terms).sum()
        loss = self.criterion(ref, pos[0], neg)
        if time_pos is not None:
            loss = loss + self.criterion(ref, time_pos, neg)
        return loss

    def jacobian_penalty(
        self, batch: IndexBatch, *, estimate: str, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The Jacobian penalty (:func:`neuroembed.losses.jacobian_penalty`) of the encoder at ``batch``'s reference
        windows, each session's through its own input layer, averaged over all references.

        The windows go through the module's own forward (not the time-major fast path, whose hand-written backward
        cannot be differentiated twice), so a regularised step costs more than a plain one.
        """
        R = int(self.model.receptive_field)
        offsets = torch.arange(R, device=self._data[0].device)
        total = None
        n = 0
        for s, ref in enumerate(batch.reference):
            windows = self._data[s][(ref - self.left)[:, None] + offsets]  # (B, R, C)
            x = windows.transpose(1, 2).to(next(self.model.parameters()).dtype)

            def f(w: torch.Tensor, s: int = s) -> torch.Tensor:
                return self.model(w, session=s)[..., 0].float()

            term = jacobian_penalty(f, x, estimate=estimate, generator=generator) * ref.shape[0]
            total = term if total is None else total + term
            n += ref.shape[0]
        return total / n


def _groups(out: torch.Tensor, sizes: list[list[int]]) -> list[torch.Tensor]:
    """Split embeddings ``out``, all sessions' groups in order (session 0's groups, then session 1's, ...), into one
    tensor per group position, concatenated over sessions (``sizes[s][g]``: rows of session ``s``'s group ``g``)."""
    if len(sizes) == 1:  # one session: no copies, the groups are views of the output
        return list(torch.split(out, sizes[0]))
    per_session = torch.split(out, [sum(sz) for sz in sizes])
    parts = [torch.split(e, sz) for e, sz in zip(per_session, sizes)]
    return [torch.cat([p[g] for p in parts]) for g in range(len(sizes[0]))]


@torch.no_grad()
def embed(
    stem: nn.Conv1d | None,
    trunk: nn.Module,
    data: Any,
    receptive_field: int,
    device: torch.device,
    *,
    chunk_size: int = 16384,
    verbose: bool = False,
) -> np.ndarray:
    """Embed every sample of a recording, ``(n_samples, n_neurons) -> (n_samples, output_dimension)``.

    The recording is padded by repeating its first and last rows (edge padding) so that the output has one row per
    input sample. It is processed in chunks of ``chunk_size`` rows, each read, moved to the device and encoded
    separately, so ``data`` may be an ``h5py.Dataset`` larger than memory (it is only ever sliced contiguously).

    Parameters
    ----------
    stem : nn.Conv1d or None
        The session's first layer (``None`` for a :class:`~neuroembed.models.ModuleEncoder`, passed as ``trunk``).
    trunk : Trunk or ModuleEncoder
        The shared rest of the encoder (with ``forward_channels_last``).
    data : ndarray or h5py.Dataset of shape (n_samples, n_neurons)
    receptive_field : int
    device : torch.device
    chunk_size : int
        Output rows per chunk.
    verbose : bool
        Show a progress bar.
    """
    n = int(data.shape[0])
    if n == 0:
        raise ValueError("cannot embed an empty recording (0 samples).")
    out: np.ndarray | None = None
    n_chunks = math.ceil(n / chunk_size)
    for c in tqdm(
        range(n_chunks), desc="transform", disable=not verbose or n_chunks < 2, leave=False
    ):
        a, b = c * chunk_size, min(n, (c + 1) * chunk_size)
        block = padded_rows(data, a, b, receptive_field)
        x = host_tensor(block).unsqueeze(0).to(device, non_blocking=True)
        h = x if stem is None else conv_channels_last(x, stem)
        z = trunk.forward_channels_last(h)[0].float().cpu().numpy()
        if out is None:
            out = np.empty((n, z.shape[1]), dtype=np.float32)
        out[a:b] = z
    return out  # type: ignore[return-value]  # n >= 1, so at least one chunk ran

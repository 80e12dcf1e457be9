"""Training steps replayed from a CUDA graph.

On a GPU, a step of neuroembed's small encoders is a few milliseconds of Python, autograd and kernel launches around
far less arithmetic: on an H200, offset10 with batch 512 runs 5.7 ms a step eagerly and 0.6 ms when the whole step
(the batch draw, the encoder, the loss, the backward pass and Adam) is captured once in a ``torch.cuda.CUDAGraph``
and replayed (``benchmarks/cuda_graph_probe.py``, ``benchmarks/results/device/``). :func:`graphed_training` does
that for a fit when

- the fit runs on a CUDA device and ``NEUROEMBED_CUDA_GRAPHS`` is not ``0`` (:func:`graphs_setting`),
- its step is one that was captured on a GPU and trained there as the eager step does: positives by ``time``,
  ``time_delta``, ``delta`` or ``discrete`` (hybrid or not, one session or several), float32, no Jacobian penalty,
  no objectives, and torch's fused Adam (capturable) as the optimiser;

and trains eagerly otherwise (the reason is kept on the training's ``graph_reason``, and on the fitted estimator's
private ``_training_path_``). Should a capture fail all the same, the fit warns and goes on eagerly. The first
:data:`WARMUP_STEPS` iterations run eagerly on a side stream (what a capture needs first); the step is then
captured and every later iteration is one replay.

The batches are drawn from the device's default generator while the graph trains, seeded from the fit's own
generator (a capture records the default generator's state, so that each replay draws new numbers); its state is
saved before and restored after, so a fit leaves the process-wide generator as it found it. The fit stays
reproducible for a given seed, but draws other batches than the eager path does with the same seed.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "WARMUP_STEPS",
    "GraphedStep",
    "graph_reason",
    "graphed_training",
    "graphs_setting",
]

ENVIRONMENT_VARIABLE = "NEUROEMBED_CUDA_GRAPHS"

#: Eager iterations before the capture (on a side stream: lazy initialisation must not happen inside a capture).
WARMUP_STEPS = 3

#: The conditionals whose batch draw was captured and tested on a GPU.
CONDITIONALS = ("time", "time_delta", "delta", "discrete")


def graphs_setting() -> str:
    """What ``NEUROEMBED_CUDA_GRAPHS`` asks for: ``"auto"`` (unset or ``1``: a graph where the fit's step is one
    that was captured and tested on a GPU), ``"off"`` (``0``) or ``"force"`` (a graph for every fit on CUDA with the
    capturable Adam; a step that cannot be captured trains eagerly, with a warning).

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"NEUROEMBED_CUDA_GRAPHS": "0"}):
    ...     graphs_setting()
    'off'
    """
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    settings = {"": "auto", "1": "auto", "0": "off", "force": "force"}
    if value not in settings:
        raise ValueError(
            f"the environment variable {ENVIRONMENT_VARIABLE}={value!r} is not understood; set it to '1' or leave "
            "it unset (CUDA graphs where a fit's step allows them), to '0' (never) or to 'force' (try every fit "
            "on CUDA)."
        )
    return settings[value]


def graph_reason(est: Any, t: Any) -> str | None:
    """Why training ``t`` of estimator ``est`` runs eagerly, or ``None`` when its step can be replayed from a graph."""
    from neuroembed.sampling import ContrastiveSampler

    if t.device.type != "cuda":
        return f"the fit runs on {t.device.type}, not CUDA"
    setting = graphs_setting()
    if setting == "off":
        return f"{ENVIRONMENT_VARIABLE}=0"
    optimizer = t.optimizer
    group = optimizer.param_groups[0]
    if type(optimizer) is not torch.optim.Adam or not (
        group.get("capturable") and group.get("fused")
    ):
        return "an optimiser other than torch's fused, capturable Adam"
    if getattr(est, "jacobian_ramp", None) is not None and float(
        getattr(est, "jacobian_weight", 0.0) or 0.0
    ):
        # the weight changes from step to step, and a graph replays the one it was captured with
        return "a Jacobian penalty ramped over the iterations"
    if setting == "force":
        return None
    hybrid = bool(getattr(est, "hybrid", False))
    if t.conditional not in CONDITIONALS or hybrid:
        return f"positives by {t.conditional!r}" + (" with hybrid" if hybrid else "")
    if type(t.solver.sampler) is not ContrastiveSampler:
        return "a sampler other than ContrastiveSampler"
    if est.precision != "float32":
        return f"precision {est.precision!r}"
    if float(getattr(est, "jacobian_weight", 0.0) or 0.0) > 0.0:
        return "a Jacobian penalty"
    return None


class GraphedStep:
    """``step(i)`` of a training loop that runs the whole update itself: eagerly for the first ``warmup`` calls, then
    from a CUDA graph captured at the next call and replayed at every later one.

    Parameters
    ----------
    forward : callable
        ``forward(i) -> loss``: the batch draw and the loss of iteration ``i`` (no backward); the graph replays
        the call made at the capture, so its work must not depend on ``i``.
    optimizer : torch.optim.Optimizer
        Capturable (its step counts live on the device).
    device : torch.device
    warmup : int
        Eager steps before the capture.

    ``capture`` is the function that records ``step`` into a graph and returns its replay; tests replace it on the
    CPU (where CUDA graphs do not exist) to check the bookkeeping around it.
    """

    def __init__(
        self,
        forward: Callable[[int], torch.Tensor],
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        warmup: int = WARMUP_STEPS,
    ) -> None:
        self.forward = forward
        self.optimizer = optimizer
        self.device = device
        self.warmup = warmup
        self.calls = 0
        self.replay: Callable[[], None] | None = None
        self.static_loss: torch.Tensor | None = None
        #: Why the capture failed (the step then goes on eagerly), or ``None``.
        self.failed: str | None = None
        # one side stream for every warm-up step: autograd warns when a parameter's gradient accumulator, made on
        # one stream, meets a gradient from another
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None

    def _update(self, i: int) -> torch.Tensor:
        loss = self.forward(i)
        loss.backward()
        self.optimizer.step()
        return loss

    def _eager(self, i: int) -> torch.Tensor:
        """Iteration ``i`` run as is; its loss detached, so that no autograd graph outlives its step."""
        self.optimizer.zero_grad(set_to_none=True)
        return self._update(i).detach()

    def __call__(self, i: int) -> torch.Tensor:
        self.calls += 1
        if self.replay is not None:
            self.replay()
            return self.static_loss.detach()
        if self.calls <= self.warmup:
            with side_stream(self.stream):
                return self._eager(i)
        if self.failed is not None:
            return self._eager(i)
        # the gradients are allocated inside the capture (set to None first), so each replay overwrites them
        self.optimizer.zero_grad(set_to_none=True)
        try:
            self.replay, self.static_loss = capture(lambda: self._update(i), self.device)
        # an operation that a graph cannot hold: a host synchronisation, a generator the capture did not register
        except RuntimeError as error:
            self.failed = f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
            warnings.warn(
                f"the training step could not be captured in a CUDA graph ({self.failed}); training goes on "
                f"eagerly. Set {ENVIRONMENT_VARIABLE}=0 to skip the attempt.",
                RuntimeWarning,
                stacklevel=2,
            )
            return self._eager(i)
        self.replay()  # a capture records without running: this iteration runs now
        return self.static_loss.detach()


@contextlib.contextmanager
def side_stream(side: torch.cuda.Stream | None) -> Iterator[None]:
    """Run the block on stream ``side``, which waits for the current stream first and is waited for after; as is
    where ``side`` is None (not on CUDA)."""
    if side is None:
        yield
        return
    current = torch.cuda.current_stream(side.device)
    side.wait_stream(current)
    with torch.cuda.stream(side):
        yield
    current.wait_stream(side)


def capture(
    step: Callable[[], torch.Tensor], device: torch.device
) -> tuple[Callable[[], None], torch.Tensor]:
    """Record ``step`` into a CUDA graph: its replay and the tensor that holds the loss after each replay."""
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        loss = step()
    return graph.replay, loss


def default_generator(device: torch.device) -> torch.Generator:
    """The process-wide generator of ``device`` (the one a CUDA graph capture registers)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.default_generators[index]
    return torch.default_generator


@contextlib.contextmanager
def graphed_training(
    est: Any, t: Any, forward: Callable[[int], torch.Tensor]
) -> Iterator[GraphedStep | None]:
    """A :class:`GraphedStep` of ``forward`` for training ``t`` where its step can be replayed from a graph, else
    ``None`` (``t.graph_reason`` says why). Inside, the sampler draws from the device's default generator, seeded
    from ``t.generator``; both generators are put back afterwards."""
    t.graph_reason = graph_reason(est, t)
    if t.graph_reason is not None:
        yield None
        return
    sampler = t.solver.sampler
    own = sampler.generator
    shared = default_generator(t.device)
    saved = shared.get_state()
    seed = torch.randint(0, 2**62, (1,), generator=own, device=own.device)
    shared.manual_seed(int(seed))
    sampler.generator = shared
    step = GraphedStep(forward, t.optimizer, t.device)
    try:
        yield step
    finally:
        sampler.generator = own
        shared.set_state(saved)
        if step.failed is not None:
            t.graph_reason = f"the capture failed: {step.failed}"

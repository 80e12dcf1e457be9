"""The ``share`` part of ``speed.py``: how close each path of the training step comes to its own products' limit.

Issue 17 asks for the dense step "as close to the matrix-product limit of this CPU as the sparse path is". Both are
measured here the same way. A step's *limit* is the time its matrix products take when each runs alone at its own
shape, and its *share* is that limit over the measured step.

- The products are read from the step itself. :mod:`torch.profiler` records a few steady-state steps with their
  input shapes, and every outermost ``mm``, ``addmm``, ``addmm_``, ``bmm`` and ``baddbmm`` call of them is counted
  (:func:`product_calls`). That covers the first layer, the trunk's forward and backward, and the loss's products,
  whichever path the step takes. On the CPU only: the sparse first layer exists only there.
- Each dense product is timed alone as a plain float32 ``torch.mm`` of its shape, in the faster of two layouts:
  both operands contiguous, or the left one a transposed view. The limit is the CPU's speed for that product, not
  the speed of the layout the step happens to use.
- The first layer's sparse products are its operands of the recording's own shape, ``(n_samples, neurons)`` or its
  transpose. Each is timed alone as the same ``torch.addmm`` with that recording in compressed sparse rows. That is
  the sparse path's own kernel with nothing else running, and the best this CPU gives for that product.
- The step is the median of unprofiled steady-state steps (sampling, forward, loss, backward and optimiser). Its
  useful floating-point operations are ``2 m k n`` per dense product and ``2 nnz n`` per sparse one.

The points:

- the sparse path (a short recording of sparse counts: the first layer runs over the whole recording as sparse
  products): 8000 x 120 at 2 % non-zero (the shape of the original speed claim), and 10^4 samples x 20, 120 and 500
  neurons at 2 %, and 120 neurons at 8 % (near the 10 % threshold for the sparse products);
- the dense window-by-window path (dense AR(1) traces on 10^5 samples, the path of every long recording):
  20, 120 and 500 neurons;
- the dense whole-recording path (10^4 samples of dense traces): 120 and 500 neurons;
- sparse counts on a long recording (10^5 x 120 at 2 %), which take the window-by-window path with dense products,
  the same code as dense traces.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

import neuroembed as ne
from neuroembed.models.sparse import SparseRecording

from _speed_dense import dense_traces, mm_seconds, timed_steps  # noqa: E402  # isort: skip

#: (label, samples, neurons, fraction of non-zero entries; None: dense AR(1) traces)
POINTS = (
    ("sparse path", 8_000, 120, 0.02),
    ("sparse path", 10_000, 20, 0.02),
    ("sparse path", 10_000, 120, 0.02),
    ("sparse path", 10_000, 500, 0.02),
    ("sparse path", 10_000, 120, 0.08),
    ("dense, window by window", 100_000, 20, None),
    ("dense, window by window", 100_000, 120, None),
    ("dense, window by window", 100_000, 500, None),
    ("dense, whole recording", 10_000, 120, None),
    ("dense, whole recording", 10_000, 500, None),
    ("sparse counts, window by window", 100_000, 120, 0.02),
)
QUICK_POINTS = (
    ("sparse path", 4_000, 40, 0.02),
    ("dense, window by window", 12_000, 40, None),
)
#: the operators that are matrix products, and the positions of their two factors among their inputs
PRODUCT_OPERANDS = {
    "aten::mm": (0, 1),
    "aten::addmm": (1, 2),
    "aten::addmm_": (1, 2),
    "aten::bmm": (0, 1),
    "aten::baddbmm": (1, 2),
}


@dataclass(frozen=True)
class Call:
    """One matrix product of the step: ``batch`` products ``(m, k) @ (k, n)``, ``per_step`` times a step."""

    op: str
    m: int
    k: int
    n: int
    batch: int
    per_step: float
    in_step_s: float  # its time in the profiled steps (nested calls included), per step
    sparse: bool


def counts(n: int, neurons: int, density: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Poisson counts with ``density`` of the entries non-zero, and a 1-D random-walk behaviour."""
    rng = np.random.default_rng(seed)
    X = rng.poisson(-np.log1p(-density), (n, neurons)).astype(np.float32)
    _, y = dense_traces(n, 1, seed)
    return X, y


def product_calls(prof: Any, steps: int, recording_shape: tuple[int, int] | None) -> list[Call]:
    """The matrix products of ``steps`` profiled steps, grouped by operator and shape.

    Only the outermost product of a call counts: a sparse ``mm`` dispatches to ``addmm``, which calls ``addmm``
    again, and each of those is an event of its own (counting them would time one product three times). The time
    in the step is the outermost call's total, its nested calls included."""
    sparse_shapes = (
        {recording_shape, recording_shape[::-1]} if recording_shape is not None else set()
    )
    groups: dict[tuple, list[float]] = {}
    for event in prof.events():
        if event.name not in PRODUCT_OPERANDS:
            continue
        parent = event.cpu_parent
        while parent is not None and parent.name not in PRODUCT_OPERANDS:
            parent = parent.cpu_parent
        if parent is not None:  # inside another product
            continue
        i, j = PRODUCT_OPERANDS[event.name]
        left, right = list(event.input_shapes[i]), list(event.input_shapes[j])
        key = (event.name, left[0] if len(left) == 3 else 1, *left[-2:], right[-1])
        groups.setdefault(key, []).append(event.cpu_time_total * 1e-6)
    calls = []
    for (op, batch, m, k, n), seconds in groups.items():
        calls.append(
            Call(
                op=op,
                m=m,
                k=k,
                n=n,
                batch=batch,
                per_step=len(seconds) / steps,
                in_step_s=sum(seconds) / steps,
                sparse=(m, k) in sparse_shapes,
            )
        )
    return calls


def median_seconds(product: Any, repeats: int) -> float:
    for _ in range(3):
        product()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        product()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def dense_alone(m: int, k: int, n: int, repeats: int, rounds: int = 2) -> float:
    """Seconds of ``torch.mm`` of ``(m, k) @ (k, n)`` float32: the faster of the contiguous and transposed layouts,
    and the lowest median of ``rounds`` rounds (a limit is the best the CPU gives; one round was once stalled 100
    times over by something else on the machine)."""
    return min(
        mm_seconds(m, k, n, repeats, transposed)
        for _ in range(rounds)
        for transposed in (False, True)
    )


def sparse_alone(
    recording: SparseRecording, transposed: bool, n: int, repeats: int, rounds: int = 2
) -> float:
    """Seconds of the first layer's sparse product alone: the recording (or its transpose) in CSR @ ``(k, n)``; the
    lowest median of ``rounds`` rounds."""
    csr = recording.columns if transposed else recording.rows
    b = torch.randn(csr.shape[1], n, generator=torch.Generator().manual_seed(0))
    out = torch.empty(csr.shape[0], n)
    return min(
        median_seconds(lambda: torch.addmm(out, csr, b, beta=0.0, out=out), repeats)
        for _ in range(rounds)
    )


def measure_point(
    label: str, n: int, neurons: int, density: float | None, settings: dict, quick: bool
) -> dict[str, Any]:
    steps, profiled, repeats = (5, 3, 5) if quick else (60, 20, 30)
    X, y = dense_traces(n, neurons, neurons) if density is None else counts(n, neurons, density, 0)
    est = ne.Estimator(
        **settings, conditional="time_delta", max_iterations=steps, device="cpu", random_state=0
    )
    est._check_params()
    run = est._prepare(X, y)
    solver = run.solver
    times, windows = timed_steps(run, steps, warm=10 if not quick else 2)
    phases = {k: float(np.median(v)) for k, v in times.items()}
    step = sum(phases.values())
    recording = solver._sparse_recording(0)
    whole = solver._whole(0, windows)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        timed_steps(run, profiled, warm=0)
    calls = product_calls(prof, profiled, recording.shape if recording is not None else None)
    alone = flops = 0.0
    rows = []
    for c in calls:
        if c.sparse:
            seconds = sparse_alone(
                recording, transposed=c.m != recording.shape[0], n=c.n, repeats=repeats
            )
            nnz = recording.rows.values().numel()
            work = 2.0 * nnz * c.n
        else:
            seconds = dense_alone(c.m, c.k, c.n, repeats) * c.batch
            work = 2.0 * c.m * c.k * c.n * c.batch
        alone += seconds * c.per_step
        flops += work * c.per_step
        rows.append({**c.__dict__, "alone_s": seconds, "flops": work})
    in_step = sum(c.in_step_s for c in calls)
    entry = {
        "label": label,
        "samples": n,
        "neurons": neurons,
        "density": float((X != 0).mean()),
        "windows": windows,
        "whole_recording": bool(whole),
        "sparse_products": recording is not None and whole,
        "phases_s": phases,
        "step_s": step,
        "products_in_step_s": in_step,
        "products_alone_s": alone,
        "share": alone / step,
        "gflops_step": flops / step / 1e9,
        "gflops_alone": flops / alone / 1e9,
        "products": rows,
    }
    print(
        f"share {label:32s} {n:>7,} x {neurons:3d} ({entry['density']:.0%}): step {step * 1e3:.2f} ms, products "
        f"in it {in_step * 1e3:.2f} ms (profiled), alone {alone * 1e3:.2f} ms: {entry['share']:.0%} of the limit",
        flush=True,
    )
    return entry


def run_share(args: argparse.Namespace, settings: dict) -> tuple[list[str], list[dict[str, Any]]]:
    if args.device != "cpu":
        raise SystemExit(
            f"the share part measures the CPU's paths (the sparse first layer exists only there); got --device "
            f"{args.device!r}: run it with --device cpu."
        )
    torch.set_flush_denormal(True)
    points = QUICK_POINTS if args.quick else POINTS
    rows = [measure_point(*p, settings, args.quick) for p in points]
    lines = [
        "## Each path's share of its own products' limit",
        "",
        "neuroembed's steady-state training step (offset10, batch 512, `time_delta` on a 1-D random walk), on the "
        "paths a recording can take. *limit*: the step's matrix products (read from the step with "
        "`torch.profiler`, every outermost `mm`, `addmm`, `bmm` call and its shape), each timed alone: dense ones as plain "
        "`torch.mm` in the faster of two layouts, the first layer's sparse ones as the same CSR `torch.addmm` "
        "on the recording. *share*: limit / step (the fraction of the step its products would take at their "
        "own best speed; the rest is gathering, elementwise passes, the loss's softmax, sampling, the optimiser, "
        "and the products running slower inside the step than alone). *products in the step*: their time "
        "under the profiler, nested calls included. GFLOP/s count useful operations: `2 m k n` per dense product, `2 nnz n` per "
        f"sparse one. Median of the unprofiled steps; {torch.get_num_threads()} threads.",
        "",
        "| path | samples x neurons | non-zero | first layer | step (ms) | products in the step (ms) | limit (ms) "
        "| **share** | step GFLOP/s | limit GFLOP/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        first = (
            "sparse, whole recording"
            if r["sparse_products"]
            else ("dense, whole recording" if r["whole_recording"] else "dense, per window")
        )
        lines.append(
            f"| {r['label']} | {r['samples']:,} x {r['neurons']} | {r['density']:.0%} | {first} | "
            f"{r['step_s'] * 1e3:.2f} | {r['products_in_step_s'] * 1e3:.2f} | {r['products_alone_s'] * 1e3:.2f} | "
            f"**{r['share']:.0%}** | {r['gflops_step']:.1f} | {r['gflops_alone']:.1f} |"
        )
    sparse = [r["share"] for r in rows if r["sparse_products"]]
    dense = [r["share"] for r in rows if r["label"].startswith("dense")]
    if sparse and dense:
        lines += [
            "",
            f"The sparse path's share: {min(sparse):.0%}-{max(sparse):.0%}; the dense paths': "
            f"{min(dense):.0%}-{max(dense):.0%}.",
        ]
    return lines, rows

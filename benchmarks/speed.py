"""Training speed of neuroembed side by side with CEBRA, scaling with recording length, and streamed transform memory.

Four measurements, each written to ``results/speed.md`` (with the date, machine, load and versions):

1. **Head to head.** neuroembed and CEBRA (``cebra`` from PyPI, installed only in the benchmark environment) train the
   same model (offset10, 32 hidden units, output dimension 8, batch 512, time offset 10, cosine distance, learning
   rate 3e-4) on the same data (:func:`neuroembed.datasets.linear_track` with 8,000 samples x 120 neurons, behaviour
   ``[position, right, left]``) with ``time`` and with ``time_delta`` positives, in one process, alternating the two
   systems, ``--repeats`` times each. The figure is a whole ``fit`` (setup included) divided by its iterations; the
   table gives the median and range over repeats and the ratio of the medians. Denormals are flushed for both
   (``torch.set_flush_denormal(True)``; neuroembed does it inside ``fit`` anyway, CEBRA stalls without it).
   neuroembed is also timed with its sparse first layer off (dense products, what dense data such as calcium
   traces get) and with ``precision="bfloat16"`` (not equal settings), and its steady-state step is split into
   sampling, forward, loss and backward + optimiser step.
2. **Sparse first layer.** The first layer over a whole recording as dense and as sparse products, at several
   fractions of non-zero entries (where neuroembed's threshold for the sparse products comes from).
3. **Scaling.** Seconds per training step (steady state, after warm-up; the one-off setup, which builds the
   nearest-neighbour index, is reported beside it) for 10^4 .. 10^7 samples x 100 neurons with ``time_delta``
   positives on 1-D behaviour (sorted search) and on 2-D behaviour (k-d tree on the CPU).
4. **Streamed transform.** A 10^7 x 100 float32 HDF5 dataset (4 GB) is embedded by ``transform`` straight from
   the file, in a fresh process whose peak resident memory (``VmHWM``) is reported.

Two more parts, run only when asked for (``--parts grid dense``), write ``results/speed_grid.md`` and
``results/speed_grid.json``:

5. **Grid** (``benchmarks/_speed_grid.py``, whose docstring gives the design): both systems, alternating, whole fits
   with setup at two iteration counts, over the orthogonal array L9(3^4) of neurons {20, 120, 500} x samples {1e4,
   1e5, 1e6} x non-zero entries {2 %, 10 %, 60 %} x behaviour {1-D, ring, 3-D}, a head-direction-shaped point
   (42,000 x 19, 11 %, ring) and two ring recordings fitted with 1-D behaviour too; then the real recordings of
   ``../shared/data``. Whole-fit and marginal seconds per iteration; median and worst ratio per conditional.
6. **Dense step** (``benchmarks/_speed_dense.py``): neuroembed's steady-state step on dense traces with 20, 120 and
   500 neurons in GFLOP/s (operations counted from the layers), beside plain ``torch.mm`` on the same shapes.

A last part, run only when asked for (``--parts share``), writes ``results/speed_share.md`` and ``.json``:

7. **Share of the limit** (``benchmarks/_speed_share.py``): on every path a step can take (the sparse first layer
   over a short recording, dense traces window by window and over a whole recording), the step's own matrix
   products, read with the profiler and each timed alone, over the step: how close each path comes to its limit.

Run from the repository root, in an environment with neuroembed and ``cebra`` (see ``benchmarks/README.md``)::

    python benchmarks/speed.py                 # everything, writes results/speed.md (about 5 minutes on 2 cores)
    python benchmarks/speed.py --quick --output -   # smoke test: tiny sizes, prints the table only
    python benchmarks/speed.py --parts head    # only the head-to-head comparison
    python benchmarks/speed.py --parts grid dense   # the grid and the dense step: results/speed_grid.md (20-30 min)
    python benchmarks/speed.py --parts grid --quick --output -   # smoke test of the grid, under a minute
    python benchmarks/speed.py --parts share   # each path's share of its limit: results/speed_share.md (a minute)

Without ``cebra`` the head-to-head table has neuroembed alone and says so.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import neuroembed as ne
from neuroembed._custom_paths import ENVIRONMENT_VARIABLE, custom_paths_on
from neuroembed.solver import ContrastiveSolver

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _speed_dense  # noqa: E402
import _speed_grid  # noqa: E402
import _speed_share  # noqa: E402
import _tasks  # noqa: E402
from quality import (  # noqa: E402
    cebra_kwargs,
    cebra_version,
    cpu_model,
    git_revision,
    package_version,
    write_output,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "speed.md"
GRID_OUTPUT = REPO / "benchmarks" / "results" / "speed_grid.md"
SHARE_OUTPUT = REPO / "benchmarks" / "results" / "speed_share.md"
PARTS = ("head", "sparse", "scaling", "stream")
# asked for by name only; written to GRID_OUTPUT (and its JSON)
GRID_PARTS = ("grid", "dense")
# asked for by name only; written to SHARE_OUTPUT (and its JSON)
SHARE_PARTS = ("share",)

# the settings both systems share, in neuroembed's spelling (quality.cebra_kwargs translates them for CEBRA)
SETTINGS = dict(
    model="offset10",
    num_hidden_units=32,
    output_dimension=8,
    batch_size=512,
    time_offset=10,
    learning_rate=3e-4,
    temperature=1.0,
    distance="cosine",
)


# ---------------------------------------------------------------------------------------------------------------------
# 1. head to head
# ---------------------------------------------------------------------------------------------------------------------
def head_data(n_samples: int, n_neurons: int) -> tuple[np.ndarray, np.ndarray]:
    rec = ne.datasets.linear_track(n_samples=n_samples, n_neurons=n_neurons, random_state=0)
    return rec.neural.astype(np.float32), rec.behaviour.astype(np.float32)


def fit_neuroembed(
    X: np.ndarray,
    y: np.ndarray,
    conditional: str,
    iterations: int,
    seed: int,
    precision: str = "float32",
    sparse: bool = True,
) -> float:
    """Seconds per iteration of one fit; ``sparse=False`` turns the sparse first layer off (dense products, as
    on dense data such as calcium traces)."""
    torch.set_flush_denormal(True)
    est = ne.Estimator(
        **SETTINGS,
        conditional=conditional,
        max_iterations=iterations,
        device=_speed_grid.DEVICE,
        random_state=seed,
        precision=precision,
    )
    default = ContrastiveSolver.max_sparse_density
    ContrastiveSolver.max_sparse_density = default if sparse else -1.0
    try:
        start = time.perf_counter()
        est.fit(X, None if conditional == "time" else y)
        _speed_grid.synchronize()
        return (time.perf_counter() - start) / iterations
    finally:
        ContrastiveSolver.max_sparse_density = default


def fit_cebra(X: np.ndarray, y: np.ndarray, conditional: str, iterations: int, seed: int) -> float:
    import cebra

    torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    model = cebra.CEBRA(
        **cebra_kwargs(SETTINGS),
        conditional=conditional,
        max_iterations=iterations,
        device=_speed_grid.DEVICE,
    )
    start = time.perf_counter()
    if conditional == "time":
        model.fit(X)
    else:
        model.fit(X, y)
    _speed_grid.synchronize()
    return (time.perf_counter() - start) / iterations


def step_split(X: np.ndarray, y: np.ndarray, conditional: str, steps: int) -> dict[str, float]:
    """Median milliseconds of each part of neuroembed's training step, over ``steps`` steps after warm-up, on the
    device of the run (``--device``)."""
    est = ne.Estimator(
        **SETTINGS,
        conditional=conditional,
        max_iterations=steps,
        device=_speed_grid.DEVICE,
        random_state=0,
    )
    est._check_params()
    run = est._prepare(X, None if conditional == "time" else y)
    times, _ = _speed_dense.timed_steps(run, steps, warm=10)
    parts = {
        "sampling": times["sampling"],
        "forward": times["forward"],
        "loss": times["loss"],
        "backward + optimiser": times["backward"] + times["optimiser"],
    }
    return {key: float(np.median(seconds * 1e3)) for key, seconds in parts.items()}


def run_head(args: argparse.Namespace, has_cebra: bool) -> list[str]:
    n_samples, n_neurons = (2000, 40) if args.quick else (8000, 120)
    iterations = 20 if args.quick else args.iterations
    X, y = head_data(n_samples, n_neurons)
    density = float(np.count_nonzero(X)) / X.size
    systems = {"neuroembed": fit_neuroembed}
    if has_cebra:
        systems["CEBRA"] = fit_cebra
    # not an equal-settings comparison (CEBRA has no reduced-precision option): reported on its own rows
    systems["neuroembed bf16"] = functools.partial(fit_neuroembed, precision="bfloat16")
    # the spike counts here are sparse (2 % non-zero): the same fits with the sparse first layer off
    systems["neuroembed dense"] = functools.partial(fit_neuroembed, sparse=False)
    times: dict[tuple[str, str], list[float]] = {}
    # warm-up, untimed: the first fit in a process pays one-off library set-up
    for fit in systems.values():
        fit(X, y, "time", max(5, iterations // 10), seed=0)
    for conditional in ("time", "time_delta"):
        for repeat in range(args.repeats):
            # alternate who goes first
            order = list(systems) if repeat % 2 == 0 else list(systems)[::-1]
            for name in order:
                seconds = systems[name](X, y, conditional, iterations, seed=repeat)
                times.setdefault((name, conditional), []).append(seconds)
                print(
                    f"{conditional:10s} {name:10s} repeat {repeat}: {seconds * 1e3:7.1f} ms/iteration",
                    flush=True,
                )

    lines = [
        "## Head to head: seconds per iteration at equal settings",
        "",
        f"Data: `linear_track` {n_samples} samples x {n_neurons} neurons, behaviour `[position, right, left]`; "
        f"{iterations} iterations per fit, {args.repeats} fits per system and conditional, alternating; a fit's "
        "wall time (setup included) divided by its iterations. Median [min, max] over the fits. "
        f"The recording is short and its spike counts sparse ({density:.1%} of the entries are not zero), so "
        "neuroembed runs its first layer over the whole recording as sparse products "
        "(`ContrastiveSolver.max_sparse_density`); the row *sparse first layer off* is the same fits with dense "
        "products, as on dense data (calcium traces).",
        "",
        "| positives | neuroembed (ms/iter) | CEBRA (ms/iter) | CEBRA / neuroembed |",
        "|---|---|---|---|",
    ]
    for conditional in ("time", "time_delta"):
        ours = times[("neuroembed", conditional)]
        cell = f"{np.median(ours) * 1e3:.1f} [{min(ours) * 1e3:.1f}, {max(ours) * 1e3:.1f}]"
        if has_cebra:
            theirs = times[("CEBRA", conditional)]
            other = (
                f"{np.median(theirs) * 1e3:.1f} [{min(theirs) * 1e3:.1f}, {max(theirs) * 1e3:.1f}]"
            )
            ratio = f"**{np.median(theirs) / np.median(ours):.1f}x**"
        else:
            other, ratio = "not installed", "n/a"
        lines.append(f"| `{conditional}` | {cell} | {other} | {ratio} |")
    variants = {
        "neuroembed dense": "neuroembed with the sparse first layer off (dense products, as on dense data)",
        "neuroembed bf16": "neuroembed with `precision='bfloat16'` (not equal settings)",
    }
    for system, description in variants.items():
        for conditional in ("time", "time_delta"):
            mine = times[(system, conditional)]
            cell = f"{np.median(mine) * 1e3:.1f} [{min(mine) * 1e3:.1f}, {max(mine) * 1e3:.1f}]"
            theirs = times.get(("CEBRA", conditional))
            ratio = f"{np.median(theirs) / np.median(mine):.1f}x" if theirs else "n/a"
            lines.append(f"| `{conditional}`, {description} | {cell} | | {ratio} |")

    lines += [
        "",
        "neuroembed's step split (median ms over the steady-state steps, same data and settings):",
        "",
        "| positives | sampling | forward | loss | backward + optimiser | sum |",
        "|---|---|---|---|---|---|",
    ]
    for conditional in ("time", "time_delta"):
        split = step_split(X, y, conditional, 20 if args.quick else 100)
        cells = " | ".join(f"{v:.1f}" for v in split.values())
        lines.append(f"| `{conditional}` | {cells} | {sum(split.values()):.1f} |")
    return lines


# ---------------------------------------------------------------------------------------------------------------------
# 1b. sparse against dense products for the first layer over a whole recording
# ---------------------------------------------------------------------------------------------------------------------
def run_sparse(args: argparse.Namespace) -> list[str]:
    """Forward and backward of the first layer (offset10's: kernel 2, 32 outputs) over a whole 8000 x 120 recording,
    as dense products (``conv_time_major``) and as sparse ones (``conv_sparse_recording``), at several densities;
    this is where ``ContrastiveSolver.max_sparse_density`` comes from."""
    from neuroembed.models.sparse import SparseRecording, conv_sparse_recording
    from neuroembed.models.time_major import conv_time_major

    n, channels = (2000, 40) if args.quick else (8000, 120)
    repeats = 5 if args.quick else 50
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(32, channels, 2, generator=generator, requires_grad=True)
    bias = torch.zeros(32, requires_grad=True)
    grad = torch.randn(n - 1, 32, generator=generator)

    def dense_layer(data: torch.Tensor) -> torch.Tensor:
        return conv_time_major(data[:, None, :], weight, bias)[:, 0]

    def seconds(run: Any) -> float:
        times = []
        for i in range(repeats + 3):
            t0 = time.perf_counter()
            run().backward(grad)
            if i >= 3:
                times.append(time.perf_counter() - t0)
        return float(np.median(times))

    lines = [
        "## First layer over a whole recording: dense and sparse products",
        "",
        f"Forward and backward (weight and bias gradients) of offset10's first layer (kernel 2, 32 outputs) over a "
        f"whole {n} x {channels} recording of spike counts with the given fraction of non-zero entries; median "
        f"of {repeats}. neuroembed takes the sparse products when at most "
        f"{ContrastiveSolver.max_sparse_density:.0%} of the entries are not zero.",
        "",
        "| non-zero entries | dense (ms) | sparse (ms) | dense / sparse |",
        "|---|---|---|---|",
    ]
    torch.set_flush_denormal(True)
    for density in (0.02, 0.05, 0.1, 0.2, 0.3):
        mask = torch.rand(n, channels, generator=generator) < density
        counts = torch.randint(1, 4, (n, channels), generator=generator).float()
        data = counts * mask
        recording = SparseRecording(data)
        dense = seconds(functools.partial(dense_layer, data))
        sparse = seconds(functools.partial(conv_sparse_recording, recording, weight, bias))
        lines.append(
            f"| {recording.density:.0%} | {dense * 1e3:.2f} | {sparse * 1e3:.2f} | {dense / sparse:.1f}x |"
        )
        print(
            f"sparse first layer, density {density:.2f}: dense {dense * 1e3:.2f} ms, sparse {sparse * 1e3:.2f} ms"
        )
    return lines


# ---------------------------------------------------------------------------------------------------------------------
# 2. scaling with recording length
# ---------------------------------------------------------------------------------------------------------------------
def random_walk(n: int, dims: int, rng: np.random.Generator) -> np.ndarray:
    """A reflected random walk in [0, 1]^dims: behaviour that revisits places, like an animal in an arena."""
    out = np.empty((n, dims), dtype=np.float32)
    for d in range(dims):
        walk = np.cumsum(rng.normal(0.0, 0.01, n)) % 2.0
        out[:, d] = np.where(walk > 1.0, 2.0 - walk, walk)
    return out


@dataclass
class ScalingPoint:
    """One recording length and behaviour dimension of the scaling table, ready to train."""

    n: int
    dims: int
    setup: float  # seconds of Estimator._prepare
    strategy: str  # the nearest-neighbour search
    solver: Any
    optimizer: Any
    shortcut: bool  # the recording is short enough for the whole-recording path of the first layer
    times: dict[
        str, list[float]
    ]  # "as run" and, with the shortcut, "general path": seconds per step


def scaling_recording(n: int) -> np.ndarray:
    """n samples x 100 neurons of Poisson spike counts (mean 1)."""
    rng = np.random.default_rng(n)
    X = np.empty((n, 100), dtype=np.float32)
    for start in range(0, n, 1_000_000):  # in blocks: no float64 temporary of the whole recording
        stop = min(n, start + 1_000_000)
        X[start:stop] = rng.poisson(1.0, (stop - start, 100))
    return X


def scaling_point(X: np.ndarray, dims: int) -> ScalingPoint:
    """Prepare a time_delta fit of ``X`` with ``dims``-D random-walk behaviour, timing the one-off setup."""
    n = X.shape[0]
    y = random_walk(n, dims, np.random.default_rng(n + dims))
    est = ne.Estimator(
        **SETTINGS,
        conditional="time_delta",
        max_iterations=1,
        device=_speed_grid.DEVICE,
        random_state=0,
    )
    est._check_params()
    start = time.perf_counter()
    run = est._prepare(X, y)
    _speed_grid.synchronize()
    setup = time.perf_counter() - start
    windows = 3 * SETTINGS["batch_size"]  # references, positives, negatives
    return ScalingPoint(
        n=n,
        dims=dims,
        setup=setup,
        strategy=run.solver.sampler._index[0].strategy,
        solver=run.solver,
        optimizer=run.optimizer,
        shortcut=run.solver._whole(0, windows),
        times={},
    )


def time_steps(point: ScalingPoint, steps: int, general: bool) -> list[float]:
    """Seconds of each of ``steps`` training steps (sampling, forward, loss, backward, optimiser step), after two
    untimed ones; ``general`` turns the whole-recording shortcut off for them (window by window)."""
    solver, optimizer = point.solver, point.optimizer
    if general:
        solver.whole_recording_fraction = 0.0  # this solver only
    per_step = []
    try:
        for i in range(steps + 2):
            t0 = time.perf_counter()
            loss = solver.loss()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            _speed_grid.synchronize()  # a GPU's queued work, not only its launch
            if i >= 2:
                per_step.append(time.perf_counter() - t0)
    finally:
        solver.__dict__.pop("whole_recording_fraction", None)  # back to the class's value
    return per_step


def run_scaling(args: argparse.Namespace) -> list[str]:
    sizes = [10**3, 10**4] if args.quick else [10**4, 10**5, 10**6, 10**7]
    steps = 10 if args.quick else args.scaling_steps
    rounds = 2 if args.quick else 10
    torch.set_flush_denormal(True)
    points = []
    for n in sizes:
        X = scaling_recording(n)  # shared by the 1-D and 2-D fits (up to 4 GB)
        for dims in (1, 2):
            points.append(scaling_point(X, dims))
            print(f"scaling n={n:>9d} dims={dims}: set up in {points[-1].setup:.1f} s", flush=True)
        del X
    # every configuration in turn, in rounds: a slow moment of the machine falls on all of them alike
    for r in range(rounds):
        order = points if r % 2 == 0 else points[::-1]
        for point in order:
            for kind in ("as run", "general path") if point.shortcut else ("as run",):
                point.times.setdefault(kind, []).extend(
                    time_steps(point, steps // rounds, general=kind == "general path")
                )
    lines = [
        "## Step time against recording length (`time_delta` positives, 100 neurons)",
        "",
        f"Median seconds per training step over {steps} steady-state steps (sampling, forward, loss, backward and "
        f"optimiser step), taken in {rounds} rounds that go through every configuration in turn (so that the "
        "machine's drift falls on all of them alike); setup is the one-off `Estimator._prepare` (data to the "
        "device, nearest-neighbour index, model), paid once per fit. The data are Poisson spike counts with mean "
        "1 (63 % of the entries are not zero: the dense first layer). A recording shorter than the rows one step "
        "reads takes a shortcut: the first layer and block run once over the whole recording, which is fewer "
        "multiply-adds than window by window when windows overlap. Where that applies, *general path* is the same "
        "steps timed with the shortcut off (window by window, as on every longer recording); elsewhere it is the "
        "step time itself.",
        "",
        "| samples | 1-D: ms/step | general path | setup (s) | search "
        "| 2-D: ms/step | general path | setup (s) | search |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows: dict[tuple[int, str], list[float]] = {}
    for n in sizes:
        cells = [f"{n:.0e}".replace("e+0", "e")]
        for point in (p for p in points if p.n == n):
            step = float(np.median(point.times["as run"]))
            general = float(np.median(point.times.get("general path", point.times["as run"])))
            rows.setdefault((point.dims, "as run"), []).append(step)
            rows.setdefault((point.dims, "general path"), []).append(general)
            shown = f"{general * 1e3:.1f}" if point.shortcut else "same"
            cells += [f"{step * 1e3:.1f}", shown, f"{point.setup:.1f}", point.strategy]
            print(
                f"scaling n={n:>9d} dims={point.dims}: {step * 1e3:.1f} ms/step (general path "
                f"{general * 1e3:.1f})",
                flush=True,
            )
        lines.append("| " + " | ".join(cells) + " |")
    spread = ", ".join(
        f"{dims}-D {kind} {max(v) / min(v):.2f}x" for (dims, kind), v in sorted(rows.items())
    )
    lines += ["", f"Largest / smallest step time across sizes: {spread}."]
    del points
    return lines


# ---------------------------------------------------------------------------------------------------------------------
# 3. streamed transform of a recording larger than memory budget
# ---------------------------------------------------------------------------------------------------------------------
_STREAM_CHILD = r"""
import re, sys, time, h5py, neuroembed as ne
est = ne.Estimator.load(sys.argv[1], device="cpu")
start = time.perf_counter()
with h5py.File(sys.argv[2], "r") as f:
    emb = est.transform(f["neural"])
seconds = time.perf_counter() - start
# VmHWM: this process's own peak resident set (ru_maxrss would include the parent's peak, inherited at fork)
status = open("/proc/self/status").read()
peak = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024
print(emb.shape[0], emb.shape[1], seconds, peak)
"""


def run_stream(args: argparse.Namespace) -> list[str]:
    import h5py

    n = 10**5 if args.quick else 10**7
    n_neurons = 100
    folder = Path(tempfile.mkdtemp(prefix="neuroembed-speed-", dir=args.scratch))
    data_path, model_path = folder / "recording.h5", folder / "model.pt"
    try:
        rng = np.random.default_rng(0)
        with h5py.File(data_path, "w") as f:
            ds = f.create_dataset(
                "neural", (n, n_neurons), dtype="float32", chunks=(65536, n_neurons)
            )
            for start in range(0, n, 1_000_000):
                stop = min(n, start + 1_000_000)
                ds[start:stop] = rng.poisson(1.0, (stop - start, n_neurons)).astype(np.float32)
        train = rng.poisson(1.0, (5000, n_neurons)).astype(np.float32)
        est = ne.Estimator(
            **SETTINGS, conditional="time", max_iterations=20, device="cpu", random_state=0
        ).fit(train)
        est.save(model_path)
        size_gb = data_path.stat().st_size / 1e9
        out = subprocess.run(
            [sys.executable, "-c", _STREAM_CHILD, str(model_path), str(data_path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        rows, dims, seconds, peak_mib = int(out[0]), int(out[1]), float(out[2]), float(out[3])
    finally:
        for p in (data_path, model_path):
            p.unlink(missing_ok=True)
        folder.rmdir()
    print(
        f"stream: {rows} x {n_neurons} ({size_gb:.1f} GB) in {seconds:.0f} s, peak RSS {peak_mib:.0f} MiB",
        flush=True,
    )
    return [
        "## Streamed transform",
        "",
        f"`Estimator.transform(h5py_dataset)` on a {rows:.0e} x {n_neurons} float32 HDF5 dataset ({size_gb:.1f} GB on "
        f"disk), offset10 model, in a fresh process: embedding ({rows} x {dims}) in {seconds:.0f} s, **peak resident "
        f"memory {peak_mib:.0f} MiB** (`VmHWM` of `/proc/self/status`, the peak resident set of the whole process: "
        "Python, torch, the model and the embedding itself).",
    ]


# ---------------------------------------------------------------------------------------------------------------------
def header(
    args: argparse.Namespace,
    cebra: str | None,
    loads: list[tuple[float, ...]],
    wall: float,
    title: str = "Training speed: neuroembed and CEBRA",
) -> list[str]:
    now = datetime.datetime.now().astimezone()
    before = loads[0][0]
    return [
        f"# {title}",
        "",
        f"- date: {now:%Y-%m-%d %H:%M %Z}",
        f"- machine: {platform.platform()}; CPU {cpu_model()}, {os.cpu_count()} cores; torch threads "
        f"{torch.get_num_threads()}; device {_speed_grid.DEVICE}",
        f"- load average (1 min) before the run: {before:.2f}"
        + (
            " (the machine was busy: timings are inflated)"
            if before > 0.25 * (os.cpu_count() or 1)
            else " (a quiet machine)"
        )
        + "; at the start of each later part (the benchmark's own load included): "
        + ", ".join(f"{load[0]:.2f}" for load in loads[1:]),
        f"- versions: python {platform.python_version()}, torch {torch.__version__}, neuroembed "
        f"{package_version('neuroembed')} (git {git_revision()}), CEBRA {cebra or 'not installed'}",
        "- settings (both systems): offset10, 32 hidden units, output dimension 8, batch 512 (512 negatives), time "
        f"offset 10, temperature 1, learning rate 3e-4, cosine distance, {_speed_grid.DEVICE}, denormals flushed; "
        f"neuroembed's custom training paths {custom_paths_state()}"
        + ("; **quick mode: tiny smoke-test run, not a benchmark**" if args.quick else ""),
        f"- produced by `{' '.join(['python benchmarks/speed.py', *sys.argv[1:]])}` in {wall / 60:.1f} min",
        "",
    ]


def custom_paths_state() -> str:
    """Whether neuroembed's hand-written training paths run on the benchmark's device, and why."""
    on = custom_paths_on(torch.device(_speed_grid.DEVICE))
    chosen = os.environ.get(ENVIRONMENT_VARIABLE, "")
    return ("on" if on else "off") + (
        f" ({ENVIRONMENT_VARIABLE}={chosen})" if chosen else " (the default for the device)"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: a smoke test, not a benchmark"
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS + GRID_PARTS + SHARE_PARTS,
        default=list(PARTS),
        help="default: the first four; 'grid' and 'dense' (results/speed_grid.md) and 'share' "
        "(results/speed_share.md) only when named",
    )
    parser.add_argument(
        "--data-dir", default=str(_tasks.DEFAULT_DATA_DIR), help="the real recordings (grid part)"
    )
    parser.add_argument(
        "--iterations", type=int, default=200, help="iterations per head-to-head fit"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="fits per system and conditional (>= 3)"
    )
    parser.add_argument(
        "--scaling-steps", type=int, default=100, help="timed steps per scaling point"
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument(
        "--device",
        default="cpu",
        help="the device of the head-to-head, grid and scaling parts (e.g. cuda; default cpu); the stream part "
        "reads an HDF5 file on the CPU",
    )
    parser.add_argument(
        "--scratch", default=None, help="folder for the 4 GB HDF5 file (default: the temp dir)"
    )
    parser.add_argument(
        "--output",
        default=None,
        help="markdown file to write, or '-' to print only (default: results/speed.md for the first four parts, "
        "results/speed_grid.md and .json for grid and dense)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    _speed_grid.DEVICE = args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    cebra = cebra_version()
    if cebra is None:
        print("cebra is not installed: timing neuroembed alone", file=sys.stderr)
    start = time.perf_counter()
    body: list[str] = []
    grid_body: list[str] = []
    share_body: list[str] = []
    raw: dict[str, Any] = {}
    loads = []
    runners: dict[str, Any] = {
        "head": lambda: run_head(args, cebra is not None),
        "sparse": lambda: run_sparse(args),
        "scaling": lambda: run_scaling(args),
        "stream": lambda: run_stream(args),
    }
    for part in args.parts:
        loads.append(os.getloadavg())
        if part == "grid":
            lines, raw["grid"] = _speed_grid.run_grid(args, SETTINGS, cebra is not None)
            grid_body += lines + [""]
        elif part == "dense":
            lines, raw["dense"] = _speed_dense.run_dense(args, SETTINGS)
            grid_body += lines + [""]
        elif part == "share":
            lines, raw["share"] = _speed_share.run_share(args, SETTINGS)
            share_body += lines + [""]
        else:
            body += runners[part]() + [""]
    wall = time.perf_counter() - start
    # each set of parts to its own file, or everything to --output
    files: dict[str, list[str]] = {}
    if body:
        text = "\n".join(header(args, cebra, loads, wall) + body)
        files.setdefault(args.output or str(DEFAULT_OUTPUT), []).append(text)
    # the named parts: their title, default file and the raw figures written beside it as JSON
    named = [
        (
            grid_body,
            "Training speed over a grid of recordings, and the dense step",
            GRID_OUTPUT,
            ("grid", "dense"),
        ),
        (
            share_body,
            "Training speed: each path's share of its products' limit",
            SHARE_OUTPUT,
            ("share",),
        ),
    ]
    figures: dict[str, dict[str, Any]] = {}
    for part_body, title, default, keys in named:
        if not part_body:
            continue
        text = "\n".join(header(args, cebra, loads, wall, title) + part_body)
        output = args.output or str(default)
        files.setdefault(output, []).append(text)
        figures.setdefault(output, {}).update({k: v for k, v in raw.items() if k in keys})
    for output, figure in figures.items():
        if output != "-":
            produced_by = " ".join(["python benchmarks/speed.py", *sys.argv[1:]])
            _speed_grid.write_json(
                {"produced_by": produced_by, **figure}, Path(output).with_suffix(".json")
            )
    for output, texts in files.items():
        write_output("\n\n".join(texts), output)
    text = "\n\n".join(t for texts in files.values() for t in texts)
    print(text)
    return text


if __name__ == "__main__":
    main()

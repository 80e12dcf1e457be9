"""The ``dense`` part of ``speed.py``: neuroembed's training step on dense data, in GFLOP/s, against ``torch.mm``.

Dense data (calcium traces, dense counts) take no sparse products: the first layer is a dense product per kernel tap
over the windows of a step (on recordings longer than the rows a step reads; shorter ones run the first layers over
the whole recording instead, which this part does not measure). For 20, 120 and 500 neurons of dense float traces
(an AR(1) process, every entry non-zero), the steady-state step of an offset10 fit (``speed.py``'s settings,
``time_delta`` positives on a 1-D random walk) is timed in its phases, and its floating-point operations are counted
analytically from the model's layers (:func:`step_products`): a convolution producing ``M`` rows from ``C_in`` to
``C_out`` channels with kernel ``k`` is ``k`` products of ``2 M C_in C_out`` operations forward, as many for the
weight gradient, and as many again for the input gradient, except at the first layer (the data need no gradient).
Bias, GELU, normalisation, the loss (about 4 MFLOP) and Adam are not counted.

Beside the step: the GFLOP/s of plain ``torch.mm`` on the same shapes, the first layer's product in im2col form
``(windows x rows, kernel x neurons) @ (kernel x neurons, hidden)`` and per tap (what neuroembed runs), a hidden
layer's product per tap and in im2col form, every product of the step at its own shape (the step's products at
``torch.mm`` speed, the bound for this way of computing the step), and a 1024^3 product (the CPU's peak for a
large, square product).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import neuroembed as ne

NEURONS = (20, 120, 500)


@dataclass(frozen=True)
class Product:
    """``count`` products ``(m, k) @ (k, n)``; ``transposed``: the left operand is a transposed view."""

    what: str
    m: int
    k: int
    n: int
    count: int
    transposed: bool = False

    @property
    def flops(self) -> int:
        return 2 * self.m * self.k * self.n * self.count


def step_products(model: Any, windows: int) -> list[Product]:
    """The matrix products of one window-by-window step of a residual conv encoder (forward and backward)."""
    stem, trunk = model.stems[0], model.trunk
    hidden, c_in, k_stem = stem.weight.shape
    length = model.receptive_field - k_stem + 1
    out = [
        Product("first layer forward", windows * length, c_in, hidden, k_stem),
        Product("first layer weight gradient", hidden, windows * length, c_in, k_stem, True),
    ]
    for j, block in enumerate(trunk.blocks):
        length -= block.shrink
        m, c, k = windows * length, block.conv.weight.shape[0], block.conv.weight.shape[2]
        out += [
            Product(f"block {j + 1} forward", m, c, c, k),
            Product(f"block {j + 1} weight gradient", c, m, c, k, True),
            Product(f"block {j + 1} input gradient", m, c, c, k),
        ]
    d, c, k = trunk.out.weight.shape
    m = windows * (length - k + 1)
    out += [
        Product("output forward", m, c, d, k),
        Product("output weight gradient", d, m, c, k, True),
        Product("output input gradient", m, d, c, k),
    ]
    return out


def mm_seconds(m: int, k: int, n: int, repeats: int, transposed: bool = False) -> float:
    """Median seconds of one ``torch.mm`` of ``(m, k) @ (k, n)`` float32 (left operand a transposed view)."""
    generator = torch.Generator().manual_seed(0)
    a = (
        torch.randn(k, m, generator=generator).t()
        if transposed
        else torch.randn(m, k, generator=generator)
    )
    b = torch.randn(k, n, generator=generator)
    c = torch.empty(m, n)
    times = []
    for i in range(repeats + 3):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def dense_traces(n: int, neurons: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """AR(1) traces (calcium-like, every entry non-zero) and a 1-D random-walk behaviour."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, neurons)).astype(np.float32)
    X = np.empty_like(noise)
    X[0] = noise[0]
    for t in range(1, n):  # a loop over rows of a few hundred columns: a second at 10^5
        X[t] = 0.9 * X[t - 1] + noise[t]
    walk = np.cumsum(rng.normal(0.0, 0.01, n)) % 2.0
    y = np.where(walk > 1.0, 2.0 - walk, walk).astype(np.float32)[:, None]
    return X, y


def step_phases(
    X: np.ndarray, y: np.ndarray, settings: dict, steps: int
) -> tuple[dict[str, float], Any, int, bool]:
    """Median seconds of each phase of the steady-state step; the model, the windows per step and whether the
    windows took the window-by-window path."""
    est = ne.Estimator(
        **settings, conditional="time_delta", max_iterations=steps, device="cpu", random_state=0
    )
    est._check_params()
    run = est._prepare(X, y)
    solver = run.solver
    times, windows = timed_steps(run, steps, warm=10 if steps >= 20 else 2)
    phases = {k: float(np.median(v)) for k, v in times.items()}
    whole = getattr(solver, "_whole", None)
    window_path = not whole(0, windows) if whole is not None else True
    return phases, solver.model, windows, window_path


def timed_steps(run: Any, steps: int, warm: int) -> tuple[dict[str, np.ndarray], int]:
    """Seconds of each phase, step by step, of ``steps`` training steps of a prepared fit (``Estimator._prepare``) after
    ``warm`` untimed ones: sampling, forward, loss, backward, optimiser; and the windows embedded per step."""
    solver, optimizer, criterion = run.solver, run.optimizer, run.criterion
    phases: dict[str, list[float]] = {
        "sampling": [],
        "forward": [],
        "loss": [],
        "backward": [],
        "optimiser": [],
    }
    torch.set_flush_denormal(True)
    device = optimizer.param_groups[0]["params"][0].device
    # on a GPU the kernels run behind the Python that launches them: wait for them before each clock read
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    windows = 0
    for i in range(steps + warm):
        sync()
        t0 = time.perf_counter()
        batch = solver.sampler.sample()
        sync()
        t1 = time.perf_counter()
        groups = [[r, p, n] for r, p, n in zip(batch.reference, batch.positive, batch.negative)]
        ref, pos, neg = solver.encode(groups)
        sync()
        t2 = time.perf_counter()
        loss = criterion(ref, pos, neg)
        sync()
        t3 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        sync()
        t4 = time.perf_counter()
        optimizer.step()
        sync()
        t5 = time.perf_counter()
        windows = sum(len(g) for group in groups for g in group)
        if i >= warm:
            for key, seconds in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                phases[key].append(seconds)
    return {k: np.asarray(v) for k, v in phases.items()}, windows


def run_dense(args: argparse.Namespace, settings: dict) -> tuple[list[str], list[dict[str, Any]]]:
    n = 12_000 if args.quick else 100_000
    steps = 5 if args.quick else 100
    repeats = 5 if args.quick else 30
    torch.set_flush_denormal(True)
    square = mm_seconds(1024, 1024, 1024, repeats)
    peak = 2 * 1024**3 / square / 1e9
    rows: list[dict[str, Any]] = []
    for neurons in NEURONS:
        X, y = dense_traces(n, neurons, neurons)
        phases, model, windows, window_path = step_phases(X, y, settings, steps)
        products = step_products(model, windows)
        forward_flops = sum(p.flops for p in products if "forward" in p.what)
        total = sum(p.flops for p in products)
        # every product of the step at torch.mm's speed for its shape
        at_mm = sum(mm_seconds(p.m, p.k, p.n, repeats, p.transposed) * p.count for p in products)
        # one product of the first layer in im2col form and per tap, and of the first hidden block
        stem, block = products[0], products[2]
        first_flops, hidden_flops = stem.flops, block.flops  # im2col: all taps in one product
        first_im2col = mm_seconds(stem.m, stem.k * stem.count, stem.n, repeats)
        first_tap = mm_seconds(stem.m, stem.k, stem.n, repeats) * stem.count
        hidden_tap = mm_seconds(block.m, block.k, block.n, repeats) * block.count
        hidden_im2col = mm_seconds(block.m, block.k * block.count, block.n, repeats)
        step = sum(phases.values())
        compute = phases["forward"] + phases["loss"] + phases["backward"]
        entry = {
            "neurons": neurons,
            "samples": n,
            "windows": windows,
            "window_path": window_path,
            "phases_s": phases,
            "flops_forward": forward_flops,
            "flops_step": total,
            "products_at_mm_s": at_mm,
            "gflops_step": total / step / 1e9,
            "gflops_forward_backward": total / compute / 1e9,
            "gflops_forward": forward_flops / phases["forward"] / 1e9,
            "gflops_mm_first_im2col": first_flops / first_im2col / 1e9,
            "gflops_mm_first_tap": first_flops / first_tap / 1e9,
            "gflops_mm_hidden_tap": hidden_flops / hidden_tap / 1e9,
            "gflops_mm_hidden_im2col": hidden_flops / hidden_im2col / 1e9,
            "gflops_mm_all_products": total / at_mm / 1e9,
            "gflops_mm_1024": peak,
            "shapes": {
                "first_im2col": [stem.m, stem.k * stem.count, stem.n],
                "hidden_tap": [block.m, block.k, block.n],
            },
        }
        print(
            f"dense {neurons:3d} neurons: step {step * 1e3:.1f} ms ({entry['gflops_step']:.1f} GFLOP/s; forward + "
            f"backward {compute * 1e3:.1f} ms, {entry['gflops_forward_backward']:.1f} GFLOP/s); its products at "
            f"torch.mm speed {at_mm * 1e3:.1f} ms ({entry['gflops_mm_all_products']:.1f} GFLOP/s); "
            f"1024^3 mm {peak:.1f} GFLOP/s",
            flush=True,
        )
        rows.append(entry)
    first = rows[0]
    lines = [
        "## Dense data: the training step in GFLOP/s against `torch.mm`",
        "",
        f"neuroembed's steady-state step (offset10, batch 512, `time_delta` on 1-D behaviour; {first['windows']} "
        f"windows of 10 samples a step) on {n:,} samples of dense AR(1) traces (every entry non-zero), median of "
        f"{steps} steps after warm-up; "
        + (
            "window-by-window path (the general path of every recording longer than the rows a step reads). "
            if all(r["window_path"] for r in rows)
            else "**not all on the window-by-window path**. "
        )
        + "FLOPs counted from the layers' products (forward; weight gradients; input gradients except the first "
        "layer's); *forward + backward* leaves out sampling and the optimiser step. The `torch.mm` columns time "
        "plain float32 products of the first layer's shape in im2col form (windows x 9 rows, 2 x neurons) @ "
        "(2 x neurons, 32), of a hidden layer's product per tap (windows x 7 rows, 32) @ (32, 32) and in im2col "
        "form (windows x 7 rows, 96) @ (96, 32), and every product of the step at its own shape (*all products*: "
        "the step's products at `torch.mm` speed, with nothing else). GFLOP/s; the last column is a 1024^3 "
        f"product, this CPU's peak for large square products ({torch.get_num_threads()} threads).",
        "",
        "| neurons | GFLOP a step | step (ms) | forward + backward (ms) | step GFLOP/s | forward + backward GFLOP/s "
        "| forward GFLOP/s | mm first layer im2col | mm first layer per tap | mm hidden per tap | mm hidden im2col "
        "| mm all products (ms, GFLOP/s) | mm 1024^3 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ph = r["phases_s"]
        step = sum(ph.values())
        compute = ph["forward"] + ph["loss"] + ph["backward"]
        lines.append(
            f"| {r['neurons']} | {r['flops_step'] / 1e9:.2f} | {step * 1e3:.1f} | {compute * 1e3:.1f} | "
            f"**{r['gflops_step']:.1f}** | {r['gflops_forward_backward']:.1f} | {r['gflops_forward']:.1f} | "
            f"{r['gflops_mm_first_im2col']:.1f} | {r['gflops_mm_first_tap']:.1f} | "
            f"{r['gflops_mm_hidden_tap']:.1f} | {r['gflops_mm_hidden_im2col']:.1f} | "
            f"{r['products_at_mm_s'] * 1e3:.1f}, {r['gflops_mm_all_products']:.1f} | {r['gflops_mm_1024']:.1f} |"
        )
    lines += [
        "",
        "Phases of the step (median ms):",
        "",
        "| neurons | sampling | forward | loss | backward | optimiser |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['neurons']} | "
            + " | ".join(f"{v * 1e3:.2f}" for v in r["phases_s"].values())
            + " |"
        )
    return lines, rows

"""What the Jacobian regulariser costs per training step.

Times ``Estimator.fit`` steps without the penalty, with its one-projection estimate and with the exact norm, on
synthetic recordings of several sizes (neurons x samples), model ``offset10``, batch 512, 8 dimensions. The first
``WARMUP`` steps of each fit are not counted; the figure is the median of ``REPEATS`` fits' seconds per step.

Usage::

    python benchmarks/jacobian_cost.py           # writes results/jacobian_cost.md
    python benchmarks/jacobian_cost.py --quick   # a smoke test, writes nothing
"""

from __future__ import annotations

import argparse
import datetime
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import neuroembed as ne

HERE = Path(__file__).resolve().parent
SHAPES = [(50, 10_000), (120, 10_000), (500, 10_000)]
ITERATIONS = 40
REPEATS = 3
VARIANTS = [
    ("off", dict()),
    ("projection", dict(jacobian_weight=0.01)),
    ("exact", dict(jacobian_weight=0.01, jacobian_estimate="exact")),
]


def seconds_per_step(X: np.ndarray, y: np.ndarray, params: dict, iterations: int) -> float:
    """Seconds per step of a fit (its loop time over its steps; data preparation not counted)."""
    kw = dict(
        model="offset10", batch_size=512, output_dimension=8, random_state=0, device="cpu", **params
    )
    est = ne.Estimator(max_iterations=iterations, **kw).fit(X, y)
    return est.fit_seconds_ / est.n_iter_


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    torch.set_flush_denormal(True)
    shapes = SHAPES[:1] if args.quick else SHAPES
    iterations = 5 if args.quick else ITERATIONS
    repeats = 1 if args.quick else REPEATS
    rows = []
    for n_neurons, n_samples in shapes:
        rec = ne.datasets.linear_track(n_samples=n_samples, n_neurons=n_neurons, random_state=0)
        X, y = rec.neural, rec.behaviour
        times = {}
        for name, params in VARIANTS:
            times[name] = float(
                np.median([seconds_per_step(X, y, params, iterations) for _ in range(repeats)])
            )
        rows.append((n_neurons, n_samples, times))
        print(
            f"{n_neurons} x {n_samples}: "
            + ", ".join(f"{k} {1000 * v:.1f} ms/step" for k, v in times.items()),
            flush=True,
        )
    if args.quick:
        return
    revision = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    lines = [
        "# Cost of the Jacobian regulariser per training step",
        "",
        f"`python benchmarks/jacobian_cost.py`, {datetime.date.today()}, revision {revision}, "
        f"{platform.platform()}, torch {torch.__version__}, {torch.get_num_threads()} threads, CPU. Model offset10, "
        f"batch 512, 8 dimensions, `time_delta`, synthetic linear track; median over {REPEATS} fits of {ITERATIONS} "
        "steps of the fit's loop seconds per step.",
        "",
        "| neurons x samples | no penalty | one projection | exact | projection / none | exact / none |",
        "|---|---|---|---|---|---|",
    ]
    for n_neurons, n_samples, t in rows:
        lines.append(
            f"| {n_neurons} x {n_samples} | {1000 * t['off']:.1f} ms | {1000 * t['projection']:.1f} ms | "
            f"{1000 * t['exact']:.1f} ms | {t['projection'] / t['off']:.1f}x | {t['exact'] / t['off']:.1f}x |"
        )
    lines += [
        "",
        "The penalty runs the encoder's plain forward on the references and differentiates it twice; the fast "
        "time-major path (hand-written backward) cannot be, so a regularised step pays for the plain path as well. "
        "The exact norm needs one extra backward pass per output dimension, the projection one in all.",
    ]
    out = HERE / "results" / "jacobian_cost.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

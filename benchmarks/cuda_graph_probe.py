"""Probe, for a later change: how much of a training step on a GPU is launch overhead, and would capturing the
whole step in a CUDA graph (sampling, encoder, loss, backward and Adam replayed as one launch) remove it?

On a GPU, neuroembed's step on a small model (offset10, batch 512) is a few milliseconds of Python, autograd and
kernel launches around far less arithmetic (``benchmarks/results/device/speed.md``). This script times, on one
prepared fit (``Estimator._prepare``, the same data and settings as ``speed.py``'s head to head):

1. eager steps, as ``fit`` runs them (custom paths as the device's default);
2. the same step captured once in a ``torch.cuda.CUDAGraph`` and replayed, with ``torch.optim.Adam(fused=True,
   capturable=True)`` and the sampler drawing from the device's default generator (which a capture registers);

and writes the milliseconds per step of each, the losses of the first and last steps of each (the draws differ,
so they are compared as trajectories, not value for value), and, where the capture fails, the error: a host
synchronisation or a shape that changes between steps is what a graph path in the library would have to remove.

Nothing here is a library feature; on the CPU the script times the eager steps only and says the graph part was
not run (which keeps it checkable without a GPU: ``python benchmarks/cuda_graph_probe.py --device cpu --quick``).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import traceback
import warnings

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import neuroembed as ne  # noqa: E402
from neuroembed._graphs import GraphedStep, default_generator  # noqa: E402

from speed import SETTINGS, head_data  # noqa: E402  # isort: skip


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def prepared(X: np.ndarray, y: np.ndarray, conditional: str, device: str, seed: int):
    est = ne.Estimator(
        **SETTINGS, conditional=conditional, max_iterations=10, device=device, random_state=seed
    )
    est._check_params()
    return est._prepare(X, None if conditional == "time" else y)


def eager(run, steps: int, warm: int) -> dict:
    solver, optimizer = run.solver, run.optimizer
    device = run.device
    losses = []
    for i in range(warm + steps):
        if i == warm:
            synchronize(device)
            start = time.perf_counter()
        loss = solver.loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    synchronize(device)
    seconds = time.perf_counter() - start
    history = torch.stack(losses).double().cpu().numpy()
    return {
        "ms_per_step": seconds / steps * 1e3,
        "loss_first": float(history[:10].mean()),
        "loss_last": float(history[-10:].mean()),
    }


def graphed(run, steps: int, warm: int) -> dict:
    """The whole step captured once and replayed ``steps`` times, through the library's own
    :class:`neuroembed._graphs.GraphedStep` (the capture ``fit`` makes, not a copy of it)."""
    device = run.device
    solver = run.solver
    params = [p for group in run.optimizer.param_groups for p in group["params"]]
    lr = run.optimizer.param_groups[0]["lr"]
    optimizer = torch.optim.Adam(params, lr=lr, fused=True, capturable=True)
    # a capture registers the device's default generator; the sampler's own would need registering by hand
    generator = default_generator(device)
    generator.manual_seed(0)
    solver.sampler.generator = generator
    step = GraphedStep(lambda i: solver.loss(), optimizer, device, warmup=warm)
    for i in range(warm):
        step(i)
    synchronize(device)
    capture_start = time.perf_counter()
    with warnings.catch_warnings():
        # a failed capture warns and goes on eagerly; here the failure is the finding
        warnings.simplefilter("ignore", RuntimeWarning)
        step(warm)
    synchronize(device)
    capture_seconds = time.perf_counter() - capture_start
    if step.failed is not None:
        raise RuntimeError(step.failed)

    losses = torch.zeros(steps, device=device)
    synchronize(device)
    start = time.perf_counter()
    for i in range(steps):
        losses[i] = step(warm + 1 + i)
    synchronize(device)
    seconds = time.perf_counter() - start
    history = losses.double().cpu().numpy()
    return {
        "ms_per_step": seconds / steps * 1e3,
        "capture_seconds": capture_seconds,
        "loss_first": float(history[:10].mean()),
        "loss_last": float(history[-10:].mean()),
        "finite": bool(np.isfinite(history).all()),
    }


# fits whose step neuroembed does not (yet) replay from a graph by default: each is tried with
# NEUROEMBED_CUDA_GRAPHS=force, in a process of its own (a failed capture must not spoil the next), against the same
# fit with graphs off
EXPLORE = {
    "discrete": "dict(conditional='discrete'), labels",
    "two sessions": "dict(conditional='time_delta'), ([X, X[::-1].copy()], [y, y[::-1].copy()])",
    "hybrid": "dict(conditional='time_delta', hybrid=True), y",
    "objectives": "dict(objectives=[('time_delta', 4), ('time', 4)], output_dimension=8), y",
    "dense traces": "dict(conditional='time_delta'), y, dense",
    "offset36": "dict(conditional='time_delta', model='offset36'), y",
    "bfloat16": "dict(conditional='time_delta', precision='bfloat16'), y",
    "jacobian": "dict(conditional='time_delta', jacobian_weight=0.01), y",
}

EXPLORE_CHILD = """
import json, os, sys, time, warnings
import numpy as np, torch
import neuroembed as ne
rec = ne.datasets.linear_track(n_samples=4000, n_neurons=60, random_state=0)
X, y = rec.neural.astype(np.float32), rec.behaviour.astype(np.float32)
labels = (np.arange(len(X)) // 250 % 4).astype(np.int64)
dense = False
settings, target, *rest = {case}
if rest:
    X = X + np.random.default_rng(0).normal(size=X.shape).astype(np.float32)
if isinstance(target, tuple):
    X, target = target
out = {{}}
# untimed: the first fit in a process pays CUDA's own start-up
ne.Estimator(max_iterations=5, device="cuda", conditional="time").fit(X if not isinstance(target, tuple) else X[0])
for mode in ("force", "0"):
    os.environ["NEUROEMBED_CUDA_GRAPHS"] = mode
    est = ne.Estimator(**{{**dict(model="offset10", batch_size=512, output_dimension=8, max_iterations=300,
                               device="cuda", random_state=0), **settings}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        est.fit(X, target)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    out[mode] = dict(path=est._training_path_, ms=seconds / 300 * 1e3,
                     loss_last=float(est.loss_history_[-20:].mean()),
                     warnings=[str(w.message)[:300] for w in caught])
print("RESULT " + json.dumps(out))
"""


def explore(python: str) -> list[str]:
    """Each fit of :data:`EXPLORE` with graphs forced and off, in its own process: a table row each."""
    import subprocess

    rows = []
    for name, case in EXPLORE.items():
        code = EXPLORE_CHILD.format(case=case)
        try:
            done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
            line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        except subprocess.TimeoutExpired:
            done, line = None, None
        if line is None:
            tail = "timed out" if done is None else (done.stderr.strip().splitlines() or ["?"])[-1]
            rows.append(f"| {name} | failed: {tail[:200]} | | | | |")
            print(name, "failed:", "" if done is None else done.stderr[-2000:], flush=True)
            continue
        result = json.loads(line[len("RESULT ") :])
        forced, off = result["force"], result["0"]
        note = "; ".join(forced["warnings"])[:300]
        rows.append(
            f"| {name} | {forced['path']} | {forced['ms']:.2f} | {off['ms']:.2f} | "
            f"{forced['loss_last']:.3f} / {off['loss_last']:.3f} | {note} |"
        )
        print(name, json.dumps(result), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes (a check that the script runs)"
    )
    parser.add_argument("--output", help="markdown file to write (default: print only)")
    parser.add_argument(
        "--explore",
        action="store_true",
        help="also try the fits that are not replayed from a graph by default (NEUROEMBED_CUDA_GRAPHS=force)",
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    steps = 10 if args.quick else args.steps
    X, y = head_data(*((2000, 40) if args.quick else (8000, 120)))
    rows = []
    for conditional in ("time", "time_delta"):
        row = {"conditional": conditional}
        row["eager"] = eager(prepared(X, y, conditional, args.device, 0), steps, warm=10)
        if device.type == "cuda":
            try:
                row["graph"] = graphed(prepared(X, y, conditional, args.device, 0), steps, warm=5)
            except Exception as error:  # a probe: the failure is the finding
                row["graph"] = {"error": "".join(traceback.format_exception(error))[-3000:]}
        else:
            row["graph"] = {"error": "not run: CUDA graphs need a CUDA device"}
        print(json.dumps(row, indent=1), flush=True)
        rows.append(row)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    lines = [
        "# Whole-step CUDA graph probe",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; torch {torch.__version__}; {name}; "
        f"`linear_track` {X.shape[0]} x {X.shape[1]}, speed.py's settings (offset10, batch 512); {steps} timed "
        "steps after warm-up. Eager: the step as `fit` runs it. Graph: sampling, encoder, loss, backward and "
        "Adam (fused, capturable) captured once and replayed. Losses: mean of the first and last ten steps (the "
        "two runs draw different batches).",
        "",
        "| positives | eager ms/step | graph ms/step | speed-up | eager loss first -> last | graph loss first -> last |",
        "|---|---|---|---|---|---|",
    ]
    errors = []
    for row in rows:
        e, g = row["eager"], row["graph"]
        if "error" in g:
            errors.append((row["conditional"], g["error"]))
            lines.append(
                f"| `{row['conditional']}` | {e['ms_per_step']:.2f} | failed | | "
                f"{e['loss_first']:.3f} -> {e['loss_last']:.3f} | |"
            )
        else:
            lines.append(
                f"| `{row['conditional']}` | {e['ms_per_step']:.2f} | {g['ms_per_step']:.3f} | "
                f"{e['ms_per_step'] / g['ms_per_step']:.1f}x | {e['loss_first']:.3f} -> {e['loss_last']:.3f} | "
                f"{g['loss_first']:.3f} -> {g['loss_last']:.3f} |"
            )
    for conditional, error in errors:
        lines += ["", f"Capture with `{conditional}` failed:", "", "```", error.strip(), "```"]
    if args.explore and device.type == "cuda":
        lines += [
            "",
            "## Fits not replayed from a graph by default, forced (`NEUROEMBED_CUDA_GRAPHS=force`)",
            "",
            "`linear_track` 4000 x 60, offset10, batch 512, 300 iterations, each fit in its own process, forced "
            "and with graphs off; ms per iteration of the whole fit (setup included); the mean of the last 20 "
            "losses of each.",
            "",
            "| fit | path when forced | ms/iter forced | ms/iter off | last losses forced / off | warnings |",
            "|---|---|---|---|---|---|",
            *explore(sys.executable),
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        pathlib.Path(args.output).write_text(text)


if __name__ == "__main__":
    main()

"""Transfer to new neurons: ``Estimator.adapt`` against a model trained from scratch for the same iterations.

Two settings, each over seeds, in one process:

1. **Another animal.** A model is fitted on rat buddy (CEBRA's hippocampus recording, 48 neurons, position and
   direction, its whole recording, :data:`PRETRAIN` iterations). It is then adapted to the achilles excerpt (2000
   bins, 120 neurons; its training block of :mod:`_tasks`, the first 80 %) for each of :data:`ITERATIONS` steps: a
   new input layer trained with the trunk frozen (``adapt``), and, as a second variant, half the steps frozen and
   half fine-tuning the trunk too (``adapt+finetune``). Against it, a model of the same settings and seed trained on
   the same achilles block from random weights for the same steps (``scratch``). Every count is its own run from
   the same pretrained model (not one run read at several points).
2. **A new session in a shared space.** A two-session model is fitted on two synthetic linear-track recordings of
   different neurons (``neuroembed.datasets.linear_track``, 80 and 120 neurons); a third recording (100 other neurons)
   is added with ``adapt`` (trunk frozen), against a one-session model of it from scratch, for each of
   :data:`ITERATIONS` steps. The two earlier sessions' embeddings are
   checked to be unchanged by the frozen-trunk adapt (bitwise).

Each model embeds its recording with ``transform`` and is scored on the held-out last 20 % by the kNN decoder of
:mod:`_tasks` (median absolute position error, metres for achilles and the synthetic track). Seconds are those of the
``adapt`` or ``fit`` call alone (the pretraining is not counted: it is the model a lab already has).

    python benchmarks/transfer.py                 # 5 seeds; writes results/transfer.md and results/transfer.json
    python benchmarks/transfer.py --quick         # smoke test: 2 seeds, 10 and 20 steps, writes nothing
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _tasks  # noqa: E402
import quality  # noqa: E402

import neuroembed as ne  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

#: Settings of every model here: CEBRA's of ``quality.py`` (offset10, batch 512, 8 dimensions, time offset 10,
#: learning rate 3e-4, ``time_delta``).
SETTINGS = {k: v for k, v in quality.SETTINGS.items()}
PRETRAIN = 2000
#: Steps of adapt and of training from scratch; 500 is CEBRA's default for fit(..., adapt=True). Fixed before the
#: first full run (a first look at 500 steps alone, on 2 seeds, found adapt and scratch within each other's spread).
ITERATIONS = (100, 250, 500, 1000)


#: The second scratch baseline's learning rate: the best rate for scratch among 3e-4 and 1e-3 on seeds 5-9 (the
#: seeds on which adapt's frozen-phase rate was chosen), so that adapt is also compared with scratch at its best.
SCRATCH_FAST_RATE = 1e-3


def _estimator(seed: int, iterations: int, learning_rate: float | None = None) -> ne.Estimator:
    settings = dict(SETTINGS)
    if learning_rate is not None:
        settings["learning_rate"] = learning_rate
    return ne.Estimator(**settings, max_iterations=iterations, random_state=seed)


def _scratch(run: dict[str, Any], seed: int, iterations: int, task: _tasks.Task) -> None:
    """Train ``task``'s block from random weights, at the settings' rate and at :data:`SCRATCH_FAST_RATE`."""
    for name, rate in (
        ("scratch", None),
        (f"scratch (lr {SCRATCH_FAST_RATE:g})", SCRATCH_FAST_RATE),
    ):
        est = _estimator(seed, iterations, rate)
        seconds = _timed(lambda s=est: s.fit(task.neural_train, task.behaviour_train))
        run[name] = {"error": _score(task, est.transform), "seconds": seconds}


def _timed(call: Any) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def _score(task: _tasks.Task, embed: Any) -> float:
    whole = embed(np.concatenate([task.neural_train, task.neural_test]))
    n = task.n_train
    return float(_tasks.decode_error(task, whole[:n], whole[n:]))


def another_animal(
    rat: _tasks.Task, achilles: _tasks.Task, seed: int, counts: list[int], pretrain: int
) -> dict[str, Any]:
    """buddy -> achilles: adapt, adapt+finetune and scratch for each number of steps in ``counts``."""
    buddy = np.concatenate([rat.neural_train, rat.neural_test])
    buddy_y = np.concatenate([rat.behaviour_train, rat.behaviour_test])
    source = _estimator(seed, pretrain).fit(buddy, buddy_y)
    out: dict[str, Any] = {}
    x, y = achilles.neural_train, achilles.behaviour_train
    for iterations in counts:
        run: dict[str, Any] = {}
        for name in ("adapt", "adapt+finetune"):
            est = _copy(source)
            frozen = iterations if name == "adapt" else iterations // 2
            seconds = _timed(
                lambda e=est, f=frozen, n=iterations: e.adapt(
                    x, y, iterations=f, finetune_iterations=n - f
                )
            )
            run[name] = {
                "error": _score(achilles, lambda z, e=est: e.transform(z, session=-1)),
                "seconds": seconds,
            }
        _scratch(run, seed, iterations, achilles)
        out[str(iterations)] = run
    return out


def _copy(est: ne.Estimator) -> ne.Estimator:
    """A fitted estimator's independent copy (``adapt`` changes the model it is called on)."""
    import copy

    return copy.deepcopy(est)


def _track(n_neurons: int, seed: int, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    rec = ne.datasets.linear_track(n_samples=n_samples, n_neurons=n_neurons, random_state=seed)
    return rec.neural, rec.behaviour[:, :1].astype(np.float32)  # position


def new_session(seed: int, counts: list[int], pretrain: int, quick: bool) -> dict[str, Any]:
    """Two synthetic sessions, then a third one added by adapt, against the third alone from scratch."""
    n = 3000 if quick else 8000
    x1, y1 = _track(80, 100 + seed, n)
    x2, y2 = _track(120, 200 + seed, n)
    x3, y3 = _track(100, 300 + seed, n)
    split = int(0.8 * n)
    task = _tasks.Task(
        name="track",
        neural_train=x3[:split],
        neural_test=x3[split:],
        behaviour_train=y3[:split],
        behaviour_test=y3[split:],
        target_train=y3[:split],
        target_test=y3[split:],
        kind="continuous",
        unit="m",
        description="synthetic linear track, third session",
    )
    source = _estimator(seed, pretrain).fit([x1, x2], [y1, y2])
    before = [source.transform(x1, session=0), source.transform(x2, session=1)]
    out: dict[str, Any] = {}
    for iterations in counts:
        shared = _copy(source)
        seconds = _timed(
            lambda s=shared, n=iterations: s.adapt(
                task.neural_train, task.behaviour_train, iterations=n
            )
        )
        unchanged = bool(
            np.array_equal(shared.transform(x1, session=0), before[0])
            and np.array_equal(shared.transform(x2, session=1), before[1])
        )
        run: dict[str, Any] = {
            "adapt": {
                "error": _score(task, lambda z, s=shared: s.transform(z, session=2)),
                "seconds": seconds,
                "old_sessions_unchanged": unchanged,
            }
        }
        _scratch(run, seed, iterations, task)
        out[str(iterations)] = run
    return out


def _summary(values: list[float]) -> str:
    m = float(np.mean(values))
    if len(values) < 2:
        return f"{m:.4f}"
    from scipy import stats

    half = float(
        stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values))
    )
    return f"{m:.4f} [{m - half:.4f}, {m + half:.4f}]"


def write_markdown(result: dict[str, Any]) -> str:
    counts = [str(n) for n in result["iterations"]]
    lines = [
        "# Transfer to new neurons: adapt against training from scratch",
        "",
        f"Produced by `{result['header']['command']}` on {result['header']['date']} ({result['header']['machine']}, "
        f"torch threads {result['header']['torch_threads']}; neuroembed {result['header']['neuroembed']}). "
        f"Settings of every model: {SETTINGS}; pretraining {result['pretrain']} iterations, then, for each number "
        "of steps, adapt (trunk frozen; its defaults: the new layer at learning rate "
        f"{result.get('adapt_learning_rate', 'of the settings')}), adapt+finetune (half the steps frozen, half with "
        "the trunk trained at the settings' rate) and scratch (random weights, the same settings and seed; and at "
        f"learning rate {SCRATCH_FAST_RATE:g}, scratch's better rate on the selection seeds), each its own run. Error: median absolute position "
        "error of the kNN decoder on the held-out last 20 % (m), mean [95 % t-interval] over seeds, then each "
        "seed; *better*: seeds on which the variant's error is below scratch's; seconds: mean of the adapt or fit "
        "call alone.",
        "",
        "| setting | steps | system | seeds | error (m) | per seed | better than scratch | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for setting, runs in result["settings"].items():
        for n in counts:
            per_count = [r[n] for r in runs]
            scratch = [r["scratch"]["error"] for r in per_count]
            for system in per_count[0]:
                errs = [r[system]["error"] for r in per_count]
                secs = [r[system]["seconds"] for r in per_count]
                better = (
                    ""
                    if system.startswith("scratch")
                    else f"{sum(e < s for e, s in zip(errs, scratch))} of {len(errs)}"
                )
                lines.append(
                    f"| {setting} | {n} | {system} | {len(errs)} | {_summary(errs)} | "
                    f"{', '.join(f'{e:.4f}' for e in errs)} | {better} | {np.mean(secs):.1f} |"
                )
    lines.append("")
    track = result["settings"].get("new session (synthetic)", [])
    if track:
        flags = [r[n]["adapt"]["old_sessions_unchanged"] for r in track for n in counts]
        lines.append(
            "The two earlier sessions' embeddings after the frozen-trunk adapt were bitwise unchanged in "
            f"{sum(flags)} of {len(flags)} runs."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--iterations", type=int, nargs="+", default=None, help=f"default {ITERATIONS}")
    p.add_argument(
        "--quick", action="store_true", help="smoke test: 2 seeds, few iterations, writes nothing"
    )
    args = p.parse_args(argv)
    torch.set_flush_denormal(True)
    iterations = list(args.iterations or ((10, 20) if args.quick else ITERATIONS))
    pretrain = 30 if args.quick else PRETRAIN
    seeds = args.seeds[:2] if args.quick else args.seeds
    animal, track = "another animal (buddy -> achilles)", "new session (synthetic)"
    settings: dict[str, list[dict[str, Any]]] = {animal: [], track: []}
    try:
        real = (
            _tasks.load_task("rat", quick=args.quick),
            _tasks.load_task("achilles", quick=args.quick),
        )
    except _tasks.MissingData as err:
        print(f"skipping buddy -> achilles: {err}", file=sys.stderr)
        real = None
        del settings[animal]
    for seed in seeds:
        if real is not None:
            settings[animal].append(another_animal(*real, seed, iterations, pretrain))
        settings[track].append(new_session(seed, iterations, pretrain, args.quick))
        print(
            f"seed {seed}: {json.dumps({k: v[-1] for k, v in settings.items() if v})}",
            file=sys.stderr,
            flush=True,
        )
    result = {
        "iterations": iterations,
        "pretrain": pretrain,
        "adapt_learning_rate": ne.Estimator.adapt.__kwdefaults__["learning_rate"],
        "seeds": seeds,
        "settings": settings,
        "header": {
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "machine": f"{platform.platform()}; CPU {quality.cpu_model()}, {os.cpu_count()} cores",
            "torch_threads": torch.get_num_threads(),
            "neuroembed": f"{quality.package_version('neuroembed')} (git {quality.git_revision()})",
            "command": " ".join(
                ["python", "benchmarks/transfer.py", *(argv if argv is not None else sys.argv[1:])]
            ),
        },
    }
    text = write_markdown(result)
    print(text)
    if not args.quick:
        (RESULTS / "transfer.json").write_text(json.dumps(result, indent=1))
        (RESULTS / "transfer.md").write_text(text)


if __name__ == "__main__":
    main()

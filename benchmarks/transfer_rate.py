"""How ``Estimator.adapt``'s frozen-phase learning rate was chosen: seeds 5-9, never the reported seeds 0-4.

The buddy -> achilles setting of ``transfer.py`` (a model of rat buddy, 2000 iterations; the achilles excerpt's
training block), for 500 and 1000 steps: adapt+finetune (half the steps with the trunk frozen at the rate named,
half fine-tuning at the settings' 3e-4), adapt alone (trunk frozen throughout) at two rates, and scratch at 3e-4 and
1e-3. Error: the kNN decoder's median absolute error on achilles' held-out block (m). One JSON line per seed and
count is printed and appended to ``results/transfer_rate.jsonl``; ``--summary`` prints the means of that file.

    python benchmarks/transfer_rate.py 5 6 7 8 9
    python benchmarks/transfer_rate.py --summary
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _tasks  # noqa: E402
import quality  # noqa: E402
from transfer import _score  # noqa: E402

import neuroembed as ne  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "transfer_rate.jsonl"
#: (name, frozen share of the steps, frozen-phase rate)
VARIANTS = [
    ("adapt+finetune 3e-4", 0.5, 3e-4),
    ("adapt+finetune 1e-3", 0.5, 1e-3),
    ("adapt+finetune 3e-3", 0.5, 3e-3),
    ("adapt+finetune 1e-2", 0.5, 1e-2),
    ("adapt 1e-3", 1.0, 1e-3),
    ("adapt 3e-3", 1.0, 3e-3),
]
SCRATCH_RATES = (3e-4, 1e-3)


def run(seeds: list[int]) -> None:
    torch.set_flush_denormal(True)
    rat, achilles = _tasks.load_task("rat"), _tasks.load_task("achilles")
    buddy = np.concatenate([rat.neural_train, rat.neural_test])
    buddy_y = np.concatenate([rat.behaviour_train, rat.behaviour_test])
    x, y = achilles.neural_train, achilles.behaviour_train
    for seed in seeds:
        source = ne.Estimator(**quality.SETTINGS, max_iterations=2000, random_state=seed)
        source.fit(buddy, buddy_y)
        for steps in (500, 1000):
            row: dict = {"seed": seed, "steps": steps}
            for name, share, rate in VARIANTS:
                est = copy.deepcopy(source)
                frozen = int(steps * share)
                t0 = time.perf_counter()
                est.adapt(
                    x, y, iterations=frozen, finetune_iterations=steps - frozen, learning_rate=rate
                )
                row[name] = [
                    _score(achilles, lambda z, e=est: e.transform(z, session=-1)),
                    time.perf_counter() - t0,
                ]
            for rate in SCRATCH_RATES:
                settings = {**quality.SETTINGS, "learning_rate": rate}
                est = ne.Estimator(**settings, max_iterations=steps, random_state=seed)
                t0 = time.perf_counter()
                est.fit(x, y)
                row[f"scratch {rate:g}"] = [
                    _score(achilles, est.transform),
                    time.perf_counter() - t0,
                ]
            print(json.dumps(row), flush=True)
            with OUT.open("a") as f:
                f.write(json.dumps(row) + "\n")


def summary() -> None:
    rows = [json.loads(line) for line in OUT.read_text().splitlines() if line.strip()]
    for steps in sorted({r["steps"] for r in rows}):
        sel = [r for r in rows if r["steps"] == steps]
        for name in [k for k in sel[0] if k not in ("seed", "steps")]:
            errors = [r[name][0] for r in sel]
            print(
                f"{steps:5d} {name:22s} mean {np.mean(errors):.4f}  "
                + " ".join(f"{e:.4f}" for e in errors)
            )


if __name__ == "__main__":
    if sys.argv[1:] == ["--summary"]:
        summary()
    else:
        run([int(s) for s in sys.argv[1:]] or [5, 6, 7, 8, 9])

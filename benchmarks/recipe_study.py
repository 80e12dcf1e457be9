"""How the recipe of ``quality_budget.py`` was chosen: member settings compared on the training blocks only.

The recipe must be one fixed function for every dataset, so it is chosen *before* the benchmark, and never on the
held-out test blocks that ``quality_budget.py`` scores. This script splits each task's **training block** once more:
its first 80 % (inner training) and its last 20 % (inner validation; per class for the BCI session, as the outer
split does). A candidate member setting is fitted on the inner training part for a fixed number of seconds (one
thread, two fits at a time: the recipe's conditions on a 2-core machine) and scored by the task's kNN decoder on the
inner validation part. The test blocks are not loaded into any fit or score here.

    python benchmarks/recipe_study.py --datasets rat achilles bci --configs base temp05 dim32 --seeds 0 1
    python benchmarks/recipe_study.py --datasets nelpy --seconds 150 --configs base early

Figures go to ``results/recipe_study/<dataset>.json`` (appended run by run) and ``results/recipe_study.md``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _tasks  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PER_DATASET = RESULTS / "recipe_study"

#: Seconds one member gets per dataset: the recipe's share of CEBRA's median fit seconds in quality_budget.py
#: (0.85 x CEBRA seconds / 2 rounds), rounded.
MEMBER_SECONDS = {
    "rat": 27.0,
    "achilles": 18.0,
    "bci": 18.0,
    "nelpy": 150.0,
    "linear_track": 30.0,
    "latent_manifold": 32.0,
    "ring": 30.0,
}

BASE: dict[str, Any] = dict(conditional="auto", learning_rate=1e-3, output_dimension=16)

#: Candidate member settings (changes from BASE).
CONFIGS: dict[str, dict[str, Any]] = {
    "base": {},
    "temp05": dict(temperature=0.5),
    "temp02": dict(temperature=0.2),
    "learnT": dict(temperature_mode="learnable"),
    "dim32": dict(output_dimension=32),
    "dim8": dict(output_dimension=8),
    "off36": dict(model="offset36"),
    "off5": dict(model="offset5"),
    "toff5": dict(time_offset=5),
    "toff20": dict(time_offset=20),
    "batch1024": dict(batch_size=1024),
    "batch256": dict(batch_size=256),
    "lr3e-3": dict(learning_rate=3e-3),
    "lr3e-4": dict(learning_rate=3e-4),
    "hidden64": dict(num_hidden_units=64),
    "early": dict(early_stopping=True),
    "dilated18": dict(model="dilated18"),
    "dilated34": dict(model="dilated34"),
    "dilated18-early": dict(model="dilated18", early_stopping=True),
    "dilated34-early": dict(model="dilated34", early_stopping=True),
}

#: Whole recipes: ensembles of (members, member setting), trained two members at a time for CEBRA's seconds
#: (``--seconds`` or :data:`RECIPE_SECONDS`), run with ``--jobs 1`` (the ensemble uses both cores itself).
ENSEMBLES: dict[str, tuple[int, str]] = {
    "ens4-base": (4, "base"),
    "ens4-dilated18": (4, "dilated18"),
    "ens8-dilated18": (8, "dilated18"),
    "ens4-dilated34": (4, "dilated34"),
    "ens8-dilated34": (8, "dilated34"),
}

#: CEBRA's median fit seconds for 2000 iterations per dataset in quality_budget.py (the recipes' budget).
RECIPE_SECONDS = {"rat": 67.0, "achilles": 47.0, "bci": 43.0, "nelpy": 363.0}

#: Rows of an earlier run of this study, kept in the JSON files: dilated encoders defined inside the script before
#: they became the public ``dilated18`` / ``dilated34`` (same layers; trained through the slower module forward,
#: so they ran fewer steps in the same seconds), and a five-block variant.
RETIRED: dict[str, str] = {
    "dil18": "dilations 1, 2, 4 (as dilated18), module forward",
    "dil34": "dilations 1, 2, 4, 8 (as dilated34), module forward",
    "dil34b": "dilations 1, 2, 4, 4, 4, module forward",
}


def inner_task(task: _tasks.Task) -> _tasks.Task:
    """``task``'s training block split again: first 80 % inner training, last 20 % inner validation."""
    n = task.n_train
    if task.kind == "discrete":
        labels = task.behaviour_train
        train_rows, val_rows = [], []
        for label in np.unique(labels):
            rows = np.flatnonzero(labels == label)
            k = int(round(0.8 * rows.size))
            train_rows.append(rows[:k])
            val_rows.append(rows[k:])
        tr, va = np.concatenate(train_rows), np.concatenate(val_rows)
    else:
        k = int(round(0.8 * n))
        tr, va = np.arange(k), np.arange(k, n)
    return _tasks.Task(
        task.name,
        task.neural_train[tr],
        task.neural_train[va],
        task.behaviour_train[tr],
        task.behaviour_train[va],
        task.target_train[tr],
        task.target_train[va],
        task.kind,
        task.unit,
        task.description + " [inner split of the training block]",
    )


def _fit_one(name: str, config: str, seed: int, seconds: float) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    import neuroembed as ne

    task = inner_task(_tasks.load_task(name))
    if config in ENSEMBLES:
        # a whole recipe: the members of an ensemble share the seconds CEBRA took (as in quality_budget.py)
        n_members, member_config = ENSEMBLES[config]
        rounds = -(-n_members // 2)
        member = ne.Estimator(
            **{**BASE, **CONFIGS[member_config]},
            max_iterations=1_000_000,
            max_seconds=0.85 * seconds / rounds,
            device="cpu",
        )
        est = ne.Ensemble(member, n_estimators=n_members, n_jobs=2, random_state=seed)
    else:
        params = {**BASE, **CONFIGS[config]}
        est = ne.Estimator(
            **params, max_iterations=1_000_000, max_seconds=seconds, device="cpu", random_state=seed
        )
    t0 = time.perf_counter()
    est.fit(task.neural_train, task.behaviour_train)
    fit_s = time.perf_counter() - t0
    # the validation block follows the inner training block in time: embed them together as the benchmark does
    whole = est.transform(np.concatenate([task.neural_train, task.neural_test]))
    emb_train, emb_val = whole[: task.n_train], whole[task.n_train :]
    return {
        "config": config,
        "seed": seed,
        "error": _tasks.decode_error(task, emb_train, emb_val),
        "iterations": int(
            np.mean([m.n_iter_ for m in est.estimators_]) if config in ENSEMBLES else est.n_iter_
        ),
        "best_iteration": getattr(est, "best_iteration_", None),
        "seconds": fit_s,
        "budget": seconds,
        "solver": "v2",
    }


def _describe(config: str) -> str:
    if config in ENSEMBLES:
        n, member = ENSEMBLES[config]
        return f"(recipe: {n} members `{CONFIGS[member]}`, 2 at a time, for CEBRA's seconds)"
    return f"`{CONFIGS[config]}`" if config in CONFIGS else f"({RETIRED.get(config, 'retired')})"


def write_markdown() -> Path:
    """Every ``results/recipe_study/<dataset>.json`` as one table, each setting beside ``base``."""
    lines = [
        "# Recipe study: member settings on the inner split of each training block",
        "",
        "Produced by `python benchmarks/recipe_study.py`. One member (an `Estimator`, not an ensemble) per fit, "
        "trained on the first 80 % of the task's training block for a fixed number of seconds (one thread, two "
        "fits at a time), scored by the task's kNN decoder on the last 20 % of the training block. The test blocks "
        "of `quality_budget.py` are not used. Base: `conditional='auto'`, learning rate 1e-3, output dimension 16, "
        "everything else the estimator's default (offset10, batch 512, temperature 1). Error: mean over seeds "
        "(each seed); change: of the mean, against `base` on the same dataset, seeds and solver.",
        "",
        "Solver: `v2` is the current training step (on a short recording the residual blocks run over the whole "
        "recording, as many as are cheaper that way, all of them when it is short); `v1` rows are from the step "
        "before it (only the first block ran over the whole recording, so the wide encoders ran far fewer steps "
        "in the same seconds). Only rows of the same solver are compared.",
        "",
        "| dataset | solver | seconds per fit | setting | seeds | error | change vs base | iterations |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(PER_DATASET.glob("*.json")):
        rows = json.loads(path.read_text())
        name = path.stem
        for solver in ("v2", "v1"):
            mine_solver = [r for r in rows if r.get("solver", "v1") == solver]
            configs = list(dict.fromkeys(r["config"] for r in mine_solver))
            base = {r["seed"]: r["error"] for r in mine_solver if r["config"] == "base"}
            for config in configs:
                mine = [r for r in mine_solver if r["config"] == config]
                errs = [r["error"] for r in mine]
                paired = [base[r["seed"]] for r in mine if r["seed"] in base]
                change = (
                    f"{100 * (np.mean(errs) / np.mean(paired) - 1):+.1f} %"
                    if len(paired) == len(mine) and config != "base"
                    else ""
                )
                seconds = sorted({round(r.get("budget", r["seconds"])) for r in mine})
                lines.append(
                    f"| {name} | {solver} | {'/'.join(map(str, seconds))} | {config} {_describe(config)} | "
                    f"{len(mine)} | {np.mean(errs):.4f} ({', '.join(f'{e:.4f}' for e in errs)}) | {change} | "
                    f"{int(np.mean([r['iterations'] for r in mine]))} |"
                )
    out = RESULTS / "recipe_study.md"
    out.write_text("\n".join(lines) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["rat", "achilles", "bci"])
    parser.add_argument(
        "--configs", nargs="+", default=list(CONFIGS), choices=[*CONFIGS, *ENSEMBLES]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument(
        "--seconds", type=float, default=None, help="member seconds (default: MEMBER_SECONDS)"
    )
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    PER_DATASET.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        jobs = [
            (
                name,
                c,
                s,
                args.seconds or (RECIPE_SECONDS if c in ENSEMBLES else MEMBER_SECONDS)[name],
            )
            for c in args.configs
            for s in args.seeds
        ]
        if (
            args.jobs == 1
        ):  # in this process (an ensemble starts its own workers; not from a pool's worker)
            rows = [_fit_one(*job) for job in jobs]
        else:
            with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
                rows = list(pool.map(_fit_one, *zip(*jobs)))
        path = PER_DATASET / f"{name}.json"
        old = json.loads(path.read_text()) if path.exists() else []
        path.write_text(json.dumps(old + rows, indent=1))
        for config in args.configs:
            errs = [r["error"] for r in rows if r["config"] == config]
            its = [r["iterations"] for r in rows if r["config"] == config]
            print(
                f"{name:10s} {config:10s} error {np.mean(errs):.4f} ({', '.join(f'{e:.4f}' for e in errs)}) "
                f"iterations {int(np.mean(its))}",
                flush=True,
            )
    print(f"wrote {write_markdown()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

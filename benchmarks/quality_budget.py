"""Embedding quality at CEBRA's wall-clock: CEBRA 0.6.1 at 2000 iterations, neuroembed's recipe in the same seconds.

For every dataset and seed, in one process:

1. **CEBRA** trains for 2000 iterations with the settings of ``quality.py`` (offset10, batch 512, output dimension 8,
   time offset 10, temperature 1, learning rate 3e-4, ``time_delta`` positives, or discrete-label positives for a
   labelled task, cosine distance) from neuroembed's initial weights for that seed; its whole ``fit`` is timed, set-up
   included.
2. **neuroembed's recipe**, :func:`make_estimator`, gets exactly those seconds: ``make_estimator(seconds, seed)``
   is fitted on the same training block, its ``fit`` timed the same way.
3. **neuroembed at equal settings**: CEBRA's settings and iteration count, from the same initial weights (the
   paired equal-iterations comparison that ``results/quality.md`` reports), drawing CEBRA's whole batch even where
   ``fit`` would clip it to a short recording's window centres (:func:`unclipped_batches`).

Every system trains on the training block of :mod:`_tasks` (the first 80 % of a recording, or of each class for the
BCI session), embeds the whole recording with its own ``transform`` and is scored on the held-out block with the
same kNN decoder (:func:`_tasks.decode_error`: median absolute error, circular error for the ring, misclassification
rate for the BCI targets), and by the consistency R^2 between the embeddings of every two seeds.

CEBRA's side alone takes minutes per seed, so the script runs **one dataset per invocation** and writes its figures to
``results/quality_budget/<dataset>.json``; ``--merge`` turns every such file into ``results/quality_budget.md``
(equal wall-clock) and ``results/quality.md`` (equal iterations)::

    python benchmarks/quality_budget.py --dataset rat          # 5 seeds on real recordings, 3 on synthetic ones
    python benchmarks/quality_budget.py --merge
    python benchmarks/quality_budget.py --quick --dataset linear_track   # smoke test, writes nothing

:func:`make_estimator` is the recipe that ``docs/guides/quality.md`` recommends to users; it is defined once here and
used unchanged on every dataset. It takes no property of the data: what the behaviour is (continuous, labels) is
read by the estimator itself (``conditional="auto"``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats
import torch

import neuroembed as ne
import neuroembed._training

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _tasks  # noqa: E402  (the benchmark's own helper module)
import quality  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PER_DATASET = RESULTS / "quality_budget"
DATASETS = ("rat", "achilles", "bci", "nelpy", "linear_track", "latent_manifold", "ring")
REAL = ("rat", "achilles", "bci", "nelpy")
ITERATIONS = 2000
QUICK_ITERATIONS = 30


# ---------------------------------------------------------------------------------------------------------------------
# the recipe
# ---------------------------------------------------------------------------------------------------------------------
#: Members of the recipe's ensemble, and how many are trained at once (one per core of the benchmark machine).
RECIPE_MEMBERS = 4
RECIPE_JOBS = 2
#: What :func:`make_estimator` is, written into every result file (the merged table says which recipe each
#: dataset ran).
RECIPE = "v2: 4 dilated34 members, 2 at a time, learning rate 1e-3, 16 dimensions"
#: Result files written before ``RECIPE`` was recorded, by the git revisions that ran them: v1 had offset10
#: members (otherwise as v2); every later file without the field ran v2.
RECIPE_OF_OLD_REVISIONS = {
    "848adac": "v1: 4 offset10 members, 2 at a time, learning rate 1e-3, 16 dimensions",
    "18fe558": "v1: 4 offset10 members, 2 at a time, learning rate 1e-3, 16 dimensions",
}


def make_estimator(seconds: float, random_state: int | None) -> ne.Ensemble:
    """neuroembed's recipe for a wall-clock budget of ``seconds``: the same on every dataset.

    An ensemble of :data:`RECIPE_MEMBERS` estimators with different seeds, :data:`RECIPE_JOBS` trained at a time
    (one per core), aligned by orthogonal Procrustes and averaged. Each member is the ``dilated34`` encoder (a
    34-sample receptive field from four dilated residual blocks), trained with a learning rate of 1e-3 (CEBRA's
    default, 3e-4, is far from converged after 2000 steps) and a 16-dimensional embedding, for its share of the
    budget: the budget over the rounds of members, less 15 % for starting the workers, embedding the training data
    and aligning. Everything else is the estimator's default (batch 512, time offset 10, temperature 1, cosine);
    the conditional follows the behaviour (``"auto"``). Chosen on the training blocks alone
    (``recipe_study.py``: an inner split of each training block, never the test blocks scored here).
    """
    rounds = -(-RECIPE_MEMBERS // RECIPE_JOBS)
    member = ne.Estimator(
        model="dilated34",
        conditional="auto",
        learning_rate=1e-3,
        output_dimension=16,
        max_iterations=1_000_000,
        max_seconds=0.85 * seconds / rounds,
        device="cpu",
    )
    return ne.Ensemble(
        member, n_estimators=RECIPE_MEMBERS, n_jobs=RECIPE_JOBS, random_state=random_state
    )


# ---------------------------------------------------------------------------------------------------------------------
# fitting
# ---------------------------------------------------------------------------------------------------------------------
def equal_settings(task: _tasks.Task) -> dict[str, Any]:
    """CEBRA's settings of ``quality.py`` for this task (discrete-label positives for a labelled task)."""
    settings = dict(quality.SETTINGS)
    if task.kind == "discrete":
        settings["conditional"] = "discrete"
    return settings


def whole_recording(task: _tasks.Task) -> np.ndarray:
    return np.concatenate([task.neural_train, task.neural_test])


def fit_cebra(task: _tasks.Task, iterations: int, seed: int) -> tuple[np.ndarray, float]:
    """CEBRA from neuroembed's initial weights for ``seed``; the embedding of the whole recording and the fit seconds."""
    import cebra

    settings = equal_settings(task)
    weights = initial_weights(task, settings, seed)
    torch.manual_seed(seed)
    kwargs = quality.cebra_kwargs(settings)
    if task.kind == "discrete":
        # CEBRA picks discrete positives from the labels' dtype and takes no such conditional name
        kwargs["conditional"] = "time_delta"
    model = cebra.CEBRA(**kwargs, max_iterations=iterations)
    t0 = time.perf_counter()
    with quality.cebra_starts_from(weights):
        model.fit(task.neural_train, task.behaviour_train)
    seconds = time.perf_counter() - t0
    return np.asarray(model.transform(whole_recording(task)), dtype=np.float32), seconds


def initial_weights(task: _tasks.Task, settings: dict[str, Any], seed: int) -> list[torch.Tensor]:
    # a fit of zero iterations: neuroembed's untrained weights for this seed
    est = ne.Estimator(**settings, max_iterations=0, random_state=seed)
    est.fit(task.neural_train, task.behaviour_train)
    return [p.detach().cpu().clone() for p in est.encoder_.parameters()]


@contextlib.contextmanager
def unclipped_batches() -> Iterator[None]:
    """Inside: neuroembed's fits draw their whole ``batch_size`` even from a recording with fewer window centres.

    ``fit`` clips such a batch to the window centres with a warning (scikit-learn's convention, see
    ``docs/guides/parameters.md``; since git 226cb4a); CEBRA draws its 512 references, positives and negatives with
    replacement from however many there are. The BCI session's training block has 431 window centres for offset10,
    so a plain fit there runs 431 references and negatives a step against CEBRA's 512. Drawing with replacement is
    what neuroembed's sampler does anyway; this benchmark-only patch turns the clipping off so that the equal-settings
    fits run CEBRA's batch exactly."""
    clip = neuroembed._training.clipped_batch_size

    def unclipped(batch_size: int, n_centres: list[int], multi: bool, *, stacklevel: int) -> int:
        return int(batch_size)

    neuroembed._training.clipped_batch_size = unclipped
    try:
        yield
    finally:
        neuroembed._training.clipped_batch_size = clip


def fit_equal(
    task: _tasks.Task, iterations: int, seed: int, clip_batch: bool = False
) -> tuple[np.ndarray, float]:
    """neuroembed with CEBRA's settings and iterations: its batch drawn in full like CEBRA's on a recording with
    fewer window centres than the batch (:func:`unclipped_batches`), or clipped as ``fit`` does with
    ``clip_batch``."""
    est = ne.Estimator(**equal_settings(task), max_iterations=iterations, random_state=seed)
    t0 = time.perf_counter()
    with contextlib.nullcontext() if clip_batch else unclipped_batches():
        est.fit(task.neural_train, task.behaviour_train)
    seconds = time.perf_counter() - t0
    return est.transform(whole_recording(task)), seconds


def fit_recipe(task: _tasks.Task, budget: float, seed: int) -> tuple[np.ndarray, float, dict]:
    """The recipe with ``budget`` seconds; the embedding, the fit seconds and what the members did."""
    est = make_estimator(budget, seed)
    t0 = time.perf_counter()
    est.fit(task.neural_train, task.behaviour_train)
    seconds = time.perf_counter() - t0
    members = [
        {
            "iterations": int(m.n_iter_),
            "stop_reason": str(m.stop_reason_),
            "seconds": float(m.fit_seconds_),
        }
        for m in est.estimators_
    ]
    return est.transform(whole_recording(task)), seconds, {"members": members}


# ---------------------------------------------------------------------------------------------------------------------
# running one dataset
# ---------------------------------------------------------------------------------------------------------------------
def score(task: _tasks.Task, embedding: np.ndarray) -> float:
    n = task.neural_train.shape[0]
    return float(_tasks.decode_error(task, embedding[:n], embedding[n:]))


def run(
    task: _tasks.Task,
    seeds: list[int],
    iterations: int,
    systems: list[str],
    after_seed: Any = None,
) -> dict:
    """Every system on every seed; ``after_seed(results so far)`` after each seed (to save partial results)."""
    runs: dict[str, dict[str, list]] = {
        s: {"error": [], "seconds": [], "embeddings": [], "extra": []} for s in systems
    }
    raw = score(task, whole_recording(task))
    print(f"{task.name}: raw counts {raw:.4f} {task.unit}", file=sys.stderr, flush=True)
    if "recipe" in systems:
        # untimed: start the recipe's worker processes (and their imports) once, as CEBRA's import is done before
        # its first fit is timed; later fits reuse the workers
        make_estimator(1.0, 0).fit(task.neural_train[:600], task.behaviour_train[:600])
    for seed in seeds:
        budget = None
        if "CEBRA" in systems:
            emb, sec = fit_cebra(task, iterations, seed)
            budget = sec
            record(runs["CEBRA"], task, emb, sec, {}, "CEBRA", seed)
        if "recipe" in systems:
            if budget is None:
                raise SystemExit("the recipe's budget is CEBRA's fit time: run CEBRA too.")
            emb, sec, extra = fit_recipe(task, budget, seed)
            record(runs["recipe"], task, emb, sec, extra, "recipe", seed)
        if "equal" in systems:
            emb, sec = fit_equal(task, iterations, seed)
            record(runs["equal"], task, emb, sec, {}, "equal", seed)
        if after_seed is not None:
            after_seed(summary(raw, runs))
    return summary(raw, runs)


def summary(raw: float, runs: dict[str, dict[str, list]]) -> dict[str, Any]:
    out: dict[str, Any] = {"raw_error": raw}
    for name, r in runs.items():
        out[name] = {
            "error": r["error"],
            "seconds": r["seconds"],
            "consistency": quality.run_consistency(r["embeddings"]),
            "extra": r["extra"],
        }
    return out


def record(
    r: dict, task: _tasks.Task, emb: np.ndarray, sec: float, extra: dict, name: str, seed: int
) -> None:
    r["error"].append(score(task, emb))
    r["seconds"].append(sec)
    r["embeddings"].append(emb)
    r["extra"].append(extra)
    print(
        f"  {task.name:16s} {name:7s} seed {seed}: error {r['error'][-1]:.4f} {task.unit}, fit {sec:.1f} s",
        file=sys.stderr,
        flush=True,
    )


def header(args: argparse.Namespace, loads: tuple) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.platform()}; CPU {quality.cpu_model()}, {os.cpu_count()} cores",
        "torch_threads": torch.get_num_threads(),
        "load_before": loads[0],
        "load_after": loads[1],
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "neuroembed": f"{quality.package_version('neuroembed')} (git {quality.git_revision()})",
            "cebra": quality.cebra_version(),
        },
        "command": " ".join(["python", "benchmarks/quality_budget.py", *sys.argv[1:]]),
        "recipe": RECIPE,
    }


def recipe_of(h: dict[str, Any]) -> str:
    """The recipe a result file ran (files from before the field: by their git revision)."""
    if "recipe" in h:
        return str(h["recipe"])
    revision = h["versions"]["neuroembed"].split("git ")[-1][:7]
    return RECIPE_OF_OLD_REVISIONS.get(revision, RECIPE)


# ---------------------------------------------------------------------------------------------------------------------
# merging
# ---------------------------------------------------------------------------------------------------------------------
def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and its 95 % t-interval over seeds (the mean itself twice for one seed)."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if v.size < 2:
        return mean, mean, mean
    half = float(scipy.stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return mean, mean - half, mean + half


def fmt_error(values: list[float], digits: int = 4) -> str:
    mean, lo, hi = interval(values)
    return f"{np.median(values):.{digits}f} ({mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}])"


def fmt_range(values: list[float], digits: int = 3) -> str:
    if not values:
        return "n/a"
    return f"{np.mean(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"


def combined(files: list[dict]) -> dict[str, dict]:
    """Per dataset, its result files (one per invocation, e.g. seeds 0-1 and seeds 2-4) as one: the seeds' errors,
    seconds and extras concatenated, consistency over the pairs within each invocation; ``headers`` lists every
    invocation's header and ``seed_groups`` their seeds. Invocations of one dataset must share the recipe and
    the iterations, and no seed may appear twice."""
    by_dataset: dict[str, list[dict]] = {}
    for r in files:
        by_dataset.setdefault(r["dataset"], []).append(r)
    out = {}
    for name, parts in by_dataset.items():
        parts.sort(key=lambda r: min(r["seeds"], default=0))
        first = parts[0]
        seeds = [s for r in parts for s in r["seeds"]]
        if len(set(seeds)) != len(seeds):
            raise SystemExit(f"{name}: seed(s) repeated across result files ({seeds}).")
        for r in parts[1:]:
            if (
                recipe_of(r["header"]) != recipe_of(first["header"])
                or r["iterations"] != first["iterations"]
            ):
                raise SystemExit(
                    f"{name}: result files ran different recipes or iterations; re-run them."
                )
        runs: dict[str, Any] = {"raw_error": first["runs"]["raw_error"]}
        for system, values in first["runs"].items():
            if system == "raw_error":
                continue
            runs[system] = {
                key: [v for r in parts for v in r["runs"][system][key]] for key in values
            }
        out[name] = {
            **first,
            "seeds": seeds,
            "runs": runs,
            "headers": [r["header"] for r in parts],
            "seed_groups": "; ".join(", ".join(map(str, r["seeds"])) for r in parts),
        }
    return out


def spread_ratio(a: list[float], b: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """The ratio of the standard deviations of ``a`` and ``b`` and its ``level`` interval, from the F distribution of
    the ratio of two independent sample variances.

    >>> ratio, lo, hi = spread_ratio([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    >>> round(ratio, 2), lo < 1.0 < hi
    (1.0, True)
    """
    import scipy.stats

    va, vb = float(np.var(a, ddof=1)), float(np.var(b, ddof=1))
    da, db = len(a) - 1, len(b) - 1
    f = va / vb
    tail = (1.0 - level) / 2
    lo = f / scipy.stats.f.ppf(1.0 - tail, da, db)
    hi = f / scipy.stats.f.ppf(tail, da, db)
    return float(np.sqrt(f)), float(np.sqrt(lo)), float(np.sqrt(hi))


def paired_spread_ratio(
    a: list[float], b: list[float], level: float = 0.95
) -> tuple[float, float, float, float]:
    """The ratio of the standard deviations of paired ``a`` and ``b`` (``a[i]`` and ``b[i]`` share a seed's initial
    weights, so they are correlated), its ``level`` interval from the Pitman-Morgan test, and the correlation.

    Under a variance ratio ``lam``, ``a + b sqrt(lam)`` and ``a - b sqrt(lam)`` are uncorrelated; inverting that t
    test gives ``F (K -/+ sqrt(K^2 - 1))`` for the variance ratio, with ``F`` the sample ratio, ``r`` the correlation
    of ``a`` and ``b`` and ``K = 1 + 2 (1 - r^2) t^2 / (n - 2)`` (Pitman 1939). With ``r = 0`` it is a little wider
    than the F interval of :func:`spread_ratio` (n - 2 degrees of freedom, not two times n - 1); the higher the
    correlation, the narrower.

    >>> ratio, lo, hi, r = paired_spread_ratio([1.0, 2.0, 3.0, 5.0], [1.1, 1.9, 3.2, 4.8])
    >>> lo < ratio < hi, round(r, 2)
    (True, 1.0)
    """
    import scipy.stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = len(x)
    if n != len(y) or n < 4:
        raise ValueError(
            f"paired_spread_ratio needs two samples of the same length >= 4, got {n} and {len(y)}"
        )
    f = float(np.var(x, ddof=1) / np.var(y, ddof=1))
    r = float(np.corrcoef(x, y)[0, 1])
    t = float(scipy.stats.t.ppf(0.5 + level / 2, n - 2))
    k = 1.0 + 2.0 * (1.0 - r * r) * t * t / (n - 2)
    root = float(np.sqrt(k * k - 1.0))
    return float(np.sqrt(f)), float(np.sqrt(f * (k - root))), float(np.sqrt(f * (k + root))), r


def merge() -> None:
    files = sorted(PER_DATASET.glob("*.json"))
    if not files:
        raise SystemExit(f"no per-dataset results in {PER_DATASET}; run a dataset first.")
    results = combined([json.loads(f.read_text()) for f in files])
    order = [d for d in DATASETS if d in results]
    budget = [
        "# Embedding quality at CEBRA's wall-clock: CEBRA 2000 iterations vs neuroembed's recipe in the same "
        "seconds",
        "",
        "Produced by `python benchmarks/quality_budget.py --dataset NAME` (one dataset per run) and `--merge`. "
        "Error: median over seeds (mean [95 % t-interval]) of the kNN error on the held-out block; lower is better. "
        "Consistency: R^2 between two seeds' embeddings of the whole recording (mean [min, max] over pairs). "
        "Seconds: one whole `fit`, set-up included. The recipe is `make_estimator(seconds, random_state)` in "
        "`quality_budget.py`, the same for every dataset, given CEBRA's seconds of the same seed; a row marked "
        "with an older recipe version was not re-run after the recipe changed (each run's recipe is listed below).",
        "",
        "| dataset | seeds | CEBRA error | recipe error | change of median | CEBRA consistency | recipe "
        "consistency | CEBRA s | recipe s | raw counts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    equal = [
        "# Embedding quality at equal settings and iterations: neuroembed vs CEBRA 0.6.1",
        "",
        "Produced by `python benchmarks/quality_budget.py --dataset NAME` and `--merge` (the *equal* runs of the "
        "same invocations as `quality_budget.md`). Both systems: offset10, batch 512, output dimension 8, time "
        "offset 10, temperature 1, learning rate 3e-4, 2000 iterations, `time_delta` positives (discrete labels "
        "for the BCI session), cosine distance, each seed starting from the same initial weights. Error: mean "
        "[95 % t-interval] over seeds, then the seed spread (standard deviation over seeds) and the ratio of the "
        "two spreads with its 95 % interval (from the F distribution of the ratio of two sample variances; it "
        "treats the two systems' seeds as independent, which the shared initial weights make them only in part).",
        "",
        "| dataset | seeds | neuroembed error | CEBRA error | difference of means | neuroembed spread | CEBRA "
        "spread | spread ratio [95 %] | neuroembed consistency | CEBRA consistency | neuroembed s | CEBRA s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ratios = []
    notes = []
    for name in order:
        r = results[name]
        unit = r["unit"]
        c, rec, eq = r["runs"]["CEBRA"], r["runs"].get("recipe"), r["runs"].get("equal")
        seeds = len(c["error"])
        h = r["header"]
        recipe = recipe_of(h)
        split = len(r["headers"]) > 1
        if rec:
            change = (np.median(rec["error"]) / np.median(c["error"]) - 1.0) * 100
            stale = "" if recipe == RECIPE else f" (**recipe {recipe.split(':')[0]}**)"
            budget.append(
                f"| {r['description']}{stale} | {seeds} | {fmt_error(c['error'])} {unit} | {fmt_error(rec['error'])} "
                f"{unit} | {change:+.1f} % | {fmt_range(c['consistency'])} | {fmt_range(rec['consistency'])} | "
                f"{np.mean(c['seconds']):.0f} | {np.mean(rec['seconds']):.0f} | {r['runs']['raw_error']:.4f} |"
            )
        if eq:
            m_eq, lo_eq, hi_eq = interval(eq["error"])
            m_c, lo_c, hi_c = interval(c["error"])
            sd_eq, sd_c = float(np.std(eq["error"], ddof=1)), float(np.std(c["error"], ddof=1))
            ratio, ratio_lo, ratio_hi = spread_ratio(eq["error"], c["error"])
            ratios.append((name, ratio, ratio_lo, ratio_hi))
            equal.append(
                f"| {r['description']} | {seeds} | {m_eq:.4f} [{lo_eq:.4f}, {hi_eq:.4f}] {unit} | {m_c:.4f} "
                f"[{lo_c:.4f}, {hi_c:.4f}] {unit} | {m_eq - m_c:+.4f} | {sd_eq:.4f} | {sd_c:.4f} | "
                f"{ratio:.2f} [{ratio_lo:.2f}, {ratio_hi:.2f}] | "
                f"{fmt_range(eq['consistency'])} | {fmt_range(c['consistency'])} | {np.mean(eq['seconds']):.0f} | "
                f"{np.mean(c['seconds']):.0f} |"
            )
        for h in r["headers"]:
            notes.append(
                f"- `{name}`: recipe {recipe}; {h['date']}, load {h['load_before'][0]:.2f} -> "
                f"{h['load_after'][0]:.2f}, torch threads {h['torch_threads']}, neuroembed "
                f"{h['versions']['neuroembed']}, CEBRA {h['versions']['cebra']}; `{h['command']}`"
            )
        if split:
            notes.append(
                f"- `{name}` ran in {len(r['headers'])} invocations (seeds {r['seed_groups']}): its consistency "
                "is over the pairs of seeds within one invocation (the embeddings are not kept between runs)."
            )
    machines = sorted({h["machine"] for name in order for h in results[name]["headers"]})
    where = (
        f"Machine: {machines[0]}."
        if len(machines) == 1
        else "Machines: the runs below report different platforms ("
        + "; ".join(f"{name}: {results[name]['header']['machine']}" for name in order)
        + "), so seconds compare only within a run (each row's two systems ran side by side)."
    )
    tail = ["", f"{where} Runs:", "", *notes, ""]
    if ratios:
        wider = [n for n, ratio, _, _ in ratios if ratio > 1.0]
        excluded = [n for n, _, lo, hi in ratios if lo > 1.0 or hi < 1.0]
        equal += [
            "",
            f"neuroembed's seed spread is the wider on {len(wider)} of {len(ratios)} datasets"
            + (f" ({', '.join(wider)})" if wider else "")
            + "; the 95 % interval of the spread ratio "
            + (
                "includes 1 on every dataset: with these seeds the two systems' spreads cannot be told apart."
                if not excluded
                else f"excludes 1 on {', '.join(excluded)}."
            ),
        ]
    (RESULTS / "quality_budget.md").write_text("\n".join(budget + tail))
    (RESULTS / "quality.md").write_text("\n".join(equal + tail))
    print("\n".join(budget + [""] + equal + tail))


# ---------------------------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=DATASETS, help="the dataset to run")
    p.add_argument("--merge", action="store_true", help="merge results/quality_budget/*.json")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0-4 (real), 0-2")
    p.add_argument("--iterations", type=int, default=None, help=f"CEBRA's (default {ITERATIONS})")
    p.add_argument(
        "--systems",
        nargs="+",
        default=["CEBRA", "recipe", "equal"],
        choices=["CEBRA", "recipe", "equal"],
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke test: few iterations, writes nothing"
    )
    p.add_argument(
        "--output", default=None, help="JSON file (default results/quality_budget/NAME.json)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads of this process")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.merge:
        merge()
        return
    if args.dataset is None:
        raise SystemExit("give --dataset NAME (one of " + ", ".join(DATASETS) + ") or --merge.")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    try:
        task = _tasks.load_task(args.dataset)
    except _tasks.MissingData as err:
        print(f"skipping {args.dataset!r}: {err}", file=sys.stderr)
        return
    seeds = args.seeds or (list(range(5)) if args.dataset in REAL else list(range(3)))
    iterations = args.iterations or (QUICK_ITERATIONS if args.quick else ITERATIONS)
    if args.quick:
        seeds = seeds[:2]
    path = Path(args.output) if args.output else PER_DATASET / f"{args.dataset}.json"
    start_load = os.getloadavg()

    def result(runs: dict[str, Any]) -> str:
        done = len(runs[args.systems[0]]["error"])
        return json.dumps(
            {
                "dataset": args.dataset,
                "description": task.description,
                "unit": task.unit,
                "kind": task.kind,
                "seeds": seeds[:done],
                "iterations": iterations,
                "quick": args.quick,
                "header": header(args, (start_load, os.getloadavg())),
                "runs": runs,
            },
            indent=1,
        )

    def save(runs: dict[str, Any]) -> None:
        # after every seed, so that a run stopped part-way keeps the seeds it finished
        if not (args.quick and args.output is None):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(result(runs))

    runs = run(task, seeds, iterations, list(args.systems), after_seed=save)
    if args.quick and args.output is None:
        print(result(runs))
        return
    save(runs)
    print(f"written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()

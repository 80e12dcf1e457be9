"""Missing behaviour: a fit with NaN position rows (``behaviour_nan="drop"``) against the fit on the complete data.

The question: does a fit on rat buddy (CEBRA's hippocampus recording, 25 ms bins, behaviour
``[position, right, left]``) whose behaviour lost 10 % of its rows, in runs of 1-5 s as a tracker loses a rat,
decode position on the held-out rows that are known within 5 % of the fit on the complete data?

For each seed, in one process:

1. **The gaps.** A generator seeded with the seed draws runs of :data:`RUN_SECONDS` (1-5 s, 40-200 bins of
   25 ms, lengths uniform) until they cover :data:`NAN_FRACTION` of all the rows of the recording (the longest runs
   are shortened, never below 1 s, so that they cover exactly ``round(0.1 * n)`` rows), and places them at random
   over the whole recording, neither overlapping nor touching. Every column of a run's rows is set to NaN (lost
   tracking: the position and the running direction read from it are both unknown).
2. **Two fits** on the training block of :mod:`_tasks` (the first 80 %), with ``quality.py``'s equal settings
   (offset10, batch 512, 8 dimensions, time offset 10, temperature 1, learning rate 3e-4, ``time_delta``, cosine,
   2000 iterations, CPU) and ``random_state=seed``: *complete* (the behaviour as recorded, the default
   ``behaviour_nan="raise"``) and *with NaN* (the gapped behaviour, ``behaviour_nan="drop"``). Each fit is timed.
3. **Decoding.** Each model embeds the whole recording with ``transform``; :func:`neuroembed.metrics.decode` (kNN,
   cosine, 16 neighbours, ``method="knn"``) decodes position on the held-out last 20 % given as ``test=`` (so that
   the held-out block is the same rows for every fit, whatever the gaps), scored on the held-out rows whose
   position is known, the same rows for both fits. The decoder of the NaN fit is trained on the training rows
   whose behaviour is known; that of the complete fit on every training row (what a user with complete data
   has). A third number, the complete fit decoded with the NaN fit's decoder rows, separates what the encoder
   loses from what the decoder loses.
4. **No NaN row is drawn.** The NaN fit's training run is built again with ``neuroembed._training.prepare``, and
   :data:`CHECK_BATCHES` batches of its sampler are drawn; every reference, positive and negative index is checked
   against the NaN rows.

Reported: per seed and mean [95 % t-interval] the median absolute position error (m) of both fits, the relative
difference of the means (NaN fit against complete), the verdict (fixed before the first run: ``|relative
difference of the means| <= 5 %``), the paired per-seed relative differences with their t-interval (for the
reader; not the verdict), the fit seconds and the sampler check.

    python benchmarks/behaviour_nan.py            # 5 seeds; writes results/behaviour_nan.md and .json
    python benchmarks/behaviour_nan.py --quick    # smoke test: 2 seeds, 30 iterations, 2000 bins, writes nothing
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
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _tasks  # noqa: E402
import quality  # noqa: E402

import neuroembed as ne  # noqa: E402
from neuroembed import _training  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_OUTPUT = RESULTS / "behaviour_nan.md"

#: quality.py's equal settings (those of CEBRA's comparison), every fit here.
SETTINGS = dict(quality.SETTINGS)
ITERATIONS = 2000
QUICK_ITERATIONS = 30
SEEDS = (0, 1, 2, 3, 4)
#: Fraction of all the rows of the recording whose behaviour is set to NaN.
NAN_FRACTION = 0.10
#: Length of a run of NaN rows, in seconds (both ends included).
RUN_SECONDS = (1.0, 5.0)
#: The verdict: the NaN fit's mean error is within this relative distance of the complete fit's.
TOLERANCE = 0.05
#: Sampler batches drawn per seed to check that no NaN row is a reference, positive or negative.
CHECK_BATCHES = 300


# ---------------------------------------------------------------------------------------------------------------------
# the gaps
# ---------------------------------------------------------------------------------------------------------------------
def nan_runs(
    n: int, rng: np.random.Generator, fraction: float, min_len: int, max_len: int
) -> list[tuple[int, int]]:
    """Runs ``(start, stop)`` of ``min_len``-``max_len`` rows covering exactly ``round(fraction * n)`` of ``n`` rows.

    Lengths are drawn uniformly until they cover the target; the excess is taken off the longest runs (never below
    ``min_len``). The runs are placed in a random order at random places, neither overlapping nor touching.
    """
    target = int(round(fraction * n))
    lengths: list[int] = []
    while sum(lengths) < target:
        lengths.append(int(rng.integers(min_len, max_len + 1)))
    excess = sum(lengths) - target
    while excess > 0:
        i = int(np.argmax(lengths))
        cut = min(excess, lengths[i] - min_len)
        if cut <= 0:
            raise ValueError(
                f"cannot cover exactly {target} rows with runs of {min_len}-{max_len} rows."
            )
        lengths[i] -= cut
        excess -= cut
    lengths = [lengths[i] for i in rng.permutation(len(lengths))]
    free = n - target
    if free < len(lengths) - 1:
        raise ValueError(f"{len(lengths)} runs of {target} rows do not fit apart in {n} rows.")
    # distinct sorted offsets into the free rows: consecutive runs are at least one known row apart
    offsets = np.sort(rng.choice(free + 1, size=len(lengths), replace=False))
    runs, covered = [], 0
    for offset, length in zip(offsets, lengths):
        start = int(offset) + covered
        runs.append((start, start + length))
        covered += length
    return runs


def mask_of(runs: list[tuple[int, int]], n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for start, stop in runs:
        mask[start:stop] = True
    return mask


# ---------------------------------------------------------------------------------------------------------------------
# fits, decoding, the sampler check
# ---------------------------------------------------------------------------------------------------------------------
def _estimator(seed: int, iterations: int, behaviour_nan: str = "raise") -> ne.Estimator:
    return ne.Estimator(
        **SETTINGS, max_iterations=iterations, random_state=seed, behaviour_nan=behaviour_nan
    )


def fit_and_embed(
    est: ne.Estimator, x_train: np.ndarray, y_train: np.ndarray, x_all: np.ndarray
) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    est.fit(x_train, y_train)
    seconds = time.perf_counter() - t0
    return est.transform(x_all), seconds


def knn_error(
    embedding: np.ndarray, position: np.ndarray, test: np.ndarray, rows: np.ndarray
) -> tuple[float, int, int]:
    """kNN median absolute error on the test rows among ``rows``, trained on the other rows among ``rows``."""
    scores = ne.metrics.decode(
        embedding[rows],
        position[rows],
        method="knn",
        n_neighbors=_tasks.N_NEIGHBORS,
        metric=_tasks.METRIC,
        test=test[rows],
        behaviour_nan="drop",
    )
    return float(scores["knn_median_error"]), int(scores["n_train"]), int(scores["n_test"])


def sampler_check(
    seed: int, iterations: int, x_train: np.ndarray, y_train: np.ndarray, batches: int
) -> dict[str, int]:
    """Draw ``batches`` batches of the NaN fit's sampler; count the indices that fall on a NaN row."""
    nan = np.isnan(y_train).any(axis=1)
    t = _training.prepare(_estimator(seed, iterations, "drop"), x_train, y_train)
    sampler = t.solver.sampler
    counts = {"references": 0, "positives": 0, "negatives": 0}
    on_nan = dict.fromkeys(counts, 0)
    drawn = np.zeros(len(nan), dtype=bool)
    for _ in range(batches):
        batch = sampler.sample()
        for name, parts in (
            ("references", batch.reference),
            ("positives", batch.positive),
            ("negatives", batch.negative),
        ):
            idx = torch.cat(list(parts)).cpu().numpy()
            counts[name] += int(idx.size)
            on_nan[name] += int(nan[idx].sum())
            drawn[idx] = True
    return {
        "batches": batches,
        **{f"{k}_drawn": v for k, v in counts.items()},
        **{f"{k}_on_nan_rows": v for k, v in on_nan.items()},
        "distinct_rows_drawn": int(drawn.sum()),
        "known_rows": int((~nan).sum()),
    }


def run_seed(task: _tasks.Task, seed: int, iterations: int, batches: int) -> dict[str, Any]:
    x_all = np.concatenate([task.neural_train, task.neural_test])
    y_all = np.concatenate([task.behaviour_train, task.behaviour_test])
    n, n_train = x_all.shape[0], task.n_train
    lo, hi = (int(round(s / ne.datasets.rat_hippocampus.BIN_SIZE)) for s in RUN_SECONDS)
    runs = nan_runs(n, np.random.default_rng(seed), NAN_FRACTION, lo, hi)
    nan = mask_of(runs, n)
    y_nan = y_all.copy()
    y_nan[nan] = np.nan
    test = np.arange(n) >= n_train
    position = y_all[:, 0].astype(np.float64)
    position_nan = y_nan[:, 0].astype(np.float64)
    everything = np.ones(n, dtype=bool)
    # the scored rows: every training row (complete decoder) or the known ones, and the known held-out rows
    complete_rows = ~(test & nan)

    z_complete, s_complete = fit_and_embed(
        _estimator(seed, iterations), task.neural_train, task.behaviour_train, x_all
    )
    z_nan, s_nan = fit_and_embed(
        _estimator(seed, iterations, "drop"), task.neural_train, y_nan[:n_train], x_all
    )
    e_complete, n_dec_complete, n_test = knn_error(z_complete, position, test, complete_rows)
    e_nan, n_dec_nan, n_test_nan = knn_error(z_nan, position_nan, test, everything)
    e_complete_known, _, _ = knn_error(z_complete, position_nan, test, everything)
    if n_test_nan != n_test:
        raise RuntimeError(f"the two fits were scored on {n_test} and {n_test_nan} rows.")
    check = sampler_check(seed, iterations, task.neural_train, y_nan[:n_train], batches)
    return {
        "seed": seed,
        "runs": runs,
        "run_seconds": [
            (stop - start) * ne.datasets.rat_hippocampus.BIN_SIZE for start, stop in runs
        ],
        "nan_rows": int(nan.sum()),
        "nan_rows_train": int(nan[:n_train].sum()),
        "nan_rows_test": int(nan[n_train:].sum()),
        "test_rows_scored": n_test,
        "decoder_rows_complete": n_dec_complete,
        "decoder_rows_nan": n_dec_nan,
        "error_complete": e_complete,
        "error_nan": e_nan,
        "error_complete_known_decoder": e_complete_known,
        "seconds_complete": s_complete,
        "seconds_nan": s_nan,
        "sampler_check": check,
    }


# ---------------------------------------------------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------------------------------------------------
def mean_interval(values: list[float]) -> tuple[float, float, float]:
    m = float(np.mean(values))
    if len(values) < 2:
        return m, float("nan"), float("nan")
    half = float(
        stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values))
    )
    return m, m - half, m + half


def _fmt(values: list[float], digits: int = 4, scale: float = 1.0, unit: str = "") -> str:
    m, lo, hi = (v * scale for v in mean_interval(values))
    if np.isnan(lo):
        return f"{m:.{digits}f}{unit}"
    return f"{m:.{digits}f}{unit} [{lo:.{digits}f}{unit}, {hi:.{digits}f}{unit}]"


def summarise(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    complete = [s["error_complete"] for s in seeds]
    nan = [s["error_nan"] for s in seeds]
    relative = (np.mean(nan) - np.mean(complete)) / np.mean(complete)
    paired = [(b - a) / a for a, b in zip(complete, nan)]
    checks = [s["sampler_check"] for s in seeds]
    on_nan = sum(
        c[f"{k}_on_nan_rows"] for c in checks for k in ("references", "positives", "negatives")
    )
    drawn = sum(c[f"{k}_drawn"] for c in checks for k in ("references", "positives", "negatives"))
    return {
        "mean_error_complete": float(np.mean(complete)),
        "mean_error_nan": float(np.mean(nan)),
        "relative_difference_of_means": float(relative),
        "within_tolerance": bool(abs(relative) <= TOLERANCE),
        "paired_relative_differences": paired,
        "paired_relative_interval": list(mean_interval(paired)),
        "indices_checked": int(drawn),
        "indices_on_nan_rows": int(on_nan),
    }


def write_markdown(result: dict[str, Any]) -> str:
    h, seeds, s = result["header"], result["seeds"], result["summary"]
    load0, load1 = h["load_before"], h["load_after"]
    complete = [r["error_complete"] for r in seeds]
    nan = [r["error_nan"] for r in seeds]
    known = [r["error_complete_known_decoder"] for r in seeds]
    lines = [
        "# Missing behaviour: a fit with 10 % NaN position rows against the fit on the complete data"
        + (" (QUICK: a smoke test, not a benchmark)" if result["quick"] else ""),
        "",
        f"Produced by `{h['command']}` on {h['date']} ({h['machine']}, torch threads {h['torch_threads']}; "
        f"python {h['versions']['python']}, torch {h['versions']['torch']}, neuroembed "
        f"{h['versions']['neuroembed']}); load average (1, 5, 15 min) {load0[0]:.2f}, {load0[1]:.2f}, "
        f"{load0[2]:.2f} at start, {load1[0]:.2f}, {load1[1]:.2f}, {load1[2]:.2f} at end"
        + (
            " (the machine was shared: fit seconds are inflated)"
            if max(load0[0], load1[0]) > 1.5
            else ""
        )
        + f"; wall time {h['wall_seconds'] / 60:.1f} min.",
        "",
        f"Data: {result['description']}. Behaviour `[position, right, left]`; per seed, runs of "
        f"{RUN_SECONDS[0]:g}-{RUN_SECONDS[1]:g} s ({result['run_bins'][0]}-{result['run_bins'][1]} bins) drawn "
        f"by `numpy.random.default_rng(seed)` cover {NAN_FRACTION * 100:g} % of all the rows, placed over the whole "
        "recording; every column of those rows is NaN. Settings of every fit: "
        f"{SETTINGS}, {result['iterations']} iterations, `random_state=seed`; *complete* fits the recorded "
        "behaviour (`behaviour_nan='raise'`), *NaN* the gapped behaviour (`behaviour_nan='drop'`). Error: median "
        "absolute position error (m) of `neuroembed.metrics.decode` (kNN, cosine, 16 neighbours) on the held-out "
        "rows whose position is known (the same rows for both fits); decoder trained on every training row "
        "(complete) or on the known training rows (NaN; and *complete, known-row decoder*). Mean [95 % "
        "t-interval] over seeds.",
        "",
        "| seed | NaN rows (train / test) | runs (s) | held-out rows scored | complete (m) | NaN fit (m) "
        "| NaN vs complete | complete, known-row decoder (m) | fit s complete / NaN |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in seeds:
        rel = (r["error_nan"] - r["error_complete"]) / r["error_complete"]
        lines.append(
            f"| {r['seed']} | {r['nan_rows']} ({r['nan_rows_train']} / {r['nan_rows_test']}) | "
            f"{', '.join(f'{x:.2f}' for x in r['run_seconds'])} | {r['test_rows_scored']} | "
            f"{r['error_complete']:.4f} | {r['error_nan']:.4f} | {rel:+.1%} | "
            f"{r['error_complete_known_decoder']:.4f} | {r['seconds_complete']:.1f} / {r['seconds_nan']:.1f} |"
        )
    secs_c = [r["seconds_complete"] for r in seeds]
    secs_n = [r["seconds_nan"] for r in seeds]
    lines.append(
        f"| **mean [95 % CI]** | | | | {_fmt(complete)} | {_fmt(nan)} | "
        f"{s['relative_difference_of_means']:+.1%} (of the means) | {_fmt(known)} | "
        f"{np.mean(secs_c):.1f} / {np.mean(secs_n):.1f} |"
    )
    paired_lo, paired_hi = s["paired_relative_interval"][1:]
    verdict = "within" if s["within_tolerance"] else "NOT within"
    lines += [
        "",
        f"- **Relative difference of the means (NaN fit against complete): "
        f"{s['relative_difference_of_means']:+.2%}, {verdict} {TOLERANCE * 100:g} %** "
        f"({s['mean_error_nan']:.4f} against {s['mean_error_complete']:.4f} m).",
        f"- Paired per-seed relative differences: "
        f"{', '.join(f'{x:+.1%}' for x in s['paired_relative_differences'])}; mean "
        f"{s['paired_relative_interval'][0]:+.1%}"
        + (
            ""
            if np.isnan(paired_lo)
            else f" [{paired_lo:+.1%}, {paired_hi:+.1%}] (95 % t-interval; for the reader, not the verdict)."
        ),
        f"- No NaN row drawn: {result['check_batches']} sampler batches per seed of the NaN fit's training run "
        f"(`neuroembed._training.prepare`), {s['indices_checked']:,} reference, positive and negative indices "
        f"in all, {s['indices_on_nan_rows']} of them on a NaN row; per seed the batches reached "
        + ", ".join(
            f"{r['sampler_check']['distinct_rows_drawn']} of {r['sampler_check']['known_rows']}"
            for r in seeds
        )
        + " known training rows.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    p.add_argument("--iterations", type=int, default=None, help=f"default {ITERATIONS}")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 2 seeds, few iterations, the first 2000 bins; writes nothing unless --output",
    )
    p.add_argument(
        "--output",
        default=None,
        help=f"results file (default {DEFAULT_OUTPUT.relative_to(RESULTS.parent.parent)}; the JSON beside it; "
        "'-' prints only)",
    )
    p.add_argument("--data-dir", default=str(_tasks.DEFAULT_DATA_DIR))
    args = p.parse_args(argv)
    torch.set_flush_denormal(True)
    iterations = args.iterations or (QUICK_ITERATIONS if args.quick else ITERATIONS)
    seeds = args.seeds[:2] if args.quick else args.seeds
    batches = 20 if args.quick else CHECK_BATCHES
    output = args.output if args.output is not None else (None if args.quick else DEFAULT_OUTPUT)
    try:
        task = _tasks.load_task("rat", args.data_dir, quick=args.quick)
    except _tasks.MissingData as err:
        print(f"skipping: {err}", file=sys.stderr)
        return
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    runs = []
    for seed in seeds:
        runs.append(run_seed(task, seed, iterations, batches))
        r = runs[-1]
        print(
            f"seed {seed}: complete {r['error_complete']:.4f} m ({r['seconds_complete']:.1f} s), NaN fit "
            f"{r['error_nan']:.4f} m ({r['seconds_nan']:.1f} s), complete with known-row decoder "
            f"{r['error_complete_known_decoder']:.4f} m; NaN rows {r['nan_rows']} "
            f"({r['nan_rows_train']} train, {r['nan_rows_test']} test); sampler indices on NaN rows "
            f"{sum(v for k, v in r['sampler_check'].items() if k.endswith('on_nan_rows'))}",
            file=sys.stderr,
            flush=True,
        )
    wall = time.perf_counter() - t0
    bin_size = ne.datasets.rat_hippocampus.BIN_SIZE
    result = {
        "description": task.description,
        "quick": args.quick,
        "iterations": iterations,
        "settings": SETTINGS,
        "nan_fraction": NAN_FRACTION,
        "run_seconds": list(RUN_SECONDS),
        "run_bins": [int(round(x / bin_size)) for x in RUN_SECONDS],
        "bin_size": bin_size,
        "tolerance": TOLERANCE,
        "check_batches": batches,
        "seeds": runs,
        "summary": summarise(runs),
        "header": {
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "machine": f"{platform.platform()}; CPU {quality.cpu_model()}, {os.cpu_count()} cores",
            "torch_threads": torch.get_num_threads(),
            "load_before": list(load_before),
            "load_after": list(os.getloadavg()),
            "wall_seconds": wall,
            "versions": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "numpy": np.__version__,
                "neuroembed": f"{quality.package_version('neuroembed')} (git {quality.git_revision()})",
            },
            "command": " ".join(
                [
                    "python",
                    "benchmarks/behaviour_nan.py",
                    *(argv if argv is not None else sys.argv[1:]),
                ]
            ),
        },
    }
    text = write_markdown(result)
    print(text)
    if output not in (None, "-"):
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.with_suffix(".json").write_text(json.dumps(result, indent=1))
        print(f"written to {path} and {path.with_suffix('.json')}", file=sys.stderr)


if __name__ == "__main__":
    main()

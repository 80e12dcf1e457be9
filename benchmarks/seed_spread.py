"""Seed spread at equal settings, with enough seeds to tell the two systems apart: neuroembed vs CEBRA 0.6.1.

``results/quality.md`` compares the two systems at equal settings and iterations on 3-5 seeds, too few to say whose
errors spread the wider (every 95 % interval of the ratio of the two standard deviations there includes 1). This
script adds seeds to the datasets of that table, one (dataset, system, seed) fit at a time, each appended as a JSON
line to ``results/seed_spread.jsonl`` (a fit already in the file is skipped, so an interrupted run resumes), and
``--merge`` writes ``results/seed_spread.md``.

The fits are exactly those of ``quality_budget.py``'s CEBRA and *equal* runs (the same functions: offset10, batch
512, 8 dimensions, time offset 10, temperature 1, lr 3e-4, 2000 iterations, each seed starting both systems from
the same initial weights), scored the same way. Their seconds are recorded but not reported: the spread does not
depend on them, and these runs may share the machine.

``--import-existing`` copies the CEBRA seeds already in ``results/quality_budget/*.json`` into the file (marked with
their source), so only the missing CEBRA seeds are fitted; neuroembed's seeds are all re-fitted here (they are
cheap), and the merged table says how many of them reproduce the earlier file's errors.

On a recording with fewer window centres than the batch, neuroembed's ``fit`` clips the batch and CEBRA does not;
the *equal* fits draw CEBRA's whole batch there (:func:`quality_budget.unclipped_batches`). The system
``equal_clipped`` (asked for with ``--systems``) fits such a recording with the clipping on, as a user's ``fit``
runs it; the merged table gives those fits apart, as they are not at equal settings.

    python benchmarks/seed_spread.py --import-existing
    python benchmarks/seed_spread.py --dataset ring --seeds 0 1 2 3 4 5 6 7 8 9 --threads 1
    python benchmarks/seed_spread.py --dataset bci --systems equal_clipped --seeds 0 1 2 3 4 --threads 1
    python benchmarks/seed_spread.py --merge
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _tasks  # noqa: E402
import quality  # noqa: E402
import quality_budget as qb  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
LINES = RESULTS / "seed_spread.jsonl"
SYSTEMS = ("CEBRA", "equal")
#: neuroembed at CEBRA's settings but its batch clipped as ``fit`` clips it on a recording with fewer window centres
#: than the batch (not equal settings there; see :func:`quality_budget.unclipped_batches`), asked for by name
CONTROLS = ("equal_clipped",)
#: The code this process runs: read once at start (the working tree may change while a long run goes on).
REVISION = f"{quality.package_version('neuroembed')} (git {quality.git_revision()})"


def read_lines() -> list[dict[str, Any]]:
    if not LINES.exists():
        return []
    return [json.loads(line) for line in LINES.read_text().splitlines() if line.strip()]


def done(lines: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    return {(r["dataset"], r["system"], int(r["seed"])) for r in lines}


def append(record: dict[str, Any]) -> None:
    with LINES.open("a") as f:
        f.write(json.dumps(record) + "\n")


def import_existing() -> None:
    """The CEBRA seeds of ``results/quality_budget/*.json`` as lines (neuroembed's are re-fitted, not copied)."""
    have = done(read_lines())
    for path in sorted((RESULTS / "quality_budget").glob("*.json")):
        r = json.loads(path.read_text())
        if r.get("quick") or r["iterations"] != qb.ITERATIONS:
            continue
        for seed, error, seconds in zip(
            r["seeds"], r["runs"]["CEBRA"]["error"], r["runs"]["CEBRA"]["seconds"], strict=True
        ):
            if (r["dataset"], "CEBRA", seed) in have:
                continue
            append(
                {
                    "dataset": r["dataset"],
                    "system": "CEBRA",
                    "seed": seed,
                    "error": error,
                    "seconds": seconds,
                    "source": f"results/quality_budget/{path.name} ({r['header']['date']})",
                    "cebra": r["header"]["versions"]["cebra"],
                    "machine": r["header"]["machine"],
                    "torch_threads": r["header"]["torch_threads"],
                }
            )
            print(f"imported {r['dataset']} CEBRA seed {seed}: {error:.4f}", file=sys.stderr)


def fit_equal_clipped(task: _tasks.Task, iterations: int, seed: int) -> tuple[np.ndarray, float]:
    """The *equal* fit with the batch clipped to the recording's window centres, as ``fit`` does by default (not
    equal settings where it clips: see :func:`quality_budget.unclipped_batches`)."""
    return qb.fit_equal(task, iterations, seed, clip_batch=True)


def run(dataset: str, seeds: list[int], systems: list[str]) -> None:
    task = _tasks.load_task(dataset)
    have = done(read_lines())
    fit = {"CEBRA": qb.fit_cebra, "equal": qb.fit_equal, "equal_clipped": fit_equal_clipped}
    for seed in seeds:
        for system in systems:
            if (dataset, system, seed) in have:
                print(f"{dataset} {system} seed {seed}: already in {LINES.name}", file=sys.stderr)
                continue
            embedding, seconds = fit[system](task, qb.ITERATIONS, seed)
            error = qb.score(task, embedding)
            append(
                {
                    "dataset": dataset,
                    "system": system,
                    "seed": seed,
                    "error": error,
                    "seconds": seconds,
                    "source": "seed_spread.py",
                    "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
                    "neuroembed": REVISION,
                    "cebra": quality.cebra_version(),
                    "machine": f"{platform.platform()}; CPU {quality.cpu_model()}",
                    "torch_threads": torch.get_num_threads(),
                }
            )
            print(
                f"{dataset:16s} {system:6s} seed {seed}: error {error:.4f} {task.unit}, fit {seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )


def earlier_equal(dataset: str) -> dict[int, float]:
    """neuroembed's errors per seed in ``results/quality_budget/<dataset>*.json`` (to check they reproduce)."""
    out = {}
    for path in sorted((RESULTS / "quality_budget").glob(f"{dataset}*.json")):
        r = json.loads(path.read_text())
        if r["dataset"] == dataset and "equal" in r["runs"]:
            out.update(dict(zip(r["seeds"], r["runs"]["equal"]["error"], strict=True)))
    return out


def compare(
    lines: list[dict[str, Any]], dataset: str, system: str, note: str = ""
) -> tuple[str, tuple] | None:
    """A table row of ``system`` against CEBRA on ``dataset``'s seeds fitted by both (None below 4; ``note`` after
    the dataset's name), and its verdict ``(dataset, ratio, low, high, mean difference, sd, CEBRA's sd, paired low,
    paired high)``."""
    by = {
        s: {
            int(r["seed"]): float(r["error"])
            for r in lines
            if r["dataset"] == dataset and r["system"] == s
        }
        for s in ("CEBRA", system)
    }
    seeds = sorted(set(by["CEBRA"]) & set(by[system]))
    if len(seeds) < 4:
        return None
    e = np.array([by[system][s] for s in seeds])
    c = np.array([by["CEBRA"][s] for s in seeds])
    ratio, lo, hi = qb.spread_ratio(list(e), list(c))
    _, plo, phi, r = qb.paired_spread_ratio(list(e), list(c))
    p = float(scipy.stats.levene(e, c, center="median").pvalue)
    d = e - c
    _, dlo, dhi = qb.interval(list(d))
    earlier = earlier_equal(dataset)
    same = [s for s in seeds if s in earlier]
    reproduced = sum(abs(by[system][s] - earlier[s]) <= 1e-6 for s in same)
    row = (
        f"| {dataset}{note} | {len(seeds)} | {e.mean():.4f} | {c.mean():.4f} | {e.std(ddof=1):.4f} | "
        f"{c.std(ddof=1):.4f} | {ratio:.2f} [{lo:.2f}, {hi:.2f}] | [{plo:.2f}, {phi:.2f}] ({r:.2f}) | {p:.2f} | "
        f"{d.mean():+.4f} [{dlo:+.4f}, {dhi:+.4f}] | {reproduced} of {len(same)} |"
    )
    return row, (dataset, ratio, lo, hi, d.mean(), e.std(ddof=1), c.std(ddof=1), plo, phi)


def pooled_ratio(verdicts: list[tuple], level: float = 0.95) -> tuple[float, float, float, float]:
    """The ratio of the standard deviations pooled over datasets, its ``level`` interval and Cochran's Q p-value.

    A fixed-effect, inverse-variance mean of the log ratios (the datasets' seeds are independent of one another);
    each log ratio's standard error is read off its paired interval, ``(log high - log low) / (2 z)``. Q's p-value
    says whether the datasets' ratios differ by more than their intervals allow (a small one: do not pool).
    """
    z = float(scipy.stats.norm.ppf(0.5 + level / 2))
    logs = np.log([v[1] for v in verdicts])
    se = np.array([(np.log(v[8]) - np.log(v[7])) / (2 * z) for v in verdicts])
    w = 1.0 / se**2
    mean = float((w * logs).sum() / w.sum())
    half = z / float(np.sqrt(w.sum()))
    q = float((w * (logs - mean) ** 2).sum())
    p = float(scipy.stats.chi2.sf(q, len(verdicts) - 1)) if len(verdicts) > 1 else float("nan")
    return float(np.exp(mean)), float(np.exp(mean - half)), float(np.exp(mean + half)), p


def merge() -> str:
    lines = read_lines()
    if not lines:
        raise SystemExit(f"nothing in {LINES}; run a dataset first.")
    rows = [
        "# Seed spread at equal settings: neuroembed vs CEBRA 0.6.1, many seeds",
        "",
        "Produced by `python benchmarks/seed_spread.py` (see its docstring): the equal-settings fits of "
        "`quality.md` (offset10, batch 512, 8 dimensions, time offset 10, temperature 1, lr 3e-4, 2000 "
        "iterations, `time_delta` positives, both systems starting each seed from the same initial weights), on "
        "more seeds. Error: kNN error on the held-out block. *sd*: standard deviation over seeds. *ratio*: "
        "neuroembed's sd over CEBRA's, with its 95 % interval from the F distribution (seeds treated as "
        "independent). *paired interval (r)*: the 95 % interval of the same ratio from the Pitman-Morgan test, "
        "which uses that each seed starts both systems from the same initial weights (r: the correlation of the "
        "two systems' errors over seeds; the higher, the narrower the interval). *Brown-Forsythe p*: the test of equal variances that is robust to non-normal errors "
        "(scipy's `levene` centred on the median). *paired difference*: neuroembed minus CEBRA on the same "
        "seed (the same initial weights), mean [95 % t-interval]. *reproducing*: neuroembed's seeds whose error "
        "equals that of `quality.md`'s run within 1e-6 (another CPU, thread count or code revision can sum in "
        "another order, which can move a kNN error; see the list of fits below).",
        "",
        "| dataset | seeds (each) | neuroembed mean | CEBRA mean | neuroembed sd | CEBRA sd | ratio [95 %] | "
        "paired interval (r) | Brown-Forsythe p | paired difference | reproducing |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    datasets = [d for d in qb.DATASETS if any(r["dataset"] == d for r in lines)]
    verdicts: list[tuple] = []
    left_out: list[str] = []
    # where fit would clip the batch (the clipped fits were run as a control), say that the equal fits did not
    clips = {
        d
        for d in datasets
        if any(r["dataset"] == d and r["system"] == "equal_clipped" for r in lines)
    }
    full = f" (batch {quality.SETTINGS['batch_size']} drawn in full)"
    for dataset in datasets:
        row = compare(lines, dataset, "equal", full if dataset in clips else "")
        if row is None:
            left_out.append(dataset)
            continue
        rows.append(row[0])
        verdicts.append(row[1])
    clipped = [
        row
        for d in datasets
        if (row := compare(lines, d, "equal_clipped", " (clipped)")) is not None
    ]
    wider = [v[0] for v in verdicts if v[1] > 1.0]
    excluded = [v[0] for v in verdicts if v[2] > 1.0 or v[3] < 1.0]
    paired_excluded = [v[0] for v in verdicts if v[7] > 1.0 or v[8] < 1.0]
    beyond = [v[0] for v in verdicts if v[4] > v[5] + v[6]]
    rows += [
        "",
        f"neuroembed's sd is the larger on {len(wider)} of {len(verdicts)} datasets"
        + (f" ({', '.join(wider)})" if wider else "")
        + "; the 95 % interval of the ratio "
        + (
            "includes 1 on every dataset"
            if not excluded
            else f"excludes 1 on {', '.join(excluded)}"
        )
        + ", its paired interval "
        + (
            "on every dataset."
            if not paired_excluded
            else f"too, but excludes it on {', '.join(paired_excluded)}."
        )
        + " neuroembed's mean error is above CEBRA's by more than the two sds together on "
        + (", ".join(beyond) if beyond else "no dataset")
        + "."
        + (
            f" Not in the table (fewer than 4 seeds fitted by both systems here): {', '.join(left_out)}."
            if left_out
            else ""
        ),
        "",
    ]
    if len(verdicts) > 1:
        pooled, plo, phi, q = pooled_ratio(verdicts)
        rows += [
            f"**Pooled over the {len(verdicts)} datasets** (the fixed-effect, inverse-variance mean of the log "
            "ratios, each one's standard error read off its paired interval; `pooled_ratio`): neuroembed's sd is "
            f"**{pooled:.2f} [{plo:.2f}, {phi:.2f}]** times CEBRA's; Cochran's Q p = {q:.2f} (whether the datasets' "
            "ratios differ by more than their intervals allow). The paired intervals and this pooled figure were "
            "added after the fits, as an analysis of the same lines: no fit was added, dropped or re-run for them.",
            "",
        ]
    if clipped:
        rows += [
            "## neuroembed's own batch clipping, on the recordings where it applies",
            "",
            "`fit` clips a `batch_size` larger than the recording's window centres to them, with a warning "
            "(scikit-learn's convention, `docs/guides/parameters.md`); CEBRA draws its 512 references, positives "
            "and negatives with replacement from however many there are. On such a recording (the BCI session's "
            "training block has 431 window centres) the table above runs neuroembed with the clipping turned off "
            "for the benchmark (`quality_budget.unclipped_batches`: CEBRA's 512 drawn with replacement, what "
            "neuroembed did before the clipping came in at git 226cb4a, which is why those seeds reproduce "
            "`quality.md`'s). Below, the same seeds with the clipping on (system `equal_clipped`: 431 references and "
            "negatives a step, what `Estimator(batch_size=512)` gives a user), against the same CEBRA seeds: not "
            "equal settings.",
            "",
            "| dataset | seeds (each) | neuroembed mean | CEBRA mean | neuroembed sd | CEBRA sd | ratio [95 %] | "
            "paired interval (r) | Brown-Forsythe p | paired difference | reproducing |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *(row for row, _ in clipped),
            "",
        ]
    rows += [
        "Fits per dataset (CEBRA seeds imported from `quality_budget/` ran there, on the machine and threads "
        "that file names; every other fit ran here):",
        "",
    ]
    for dataset in datasets:
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in (r for r in lines if r["dataset"] == dataset):
            where = (
                f"{r['system']}, {r['source']}"
                + (f", neuroembed {r['neuroembed']}" if "neuroembed" in r else "")
                + f", {r['machine']}, torch threads {r['torch_threads']}"
                + (
                    f" (renamed from `{r['renamed_from'].split()[0]}`)"
                    if "renamed_from" in r
                    else ""
                )
            )
            groups.setdefault(where, []).append(r)
        for where, group in groups.items():
            seeds = ", ".join(str(s) for s in sorted(int(r["seed"]) for r in group))
            dates = sorted(r["date"] for r in group if "date" in r)
            when = f", {dates[0]} to {dates[-1][-9:]}" if dates else ""
            rows.append(f"- `{dataset}` seeds {seeds}: {where}{when}")
    text = "\n".join(rows) + "\n"
    (RESULTS / "seed_spread.md").write_text(text)
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=qb.DATASETS)
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    p.add_argument(
        "--systems",
        nargs="+",
        default=list(SYSTEMS),
        choices=SYSTEMS + CONTROLS,
        help="default: CEBRA and equal; equal_clipped (the batch clipped as fit clips it) only when named",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads of this process")
    p.add_argument("--import-existing", action="store_true")
    p.add_argument("--merge", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.import_existing:
        import_existing()
    if args.dataset is not None:
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        torch.set_flush_denormal(True)
        run(args.dataset, args.seeds, args.systems)
    if args.merge:
        print(merge())
    if not (args.import_existing or args.dataset or args.merge):
        raise SystemExit("give --dataset NAME, --import-existing or --merge.")


if __name__ == "__main__":
    main()

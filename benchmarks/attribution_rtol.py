"""How the inverted-Jacobian map's two settings, ``rtol`` and ``reduce_window``, change its AUC, chosen on some seeds
and reported on others.

The inverted Jacobian is a pseudo-inverse per sample: singular values below ``rtol`` times the largest count as
zero. On the ground-truth set of ``attribution.py`` (:func:`neuroembed.datasets.attribution_manifold`), the recipe
of ``attribution.py`` (:func:`attribution.make_estimator`, regularised) is fitted for ten seeds; every fit is mapped
with ``reduce_window`` in {"mean", "mean_abs"} times every ``rtol`` of ``RTOLS``, and scored by the AUC per part of
``attribution.py``. The setting is **chosen on seeds 5-9 only** (the largest mean AUC) and **reported on seeds 0-4**,
the seeds of ``results/attribution.md``, beside the defaults, so that the figure reported is not the one tuned.
Writes ``results/attribution_rtol.md`` and ``.json``::

    python benchmarks/attribution_rtol.py            # 10 fits of about 75 s on 2 cores
    python benchmarks/attribution_rtol.py --quick    # 2 seeds, 200 iterations, prints only
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np

import neuroembed as ne
from neuroembed.attribution import attribution_map

sys.path.insert(0, str(Path(__file__).resolve().parent))
import attribution  # noqa: E402  (the recipe, the data and the scores of attribution.py)

RESULTS = Path(__file__).resolve().parent / "results"
RTOLS = (1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.2, 0.3)
REDUCE = ("mean", "mean_abs")
CHOOSE_SEEDS = (5, 6, 7, 8, 9)
REPORT_SEEDS = (0, 1, 2, 3, 4)


def run_seed(rec, seed: int, iterations: int) -> dict:
    est = attribution.make_estimator(seed).set_params(
        max_iterations=iterations, jacobian_ramp=attribution.scaled_ramp(iterations)
    )
    start = time.perf_counter()
    est.fit(rec.neural, rec.behaviour)
    fit_seconds = time.perf_counter() - start
    truth = attribution.truth_by_part(rec)
    parts = list(est.parts_.values())
    auc = {}
    for reduce in REDUCE:
        for rtol in RTOLS:
            m = attribution_map(
                est, rec.neural, method="inverted-jacobian", reduce_window=reduce, rtol=rtol
            )
            auc[f"{reduce} {rtol:g}"] = attribution.part_auc(np.asarray(m), parts, truth)
    return {"seed": seed, "fit_seconds": fit_seconds, "auc": auc}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    iterations = 200 if args.quick else attribution.ITERATIONS
    choose, report = ((5,), (0,)) if args.quick else (CHOOSE_SEEDS, REPORT_SEEDS)
    rec = ne.datasets.attribution_manifold(random_state=0)
    runs = []
    for seed in (*choose, *report):
        r = run_seed(rec, seed, iterations)
        best = max(r["auc"], key=r["auc"].get)
        print(
            f"seed {seed}: fit {r['fit_seconds']:.0f} s, best {best} {r['auc'][best]:.3f}",
            flush=True,
        )
        runs.append(r)
    settings = list(runs[0]["auc"])
    mean = {
        group: {
            s: float(np.mean([r["auc"][s] for r in runs if r["seed"] in seeds])) for s in settings
        }
        for group, seeds in (("choose", choose), ("report", report))
    }
    chosen = max(settings, key=mean["choose"].get)
    lines = [
        "| reduce_window, rtol | mean AUC, seeds "
        + ", ".join(map(str, choose))
        + " (choice) | mean AUC, seeds "
        + ", ".join(map(str, report))
        + " (report) | per report seed |",
        "|---|---|---|---|",
    ]
    for s in settings:
        per = ", ".join(f"{r['auc'][s]:.3f}" for r in runs if r["seed"] in report)
        mark = " **(chosen)**" if s == chosen else ""
        lines.append(f"| {s}{mark} | {mean['choose'][s]:.3f} | {mean['report'][s]:.3f} | {per} |")
    text = "\n".join(lines)
    summary = (
        f"Chosen on seeds {list(choose)}: `{chosen}` (mean AUC {mean['choose'][chosen]:.3f}); on seeds "
        f"{list(report)} it reaches {mean['report'][chosen]:.3f}, against {mean['report']['mean 0.0001']:.3f} "
        f"for the defaults (`mean`, rtol 1e-4) and {mean['report']['mean_abs 0.0001']:.3f} for `mean_abs`, "
        f"rtol 1e-4."
    )
    print(text + "\n\n" + summary)
    if args.quick:
        return
    when = datetime.datetime.now(datetime.timezone.utc)
    header = (
        "# Inverted-Jacobian map: rtol and reduce_window, chosen on seeds 5-9, reported on seeds 0-4\n\n"
        f"Produced by `python benchmarks/attribution_rtol.py` (finished {when:%Y-%m-%d %H:%M} UTC): the recipe of "
        f"`attribution.py` (regularised, {iterations} iterations) on `attribution_manifold(random_state=0)`; AUC "
        "per part against the truth (2 x 50 entries), as in `attribution.md`. Fits ran beside other work on the "
        "machine: their seconds are not a speed figure.\n\n"
    )
    (RESULTS / "attribution_rtol.md").write_text(header + text + "\n\n" + summary + "\n")
    (RESULTS / "attribution_rtol.json").write_text(
        json.dumps({"runs": runs, "chosen": chosen, "mean": mean}, indent=1)
    )
    print(f"written to {RESULTS / 'attribution_rtol.md'}")


if __name__ == "__main__":
    main()

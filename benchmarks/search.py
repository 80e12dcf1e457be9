"""Cost of the behaviour search (finding each reference's behaviour positive) across geometries of the behaviour.

``time_delta`` positives are the samples nearest to ``behaviour[ref] + (behaviour[j + offset] - behaviour[j])`` for a
random ``j``; that target can fall anywhere near the behaviour, including inside a ring (head direction, phase,
any normalised 2-D behaviour), where a k-d tree visits most of the points. This benchmark times one batch of 512
such queries (time offset 10, the reference excluded) on behaviour of several shapes and lengths, for:

* ``auto`` — what :class:`neuroembed.sampling.NearestNeighbours` chooses: the sorted search for 1-D behaviour, the
  circle search (distinct values sorted by angle, a growing window) for 2-D behaviour on a circle, the k-d tree
  over distinct values (nodes not shrunk to their points, leaves of 64 points) for other continuous columns;
* ``tree`` — that k-d tree on every shape (on the ring, what ``auto`` chose before the circle search);
* ``blocks`` — its batched tensor search (used with labels; a balanced partition into blocks, the nearest blocks by a
  distance bound, exact distances within them);
* ``old tree`` — the k-d tree as neuroembed used it before (:class:`scipy.spatial.cKDTree` with its defaults, over
  every sample, two nearest, the reference dropped);
* ``brute`` — exact distances to every point, in chunks (up to 10^5 samples).

Every figure is the median over ``--repeats`` batches of fresh targets (after one warm-up batch), in milliseconds;
build times are given once. The answers of ``auto``, ``blocks`` and ``tree`` are checked against the brute
force's distances on three batches. Run alone on a quiet machine, from the repository root::

    python benchmarks/search.py            # writes results/search.md and results/search.json
    python benchmarks/search.py --quick    # small sizes, prints only
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

import numpy as np
import torch
from scipy.spatial import cKDTree

from neuroembed.sampling import NearestNeighbours

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES = ("line1d", "ring", "clusters", "duplicates", "line2d", "box3")
OFFSET = 10
BATCH = 512


def behaviour(shape: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Behaviour of one geometry, float32 (n, dims), moving smoothly in time like a tracked animal."""
    if shape == "line1d":  # position on a track, shuttling
        return (np.abs(np.mod(np.cumsum(rng.normal(scale=0.01, size=n)), 2.0) - 1.0))[
            :, None
        ].astype(np.float32)
    if shape == "ring":  # head direction as (cos, sin)
        angle = np.cumsum(rng.normal(scale=0.1, size=n))
        return np.c_[np.cos(angle), np.sin(angle)].astype(np.float32)
    if shape == "clusters":  # dwelling at five places, jumping between them
        centres = rng.normal(scale=1.0, size=(5, 2))
        which = np.repeat(rng.integers(0, 5, n // 200 + 1), 200)[:n]
        return (centres[which] + rng.normal(scale=0.01, size=(n, 2))).astype(np.float32)
    if shape == "duplicates":  # an open field, the animal still for half of the recording
        walk = np.mod(np.cumsum(rng.normal(scale=0.01, size=(n, 2)), 0), 1.0)
        walk[n // 4 : 3 * n // 4] = walk[n // 4]
        return walk.astype(np.float32)
    if shape == "line2d":  # 2-D behaviour on a straight line (a linear track in camera coordinates)
        t = np.abs(np.mod(np.cumsum(rng.normal(scale=0.01, size=n)), 2.0) - 1.0)
        return np.c_[t, 0.5 * t + 0.1].astype(np.float32)
    if shape == "box3":  # 3-D random walk in a box
        return np.mod(np.cumsum(rng.normal(scale=0.01, size=(n, 3)), 0), 1.0).astype(np.float32)
    raise ValueError(f"unknown shape {shape!r}")


def targets(points: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One batch of time_delta targets and their references."""
    n = len(points)
    ref = rng.integers(0, n - OFFSET, BATCH)
    other = rng.integers(0, n - OFFSET, BATCH)
    return (points[ref] + points[other + OFFSET] - points[other]).astype(np.float32), ref


def tree_query(tree: cKDTree, t: np.ndarray, ref: np.ndarray) -> np.ndarray:
    _, idx = tree.query(t.astype(np.float64), k=2)
    return np.where(idx[:, 0] == ref, idx[:, 1], idx[:, 0])


def _median_ms(fn, batches) -> float:
    fn(*batches[0])
    times = []
    for batch in batches[1:]:
        t0 = time.perf_counter()
        fn(*batch)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def measure(shape: str, n: int, repeats: int, with_brute: bool) -> dict:
    rng = np.random.default_rng(0)
    points = behaviour(shape, n, rng)
    pts = torch.from_numpy(points)
    batches = [targets(points, rng) for _ in range(repeats + 1)]
    torch_batches = [(torch.from_numpy(t), torch.from_numpy(r)) for t, r in batches]
    row: dict = {"shape": shape, "n": n, "dims": points.shape[1]}

    brute = NearestNeighbours(pts, strategy="brute")
    for name, strategy in (("auto", "auto"), ("blocks", "blocks"), ("tree", "tree")):
        t0 = time.perf_counter()
        index = NearestNeighbours(pts, strategy=strategy)
        row[f"{name}_build_ms"] = 1e3 * (time.perf_counter() - t0)
        if name == "auto":
            row["strategy"] = index.strategy
        row[f"{name}_ms"] = _median_ms(
            lambda t, r, index=index: index.query(t, exclude=r), torch_batches
        )
        # exactness: the distances found equal the brute force's
        for t, r in torch_batches[:3]:
            got, ref = index.query(t, exclude=r), brute.query(t, exclude=r)
            found, nearest = ((pts[got] - t) ** 2).sum(1), ((pts[ref] - t) ** 2).sum(1)
            # (the tree measures in float64: a near tie may go to another point, equal in float32 to rounding)
            if not torch.allclose(found, nearest, rtol=1e-5, atol=1e-9):
                raise RuntimeError(f"{shape} n={n} {name}: the search is not exact")
    t0 = time.perf_counter()
    tree = cKDTree(points.astype(np.float64))
    row["old_tree_build_ms"] = 1e3 * (time.perf_counter() - t0)
    row["old_tree_ms"] = _median_ms(lambda t, r: tree_query(tree, t, r), batches)
    if with_brute:
        row["brute_ms"] = _median_ms(lambda t, r: brute.query(t, exclude=r), torch_batches)
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| behaviour | samples | auto: strategy | auto ms | blocks ms | tree ms | old tree ms | brute ms "
        "| build ms: auto / blocks / tree / old tree |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        brute = f"{r['brute_ms']:.1f}" if "brute_ms" in r else ""
        lines.append(
            f"| {r['shape']} ({r['dims']}-D) | {r['n']:,} | {r['strategy']} | {r['auto_ms']:.2f} "
            f"| {r['blocks_ms']:.2f} | {r['tree_ms']:.2f} | {r['old_tree_ms']:.2f} | {brute} "
            f"| {r['auto_build_ms']:.0f} / {r['blocks_build_ms']:.0f} / {r['tree_build_ms']:.0f} "
            f"/ {r['old_tree_build_ms']:.0f} |"
        )
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    out = []
    for n in sorted({r["n"] for r in rows}):
        at = [r for r in rows if r["n"] == n]
        one_d = [r["auto_ms"] for r in at if r["dims"] == 1]
        parts = []
        for key, name in (
            ("auto_ms", "auto"),
            ("blocks_ms", "blocks"),
            ("tree_ms", "tree"),
            ("old_tree_ms", "old tree"),
        ):
            multi = [r[key] for r in at if r["dims"] > 1]
            parts.append(f"{name} median {np.median(multi):.2f} ms, worst {max(multi):.2f} ms")
        out.append(
            f"- {n:,} samples, 2-D/3-D shapes: "
            + "; ".join(parts)
            + (f". 1-D (sorted): {one_d[0]:.2f} ms." if one_d else ".")
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, print only")
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args(argv)
    sizes = (5_000, 20_000) if args.quick else (10_000, 100_000, 1_000_000)
    repeats = args.repeats or (3 if args.quick else 30)
    torch.set_num_threads(int(os.environ.get("NE_THREADS", torch.get_num_threads())))
    rows = []
    for n in sizes:
        for shape in SHAPES:
            row = measure(shape, n, repeats, with_brute=n <= 100_000)
            print(
                f"{shape:10s} n={n:>9,} {row['strategy']:7s} {row['auto_ms']:7.2f} ms  blocks "
                f"{row['blocks_ms']:7.2f} ms  tree {row['tree_ms']:7.2f} ms  old tree "
                f"{row['old_tree_ms']:7.2f} ms",
                flush=True,
            )
            rows.append(row)
    text = table(rows) + "\n\n" + summary(rows) + "\n"
    print(text)
    if args.quick:
        return
    load = os.getloadavg()
    header = (
        f"# Behaviour search across geometries\n\n"
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {torch.get_num_threads()} torch threads, load before "
        f"{load[0]:.2f}; torch {torch.__version__}, Python {sys.version.split()[0]}. One batch of {BATCH} "
        f"`time_delta` targets (time offset {OFFSET}), the reference excluded; median of {repeats} batches.\n\n"
    )
    (RESULTS / "search.md").write_text(header + text)
    (RESULTS / "search.json").write_text(json.dumps(rows, indent=1))
    print(f"written to {RESULTS / 'search.md'}")


if __name__ == "__main__":
    main()

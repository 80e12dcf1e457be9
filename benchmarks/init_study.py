"""Why two seeds' embeddings of ``linear_track`` can disagree: initial weights, batches, or the positive search.

In the quality benchmark, some seeds' embeddings of ``linear_track`` carry a fourth dimension that encodes running
direction (the embedding's fourth singular value is about 0.15-0.3 instead of about 0.03); such a run agrees less
with the others, so the consistency between seeds drops. This script separates the candidate causes, each on the same
training block as ``quality.py`` (first 80 % of ``linear_track(random_state=0)``) with the same settings:

* ``search``: the positives each system's ``time_delta`` sampler draws, on the same behaviour: how far the positive's
  position lies from the reference's, how often the direction flags agree, how often the reference is its own
  positive, and what share of the samples is ever drawn as a positive (CEBRA computes ``|x|^2 + |q|^2 - 2 x.q`` in
  float32, neuroembed the exact distance).
* ``init``: neuroembed started from the initial weights of one seed and trained on the batches of other seeds, and
  the reverse (the weights of other seeds, the batches of that seed).
* ``cebra``: CEBRA started from neuroembed's initial weights for a seed (its batches cannot be seeded, so each run
  has new ones).
* ``cebra_search``: neuroembed with CEBRA's float32 nearest-neighbour formula in place of its own exact search.

For every fit it reports the linear R^2 of the running direction from the embedding, the embedding's fourth singular
value (centred, divided by sqrt(n)) and the kNN position error of ``quality.py``. ``init`` and ``cebra_search`` reach
into neuroembed's internals (the estimator's generator set-up and the nearest-neighbour query) for the experiment's
sake; nothing in the package is changed.

Run from the repository root in the benchmark environment (with ``cebra``)::

    python benchmarks/init_study.py                  # all parts, about 20 minutes on 2 cores
    python benchmarks/init_study.py --parts search --output -
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LinearRegression

import neuroembed as ne
import neuroembed.estimator as ne_estimator
from neuroembed.models.conv import window_offsets
from neuroembed.sampling import neighbours as ne_neighbours
from neuroembed.sampling.sampler import ContrastiveSampler, SessionData

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import (  # noqa: E402
    SETTINGS,
    TRAIN_FRACTION,
    cebra_version,
    cpu_model,
    decode_error,
    fit_cebra,
    fit_neuroembed,
    git_revision,
    neuroembed_initial_weights,
    package_version,
    write_output,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "init_study.md"
PARTS = ("search", "init", "cebra", "cebra_search")
DEFAULT_ITERATIONS = 2000


# ---------------------------------------------------------------------------------------------------------------------
# data and measures
# ---------------------------------------------------------------------------------------------------------------------
def load() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    rec = ne.datasets.linear_track(random_state=0)
    n_train = int(np.floor(TRAIN_FRACTION * rec.neural.shape[0]))
    return rec.neural, rec.behaviour, rec.labels.astype(np.float64), n_train


def measures(
    embedding: np.ndarray, behaviour: np.ndarray, direction: np.ndarray
) -> dict[str, float]:
    """Direction R^2, fourth singular value and kNN position error of one embedding of the whole recording."""
    centred = embedding - embedding.mean(0)
    sv = np.linalg.svd(centred, compute_uv=False) / np.sqrt(len(embedding))
    r2 = LinearRegression().fit(embedding, direction).score(embedding, direction)
    return {
        "direction_r2": float(r2),
        "sv4": float(sv[3]),
        "knn": decode_error(embedding, behaviour[:, 0]),
    }


def row(what: str, m: dict[str, float], seconds: float) -> str:
    return f"| {what} | {m['direction_r2']:.3f} | {m['sv4']:.3f} | {m['knn']:.4f} | {seconds:.0f} |"


FIT_HEADER = [
    "| run | direction R^2 | 4th singular value | kNN error (m) | fit seconds |",
    "|---|---|---|---|---|",
]


# ---------------------------------------------------------------------------------------------------------------------
# fits
# ---------------------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def neuroembed_seeds(init_seed: int, batch_seed: int) -> Iterator[None]:
    """Inside the block, an Estimator draws its initial weights as for ``init_seed`` and its batches as for
    ``batch_seed`` (it normally takes both from one ``random_state``; see ``make_generators`` and ``_prepare``)."""
    original = ne_estimator.make_generators

    def split(
        random_state: Any, device: torch.device
    ) -> tuple[np.random.Generator, torch.Generator]:
        _, generator = original(batch_seed, device)
        # the first draw of init_seed's rng seeded its generator; the next one, left for _prepare, seeds the weights
        rng, _ = original(init_seed, device)
        return rng, generator

    ne_estimator.make_generators = split
    try:
        yield
    finally:
        ne_estimator.make_generators = original


def cebra_like_query(
    self: Any, queries: torch.Tensor, labels: Any = None, exclude: Any = None
) -> torch.Tensor:
    """CEBRA 0.6.1's ``ContinuousIndex.search``: ``|x|^2 + |q|^2 - 2 x.q`` in the data's dtype, first argmin, the
    reference not excluded."""
    x = self.points
    d = (
        (x * x).sum(1, keepdim=True)
        + (queries * queries).sum(1)[None]
        - 2 * torch.einsum("ni,mi->nm", x, queries)
    )
    return torch.argmin(d, dim=0)


# ---------------------------------------------------------------------------------------------------------------------
# parts
# ---------------------------------------------------------------------------------------------------------------------
def part_search(behaviour: np.ndarray, n_train: int, draws: int) -> list[str]:
    from cebra.distributions.continuous import TimedeltaDistribution

    b = torch.from_numpy(np.ascontiguousarray(behaviour[:n_train])).float()
    offset = SETTINGS["time_offset"]
    chunk = 4096
    dist = TimedeltaDistribution(b, offset, seed=0)
    ref_c = dist.sample_prior(draws)
    pos_c = torch.cat([dist.sample_conditional(r) for r in ref_c.split(chunk)])
    left, right = window_offsets(ne.models.Offset10(1).receptive_field)
    sampler = ContrastiveSampler(
        [SessionData(n_train, left, right, b)],
        "time_delta",
        batch_size=chunk,
        num_negatives=chunk,
        time_offset=offset,
        generator=torch.Generator().manual_seed(0),
    )
    batches = [sampler.sample() for _ in range(-(-draws // chunk))]
    ref_n = torch.cat([ib.reference[0] for ib in batches])[:draws]
    pos_n = torch.cat([ib.positive[0] for ib in batches])[:draws]
    still = np.r_[np.abs(np.diff(behaviour[:n_train, 0])) <= 0.005, True]
    lines = [
        f"{draws} references and their `time_delta` positives per system, drawn from the training block's behaviour "
        "(position in m, right and left flags). *Still*: samples that move by at most 5 mm to the next bin.",
        "",
        "| sampler | median / 90th pct. of position distance (m) | direction flags agree | reference is its own "
        "positive | samples ever drawn as positive | ... of the still samples |",
        "|---|---|---|---|---|---|",
    ]
    for name, r, p in [
        ("CEBRA 0.6.1 `TimedeltaDistribution`", ref_c, pos_c),
        ("neuroembed", ref_n, pos_n),
    ]:
        r, p = r.numpy(), p.numpy()
        dpos = np.abs(behaviour[p, 0] - behaviour[r, 0])
        counts = np.bincount(p, minlength=n_train)
        flags = np.mean((behaviour[p, 1:] == behaviour[r, 1:]).all(1))
        lines.append(
            f"| {name} | {np.median(dpos):.4f} / {np.quantile(dpos, 0.9):.4f} | {flags:.4f} | {np.mean(p == r):.4f} | "
            f"{np.mean(counts > 0):.3f} | {np.mean(counts[still] > 0):.3f} |"
        )
    return lines


def part_init(data: tuple, init_seed: int, others: list[int], iterations: int) -> list[str]:
    x_all, y_all, direction, n = data
    lines = list(FIT_HEADER)
    # init_seed's weights with the others' batches, then the others' weights with init_seed's batches
    crossed = [(init_seed, other) for other in others] + [(other, init_seed) for other in others]
    for weights_seed, batch_seed in crossed:
        with neuroembed_seeds(weights_seed, batch_seed):
            emb, sec = fit_neuroembed(x_all[:n], y_all[:n], x_all, iterations, 0)
        what = f"neuroembed, weights of seed {weights_seed}, batches of seed {batch_seed}"
        lines.append(row(what, measures(emb, y_all, direction), sec))
        print(lines[-1], file=sys.stderr, flush=True)
    return lines


def part_cebra(data: tuple, seeds: list[int], runs: int, iterations: int) -> list[str]:
    x_all, y_all, direction, n = data
    lines = list(FIT_HEADER)
    for seed in seeds:
        weights = neuroembed_initial_weights(x_all[:n], y_all[:n], seed)
        for run in range(runs):
            emb, sec = fit_cebra(
                x_all[:n], y_all[:n], x_all, iterations, seed, initial_weights=weights
            )
            lines.append(
                row(
                    f"CEBRA from neuroembed's weights of seed {seed}, run {run}",
                    measures(emb, y_all, direction),
                    sec,
                )
            )
            print(lines[-1], file=sys.stderr, flush=True)
    return lines


def part_cebra_search(data: tuple, seeds: list[int], iterations: int) -> list[str]:
    x_all, y_all, direction, n = data
    lines = list(FIT_HEADER)
    original = ne_neighbours.NearestNeighbours.query
    for seed in seeds:
        for label, query in [
            ("exact search", original),
            ("CEBRA's float32 search", cebra_like_query),
        ]:
            ne_neighbours.NearestNeighbours.query = query
            try:
                emb, sec = fit_neuroembed(x_all[:n], y_all[:n], x_all, iterations, seed)
            finally:
                ne_neighbours.NearestNeighbours.query = original
            lines.append(
                row(f"neuroembed seed {seed}, {label}", measures(emb, y_all, direction), sec)
            )
            print(lines[-1], file=sys.stderr, flush=True)
    return lines


# ---------------------------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument(
        "--seed", type=int, default=1, help="the seed whose weights are studied (default 1)"
    )
    parser.add_argument(
        "--others",
        type=int,
        nargs="+",
        default=[100, 101, 102],
        help="the seeds it is crossed with",
    )
    parser.add_argument(
        "--cebra-seeds",
        type=int,
        nargs="+",
        default=[0, 1, 11],
        help="neuroembed seeds whose weights CEBRA starts from",
    )
    parser.add_argument(
        "--cebra-runs", type=int, default=2, help="CEBRA fits per seed (each with new batches)"
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=DEFAULT_ITERATIONS,
        help=f"per fit (default {DEFAULT_ITERATIONS})",
    )
    parser.add_argument(
        "--draws", type=int, default=200_000, help="references per sampler in the search part"
    )
    parser.add_argument(
        "--output", default=str(DEFAULT_OUTPUT), help="markdown file ('-' prints only)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if cebra_version() is None:
        raise SystemExit(
            "init_study.py compares with CEBRA: install it (see benchmarks/README.md)."
        )
    t0 = time.perf_counter()
    load_before = os.getloadavg()
    data = load()
    now = datetime.datetime.now().astimezone()
    lines = [
        "# Why seeds disagree on linear_track: initial weights, batches, or the positive search",
        "",
        f"- date: {now:%Y-%m-%d %H:%M %Z}",
        f"- machine: {platform.platform()}; CPU {cpu_model()}; torch threads {torch.get_num_threads()}",
        f"- versions: python {platform.python_version()}, torch {torch.__version__}, neuroembed "
        f"{package_version('neuroembed')} (git {git_revision()}), CEBRA {cebra_version()}",
        f"- data: `linear_track(random_state=0)`, trained on the first {TRAIN_FRACTION:.0%}; settings of "
        f"`quality.py`, {args.iterations} iterations; measures on the whole recording",
        "- direction R^2: linear R^2 of the running direction (0/1) from the embedding; 4th singular value: of the "
        "centred embedding, divided by sqrt(n) (about 0.03 when the embedding has three dimensions)",
    ]
    titles = {
        "search": "## Positives drawn by the two samplers",
        "init": f"## neuroembed: weights of seed {args.seed} crossed with the batches of other seeds",
        "cebra": "## CEBRA started from neuroembed's initial weights",
        "cebra_search": "## neuroembed with CEBRA's float32 nearest-neighbour formula",
    }
    for part in args.parts:
        print(f"part {part}", file=sys.stderr, flush=True)
        if part == "search":
            body = part_search(data[1], data[3], args.draws)
        elif part == "init":
            body = part_init(data, args.seed, list(args.others), args.iterations)
        elif part == "cebra":
            body = part_cebra(data, list(args.cebra_seeds), args.cebra_runs, args.iterations)
        else:
            body = part_cebra_search(data, [0, args.seed], args.iterations)
        lines += ["", titles[part], "", *body]
    command = shlex.join(
        ["python", "benchmarks/init_study.py", *(sys.argv[1:] if argv is None else argv)]
    )
    load_after = os.getloadavg()
    lines.insert(
        4,
        "- load average (1, 5, 15 min) at start "
        + ", ".join(f"{v:.2f}" for v in load_before)
        + "; at end "
        + ", ".join(f"{v:.2f}" for v in load_after)
        + " (fit seconds are only a rough guide)",
    )
    lines += [
        "",
        f"Total wall time {(time.perf_counter() - t0) / 60:.1f} min; produced by `{command}`.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    write_output(text, args.output)
    return text


if __name__ == "__main__":
    main()

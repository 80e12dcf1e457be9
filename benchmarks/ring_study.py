"""Why neuroembed and CEBRA could differ on behaviour on a ring: the samplers' positives, and fits with each search.

A diagnosis, not a benchmark, on the training block of the ``ring`` task (:func:`neuroembed.datasets.ring_manifold`:
dense Poisson counts driven by an angle whose ``(cos, sin)`` is the behaviour), with ``quality.py``'s settings:

* ``search``: statistics of the ``time_delta`` positives each system's sampler draws (CEBRA 0.6.1's
  ``TimedeltaDistribution`` and neuroembed's :class:`~neuroembed.sampling.ContrastiveSampler`): the angle between a
  reference and its positive, how often the positive is the reference itself or one of its neighbours in time, and
  how many samples are ever drawn as a positive;
* ``fits``: neuroembed trained with its exact search (the reference excluded), with the exact search and the
  reference allowed as its own positive (as CEBRA does), and with CEBRA's float32 formula ``|x|^2 + |q|^2 - 2 x.q``
  (CEBRA's search entirely), each over the same seeds; circular kNN error on the held-out block and consistency
  between seeds.

The ``fits`` part patches :meth:`NearestNeighbours.query` for the experiment's sake; the package is not changed.
CEBRA's own fits on this task, paired with neuroembed's at equal settings, are in ``results/quality.md``
(``quality_budget.py --dataset ring``)::

    python benchmarks/ring_study.py                  # writes results/ring_study.md
    python benchmarks/ring_study.py --parts search --output -
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np
import torch

import neuroembed as ne
from neuroembed.models import window_offsets
from neuroembed.sampling import ContrastiveSampler, SessionData
from neuroembed.sampling import neighbours as ne_neighbours

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _tasks  # noqa: E402
import quality  # noqa: E402
from init_study import cebra_like_query  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "ring_study.md"


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.angle(np.exp(1j * (a - b))))


def part_search(task: _tasks.Task, draws: int) -> list[str]:
    from cebra.distributions.continuous import TimedeltaDistribution

    b = torch.from_numpy(np.ascontiguousarray(task.behaviour_train)).float()
    angle = task.target_train
    offset = quality.SETTINGS["time_offset"]
    chunk = 4096
    dist = TimedeltaDistribution(b, offset, seed=0)
    ref_c = dist.sample_prior(draws)
    pos_c = torch.cat([dist.sample_conditional(r) for r in ref_c.split(chunk)])
    left, right = window_offsets(ne.models.Offset10(1).receptive_field)
    sampler = ContrastiveSampler(
        [SessionData(task.n_train, left, right, b)],
        "time_delta",
        batch_size=chunk,
        num_negatives=chunk,
        time_offset=offset,
        generator=torch.Generator().manual_seed(0),
    )
    batches = [sampler.sample() for _ in range(-(-draws // chunk))]
    ref_n = torch.cat([ib.reference[0] for ib in batches])[:draws]
    pos_n = torch.cat([ib.positive[0] for ib in batches])[:draws]
    step = angle_between(angle[offset:], angle[:-offset])
    lines = [
        f"{draws} references and their `time_delta` positives per system, drawn from the training block's behaviour "
        f"(cos, sin) of the angle. For scale: the angle moves by a median {np.median(step):.3f} rad over the time "
        f"offset of {offset} bins.",
        "",
        "| sampler | median / 90th pct. of the angle to the positive (rad) | positive is the reference | positive "
        "within 2 bins of the reference | samples ever drawn as positive |",
        "|---|---|---|---|---|",
    ]
    for name, r, p in [
        ("CEBRA 0.6.1 `TimedeltaDistribution`", ref_c, pos_c),
        ("neuroembed", ref_n, pos_n),
    ]:
        r, p = r.numpy(), p.numpy()
        d = angle_between(angle[p], angle[r])
        counts = np.bincount(p, minlength=task.n_train)
        lines.append(
            f"| {name} | {np.median(d):.4f} / {np.quantile(d, 0.9):.4f} | {np.mean(p == r):.4f} | "
            f"{np.mean(np.abs(p - r) <= 2):.4f} | {np.mean(counts > 0):.3f} |"
        )
    return lines


def exact_with_reference(self, targets, labels=None, exclude=None):
    """neuroembed's exact search with the reference allowed as its own positive (CEBRA's rule)."""
    return ORIGINAL_QUERY(self, targets, labels, None)


ORIGINAL_QUERY = ne_neighbours.NearestNeighbours.query
SEARCHES = {
    "exact, reference excluded (neuroembed)": ORIGINAL_QUERY,
    "exact, reference allowed": exact_with_reference,
    "CEBRA's float32 formula, reference allowed": cebra_like_query,
}


def part_fits(task: _tasks.Task, seeds: list[int], iterations: int) -> list[str]:
    whole = np.concatenate([task.neural_train, task.neural_test])
    lines = [
        f"neuroembed with `quality.py`'s settings, {iterations} iterations; error: median circular kNN error on the "
        "held-out block (rad); consistency: R^2 between seeds (mean [min, max] over pairs).",
        "",
        "| positive search | error per seed | mean error | consistency | fit s |",
        "|---|---|---|---|---|",
    ]
    for label, query in SEARCHES.items():
        errors, embeddings, seconds = [], [], []
        for seed in seeds:
            ne_neighbours.NearestNeighbours.query = query
            try:
                emb, sec = quality.fit_neuroembed(
                    task.neural_train, task.behaviour_train, whole, iterations, seed
                )
            finally:
                ne_neighbours.NearestNeighbours.query = ORIGINAL_QUERY
            errors.append(_tasks.decode_error(task, emb[: task.n_train], emb[task.n_train :]))
            embeddings.append(emb)
            seconds.append(sec)
            print(f"  {label}, seed {seed}: {errors[-1]:.4f} rad, {sec:.0f} s", file=sys.stderr)
        cons = quality.run_consistency(embeddings)
        lines.append(
            f"| {label} | {', '.join(f'{e:.4f}' for e in errors)} | {np.mean(errors):.4f} | "
            f"{quality._mean_range(cons)} | {np.mean(seconds):.0f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", nargs="+", default=["search", "fits"], choices=["search", "fits"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--draws", type=int, default=200_000)
    p.add_argument("--output", default=str(DEFAULT_OUTPUT), help="'-' prints only")
    args = p.parse_args(argv)
    torch.set_flush_denormal(True)
    task = _tasks.load_task("ring")
    t0 = time.perf_counter()
    out = [
        "# Behaviour on a ring: the samplers' positives and neuroembed with each search",
        "",
        f"- date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; neuroembed git "
        f"{quality.git_revision()}; CEBRA {quality.cebra_version()}; torch threads {torch.get_num_threads()}",
        f"- data: {task.description}",
        "",
    ]
    if "search" in args.parts:
        out += ["## Positives drawn", "", *part_search(task, args.draws), ""]
    if "fits" in args.parts:
        out += ["## Fits with each search", "", *part_fits(task, args.seeds, args.iterations), ""]
    out += [
        f"Wall time {(time.perf_counter() - t0) / 60:.1f} min; `python benchmarks/ring_study.py "
        + " ".join(sys.argv[1:] if argv is None else argv)
        + "`",
        "",
    ]
    text = "\n".join(out)
    print(text)
    quality.write_output(text, args.output)
    return text


if __name__ == "__main__":
    main()

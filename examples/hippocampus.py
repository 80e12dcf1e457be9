"""Rat hippocampus: the embedding, position decoding and consistency figure, on real place-cell data.

Run it as a script::

    python examples/hippocampus.py                       # whole recording, 2 seeds x 5000 iterations
    python examples/hippocampus.py --quick               # first 3000 bins, 2 seeds x 300 iterations (< 1 min)
    NEUROEMBED_QUICK=1 python examples/hippocampus.py
    python examples/hippocampus.py --data ~/data/buddy.jl --out buddy.png
    python examples/hippocampus.py --synthetic           # the synthetic linear track instead

The data are CEBRA's recording of rat "buddy" (Grosmark & Buzsaki, Science 2016; preprocessed by Schneider, Lee &
Mathis, Nature 2023): spike counts of 48 CA1 cells in 25 ms bins while the rat runs back and forth on a 1.6 m track,
with behaviour ``[position (m), running right (0/1), running left (0/1)]``. The file is looked for at ``--data``,
then at ``../shared/data/cebra_rat_hippocampus/buddy.jl`` beside this checkout, then in neuroembed's data folder
(:func:`neuroembed.datasets.default_data_dir`; ``load_rat_hippocampus(download=True)`` puts it there). Without it
the example says so and runs on a synthetic linear track (:func:`neuroembed.datasets.linear_track`) instead.

Steps: fit an :class:`~neuroembed.Estimator` (offset10 encoder, behaviour positives ``time_delta`` on position and
direction, 3 output dimensions so the embedding can be drawn as it is) with two seeds on the first 80 % of the
recording; embed the whole recording; decode position on the last 20 % with a kNN decoder, from the embedding and,
for comparison, from the raw spike counts; measure how consistent the two seeds' embeddings are (R^2 of the best
affine map between them). One figure (``--out``, default ``hippocampus.png``) shows

* the embedding coloured by position, and the same embedding coloured by running direction;
* the decoding error from the embedding next to that from the raw counts;
* the consistency matrix across seeds.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

import neuroembed as ne  # noqa: E402
from neuroembed.plotting import plot_consistency, plot_embedding  # noqa: E402

TRAIN_FRACTION = 0.8
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
DEFAULT_FILE = SHARED_DATA / "cebra_rat_hippocampus" / "buddy.jl"


def quick_mode(flag: bool) -> bool:
    """``--quick`` or a non-empty ``NEUROEMBED_QUICK`` other than ``0`` selects the small settings."""
    return flag or os.environ.get("NEUROEMBED_QUICK", "0") not in ("", "0")


def find_recording(data: str | None) -> Path | None:
    """The rat file: ``--data`` if given, else the shared data folder, else neuroembed's data folder."""
    if data:
        return Path(
            data
        ).expanduser()  # a file named by the user must exist (load_rat_hippocampus says so)
    candidates = [DEFAULT_FILE, ne.datasets.default_data_dir() / "buddy.jl"]
    return next((c for c in candidates if c.is_file()), None)


def load(data: str | None, synthetic: bool, quick: bool, seed: int) -> tuple[ne.Recording, str]:
    """The rat recording (or the synthetic linear track) and a one-line description of it."""
    path = None if synthetic else find_recording(data)
    if path is not None:
        rec = ne.datasets.load_rat_hippocampus(path)
        what = f"rat 'buddy' ({path.name})"
    else:
        if not synthetic:
            print(
                f"No rat hippocampus file found (looked at {DEFAULT_FILE.resolve()} and "
                f"{ne.datasets.default_data_dir() / 'buddy.jl'}); using the synthetic linear track instead. "
                "Get the real data with neuroembed.datasets.load_rat_hippocampus(download=True)."
            )
        n_samples, n_neurons = (3000, 50) if quick else (10000, 100)
        rec = ne.datasets.linear_track(n_samples, n_neurons, random_state=seed)
        what = "synthetic linear track (neuroembed.datasets.linear_track)"
    if quick and rec.n_samples > 3000:
        rec = ne.Recording(
            neural=rec.neural[:3000],
            behaviour=rec.behaviour[:3000],
            labels=rec.labels[:3000],
            timestamps=None if rec.timestamps is None else rec.timestamps[:3000],
            metadata=rec.metadata,
        )
        what += " (first 3000 bins)"
    return rec, what


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small settings (also NEUROEMBED_QUICK=1)"
    )
    parser.add_argument(
        "--data", help="path of buddy.jl (default: the shared data folder, then neuroembed's)"
    )
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="use the synthetic linear track even if the rat file is there",
    )
    parser.add_argument(
        "--out",
        default="hippocampus.png",
        help="figure file, or a folder to write hippocampus.png in (default hippocampus.png)",
    )
    parser.add_argument(
        "--iterations", type=int, help="training steps per seed (default 5000; 300 quick)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds (default 0 1)")
    parser.add_argument(
        "--output-dimension", type=int, default=3, help="embedding size (default 3)"
    )
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    if len(args.seeds) < 2:
        parser.error("--seeds needs at least two seeds to measure consistency across seeds.")

    # 1. data: neural (n_samples, n_neurons) counts; behaviour (n_samples, 3) = [position, right, left]
    rec, what = load(args.data, args.synthetic, quick, args.seeds[0])
    neural, behaviour = rec.neural, rec.behaviour
    position = behaviour[:, 0]
    direction = rec.labels  # 0 running right, 1 running left
    n_train = int(TRAIN_FRACTION * rec.n_samples)
    print(f"{what}: {rec.n_samples} bins x {rec.n_neurons} cells; training on the first {n_train}")

    # 2. one model per seed, trained on the first 80 % with position and direction as behaviour
    iterations = args.iterations or (300 if quick else 5000)
    embeddings = []
    for seed in args.seeds:
        est = ne.Estimator(
            model="offset10",
            output_dimension=args.output_dimension,
            conditional="time_delta",
            time_offset=10,
            temperature=1.0,
            batch_size=256 if quick else 512,
            learning_rate=3e-4,
            max_iterations=iterations,
            random_state=seed,
        )
        t0 = time.perf_counter()
        est.fit(neural[:n_train], behaviour[:n_train])
        embeddings.append(est.transform(neural))  # the whole recording, one row per bin
        print(f"seed {seed}: {iterations} iterations in {time.perf_counter() - t0:.1f} s")

    # 3. decode position on the held-out last 20 %: from each embedding, and from the raw counts
    def knn_error(features: np.ndarray) -> float:
        scores = ne.metrics.decode(features, position, train_fraction=TRAIN_FRACTION, method="knn")
        return float(scores["knn_median_error"])

    errors = [knn_error(z) for z in embeddings]
    raw_error = knn_error(neural)
    print(
        f"kNN position decoding, median error on the last {rec.n_samples - n_train} bins: "
        + ", ".join(f"seed {s} {e * 100:.1f} cm" for s, e in zip(args.seeds, errors))
        + f"; raw counts {raw_error * 100:.1f} cm"
    )

    # 4. consistency across seeds: R^2 of the best affine map from one seed's embedding to the other's
    matrix = ne.metrics.consistency(
        {f"seed {s}": z for s, z in zip(args.seeds, embeddings)}, between="runs"
    )
    mean_consistency = float(np.nanmean(matrix.to_numpy()))
    print(f"consistency across seeds (R^2): {mean_consistency:.3f}")

    # 5. the figure
    fig = plt.figure(figsize=(18, 4.6))
    grid = fig.add_gridspec(1, 4, width_ratios=[1.25, 1.25, 1.0, 1.0])
    z = embeddings[0]
    ax = fig.add_subplot(grid[0], projection="3d")
    plot_embedding(z, color=position, ax=ax, s=1.5, colorbar=False, title="coloured by position")
    fig.colorbar(ax.collections[0], ax=ax, shrink=0.6, pad=0.12, label="position (m)")
    ax = fig.add_subplot(grid[1], projection="3d")
    two = ListedColormap(["tab:blue", "tab:orange"])
    plot_embedding(
        z,
        color=direction,
        ax=ax,
        cmap=two,
        s=1.5,
        colorbar=False,
        title="coloured by running direction",
    )
    for value, name in ((0, "right"), (1, "left")):
        ax.scatter([], [], [], color=two(value), label=name)
    ax.legend(loc="upper right", markerscale=4, fontsize=8)
    if args.output_dimension > 3:
        ax.text2D(
            0.0, -0.05, f"first 3 of {args.output_dimension} dimensions", transform=ax.transAxes
        )

    ax = fig.add_subplot(grid[2])
    names = [f"embedding\nseed {s}" for s in args.seeds] + ["raw\ncounts"]
    values = [e * 100 for e in errors] + [raw_error * 100]
    bars = ax.bar(names, values, color=["tab:green"] * len(errors) + ["0.6"])
    ax.bar_label(bars, fmt="%.1f")
    ax.set_ylabel("median error (cm)")
    ax.set_title(f"kNN position decoding, last {1 - TRAIN_FRACTION:.0%}")

    ax = fig.add_subplot(grid[3])
    plot_consistency(matrix, ax=ax, title="consistency across seeds (R$^2$)")
    fig.suptitle(
        f"{what}: embedding of seed {args.seeds[0]}, {iterations} iterations per seed", fontsize=10
    )
    fig.tight_layout()
    out = Path(args.out)
    if (
        out.is_dir() or not out.suffix
    ):  # a folder (as the other examples take): the figure goes inside it
        out = out / "hippocampus.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"figure: {out}")
    return {
        "knn_median_error": float(np.mean(errors)),
        "raw_counts_median_error": raw_error,
        "consistency": mean_consistency,
    }


if __name__ == "__main__":
    main()

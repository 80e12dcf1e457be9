"""DeepLabCut poses as behaviour: read a pose file, resample it onto neural bins, fit, plot.

Run it as a script::

    python examples/deeplabcut.py                          # a simulated session, 10000 bins
    python examples/deeplabcut.py --quick                  # small settings, well under a minute on a CPU
    NEUROEMBED_QUICK=1 python examples/deeplabcut.py
    python examples/deeplabcut.py --pose my_videoDLC_resnet50.h5 --fps 30   # read your own file too
    python examples/deeplabcut.py --pose maDLC.h5 --individual mouse1        # one animal of several

Steps: simulate a rat on a linear track (:func:`neuroembed.datasets.linear_track`, 25 ms bins) and the
DeepLabCut output of a 30 frames-per-second video of it, written in DeepLabCut's layout (``.csv``, and ``.h5``
when PyTables is installed: ``pip install "neuroembed[deeplabcut]"``), with frames where the snout was lost;
read it with :func:`neuroembed.io.read_deeplabcut` (likelihood cut-off, speed, head direction), resample the
frames onto the neural bins, fit an :class:`~neuroembed.Estimator` on the bins with a complete pose, decode
the snout position from the embedding on a held-out block, and draw two figures:

* ``deeplabcut_pose.png``: snout position, speed and head direction, frames and neural bins (NaN gaps show);
* ``deeplabcut_embedding.png``: the embedding coloured by the snout position.

With ``--pose``, that file is read and summarised as well (body parts, share of uncertain frames per part).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import neuroembed as ne  # noqa: E402

FPS = 30.0
SCORER = "DLC_resnet50_linear_trackMar1shuffle1_100000"
TRAIN_FRACTION = 0.8


def quick_mode(flag: bool) -> bool:
    """``--quick`` or a non-empty ``NEUROEMBED_QUICK`` other than ``0`` selects the small settings."""
    return flag or os.environ.get("NEUROEMBED_QUICK", "0") not in ("", "0")


def simulated_video(rec: ne.Recording, seed: int) -> pd.DataFrame:
    """What DeepLabCut would write for a 30 fps video of ``rec``: snout, tailbase, ears; pixels."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, rec.timestamps[-1], 1 / FPS)
    n = len(t)
    centre = 40 + 400 * np.interp(t, rec.timestamps, rec.behaviour[:, 0])  # metres -> pixels
    heading = np.where(np.interp(t, rec.timestamps, rec.behaviour[:, 1]) >= 0.5, 1.0, -1.0)
    y = 100 + rng.normal(0, 1, n)

    def part(dx: np.ndarray, dy: float, lost: float) -> np.ndarray:
        likelihood = rng.uniform(0.7, 1.0, n)
        likelihood[rng.random(n) < lost] = rng.uniform(0.0, 0.5)  # the network lost it
        return np.stack([centre + dx + rng.normal(0, 1, n), y + dy, likelihood], axis=1)

    parts = {
        "snout": part(18 * heading, 0.0, 0.03),
        "left_ear": part(10 * heading, -6.0, 0.01),
        "right_ear": part(10 * heading, 6.0, 0.01),
        "tailbase": part(-18 * heading, 0.0, 0.01),
    }
    columns = pd.MultiIndex.from_product(
        [[SCORER], list(parts), ["x", "y", "likelihood"]], names=["scorer", "bodyparts", "coords"]
    )
    return pd.DataFrame(np.concatenate(list(parts.values()), axis=1), columns=columns)


def summarise(path: Path, fps: float | None, individual: str | None) -> None:
    """Body parts and the share of frames below the default likelihood cut-off."""
    pose = ne.io.read_deeplabcut(path, fps=fps, individual=individual)
    lost = np.isnan(pose.positions[:, ::2]).mean(axis=0)
    print(f"{path}: {pose.n_frames} frames, scorer {pose.metadata['scorer']}")
    for name, share in zip(pose.bodyparts, lost):
        print(f"  {name:>20}: {100 * share:5.1f} % of frames below likelihood 0.6")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small settings (also NEUROEMBED_QUICK=1)"
    )
    parser.add_argument("--out", default="deeplabcut-output", help="folder for files and figures")
    parser.add_argument("--iterations", type=int, help="training steps (default 2000; 300 quick)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--pose", type=Path, help="a DeepLabCut .h5 or .csv file of yours to read")
    parser.add_argument("--fps", type=float, help="frame rate of --pose's video")
    parser.add_argument("--individual", help="the animal of a multi-animal --pose file")
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.pose is not None:
        summarise(args.pose, args.fps, args.individual)

    # 1. a recording (25 ms bins) and the DeepLabCut file of its video, in DeepLabCut's layout
    n_samples, n_neurons = (3000, 50) if quick else (10000, 100)
    rec = ne.datasets.linear_track(n_samples, n_neurons, random_state=args.seed)
    table = simulated_video(rec, args.seed)
    path = out / f"track{SCORER}.csv"
    table.to_csv(path)
    if importlib.util.find_spec("tables") is not None:  # PyTables: the .h5 file DeepLabCut writes
        path = path.with_suffix(".h5")
        table.to_hdf(path, key="df_with_missing")
    print(f"pose file: {path} ({len(table)} frames at {FPS:g} fps)")

    # 2. read: positions with NaN where the likelihood < 0.6, speed and head direction
    pose = ne.io.read_deeplabcut(
        path,
        bodyparts=["snout", "tailbase"],
        min_likelihood=0.6,
        fps=FPS,
        speed=True,
        head_direction=("tailbase", "snout"),
    )
    print(
        f"read {pose.columns}; frames with an uncertain snout: "
        f"{100 * np.isnan(pose.positions[:, 0]).mean():.1f} %"
    )

    # 3. onto the neural bins; keep bins with a complete pose; scale the columns alike
    on_bins = pose.resample(rec.timestamps)
    behaviour = on_bins.to_behaviour()  # snout x, y, tailbase x, y, speed, cos, sin of heading
    keep = np.isfinite(behaviour).all(axis=1)
    scaled = (behaviour - behaviour[keep].mean(axis=0)) / behaviour[keep].std(axis=0)
    print(f"{keep.sum()} of {len(keep)} neural bins have a complete pose")

    # 4. fit on the first 80 % of the complete bins, decode the snout position on the rest
    neural, scaled = rec.neural[keep], scaled[keep]
    snout_x = on_bins.positions[keep, 0]
    n_train = int(TRAIN_FRACTION * len(neural))
    est = ne.Estimator(
        output_dimension=3,
        batch_size=256 if quick else 512,
        max_iterations=args.iterations or (300 if quick else 2000),
        random_state=args.seed,
    )
    t0 = time.perf_counter()
    est.fit(neural[:n_train], scaled[:n_train])
    print(f"fit: {est.n_iter_} iterations in {time.perf_counter() - t0:.1f} s")
    embedding = est.transform(neural)
    scores = ne.metrics.decode(embedding, snout_x, train_fraction=TRAIN_FRACTION, method="knn")
    raw = ne.metrics.decode(neural, snout_x, train_fraction=TRAIN_FRACTION, method="knn")
    print(
        f"kNN decoding of the snout x on the last {scores['n_test']} bins: median error "
        f"{scores['knn_median_error']:.1f} pixels from the embedding, "
        f"{raw['knn_median_error']:.1f} pixels from the raw counts"
    )

    # 5. figures
    fig, axes = plt.subplots(3, 1, figsize=(7, 6), sharex=True)
    stop = 20.0  # seconds shown
    frames, bins = pose.times < stop, on_bins.times < stop
    panels = [
        ("snout x (pixels)", pose.positions[:, 0], on_bins.positions[:, 0]),
        ("speed (pixels/s)", pose.speed, on_bins.speed),
        ("cos(head direction)", np.cos(pose.head_direction), np.cos(on_bins.head_direction)),
    ]
    for ax, (label, per_frame, per_bin) in zip(axes, panels):
        ax.plot(pose.times[frames], per_frame[frames], ".", ms=2, label="video frames (30 fps)")
        ax.plot(on_bins.times[bins], per_bin[bins], lw=0.8, label="neural bins (25 ms)")
        ax.set_ylabel(label)
    axes[0].legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("time (s); gaps: uncertain frames")
    fig.tight_layout()
    fig.savefig(out / "deeplabcut_pose.png", dpi=80)
    plt.close(fig)

    from neuroembed.plotting import plot_embedding

    fig = plt.figure(figsize=(5.5, 4.5))
    ax = fig.add_subplot(projection="3d")
    plot_embedding(embedding, color=snout_x, ax=ax, title="embedding, coloured by snout x", s=2)
    fig.savefig(out / "deeplabcut_embedding.png", dpi=80)
    plt.close(fig)
    print(f"figures: {out / 'deeplabcut_pose.png'}, {out / 'deeplabcut_embedding.png'}")


if __name__ == "__main__":
    main()

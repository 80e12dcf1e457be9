"""Self-supervised image methods on scikit-learn's digits, each trained for the same wall-clock budget.

Data: :func:`sklearn.datasets.load_digits` (1797 grayscale 8x8 images, bundled with scikit-learn, no download),
scaled to [0, 1], split 75 / 25 (stratified, seeded) into a training and a test set.

Every method in :mod:`neuroembed.ssl` trains on the training images for the same wall-clock budget
(``--budget-seconds``, on the CPU) from the same initial backbone -- a small CNN (:class:`~neuroembed.models.image.ImageCNN`
with 16-32-64 channels; iBOT needs patch tokens and starts from the default tiny ViT) -- with embedding size 64 and
batch size 256. Then:

* **few-label linear probe** (the headline number): 10 labelled training images per class (100 in all, drawn with
  the seed) fit a logistic regression on the frozen embeddings (:func:`neuroembed.ssl.linear_probe`), scored on the
  test set. The same 100 images are used for every method and baseline. Because 100 labels is a noisy sample, the
  table also gives the mean and standard deviation over 5 further draws of 10 images per class;
* few-label cosine kNN probe on the same 100 images (:func:`neuroembed.ssl.knn_probe`);
* linear probe with all training labels, for context;
* training throughput (input images per second) and the number of steps the budget allowed.

Baselines: the raw 64 pixels, and the untrained CNN and ViT every method starts from.

The supervised methods (SupCon, Triplet) train on the 100 labelled images only, with their labels: in the few-label
regime that is all the labels there are. CLIP needs two paired modalities; on digits it pairs each image with its row
and column intensity profiles (a 16-d vector: the 8 row sums and 8 column sums), a second "modality" derived from
the image without labels, and the image encoder is probed.

Run from the repository root::

    python benchmarks/ssl_digits.py                         # 30 s per method, writes results/ssl_digits.md
    python benchmarks/ssl_digits.py --budget-seconds 60 --seed 1
    python benchmarks/ssl_digits.py --quick                 # smoke test: 3 s per method, prints only
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from neuroembed.models.image import ImageCNN, make_backbone
from neuroembed.ssl import (
    BYOL,
    CLIP,
    DINO,
    IBOT,
    Augment,
    AutoEncoder,
    MoCo,
    MultiCrop,
    SimCLR,
    SimSiam,
    SupCon,
    Triplet,
    few_label_split,
    knn_probe,
    linear_probe,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "ssl_digits.md"
N_PER_CLASS = 10
EXTRA_DRAWS = 5
EMBEDDING = 64
BATCH = 256
CNN_WIDTH = 16

#: Views for digits: crops of half to all of the image, brightness / contrast jitter, light blur, no mirroring.
DIGIT_VIEWS = Augment(crop_scale=(0.5, 1.0), flip_p=0.0)
#: Multi-crop for digits: 2 global views and 4 local 6x6 views of a quarter to half of the image.
DIGIT_CROPS = MultiCrop(
    n_global=2,
    n_local=4,
    global_scale=(0.5, 1.0),
    local_size=6,
    local_scale=(0.25, 0.5),
    view=DIGIT_VIEWS,
)


@dataclass
class Data:
    train: np.ndarray
    train_y: np.ndarray
    test: np.ndarray
    test_y: np.ndarray
    labelled: np.ndarray  # indices into train: the few-label set
    extra_draws: list[np.ndarray]


@dataclass
class Row:
    name: str
    kind: str
    few_label: float
    few_label_draws: list[float]
    knn: float
    full_label: float
    iterations: int | None = None
    images_per_second: float | None = None
    first_loss: float | None = None
    last_loss: float | None = None
    note: str = ""


def profiles(images: np.ndarray) -> np.ndarray:
    """Row and column intensity sums of ``(n, 1, 8, 8)`` images: ``(n, 16)``."""
    return np.concatenate([images.sum(axis=3)[:, 0], images.sum(axis=2)[:, 0]], axis=1).astype(
        np.float32
    )


def initial_backbones(seed: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The untrained CNN and ViT every method starts from (each ``fit`` trains its own copy)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cnn = ImageCNN(in_channels=1, output_dimension=EMBEDDING, width=CNN_WIDTH)
        vit = make_backbone("vit", in_channels=1, output_dimension=EMBEDDING, image_size=8)
    return cnn, vit


def methods(seed: int, budget: float) -> dict[str, tuple[Any, str, str]]:
    """Name -> (estimator, what fit needs, note)."""
    cnn, vit = initial_backbones(seed)
    common: dict[str, Any] = {
        "backbone": cnn,
        "output_dimension": EMBEDDING,
        "batch_size": BATCH,
        "max_iterations": 1_000_000,
        "max_seconds": budget,
        "device": "cpu",
        "random_state": seed,
    }
    return {
        "SimCLR": (SimCLR(augmentation=DIGIT_VIEWS, **common), "X", "NT-Xent, temperature 0.5"),
        "MoCo": (
            MoCo(augmentation=DIGIT_VIEWS, queue_size=1024, **common),
            "X",
            "queue 1024, momentum 0.99, temperature 0.2",
        ),
        "BYOL": (BYOL(augmentation=DIGIT_VIEWS, **common), "X", "EMA 0.99 -> 1 (cosine)"),
        "SimSiam": (SimSiam(augmentation=DIGIT_VIEWS, **common), "X", "stop-gradient + predictor"),
        "DINO": (
            DINO(augmentation=DIGIT_CROPS, **common),
            "X",
            "2 global + 4 local 6x6 crops, 256 prototypes",
        ),
        "iBOT": (
            IBOT(augmentation=DIGIT_CROPS, **{**common, "backbone": vit}),
            "X",
            "tiny ViT (2x2 patches), masked patch tokens",
        ),
        "CLIP": (CLIP(**common), "profiles", "image <-> row/column profiles (16-d), no labels"),
        "SupCon": (
            SupCon(augmentation=DIGIT_VIEWS, **common),
            "labelled",
            "supervised: the 100 labelled images only",
        ),
        "Triplet": (
            Triplet(augmentation=DIGIT_VIEWS, **{**common, "batch_size": 64}),
            "labelled",
            "supervised: the 100 labelled images only; batch 64 anchors + positives + mined hard "
            "negatives, semi-hard in-batch mining",
        ),
        "AutoEncoder": (AutoEncoder(**common), "X", "MSE reconstruction"),
    }


def load(seed: int, quick: bool) -> Data:
    digits = load_digits()
    X = (digits.images / 16.0)[:, None].astype(np.float32)
    y = digits.target.astype(np.int64)
    train, test, train_y, test_y = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=seed
    )
    if quick:
        train, train_y, test, test_y = train[:400], train_y[:400], test[:200], test_y[:200]
    labelled = few_label_split(train_y, N_PER_CLASS, random_state=seed)
    extra = [
        few_label_split(train_y, N_PER_CLASS, random_state=seed + 1000 + k)
        for k in range(EXTRA_DRAWS)
    ]
    return Data(train, train_y, test, test_y, labelled, extra)


def evaluate(name: str, kind: str, embed: Callable[[np.ndarray], np.ndarray], data: Data) -> Row:
    Z, Zt = embed(data.train), embed(data.test)
    L = data.labelled
    return Row(
        name=name,
        kind=kind,
        few_label=linear_probe(Z[L], data.train_y[L], Zt, data.test_y),
        few_label_draws=[
            linear_probe(Z[d], data.train_y[d], Zt, data.test_y) for d in data.extra_draws
        ],
        knn=knn_probe(Z[L], data.train_y[L], Zt, data.test_y),
        full_label=linear_probe(Z, data.train_y, Zt, data.test_y),
    )


def untrained(net: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    net = net.eval()

    @torch.no_grad()
    def embed(images: np.ndarray) -> np.ndarray:
        return net(torch.from_numpy(images)).numpy()

    return embed


def run(args: argparse.Namespace) -> tuple[list[Row], Data]:
    data = load(args.seed, args.quick)
    rows = [
        evaluate("raw pixels", "baseline", lambda x: x.reshape(len(x), -1), data),
    ]
    cnn, vit = initial_backbones(args.seed)
    rows.append(evaluate("random CNN", "baseline", untrained(cnn), data))
    rows.append(evaluate("random ViT", "baseline", untrained(vit), data))
    for name, (est, needs, note) in methods(args.seed, args.budget_seconds).items():
        if args.methods and name not in args.methods:
            continue
        print(f"training {name} for {args.budget_seconds:g} s ...", file=sys.stderr, flush=True)
        if needs == "profiles":
            est.fit(data.train, profiles(data.train))
        elif needs == "labelled":
            est.fit(data.train[data.labelled], data.train_y[data.labelled])
        else:
            est.fit(data.train)
        row = evaluate(name, "method", est.transform, data)
        h = est.loss_history_
        k = max(1, len(h) // 10)
        row.iterations = est.n_iterations_
        row.images_per_second = est.images_per_second_
        row.first_loss, row.last_loss = float(h[:k].mean()), float(h[-k:].mean())
        row.note = note
        rows.append(row)
        print(
            f"  {name}: few-label {row.few_label:.3f}, {row.iterations} steps",
            file=sys.stderr,
            flush=True,
        )
    return rows, data


def format_table(
    rows: list[Row], data: Data, args: argparse.Namespace, loads: tuple, wall: float
) -> str:
    now = datetime.datetime.now().astimezone()
    before, after = loads
    shared = max(before[0], after[0]) > 1.0
    lines = [
        "# Self-supervised image methods on digits: few-label linear probe at equal wall-clock budget",
        "",
        f"- date: {now:%Y-%m-%d %H:%M %Z}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPU cores, torch {torch.__version__} (CPU), "
        f"{torch.get_num_threads()} torch thread(s), python {platform.python_version()}",
        f"- load average (1 min) {before[0]:.2f} at start, {after[0]:.2f} at end"
        + (
            ": **the machine was shared with other jobs**, so throughput and the steps each budget allowed are "
            "lower than on a quiet machine"
            if shared
            else ""
        ),
        f"- budget: **{args.budget_seconds:g} s of training per method** (wall clock, CPU); seed **{args.seed}** "
        "(data split, labelled subset, weights, batches, augmentations); the steps a budget allows depend on the "
        "machine's load, so two runs with the same seed differ somewhat (single runs: read differences of a few "
        "points with care)"
        + ("; **quick mode: a smoke test on 400 images, not a benchmark**" if args.quick else ""),
        f"- data: `sklearn.datasets.load_digits`, 8x8, scaled to [0, 1]; {len(data.train)} training and "
        f"{len(data.test)} test images (stratified split)",
        f"- every method starts from the same untrained CNN ({CNN_WIDTH}-{2 * CNN_WIDTH}-{4 * CNN_WIDTH} "
        "channels; iBOT: the default tiny ViT, 2x2 patches, depth 4) = the 'random' baselines; embedding "
        f"{EMBEDDING}, batch {BATCH} (Triplet 64), AdamW at the method's default learning rate and other "
        "defaults unless noted; views: crops of 50-100 % of the image, brightness/contrast jitter, blur, no "
        "mirroring",
        "- SupCon and Triplet are supervised: they train on the 100 labelled images (with their labels) and nothing "
        "else; CLIP pairs each image with its row/column intensity profiles (no labels); images/s counts input "
        "images per second of training (each gives two or more views)",
        f"- few-label: {N_PER_CLASS} labelled training images per class (the same {len(data.labelled)} for every "
        "row), logistic regression on standardised frozen embeddings, accuracy on the test set; "
        f"'{EXTRA_DRAWS} other draws' repeats the probe with other labelled subsets (the backbone is not retrained)",
        f"- total wall time {wall / 60:.1f} min; produced by `python benchmarks/ssl_digits.py --budget-seconds "
        f"{args.budget_seconds:g} --seed {args.seed} --threads {args.threads}"
        + (" --quick" if args.quick else "")
        + "`",
        "",
        "| method | few-label linear (10/class) | same, 5 other draws: mean ± sd | few-label kNN | linear, all "
        "labels | steps in budget | images/s | loss first → last 10 % | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        draws = f"{np.mean(r.few_label_draws):.3f} ± {np.std(r.few_label_draws):.3f}"
        steps = "" if r.iterations is None else str(r.iterations)
        ips = "" if r.images_per_second is None else f"{r.images_per_second:.0f}"
        loss = "" if r.first_loss is None else f"{r.first_loss:.3f} → {r.last_loss:.3f}"
        name = f"**{r.name}**" if r.kind == "baseline" else r.name
        note = r.note if r.kind == "method" else "baseline (no training)"
        lines.append(
            f"| {name} | {r.few_label:.3f} | {draws} | {r.knn:.3f} | {r.full_label:.3f} | {steps} | {ips} | "
            f"{loss} | {note} |"
        )
    baseline = max(r.few_label for r in rows if r.kind == "baseline")
    better = [r.name for r in rows if r.kind == "method" and r.few_label > baseline]
    lines += [
        "",
        f"Best baseline (few-label linear): {baseline:.3f}. Methods above it: "
        + (", ".join(better) if better else "none")
        + ". Chance is 0.100. Differences of about 0.02 are within the spread over labelled subsets.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget-seconds", type=float, default=None, help="training seconds per method (30)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 3 s per method, 400 images, prints only"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: fastest for 8x8 images on a shared machine)",
    )
    parser.add_argument(
        "--methods", nargs="*", default=None, help="run only these methods (names as in the table)"
    )
    parser.add_argument("--output", default=None, help="results file ('-': print only)")
    args = parser.parse_args(argv)
    if args.budget_seconds is None:
        args.budget_seconds = 3.0 if args.quick else 30.0
    if args.budget_seconds <= 0:
        parser.error(f"--budget-seconds must be > 0; got {args.budget_seconds}")
    torch.set_num_threads(args.threads)
    output = args.output or ("-" if args.quick else str(DEFAULT_OUTPUT))
    start, load_before = time.perf_counter(), os.getloadavg()
    torch.set_flush_denormal(True)
    rows, data = run(args)
    table = format_table(
        rows, data, args, (load_before, os.getloadavg()), time.perf_counter() - start
    )
    print(table)
    if output != "-":
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(table)
        print(f"written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

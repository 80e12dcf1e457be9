"""Self-supervised learning on images: SimCLR on scikit-learn's 8x8 digits, then a few-label probe.

Run it as a script::

    python examples/ssl_digits.py            # 1500 training steps (a few minutes on a CPU)
    python examples/ssl_digits.py --quick    # 150 steps, well under a minute (also NEUROEMBED_QUICK=1)

It prints the probe accuracies and writes them, with the settings, to ``--out`` (``ssl_digits_results.json``).

Steps: load the digits bundled with scikit-learn (no download) as images ``(n, 1, 8, 8)`` in [0, 1],
hold out a quarter of them, train :class:`~neuroembed.ssl.SimCLR` on the other images *without labels*,
then use just 10 labelled images per class to fit a linear classifier on the frozen embeddings
(:func:`~neuroembed.ssl.linear_probe`) and score it on the held-out images, next to the same probe on
the raw pixels. The other methods (``MoCo``, ``BYOL``, ``SimSiam``, ``DINO``, ``IBOT``, ``AutoEncoder``;
``SupCon`` and ``Triplet`` with labels; ``CLIP`` with a second modality) are used the same way.

To use your own images, pass an array ``(n_images, channels, height, width)``, ``uint8`` or floats in
[0, 1], and pick augmentations that keep what matters in your images (here: no mirroring, since a
mirrored digit can be another digit).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from neuroembed.models.image import ImageCNN
from neuroembed.ssl import Augment, SimCLR, few_label_split, knn_probe, linear_probe


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="150 steps instead of 1500")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="ssl-digits-output", help="folder for the results file")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("NEUROEMBED_QUICK", "0") not in ("", "0")
    torch.set_num_threads(1)  # tiny images: one thread is the fastest on most CPUs

    digits = load_digits()
    images = (digits.images / 16.0)[:, None].astype(np.float32)  # (1797, 1, 8, 8) in [0, 1]
    train, test, train_y, test_y = train_test_split(
        images, digits.target, test_size=0.25, stratify=digits.target, random_state=args.seed
    )

    model = SimCLR(
        backbone=ImageCNN(in_channels=1, output_dimension=64, width=16),
        output_dimension=64,
        augmentation=Augment(crop_scale=(0.5, 1.0), flip_p=0.0),
        batch_size=256,
        max_iterations=150 if quick else 1500,
        random_state=args.seed,
    )
    start = time.perf_counter()
    model.fit(train)  # no labels
    print(
        f"SimCLR: {model.n_iterations_} steps in {time.perf_counter() - start:.1f} s "
        f"({model.images_per_second_:.0f} images/s), loss {model.loss_history_[:10].mean():.3f} -> "
        f"{model.loss_history_[-10:].mean():.3f}"
    )

    labelled = few_label_split(
        train_y, n_per_class=10, random_state=args.seed
    )  # 100 labelled images
    Z_train, Z_test = model.transform(train), model.transform(test)
    pixels_train, pixels_test = train.reshape(len(train), -1), test.reshape(len(test), -1)
    scores = {
        "linear_probe_pixels": linear_probe(
            pixels_train[labelled], train_y[labelled], pixels_test, test_y
        ),
        "linear_probe_simclr": linear_probe(Z_train[labelled], train_y[labelled], Z_test, test_y),
        "knn_probe_simclr": knn_probe(Z_train[labelled], train_y[labelled], Z_test, test_y),
    }
    print(f"few-label linear probe (10 images per class, {len(test)} test images):")
    print(f"  raw pixels : {scores['linear_probe_pixels']:.3f}")
    print(f"  SimCLR     : {scores['linear_probe_simclr']:.3f}")
    print(f"few-label kNN probe: SimCLR {scores['knn_probe_simclr']:.3f}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {
        "steps": int(model.n_iterations_),
        "seed": args.seed,
        "n_test_images": len(test),
        **{key: float(value) for key, value in scores.items()},
    }
    (out / "ssl_digits_results.json").write_text(json.dumps(results, indent=1))
    print(f"results: {out / 'ssl_digits_results.json'}")


if __name__ == "__main__":
    main()

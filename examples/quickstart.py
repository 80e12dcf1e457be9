"""Quick start: embed a (synthetic) hippocampus recording, decode position from it, plot it.

Run it as a script::

    python examples/quickstart.py                 # about 10000 samples, 2000 iterations
    python examples/quickstart.py --quick         # small settings, well under a minute on a CPU
    NEUROEMBED_QUICK=1 python examples/quickstart.py

Steps: simulate a rat running on a linear track (:func:`neuroembed.datasets.linear_track`), fit an
:class:`~neuroembed.Estimator` on the first 80 % of the recording with position and running direction
as behaviour, embed every sample, decode position with a kNN decoder trained on the first 80 % and
tested on the last 20 % (from the embedding and, for comparison, from the raw spike counts), report
the goodness of fit on the held-out block, save and reload the model, and draw two figures:

* ``quickstart_embedding.png``: the 3-D embedding coloured by position;
* ``quickstart_loss.png``: the goodness of fit (bits) over training.

To use your own data, replace ``rec.neural`` by an array ``(n_samples, n_neurons)`` and ``behaviour``
by an array ``(n_samples, n_behaviour)`` with one row per time bin.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import neuroembed as ne  # noqa: E402

TRAIN_FRACTION = 0.8


def quick_mode(flag: bool) -> bool:
    """``--quick`` or a non-empty ``NEUROEMBED_QUICK`` other than ``0`` selects the small settings."""
    return flag or os.environ.get("NEUROEMBED_QUICK", "0") not in ("", "0")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small settings (also NEUROEMBED_QUICK=1)"
    )
    parser.add_argument(
        "--out", default="quickstart-output", help="folder for the figures and model"
    )
    parser.add_argument("--iterations", type=int, help="training steps (default 2000; 300 quick)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. data: (n_samples, n_neurons) spike counts and (n_samples, 3) behaviour
    #    [position in m, running right, running left], one row per 25 ms bin
    n_samples, n_neurons = (3000, 50) if quick else (10000, 100)
    rec = ne.datasets.linear_track(n_samples, n_neurons, random_state=args.seed)
    neural, behaviour = rec.neural, rec.behaviour
    position = behaviour[:, 0]
    n_train = int(TRAIN_FRACTION * n_samples)
    print(
        f"recording: {neural.shape[0]} samples x {neural.shape[1]} neurons; training on the first {n_train}"
    )

    # 2. fit on the training block
    iterations = args.iterations or (300 if quick else 2000)
    est = ne.Estimator(
        model="offset10",
        output_dimension=3,
        conditional="time_delta",
        time_offset=10,
        batch_size=256 if quick else 512,
        max_iterations=iterations,
        random_state=args.seed,
    )
    t0 = time.perf_counter()
    est.fit(neural[:n_train], behaviour[:n_train])
    print(f"fit: {est.n_iter_} iterations in {time.perf_counter() - t0:.1f} s")

    # 3. embed every sample (one row per input row) and decode position on the held-out block
    embedding = est.transform(neural)
    from_embedding = ne.metrics.decode(
        embedding, position, train_fraction=TRAIN_FRACTION, method="knn"
    )
    from_counts = ne.metrics.decode(neural, position, train_fraction=TRAIN_FRACTION, method="knn")
    print(
        f"kNN position decoding on the last {from_embedding['n_test']} samples: median error "
        f"{from_embedding['knn_median_error']:.3f} m from the embedding, "
        f"{from_counts['knn_median_error']:.3f} m from the raw counts"
    )
    bits = ne.metrics.goodness_of_fit(est, neural[n_train:], behaviour[n_train:])
    print(f"goodness of fit on the held-out block: {bits:.2f} bits")

    # 4. save and reload (weights + JSON settings; loading never unpickles code)
    model_path = out / "quickstart.model.pt"
    est.save(model_path)
    reloaded = ne.Estimator.load(model_path, device="cpu")
    same = bool(abs(reloaded.transform(neural) - embedding).max() < 1e-5)
    print(f"saved {model_path}; the reloaded model gives the same embedding: {same}")

    # 5. figures
    from neuroembed.plotting import plot_embedding, plot_loss

    fig = plt.figure(figsize=(6, 4.8))
    ax = fig.add_subplot(projection="3d")
    plot_embedding(
        embedding, color=position, ax=ax, title="embedding, coloured by position (m)", s=2
    )
    fig.savefig(out / "quickstart_embedding.png", dpi=90)
    plt.close(fig)
    fig = plot_loss(est, bits=True)
    fig.set_size_inches(5, 3)
    fig.tight_layout()
    fig.savefig(out / "quickstart_loss.png", dpi=90)
    plt.close(fig)
    print(f"figures: {out / 'quickstart_embedding.png'}, {out / 'quickstart_loss.png'}")


if __name__ == "__main__":
    main()

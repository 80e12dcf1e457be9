"""Multi-session alignment: two recordings with different neurons, one shared embedding space.

Run it as a script::

    python examples/multisession.py              # two sessions of 8000 samples, 1500 iterations
    python examples/multisession.py --quick      # small settings, well under a minute on a CPU
    NEUROEMBED_QUICK=1 python examples/multisession.py

Two synthetic linear-track sessions (different seeds, so different cells and place fields, and
different neuron counts) are embedded twice:

* **jointly**, ``Estimator().fit([X1, X2], [y1, y2])``: one input layer per session and a shared rest
  of the network; behaviour positives are searched in a randomly chosen session, which pulls the two
  recordings into one space;
* **separately**, one model per session, as a baseline.

Consistency between the sessions (:func:`neuroembed.metrics.consistency` with ``between="sessions"``:
each embedding is averaged in position bins and one is mapped onto the other by an affine map; the
score is its R^2) is printed for both. Figures written to ``--out``:

* ``multisession_embeddings.png``: both sessions in the joint space, coloured by position;
* ``multisession_consistency.png``: the consistency matrices, joint and separate.
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


def quick_mode(flag: bool) -> bool:
    """``--quick`` or a non-empty ``NEUROEMBED_QUICK`` other than ``0`` selects the small settings."""
    return flag or os.environ.get("NEUROEMBED_QUICK", "0") not in ("", "0")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small settings (also NEUROEMBED_QUICK=1)"
    )
    parser.add_argument("--out", default="multisession-output", help="folder for the figures")
    parser.add_argument("--iterations", type=int, help="training steps (default 1500; 200 quick)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # two sessions: different cells (seeds) and neuron counts, the same kind of behaviour
    n_samples = 2500 if quick else 8000
    neuron_counts = (40, 60) if quick else (80, 120)
    sessions = [
        ne.datasets.linear_track(n_samples, n, random_state=args.seed + 10 * (i + 1))
        for i, n in enumerate(neuron_counts)
    ]
    neural = [rec.neural for rec in sessions]
    behaviour = [rec.behaviour for rec in sessions]  # [position, right, left] per session
    position = [rec.behaviour[:, 0] for rec in sessions]
    for i, x in enumerate(neural):
        print(f"session {i}: {x.shape[0]} samples x {x.shape[1]} neurons")

    settings = {
        "model": "offset10",
        "output_dimension": 3,
        "conditional": "time_delta",
        "batch_size": 128 if quick else 512,
        "max_iterations": args.iterations or (200 if quick else 1500),
        "random_state": args.seed,
    }

    # jointly: a list of sessions in, one shared space out
    t0 = time.perf_counter()
    joint = ne.Estimator(**settings).fit(neural, behaviour)
    print(
        f"joint fit: {joint.n_sessions_} sessions, input layers for {joint.session_n_features_} "
        f"neurons, {time.perf_counter() - t0:.1f} s"
    )
    joint_embeddings = [joint.transform(x, session=i) for i, x in enumerate(neural)]

    # separately: one model per session
    t0 = time.perf_counter()
    separate_embeddings = [
        ne.Estimator(**settings).fit(x, y).transform(x) for x, y in zip(neural, behaviour)
    ]
    print(f"separate fits: {time.perf_counter() - t0:.1f} s")

    n_bins = 20 if quick else 50
    scores = {}
    for name, embeddings in (("joint", joint_embeddings), ("separate", separate_embeddings)):
        scores[name] = ne.metrics.consistency(
            embeddings, between="sessions", behaviour=position, n_bins=n_bins
        )
        pair = scores[name].to_numpy()
        print(
            f"consistency between sessions, {name} models (R^2, {n_bins} position bins): "
            f"0->1 {pair[0, 1]:.3f}, 1->0 {pair[1, 0]:.3f}"
        )

    # figures
    from neuroembed.plotting import plot_consistency, plot_embedding

    fig = plt.figure(figsize=(9, 4.2))
    for i, emb in enumerate(joint_embeddings):
        ax = fig.add_subplot(1, 2, i + 1, projection="3d")
        plot_embedding(
            emb,
            color=position[i],
            ax=ax,
            s=2,
            colorbar=i == 1,
            title=f"session {i} ({neural[i].shape[1]} neurons)",
        )
    fig.suptitle("joint embedding, coloured by position (m)")
    fig.savefig(out / "multisession_embeddings.png", dpi=80)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(7, 3.2))
    for ax, (name, matrix) in zip(axes, scores.items()):
        plot_consistency(matrix, ax=ax, title=f"{name} models")
    fig.tight_layout()
    fig.savefig(out / "multisession_consistency.png", dpi=80)
    plt.close(fig)
    print(f"figures: {out / 'multisession_embeddings.png'}, {out / 'multisession_consistency.png'}")


if __name__ == "__main__":
    main()

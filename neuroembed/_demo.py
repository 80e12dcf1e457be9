"""``neuroembed demo``: fit, decode and plot on a synthetic linear track and, when present, a real rat recording.

For each recording the encoder is trained on the first 80 % of the samples only, every sample is embedded, and
position is decoded with a kNN decoder trained on the first 80 % and scored on the held-out last 20 %, next to the
same decoder on the raw spike counts. The embeddings (``.npz``) and a figure (``.png``) go to the output folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_demo", "find_rat_recording"]

_TRAIN_FRACTION = 0.8


def find_rat_recording() -> Path | None:
    """CEBRA's rat 'buddy' recording in ``shared/data`` beside the current folder or the package checkout, if any."""
    here = Path(__file__).resolve()
    for root in (Path.cwd(), *here.parents):
        candidate = root.parent / "shared" / "data" / "cebra_rat_hippocampus" / "buddy.jl"
        if candidate.is_file():
            return candidate
    return None


def _fit_and_decode(
    name: str, recording: Any, iterations: int, seed: int, out_dir: Path
) -> dict[str, Any]:
    from neuroembed.estimator import Estimator
    from neuroembed.metrics import decode

    X, behaviour = recording.neural, recording.behaviour
    position = behaviour[:, 0]
    n_train = int(_TRAIN_FRACTION * len(X))
    est = Estimator(
        model="offset10",
        output_dimension=8,
        conditional="time_delta",
        time_offset=10,
        batch_size=512,
        learning_rate=3e-4,
        max_iterations=iterations,
        device="auto",
        random_state=seed,
    )
    t0 = time.perf_counter()
    est.fit(X[:n_train], behaviour[:n_train])
    fit_seconds = time.perf_counter() - t0
    Z = est.transform(X)
    emb = decode(Z, position, train_fraction=_TRAIN_FRACTION, method="knn")
    raw = decode(X, position, train_fraction=_TRAIN_FRACTION, method="knn")
    np.savez_compressed(
        out_dir / f"{name}_embedding.npz",
        embedding=Z,
        behaviour=behaviour,
        loss_history=est.loss_history_,
    )
    return {
        "name": name,
        "n_samples": len(X),
        "n_neurons": X.shape[1],
        "iterations": iterations,
        "fit_seconds": fit_seconds,
        "embedding_error": emb["knn_median_error"],
        "raw_error": raw["knn_median_error"],
        "embedding": Z,
        "position": position,
        "loss_history": est.loss_history_,
    }


def _figure(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0 * len(results), 8.5))
    for i, r in enumerate(results):
        ax = fig.add_subplot(2, len(results), i + 1, projection="3d")
        Z = r["embedding"]
        sc = ax.scatter(
            Z[:, 0], Z[:, 1], Z[:, 2], c=r["position"], cmap="viridis", s=1, linewidths=0
        )
        ax.set_title(f"{r['name']}: embedding (dims 1-3)")
        fig.colorbar(sc, ax=ax, shrink=0.6, label="position (m)")
        ax2 = fig.add_subplot(2, len(results), len(results) + i + 1)
        ax2.plot(r["loss_history"], lw=0.8)
        ax2.set_xlabel("iteration")
        ax2.set_ylabel("InfoNCE loss")
        ax2.set_title(
            f"kNN error: {100 * r['embedding_error']:.1f} cm (raw counts {100 * r['raw_error']:.1f} cm)"
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run_demo(
    out_dir: str = "neuroembed-demo",
    quick: bool = False,
    max_iterations: int | None = None,
    seed: int = 0,
    print_fn: Any = print,
) -> dict[str, Any]:
    """Run the demo and return its figures (also printed).

    Parameters
    ----------
    out_dir : str
        Folder for the embeddings and the figure (created if missing).
    quick : bool
        Far fewer iterations and a shorter synthetic recording (seconds instead of a minute or two).
    max_iterations : int, optional
        Training iterations per recording (overrides the default of 1500, or 150 with ``quick``).
    seed : int
        Random seed for data and training.
    print_fn : callable
        Where progress lines go.

    Returns
    -------
    dict
        ``{"results": [...], "figure": path, "out_dir": path}``; each result has the decoding errors in metres.
    """
    from neuroembed.datasets import linear_track, load_rat_hippocampus

    iterations = max_iterations if max_iterations is not None else (150 if quick else 1500)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recordings = [
        ("linear_track", linear_track(n_samples=4000 if quick else 10000, random_state=seed))
    ]
    rat = find_rat_recording()
    if rat is not None:
        recordings.append(("rat_buddy", load_rat_hippocampus(rat)))
    else:
        print_fn(
            "(the real rat recording shared/data/cebra_rat_hippocampus/buddy.jl was not found; skipping it)"
        )
    results = []
    for name, rec in recordings:
        print_fn(
            f"fitting {name}: {rec.n_samples} samples x {rec.n_neurons} neurons, {iterations} iterations ..."
        )
        results.append(_fit_and_decode(name, rec, iterations, seed, out))
    figure = out / "demo.png"
    _figure(results, figure)
    header = f"{'recording':<14}{'samples':>9}{'neurons':>9}{'fit s':>8}{'embedding kNN err':>20}{'raw-count kNN err':>20}{'ratio':>8}"
    print_fn("")
    print_fn("Position decoding on the held-out last 20 % (median absolute error, kNN):")
    print_fn(header)
    for r in results:
        ratio = r["raw_error"] / max(r["embedding_error"], 1e-12)
        print_fn(
            f"{r['name']:<14}{r['n_samples']:>9}{r['n_neurons']:>9}{r['fit_seconds']:>8.1f}"
            f"{100 * r['embedding_error']:>17.1f} cm{100 * r['raw_error']:>17.1f} cm{ratio:>7.1f}x"
        )
    print_fn(f"\nembeddings and figure written to {out.resolve()} ({figure.name})")
    return {
        "results": [
            {k: v for k, v in r.items() if k not in ("embedding", "position", "loss_history")}
            for r in results
        ],
        "figure": str(figure),
        "out_dir": str(out),
    }

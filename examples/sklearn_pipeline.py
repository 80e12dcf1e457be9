"""Choose the output dimension with scikit-learn: a Pipeline inside GridSearchCV, contiguous folds.

Run it as a script::

    python examples/sklearn_pipeline.py            # output_dimension in {2, 4, 8, 16}, 4 folds
    python examples/sklearn_pipeline.py --quick    # {2, 8}, 2 folds, small fits: well under a minute
    NEUROEMBED_QUICK=1 python examples/sklearn_pipeline.py

The pipeline standardises the spike counts, embeds them with :class:`neuroembed.Estimator`
(``conditional="time_delta"``, position as behaviour) and regresses position with a kNN regressor on the
embedding. ``Pipeline.fit(X, y)`` hands ``y`` to every step, so the estimator trains with it as behaviour
and the regressor learns to predict it; ``predict`` and ``score`` only use ``X``.

Neural time series are autocorrelated, so shuffled K-fold leaks neighbouring samples into the test fold.
:class:`~sklearn.model_selection.TimeSeriesSplit` validates on contiguous blocks, each after the block it
was trained on. The last 20 % of the recording is held out from the search and scored once at the end.

Figures written to ``--out``:

* ``pipeline_grid.png``: cross-validated R^2 against ``output_dimension``;
* ``pipeline_prediction.png``: true and predicted position on the held-out block.
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
import pandas as pd  # noqa: E402
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit  # noqa: E402
from sklearn.neighbors import KNeighborsRegressor  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import neuroembed as ne  # noqa: E402


def quick_mode(flag: bool) -> bool:
    """``--quick`` or a non-empty ``NEUROEMBED_QUICK`` other than ``0`` selects the small settings."""
    return flag or os.environ.get("NEUROEMBED_QUICK", "0") not in ("", "0")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small settings (also NEUROEMBED_QUICK=1)"
    )
    parser.add_argument("--out", default="pipeline-output", help="folder for the figures")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    n_samples, n_neurons = (2500, 40) if quick else (10000, 100)
    rec = ne.datasets.linear_track(n_samples, n_neurons, random_state=args.seed)
    # X: (n_samples, n_neurons) spike counts; y: (n_samples,) position in m
    X, y = rec.neural, rec.behaviour[:, 0]
    n_search = int(0.8 * n_samples)
    X_search, y_search, X_test, y_test = X[:n_search], y[:n_search], X[n_search:], y[n_search:]

    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "embed",
                ne.Estimator(
                    model="offset10",
                    conditional="time_delta",
                    batch_size=128 if quick else 512,
                    max_iterations=150 if quick else 1500,
                    random_state=args.seed,
                ),
            ),
            ("knn", KNeighborsRegressor(n_neighbors=16, metric="cosine")),
        ]
    )
    grid = {"embed__output_dimension": [2, 8] if quick else [2, 4, 8, 16]}
    search = GridSearchCV(
        pipeline,
        grid,
        cv=TimeSeriesSplit(n_splits=2 if quick else 4),
        scoring="r2",
        n_jobs=1,  # the estimator already uses the CPU cores (or the GPU)
    )
    t0 = time.perf_counter()
    search.fit(X_search, y_search)
    n_fits = len(search.cv_results_["params"]) * search.n_splits_ + 1
    print(f"grid search: {n_fits} fits in {time.perf_counter() - t0:.1f} s")

    table = pd.DataFrame(
        {
            "output_dimension": search.cv_results_["param_embed__output_dimension"],
            "mean_r2": search.cv_results_["mean_test_score"],
            "std_r2": search.cv_results_["std_test_score"],
        }
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    best = search.best_params_["embed__output_dimension"]
    held_out = search.score(X_test, y_test)
    prediction = search.predict(X_test)
    median_error = float(np.median(np.abs(prediction - y_test)))
    print(
        f"best output_dimension={best}; on the held-out last {len(y_test)} samples: R^2 {held_out:.3f}, "
        f"median error {median_error:.3f} m"
    )

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.errorbar(
        table["output_dimension"], table["mean_r2"], yerr=table["std_r2"], marker="o", capsize=3
    )
    ax.set_xscale("log", base=2)
    ax.set_xticks(table["output_dimension"], [str(d) for d in table["output_dimension"]])
    ax.set_xlabel("output_dimension")
    ax.set_ylabel("cross-validated R$^2$")
    ax.set_title("GridSearchCV, TimeSeriesSplit")
    fig.tight_layout()
    fig.savefig(out / "pipeline_grid.png", dpi=90)
    plt.close(fig)

    t = rec.timestamps[n_search:]
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.plot(t, y_test, color="0.3", lw=1, label="true")
    ax.plot(t, prediction, color="tab:orange", lw=1, label="predicted")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("position (m)")
    ax.set_title(f"held-out block, output_dimension={best}")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "pipeline_prediction.png", dpi=90)
    plt.close(fig)
    print(f"figures: {out / 'pipeline_grid.png'}, {out / 'pipeline_prediction.png'}")


if __name__ == "__main__":
    main()

"""Embedding quality of neuroembed side by side with CEBRA, with identical settings.

Both systems train the same architecture (offset10: a 10-sample convolutional encoder) with the same
hyperparameters (batch 512, output dimension 8, time offset 10, temperature 1, learning rate 3e-4, cosine
distance, ``time_delta`` behaviour positives, the same number of iterations) on

* ``rat``: CEBRA's real rat hippocampus recording "buddy" (``../shared/data/cebra_rat_hippocampus/buddy.jl``),
  behaviour ``[position, right, left]`` as in CEBRA's own hippocampus demo;
* ``linear_track``: :func:`neuroembed.datasets.linear_track` (synthetic place cells, same behaviour columns, with
  the true latent ``[position, direction]``);
* ``latent_manifold``: :func:`neuroembed.datasets.latent_manifold` (a 1-D label driving a 2-D latent through a
  random non-linear map, with the true latent).

For every dataset and seed, each system is trained on the first 80 % of the recording and embeds the whole recording
with its own ``transform``; the same neuroembed kNN decoder (:func:`neuroembed.metrics.decode`: cosine, 16
neighbours, trained on the first 80 %, tested on the last 20 %) decodes column 0 of the behaviour (position, or the
label) from each embedding. Reported per dataset and system: the kNN median absolute error (mean over seeds, with the
range), latent recovery R^2 where the latent is known (:func:`neuroembed.metrics.latent_recovery`, whole recording),
run-to-run consistency R^2 between the embeddings of every two seeds (:func:`neuroembed.metrics.consistency`, mean
of the two directions; with more than two seeds the mean and range over pairs), and the wall-clock seconds of one
``fit``. A "raw counts" row decodes from the neural data itself, for scale.

Each seed is a paired comparison: by default (``--init shared``) both systems start from the same initial weights,
neuroembed's for ``random_state=seed``, copied into CEBRA's model when CEBRA builds it (the two offset10 models have
the same layers in the same order, and the same torch seed gives both the same weights). The initial weights alone
decide whether a run of ``linear_track`` grows a fourth embedding dimension for running direction, in either system
(``init_study.py``), so unpaired seeds compare draws of the initialisation as much as the two implementations.
``--init own`` lets each system draw its own weights (CEBRA's from ``torch.manual_seed(seed)``).

Run from the repository root, in an environment with neuroembed and (optionally) ``cebra`` installed::

    python benchmarks/quality.py                      # the full run (results/quality_two_seeds.md)
    python benchmarks/quality.py --quick --output -   # a smoke test: 50 iterations, small synthetic data

Without ``cebra`` the script runs neuroembed alone and says so in the table.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch

import neuroembed as ne

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RAT = REPO / ".." / "shared" / "data" / "cebra_rat_hippocampus" / "buddy.jl"
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "quality_two_seeds.md"
DATASETS = ("rat", "linear_track", "latent_manifold")
DEFAULT_ITERATIONS = 2000
QUICK_ITERATIONS = 50
TRAIN_FRACTION = 0.8

# the settings both systems share, in each one's own spelling
SETTINGS = {
    "model": "offset10",
    "batch_size": 512,
    "output_dimension": 8,
    "time_offset": 10,
    "temperature": 1.0,
    "temperature_mode": "constant",
    "learning_rate": 3e-4,
    "conditional": "time_delta",
    "distance": "cosine",
    "device": "cpu",
}


@dataclass
class Data:
    """One benchmark recording: training block, whole recording, what to decode and the true latent."""

    name: str
    description: str
    neural: np.ndarray
    behaviour: np.ndarray
    target: np.ndarray
    target_unit: str
    latent: np.ndarray | None = None


@dataclass
class Result:
    """All runs of one system on one dataset."""

    dataset: str
    system: str
    errors: list[float] = field(default_factory=list)
    latent_r2: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    consistency: list[float] = field(default_factory=list)
    note: str = ""


# ---------------------------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------------------------
def load_data(name: str, quick: bool, rat_path: Path) -> Data | None:
    """The recording called ``name``; ``None`` (with a message) when the rat file is absent."""
    if name == "rat":
        if not rat_path.is_file():
            print(f"skipping 'rat': {rat_path} not found", file=sys.stderr)
            return None
        rec = ne.datasets.load_rat_hippocampus(rat_path)
        neural, behaviour = rec.neural, rec.behaviour
        if quick:
            neural, behaviour = neural[:2000], behaviour[:2000]
        return Data(
            "rat",
            f"rat hippocampus 'buddy' ({neural.shape[0]} x {neural.shape[1]}, real)",
            neural,
            behaviour,
            behaviour[:, 0],
            "m",
        )
    if name == "linear_track":
        n = 2000 if quick else 10000
        rec = ne.datasets.linear_track(n_samples=n, random_state=0)
        return Data(
            "linear_track",
            f"linear_track ({n} x {rec.n_neurons}, synthetic)",
            rec.neural,
            rec.behaviour,
            rec.behaviour[:, 0],
            "m",
            rec.latent,
        )
    if name == "latent_manifold":
        n = 2000 if quick else 10000
        rec = ne.datasets.latent_manifold(n_samples=n, random_state=0)
        return Data(
            "latent_manifold",
            f"latent_manifold ({n} x {rec.n_neurons}, synthetic)",
            rec.neural,
            rec.behaviour,
            rec.behaviour[:, 0],
            "label units (0-1)",
            rec.latent,
        )
    raise ValueError(f"unknown dataset {name!r}; choose from {list(DATASETS)}.")


# ---------------------------------------------------------------------------------------------------------------------
# the two systems
# ---------------------------------------------------------------------------------------------------------------------
def cebra_kwargs(settings: dict) -> dict:
    """neuroembed ``Estimator`` settings in ``cebra.CEBRA``'s spelling (the names that differ are translated)."""
    names = {"model": "model_architecture", "time_offset": "time_offsets"}
    kwargs = {names.get(key, key): value for key, value in settings.items()}
    if "model_architecture" in kwargs:
        kwargs["model_architecture"] = f"{kwargs['model_architecture']}-model"
    return {**kwargs, "verbose": False}


def write_output(text: str, output: str | None) -> None:
    """Write a results file unless ``output`` is None or ``-`` (print only)."""
    if output in (None, "-"):
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"written to {path}", file=sys.stderr)


def fit_neuroembed(
    x_train: np.ndarray, y_train: np.ndarray, x_all: np.ndarray, iterations: int, seed: int
) -> tuple[np.ndarray, float]:
    """Fit neuroembed on the training block; return the embedding of the whole recording and the fit seconds."""
    # neuroembed also does this inside fit, and turns it off again afterwards
    torch.set_flush_denormal(True)
    est = ne.Estimator(**SETTINGS, max_iterations=iterations, random_state=seed)
    t0 = time.perf_counter()
    est.fit(x_train, y_train)
    seconds = time.perf_counter() - t0
    return est.transform(x_all), seconds


def neuroembed_initial_weights(
    x_train: np.ndarray, y_train: np.ndarray, seed: int
) -> list[torch.Tensor]:
    """The parameters neuroembed's encoder starts from with ``random_state=seed`` (before its first step)."""
    # a fit of zero iterations: the untrained weights of this seed
    est = ne.Estimator(**SETTINGS, max_iterations=0, random_state=seed).fit(x_train, y_train)
    return [p.detach().cpu().clone() for p in est.encoder_.parameters()]


@contextlib.contextmanager
def cebra_starts_from(weights: list[torch.Tensor]) -> Iterator[None]:
    """Make the CEBRA model built inside the block start from ``weights`` (neuroembed's, same layer order).

    CEBRA builds its models with ``cebra.models.init``; the one whose parameter shapes are those of ``weights`` gets
    them copied in (CEBRA also builds a throw-away one-neuron model to read the receptive field, which is left alone).
    Raises ``RuntimeError`` when no model of those shapes was built, so a change inside CEBRA cannot go unnoticed.
    """
    import cebra.models

    original = cebra.models.init
    shapes = [tuple(w.shape) for w in weights]
    copied = []

    def init(*args: Any, **kwargs: Any) -> torch.nn.Module:
        model = original(*args, **kwargs)
        params = list(model.parameters())
        if [tuple(p.shape) for p in params] == shapes:
            with torch.no_grad():
                for p, w in zip(params, weights):
                    p.copy_(w)
            copied.append(model)
        return model

    cebra.models.init = init
    try:
        yield
    finally:
        cebra.models.init = original
    if not copied:
        raise RuntimeError(
            f"CEBRA built no model with neuroembed's parameter shapes {shapes}: cannot share the initial weights."
        )


def fit_cebra(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_all: np.ndarray,
    iterations: int,
    seed: int,
    initial_weights: list[torch.Tensor] | None = None,
) -> tuple[np.ndarray, float]:
    """Fit CEBRA on the training block; return the embedding of the whole recording and the fit seconds.

    With ``initial_weights`` CEBRA's model starts from them (see :func:`cebra_starts_from`); without, from its own
    initialisation under ``torch.manual_seed(seed)``.
    """
    import cebra

    torch.set_flush_denormal(True)
    # CEBRA takes no random_state: its weights come from torch's global generator (seeded here); its batch sampler
    # seeds its own torch.Generator from fresh entropy, so CEBRA's batches are not reproducible whatever we do
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (the global state is what CEBRA would read)
    model = cebra.CEBRA(**cebra_kwargs(SETTINGS), max_iterations=iterations)
    shared = (
        cebra_starts_from(initial_weights)
        if initial_weights is not None
        else contextlib.nullcontext()
    )
    t0 = time.perf_counter()
    with shared:
        model.fit(x_train, y_train)
    seconds = time.perf_counter() - t0
    return np.asarray(model.transform(x_all), dtype=np.float32), seconds


SYSTEMS = {"neuroembed": fit_neuroembed, "CEBRA": fit_cebra}


def cebra_version() -> str | None:
    """The installed CEBRA's version, or None when it cannot be imported."""
    try:
        import cebra
    except ImportError:
        return None
    return str(getattr(cebra, "__version__", "unknown"))


# ---------------------------------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------------------------------
def decode_error(embedding: np.ndarray, target: np.ndarray) -> float:
    scores = ne.metrics.decode(embedding, target, train_fraction=TRAIN_FRACTION, method="knn")
    return float(scores["knn_median_error"])


def run_consistency(embeddings: list[np.ndarray]) -> list[float]:
    """R^2 of every pair of seeds, each the mean of its two directions (empty with fewer than two seeds)."""
    if len(embeddings) < 2:
        return []
    frame = ne.metrics.consistency(embeddings, between="runs").to_numpy()
    k = len(embeddings)
    return [float((frame[i, j] + frame[j, i]) / 2) for i in range(k) for j in range(i + 1, k)]


def run_dataset(
    data: Data,
    systems: list[str],
    seeds: list[int],
    iterations: int,
    log: Any,
    shared_init: bool = True,
) -> list[Result]:
    n_train = int(np.floor(TRAIN_FRACTION * data.neural.shape[0]))
    x_train, y_train = data.neural[:n_train], data.behaviour[:n_train]
    raw = Result(data.name, "raw counts (no embedding)")
    raw.errors.append(decode_error(data.neural, data.target))
    results = [raw]
    by_system = {name: Result(data.name, name) for name in systems}
    for seed in seeds:
        extra: dict[str, Any] = {}
        if shared_init and "CEBRA" in systems:
            extra["CEBRA"] = {"initial_weights": neuroembed_initial_weights(x_train, y_train, seed)}
        for name in systems:  # alternate systems seed by seed, so that load changes hit both alike
            embedding, seconds = SYSTEMS[name](
                x_train, y_train, data.neural, iterations, seed, **extra.get(name, {})
            )
            res = by_system[name]
            res.embeddings.append(embedding)
            res.seconds.append(seconds)
            res.errors.append(decode_error(embedding, data.target))
            if data.latent is not None:
                res.latent_r2.append(ne.metrics.latent_recovery(embedding, data.latent))
            print(
                f"  {data.name:16s} {name:10s} seed {seed}: kNN error {res.errors[-1]:.4f} {data.target_unit}, "
                f"fit {seconds:.1f} s",
                file=log,
                flush=True,
            )
    for res in by_system.values():
        res.consistency = run_consistency(res.embeddings)
        results.append(res)
    return results


# ---------------------------------------------------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" (with uncommitted changes)" if dirty else "")


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def _mean_range(values: list[float], digits: int = 3) -> str:
    if not values:
        return "n/a"
    mean = float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"


def format_table(
    results: list[Result],
    datasets: list[Data],
    *,
    iterations: int,
    seeds: list[int],
    quick: bool,
    cebra: str,
    loads: tuple[tuple[float, float, float], tuple[float, float, float]],
    wall_seconds: float,
    command: str = "python benchmarks/quality.py",
    shared_init: bool = True,
) -> str:
    now = datetime.datetime.now().astimezone()
    before, after = loads
    lines = [
        "# Embedding quality: neuroembed and CEBRA with identical settings",
        "",
        f"- date: {now:%Y-%m-%d %H:%M %Z}",
        f"- machine: {platform.platform()}; CPU {cpu_model()}, {os.cpu_count()} cores; torch threads "
        f"{torch.get_num_threads()}",
        f"- load average (1, 5, 15 min) at start {before[0]:.2f}, {before[1]:.2f}, {before[2]:.2f}; at end "
        f"{after[0]:.2f}, {after[1]:.2f}, {after[2]:.2f}"
        + (
            " (the machine was shared: fit seconds are inflated)"
            if max(before[0], after[0]) > 1.5
            else ""
        ),
        f"- versions: python {platform.python_version()}, torch {torch.__version__}, neuroembed "
        f"{package_version('neuroembed')} (git {git_revision()}), CEBRA " + cebra,
        f"- settings (both systems): model offset10, batch size {SETTINGS['batch_size']}, output dimension "
        f"{SETTINGS['output_dimension']}, time offset {SETTINGS['time_offset']}, temperature "
        f"{SETTINGS['temperature']:g} (constant), learning rate {SETTINGS['learning_rate']:g}, "
        f"{iterations} iterations, conditional time_delta, cosine distance, CPU, "
        "`torch.set_flush_denormal(True)`",
        f"- seeds {', '.join(map(str, seeds))}: "
        + (
            "**both systems start each seed from the same initial weights**, neuroembed's for that `random_state`, "
            "copied into CEBRA's model as CEBRA builds it; batches differ (CEBRA's sampler cannot be seeded)"
            if shared_init
            else "each system's own initial weights (neuroembed: `random_state`; CEBRA: `torch.manual_seed` and "
            "`np.random.seed` before each fit, which seed its weights but not its batch sampler)"
        )
        + ("; **quick mode: tiny smoke-test run, not a benchmark**" if quick else ""),
        f"- protocol: train on the first {TRAIN_FRACTION:.0%} of each recording, embed all of it with each "
        "system's own `transform`, decode column 0 of the behaviour on the last "
        f"{1 - TRAIN_FRACTION:.0%} with the same kNN decoder (`neuroembed.metrics.decode`, cosine, 16 neighbours)",
        f"- total wall time {wall_seconds / 60:.1f} min; produced by `{command}`",
        "",
        "| dataset | system | kNN median error, mean [min, max] over seeds | latent R^2 | consistency R^2 "
        "between seeds | fit seconds per run |",
        "|---|---|---|---|---|---|",
    ]
    units = {d.name: d.target_unit for d in datasets}
    descriptions = {d.name: d.description for d in datasets}
    for res in results:
        latent = _mean_range(res.latent_r2) if res.latent_r2 else "n/a"
        consistency = _mean_range(res.consistency) if res.consistency else "n/a"
        seconds = f"{np.mean(res.seconds):.0f}" if res.seconds else "n/a"
        lines.append(
            f"| {descriptions[res.dataset]} | {res.system} | {_mean_range(res.errors, 4)} {units[res.dataset]} | "
            f"{latent} | {consistency} | {seconds} |"
        )
    lines += [
        "",
        "Decoded target: position in m (rat, linear_track) or the label in [0, 1] (latent_manifold). Latent R^2: "
        "affine map from the embedding to the true latent, fitted and scored on the whole recording. Consistency: "
        "affine R^2 between two seeds' embeddings of the whole recording, mean of both directions (mean [min, max] "
        "over pairs of seeds when there are more than two). All "
        "three datasets train with behaviour positives (time_delta).",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="neuroembed and CEBRA side by side: decoding, latent recovery, consistency, fit time."
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        help=f"training iterations for both systems (default {DEFAULT_ITERATIONS}; {QUICK_ITERATIONS} with --quick)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds (default 0 1)")
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=DATASETS,
        default=list(DATASETS),
        help="datasets to run (default all)",
    )
    parser.add_argument(
        "--systems",
        nargs="+",
        choices=list(SYSTEMS),
        default=list(SYSTEMS),
        help="systems to run (default both; CEBRA is dropped when it is not installed)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {QUICK_ITERATIONS} iterations and 2000-sample recordings",
    )
    parser.add_argument(
        "--output",
        default=None,
        help=f"markdown file to write (default {DEFAULT_OUTPUT.relative_to(REPO)}; '-' writes nothing; quick runs "
        "write nothing unless given)",
    )
    parser.add_argument(
        "--init",
        choices=["shared", "own"],
        default="shared",
        help="initial weights per seed: 'shared' (default) gives CEBRA neuroembed's initial weights for that seed, "
        "so each seed is a paired comparison; 'own' lets each system draw its own",
    )
    parser.add_argument("--rat-path", type=Path, default=DEFAULT_RAT, help="the buddy.jl file")
    parser.add_argument(
        "--save-embeddings",
        type=Path,
        default=None,
        help="also write every embedding to this .npz file (keys dataset/system/seed), for a closer look",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    iterations = args.iterations or (QUICK_ITERATIONS if args.quick else DEFAULT_ITERATIONS)
    if iterations < 1:
        raise SystemExit(f"--iterations must be at least 1; got {iterations}.")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    cebra = cebra_version()
    systems = list(args.systems)
    if cebra is None and "CEBRA" in systems:
        print("cebra is not installed: running neuroembed only", file=sys.stderr)
        systems.remove("CEBRA")

    # the header's wording too: with neuroembed alone there is nothing to share
    shared_init = args.init == "shared" and "CEBRA" in systems
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    results: list[Result] = []
    datasets: list[Data] = []
    for name in args.datasets:
        data = load_data(name, args.quick, args.rat_path)
        if data is None:
            continue
        print(f"{data.description}: {iterations} iterations, seeds {args.seeds}", file=sys.stderr)
        datasets.append(data)
        results += run_dataset(
            data,
            systems,
            list(args.seeds),
            iterations,
            sys.stderr,
            shared_init=shared_init,
        )
    if args.save_embeddings is not None:
        arrays = {
            f"{res.dataset}/{res.system}/seed{seed}": emb
            for res in results
            for seed, emb in zip(args.seeds, res.embeddings)
        }
        np.savez_compressed(args.save_embeddings, **arrays)
        print(f"embeddings written to {args.save_embeddings}", file=sys.stderr)
    table = format_table(
        results,
        datasets,
        iterations=iterations,
        seeds=list(args.seeds),
        quick=args.quick,
        cebra=(
            cebra
            if "CEBRA" in systems
            else "not installed: neuroembed only"
            if cebra is None
            else f"{cebra} installed but not run (--systems): neuroembed only"
        ),
        loads=(load_before, os.getloadavg()),
        wall_seconds=time.perf_counter() - t0,
        command=shlex.join(
            ["python", "benchmarks/quality.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        shared_init=shared_init,
    )
    print(table)
    default = None if args.quick else str(DEFAULT_OUTPUT)
    write_output(table, args.output if args.output is not None else default)
    return table


if __name__ == "__main__":
    main()

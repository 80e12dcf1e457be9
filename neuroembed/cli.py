"""The ``neuroembed`` command line: ``demo``, ``list``, ``fit``, ``embed`` and ``batch``.

Examples (shell)::

    neuroembed demo --quick
    neuroembed list session.nwb
    neuroembed fit session.nwb --behaviour Position --iterations 5000 --out session.model.pt --write-back
    neuroembed embed other_session.nwb --model session.model.pt --out other.embedding.h5
    neuroembed batch 'recordings/*.nwb' --out results/ --workers 4
    neuroembed batch 'recordings/*.nwb' --out results/ --scheduler tcp://10.0.0.5:8786

Errors print one line to stderr and exit with status 2; ``batch`` exits with 1 when some files failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Where ``--write-back`` puts the embedding in an NWB file (``write_embedding``'s default module and name).
_NWB_LOCATION = "processing/neuroembed/embedding"
#: The built-in encoders, for ``--help`` without importing torch (a test checks them against ``models.MODELS``).
_MODEL_NAMES = (
    "offset1",
    "offset5",
    "offset10",
    "offset15",
    "offset20",
    "offset36",
    "offset40",
    "offset50",
    "dilated18",
    "dilated34",
)

__all__ = ["main", "build_parser"]

_USER_ERRORS = (ValueError, TypeError, FileNotFoundError, PermissionError, ImportError, OSError)


# ------------------------------------------------------------------------------------------------ arguments


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number; got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number; got {text!r}")
    return value


def _add_read_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reading the recording (NWB)")
    group.add_argument(
        "--neural", metavar="NAME", help="'units' or the name/path of a (calcium) TimeSeries"
    )
    group.add_argument(
        "--behaviour",
        "--behavior",
        metavar="NAME",
        action="append",
        help="name/path of a SpatialSeries, TimeSeries or container such as Position (repeatable); "
        "default: the file's SpatialSeries when unambiguous",
    )
    group.add_argument(
        "--no-behaviour", "--no-behavior", action="store_true", help="read no behaviour"
    )
    group.add_argument("--labels", metavar="TABLE/COLUMN", help="discrete labels, e.g. trials/type")
    group.add_argument(
        "--bin-size", type=_positive_float, metavar="SECONDS", help="bin width (units: 0.025 s)"
    )


def _add_estimator_arguments(
    parser: argparse.ArgumentParser, architecture_flags: Sequence[str]
) -> None:
    group = parser.add_argument_group("model settings (neuroembed.Estimator)")
    group.add_argument(
        *architecture_flags,
        dest="architecture",
        metavar="NAME",
        help=f"encoder: offset10 (default), {', '.join(n for n in _MODEL_NAMES if n != 'offset10')}",
    )
    group.add_argument(
        "--output-dimension", type=_positive_int, metavar="D", help="embedding size (default 8)"
    )
    group.add_argument(
        "--iterations", type=_positive_int, metavar="N", help="training steps (default 5000)"
    )
    group.add_argument(
        "--conditional",
        choices=["time", "delta", "time_delta", "discrete", "mixed"],
        help="positives (default: time_delta with behaviour, time without)",
    )
    group.add_argument(
        "--time-offset",
        type=_positive_int,
        metavar="N",
        help="offset of time positives (default 10)",
    )
    group.add_argument(
        "--batch-size", type=_positive_int, metavar="N", help="references per step (default 512)"
    )
    group.add_argument(
        "--learning-rate",
        type=_positive_float,
        metavar="LR",
        help="Adam learning rate (default 3e-4)",
    )
    group.add_argument(
        "--temperature", type=_positive_float, metavar="T", help="InfoNCE temperature (default 1)"
    )
    group.add_argument(
        "--distance", choices=["cosine", "euclidean"], help="similarity (default cosine)"
    )
    group.add_argument("--device", metavar="DEVICE", help="auto (default), cpu, cuda, cuda:N, mps")
    group.add_argument("--seed", type=int, metavar="N", help="random seed")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``neuroembed`` command."""
    parser = argparse.ArgumentParser(
        prog="neuroembed",
        description="Contrastive embeddings of neural recordings (CEBRA-style).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser("demo", help="fit and evaluate on synthetic and real recordings")
    demo.add_argument(
        "--out",
        default="neuroembed-demo",
        metavar="DIR",
        help="output folder (default neuroembed-demo)",
    )
    demo.add_argument("--quick", action="store_true", help="a short run (seconds)")
    demo.add_argument(
        "--iterations", type=_positive_int, metavar="N", help="training steps per recording"
    )

    listing = commands.add_parser("list", help="show what an NWB file holds")
    listing.add_argument("file", metavar="FILE.nwb")

    fit = commands.add_parser("fit", help="fit a model on one recording and save it")
    fit.add_argument("file", metavar="FILE.nwb")
    _add_read_arguments(fit)
    _add_estimator_arguments(fit, ["--model", "--architecture"])
    fit.add_argument(
        "--out", metavar="MODEL.pt", help="where to save the model (default ./<stem>.model.pt)"
    )
    fit.add_argument(
        "--write-back", action="store_true", help="also store the embedding in the NWB file"
    )
    fit.add_argument(
        "--sidecar",
        action="store_true",
        help="with --write-back: into <stem>.neuroembed.nwb instead",
    )
    fit.add_argument(
        "--overwrite", action="store_true", help="replace an embedding already stored in the file"
    )
    fit.add_argument("--quiet", action="store_true", help="no progress bar")

    embed = commands.add_parser("embed", help="embed a recording with a fitted model")
    embed.add_argument("file", metavar="FILE.nwb")
    embed.add_argument(
        "--model", required=True, metavar="MODEL.pt", help="a model saved by 'neuroembed fit'"
    )
    _add_read_arguments(embed)
    target = embed.add_mutually_exclusive_group()
    target.add_argument(
        "--out",
        metavar="PATH",
        help="output: .h5 (default ./<stem>.embedding.h5) or .nwb (a sidecar NWB file)",
    )
    target.add_argument(
        "--write-back", action="store_true", help="store the embedding in the NWB file itself"
    )
    embed.add_argument(
        "--sidecar",
        action="store_true",
        help="with --write-back: into <stem>.neuroembed.nwb instead",
    )
    embed.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an embedding already stored in the NWB file",
    )
    embed.add_argument(
        "--device", metavar="DEVICE", default="auto", help="auto (default), cpu, cuda, ..."
    )

    batch = commands.add_parser(
        "batch",
        help="embed many recordings on a Dask cluster",
        epilog="Exit status: 0 when every file is done, 1 when some failed (see summary.csv), 2 on usage errors.",
    )
    batch.add_argument(
        "patterns", nargs="+", metavar="GLOB", help="files or quoted patterns, e.g. 'data/*.nwb'"
    )
    batch.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (embeddings + summary.csv)"
    )
    batch.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://host:8786"
    )
    batch.add_argument(
        "--workers",
        type=_positive_int,
        default=2,
        metavar="N",
        help="local worker processes (default 2)",
    )
    batch.add_argument("--redo", action="store_true", help="recompute files already done")
    batch.add_argument("--retry-failed", action="store_true", help="retry files that failed before")
    batch.add_argument(
        "--model",
        metavar="MODEL.pt",
        help="apply this fitted model to every file instead of fitting",
    )
    batch.add_argument("--save-models", action="store_true", help="save each file's model in DIR")
    batch.add_argument(
        "--no-metrics", action="store_true", help="skip the per-file kNN decoding metrics"
    )
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_read_arguments(batch)
    _add_estimator_arguments(batch, ["--architecture"])
    return parser


# ------------------------------------------------------------------------------------------------ helpers


def _read_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if args.neural is not None:
        kwargs["neural"] = args.neural
    if args.no_behaviour and args.behaviour:
        raise ValueError("--behaviour and --no-behaviour contradict each other; give one.")
    if args.no_behaviour:
        kwargs["behaviour"] = None
    elif args.behaviour:
        kwargs["behaviour"] = (
            args.behaviour[0] if len(args.behaviour) == 1 else list(args.behaviour)
        )
    if args.labels is not None:
        kwargs["labels"] = args.labels
    if args.bin_size is not None:
        kwargs["bin_size"] = args.bin_size
    return kwargs


def _estimator_params(args: argparse.Namespace) -> dict[str, Any]:
    names = {
        "architecture": "model",
        "output_dimension": "output_dimension",
        "iterations": "max_iterations",
        "conditional": "conditional",
        "time_offset": "time_offset",
        "batch_size": "batch_size",
        "learning_rate": "learning_rate",
        "temperature": "temperature",
        "distance": "distance",
        "device": "device",
        "seed": "random_state",
    }
    return {
        key: getattr(args, arg)
        for arg, key in names.items()
        if getattr(args, arg, None) is not None
    }


def _read(path: str, kwargs: dict[str, Any]) -> Any:
    from neuroembed.batch import NEEDS_NEURAL, read_recording

    suffix = Path(path).suffix.lower()
    if suffix in NEEDS_NEURAL and "neural" not in kwargs:
        raise ValueError(
            f"{path!r}: a {suffix} file needs --neural (the dataset or column prefix holding the neural data)."
        )
    if suffix in NEEDS_NEURAL and "bin_size" in kwargs:
        raise ValueError(
            f"{path!r}: --bin-size applies to NWB files (spike times binned into counts); a {suffix} file is read "
            "one row per sample."
        )
    return read_recording(path, **kwargs)


def _output_path(out: str, what: str, suffixes: Sequence[str] | None = None) -> Path:
    """The ``--out`` path, checked before any work is done: not a folder, one of ``suffixes`` when given; its
    folder is created (as ``batch --out`` and the ``.h5`` writer do)."""
    path = Path(out)
    if path.is_dir():
        raise ValueError(
            f"--out {out!r} is a folder; expected the path of the {what} file to write."
        )
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise ValueError(
            f"--out {out!r} has the extension {path.suffix!r}; expected {', '.join(suffixes[:-1])} or "
            f"{suffixes[-1]}."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _writes_nwb(args: argparse.Namespace) -> bool:
    """Whether the embedding goes into an NWB file (``--write-back``, or ``embed --out X.nwb``); that needs an NWB
    source file, which is checked before the work."""
    out = getattr(args, "out", None) if args.command == "embed" else None
    nwb = args.write_back or (out is not None and Path(out).suffix.lower() == ".nwb")
    if nwb and Path(args.file).suffix.lower() != ".nwb":
        raise ValueError(
            f"--write-back and .nwb outputs need an NWB source file; got {args.file!r}."
        )
    if nwb and not args.overwrite:
        if out is None and not args.sidecar:
            _refuse_an_embedding_there(
                args.file, "--sidecar to write the embedding to a separate NWB file"
            )
        else:  # the sidecar: write_embedding adds the series to it when it exists
            source = Path(args.file).resolve()
            target = (
                Path(out) if out is not None else source.with_name(source.stem + ".neuroembed.nwb")
            )
            _refuse_an_embedding_there(
                str(target),
                "--out with another .nwb path"
                if args.command == "embed"
                else "move that file away",
            )
    return nwb


def _refuse_an_embedding_there(path: str, instead: str) -> None:
    """Before the work: an NWB file that already holds the embedding the command would write is refused, unless
    ``--overwrite``; ``instead`` names the other way out."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            exists = _NWB_LOCATION in f
    except OSError:
        return  # missing or not HDF5: the reader (or the writer) says so
    if exists:
        raise ValueError(
            f"{path!r} already holds an embedding at {_NWB_LOCATION!r}; pass --overwrite to replace it, or "
            f"{instead}."
        )


def _store(
    args: argparse.Namespace,
    recording: Any,
    embedding: Any,
    settings: dict[str, Any],
    default_out: Path,
) -> str:
    """Write the embedding where the arguments say; returns a sentence saying where."""
    import numpy as np

    from neuroembed.io import write_embedding, write_embedding_hdf5

    timestamps = recording.timestamps
    if timestamps is None:
        timestamps = np.arange(recording.n_samples, dtype=np.float64)
    out = getattr(args, "out", None) if args.command == "embed" else None
    if _writes_nwb(args):
        written = write_embedding(
            args.file,
            embedding,
            timestamps,
            settings=settings,
            overwrite=args.overwrite,
            sidecar=True if (args.sidecar or out is not None) else None,
            sidecar_path=out,
        )
        how = (
            "into the source file"
            if written.resolve() == Path(args.file).resolve()
            else "into the sidecar file"
        )
        return f"embedding written {how} {written} ({_NWB_LOCATION})"
    target = Path(out) if out is not None else default_out
    write_embedding_hdf5(
        target,
        embedding,
        timestamps,
        attrs={
            "source": str(args.file),
            "settings": json.dumps(settings, sort_keys=True, default=str),
        },
    )
    return f"embedding written to {target}"


# ------------------------------------------------------------------------------------------------ commands


def _demo(args: argparse.Namespace) -> int:
    from neuroembed._demo import run_demo

    result = run_demo(args.out, quick=args.quick, max_iterations=args.iterations)
    figure = result.get("figure") if isinstance(result, dict) else None
    if figure:
        print(f"figure: {figure}")
    return 0


def _list(args: argparse.Namespace) -> int:
    import pandas as pd

    from neuroembed.io import list_nwb

    table = list_nwb(args.file)
    with pd.option_context(
        "display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60
    ):
        print(table.to_string(index=False))
    return 0


def _fit(args: argparse.Namespace) -> int:
    from neuroembed.batch import _behaviour_for
    from neuroembed.estimator import Estimator

    if args.sidecar and not args.write_back:
        raise ValueError("--sidecar only applies with --write-back.")
    _writes_nwb(args)
    recording = _read(args.file, _read_kwargs(args))
    stem = Path(args.file).stem
    model_path = _output_path(args.out, "model") if args.out else Path.cwd() / f"{stem}.model.pt"
    params = _estimator_params(args)
    if (
        args.labels is not None
    ):  # labels asked for are used: alone, or with the behaviour read beside them
        params.setdefault("conditional", "discrete" if recording.behaviour is None else "mixed")
    params.setdefault("conditional", "time" if recording.behaviour is None else "time_delta")
    params["verbose"] = not args.quiet
    estimator = Estimator(**params)
    y = _behaviour_for(estimator.conditional, estimator.hybrid, recording)
    estimator.fit(recording.neural, y)
    estimator.save(model_path)
    print(
        f"fitted {estimator.model} ({estimator.conditional}) on {args.file}: {recording.n_samples} samples x "
        f"{recording.n_neurons} neurons, {estimator.n_iter_} iterations, final loss {estimator.loss_history_[-1]:.4f}"
    )
    print(f"model saved to {model_path}")
    if args.write_back:
        embedding = estimator.transform(recording.neural)
        print(
            _store(
                args,
                recording,
                embedding,
                estimator.get_params(),
                Path.cwd() / f"{stem}.embedding.h5",
            )
        )
    return 0


def _embed(args: argparse.Namespace) -> int:
    from neuroembed.estimator import Estimator

    if args.sidecar and not args.write_back:
        raise ValueError("--sidecar only applies with --write-back.")
    _writes_nwb(args)
    estimator = Estimator.load(args.model, device=args.device)
    recording = _read(args.file, _read_kwargs(args))
    if args.out is not None:  # before the work, not after it
        _output_path(args.out, "embedding", (".h5", ".hdf5", ".nwb"))
    embedding = estimator.transform(recording.neural)
    settings = {**estimator.get_params(), "model_file": str(Path(args.model).resolve())}
    default_out = Path.cwd() / f"{Path(args.file).stem}.embedding.h5"
    print(f"embedded {args.file}: {embedding.shape[0]} samples -> {embedding.shape[1]} dimensions")
    print(_store(args, recording, embedding, settings, default_out))
    return 0


def _batch(args: argparse.Namespace) -> int:
    import pandas as pd

    from neuroembed.batch import embed_files

    params = _estimator_params(args)
    if args.model is not None and params:
        raise ValueError(
            f"--model applies a fitted model; model settings ({', '.join(sorted(params))}) cannot be given with it."
        )
    if args.labels is not None and args.model is None and "conditional" not in params:
        raise ValueError(
            "--labels are used by --conditional discrete (labels alone) or mixed (labels and behaviour); give one "
            "of them, or leave --labels out."
        )
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(
            f"--out {args.out!r} is a file; expected the folder (made if missing) for the embeddings and summary.csv."
        )
    summary = embed_files(
        args.patterns if len(args.patterns) > 1 else args.patterns[0],
        params or None,
        args.out,
        model=args.model,
        n_workers=args.workers,
        scheduler=args.scheduler,
        redo=args.redo,
        retry_failed=args.retry_failed,
        read_kwargs=_read_kwargs(args),
        metrics=not args.no_metrics,
        save_models=args.save_models,
        progress=not args.no_progress,
    )
    shown = summary[["path", "status", "n_samples", "fit_seconds", "error"]].copy()
    shown["path"] = [Path(p).name for p in shown["path"]]
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(shown.to_string(index=False))
    counts = summary["status"].value_counts()
    print(
        f"{counts.get('ok', 0)} embedded, {counts.get('skipped', 0)} already done, {counts.get('failed', 0)} failed; "
        f"summary: {Path(args.out) / 'summary.csv'}"
    )
    return 1 if counts.get("failed", 0) else 0


_COMMANDS = {"demo": _demo, "list": _list, "fit": _fit, "embed": _embed, "batch": _batch}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``neuroembed`` command line; returns the exit status.

    Examples
    --------
    >>> main(["fit", "no/such/file.nwb", "--quiet"])
    2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except (
        SystemExit
    ) as exit_:  # usage errors (status 2, message already printed) and --help (status 0)
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return _COMMANDS[args.command](args)
    except _USER_ERRORS as err:
        message = str(err) or type(err).__name__
        print(f"neuroembed {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neuroembed {args.command}: interrupted", file=sys.stderr)
        return 130

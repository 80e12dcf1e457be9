"""Embed many recordings at once, one task per file, on a Dask cluster.

:func:`embed_files` reads each file (NWB, HDF5 or CSV), fits an :class:`~neuroembed.estimator.Estimator`
on it (or applies one shared fitted model), and writes the embedding with per-file metrics to
``<out_dir>/<stem>.embedding.h5``; a ``summary.csv`` lists every file with its status.

Where the work runs
-------------------
* **This machine** (default): a ``dask.distributed.LocalCluster`` with ``n_workers`` processes of one
  thread each is started for the batch and closed after it. In a script, call :func:`embed_files` under
  ``if __name__ == "__main__":``, on every operating system: the workers are new processes (Dask's default
  start method is ``spawn``) that run the script again first. A script without the guard gets a
  ``RuntimeError`` that shows the fix, before any worker starts.
* **A running scheduler**: pass its address, ``embed_files(..., scheduler="tcp://10.0.0.5:8786")``
  (or ``neuroembed batch ... --scheduler tcp://10.0.0.5:8786``). Start one with ``dask scheduler`` and
  workers with ``dask worker tcp://10.0.0.5:8786 --nthreads 1`` on any machines that see the files.
* **A SLURM cluster** through dask-jobqueue (``pip install dask-jobqueue``)::

      from dask.distributed import Client
      from dask_jobqueue import SLURMCluster
      from neuroembed.batch import embed_files

      if __name__ == "__main__":
          cluster = SLURMCluster(cores=4, processes=1, memory="16GB", walltime="04:00:00",
                                 job_extra_directives=["--gres=gpu:1"])   # one GPU job per worker
          cluster.scale(jobs=20)                                  # or cluster.adapt(maximum_jobs=50)
          with Client(cluster) as client:
              summary = embed_files("recordings/*.nwb", {"max_iterations": 10000},
                                    out_dir="results/", client=client)

  ``SLURMCluster`` submits worker jobs with ``sbatch``; any other client (PBS, SGE, Kubernetes) works the same.
  The workers need neuroembed installed and the files and ``out_dir`` on a shared file system.

Failures and resuming
---------------------
A file that fails (corrupt, missing series, too short, ...) is recorded with its error and the batch goes
on. Each output is written under a temporary name and renamed when complete, so an interrupted batch never
leaves a half-written output that counts as done. Running the same batch again skips every file whose
output exists and was made from the same source file (same size and modification time) with the same
settings, and does not retry files that failed on unchanged sources (``<stem>.failed.json`` records why);
``redo=True`` recomputes everything and ``retry_failed=True`` retries the failures.

Dask is an optional dependency: ``pip install "neuroembed[batch]"``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import time
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuroembed import _main_guard
from neuroembed._files import atomic_path
from neuroembed._validation import check_positive_int, describe
from neuroembed.recording import Recording

__all__ = ["embed_files", "read_recording", "SUMMARY_COLUMNS", "OUTPUT_SUFFIX"]

#: Suffix of the per-file output written by :func:`embed_files`.
OUTPUT_SUFFIX = ".embedding.h5"
_FAILED_SUFFIX = ".failed.json"
_MODEL_SUFFIX = ".model.pt"

#: Columns of the summary table, in order.
SUMMARY_COLUMNS = [
    "path",
    "status",
    "error",
    "output",
    "n_samples",
    "n_neurons",
    "behaviour_dims",
    "n_label_classes",
    "output_dimension",
    "conditional",
    "fit_seconds",
    "seconds",
    "final_loss",
    "goodness_of_fit_bits",
    "knn_r2",
    "knn_median_error",
    "knn_accuracy",
    "previous_run",
]

_COUNT_COLUMNS = ["n_samples", "n_neurons", "behaviour_dims", "n_label_classes", "output_dimension"]

_METRIC_COLUMNS = [
    "n_samples",
    "n_neurons",
    "behaviour_dims",
    "n_label_classes",
    "output_dimension",
    "conditional",
    "fit_seconds",
    "seconds",
    "final_loss",
    "goodness_of_fit_bits",
    "knn_r2",
    "knn_median_error",
    "knn_accuracy",
]


# ------------------------------------------------------------------------------------------------ reading


#: File types that do not say where their neural data is: reading them needs ``neural=``.
NEEDS_NEURAL = (".h5", ".hdf5", ".csv")


def read_recording(path: str | os.PathLike[str], **read_kwargs: Any) -> Recording:
    """Read a recording with the reader that fits the file's extension.

    ``.nwb`` uses :func:`neuroembed.io.read_nwb`, ``.h5`` / ``.hdf5`` :func:`neuroembed.io.read_hdf5`
    (which needs ``neural=``), ``.csv`` :func:`pandas.read_csv` then :func:`neuroembed.io.from_dataframe`
    (which needs ``neural=``). ``read_kwargs`` go to that reader.

    Examples
    --------
    >>> import tempfile, os
    >>> import pandas as pd
    >>> path = os.path.join(tempfile.mkdtemp(), "rec.csv")
    >>> pd.DataFrame({"n0": [1, 2, 3], "n1": [0, 0, 1], "t": [0.0, 0.1, 0.2]}).to_csv(path, index=False)
    >>> read_recording(path, neural=["n0", "n1"], time="t").neural.shape
    (3, 2)
    """
    from neuroembed.io import from_dataframe, read_hdf5, read_nwb

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".nwb":
        return read_nwb(path, **read_kwargs)
    if suffix in NEEDS_NEURAL and "neural" not in read_kwargs:
        raise ValueError(
            f"{str(path)!r}: a {suffix} file needs neural= (the dataset or columns holding the neural data), "
            "e.g. read_recording(path, neural='spikes'); only NWB files say where their neural data is."
        )
    if suffix in NEEDS_NEURAL and "bin_size" in read_kwargs:
        raise ValueError(
            f"{str(path)!r}: bin_size applies to NWB files (spike times binned into counts); a {suffix} file is "
            "read one row per sample, so leave bin_size out for it."
        )
    if suffix in (".h5", ".hdf5"):
        return read_hdf5(path, **read_kwargs)
    if suffix == ".csv":
        if not path.exists():
            raise FileNotFoundError(f"file not found: {str(path)!r}.")
        recording = from_dataframe(pd.read_csv(path), **read_kwargs)
        recording.metadata["source"] = str(path)
        return recording
    raise ValueError(
        f"{str(path)!r}: unsupported file type {suffix!r}; expected .nwb, .h5, .hdf5 or .csv."
    )


# ------------------------------------------------------------------------------------------------ one file


def _signature(path: Path) -> list[int]:
    """Size and modification time of a file: it changed when these did."""
    st = path.stat()
    return [int(st.st_size), int(st.st_mtime_ns)]


def _behaviour_for(conditional: str, hybrid: bool, recording: Recording) -> Any:
    """The ``y`` argument of ``fit`` that the conditional needs, from what the file holds."""
    if conditional == "time" and not hybrid:
        return None
    if conditional == "discrete":
        return _need(recording.labels, "labels", conditional)
    if conditional == "mixed":
        return (
            _need(recording.behaviour, "behaviour", conditional),
            _need(recording.labels, "labels", conditional),
        )
    return _need(recording.behaviour, "behaviour", conditional)


def _need(value: np.ndarray | None, what: str, conditional: str) -> np.ndarray:
    if value is None:
        flag = "--labels" if what == "labels" else "--behaviour"
        raise ValueError(
            f"conditional={conditional!r} needs {what}, but none was read from this file; pass "
            f"read_kwargs={{'{what}': ...}} ({flag} on the command line) or use conditional='time'."
        )
    return value


def _metrics(
    estimator: Any, embedding: np.ndarray, recording: Recording
) -> tuple[dict[str, float], str | None]:
    """Per-file quality figures; a metric that cannot be computed is left out and named in the note.

    ``goodness_of_fit_bits``: InfoNCE of the model on the whole file in bits above chance
    (:func:`neuroembed.metrics.goodness_of_fit`); ``knn_*``: kNN decoding of the behaviour / labels from
    the embedding, trained on the first 80 % of the recording and tested on the last 20 %
    (:func:`neuroembed.metrics.decode`).
    """
    from neuroembed.metrics import decode, goodness_of_fit

    out: dict[str, float] = {}
    problems = []
    try:
        y = _behaviour_for(estimator.conditional, bool(estimator.hybrid), recording)
        out["goodness_of_fit_bits"] = float(goodness_of_fit(estimator, recording.neural, y))
    except ValueError as err:
        problems.append(f"goodness of fit: {err}")
    for name, target in (("behaviour", recording.behaviour), ("labels", recording.labels)):
        if target is None:
            continue
        try:
            scores = decode(embedding, target, method="knn", discrete=name == "labels")
        except ValueError as err:
            problems.append(f"decoding {name}: {err}")
            continue
        keys = ("knn_accuracy",) if name == "labels" else ("knn_r2", "knn_median_error")
        out.update({key: float(scores[key]) for key in keys if key in scores})
    return out, ("; ".join(problems) or None)


def _write_json_atomically(path: Path, payload: Mapping[str, Any]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        json.dump(payload, handle, indent=1, default=str)


def _embed_one(job: dict[str, Any]) -> dict[str, Any]:
    """Read, fit (or apply the shared model), embed and write one file; never raises for a bad file."""
    from neuroembed.estimator import Estimator
    from neuroembed.io import write_embedding_hdf5

    started = time.perf_counter()
    path = Path(job["path"])
    output = Path(job["output"])
    failed_marker = Path(job["failed"])
    row: dict[str, Any] = {"path": str(path), "output": None, "error": None, "previous_run": False}
    try:
        recording = read_recording(path, **job["read_kwargs"])
        row.update(
            n_samples=recording.n_samples,
            n_neurons=recording.n_neurons,
            behaviour_dims=None
            if recording.behaviour is None
            else int(recording.behaviour.shape[1]),
            n_label_classes=None
            if recording.labels is None
            else int(np.unique(recording.labels).size),
        )
        if job["model"] is not None:
            estimator = Estimator.load(job["model"], device=job["device"])
            fit_seconds = 0.0
        else:
            params = dict(job["estimator_params"])
            if "conditional" not in params:
                params["conditional"] = "time" if recording.behaviour is None else "time_delta"
            estimator = Estimator(**params)
            behaviour = _behaviour_for(estimator.conditional, bool(estimator.hybrid), recording)
            tic = time.perf_counter()
            estimator.fit(recording.neural, behaviour)
            fit_seconds = time.perf_counter() - tic
            row["final_loss"] = (
                float(estimator.loss_history_[-1]) if len(estimator.loss_history_) else None
            )
            if job["model_out"] is not None:
                estimator.save(job["model_out"])
        embedding = estimator.transform(recording.neural)
        row.update(
            output_dimension=int(embedding.shape[1]),
            conditional=estimator.conditional,
            fit_seconds=round(fit_seconds, 4),
        )
        if job["metrics"]:
            values, note = _metrics(estimator, embedding, recording)
            row.update(values)
            if note is not None:
                row["error"] = f"embedding written; metrics left out: {note}"
        row["seconds"] = round(time.perf_counter() - started, 4)
        timestamps = recording.timestamps
        if timestamps is None:
            timestamps = np.arange(recording.n_samples, dtype=np.float64)
        write_embedding_hdf5(
            output,
            embedding,
            timestamps,
            attrs={
                "source": str(path),
                "source_signature": job["signature"],
                "job": job["fingerprint"],
                "settings": json.dumps(estimator.get_params(), sort_keys=True, default=str),
                "metrics": json.dumps({k: row.get(k) for k in _METRIC_COLUMNS}, default=str),
                "metadata": json.dumps(recording.metadata, default=str),
            },
        )
        failed_marker.unlink(missing_ok=True)
        row.update(status="ok", output=str(output))
    except Exception as err:  # a bad file is reported, never fatal to the batch
        message = f"{type(err).__name__}: {err}"
        row.update(status="failed", error=message, seconds=round(time.perf_counter() - started, 4))
        try:
            _write_json_atomically(
                failed_marker,
                {
                    "path": str(path),
                    "error": message,
                    "traceback": traceback.format_exc(),
                    "source_signature": job["signature"],
                    "job": job["fingerprint"],
                },
            )
        except OSError:
            pass  # the summary still carries the error
    return row


# ------------------------------------------------------------------------------------------------ previous runs


def _previous(job: dict[str, Any]) -> dict[str, Any] | None:
    """The row of a previous run of this exact job (same source file, same settings), if there is one."""
    import h5py

    output, failed = Path(job["output"]), Path(job["failed"])
    if output.exists():
        try:
            with h5py.File(output, "r") as f:
                signature = json.loads(f.attrs["source_signature"])
                # the same job on the same file: another file of the same stem (or a copy) is not this one
                same_job = f.attrs["job"] == job["fingerprint"] and f.attrs["source"] == job["path"]
                metrics = json.loads(f.attrs["metrics"])
        except (OSError, KeyError, TypeError, ValueError):
            signature, same_job = None, False  # unreadable or written by something else: recompute
        model_missing = job["model_out"] is not None and not Path(job["model_out"]).is_file()
        if same_job and signature == job["signature"] and not model_missing:
            return {
                "path": job["path"],
                "status": "skipped",
                "output": str(output),
                "previous_run": True,
                **metrics,
            }
    if failed.exists() and not job["retry_failed"]:
        try:
            record = json.loads(failed.read_text())
        except (OSError, ValueError):
            return None
        if (
            record.get("source_signature") == job["signature"]
            and record.get("job") == job["fingerprint"]
            and record.get("path") == job["path"]
        ):
            return {
                "path": job["path"],
                "status": "failed",
                "error": record.get("error"),
                "previous_run": True,
            }
    return None


# ------------------------------------------------------------------------------------------------ batch


def _expand(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    out: list[Path] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"paths must be file paths or glob patterns; got {describe(item)}.")
        text = os.fspath(item)
        if any(ch in text for ch in "*?["):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise ValueError(f"the pattern {text!r} matches no file.")
            out.extend(Path(m) for m in matches)
        else:
            out.append(Path(text))
    # normalised ("a/../b.nwb" is "b.nwb"), so that one file named two ways is embedded once
    unique = list(dict.fromkeys(Path(os.path.abspath(p)) for p in out))
    if not unique:
        raise ValueError("paths is empty; expected at least one file or glob pattern.")
    return unique


def _output_stems(paths: list[Path], out: Path | None = None) -> list[str]:
    """Output names: the file stem, plus a short hash of the full path where two files share a stem, in this batch
    or (with ``out``) with the outputs an earlier batch wrote to ``out`` from another file."""
    stems = [p.stem for p in paths]
    counts = {s: stems.count(s) for s in stems}
    return [
        s
        if counts[s] == 1 and (out is None or not _made_from_another(out, s, p))
        else f"{s}-{hashlib.sha1(str(p).encode()).hexdigest()[:8]}"
        for s, p in zip(stems, paths)
    ]


def _made_from_another(out: Path, stem: str, path: Path) -> bool:
    """Whether ``out`` holds an output or failure record of ``stem`` made from another file than ``path``."""
    import h5py

    output, failed = out / f"{stem}{OUTPUT_SUFFIX}", out / f"{stem}{_FAILED_SUFFIX}"
    try:
        if output.exists():
            with h5py.File(output, "r") as f:
                return f.attrs["source"] != str(path)
        if failed.exists():
            return json.loads(failed.read_text()).get("path") != str(path)
    except (OSError, KeyError, TypeError, ValueError, AttributeError):
        pass  # unreadable: recomputed under its own name, as before
    return False


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as err:
        raise ImportError(
            'neuroembed.batch needs Dask\'s distributed scheduler; install it with pip install "neuroembed[batch]" '
            f"(or pip install 'dask[distributed]'). ({err})"
        ) from None
    return distributed


def _write_summary(rows: list[dict[str, Any]], path: Path) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    for column in _COUNT_COLUMNS:  # whole numbers, blank where a file failed
        table[column] = pd.to_numeric(table[column]).astype("Int64")
    table["previous_run"] = [value is True for value in table["previous_run"]]
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return table


def embed_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    estimator_params: Mapping[str, Any] | None = None,
    out_dir: str | os.PathLike[str] = "neuroembed-results",
    client: Any = None,
    *,
    model: str | os.PathLike[str] | None = None,
    n_workers: int = 2,
    scheduler: str | None = None,
    redo: bool = False,
    retry_failed: bool = False,
    read_kwargs: Mapping[str, Any] | None = None,
    metrics: bool = True,
    save_models: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Embed many recordings, one Dask task per file, and summarise the results.

    Each task reads its file, fits an estimator on it (or applies the shared ``model``), and writes
    ``<out_dir>/<stem>.embedding.h5`` (datasets ``embedding`` and ``timestamps``; attributes ``settings``,
    ``metrics``, ``metadata`` as JSON). Read one back with
    ``neuroembed.io.read_hdf5(path, neural="embedding", timestamps="timestamps")``.

    Parameters
    ----------
    paths : path, glob pattern or iterable of them
        The recordings (``.nwb``, ``.h5`` / ``.hdf5``, ``.csv``; see :func:`read_recording`). Patterns
        such as ``"recordings/**/*.nwb"`` are expanded.
    estimator_params : mapping, optional
        Keyword arguments of :class:`~neuroembed.estimator.Estimator`. When ``conditional`` is not among
        them it is ``"time_delta"`` for files with behaviour and ``"time"`` for files without.
    out_dir : str or path-like
        Folder for the outputs and ``summary.csv`` (created if needed).
    client : dask.distributed.Client, optional
        Where to run. It is left open.
    model : str or path-like, optional
        A fitted model file (:meth:`Estimator.save <neuroembed.estimator.Estimator.save>`) applied to
        every file instead of fitting one model per file.
    n_workers : int, default 2
        Worker processes of the ``LocalCluster`` started when neither ``client`` nor ``scheduler`` is given
        (never more than there are files to embed).
    scheduler : str, optional
        Address of a running Dask scheduler (``"tcp://host:8786"``), e.g. one started by dask-jobqueue. A
        scheduler that does not answer within :data:`CONNECT_TIMEOUT` seconds raises ``OSError``.
    redo : bool, default False
        Recompute files already done in ``out_dir`` (and retry failures).
    retry_failed : bool, default False
        Retry files that failed in a previous run although they have not changed.
    read_kwargs : mapping, optional
        Keyword arguments of the reader, e.g. ``{"behaviour": "Position", "bin_size": 0.05}`` for
        :func:`~neuroembed.io.read_nwb`.
    metrics : bool, default True
        Compute per-file figures: ``goodness_of_fit_bits`` (the model's InfoNCE on the file in bits
        above chance, :func:`neuroembed.metrics.goodness_of_fit`) and kNN decoding of the behaviour
        (``knn_r2``, ``knn_median_error``) and labels (``knn_accuracy``) from the embedding, trained on
        the first 80 % of the recording and tested on the last 20 % (:func:`neuroembed.metrics.decode`).
        A figure that cannot be computed is left blank, with the reason in ``error`` (status stays "ok").
    save_models : bool, default False
        Also save each file's fitted model as ``<out_dir>/<stem>.model.pt`` (a file done in a previous run
        without its model file is fitted again).
    progress : bool, default True
        Show a progress bar (tqdm, on stderr).

    Returns
    -------
    pandas.DataFrame
        One row per file, columns :data:`SUMMARY_COLUMNS`: ``status`` is ``"ok"`` (computed now),
        ``"skipped"`` (done in a previous run, output kept) or ``"failed"`` (with ``error``);
        ``previous_run`` says whether the row comes from an earlier run. The same table is written to
        ``<out_dir>/summary.csv``.

    Raises
    ------
    ImportError
        If dask.distributed is not installed (``pip install "neuroembed[batch]"``).
    ValueError
        If the arguments are invalid (bad paths pattern, both ``client`` and ``scheduler``, ...). Problems
        with individual files never raise: they are reported in the summary.
    RuntimeError
        If a script calls it at its top level, outside ``if __name__ == "__main__":``, with neither
        ``client`` nor ``scheduler``: the ``LocalCluster``'s worker processes would run the script, and so
        this call, again. Raised before any worker starts, with the fix in the message.
    """
    _main_guard.refuse_in_new_process()
    files = _expand(paths)
    n_workers = check_positive_int(n_workers, "n_workers")
    if client is not None and scheduler is not None:
        raise ValueError("pass either client= or scheduler=, not both.")
    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(
            f"scheduler must be the address of a running Dask scheduler, e.g. 'tcp://10.0.0.5:8786'; got "
            f"{describe(scheduler)}."
        )
    if model is not None and estimator_params:
        raise ValueError(
            "pass either model= (apply a fitted model) or estimator_params= (fit per file), not both."
        )
    if estimator_params is not None and not isinstance(estimator_params, Mapping):
        raise TypeError(
            "estimator_params must be a mapping of Estimator settings, e.g. {'max_iterations': 2000}; got "
            f"{type(estimator_params).__name__}."
        )
    if read_kwargs is not None and not isinstance(read_kwargs, Mapping):
        raise TypeError(
            f"read_kwargs must be a mapping of reader arguments, e.g. {{'neural': 'units'}}; got "
            f"{type(read_kwargs).__name__}."
        )
    params = dict(estimator_params or {})
    if model is not None:
        if not isinstance(model, (str, os.PathLike)):
            raise TypeError(
                "model must be the path of a model file saved by Estimator.save (to fit one model per file, "
                f"pass its settings as estimator_params); got {describe(model)}."
            )
        model = Path(os.path.abspath(model))
        if not model.is_file():
            raise FileNotFoundError(f"model file not found: {str(model)!r}.")
        from neuroembed.estimator import Estimator

        # read it here, once: a file that is not a model fails now, not in every task
        Estimator.load(model, device="cpu")
    if params:
        from neuroembed.estimator import Estimator

        unknown = sorted(set(params) - set(Estimator().get_params()))
        if unknown:
            raise ValueError(
                f"estimator_params has unknown settings {unknown}; see neuroembed.Estimator."
            )
        # check the values here, once, rather than in every worker after the cluster has started
        Estimator(**params)._check_params()
    read_kwargs = dict(read_kwargs or {})
    if client is None and scheduler is None:  # our own LocalCluster: is the script guarded?
        _main_guard.check_main_guard(_main_guard.worker_start_method(_import_distributed()))
    out = Path(out_dir).absolute()
    out.mkdir(parents=True, exist_ok=True)

    fingerprint = json.dumps(
        {
            "estimator_params": params,
            "model": None if model is None else [str(model), *_signature(model)],
            "read_kwargs": read_kwargs,
            "metrics": bool(metrics),
        },
        sort_keys=True,
        default=str,
    )
    jobs = []
    for path, stem in zip(files, _output_stems(files, out)):
        jobs.append(
            {
                "path": str(path),
                "output": str(out / f"{stem}{OUTPUT_SUFFIX}"),
                "failed": str(out / f"{stem}{_FAILED_SUFFIX}"),
                "model_out": str(out / f"{stem}{_MODEL_SUFFIX}")
                if save_models and model is None
                else None,
                "signature": _signature(path) if path.is_file() else None,
                "fingerprint": fingerprint,
                "estimator_params": params,
                "model": None if model is None else str(model),
                "device": params.get("device", "auto"),
                "read_kwargs": read_kwargs,
                "metrics": bool(metrics),
                "retry_failed": bool(retry_failed or redo),
            }
        )

    rows: dict[str, dict[str, Any]] = {}
    pending = []
    for job in jobs:
        previous = None if redo or job["signature"] is None else _previous(job)
        if previous is not None:
            rows[job["path"]] = previous
        else:
            pending.append(job)

    summary_path = out / "summary.csv"
    try:
        if pending:
            # no more worker processes than files to embed
            _run(pending, rows, client, scheduler, min(n_workers, len(pending)), progress)
    finally:
        ordered = [
            rows.get(
                job["path"],
                {"path": job["path"], "status": "failed", "error": "not run (batch interrupted)"},
            )
            for job in jobs
        ]
        table = _write_summary(ordered, summary_path)
    return table


#: Seconds to wait for a scheduler given by its address before giving up (Dask's own default).
CONNECT_TIMEOUT = 30.0


def _connect(distributed: Any, scheduler: str) -> Any:
    """A client of the running scheduler at ``scheduler``; a clear error, within :data:`CONNECT_TIMEOUT`, where
    there is none."""
    try:
        return distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
    # unreachable (TimeoutError is an OSError), or not an address
    except (OSError, ValueError) as err:
        error = ValueError if isinstance(err, ValueError) else OSError
        raise error(
            f"could not connect to a Dask scheduler at scheduler={scheduler!r} within {CONNECT_TIMEOUT:g} s "
            f"({err}); expected the address of a running scheduler, e.g. 'tcp://10.0.0.5:8786' (start one with "
            "`dask scheduler`), or leave scheduler out to run on this machine."
        ) from None


def _run(
    jobs: list[dict[str, Any]],
    rows: dict[str, dict[str, Any]],
    client: Any,
    scheduler: str | None,
    n_workers: int,
    progress: bool,
) -> None:
    """Submit one task per job and collect their rows as they finish."""
    from tqdm.auto import tqdm

    distributed = _import_distributed()
    to_close: list[Any] = []
    try:
        if client is None:
            if scheduler is not None:
                client = _connect(distributed, scheduler)
                to_close.append(client)
            else:
                with _main_guard.reporting_refused_workers(
                    _main_guard.worker_start_method(distributed)
                ):
                    cluster = distributed.LocalCluster(
                        n_workers=n_workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                    )
                to_close.append(cluster)
                client = distributed.Client(cluster)
                to_close.append(client)
        tag = os.urandom(4).hex()
        futures = {
            client.submit(
                _embed_one, job, key=f"neuroembed-{Path(job['output']).name}-{tag}", pure=False
            ): job
            for job in jobs
        }
        counts = {"ok": 0, "failed": 0}
        bar = tqdm(total=len(futures), desc="neuroembed batch", unit="file", disable=not progress)
        try:
            for future in distributed.as_completed(futures):
                job = futures[future]
                try:
                    row = future.result()
                except Exception as err:  # the task itself died (worker killed, out of memory, ...)
                    row = {
                        "path": job["path"],
                        "status": "failed",
                        "error": f"{type(err).__name__}: {err}",
                        "previous_run": False,
                    }
                rows[job["path"]] = row
                counts["ok" if row["status"] == "ok" else "failed"] += 1
                bar.set_postfix(counts, refresh=False)
                bar.update(1)
        finally:
            bar.close()
    finally:
        for item in reversed(to_close):
            item.close()

"""Model files and checkpoints of :class:`neuroembed.Estimator`: weights as tensors, settings as JSON.

A model file is ``torch.save`` of a dictionary of tensors and one JSON string (settings, fitted attributes,
versions); it is read back with ``torch.load(weights_only=True)``, so loading a file never runs code from it. A
checkpoint adds the optimiser's and the batch generator's state, so that ``fit(..., resume=True)`` continues a run
where it stopped.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
from sklearn.utils.validation import check_is_fitted

from neuroembed._files import atomic_path
from neuroembed._training import build_criterion, build_stems_and_trunk, class_path
from neuroembed.solver import resolve_device

__all__ = ["FORMAT_VERSION", "save_estimator", "load_estimator"]

FORMAT_VERSION = 1
"""Version of the model-file layout written by :meth:`Estimator.save`."""

FORMAT_NAME = "neuroembed-model"
ENSEMBLE_FORMAT_NAME = "neuroembed-ensemble"  # what Ensemble.save writes
CHECKPOINT_NAME = "checkpoint.pt"
#: Settings a resumed fit may change: how long and how visibly it runs, and where checkpoints go.
RESUMABLE_PARAMS = ("max_iterations", "max_seconds", "verbose", "checkpoint_dir")

#: Fitted attributes written to a model file, with the value files written before each existed stand for.
FITTED_ATTRIBUTES = (
    "n_iter_",
    "n_features_in_",
    "session_n_features_",
    "n_sessions_",
    "multisession_",
    "receptive_field_",
    "num_negatives_",
    "batch_size_",
    "temperature_",
    "behaviour_dimension_",
    "fit_seconds_",
    "interrupted_",
    "stop_reason_",
    "conditional_",
    "validation_scores_",
    "validation_iterations_",
    "best_validation_score_",
    "best_iteration_",
    "parts_",
    "adapt_loss_history_",
)
_ARRAY_ATTRIBUTES = {
    "validation_scores_": np.float64,
    "validation_iterations_": np.int64,
    "adapt_loss_history_": np.float64,
}


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("neuroembed")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def versions() -> dict[str, str]:
    return {
        "neuroembed": version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


def jsonable_params(params: dict[str, Any]) -> dict[str, Any]:
    """``get_params()`` as JSON values (a Generator ``random_state`` becomes ``None``: the model is trained)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, np.integer):
            value = int(value)
        elif isinstance(value, np.floating):
            value = float(value)
        if key == "random_state" and not (value is None or isinstance(value, int)):
            value = None  # a Generator object is not data; the saved model is already trained
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, torch.device):
            value = str(value)  # device=torch.device("cpu") is as good as "cpu"
        if key == "model" and isinstance(value, type):
            value = class_path(value)  # a user's model class: its import path
        out[key] = value
    return out


def _jsonable(value: Any) -> Any:
    """A fitted attribute as JSON (arrays as lists; NaN scores stay NaN: Python's json reads and writes them)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, dict) and all(isinstance(v, slice) for v in value.values()):
        return {k: [v.start, v.stop] for k, v in value.items()}  # parts_: name -> [start, stop]
    return value


def safe_torch_load(path: Any, what: str) -> Any:
    """``torch.load`` that only accepts tensors and plain containers; never runs code from the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist.")
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it did not write before refusing them; the refusal is what counts
            warnings.filterwarnings(
                "ignore", message="Detected pickle protocol", category=UserWarning
            )
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [ln.strip() for ln in str(err).splitlines()]
        reason = next(
            (ln for ln in lines if "GLOBAL" in ln or "Unsupported" in ln), lines[0] if lines else ""
        )
        raise ValueError(
            f"refused to load {path}: it is not a {what} written by neuroembed's save(); the safe loader, which "
            f"accepts only tensors and plain data and never runs code from a file, rejected it ({reason[:200]})."
        ) from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not a {what}.") from None
    except Exception as err:  # noqa: BLE001 - any failure to parse an untrusted file is "not a model file"
        # torch's weights-only unpickler fails on arbitrary bytes with RuntimeError, EOFError, IndexError,
        # KeyError, ... depending on where the parse breaks; to the user they all mean the same thing.
        raise ValueError(
            f"{path} is not a readable {what} ({type(err).__name__}: {str(err)[:200]})."
        ) from None


def _reason(err: BaseException) -> str:
    return str(err).strip().splitlines()[-1].strip()


# ---------------------------------------------------------------------------------------------------------------------
# model files
# ---------------------------------------------------------------------------------------------------------------------
def save_estimator(est: Any, path: str | os.PathLike) -> None:
    """Write a fitted estimator: weights as tensors, settings and fitted attributes as JSON."""
    fitted = {key: _jsonable(getattr(est, key)) for key in FITTED_ATTRIBUTES}
    if hasattr(est, "adapt_seconds_"):  # set only by adapt
        fitted["adapt_seconds_"] = float(est.adapt_seconds_)
    names = getattr(est, "feature_names_in_", None)
    fitted["feature_names_in_"] = None if names is None else [str(c) for c in names]
    config = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "params": jsonable_params(est.get_params()),
        "fitted": fitted,
        "versions": versions(),
    }
    if not isinstance(est.model, str):
        if "<locals>" in est.model.__qualname__:
            raise ValueError(
                f"cannot save a model of class {est.model.__qualname__}: it is defined inside a function, so a "
                "model file cannot name where to import it from; define the class at the top level of a module."
            )
        config["custom_model"] = class_path(est.model)
    payload = {
        "config": json.dumps(config),
        "encoder": {k: v.detach().cpu() for k, v in est.encoder_.state_dict().items()},
        "criterion": {k: v.detach().cpu() for k, v in est.criterion_.state_dict().items()},
        "loss_history": torch.from_numpy(np.asarray(est.loss_history_, dtype=np.float64)),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_model_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """The payload and the parsed config of a model file, checked for its format and version."""
    payload = safe_torch_load(path, "model file")
    if not isinstance(payload, dict) or "config" not in payload:
        raise ValueError(f"{path} is not a neuroembed model file (no config/weights found).")
    try:
        config = json.loads(payload["config"])
    except (TypeError, json.JSONDecodeError):
        raise ValueError(
            f"{path} has an unreadable config; it is not a neuroembed model file."
        ) from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} has an unreadable config; it is not a neuroembed model file.")
    if config.get("format") == ENSEMBLE_FORMAT_NAME:
        raise ValueError(
            f"{path} holds an ensemble (written by Ensemble.save), not a single model; read it with "
            "neuroembed.Ensemble.load."
        )
    if "encoder" not in payload:
        raise ValueError(f"{path} is not a neuroembed model file (no config/weights found).")
    if config.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{path} is not a neuroembed model file (format {config.get('format')!r})."
        )
    written_version = config.get("format_version")
    if written_version != FORMAT_VERSION:
        written = config.get("versions", {}).get("neuroembed", "unknown")
        newer = isinstance(written_version, int) and written_version > FORMAT_VERSION
        raise ValueError(
            f"{path} uses model-file format version {written_version} (written by neuroembed {written}), but "
            f"this neuroembed ({version()}) reads version {FORMAT_VERSION}; "
            + (
                "upgrade neuroembed to read it."
                if newer
                else "re-fit the model or load it with the older neuroembed and save it again."
            )
        )
    return payload, config


def load_estimator(
    cls: type, path: str | os.PathLike, device: str = "auto", *, allow_custom: bool = False
) -> Any:
    """Read a model written by :func:`save_estimator` into a new ``cls``, without unpickling anything; a user's
    model class is imported by its path only with ``allow_custom``."""
    payload, config = read_model_file(path)
    params = dict(config["params"])
    params["device"] = device
    if config.get("custom_model") is not None:
        params["model"] = _import_model_class(str(config["custom_model"]), path, allow_custom)
    est = cls(**params)
    fitted = config["fitted"]
    dev = resolve_device(device)
    encoder = build_stems_and_trunk(est, list(fitted["session_n_features_"]))
    criterion = build_criterion(est)
    try:
        encoder.load_state_dict(payload["encoder"])
        criterion.load_state_dict(payload["criterion"])
    except (RuntimeError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path}: the weights in the file do not fit the model its settings describe ({_reason(err)}); the "
            "file is damaged or was written by an incompatible version of neuroembed."
        ) from None
    est.encoder_ = encoder.to(dev).eval()
    est.criterion_ = criterion.to(dev)
    est.loss_history_ = payload["loss_history"].numpy()
    # files written before these attributes existed: no time limit and no early stopping then
    fitted = {
        "stop_reason_": "interrupted" if fitted.get("interrupted_") else "max_iterations",
        "conditional_": est.conditional,
        "validation_scores_": None,
        "validation_iterations_": None,
        "best_validation_score_": None,
        "best_iteration_": None,
        "batch_size_": est.batch_size,
        "parts_": None,
        "adapt_loss_history_": None,
        **fitted,
    }
    for key, value in fitted.items():
        if key == "parts_" and value is not None:
            est.parts_ = {name: slice(int(a), int(b)) for name, (a, b) in value.items()}
        elif key == "feature_names_in_":
            if value is not None:
                est.feature_names_in_ = np.asarray(value, dtype=object)
        elif key in _ARRAY_ATTRIBUTES and value is not None:
            setattr(est, key, np.asarray(value, dtype=_ARRAY_ATTRIBUTES[key]))
        else:
            setattr(est, key, value)
    est.device_ = dev
    return est


def _import_model_class(where: str, path: Any, allow_custom: bool) -> type:
    """The class ``"module:QualifiedName"`` of a model file, imported only where the caller allows it."""
    import importlib

    if not allow_custom:
        raise ValueError(
            f"{path} was fitted with a custom model class, {where}; loading it imports that module, which runs its "
            "code. Pass allow_custom=True to load it (for files you trust)."
        )
    module_name, _, qualname = where.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(
            f"{path} was fitted with the model class {where}, which cannot be imported here ({err}); make its "
            "module importable (installed, or on sys.path) and load again."
        ) from None
    if not (isinstance(obj, type) and issubclass(obj, torch.nn.Module)):
        raise ValueError(
            f"{path} names {where} as its model class, but that is not a torch.nn.Module class."
        )
    return obj


# ---------------------------------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------------------------------
def fingerprint(arrays: list[np.ndarray]) -> list[list[float]]:
    """Shape and a strided sum of each recording: enough to tell a checkpoint of other data."""
    return [
        [
            float(a.shape[0]),
            float(a.shape[1]),
            float(np.float64(a[:: max(1, a.shape[0] // 97)].sum())),
        ]
        for a in arrays
    ]


def write_checkpoint(est: Any, path: Path, iteration: int, t: Any, history: np.ndarray) -> None:
    """Write the state of training run ``t`` (a :class:`~neuroembed._training.Training`) after ``iteration``."""
    payload: dict[str, Any] = {
        "iteration": iteration,
        "params": json.dumps(jsonable_params(est.get_params())),
        "fingerprint": json.dumps(fingerprint(t.arrays)),
        "encoder": t.encoder.state_dict(),
        "criterion": t.criterion.state_dict(),
        "optimizer": t.optimizer.state_dict(),
        "generator": t.generator.get_state(),
        "loss_history": torch.from_numpy(np.asarray(history, dtype=np.float64)),
    }
    if t.early_stopping is not None:
        # early stopping: its scores, best weights and patience, and the seed of the held-out batches
        payload["validation"] = {**t.early_stopping.state_dict(), "seed": t.held_out_loss.seed}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def starting_point(est: Any, t: Any, resume: bool) -> tuple[int, np.ndarray, Path | None]:
    """Where ``fit`` starts training run ``t``: the iteration and loss history of the checkpoint in
    ``est.checkpoint_dir`` when resuming from one that exists (put into ``t``), else 0 and none; and the
    checkpoint's path (``None`` without ``checkpoint_dir``)."""
    path = None if est.checkpoint_dir is None else Path(est.checkpoint_dir) / CHECKPOINT_NAME
    if resume and path is None:
        raise ValueError("fit(..., resume=True) needs checkpoint_dir to be set.")
    if resume and path.exists():
        return (*load_checkpoint(est, path, t), path)
    return 0, np.empty(0), path


def load_checkpoint(est: Any, path: Path, t: Any) -> tuple[int, np.ndarray]:
    """Put the state of the checkpoint at ``path`` into training run ``t``; the iteration it was taken after and
    the loss history up to it."""
    payload = safe_torch_load(path, "checkpoint")
    params = json.loads(payload["params"])
    mine = jsonable_params(est.get_params())
    differing = [k for k in mine if k not in RESUMABLE_PARAMS and params.get(k) != mine[k]]
    if differing:
        raise ValueError(
            f"the checkpoint at {path} was made with other settings ({', '.join(differing)}); cannot resume."
        )
    if json.loads(payload["fingerprint"]) != fingerprint(t.arrays):
        raise ValueError(f"the checkpoint at {path} was made on other data; cannot resume.")
    try:
        t.encoder.load_state_dict(payload["encoder"])
        t.criterion.load_state_dict(payload["criterion"])
        t.optimizer.load_state_dict(payload["optimizer"])
        t.generator.set_state(payload["generator"])
        if t.early_stopping is not None:
            state = payload["validation"]
            # with random_state=None this run drew other held-out batches: take the first run's
            if int(state["seed"]) != t.held_out_loss.seed:
                t.held_out_loss.draw(int(state["seed"]))
            t.early_stopping.load_state_dict(state)
        return int(payload["iteration"]), payload["loss_history"].numpy()
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"the checkpoint at {path} does not fit this model and its settings ({_reason(err)}); delete it to "
            "start afresh."
        ) from None


def encoder_state(weights: Any) -> Mapping[str, torch.Tensor]:
    """The encoder state dict of ``initial_weights``: a fitted estimator, a model file, or a state dict."""
    if hasattr(weights, "encoder_") or hasattr(weights, "get_params"):
        check_is_fitted(weights)
        return weights.encoder_.state_dict()
    if isinstance(weights, (str, os.PathLike)):
        return read_model_file(weights)[0]["encoder"]
    if isinstance(weights, Mapping):
        return weights
    raise TypeError(
        "initial_weights must be a fitted Estimator, the path of a saved model, or a state dict of encoder_; "
        f"got {type(weights).__name__}."
    )


def load_weights(encoder: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    try:
        encoder.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as err:
        reason = " ".join(str(err).split())[:400]
        raise ValueError(
            f"{what} do not fit the encoder this fit builds (same model, neurons per session, hidden units and "
            f"output dimension needed): {reason}"
        ) from None

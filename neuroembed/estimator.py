"""The scikit-learn face of neuroembed: :class:`Estimator`.

The estimator validates input, builds the encoder, sampler, loss and :class:`~neuroembed.solver.ContrastiveSolver`,
runs :func:`~neuroembed.solver.train_loop`, and holds the fitted state. The work itself happens below it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import platform
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from neuroembed import _validation as V
from neuroembed._early_stopping import EarlyStopping, HeldOutLoss, n_held_out
from neuroembed._files import atomic_path
from neuroembed._optim import make_adam
from neuroembed.losses import InfoNCE, SupCon
from neuroembed.models import MODELS, MultiSessionEncoder, make_encoder, window_offsets
from neuroembed.sampling import (
    BEHAVIOUR_CONDITIONALS,
    CONDITIONALS,
    ContrastiveSampler,
    SessionData,
)
from neuroembed.solver import (
    ContrastiveSolver,
    embed,
    flush_denormal,
    make_generators,
    resolve_device,
    train_loop,
)

__all__ = ["Estimator", "FORMAT_VERSION"]

FORMAT_VERSION = 1
"""Version of the model-file layout written by :meth:`Estimator.save`."""

_FORMAT_NAME = "neuroembed-model"
_CHECKPOINT_NAME = "checkpoint.pt"
_DISTANCES = ("cosine", "euclidean")
_CRITERIA = ("infonce", "supcon")
_TEMPERATURE_MODES = ("constant", "learnable")
_PRECISIONS = ("float32", "bfloat16", "float16")
_SCORE_BATCHES = 8
# window centres a held-out block of early stopping needs at least (and batch_size samples)
_MIN_VALIDATION_WINDOWS = 4
# settings a resumed fit may change: how long and how visibly it runs, and where checkpoints go
_RESUMABLE_PARAMS = ("max_iterations", "max_seconds", "verbose", "checkpoint_dir")


#: Serialises the seeding of torch's global generator while encoders are built (see ``_prepare``).
_GLOBAL_RNG_LOCK = threading.Lock()


def _receptive_field(model: str) -> int:
    """The receptive field of a named encoder, read off a one-neuron probe built without touching the caller's
    (or another thread's) draws from torch's global generator."""
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
        return int(MODELS[model](1).receptive_field)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neuroembed")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _is_session_list(X: Any) -> bool:
    """A list whose items are 2-D arrays is several sessions; a list of rows is one array."""
    return isinstance(X, list) and len(X) > 0 and all(getattr(x, "ndim", None) == 2 for x in X)


def _is_h5_dataset(X: Any) -> bool:
    return type(X).__module__.startswith("h5py") and hasattr(X, "shape") and hasattr(X, "dtype")


def _h5_for_fit(dataset: Any, name: str, min_samples: int, block_rows: int = 1 << 18) -> np.ndarray:
    """Map a contiguous, uncompressed float32 HDF5 dataset into memory without reading it (``np.memmap``).

    Training then reads only the windows it draws; the operating system pages them in from the file and can drop
    them again, so the recording never has to fit in memory. The values are checked for NaN/inf once, block by
    block.
    """
    shape, dtype = tuple(dataset.shape), np.dtype(dataset.dtype)
    if len(shape) != 2:
        raise ValueError(
            f"{name}: the HDF5 dataset has shape {shape}; expected (n_samples, n_neurons)."
        )
    if shape[0] < min_samples or shape[1] == 0:
        raise ValueError(
            f"{name}: the HDF5 dataset has shape {shape}; fit needs at least {min_samples} samples (the receptive "
            "field) and one neuron."
        )
    offset = dataset.id.get_offset()
    if (
        dtype != np.dtype("<f4")
        or dataset.chunks is not None
        or dataset.compression is not None
        or offset is None
    ):
        raise ValueError(
            f"{name}: fit streams an HDF5 dataset from disk only when it is stored contiguously, uncompressed, as "
            f"little-endian float32; this one has dtype {dtype}, chunks {dataset.chunks}, compression "
            f"{dataset.compression}. Load it with neuroembed.io.read_hdf5(...) if it fits in memory, or copy it once "
            "into a dataset created with dtype='float32' and no chunks= or compression=."
        )
    mapped = np.memmap(dataset.file.filename, dtype=dtype, mode="c", offset=offset, shape=shape)
    for start in range(0, shape[0], block_rows):
        _check_block_finite(mapped[start : start + block_rows], start, f"{name}: the HDF5 dataset")
    return mapped


def _check_block_finite(block: np.ndarray, start: int, what: str) -> None:
    """Raise naming the first row with NaN/inf of ``block``, whose first row is row ``start`` of the data."""
    if block.dtype.kind == "f" and not np.isfinite(block).all():
        row = start + int(np.argwhere(~np.isfinite(block))[0][0])
        raise ValueError(
            f"{what} contains NaN or inf (first at row {row}); expected finite numbers."
        )


class Estimator(TransformerMixin, BaseEstimator):
    """Learn an embedding of neural time series by contrastive learning (CEBRA-style).

    Samples close in time, or with similar behaviour, are pulled together on the sphere (cosine) or in space
    (euclidean); randomly drawn negatives are pushed apart (InfoNCE).

    Parameters
    ----------
    model : {"offset10", "offset1", "offset5", "offset36"}
        Encoder: a 1D-conv network whose receptive field is the number in the name (``offset1`` is an MLP).
    output_dimension : int
        Size of the embedding.
    num_hidden_units : int
        Channels of the encoder's hidden layers.
    conditional : {"time_delta", "time", "delta", "discrete", "mixed", "auto"}
        How positives are chosen: ``"time"``: the sample ``time_offset`` later; ``"delta"``: nearest behaviour to
        the reference's plus Gaussian noise of std ``delta``; ``"time_delta"``: nearest behaviour to the
        reference's plus an empirical behaviour change over ``time_offset`` samples; ``"discrete"``: a random
        sample with the same label; ``"mixed"``: same label and nearest continuous behaviour. Without behaviour
        (``y=None``) only ``"time"`` works. ``"auto"`` picks from the behaviour given to ``fit``, as CEBRA does:
        none -> ``"time"``, a tuple ``(continuous, labels)`` -> ``"mixed"``, integer labels of one column ->
        ``"discrete"``, anything else -> ``"time_delta"`` (the choice is ``conditional_``).
    time_offset : int
        Offset of time positives, and of the behaviour changes used by ``time_delta`` / ``mixed``.
    delta : float
        Noise std of the ``"delta"`` conditional, in behaviour units.
    temperature : float
        InfoNCE temperature (the initial one when learnable).
    temperature_mode : {"constant", "learnable"}
    min_temperature : float
        Lower bound of a learnable temperature.
    distance : {"cosine", "euclidean"}
        Similarity; with cosine the embedding is L2-normalised (it lives on the sphere).
    criterion : {"infonce", "supcon"}
        ``"supcon"`` (discrete labels only): every same-label sample in the batch is a positive (Khosla et al. 2020).
    batch_size : int
        References per step (per session). References, positives and negatives are drawn with replacement (as in
        CEBRA), so a batch may be larger than a short recording: its samples then repeat within a batch.
    num_negatives : int or None
        Negatives per step, shared by all references and split evenly over the sessions (``None``: as many as
        references, ``batch_size`` times the number of sessions, as in CEBRA).
    learning_rate : float
        Adam learning rate.
    max_iterations : int
        Optimisation steps (the most; ``max_seconds`` or ``early_stopping`` may stop training sooner).
    max_seconds : float or None
        Wall-clock budget of the training loop in seconds (data preparation not counted, held-out evaluations
        counted): training stops after the first iteration that ends past it, or at ``max_iterations``, whichever
        comes first. A time limit gives up bitwise reproducibility: how many iterations fit in the budget depends on
        the machine's speed and load, so the same seed can stop at a different iteration (the iterations that do
        run draw the same batches). ``n_iter_`` and ``stop_reason_`` say what happened. ``None``: no limit.
    early_stopping : bool
        Hold out the last ``validation_fraction`` of each session's samples as a contiguous block that training
        never sees (no reference, positive or negative is drawn from it, and no training window reaches into it:
        training runs on ``X[:n_train]`` alone), score the model on it every ``validation_every`` iterations, stop
        when the score has not improved by more than ``tol`` for ``n_iter_no_change`` evaluations in a row, and
        keep the weights (encoder and loss module, with a learnable temperature) of the best score. The score is
        the negative InfoNCE (or SupCon) loss of a fixed set of index batches drawn once from the held-out blocks
        with the same conditional (positives searched within the blocks, all sessions together as in training)
        and a generator seeded from ``random_state``; pairs whose positive is the reference itself (a label with a
        single sample in a block) are left out. Each session's block needs at least ``batch_size`` samples and a
        few windows of the receptive field (more than ``time_offset`` window centres where time positives are
        drawn), else ``fit`` raises ``ValueError``. With ``checkpoint_dir``, checkpoints carry the validation state
        (the scores, the best weights and the count of evaluations without improvement), so ``fit(...,
        resume=True)`` continues early stopping where it was.
    validation_fraction : float
        Fraction of each session's samples held out at its end when ``early_stopping`` (``ceil(fraction *
        n_samples)`` samples), in (0, 1).
    n_iter_no_change : int
        Evaluations (not iterations) without an improvement of more than ``tol`` after which training stops: with
        the defaults, 10 evaluations 50 iterations apart, so 500 iterations without progress.
    tol : float
        Least improvement of the validation score, in nats of held-out loss, that resets the count of
        ``n_iter_no_change`` (>= 0).
    validation_every : int
        Iterations between evaluations of the held-out score when ``early_stopping``. The final weights are scored
        too when training ends between two evaluations.
    hybrid : bool
        Train time and behaviour objectives together (the loss is their sum).
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    random_state : int, numpy Generator or None
        Seed of the weights and of every sampled batch. Same seed, data and device: same embedding.
    verbose : bool
        Show a progress bar.
    checkpoint_dir : str or None
        Folder for periodic checkpoints (``fit(..., resume=True)`` continues from the last one).
    checkpoint_every : int
        Iterations between checkpoints when ``checkpoint_dir`` is set.
    precision : {"float32", "bfloat16", "float16"}
        Autocast precision of the training forward pass. ``"bfloat16"`` speeds up training on recent GPUs; on CPUs
        without native bf16 arithmetic it is slower than float32. Weights and the optimiser stay in float32.
    compile : bool
        Compile the training step's encoder with :func:`torch.compile` (pays a one-off compilation of tens of
        seconds; worth it for long runs, mostly on GPUs).

    Attributes
    ----------
    encoder_ : MultiSessionEncoder
        The trained network (one input layer per session, shared trunk).
    criterion_ : torch.nn.Module
        The loss module (holds the learned temperature).
    loss_history_ : ndarray of shape (n_iter_,)
        Training loss per iteration.
    n_iter_ : int
        Iterations run.
    n_features_in_ : int
        Neurons seen in ``fit`` (first session).
    feature_names_in_ : ndarray of str
        Column names when ``fit`` got a DataFrame.
    n_sessions_ : int
    session_n_features_ : list of int
    receptive_field_ : int
    num_negatives_ : int
    temperature_ : float
        Final temperature.
    fit_seconds_ : float
        Wall-clock seconds of the training loop (held-out evaluations included).
    conditional_ : str
        The conditional the fit used (``conditional``, or what ``"auto"`` chose).
    stop_reason_ : {"max_iterations", "max_seconds", "early_stopping", "interrupted"}
        Why training stopped: all ``max_iterations`` ran, the ``max_seconds`` budget ran out, the validation score
        stopped improving, or a ``KeyboardInterrupt`` stopped it (``interrupted_`` is then True).
    validation_scores_ : ndarray of shape (n_evaluations,) or None
        With ``early_stopping``, the score of each held-out evaluation: minus the held-out InfoNCE (or SupCon) loss
        in nats, higher is better (the unit of :meth:`score`; ``plot_loss`` draws it as a loss next to
        ``loss_history_``). ``None`` without early stopping.
    validation_iterations_ : ndarray of int of shape (n_evaluations,) or None
        Iterations completed when each score was taken (``validation_every``, ``2 * validation_every``, ..., and
        ``n_iter_`` when training ended between two evaluations).
    best_validation_score_ : float or None
        The highest of ``validation_scores_``.
    best_iteration_ : int or None
        The iteration whose weights the model keeps (where ``best_validation_score_`` was taken); ``n_iter_``
        still counts every iteration run, and ``loss_history_`` has all their losses.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(2.0, size=(300, 20)).astype("float32")
    >>> est = Estimator(model="offset5", conditional="time", time_offset=2, batch_size=32,
    ...                 max_iterations=5, random_state=0)
    >>> est.fit(X).transform(X).shape
    (300, 8)
    """

    def __init__(
        self,
        model: str = "offset10",
        output_dimension: int = 8,
        num_hidden_units: int = 32,
        conditional: str = "time_delta",
        time_offset: int = 10,
        delta: float = 0.1,
        temperature: float = 1.0,
        temperature_mode: str = "constant",
        min_temperature: float = 0.1,
        distance: str = "cosine",
        criterion: str = "infonce",
        batch_size: int = 512,
        num_negatives: int | None = None,
        learning_rate: float = 3e-4,
        max_iterations: int = 5000,
        max_seconds: float | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        validation_every: int = 50,
        hybrid: bool = False,
        device: str = "auto",
        random_state: Any = None,
        verbose: bool = False,
        checkpoint_dir: str | None = None,
        checkpoint_every: int = 500,
        precision: str = "float32",
        compile: bool = False,
    ) -> None:
        self.model = model
        self.output_dimension = output_dimension
        self.num_hidden_units = num_hidden_units
        self.conditional = conditional
        self.time_offset = time_offset
        self.delta = delta
        self.temperature = temperature
        self.temperature_mode = temperature_mode
        self.min_temperature = min_temperature
        self.distance = distance
        self.criterion = criterion
        self.batch_size = batch_size
        self.num_negatives = num_negatives
        self.learning_rate = learning_rate
        self.max_iterations = max_iterations
        self.max_seconds = max_seconds
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.validation_every = validation_every
        self.hybrid = hybrid
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.precision = precision
        self.compile = compile

    # ------------------------------------------------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        V.check_choice(self.model, "model", list(MODELS))
        V.check_choice(self.conditional, "conditional", [*CONDITIONALS, "auto"])
        V.check_choice(self.distance, "distance", _DISTANCES)
        V.check_choice(self.criterion, "criterion", _CRITERIA)
        V.check_choice(self.temperature_mode, "temperature_mode", _TEMPERATURE_MODES)
        V.check_choice(self.precision, "precision", _PRECISIONS)
        if not isinstance(self.compile, bool):
            raise TypeError(f"compile must be True or False; got {self.compile!r}.")
        V.check_positive_int(self.output_dimension, "output_dimension")
        V.check_positive_int(self.num_hidden_units, "num_hidden_units")
        V.check_positive_int(self.time_offset, "time_offset")
        V.check_positive_int(self.batch_size, "batch_size")
        V.check_positive_int(self.num_negatives, "num_negatives", allow_none=True)
        V.check_positive_int(self.max_iterations, "max_iterations", minimum=0)
        V.check_positive_int(self.checkpoint_every, "checkpoint_every")
        V.check_positive_float(self.delta, "delta")
        V.check_positive_float(self.temperature, "temperature")
        V.check_positive_float(self.min_temperature, "min_temperature")
        V.check_positive_float(self.learning_rate, "learning_rate")
        if self.criterion == "supcon" and self.hybrid:
            raise ValueError("criterion='supcon' cannot be combined with hybrid=True.")

    def _resolve_conditional(self, X: Any, y: Any) -> str:
        """The conditional this fit uses: ``conditional``, or with ``"auto"`` the one the behaviour calls for.

        ``"auto"`` reads the (first session's) behaviour as CEBRA's scikit-learn estimator does: none -> ``"time"``;
        a tuple ``(continuous, labels)`` -> ``"mixed"``; integer or boolean labels of one column -> ``"discrete"``;
        anything else -> ``"time_delta"``. The combinations that cannot work are refused here.
        """
        cond = self.conditional
        if cond == "auto":
            first = y[0] if _is_session_list(X) and isinstance(y, list) and y else y
            if first is None:
                cond = "time"
            elif isinstance(first, tuple):
                cond = "mixed"
            else:
                dtype = getattr(first, "dtype", None)
                shape = getattr(first, "shape", None)
                if dtype is None or shape is None:
                    first = np.asarray(first)
                    dtype, shape = first.dtype, first.shape
                one_column = len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)
                integer = np.dtype(dtype).kind in "iub" if isinstance(dtype, np.dtype) else False
                cond = "discrete" if integer and one_column else "time_delta"
        said = repr(cond) if cond == self.conditional else f"{cond!r} (from conditional='auto')"
        if self.criterion == "supcon" and cond not in ("discrete", "mixed"):
            raise ValueError(
                f"criterion='supcon' needs discrete labels (conditional='discrete' or 'mixed'); "
                f"got conditional={said}."
            )
        if self.hybrid and cond == "time":
            raise ValueError(
                f"hybrid=True adds time positives to a behaviour conditional; conditional={said} already is one."
            )
        return cond

    def _check_stopping_params(self) -> None:
        """The parameters that say when training stops: ``max_seconds`` and the early-stopping ones."""
        if self.max_seconds is not None:
            V.check_positive_float(self.max_seconds, "max_seconds")
        if not isinstance(self.early_stopping, (bool, np.bool_)):
            raise TypeError(f"early_stopping must be True or False; got {self.early_stopping!r}.")
        fraction = self.validation_fraction
        if isinstance(fraction, bool) or not isinstance(
            fraction, (int, float, np.integer, np.floating)
        ):
            raise TypeError(
                f"validation_fraction must be a number in (0, 1); got {fraction!r} ({type(fraction).__name__})."
            )
        if not 0.0 < float(fraction) < 1.0:
            raise ValueError(
                f"validation_fraction must be a number in (0, 1), the share of each session held out; got {fraction}."
            )
        V.check_positive_int(self.n_iter_no_change, "n_iter_no_change")
        V.check_positive_int(self.validation_every, "validation_every")
        V.check_positive_float(self.tol, "tol", allow_zero=True)

    def _check_sessions(self, X: Any, y: Any) -> tuple[list[np.ndarray], list[Any], bool]:
        """Validate neural data and behaviour; returns per-session lists and whether X was a session list."""
        receptive_field = _receptive_field(self.model)
        multi = _is_session_list(X)
        if isinstance(X, list) and len(X) == 0:
            raise ValueError(
                "neural is an empty list; expected an array (n_samples, n_neurons) or a list of them."
            )
        if multi:
            if y is not None and not (isinstance(y, list) and len(y) == len(X)):
                raise ValueError(
                    f"neural is a list of {len(X)} sessions, so behaviour must be None or a list of {len(X)} "
                    f"behaviour arrays; got {V.describe(y)}."
                )
            xs, ys = list(X), (list(y) if y is not None else [None] * len(X))
        else:
            if _looks_like_arrays(y):
                raise ValueError(
                    "behaviour is a list of arrays but neural is a single array; pass neural as a list of sessions too."
                )
            xs, ys = [X], [y]
        if _is_sparse(X) or any(_is_sparse(x) for x in xs):
            raise TypeError(
                "sparse input is not supported; convert the neural data with .toarray() first."
            )
        if hasattr(X, "columns") and not multi:
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        names = [f"neural[{i}]" if multi else "neural" for i in range(len(xs))]
        arrays = [
            _h5_for_fit(x, name, max(2, receptive_field))
            if _is_h5_dataset(x)
            else V.check_neural(x, name, min_samples=max(2, receptive_field))
            for x, name in zip(xs, names)
        ]
        behaviours = [
            self._check_behaviour(b, a.shape[0], i if multi else None)
            for i, (a, b) in enumerate(zip(arrays, ys))
        ]
        if multi:
            dims = {None if b is None or b[0] is None else b[0].shape[1] for b in behaviours}
            if len(dims) > 1:
                raise ValueError(
                    f"all sessions must have behaviour with the same number of columns; got {sorted(map(str, dims))}."
                )
        return arrays, behaviours, multi

    def _check_behaviour(
        self, y: Any, n: int, session: int | None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Return ``(continuous, labels)`` for one session, as the conditional needs them."""
        where = "" if session is None else f" of session {session}"
        cond = self._fit_conditional
        needs_cont = cond in BEHAVIOUR_CONDITIONALS
        needs_disc = cond in ("discrete", "mixed") or self.criterion == "supcon"
        if y is None:
            if needs_cont or needs_disc:
                raise ValueError(
                    f"conditional={cond!r} needs behaviour{where}, but none was given; pass it as fit(neural, "
                    "behaviour) or use conditional='time' for time-contrastive learning without behaviour."
                )
            return None, None
        if _is_sparse(y):
            raise TypeError("sparse behaviour is not supported; convert it with .toarray() first.")
        cont_in, disc_in = y, y
        if isinstance(y, tuple):
            if len(y) != 2:
                raise ValueError(
                    f"behaviour as a tuple must be (continuous, discrete); got a tuple of length {len(y)}."
                )
            cont_in, disc_in = y
        elif cond == "mixed":
            raise TypeError(
                "conditional='mixed' needs behaviour as a tuple (continuous, discrete labels); "
                f"got {V.describe(y)}{where}."
            )
        cont = disc = None
        if needs_cont:
            cont = V.check_continuous(cont_in, n, name=f"behaviour{where}")
            if cont.size and float(np.ptp(cont, axis=0).max()) == 0.0:
                raise ValueError(
                    f"behaviour{where} is constant (no variation), so behaviour positives are meaningless; "
                    "use conditional='time' or pass behaviour that varies."
                )
        if needs_disc:
            disc = V.check_discrete(disc_in, n, name=f"labels{where}")
            values, counts = np.unique(disc, return_counts=True)
            if values.size < 2:
                raise ValueError(
                    f"labels{where} have only 1 class ({values[0]}); discrete positives need at least 2 classes."
                )
            if counts.min() < 2:
                singles = values[counts < 2][:5].tolist()
                raise ValueError(
                    f"labels{where} have classes with a single sample ({singles}); each class needs at least 2 "
                    "samples to draw a positive other than the reference."
                )
        return cont, disc

    @staticmethod
    def _check_shared_labels(behaviours, left: int, n_valid: list[int]) -> None:
        """With ``mixed``, a reference's positive may come from any session, so every session needs its labels."""
        present = [
            set(np.unique(disc[left : left + n]).tolist())
            for (_, disc), n in zip(behaviours, n_valid)
        ]
        everything = set().union(*present)
        for i, have in enumerate(present):
            missing = sorted(everything - have)
            if missing:
                raise ValueError(
                    f"labels of session {i} lack classes {missing[:5]} that other sessions have (among the window "
                    "centres); conditional='mixed' draws positives across sessions with the same label, so every "
                    "session needs every class."
                )

    def _warn_degenerate(
        self,
        n_valid: int,
        receptive_field: int,
        n_samples: int,
        labels: np.ndarray | None,
        left: int,
        where: str,
    ) -> None:
        """Warn when a recording is too short for the positives asked for (fit goes on, positives clipped)."""
        centres = "1 window centre" if n_valid == 1 else f"{n_valid} window centres"
        size = f"{n_samples} samples, {centres} for receptive field {receptive_field}"
        uses_offset = self._fit_conditional in ("time", "time_delta", "mixed") or self.hybrid
        if uses_offset and n_valid <= self.time_offset:
            fate = (
                "a single window fits, so every time positive is its own reference and the fit learns nothing"
                if n_valid == 1
                else f"time positives are drawn {n_valid - 1} samples later instead"
            )
            warnings.warn(
                f"time_offset={self.time_offset} is not shorter than the recording{where} ({size}): {fate}.",
                UserWarning,
                stacklevel=4,
            )
        if labels is not None and self._fit_conditional in ("discrete", "mixed"):
            values, counts = np.unique(labels[left : left + n_valid], return_counts=True)
            if counts.min() < 2:
                warnings.warn(
                    f"labels{where} have classes with a single sample among the window centres "
                    f"({values[counts < 2][:5].tolist()}; {size}): their references are their own positives.",
                    UserWarning,
                    stacklevel=4,
                )

    # ------------------------------------------------------------------------------------------------------------
    # fit
    # ------------------------------------------------------------------------------------------------------------
    def _prepare(self, X: Any, y: Any) -> _Training:
        """Validate data and build everything a training run needs (data on the device, model, sampler, solver)."""
        # the conditional the checks of the data and the sampler use (``conditional`` with "auto" resolved)
        self._fit_conditional = self._resolve_conditional(X, y)
        arrays, behaviours, multi = self._check_sessions(X, y)
        device = resolve_device(self.device)
        rng, generator = make_generators(self.random_state, device)
        receptive_field = _receptive_field(self.model)
        left, right = window_offsets(receptive_field)
        batch_size = self.batch_size
        # by default as many negatives as references: batch_size per session, as CEBRA draws them
        num_negatives = (
            self.num_negatives if self.num_negatives is not None else batch_size * len(arrays)
        )
        # with early stopping, training sees only each session's first part; the held-out blocks are separate arrays
        held_out = None
        train_arrays, train_behaviours = arrays, behaviours
        if self.early_stopping:
            train_arrays, train_behaviours, held_out = self._split_validation(
                arrays, behaviours, multi, receptive_field
            )
        sessions, data, labels, centres = [], [], [], []
        for i, (a, (cont, disc)) in enumerate(zip(train_arrays, train_behaviours)):
            n_valid = a.shape[0] - receptive_field + 1
            centres.append(n_valid)
            where = f" of session {i}" if multi else ""
            self._warn_degenerate(n_valid, receptive_field, a.shape[0], disc, left, where)
            x = _to_device(a, device)
            data.append(x)
            sessions.append(
                SessionData(
                    n_samples=a.shape[0],
                    left=left,
                    right=right,
                    behaviour=None if cont is None else _to_device(cont, device),
                    labels=None if disc is None else _to_device(disc, device),
                )
            )
            labels.append(sessions[-1].labels)
        if multi and self._fit_conditional == "mixed":
            self._check_shared_labels(train_behaviours, left, centres)

        # the encoders' initial weights come from torch's process-wide generator, seeded here; the lock keeps fits
        # in several threads of one process (a threading backend, say) from seeding and drawing in between
        with (
            _GLOBAL_RNG_LOCK,
            torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
        ):
            torch.manual_seed(int(rng.integers(0, 2**63 - 1)))
            encoders = [
                make_encoder(
                    self.model,
                    a.shape[1],
                    self.num_hidden_units,
                    self.output_dimension,
                    normalize=self.distance == "cosine",
                )
                for a in arrays
            ]
        encoder = MultiSessionEncoder(encoders).to(device)
        if self.criterion == "supcon":
            criterion: torch.nn.Module = SupCon(
                temperature=self.temperature, distance=self.distance
            )
        else:
            criterion = InfoNCE(
                temperature=self.temperature,
                distance=self.distance,
                learnable=self.temperature_mode == "learnable",
                min_temperature=min(self.min_temperature, self.temperature),
            )
        criterion = criterion.to(device)
        sampler = ContrastiveSampler(
            sessions,
            self._fit_conditional,
            batch_size=batch_size,
            num_negatives=0 if self.criterion == "supcon" else num_negatives,
            time_offset=self.time_offset,
            delta=self.delta,
            hybrid=self.hybrid,
            generator=generator,
        )
        solver = ContrastiveSolver(
            encoder,
            criterion,
            sampler,
            data,
            supcon_labels=labels if self.criterion == "supcon" else None,
        )
        optimizer = make_adam(
            list(encoder.parameters()) + list(criterion.parameters()), self.learning_rate
        )

        monitor: EarlyStopping | None = None
        held_out_loss: HeldOutLoss | None = None
        if held_out is not None:
            # seeded by a draw after every other use of rng: the weights and training batches do not depend on it
            loss_of_block = self._held_out_loss(
                held_out,
                device,
                receptive_field,
                encoder,
                criterion,
                int(num_negatives),
                seed=int(rng.integers(0, 2**63 - 1)),
            )
            held_out_loss = loss_of_block
            monitor = EarlyStopping(
                lambda: -loss_of_block(),
                [encoder, criterion],
                n_iter_no_change=self.n_iter_no_change,
                tol=float(self.tol),
            )

        if self.compile:
            solver.compile()
        return _Training(
            arrays,
            behaviours,
            multi,
            device,
            generator,
            encoder,
            criterion,
            solver,
            optimizer,
            receptive_field,
            int(num_negatives),
            monitor,
            held_out_loss,
        )

    def _split_validation(
        self,
        arrays: list[np.ndarray],
        behaviours: list[tuple[np.ndarray | None, np.ndarray | None]],
        multi: bool,
        receptive_field: int,
    ) -> tuple[list[np.ndarray], list[Any], tuple[list[np.ndarray], list[Any]]]:
        """Split each session into its training part and its held-out block (the last ``validation_fraction``).

        Returns the training arrays and behaviours, and the held-out ones. The blocks are views, not copies.
        """
        left, right = window_offsets(receptive_field)
        fraction = float(self.validation_fraction)
        uses_offset = self._fit_conditional in ("time", "time_delta", "mixed") or self.hybrid
        min_windows = max(_MIN_VALIDATION_WINDOWS, self.time_offset + 1 if uses_offset else 0)
        # indices are drawn with replacement, so a block may hold fewer samples than a batch
        need_val = receptive_field - 1 + min_windows
        need_train = max(receptive_field, 2)
        why_val = (
            f"{min_windows} window centres of the receptive field of {receptive_field} samples"
            + (f", more than time_offset={self.time_offset}" if uses_offset else "")
        )
        train_arrays, train_behaviours, val_arrays, val_behaviours = [], [], [], []
        for i, (a, (cont, disc)) in enumerate(zip(arrays, behaviours)):
            n = a.shape[0]
            n_val = n_held_out(n, fraction)
            n_train = n - n_val
            where = f" of session {i}" if multi else ""
            if need_val + need_train > n:
                raise ValueError(
                    f"early_stopping=True: the {n} samples{where} are too few to hold out a validation block of at "
                    f"least {need_val} samples ({why_val}) and train on at least {need_train}; pass a longer "
                    "recording, or set early_stopping=False."
                )
            if n_val < need_val:
                raise ValueError(
                    f"early_stopping=True holds out the last validation_fraction={fraction:g} of the {n} "
                    f"samples{where}, {n_val} samples, but the validation block needs at least {need_val} "
                    f"({why_val}); raise validation_fraction to at least {math.ceil(1000 * need_val / n) / 1000:g}, "
                    "or set early_stopping=False."
                )
            if n_train < need_train:
                raise ValueError(
                    f"early_stopping=True holds out {n_val} of the {n} samples{where} "
                    f"(validation_fraction={fraction:g}), leaving {n_train} to train on, fewer than the "
                    f"{need_train} training needs (receptive field {receptive_field}); lower "
                    f"validation_fraction to at most {math.floor(1000 * (n - need_train) / n) / 1000:g}, or set "
                    "early_stopping=False."
                )
            train_arrays.append(a[:n_train])
            val_arrays.append(a[n_train:])
            train_behaviours.append(tuple(None if b is None else b[:n_train] for b in (cont, disc)))
            val_behaviours.append(tuple(None if b is None else b[n_train:] for b in (cont, disc)))
        if multi and self._fit_conditional == "mixed":
            present = [
                set(np.unique(d[left : d.shape[0] - right + 1]).tolist())
                for _, d in val_behaviours
                if d is not None
            ]
            everything = set().union(*present)
            for i, have in enumerate(present):
                missing = sorted(everything - have)
                if missing:
                    raise ValueError(
                        f"the validation block of session {i} lacks classes {missing[:5]} that other sessions' "
                        "blocks have (among the window centres); conditional='mixed' draws held-out positives "
                        "across sessions with the same label, so every block needs every class. Change "
                        "validation_fraction, or set early_stopping=False."
                    )
        return train_arrays, train_behaviours, (val_arrays, val_behaviours)

    def _held_out_loss(
        self,
        held_out: tuple[list[np.ndarray], list[Any]],
        device: torch.device,
        receptive_field: int,
        encoder: MultiSessionEncoder,
        criterion: torch.nn.Module,
        num_negatives: int,
        seed: int,
    ) -> HeldOutLoss:
        """The held-out loss of early stopping: a sampler and solver on the validation blocks, sharing the model."""
        left, right = window_offsets(receptive_field)
        sessions, data = [], []
        for a, (cont, disc) in zip(*held_out):
            data.append(_to_device(a, device))
            sessions.append(
                SessionData(
                    n_samples=a.shape[0],
                    left=left,
                    right=right,
                    behaviour=None if cont is None else _to_device(cont, device),
                    labels=None if disc is None else _to_device(disc, device),
                )
            )
        supcon = self.criterion == "supcon"
        sampler = ContrastiveSampler(
            sessions,
            self._fit_conditional,
            batch_size=self.batch_size,
            num_negatives=0 if supcon else num_negatives,
            time_offset=self.time_offset,
            delta=self.delta,
            hybrid=self.hybrid,
            generator=torch.Generator(device=device),
        )
        solver = ContrastiveSolver(
            encoder,
            criterion,
            sampler,
            data,
            supcon_labels=[s.labels for s in sessions if s.labels is not None] if supcon else None,
        )
        return HeldOutLoss(solver, seed)

    def fit(self, X: Any, y: Any = None, *, resume: bool = False) -> Estimator:
        """Train the encoder on one recording or a list of recordings.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_neurons), DataFrame, h5py.Dataset, or list of them (several sessions)
            Neural data. A contiguous, uncompressed float32 ``h5py.Dataset`` is not loaded: it is mapped from the file
            and training reads only the windows it draws, so the recording need not fit in memory (on CPU).
        y : None, array-like of shape (n_samples,) or (n_samples, n_behaviour), DataFrame, tuple, or list per session
            Behaviour: continuous values for ``delta``/``time_delta``, integer labels for ``discrete``, a tuple
            ``(continuous, labels)`` for ``mixed``. Not needed for ``time``.
        resume : bool
            Continue from the last checkpoint in ``checkpoint_dir`` (same data and settings).

        Returns
        -------
        self : Estimator
        """
        self._check_params()
        self._check_stopping_params()
        t = self._prepare(X, y)
        arrays, behaviours, multi, device = t.arrays, t.behaviours, t.multi, t.device
        encoder, criterion, solver, optimizer, generator = (
            t.encoder,
            t.criterion,
            t.solver,
            t.optimizer,
            t.generator,
        )
        receptive_field, num_negatives = t.receptive_field, t.num_negatives
        monitor = t.early_stopping
        validation = None if monitor is None else (monitor, t.held_out_loss)
        start, history = 0, np.empty(0)
        checkpoint = None
        if self.checkpoint_dir is not None:
            checkpoint = Path(self.checkpoint_dir) / _CHECKPOINT_NAME
        if resume:
            if checkpoint is None:
                raise ValueError("fit(..., resume=True) needs checkpoint_dir to be set.")
            if checkpoint.exists():
                start, history = self._load_checkpoint(
                    checkpoint, encoder, criterion, optimizer, generator, arrays, validation
                )

        def after_step(i: int) -> str | None:
            stop = None
            if monitor is not None and (i + 1) % self.validation_every == 0:
                if monitor.update(i + 1):
                    stop = "early_stopping"
            if (
                checkpoint is not None
                and (i + 1) % self.checkpoint_every == 0
                and i + 1 < self.max_iterations
            ):
                past = np.concatenate([history, result_so_far()])
                self._write_checkpoint(
                    checkpoint,
                    i + 1,
                    encoder,
                    criterion,
                    optimizer,
                    generator,
                    past,
                    arrays,
                    validation,
                )
            return stop

        losses_so_far: list[torch.Tensor] = []

        def step(i: int) -> torch.Tensor:
            loss = solver.loss()
            losses_so_far.append(loss.detach())
            return loss

        def result_so_far() -> np.ndarray:
            return (
                torch.stack(losses_so_far).double().cpu().numpy() if losses_so_far else np.empty(0)
            )

        encoder.train()
        with flush_denormal(device), _autocast(device, self.precision):
            result = train_loop(
                step,
                optimizer,
                self.max_iterations,
                max_seconds=None if self.max_seconds is None else float(self.max_seconds),
                verbose=self.verbose,
                desc="neuroembed fit",
                after_step=after_step,
                start_iteration=start,
            )
            n_iter = start + result.n_iterations
            seconds = result.seconds
            if monitor is not None:
                # score the final weights too when training ended between two evaluations, then keep the best
                if not monitor.iterations or monitor.iterations[-1] != n_iter:
                    t0 = time.perf_counter()
                    monitor.update(n_iter)
                    seconds += time.perf_counter() - t0
                monitor.restore_best()
        encoder.eval()

        self.encoder_ = encoder
        self.criterion_ = criterion
        self.loss_history_ = np.concatenate([history, result.loss_history])
        self.n_iter_ = n_iter
        self.n_features_in_ = arrays[0].shape[1]
        self.session_n_features_ = [a.shape[1] for a in arrays]
        self.n_sessions_ = len(arrays)
        self.multisession_ = multi
        self.receptive_field_ = receptive_field
        self.num_negatives_ = int(num_negatives)
        self.temperature_ = float(getattr(criterion, "temperature", self.temperature))
        self.behaviour_dimension_ = (
            None if behaviours[0][0] is None else int(behaviours[0][0].shape[1])
        )
        self.fit_seconds_ = seconds
        self.device_ = device
        self.interrupted_ = result.interrupted
        self.stop_reason_ = result.stop_reason
        self.conditional_ = self._fit_conditional
        if monitor is None:
            self.validation_scores_ = self.validation_iterations_ = None
            self.best_validation_score_ = self.best_iteration_ = None
        else:
            self.validation_scores_ = np.asarray(monitor.scores, dtype=np.float64)
            self.validation_iterations_ = np.asarray(monitor.iterations, dtype=np.int64)
            self.best_validation_score_ = float(monitor.best_score)
            self.best_iteration_ = monitor.best_iteration
        return self

    # ------------------------------------------------------------------------------------------------------------
    # checkpoints
    # ------------------------------------------------------------------------------------------------------------
    def _fingerprint(self, arrays: list[np.ndarray]) -> list[list[float]]:
        return [
            [
                float(a.shape[0]),
                float(a.shape[1]),
                float(np.float64(a[:: max(1, a.shape[0] // 97)].sum())),
            ]
            for a in arrays
        ]

    def _write_checkpoint(
        self, path, iteration, encoder, criterion, optimizer, generator, history, arrays, validation
    ) -> None:
        payload: dict[str, Any] = {
            "iteration": iteration,
            "params": json.dumps(_jsonable_params(self.get_params())),
            "fingerprint": json.dumps(self._fingerprint(arrays)),
            "encoder": encoder.state_dict(),
            "criterion": criterion.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
            "loss_history": torch.from_numpy(np.asarray(history, dtype=np.float64)),
        }
        if validation is not None:
            # early stopping: its scores, best weights and patience, and the seed of the held-out batches
            monitor, held_out_loss = validation
            payload["validation"] = {**monitor.state_dict(), "seed": held_out_loss.seed}
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    def _load_checkpoint(
        self, path, encoder, criterion, optimizer, generator, arrays, validation
    ) -> tuple[int, np.ndarray]:
        payload = _safe_torch_load(path, "checkpoint")
        params = json.loads(payload["params"])
        mine = _jsonable_params(self.get_params())
        differing = [k for k in mine if k not in _RESUMABLE_PARAMS and params.get(k) != mine[k]]
        if differing:
            raise ValueError(
                f"the checkpoint at {path} was made with other settings ({', '.join(differing)}); cannot resume."
            )
        if json.loads(payload["fingerprint"]) != self._fingerprint(arrays):
            raise ValueError(f"the checkpoint at {path} was made on other data; cannot resume.")
        try:
            encoder.load_state_dict(payload["encoder"])
            criterion.load_state_dict(payload["criterion"])
            optimizer.load_state_dict(payload["optimizer"])
            generator.set_state(payload["generator"])
            if validation is not None:
                monitor, held_out_loss = validation
                state = payload["validation"]
                # with random_state=None this run drew other held-out batches: take the first run's
                if int(state["seed"]) != held_out_loss.seed:
                    held_out_loss.draw(int(state["seed"]))
                monitor.load_state_dict(state)
            return int(payload["iteration"]), payload["loss_history"].numpy()
        except (RuntimeError, KeyError, TypeError, ValueError) as err:
            reason = str(err).strip().splitlines()[-1].strip()
            raise ValueError(
                f"the checkpoint at {path} does not fit this model and its settings ({reason}); delete it to "
                "start afresh."
            ) from None

    # ------------------------------------------------------------------------------------------------------------
    # transform / score
    # ------------------------------------------------------------------------------------------------------------
    def _session_index(self, session: int | None) -> int:
        if session is None:
            if self.n_sessions_ > 1:
                raise ValueError(
                    f"this model was fitted on {self.n_sessions_} sessions; pass session=0..{self.n_sessions_ - 1}."
                )
            return 0
        if isinstance(session, bool) or not isinstance(session, (int, np.integer)):
            raise TypeError(f"session must be an int; got {session!r}.")
        if not 0 <= session < self.n_sessions_:
            raise ValueError(
                f"session={session} is out of range; this model has sessions 0..{self.n_sessions_ - 1}."
            )
        return int(session)

    def _check_n_features(self, data: np.ndarray, s: int) -> np.ndarray:
        expected = self.session_n_features_[s]
        if data.shape[1] != expected:
            where = "" if self.n_sessions_ == 1 else f" for session {s}"
            raise ValueError(
                f"X has {data.shape[1]} features, but {type(self).__name__} is expecting {expected} features "
                f"as input (the neurons seen in fit{where})."
            )
        return data

    def transform(
        self, X: Any, session: int | None = None, *, chunk_size: int = 16384
    ) -> np.ndarray:
        """Embed every sample of a recording.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_neurons), DataFrame, or h5py.Dataset
            An ``h5py.Dataset`` is streamed in chunks and never loaded whole.
        session : int, optional
            Which session's input layer to use (required after a multi-session fit).
        chunk_size : int
            Rows per chunk on the device.

        Returns
        -------
        ndarray of shape (n_samples, output_dimension)
            One row per input sample (the recording is edge-padded by the receptive field).
        """
        check_is_fitted(self)
        s = self._session_index(session)
        n_features = self.session_n_features_[s]
        if _is_h5_dataset(X):
            if len(X.shape) != 2 or X.shape[1] != n_features or X.dtype.kind not in "biuf":
                raise ValueError(
                    f"the HDF5 dataset must be numeric with shape (n_samples, {n_features}); got shape {X.shape}, dtype {X.dtype}."
                )
            if X.shape[0] == 0:
                raise ValueError("the HDF5 dataset is empty (0 samples).")
            data = _FiniteChecked(X)
        else:
            if _is_sparse(X):
                raise TypeError(
                    "sparse input is not supported; convert the neural data with .toarray() first."
                )
            if hasattr(X, "columns") and hasattr(self, "feature_names_in_"):
                names = np.asarray([str(c) for c in X.columns], dtype=object)
                if (
                    names.shape != self.feature_names_in_.shape
                    or (names != self.feature_names_in_).any()
                ):
                    raise ValueError(
                        "the DataFrame's columns differ from those seen in fit (feature_names_in_)."
                    )
            data = self._check_n_features(V.check_neural(X, "neural"), s)
        encoder = self.encoder_
        stem = encoder.stems[s]
        with flush_denormal(self.device_):
            return embed(
                stem,
                encoder.trunk,
                data,
                self.receptive_field_,
                self.device_,
                chunk_size=chunk_size,
                verbose=self.verbose,
            )

    def score(self, X: Any, y: Any = None, session: int | None = None) -> float:
        """Negative InfoNCE (or SupCon) loss on data, averaged over a few seeded batches (higher is better).

        Parameters
        ----------
        X, y : as in :meth:`fit` for a single session.
        session : int, optional
            Input layer to use after a multi-session fit.
        """
        check_is_fitted(self)
        s = self._session_index(session)
        self._fit_conditional = self.conditional_
        arrays, behaviours, multi = self._check_sessions(X, y)
        if multi:
            raise ValueError("score takes one session at a time; pass one array and session=i.")
        a = self._check_n_features(arrays[0], s)
        cont, disc = behaviours[0]
        left, right = window_offsets(self.receptive_field_)
        n_valid = a.shape[0] - self.receptive_field_ + 1
        if n_valid < 2:
            raise ValueError(
                f"score needs at least two windows of the receptive field ({self.receptive_field_} samples) to draw "
                f"a positive pair; got {a.shape[0]} samples. Pass at least {self.receptive_field_ + 1} samples."
            )
        device = self.device_
        batch_size = min(self.batch_size, n_valid)
        session_data = SessionData(
            a.shape[0],
            left,
            right,
            None if cont is None else torch.from_numpy(cont).to(device),
            None if disc is None else torch.from_numpy(disc).to(device),
        )
        generator = torch.Generator(device=device)
        generator.manual_seed(0)
        sampler = ContrastiveSampler(
            [session_data],
            self._fit_conditional,
            batch_size=batch_size,
            num_negatives=0 if self.criterion == "supcon" else min(self.num_negatives_, n_valid),
            time_offset=self.time_offset,
            delta=self.delta,
            hybrid=self.hybrid,
            generator=generator,
        )
        view = _SessionView(self.encoder_, s)
        solver = ContrastiveSolver(
            view,
            self.criterion_,
            sampler,
            [torch.from_numpy(a).to(device)],
            supcon_labels=[session_data.labels] if self.criterion == "supcon" else None,
        )
        with torch.no_grad(), flush_denormal(device):
            losses = [float(solver.loss()) for _ in range(_SCORE_BATCHES)]
        return -float(np.mean(losses))

    # ------------------------------------------------------------------------------------------------------------
    # persistence
    # ------------------------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model: weights as tensors, settings as JSON (no pickled objects)."""
        check_is_fitted(self)
        config = {
            "format": _FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "params": _jsonable_params(self.get_params()),
            "fitted": {
                "n_iter_": self.n_iter_,
                "n_features_in_": self.n_features_in_,
                "session_n_features_": self.session_n_features_,
                "n_sessions_": self.n_sessions_,
                "multisession_": self.multisession_,
                "receptive_field_": self.receptive_field_,
                "num_negatives_": self.num_negatives_,
                "temperature_": self.temperature_,
                "behaviour_dimension_": self.behaviour_dimension_,
                "fit_seconds_": self.fit_seconds_,
                "interrupted_": self.interrupted_,
                "stop_reason_": self.stop_reason_,
                "conditional_": self.conditional_,
                "validation_scores_": _optional_list(self.validation_scores_),
                "validation_iterations_": _optional_list(self.validation_iterations_),
                "best_validation_score_": self.best_validation_score_,
                "best_iteration_": self.best_iteration_,
                "feature_names_in_": None
                if not hasattr(self, "feature_names_in_")
                else [str(c) for c in self.feature_names_in_],
            },
            "versions": {
                "neuroembed": _version(),
                "torch": torch.__version__,
                "numpy": np.__version__,
                "scikit-learn": sklearn.__version__,
                "python": platform.python_version(),
            },
        }
        payload = {
            "config": json.dumps(config),
            "encoder": {k: v.detach().cpu() for k, v in self.encoder_.state_dict().items()},
            "criterion": {k: v.detach().cpu() for k, v in self.criterion_.state_dict().items()},
            "loss_history": torch.from_numpy(np.asarray(self.loss_history_, dtype=np.float64)),
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> Estimator:
        """Read a model written by :meth:`save`, without unpickling any Python object from the file.

        Parameters
        ----------
        path : str or PathLike
        device : str
            Where to put the weights (``"auto"``, ``"cpu"``, ...).
        """
        payload = _safe_torch_load(path, "model file")
        if not isinstance(payload, dict) or "config" not in payload or "encoder" not in payload:
            raise ValueError(f"{path} is not a neuroembed model file (no config/weights found).")
        try:
            config = json.loads(payload["config"])
        except (TypeError, json.JSONDecodeError):
            raise ValueError(
                f"{path} has an unreadable config; it is not a neuroembed model file."
            ) from None
        if config.get("format") != _FORMAT_NAME:
            raise ValueError(
                f"{path} is not a neuroembed model file (format {config.get('format')!r})."
            )
        version = config.get("format_version")
        if version != FORMAT_VERSION:
            written = config.get("versions", {}).get("neuroembed", "unknown")
            newer = isinstance(version, int) and version > FORMAT_VERSION
            raise ValueError(
                f"{path} uses model-file format version {version} (written by neuroembed {written}), but this "
                f"neuroembed ({_version()}) reads version {FORMAT_VERSION}; "
                + (
                    "upgrade neuroembed to read it."
                    if newer
                    else "re-fit the model or load it with the older neuroembed and save it again."
                )
            )
        params = dict(config["params"])
        params["device"] = device
        est = cls(**params)
        fitted = config["fitted"]
        dev = resolve_device(device)
        encoders = [
            make_encoder(
                est.model,
                n,
                est.num_hidden_units,
                est.output_dimension,
                normalize=est.distance == "cosine",
            )
            for n in fitted["session_n_features_"]
        ]
        encoder = MultiSessionEncoder(encoders)
        if est.criterion == "supcon":
            criterion: torch.nn.Module = SupCon(temperature=est.temperature, distance=est.distance)
        else:
            criterion = InfoNCE(
                temperature=est.temperature,
                distance=est.distance,
                learnable=est.temperature_mode == "learnable",
                min_temperature=min(est.min_temperature, est.temperature),
            )
        try:
            encoder.load_state_dict(payload["encoder"])
            criterion.load_state_dict(payload["criterion"])
        except (RuntimeError, KeyError, TypeError) as err:
            reason = str(err).strip().splitlines()[-1].strip()
            raise ValueError(
                f"{path}: the weights in the file do not fit the model its settings describe ({reason}); the "
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
            **fitted,
        }
        for key, value in fitted.items():
            if key == "feature_names_in_":
                if value is not None:
                    est.feature_names_in_ = np.asarray(value, dtype=object)
            elif key in ("validation_scores_", "validation_iterations_") and value is not None:
                dtype = np.float64 if key == "validation_scores_" else np.int64
                setattr(est, key, np.asarray(value, dtype=dtype))
            else:
                setattr(est, key, value)
        est.device_ = dev
        return est

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        # a time budget makes the number of iterations, and so the model, depend on the machine's speed
        tags.non_deterministic = self.random_state is None or self.max_seconds is not None
        return tags


@dataclass
class _Training:
    """Everything one training run works with (built by ``Estimator._prepare``)."""

    arrays: list[np.ndarray]
    behaviours: list[tuple[np.ndarray | None, np.ndarray | None]]
    multi: bool
    device: torch.device
    generator: torch.Generator
    encoder: MultiSessionEncoder
    criterion: torch.nn.Module
    solver: ContrastiveSolver
    optimizer: torch.optim.Optimizer
    receptive_field: int
    num_negatives: int
    early_stopping: EarlyStopping | None = None
    held_out_loss: HeldOutLoss | None = None


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """Move an array to the device once; through pinned memory (an asynchronous copy) on CUDA."""
    tensor = torch.from_numpy(array)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def _autocast(device: torch.device, precision: str) -> Any:
    """Mixed precision for the forward pass (``"float32"`` disables it)."""
    if precision == "float32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


class _SessionView(torch.nn.Module):
    """Present session ``s`` of a multi-session encoder as a one-session model (for scoring)."""

    def __init__(self, encoder: MultiSessionEncoder, session: int) -> None:
        super().__init__()
        self.stems = torch.nn.ModuleList([encoder.stems[session]])
        self.trunk = encoder.trunk
        self.receptive_field = encoder.receptive_field


class _FiniteChecked:
    """Wrap an array-like so that each slice read is checked for NaN/inf (for streamed HDF5 input)."""

    def __init__(self, data: Any) -> None:
        self._data = data
        self.shape = data.shape

    def __getitem__(self, key: Any) -> np.ndarray:
        block = np.asarray(self._data[key])
        start = key.start if isinstance(key, slice) else 0
        _check_block_finite(block, start or 0, "the HDF5 dataset")
        return block


def _is_sparse(x: Any) -> bool:
    return type(x).__module__.startswith("scipy.sparse")


def _looks_like_arrays(y: Any) -> bool:
    return isinstance(y, list) and len(y) > 0 and all(hasattr(v, "shape") for v in y)


def _jsonable_params(params: dict[str, Any]) -> dict[str, Any]:
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
        out[key] = value
    return out


def _optional_list(values: np.ndarray | None) -> list[Any] | None:
    """An array as a JSON list (NaN scores stay NaN: Python's json reads and writes them)."""
    return None if values is None else np.asarray(values).tolist()


def _safe_torch_load(path: Any, what: str) -> Any:
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

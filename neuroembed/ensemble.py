"""An ensemble of seeds as one scikit-learn estimator: :class:`Ensemble`.

Contrastive embeddings depend on the initialisation: two seeds give embeddings that agree up to a rotation (with
the cosine distance) or an affine map, and differ a little beyond it. :class:`Ensemble` fits the same
:class:`~neuroembed.estimator.Estimator` several times with derived seeds, aligns every member's embedding of the
training data onto a common frame with :func:`neuroembed.metrics.fit_alignment` (in chunks), and averages the
aligned embeddings.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from neuroembed import _persistence as _P
from neuroembed import _pynapple as PN
from neuroembed import _validation as V
from neuroembed._files import atomic_path
from neuroembed._persistence import jsonable_params as _jsonable_params
from neuroembed._persistence import safe_torch_load as _safe_torch_load
from neuroembed._persistence import version as _version
from neuroembed._persistence import versions as _versions
from neuroembed._training import is_sessions, refuse_wrapped_sessions
from neuroembed.estimator import Estimator
from neuroembed.metrics.alignment import ALIGNMENT_METHODS, Alignment, _common_frame
from neuroembed.solver import resolve_device

__all__ = ["ENSEMBLE_FORMAT_VERSION", "Ensemble"]

ENSEMBLE_FORMAT_VERSION = 1
"""Version of the ensemble-file layout written by :meth:`Ensemble.save`."""

_FORMAT_NAME = _P.ENSEMBLE_FORMAT_NAME
_MODEL_FORMAT_NAME = _P.FORMAT_NAME  # what Estimator.save writes
_CHUNK = 65536


def _is_session_list(X: Any) -> bool:
    """Whether ``X`` is several sessions, as :meth:`Estimator.fit` reads it: arrays or pynapple recordings."""
    return is_sessions(X)


def _blocks(member: Any, n_dims: int) -> list[slice]:
    """The parts of a member's embedding (an estimator fitted with ``objectives``), else the whole of it."""
    parts = getattr(member, "parts_", None)
    return list(parts.values()) if parts else [slice(0, n_dims)]


def _aligned_by_part(
    embeddings: list[np.ndarray], blocks: list[slice], **kwargs: Any
) -> list[Alignment]:
    """Each member's map into the common frame, fitted part by part (a map never mixes two parts: each has its
    own positives, and on the sphere its own sphere) and put together block-diagonally."""
    per_block = [
        _common_frame([z[:, b] for z in embeddings], chunk_size=_CHUNK, **kwargs)[0] for b in blocks
    ]
    n_dims = blocks[-1].stop
    out = []
    for maps in zip(*per_block):
        weights, bias = np.zeros((n_dims, n_dims)), np.zeros(n_dims)
        for b, m in zip(blocks, maps):
            weights[b, b] = m.weights
            bias[b] = m.bias
        rmse = float(np.sqrt(sum(m.rmse**2 for m in maps)))
        out.append(Alignment(maps[0].method, weights, bias, maps[0].scale, maps[0].n_samples, rmse))
    return out


def _member_seeds(random_state: Any, n: int) -> list[int]:
    """``n`` independent member seeds derived from ``random_state`` (``numpy.random.SeedSequence.spawn``).

    The first ``k`` seeds do not depend on ``n``: adding members keeps the existing ones.
    """
    if random_state is None:
        entropy = None
    elif isinstance(random_state, np.random.RandomState):
        entropy = int(random_state.randint(0, 2**31 - 1))
    elif isinstance(random_state, np.random.Generator):
        entropy = int(random_state.integers(0, 2**63 - 1))
    elif isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int; got {random_state}.")
        entropy = int(random_state)
    else:
        raise TypeError(
            f"random_state must be None, an int or a numpy Generator; got {random_state!r}."
        )
    children = np.random.SeedSequence(entropy).spawn(n)
    return [int(child.generate_state(1, dtype=np.uint32)[0]) for child in children]


def _writable(data: Any) -> Any:
    """Copy read-only arrays (joblib hands large ones to worker processes as read-only memory maps, which torch
    warns about); sessions in lists and behaviour tuples are handled item by item."""
    if isinstance(data, np.ndarray) and not data.flags.writeable:
        return np.array(data)
    if isinstance(data, list):
        return [_writable(d) for d in data]
    if isinstance(data, tuple):
        return tuple(_writable(d) for d in data)
    return data


def _lazy_inputs(X: Any, y: Any) -> str | None:
    """Name the first input that cannot be sent to another process (an open h5py object), if any."""
    for item in (X if isinstance(X, list) else [X]) + (y if isinstance(y, list) else [y]):
        if type(item).__module__.startswith("h5py"):
            return f"an open {type(item).__module__.split('.')[0]}.{type(item).__name__}"
    return None


def _member_error(err: BaseException, index: int, n: int, seed: int) -> BaseException:
    """The member's exception, of the same type where possible, with a message that names the member."""
    message = f"ensemble member {index} of {n} (random_state={seed}) failed: {err}"
    try:
        wrapped = type(err)(message)
    except Exception:  # noqa: BLE001 - an exception type whose constructor takes other arguments
        return RuntimeError(f"{message} ({type(err).__name__})")
    return wrapped if str(wrapped) == message else RuntimeError(message)


def _fit_member(
    member: Any,
    X: Any,
    y: Any,
    index: int,
    n: int,
    seed: int,
    n_threads: int | None,
    epochs: Any = None,
) -> Any:
    """Fit one member; in a worker process with ``n_threads`` torch threads (the setting is restored after)."""
    previous = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(n_threads)
        X, y = _writable(X), _writable(y)
    try:
        return member.fit(X, y, **({} if epochs is None else {"epochs": epochs}))
    except Exception as err:
        raise _member_error(err, index, n, seed) from err
    finally:
        if n_threads is not None:
            torch.set_num_threads(previous)


class Ensemble(TransformerMixin, BaseEstimator):
    """Several seeds of one estimator, aligned into one frame and averaged.

    ``fit`` clones ``estimator`` ``n_estimators`` times, gives each clone its own ``random_state`` (derived from
    this one's), and fits every clone on the same data. Each member's embedding of the training data (all
    sessions, one after another) is then aligned onto a common frame, that of member ``reference`` or the
    generalised-Procrustes mean (:func:`neuroembed.metrics.align_embeddings`), giving one map per member
    (``alignments_``). ``transform`` embeds with every member, maps each embedding into the common frame and
    averages them. When the members use ``distance="cosine"`` their embeddings live on the unit sphere: the
    alignment is then a rotation about the origin (no translation), which maps the sphere onto itself, and the
    average, which lies inside the sphere, is scaled back to unit length row by row, so that the ensemble's
    embedding is used like a member's (for the euclidean distance it is the plain average).

    Parameters
    ----------
    estimator : Estimator or None
        The template, with every setting the members share (its ``random_state`` is replaced by each member's).
        ``None``: ``Estimator()``. Any estimator with ``fit``, ``transform`` and a ``random_state`` parameter
        works (``save`` needs :class:`~neuroembed.estimator.Estimator` members). Nested parameters are set as
        ``estimator__max_iterations`` (``set_params``, ``GridSearchCV``). A template's ``checkpoint_dir`` is
        given to member ``i`` as its subfolder ``member{i}``.
    n_estimators : int
        Number of members.
    alignment : {"procrustes", "linear"}
        How members are mapped into the common frame: an orthogonal map (plus a translation for the euclidean
        distance), or any affine map fitted by least squares (see :func:`neuroembed.metrics.fit_alignment`).
    reference : int or "mean"
        The common frame: that of member ``reference``, or (``alignment="procrustes"`` only) the generalised
        Procrustes mean of all members, which favours none of them.
    n_jobs : int or None
        Members fitted at the same time, each in its own worker process (joblib's ``loky`` backend) with its
        share of the CPU cores as torch threads. ``None`` or 1: one after another in this process. ``-1``: as
        many as there are cores. The members are the same whatever ``n_jobs`` is. On a GPU leave it at ``None``.
    random_state : int, numpy Generator or None
        Seed from which the members' seeds are derived (:class:`numpy.random.SeedSequence`); the same seed gives
        the same members, and the first ``k`` members do not change when ``n_estimators`` grows.
    verbose : bool
        Show a progress bar over the members (each member's own bar is its ``verbose``).

    Attributes
    ----------
    estimators_ : list of Estimator
        The fitted members; ``estimators_[i].random_state`` is member ``i``'s seed.
    alignments_ : list of Alignment
        Member ``i``'s map into the common frame (``weights`` of shape (output_dimension, n_components_),
        ``bias``); the reference member's is the identity.
    n_components_ : int
        Dimension of the ensemble's embedding (that of the reference member).
    normalize_ : bool
        Whether ``transform`` scales rows to unit length (the members use the cosine distance).
    n_features_in_ : int
        Neurons seen in ``fit`` (first session).
    feature_names_in_ : ndarray of str
        Column names when ``fit`` got a DataFrame.
    n_sessions_ : int
    session_n_features_ : list of int
    fit_seconds_ : float
        Wall time of fitting all members and the alignment.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroembed import Estimator
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(2.0, size=(300, 20)).astype("float32")
    >>> template = Estimator(model="offset5", conditional="time", time_offset=2, batch_size=32,
    ...                      max_iterations=5, device="cpu")
    >>> ens = Ensemble(template, n_estimators=3, random_state=0).fit(X)
    >>> Z = ens.transform(X)
    >>> Z.shape, len(ens.estimators_), bool(np.allclose(np.linalg.norm(Z, axis=1), 1.0))
    ((300, 8), 3, True)
    >>> ens.set_params(estimator__max_iterations=10).get_params()["estimator__max_iterations"]
    10
    """

    def __init__(
        self,
        estimator: Any = None,
        n_estimators: int = 4,
        alignment: str = "procrustes",
        reference: int | str = 0,
        n_jobs: int | None = None,
        random_state: Any = None,
        verbose: bool = False,
    ) -> None:
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.alignment = alignment
        self.reference = reference
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------------------------------------------------
    def _template(self) -> Any:
        template = Estimator() if self.estimator is None else self.estimator
        if isinstance(template, type):
            raise TypeError(
                f"estimator must be an estimator instance such as Estimator(...); got the class {template.__name__}."
            )
        missing = [m for m in ("fit", "transform", "get_params") if not hasattr(template, m)]
        if missing or "random_state" not in template.get_params(deep=False):
            raise TypeError(
                "estimator must be a neuroembed Estimator, or an estimator with fit, transform and a "
                f"random_state parameter; got {type(template).__name__}"
                + (
                    f" (it has no {', '.join(missing)})."
                    if missing
                    else " (no random_state parameter)."
                )
            )
        return template

    def _check_params(self) -> None:
        n = V.check_positive_int(self.n_estimators, "n_estimators")
        if not isinstance(self.alignment, str):
            raise TypeError(
                f"alignment must be one of {list(ALIGNMENT_METHODS)}; got {self.alignment!r}."
            )
        V.check_choice(self.alignment, "alignment", ALIGNMENT_METHODS)
        ref = self.reference
        if isinstance(ref, str):
            if ref != "mean":
                raise ValueError(
                    f"reference={ref!r} is not supported; use a member index 0..{n - 1} or 'mean'."
                )
            if self.alignment != "procrustes":
                raise ValueError(
                    "reference='mean' (generalised Procrustes) needs alignment='procrustes'; with "
                    "alignment='linear' use a member index such as reference=0."
                )
        elif isinstance(ref, bool) or not isinstance(ref, (int, np.integer)):
            raise TypeError(f"reference must be a member index (int) or 'mean'; got {ref!r}.")
        elif not 0 <= ref < n:
            raise ValueError(
                f"reference={ref} is out of range for n_estimators={n}; use 0..{n - 1} or 'mean'."
            )
        if self.n_jobs is not None:
            if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, (int, np.integer)):
                raise TypeError(
                    f"n_jobs must be None or an int (-1: all cores); got {self.n_jobs!r}."
                )
            if self.n_jobs == 0:
                raise ValueError(
                    "n_jobs=0 has no meaning; use None or 1 (one member after another), a positive int, or "
                    "-1 (all cores)."
                )
        if not isinstance(self.verbose, (bool, np.bool_)):
            raise TypeError(f"verbose must be True or False; got {self.verbose!r}.")

    # ------------------------------------------------------------------------------------------------------------
    # fit
    # ------------------------------------------------------------------------------------------------------------
    def _fit_members(
        self, members: list[Any], seeds: list[int], X: Any, y: Any, epochs: Any = None
    ) -> list[Any]:
        n = len(members)
        n_workers = min(n, joblib.effective_n_jobs(self.n_jobs))
        bar = tqdm(total=n, desc="neuroembed ensemble", disable=not self.verbose, leave=False)
        try:
            if n_workers == 1:
                fitted = []
                for i, (member, seed) in enumerate(zip(members, seeds)):
                    fitted.append(_fit_member(member, X, y, i, n, seed, None, epochs))
                    if getattr(fitted[-1], "interrupted_", False):
                        # Ctrl-C stops a member's training and keeps its iterations; stop the ensemble too
                        raise KeyboardInterrupt(
                            f"ensemble fit interrupted while training member {i} of {n}."
                        )
                    bar.update()
                return fitted
            lazy = _lazy_inputs(X, y)
            if lazy:
                raise ValueError(
                    f"n_jobs={self.n_jobs} sends the data to worker processes, which cannot receive {lazy}; "
                    "use n_jobs=None, or load the data into memory first (dataset[()])."
                )
            # processes, not threads: each fit seeds torch's global generator while it builds its network,
            # which threads would share (and race on); each worker gets its share of the cores
            n_threads = max(1, joblib.cpu_count() // n_workers)
            jobs = (
                joblib.delayed(_fit_member)(member, X, y, i, n, seed, n_threads, epochs)
                for i, (member, seed) in enumerate(zip(members, seeds))
            )
            fitted = []
            for member in joblib.Parallel(n_jobs=n_workers, backend="loky", return_as="generator")(
                jobs
            ):
                fitted.append(member)
                bar.update()
            return fitted
        finally:
            bar.close()

    def _embed_training(self, member: Any, X: Any, multi: bool) -> list[np.ndarray]:
        """A member's embedding of the training data, one array per session (a pynapple session's rows are its
        bins, not ``len`` of the object)."""
        if not multi:
            return [np.asarray(member.transform(X))]
        return [np.asarray(member.transform(x, session=s)) for s, x in enumerate(X)]

    def _as_input(self, Z: np.ndarray, X: Any) -> Any:
        """``Z`` as a ``TsdFrame`` on ``X``'s time index when ``X`` is a pynapple object, else ``Z``."""
        if PN.is_pynapple(X):
            return PN.as_tsdframe(Z, PN.neural(X, getattr(self.estimators_[0], "bin_size", None)))
        return Z

    def fit(self, X: Any, y: Any = None, *, epochs: Any = None) -> Ensemble:
        """Fit every member on the data, then align them into the common frame.

        Parameters
        ----------
        X, y
            As in :meth:`Estimator.fit <neuroembed.estimator.Estimator.fit>`: one recording
            ``(n_samples, n_neurons)`` with optional behaviour, or lists of them (several sessions, one shared
            space); pynapple objects too.
        epochs : optional
            As in :meth:`Estimator.fit <neuroembed.estimator.Estimator.fit>`: the samples every member trains on.

        Returns
        -------
        self : Ensemble
        """
        self._check_params()
        start = time.perf_counter()
        self._fit(X, y, epochs)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _fit(self, X: Any, y: Any, epochs: Any = None) -> list[np.ndarray]:
        """Fit members and alignments; return the members' training embeddings in the common frame, averaged."""
        template = self._template()
        n = int(self.n_estimators)
        seeds = _member_seeds(self.random_state, n)
        members = [clone(template).set_params(random_state=seed) for seed in seeds]
        folder = template.get_params(deep=False).get("checkpoint_dir")
        if (
            folder is not None
        ):  # a folder each: in one folder the members would overwrite one checkpoint file
            for k, member in enumerate(members):
                member.set_params(checkpoint_dir=os.path.join(os.fspath(folder), f"member{k}"))
        members = self._fit_members(members, seeds, X, y, epochs)
        multi = _is_session_list(X)
        per_session = [self._embed_training(m, X, multi) for m in members]
        lengths = [len(z) for z in per_session[0]]
        embeddings = [z[0] if len(z) == 1 else np.concatenate(z) for z in per_session]
        del per_session
        normalize = all(getattr(m, "distance", None) == "cosine" for m in members)
        reference = self.reference if isinstance(self.reference, str) else int(self.reference)
        first = members[0]
        self.estimators_ = members
        self.alignments_ = _aligned_by_part(
            embeddings,
            _blocks(first, embeddings[0].shape[1]),
            method=self.alignment,
            reference=reference,
            # on the sphere (cosine) a rotation about the origin; elsewhere a translation too
            center=not (normalize and self.alignment == "procrustes"),
        )
        self.n_components_ = int(self.alignments_[0].weights.shape[1])
        self.normalize_ = bool(normalize)
        if hasattr(first, "n_features_in_"):
            self.n_features_in_ = int(first.n_features_in_)
        else:
            self.n_features_in_ = int(np.shape(X[0] if multi else X)[1])
        if hasattr(first, "feature_names_in_"):
            self.feature_names_in_ = first.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.n_sessions_ = int(getattr(first, "n_sessions_", len(X) if multi else 1))
        self.session_n_features_ = list(
            getattr(first, "session_n_features_", [self.n_features_in_])
        )
        average = self._average(embeddings)
        if not multi:
            return [average]
        bounds = np.cumsum([0, *lengths])
        return [average[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def fit_transform(self, X: Any, y: Any = None, *, epochs: Any = None) -> Any:
        """Fit, and return the ensemble's embedding of the training data (without embedding it again).

        Returns
        -------
        ndarray of shape (n_samples, n_components_), or a list of them (one per session) after a multi-session fit;
        a pynapple input gives a ``TsdFrame`` on its time index (a session list of them, a list of ``TsdFrame``)
        """
        self._check_params()
        if _is_session_list(X):
            refuse_wrapped_sessions(self)
        start = time.perf_counter()
        out = self._fit(X, y, epochs)
        self.fit_seconds_ = time.perf_counter() - start
        if _is_session_list(X):
            return [self._as_input(z, x) for z, x in zip(out, X)]
        return self._as_input(out[0], X)

    # ------------------------------------------------------------------------------------------------------------
    # transform / score
    # ------------------------------------------------------------------------------------------------------------
    def _average(self, embeddings: list[np.ndarray]) -> np.ndarray:
        """Map each member's embedding into the common frame, average (in float64), re-normalise if on a sphere."""
        n = embeddings[0].shape[0]
        out = np.empty((n, self.n_components_), dtype=np.float32)
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            total = np.zeros((stop - start, self.n_components_))
            for z, m in zip(embeddings, self.alignments_):
                total += np.asarray(z[start:stop], dtype=np.float64) @ m.weights + m.bias
            total /= len(embeddings)
            if self.normalize_:  # each part back onto its sphere
                for block in _blocks(self.estimators_[0], self.n_components_):
                    norms = np.linalg.norm(total[:, block], axis=1, keepdims=True)
                    total[:, block] /= np.where(norms > 0, norms, 1.0)
            out[start:stop] = total
        return out

    def _member_kwargs(self, session: int | None) -> dict[str, Any]:
        return {} if session is None else {"session": session}

    def transform(self, X: Any, session: int | None = None) -> np.ndarray:
        """Embed with every member, map into the common frame, and average.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_neurons), DataFrame, or h5py.Dataset
            As in :meth:`Estimator.transform <neuroembed.estimator.Estimator.transform>`.
        session : int, optional
            Which session's input layer the members use (required after a multi-session fit). All sessions share
            one space, so each member has one map into the common frame for all of them.

        Returns
        -------
        ndarray of shape (n_samples, n_components_)
            float32; rows of unit length when the members use the cosine distance.
        """
        check_is_fitted(self)
        kwargs = self._member_kwargs(session)
        embeddings = [np.asarray(m.transform(X, **kwargs)) for m in self.estimators_]
        return self._as_input(self._average(embeddings), X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the averaged embedding's columns, ``dim0`` ... (for ``set_output(transform="pandas")``); the
        members' part names (``time0``, ...) when they were fitted with ``objectives``."""
        check_is_fitted(self)
        first = self.estimators_[0]
        if getattr(first, "parts_", None):
            return first.get_feature_names_out()
        return np.asarray([f"dim{i}" for i in range(int(self.n_components_))], dtype=object)

    def score(self, X: Any, y: Any = None, session: int | None = None) -> float:
        """Mean of the members' scores (negative InfoNCE on seeded batches; higher is better).

        The averaged embedding has no loss of its own (no temperature, no encoder), so the ensemble reports how
        well its members do on the data, which is what model selection (``GridSearchCV``) compares.

        Parameters
        ----------
        X, y : as in :meth:`Estimator.score <neuroembed.estimator.Estimator.score>`.
        session : int, optional
        """
        check_is_fitted(self)
        kwargs = self._member_kwargs(session)
        return float(np.mean([m.score(X, y, **kwargs) for m in self.estimators_]))

    # ------------------------------------------------------------------------------------------------------------
    # persistence
    # ------------------------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted ensemble to one file: each member as :meth:`Estimator.save` writes it (weights as
        tensors, settings as JSON), the alignment maps as tensors, the rest as JSON. No pickled objects."""
        check_is_fitted(self)
        for i, m in enumerate(self.estimators_):
            if not isinstance(m, Estimator):
                raise TypeError(
                    f"save writes neuroembed Estimator members; member {i} is a {type(m).__name__}."
                )
        template = self._template()
        config = {
            "format": _FORMAT_NAME,
            "format_version": ENSEMBLE_FORMAT_VERSION,
            "params": _jsonable_params(self.get_params(deep=False) | {"estimator": None}),
            "estimator_params": None
            if self.estimator is None
            else _jsonable_params(template.get_params(deep=False)),
            "fitted": {
                "n_components_": self.n_components_,
                "normalize_": self.normalize_,
                "n_features_in_": self.n_features_in_,
                "n_sessions_": self.n_sessions_,
                "session_n_features_": self.session_n_features_,
                "fit_seconds_": self.fit_seconds_,
                "feature_names_in_": None
                if not hasattr(self, "feature_names_in_")
                else [str(c) for c in self.feature_names_in_],
            },
            "alignments": [
                {"method": a.method, "scale": a.scale, "n_samples": a.n_samples, "rmse": a.rmse}
                for a in self.alignments_
            ],
            "versions": _versions(),
        }
        members = []
        with tempfile.TemporaryDirectory(prefix="neuroembed-ensemble-") as tmp:
            for i, m in enumerate(self.estimators_):
                file = Path(tmp) / f"member{i}.pt"
                m.save(file)
                members.append(_safe_torch_load(file, "model file"))
                file.unlink()
        payload = {
            "config": json.dumps(config),
            "members": members,
            "weights": [torch.from_numpy(np.array(a.weights)) for a in self.alignments_],
            "biases": [torch.from_numpy(np.array(a.bias)) for a in self.alignments_],
        }
        with atomic_path(path) as tmp_path:
            torch.save(payload, tmp_path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> Ensemble:
        """Read an ensemble written by :meth:`save`, without unpickling any Python object from the file.

        Parameters
        ----------
        path : str or PathLike
        device : str
            Where to put the members' weights (``"auto"``, ``"cpu"``, ...).
        """
        resolve_device(device)  # a device that is not there is the caller's mistake, not the file's
        payload = _safe_torch_load(path, "ensemble file")
        if not isinstance(payload, dict) or "config" not in payload:
            raise ValueError(f"{path} is not a neuroembed ensemble file (no config found).")
        try:
            config = json.loads(payload["config"])
        except (TypeError, json.JSONDecodeError):
            raise ValueError(
                f"{path} has an unreadable config; it is not a neuroembed ensemble file."
            ) from None
        kind = config.get("format") if isinstance(config, dict) else None
        if kind == _MODEL_FORMAT_NAME:
            raise ValueError(
                f"{path} holds a single model, not an ensemble; read it with neuroembed.Estimator.load."
            )
        if kind != _FORMAT_NAME:
            raise ValueError(f"{path} is not a neuroembed ensemble file (format {kind!r}).")
        version = config.get("format_version")
        if version != ENSEMBLE_FORMAT_VERSION:
            written = config.get("versions", {}).get("neuroembed", "unknown")
            newer = isinstance(version, int) and version > ENSEMBLE_FORMAT_VERSION
            raise ValueError(
                f"{path} uses ensemble-file format version {version} (written by neuroembed {written}), but this "
                f"neuroembed ({_version()}) reads version {ENSEMBLE_FORMAT_VERSION}; "
                + ("upgrade neuroembed to read it." if newer else "re-fit the ensemble.")
            )
        try:
            template_params = config["estimator_params"]
            template = (
                None
                if template_params is None
                else Estimator(**{**template_params, "device": device})
            )
            ens = cls(**{**config["params"], "estimator": template})
            members = []
            with tempfile.TemporaryDirectory(prefix="neuroembed-ensemble-") as tmp:
                for i, member in enumerate(payload["members"]):
                    file = Path(tmp) / f"member{i}.pt"
                    torch.save(member, file)
                    members.append(Estimator.load(file, device=device))
            alignments = [
                Alignment(
                    info["method"],
                    w.numpy(),
                    b.numpy(),
                    float(info["scale"]),
                    int(info["n_samples"]),
                    float(info["rmse"]),
                )
                for info, w, b in zip(
                    config["alignments"], payload["weights"], payload["biases"], strict=True
                )
            ]
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(
                f"{path} is damaged or was written by an incompatible version of neuroembed ({err})."
            ) from None
        if len(members) != len(alignments) or not members:
            raise ValueError(
                f"{path} is damaged: {len(members)} members but {len(alignments)} alignment maps."
            )
        ens.estimators_ = members
        ens.alignments_ = alignments
        for key, value in config["fitted"].items():
            if key == "feature_names_in_":
                if value is not None:
                    ens.feature_names_in_ = np.asarray(value, dtype=object)
            else:
                setattr(ens, key, value)
        return ens

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = self.random_state is None
        return tags

r"""Align embeddings onto one another: orthogonal Procrustes and affine least squares, computed in chunks.

Two embeddings of the same samples (two seeds, two models, CEBRA and neuroembed) usually differ by a rotation or
reflection (contrastive losses with the cosine distance are invariant under them), or more generally by an affine
map. :func:`fit_alignment` finds the map :math:`Z \mapsto Z W + b` that carries a ``source`` embedding onto a
``target`` one:

``"procrustes"``
    :math:`W = s R` with :math:`R` orthogonal (a rotation, possibly with a reflection) minimising
    :math:`\lVert (A - \bar A) R - (B - \bar B) \rVert_F` (the orthogonal Procrustes problem; with
    ``center=False`` the means are zero). :math:`R = U V^\top` from the singular value decomposition
    :math:`(A - \bar A)^\top (B - \bar B) = U \Sigma V^\top`. The scale :math:`s` is 1, or with ``scale=True``
    the least-squares one, :math:`\operatorname{tr}\Sigma / \lVert A - \bar A \rVert_F^2`.
``"linear"``
    Any affine map, by least squares: :math:`W = \big((A - \bar A)^\top (A - \bar A)\big)^{+} (A - \bar A)^\top
    (B - \bar B)` and :math:`b = \bar B - \bar A W` (without intercept when ``center=False``).

Both need only the means and the cross-product matrices :math:`A^\top B` and :math:`A^\top A`, of size
``(n_dims, n_dims)``. They are accumulated in float64 over blocks of ``chunk_size`` rows, merging the centred
moments of each block with those of the blocks before it (Chan, Golub & LeVeque's pairwise update, which does
not lose precision to large means), so memory stays that of one block whatever the number of samples, no
``(n_samples, n_samples)`` matrix is ever formed, and inputs can be anything sliceable by rows: NumPy arrays,
memory maps, ``h5py.Dataset`` objects read block by block from disk.

:func:`align_embeddings` puts several embeddings into one common frame (that of one of them, or their
generalised-Procrustes mean) and averages them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroembed._validation import (
    as_numeric_array,
    check_bool,
    check_choice,
    check_positive_float,
    check_positive_int,
    describe,
)

__all__ = [
    "ALIGNMENT_METHODS",
    "AlignedEmbeddings",
    "Alignment",
    "align",
    "align_embeddings",
    "fit_alignment",
]

#: The alignment methods, by name.
ALIGNMENT_METHODS = ("procrustes", "linear")

_DEFAULT_CHUNK = 65536


# ----------------------------------------------------------------------------------------------------------------
# reading inputs block by block
# ----------------------------------------------------------------------------------------------------------------
class _Rows:
    """A validated 2-D input that is read in blocks of rows, each converted to float64 and checked for NaN/inf.

    NumPy arrays, pandas objects, tensors and nested lists are converted once (without a copy where possible);
    other objects with ``shape``, ``dtype`` and row slicing (``h5py.Dataset``, zarr arrays) are read lazily.
    """

    def __init__(self, x: Any, name: str) -> None:
        self.name = name
        if _is_lazy(x):
            kind = np.dtype(x.dtype).kind
            if kind == "c":
                raise ValueError(
                    f"Complex data not supported: {name} has dtype {x.dtype}; expected real numbers."
                )
            if kind not in "biuf":
                raise TypeError(
                    f"{name} must hold real numbers (bool, int, unsigned or float dtype); got dtype {x.dtype}."
                )
            self.data: Any = x
        else:
            self.data = as_numeric_array(x, name)
        shape = tuple(int(s) for s in self.data.shape)
        if len(shape) != 2:
            raise ValueError(
                f"{name} must be 2-D (n_samples, n_dims); got {len(shape)}-D data of shape {shape}."
                + (" Reshape one dimension with z.reshape(-1, 1)." if len(shape) == 1 else "")
            )
        if shape[0] == 0 or shape[1] == 0:
            raise ValueError(
                f"{name} is empty (shape {shape}); expected at least one sample and one dimension."
            )
        self.shape = shape
        self.dtype = np.dtype(self.data.dtype)

    @property
    def n_samples(self) -> int:
        return self.shape[0]

    @property
    def n_dims(self) -> int:
        return self.shape[1]

    def block(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as float64, checked to be finite."""
        out = np.array(
            self.data[start:stop], dtype=np.float64
        )  # a copy: callers centre it in place
        if not np.isfinite(out).all():
            row = start + int(np.argwhere(~np.isfinite(out))[0][0])
            raise ValueError(
                f"{self.name} contains NaN or inf (first at row {row}); expected finite numbers."
            )
        return out


def _is_lazy(x: Any) -> bool:
    """Array-likes read block by block instead of converted whole (h5py, zarr, ...)."""
    if isinstance(x, np.ndarray) or hasattr(x, "to_numpy") or hasattr(x, "detach"):
        return False
    return hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "__getitem__")


def _blocks(n_samples: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n_samples, chunk_size):
        yield start, min(start + chunk_size, n_samples)


def _check_method(method: Any) -> str:
    if not isinstance(method, str):
        raise TypeError(
            f"method must be one of {list(ALIGNMENT_METHODS)}; got {method!r} ({type(method).__name__})."
        )
    return check_choice(method, "method", ALIGNMENT_METHODS)


# ----------------------------------------------------------------------------------------------------------------
# moments accumulated chunk by chunk
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class _Moments:
    """Means and (centred, or raw when ``center=False``) cross products of source ``A`` and target ``B``."""

    n: int
    mean_a: np.ndarray  # (p,)
    mean_b: np.ndarray  # (q,)
    c_ab: np.ndarray  # (p, q): sum of (a - mean_a)(b - mean_b)^T
    c_aa: np.ndarray  # (p, p)
    ss_b: float  # sum of |b - mean_b|^2


def _moments(source: _Rows, target: _Rows, chunk_size: int, center: bool) -> _Moments:
    p, q = source.n_dims, target.n_dims
    m = _Moments(0, np.zeros(p), np.zeros(q), np.zeros((p, q)), np.zeros((p, p)), 0.0)
    for start, stop in _blocks(source.n_samples, chunk_size):
        a = source.block(start, stop)
        b = target.block(start, stop)
        k = stop - start
        if not center:  # raw moments about the origin
            m.c_ab += a.T @ b
            m.c_aa += a.T @ a
            m.ss_b += float(np.einsum("ij,ij->", b, b))
            m.n += k
            continue
        mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
        a -= mean_a
        b -= mean_b
        total = m.n + k
        da, db = mean_a - m.mean_a, mean_b - m.mean_b
        weight = m.n * k / total
        m.c_ab += a.T @ b + weight * np.outer(da, db)
        m.c_aa += a.T @ a + weight * np.outer(da, da)
        m.ss_b += float(np.einsum("ij,ij->", b, b)) + weight * float(db @ db)
        m.mean_a += da * (k / total)
        m.mean_b += db * (k / total)
        m.n = total
    return m


# ----------------------------------------------------------------------------------------------------------------
# the fitted map
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Alignment:
    """An affine map ``Z -> Z @ weights + bias`` from a source embedding's frame to a target's.

    Made by :func:`fit_alignment`; apply it with :meth:`transform`.

    Attributes
    ----------
    method : {"procrustes", "linear"}
        How it was fitted.
    weights : ndarray of shape (n_source_dims, n_target_dims)
        For ``"procrustes"``, ``scale`` times an orthogonal matrix (:attr:`rotation`).
    bias : ndarray of shape (n_target_dims,)
        Zero when fitted with ``center=False``.
    scale : float
        The Procrustes scale (1.0 unless fitted with ``scale=True``); ``nan`` for ``"linear"``.
    n_samples : int
        Rows it was fitted on.
    rmse : float
        Root mean squared distance between the aligned source rows and the target rows they were fitted to,
        ``sqrt(sum_t |z_t W + b - y_t|^2 / n_samples)``. It is computed from the accumulated moments, without
        a second pass over the data, so it is exact to about ``1e-8`` times the size of the target (an exact
        fit reads as a few ``1e-8``, not 0).

    Examples
    --------
    >>> import numpy as np
    >>> m = Alignment("linear", weights=2 * np.eye(2), bias=np.array([1.0, 0.0]))
    >>> m.transform(np.array([[1.0, 1.0]]))
    array([[3., 2.]])
    """

    method: str
    weights: np.ndarray
    bias: np.ndarray
    scale: float = float("nan")
    n_samples: int = 0
    rmse: float = float("nan")

    def __post_init__(self) -> None:
        weights = np.array(self.weights, dtype=np.float64)
        bias = np.array(self.bias, dtype=np.float64)
        if weights.ndim != 2 or bias.shape != (weights.shape[1],):
            raise ValueError(
                f"weights must be (n_source_dims, n_target_dims) and bias (n_target_dims,); got shapes "
                f"{weights.shape} and {bias.shape}."
            )
        weights.setflags(write=False)
        bias.setflags(write=False)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "bias", bias)

    @property
    def n_source_dims(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_target_dims(self) -> int:
        return int(self.weights.shape[1])

    @property
    def rotation(self) -> np.ndarray:
        """The orthogonal part ``weights / scale`` of a Procrustes alignment."""
        if self.method != "procrustes":
            raise AttributeError(
                f"a {self.method!r} alignment has no rotation; only method='procrustes' fits one."
            )
        return self.weights / self.scale

    def transform(self, Z: Any, *, chunk_size: int = _DEFAULT_CHUNK) -> np.ndarray:
        """Map an embedding into the target's frame, block by block.

        Parameters
        ----------
        Z : array-like or h5py.Dataset of shape (n_samples, n_source_dims)
        chunk_size : int
            Rows converted to float64 at a time.

        Returns
        -------
        ndarray of shape (n_samples, n_target_dims)
            float32 when ``Z`` is float32, else float64.
        """
        rows = _Rows(Z, "Z")
        chunk_size = check_positive_int(chunk_size, "chunk_size")
        if rows.n_dims != self.n_source_dims:
            raise ValueError(
                f"Z has {rows.n_dims} dimensions, but this alignment maps {self.n_source_dims}-dimensional "
                "embeddings (the source it was fitted on)."
            )
        dtype = np.float32 if rows.dtype == np.float32 else np.float64
        out = np.empty((rows.n_samples, self.n_target_dims), dtype=dtype)
        for start, stop in _blocks(rows.n_samples, chunk_size):
            out[start:stop] = rows.block(start, stop) @ self.weights + self.bias
        return out


def _identity(n_dims: int, method: str, n_samples: int) -> Alignment:
    scale = 1.0 if method == "procrustes" else float("nan")
    return Alignment(method, np.eye(n_dims), np.zeros(n_dims), scale, n_samples, 0.0)


def _solve(m: _Moments, method: str, center: bool, scale: bool) -> Alignment:
    p, q = m.c_ab.shape
    if method == "procrustes":
        u, sigma, vt = np.linalg.svd(m.c_ab)
        rotation = u @ vt
        s = 1.0
        if scale:
            ss_a = float(np.trace(m.c_aa))
            s = float(sigma.sum()) / ss_a if ss_a > 0 else 1.0
        weights = s * rotation
    else:
        weights = np.linalg.lstsq(m.c_aa, m.c_ab, rcond=None)[0]
        s = float("nan")
    bias = m.mean_b - m.mean_a @ weights if center else np.zeros(q)
    # residual from the moments: |A_c W - B_c|^2 = tr(W^T C_aa W) - 2 tr(W^T C_ab) + |B_c|^2
    sse = (
        float(np.einsum("ij,ik,kj->", weights, m.c_aa, weights))
        - 2.0 * float(np.einsum("ij,ij->", weights, m.c_ab))
        + m.ss_b
    )
    rmse = float(np.sqrt(max(sse, 0.0) / m.n))
    return Alignment(method, weights, bias, s, m.n, rmse)


def fit_alignment(
    source: Any,
    target: Any,
    method: str = "procrustes",
    *,
    center: bool = True,
    scale: bool = False,
    chunk_size: int = _DEFAULT_CHUNK,
) -> Alignment:
    """Fit the map that carries ``source`` onto ``target`` (row ``t`` of one onto row ``t`` of the other).

    Parameters
    ----------
    source : array-like or h5py.Dataset of shape (n_samples, n_source_dims)
        The embedding to move. Anything with ``shape``, ``dtype`` and row slicing is read ``chunk_size`` rows
        at a time and never loaded whole.
    target : array-like or h5py.Dataset of shape (n_samples, n_target_dims)
        The embedding whose frame to move it into; the same samples in the same order.
    method : {"procrustes", "linear"}
        ``"procrustes"``: a rotation/reflection (times ``scale``) plus a translation, which keeps distances and
        angles; needs ``n_source_dims == n_target_dims``. ``"linear"``: any affine map, by least squares.
    center : bool
        Remove the means first (fit a translation / an intercept). ``False`` keeps the origin fixed, which is
        what embeddings on the unit sphere (``distance="cosine"``) need: a rotation about the origin maps the
        sphere onto itself.
    scale : bool
        ``"procrustes"`` only: also fit one global scale factor.
    chunk_size : int
        Rows per block. Memory is ``O(chunk_size * n_dims + n_dims**2)`` whatever ``n_samples`` is.

    Returns
    -------
    Alignment
        ``.transform(Z)`` applies it; ``.weights``, ``.bias``, ``.scale``, ``.rmse`` describe it.

    Raises
    ------
    ValueError
        Shapes that are not 2-D, differ in the number of samples, or (Procrustes) in the number of dimensions;
        empty inputs; NaN or inf; an unknown ``method``.
    TypeError
        Non-numeric inputs or arguments of the wrong type.

    See Also
    --------
    align : fit and apply in one call.
    align_embeddings : several embeddings into one frame.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import ortho_group
    >>> rng = np.random.default_rng(0)
    >>> target = rng.normal(size=(1000, 3))
    >>> rotation = ortho_group.rvs(3, random_state=0)
    >>> source = (target - 1.0) @ rotation.T      # rotated and shifted
    >>> m = fit_alignment(source, target, chunk_size=128)
    >>> np.allclose(m.weights, rotation), np.allclose(m.transform(source), target), m.rmse < 1e-6
    (True, True, True)
    """
    method = _check_method(method)
    center = check_bool(center, "center")
    scale = check_bool(scale, "scale")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    a, b = _Rows(source, "source"), _Rows(target, "target")
    if a.n_samples != b.n_samples:
        raise ValueError(
            f"source has {a.n_samples} samples (rows) but target has {b.n_samples}; alignment pairs row t of the "
            "source with row t of the target, so both need the same samples in the same order."
        )
    if method == "procrustes" and a.n_dims != b.n_dims:
        raise ValueError(
            f"method='procrustes' maps between spaces of the same dimension; source has {a.n_dims} dimensions "
            f"and target {b.n_dims}. Use method='linear' for embeddings of different sizes."
        )
    if scale and method != "procrustes":
        raise ValueError("scale=True applies to method='procrustes' only; 'linear' fits any scale.")
    return _solve(_moments(a, b, chunk_size, center), method, center, scale)


def align(
    source: Any,
    target: Any,
    method: str = "procrustes",
    *,
    center: bool = True,
    scale: bool = False,
    chunk_size: int = _DEFAULT_CHUNK,
) -> np.ndarray:
    """Move ``source`` into the frame of ``target``: ``fit_alignment(source, target, ...).transform(source)``.

    Parameters are those of :func:`fit_alignment`.

    Returns
    -------
    ndarray of shape (n_samples, n_target_dims)
        The aligned source (float32 when ``source`` is float32, else float64).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> target = rng.normal(size=(500, 2))
    >>> source = target @ np.array([[0.0, 1.0], [-1.0, 0.0]])    # a quarter turn
    >>> np.allclose(align(source, target), target)
    True
    >>> np.allclose(align(3 * source + 2, target, method="linear"), target)
    True
    """
    m = fit_alignment(source, target, method, center=center, scale=scale, chunk_size=chunk_size)
    return m.transform(source, chunk_size=chunk_size)


# ----------------------------------------------------------------------------------------------------------------
# several embeddings into one frame
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AlignedEmbeddings:
    """What :func:`align_embeddings` returns.

    Attributes
    ----------
    embeddings : list of ndarray of shape (n_samples, n_dims)
        Each input in the common frame.
    mean : ndarray of shape (n_samples, n_dims)
        Their average (float64).
    alignments : list of Alignment
        The map of each input into the common frame.
    n_iter : int
        Rounds of re-alignment to the mean that were run (0 with an int ``reference``).
    """

    embeddings: list[np.ndarray]
    mean: np.ndarray
    alignments: list[Alignment]
    n_iter: int


def _check_reference(reference: Any, n: int, method: str) -> int | str:
    if isinstance(reference, str):
        if reference != "mean":
            raise ValueError(
                f"reference={reference!r} is not supported; use an index 0..{n - 1} or 'mean'."
            )
        if method != "procrustes":
            raise ValueError(
                "reference='mean' (generalised Procrustes) needs method='procrustes': re-fitting least-squares "
                "maps to their own mean shrinks the mean a little more each round. Use reference=0 (or another "
                "index) with method='linear'."
            )
        return reference
    if isinstance(reference, bool) or not isinstance(reference, (int, np.integer)):
        raise TypeError(f"reference must be an int index or 'mean'; got {reference!r}.")
    if not -n <= reference < n:
        raise ValueError(
            f"reference={reference} is out of range for {n} embeddings; use 0..{n - 1} or 'mean'."
        )
    return int(reference) % n


def _mean_of_aligned(rows: list[_Rows], alignments: list[Alignment], chunk_size: int) -> np.ndarray:
    n, d = rows[0].n_samples, alignments[0].n_target_dims
    mean = np.zeros((n, d))
    for start, stop in _blocks(n, chunk_size):
        block = mean[start:stop]
        for r, m in zip(rows, alignments):
            block += r.block(start, stop) @ m.weights + m.bias
        block /= len(rows)
    return mean


def align_embeddings(
    embeddings: Sequence[Any],
    method: str = "procrustes",
    *,
    reference: int | str = 0,
    max_iter: int = 10,
    tol: float = 1e-9,
    center: bool = True,
    scale: bool = False,
    chunk_size: int = _DEFAULT_CHUNK,
) -> AlignedEmbeddings:
    """Put several embeddings of the same samples into one common frame, and average them.

    With an int ``reference``, every embedding is aligned onto ``embeddings[reference]`` (whose own map is the
    identity). With ``reference="mean"`` (generalised Procrustes), they are first aligned onto
    ``embeddings[0]``, then re-aligned onto the mean of the aligned embeddings, for at most ``max_iter`` rounds
    or until the mean moves by less than ``tol`` (relative to its size); the frame is then one that favours none
    of the inputs.

    Works on any embeddings given as arrays (neuroembed, CEBRA, PCA, ...): e.g. ten seeds of one model, to
    report their average or to compare them in one frame.

    Parameters
    ----------
    embeddings : sequence of array-like or h5py.Dataset, each of shape (n_samples, n_dims)
        At least one; the same samples in the same order. With ``"linear"`` the numbers of dimensions may
        differ (the frame is the reference's).
    method : {"procrustes", "linear"}
        See :func:`fit_alignment`.
    reference : int or "mean"
        Index of the embedding that gives the frame, or ``"mean"`` (``method="procrustes"`` only).
    max_iter : int
        Most rounds of re-alignment to the mean (``reference="mean"`` only).
    tol : float
        Stop when ``|mean_new - mean_old|_F <= tol * |mean_old|_F``.
    center, scale, chunk_size
        As in :func:`fit_alignment`. With ``scale=True`` and ``reference="mean"`` the mean is kept at the size of
        ``embeddings[0]`` (otherwise the common scale would drift).

    Returns
    -------
    AlignedEmbeddings
        ``.embeddings`` (each aligned), ``.mean``, ``.alignments``, ``.n_iter``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import ortho_group
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(400, 3))
    >>> runs = [Z @ ortho_group.rvs(3, random_state=s) for s in range(4)]   # the same embedding, rotated
    >>> out = align_embeddings(runs)
    >>> np.allclose(out.mean, runs[0]), len(out.alignments)
    (True, 4)
    >>> gpa = align_embeddings(runs, reference="mean")
    >>> bool(np.allclose(gpa.embeddings[1], gpa.embeddings[2]))
    True
    """
    alignments, mean, n_iter, rows = _common_frame(
        embeddings,
        method,
        reference=reference,
        max_iter=max_iter,
        tol=tol,
        center=center,
        scale=scale,
        chunk_size=chunk_size,
    )
    aligned = [m.transform(r.data, chunk_size=chunk_size) for r, m in zip(rows, alignments)]
    return AlignedEmbeddings(aligned, mean, alignments, n_iter)


def _common_frame(
    embeddings: Sequence[Any],
    method: str = "procrustes",
    *,
    reference: int | str = 0,
    max_iter: int = 10,
    tol: float = 1e-9,
    center: bool = True,
    scale: bool = False,
    chunk_size: int = _DEFAULT_CHUNK,
) -> tuple[list[Alignment], np.ndarray, int, list[_Rows]]:
    """:func:`align_embeddings` without the aligned copies: ``(alignments, mean, n_iter, validated inputs)``.

    For callers that only need the maps (the ensemble), so that memory holds the mean and not one aligned
    copy of every input as well.
    """
    if isinstance(embeddings, np.ndarray) or not isinstance(embeddings, Sequence):
        raise TypeError(
            f"embeddings must be a list of arrays, one per run; got {describe(embeddings)}. For a single 3-D "
            "array use list(array)."
        )
    if len(embeddings) == 0:
        raise ValueError("embeddings is an empty list; expected at least one embedding.")
    method = _check_method(method)
    center = check_bool(center, "center")
    scale = check_bool(scale, "scale")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    max_iter = check_positive_int(max_iter, "max_iter", minimum=0)
    tol = check_positive_float(tol, "tol", allow_zero=True)
    rows = [_Rows(z, f"embeddings[{i}]") for i, z in enumerate(embeddings)]
    ref = _check_reference(reference, len(rows), method)
    first = 0 if ref == "mean" else int(ref)
    n = rows[first].n_samples
    for i, r in enumerate(rows):
        if r.n_samples != n:
            raise ValueError(
                f"embeddings[{i}] has {r.n_samples} samples but embeddings[{first}] has {n}; alignment pairs the "
                "rows of the embeddings, so all need the same samples in the same order."
            )
        if method == "procrustes" and r.n_dims != rows[first].n_dims:
            raise ValueError(
                f"embeddings[{i}] has {r.n_dims} dimensions but embeddings[{first}] has {rows[first].n_dims}; "
                "method='procrustes' needs equal dimensions. Use method='linear' for embeddings of different sizes."
            )
    if scale and method != "procrustes":
        raise ValueError("scale=True applies to method='procrustes' only; 'linear' fits any scale.")

    def fit_all(target: _Rows, skip: int | None) -> list[Alignment]:
        return [
            _identity(r.n_dims, method, n)
            if i == skip
            else _solve(_moments(r, target, chunk_size, center), method, center, scale)
            for i, r in enumerate(rows)
        ]

    alignments = fit_all(rows[first], first)
    mean = _mean_of_aligned(rows, alignments, chunk_size)
    n_iter = 0
    if ref == "mean":
        # with scale=True the target keeps the size of embeddings[0], or the common scale would drift
        size = np.sqrt(_moments(rows[0], rows[0], chunk_size, center).ss_b) if scale else None
        for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
            target = mean
            if size is not None:
                origin = mean.mean(axis=0) if center else np.zeros(mean.shape[1])
                spread = float(np.linalg.norm(mean - origin))
                target = origin + (mean - origin) * (size / spread if spread > 0 else 1.0)
            alignments = fit_all(_Rows(target, "the mean"), None)
            new = _mean_of_aligned(rows, alignments, chunk_size)
            moved = float(np.linalg.norm(new - mean))
            reach = float(np.linalg.norm(mean))
            mean = new
            if moved <= tol * reach:
                break
    return alignments, mean, n_iter, rows

r"""Consistency of embeddings: how well one embedding is a linear image of another.

For two embeddings :math:`Z_i` and :math:`Z_j` of the same (or comparable) samples, fit the affine
map :math:`Z_j \approx Z_i W + b` by least squares and report its coefficient of determination

.. math::

    R^2_d = 1 - \frac{\sum_t (Z_{j,td} - \hat Z_{j,td})^2}{\sum_t (Z_{j,td} - \bar Z_{j,d})^2}

computed for each target dimension :math:`d` and averaged over the dimensions (``multioutput="uniform_average"``,
scikit-learn's default: the value of ``LinearRegression().fit(Z_i, Z_j).score(Z_i, Z_j)``, which is what CEBRA's
``consistency_score`` reports), or with both sums taken over all dimensions, i.e. weighted by the variance of each
target dimension (``multioutput="variance_weighted"``), which discounts low-variance dimensions. The fit and the score
use the same samples, as in CEBRA (Schneider, Lee & Mathis 2023). Identical embeddings, or
embeddings that differ by an invertible linear transform, score 1; independent embeddings score
about ``dim(Z_i) / n_samples``.

Between **runs** (the same data embedded by several models), rows correspond one to one. Between
**sessions** or animals (different recordings, different lengths), the embeddings are first aligned
on behaviour: the behaviour is discretised into bins, each embedding is averaged within each bin,
the bin means are scaled to unit length (as CEBRA's ``consistency_score`` does; ``normalize_bins=False``
keeps them as they are), and the map is fitted on the bins that both sessions visit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from neuroembed._validation import (
    as_numeric_array,
    check_choice,
    check_positive_float,
    check_positive_int,
    describe,
)
from neuroembed.metrics._checks import check_float_2d, text_labels
from neuroembed.metrics._linear import MULTIOUTPUT, affine_r2

__all__ = ["consistency"]


def _as_named_list(items: Any, what: str) -> tuple[list[Any], list[Any]]:
    """Split a mapping or a sequence into (names, values)."""
    if isinstance(items, Mapping):
        return list(items.keys()), list(items.values())
    if isinstance(items, np.ndarray) or hasattr(items, "detach") or not isinstance(items, Sequence):
        raise TypeError(
            f"{what} must be a list (or dict) of arrays, one per run or session; got {describe(items)}. "
            "For a single 3-D array use list(array)."
        )
    return list(range(len(items))), list(items)


def _bin_codes(
    behaviours: list[np.ndarray], categorical: list[bool], n_bins: Sequence[int]
) -> list[np.ndarray]:
    """Per-row bin codes (n_samples, n_columns) on a grid shared by all sessions."""
    n_columns = behaviours[0].shape[1]
    codes = [np.empty(b.shape, dtype=np.int64) for b in behaviours]
    for c in range(n_columns):
        pooled = np.concatenate([b[:, c] for b in behaviours])
        if categorical[c]:
            values = np.unique(pooled)
            for b, code in zip(behaviours, codes):
                code[:, c] = np.searchsorted(values, b[:, c])
            continue
        low, high = float(pooled.min()), float(pooled.max())
        inner = np.linspace(low, high, n_bins[c] + 1)[1:-1]
        for b, code in zip(behaviours, codes):
            code[:, c] = np.searchsorted(inner, b[:, c], side="right")
    return codes


def _binned_means(
    embeddings: list[np.ndarray],
    behaviours: list[np.ndarray],
    categorical: list[bool],
    n_bins: Sequence[int],
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Mean embedding in every behaviour bin, and which bins each session visits."""
    codes = _bin_codes(behaviours, categorical, n_bins)
    _, inverse = np.unique(np.concatenate(codes), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    n_total = int(inverse.max()) + 1
    means, present = [], []
    start = 0
    for emb in embeddings:
        ids = inverse[start : start + len(emb)]
        start += len(emb)
        counts = np.bincount(ids, minlength=n_total)
        sums = np.zeros((n_total, emb.shape[1]))
        np.add.at(sums, ids, emb)
        visited = counts > 0
        mean = np.full_like(sums, np.nan)
        mean[visited] = sums[visited] / counts[visited, None]
        means.append(mean)
        present.append(visited)
    return means, present


def _check_n_bins(n_bins: Any, n_columns: int) -> list[int]:
    if isinstance(n_bins, (int, np.integer)) and not isinstance(n_bins, bool):
        return [check_positive_int(n_bins, "n_bins")] * n_columns
    if isinstance(n_bins, Sequence) and not isinstance(n_bins, str):
        if len(n_bins) != n_columns:
            raise ValueError(
                f"n_bins has {len(n_bins)} entries but the behaviour has {n_columns} column(s); "
                "give one int, or one per column."
            )
        return [check_positive_int(n, f"n_bins[{i}]") for i, n in enumerate(n_bins)]
    raise TypeError(
        f"n_bins must be an int or a sequence of ints (one per column); got {n_bins!r}."
    )


def consistency(
    embeddings: Sequence[Any] | Mapping[Any, Any],
    between: str = "runs",
    behaviour: Sequence[Any] | Mapping[Any, Any] | None = None,
    n_bins: int | Sequence[int] = 99,
    bootstrap: int = 0,
    confidence: float = 0.95,
    random_state: Any = None,
    multioutput: str = "uniform_average",
    normalize_bins: bool = True,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """R^2 of the best linear map between every ordered pair of embeddings.

    Parameters
    ----------
    embeddings : list of array-like, or dict of name -> array-like
        Embeddings of shape (n_samples_k, n_dims_k), one per run or session. Dimensions may differ.
        With a dict, its keys label the result; with a list, the positions 0, 1, ... do.
    between : {"runs", "sessions"}, default="runs"
        ``"runs"``: the same samples embedded several times (e.g. models trained with different
        seeds); all embeddings must have the same number of rows, which are paired one to one.
        ``"sessions"``: different recordings or animals; rows are paired through ``behaviour``.
    behaviour : list or dict of array-like, optional
        Required between sessions, not accepted between runs: one behaviour per embedding,
        (n_samples_k,) or (n_samples_k, n_columns), the same columns in every session. Float
        columns are cut into ``n_bins`` equal bins spanning the range pooled over all sessions;
        integer or boolean arrays, and class names (text or pandas categorical, one set over all
        sessions), are treated as categories (each value is a bin). Each embedding is
        averaged within each bin (a bin is a cell of the grid over all columns), and each pair is
        fitted on the bins both sessions visit (Schneider, Lee & Mathis 2023).
    n_bins : int or sequence of int, default=99
        Number of bins per float column of the behaviour (between sessions). The default is CEBRA's:
        its ``num_discretization_bins=100`` are bin edges, 99 bins.
    bootstrap : int, default=0
        Number of bootstrap resamples for a confidence interval (0: none). Between runs the rows
        are resampled, between sessions the shared bins; the map is refitted on every resample and
        the interval is the percentile interval of the resampled R^2.
    confidence : float, default=0.95
        Coverage of the bootstrap interval.
    random_state : None, int or numpy.random.Generator
        Seed of the bootstrap.
    multioutput : {"uniform_average", "variance_weighted"}, default="uniform_average"
        How the R^2 of the target's dimensions are combined (see the module docstring): their mean, as
        scikit-learn's and CEBRA's scores do, or weighted by each dimension's variance.
    normalize_bins : bool, default=True
        Between sessions, scale every bin's mean embedding to unit length before the fit, as CEBRA does.
        For embeddings on the sphere (cosine distance) the mean of a bin points where the bin lies and its
        length only says how spread the bin is; set False to fit on the raw means (e.g. for euclidean
        embeddings). A zero mean is left as it is.

    Returns
    -------
    pandas.DataFrame or tuple of three pandas.DataFrame
        Square frame of R^2 values with the run or session names as index (``"source"``) and
        columns (``"target"``): entry ``[i, j]`` is how well embedding ``j`` is predicted by an
        affine map of embedding ``i``. The diagonal is NaN. With ``bootstrap > 0``, the tuple
        ``(scores, lower, upper)`` of three such frames (the point estimate and the interval).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(200, 3))
    >>> scores = consistency([z, z @ rng.normal(size=(3, 3)), rng.normal(size=(200, 3))])
    >>> scores.round(2)  # doctest: +NORMALIZE_WHITESPACE
    target     0     1     2
    source
    0        NaN  1.00  0.01
    1       1.00   NaN  0.01
    2       0.01  0.01   NaN
    """
    check_choice(between, "between", ["runs", "sessions"])
    check_choice(multioutput, "multioutput", MULTIOUTPUT)
    names, values = _as_named_list(embeddings, "embeddings")
    if len(values) < 2:
        raise ValueError(f"consistency needs at least two embeddings; got {len(values)}.")
    embs = [check_float_2d(v, f"embeddings[{name!r}]") for name, v in zip(names, values)]
    n_boot = check_positive_int(bootstrap, "bootstrap", minimum=0)
    confidence = check_positive_float(confidence, "confidence")
    if confidence >= 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive); got {confidence}.")
    rng = np.random.default_rng(random_state)
    for name, emb in zip(names, embs):
        if len(emb) > 0 and np.all(emb == emb[0]):
            raise ValueError(
                f"embeddings[{name!r}] is constant (every row is the same point): a collapsed embedding explains "
                "nothing and R^2 against it is undefined. Check the fit (see Estimator.loss_history_)."
            )

    if between == "runs":
        if behaviour is not None:
            raise ValueError(
                "behaviour is only used between sessions (to pair rows of different recordings); "
                "between runs the rows are already paired. Pass between='sessions' or drop behaviour."
            )
        lengths = {len(e) for e in embs}
        if len(lengths) != 1:
            raise ValueError(
                "Between runs all embeddings must have the same number of samples; got "
                f"{[len(e) for e in embs]}. For different recordings use between='sessions' with behaviour."
            )
        sources = {
            (i, j): (embs[i], embs[j]) for i in range(len(embs)) for j in range(len(embs)) if i != j
        }
    else:
        if not isinstance(normalize_bins, (bool, np.bool_)):
            raise TypeError(f"normalize_bins must be True or False; got {normalize_bins!r}.")
        sources = _session_pairs(embs, names, behaviour, n_bins, bool(normalize_bins))

    k = len(embs)
    scores = np.full((k, k), np.nan)
    lower = np.full((k, k), np.nan)
    upper = np.full((k, k), np.nan)
    alpha = (1.0 - confidence) / 2.0
    for (i, j), (src, tgt) in sources.items():
        if len(src) < src.shape[1] + 2:
            raise ValueError(
                f"an affine map from {src.shape[1]} dimensions needs at least {src.shape[1] + 2} paired samples to "
                f"be more than an exact fit; embeddings[{names[i]!r}] and embeddings[{names[j]!r}] have {len(src)}."
            )
        scores[i, j] = affine_r2(src, tgt, multioutput)
        if n_boot:
            n = len(src)
            resampled = np.empty(n_boot)
            for b in range(n_boot):
                idx = rng.integers(0, n, n)
                resampled[b] = affine_r2(src[idx], tgt[idx], multioutput)
            lower[i, j], upper[i, j] = np.nanquantile(resampled, [alpha, 1.0 - alpha])

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            values, index=pd.Index(names, name="source"), columns=pd.Index(names, name="target")
        )

    if n_boot:
        return frame(scores), frame(lower), frame(upper)
    return frame(scores)


def _session_pairs(
    embs: list[np.ndarray], names: list[Any], behaviour: Any, n_bins: Any, normalize: bool
) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """Binned, paired (source, target) arrays for every ordered pair of sessions."""
    if behaviour is None:
        raise ValueError(
            "Between sessions, behaviour is required (one array per embedding) to pair the rows of "
            "different recordings; between runs of the same data use between='runs'."
        )
    if isinstance(behaviour, Mapping):
        missing = [n for n in names if n not in behaviour]
        if missing:
            raise ValueError(
                f"behaviour has no entry for session(s) {missing}; it has {list(behaviour)}."
            )
        behaviour_values = [behaviour[n] for n in names]
    else:
        _, behaviour_values = _as_named_list(behaviour, "behaviour")
    if len(behaviour_values) != len(embs):
        raise ValueError(
            f"Got {len(embs)} embeddings but {len(behaviour_values)} behaviour arrays; give one per embedding."
        )
    # class names (text or categorical labels) are one set of categories over all sessions: the same name, the
    # same code in every session
    texts = [text_labels(b, f"behaviour[{n!r}]") for n, b in zip(names, behaviour_values)]
    if any(t is not None for t in texts):
        numeric = [n for n, t in zip(names, texts) if t is None]
        if numeric:
            raise TypeError(
                f"behaviour holds class names in some sessions but not in {numeric}; give every session its "
                "labels the same way."
            )
        classes = np.unique(np.concatenate(texts))
        behaviour_values = [np.searchsorted(classes, t).astype(np.int64) for t in texts]
    behaviours, categorical_flags = [], []
    for name, emb, b in zip(names, embs, behaviour_values):
        raw = as_numeric_array(b, f"behaviour[{name!r}]")
        categorical_flags.append(raw.dtype.kind in "biu")
        behaviours.append(check_float_2d(raw, f"behaviour[{name!r}]", len(emb), allow_1d=True))
    widths = {b.shape[1] for b in behaviours}
    if len(widths) != 1:
        raise ValueError(
            f"Every session's behaviour must have the same columns; got {[b.shape[1] for b in behaviours]} column(s)."
        )
    if len(set(categorical_flags)) != 1:
        raise TypeError(
            "behaviour must be integer (categories) in every session or float in every session; got a mix."
        )
    n_columns = widths.pop()
    bins = _check_n_bins(n_bins, n_columns)
    means, present = _binned_means(embs, behaviours, [categorical_flags[0]] * n_columns, bins)
    if normalize:
        for mean in means:
            length = np.linalg.norm(mean, axis=1, keepdims=True)
            np.divide(mean, length, out=mean, where=length > 0)

    pairs = {}
    for i in range(len(embs)):
        for j in range(len(embs)):
            if i == j:
                continue
            shared = present[i] & present[j]
            n_shared = int(shared.sum())
            if n_shared < embs[i].shape[1] + 2:
                raise ValueError(
                    f"Sessions {names[i]!r} and {names[j]!r} share only {n_shared} behaviour bin(s), too "
                    f"few to fit a map from {embs[i].shape[1]} dimensions; use fewer bins (n_bins) or "
                    "sessions that cover the same behaviour."
                )
            pairs[(i, j)] = (means[i][shared], means[j][shared])
    return pairs

r"""Goodness of fit of a contrastive model: its InfoNCE loss, in bits above chance.

With the positive outside the denominator (neuroembed's and CEBRA's InfoNCE), an encoder that maps
everything to the same point scores :math:`\log K` for :math:`K` negatives. The goodness of fit is
how far below that the loss lies, in bits:

.. math::

    \text{bits} = \frac{\log K - \text{loss}}{\log 2}.

0 bits means the model does no better than chance at telling the positive from the negatives. The
value depends on ``K`` (the batch's number of negatives), so compare models trained with the same
batch size.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neuroembed._validation import as_numeric_array, check_positive_int

__all__ = ["infonce_to_bits", "goodness_of_fit", "goodness_of_fit_history"]


def infonce_to_bits(loss: Any, num_negatives: int) -> Any:
    """Convert InfoNCE loss values (nats) to goodness of fit in bits: ``(log K - loss) / log 2``.

    Parameters
    ----------
    loss : float or array-like
        InfoNCE loss value(s), positive outside the denominator.
    num_negatives : int
        Number of negatives ``K`` per anchor used when the loss was computed.

    Returns
    -------
    float or numpy.ndarray
        Bits above chance; a float for a scalar ``loss``, else an array of the same shape.

    Examples
    --------
    >>> round(infonce_to_bits(np.log(512), 512), 12)
    0.0
    >>> infonce_to_bits([np.log(4), np.log(4) - np.log(2)], 4)
    array([0., 1.])
    """
    k = check_positive_int(num_negatives, "num_negatives")
    values = as_numeric_array(loss, "loss").astype(np.float64)
    bits = (math.log(k) - values) / math.log(2.0)
    if bits.ndim == 0:
        return float(bits)
    return bits


def _n_terms(estimator: Any) -> int:
    """InfoNCE terms the estimator's loss sums: one per part with ``objectives``, two with ``hybrid``, else one."""
    parts = getattr(estimator, "parts_", None)
    if parts:
        return len(parts)
    return 2 if getattr(estimator, "hybrid", False) is True else 1


def _bits(loss: Any, k: int, n_terms: int) -> Any:
    """Bits above chance of a loss that sums ``n_terms`` InfoNCE terms (each at chance ``log k``): their sum."""
    return infonce_to_bits(np.asarray(loss, dtype=np.float64) - (n_terms - 1) * math.log(k), k)


def _num_negatives(estimator: Any, num_negatives: int | None) -> int:
    if num_negatives is not None:
        return check_positive_int(num_negatives, "num_negatives")
    k = getattr(estimator, "num_negatives_", None)
    if k is None:
        raise ValueError(
            f"{type(estimator).__name__} has no num_negatives_ attribute; is it fitted? Pass "
            "num_negatives explicitly otherwise."
        )
    return check_positive_int(k, "num_negatives_")


def _n_rows(neural: Any) -> int | None:
    """Rows of a 2-D recording (array, DataFrame, tensor, h5py dataset or nested lists); None for anything else."""
    shape = getattr(neural, "shape", None)
    if shape is None:
        try:
            shape = np.shape(neural)
        except ValueError:  # ragged nested lists: score() refuses them
            return None
    return int(shape[0]) if len(shape) == 2 else None


def goodness_of_fit(
    estimator: Any, neural: Any, behaviour: Any = None, session: int | None = None
) -> float:
    """Goodness of fit in bits of a fitted contrastive estimator on some data.

    Parameters
    ----------
    estimator : fitted neuroembed.Estimator
        Anything with ``score(X, y=None, session=None)`` returning the *negative* mean InfoNCE loss
        on the data, and ``num_negatives_`` (the number of negatives per anchor it was trained
        with).
    neural : array-like of shape (n_samples, n_neurons)
        Data to evaluate on (e.g. held-out data).
    behaviour : array-like, optional
        The behaviour or labels, if the model was trained with them.
    session : int, optional
        Session index, for a model fitted on several sessions.

    Returns
    -------
    float
        ``(log K - loss) / log 2`` with ``K = num_negatives_``; 0 for a model at chance. A loss that sums several
        InfoNCE terms (one per part with ``objectives``, two with ``hybrid``) gives the sum of their bits,
        ``(n_terms log K - loss) / log 2``. When the
        estimator exposes ``receptive_field_`` and the data hold fewer valid windows than
        ``num_negatives_``, ``K`` is that number of windows (what ``score`` can draw).

    Examples
    --------
    >>> class AtChance:
    ...     num_negatives_ = 64
    ...     def score(self, X, y=None):
    ...         return -np.log(64)
    >>> round(goodness_of_fit(AtChance(), np.zeros((10, 2))), 12)
    0.0
    """
    if not callable(getattr(estimator, "score", None)):
        raise TypeError(
            f"estimator must be a fitted contrastive estimator with a score(X, y) method; got "
            f"{type(estimator).__name__}."
        )
    if getattr(estimator, "criterion", "infonce") == "supcon":
        raise ValueError(
            "Goodness of fit in bits is defined for the InfoNCE criterion; this estimator was fitted "
            "with criterion='supcon'."
        )
    k = _num_negatives(estimator, None)
    receptive_field = getattr(estimator, "receptive_field_", None)
    n_rows = _n_rows(neural)
    if isinstance(receptive_field, (int, np.integer)) and n_rows is not None:
        # score() on a short recording draws at most one negative per valid window
        k = max(1, min(k, n_rows - int(receptive_field) + 1))
    if session is None:
        score = estimator.score(neural, behaviour)
    else:
        score = estimator.score(neural, behaviour, session=session)
    score = float(score)
    if not math.isfinite(score):
        raise ValueError(
            f"{type(estimator).__name__}.score returned {score}; expected a finite number."
        )
    return float(_bits(-score, k, _n_terms(estimator)))


def goodness_of_fit_history(
    estimator_or_history: Any, num_negatives: int | None = None
) -> np.ndarray:
    """Goodness of fit in bits at every training iteration.

    Parameters
    ----------
    estimator_or_history : fitted neuroembed.Estimator or array-like of shape (n_iterations,)
        An estimator with ``loss_history_`` (and ``num_negatives_``), or the loss values themselves.
    num_negatives : int, optional
        Number of negatives per anchor; required with a bare history, and overrides the
        estimator's ``num_negatives_`` otherwise.

    Returns
    -------
    numpy.ndarray of shape (n_iterations,)
        Bits above chance per iteration.

    Examples
    --------
    >>> goodness_of_fit_history([np.log(8), np.log(2)], num_negatives=8)
    array([0., 2.])
    """
    n_terms = 1
    if hasattr(estimator_or_history, "loss_history_"):
        history = estimator_or_history.loss_history_
        k = _num_negatives(estimator_or_history, num_negatives)
        n_terms = _n_terms(estimator_or_history)
    else:
        if num_negatives is None:
            raise ValueError(
                "num_negatives is required when passing a loss history rather than a fitted estimator."
            )
        history = estimator_or_history
        k = check_positive_int(num_negatives, "num_negatives")
    values = as_numeric_array(history, "loss history").astype(np.float64)
    if values.ndim != 1:
        raise ValueError(f"The loss history must be 1-D (n_iterations,); got shape {values.shape}.")
    return np.asarray(_bits(values, k, n_terms))

"""Attribution maps of a fitted estimator: which neurons drive which embedding dimensions.

:func:`attribution_map` runs every sample's window of a recording through the estimator's encoder, batch by batch on
its device, computes one ``(output_dim, n_neurons)`` map per sample with the chosen method (:data:`METHODS`), and
reports their mean absolute value, optionally with the per-sample maps.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from neuroembed import _validation as V
from neuroembed.attribution._fitted import (
    FittedEncoder,
    eval_mode,
    flush_denormal,
    n_batches,
    window_batches,
)
from neuroembed.attribution.ablation import feature_ablation
from neuroembed.attribution.integrated_gradients import integrated_gradients
from neuroembed.attribution.jacobian import check_reduce_window, inverted_jacobian, jacobian
from neuroembed.sampling.objectives import part_slice

__all__ = ["METHODS", "Attribution", "attribution_map"]

#: The methods by name: each maps ``(forward, windows, **options)`` to per-sample maps ``(n_windows, output_dim,
#: n_neurons)``.
METHODS: dict[str, Callable[..., torch.Tensor]] = {
    "jacobian": jacobian,
    "inverted-jacobian": inverted_jacobian,
    "integrated-gradients": integrated_gradients,
    "ablation": feature_ablation,
}


class Attribution(NamedTuple):
    """The maps :func:`attribution_map` returns with ``per_sample=True``; unpacks as ``summary, per_sample``.

    Attributes
    ----------
    summary : ndarray of shape (output_dim, n_neurons), float64
        ``abs(per_sample).mean(0)``.
    per_sample : ndarray of shape (n_samples, output_dim, n_neurons), float32
        One map per sample; row ``i`` belongs to ``transform(X)[i]``.
    """

    summary: np.ndarray
    per_sample: np.ndarray


def _check_baseline(baseline: Any, n_neurons: int) -> np.ndarray:
    """A number or one finite value per neuron, as a ``(n_neurons, 1)`` float array."""
    values = V.as_numeric_array(baseline, "baseline").astype(np.float64)
    if values.ndim == 0:
        values = np.full(n_neurons, float(values))
    if values.shape != (n_neurons,):
        raise ValueError(
            f"baseline must be a number or one value per neuron, shape ({n_neurons},); got shape {values.shape}."
        )
    if not np.isfinite(values).all():
        raise ValueError("baseline contains NaN or infinite values; expected finite numbers.")
    return values[:, None]


def attribution_map(
    estimator: Any,
    X: Any,
    method: str = "inverted-jacobian",
    session: int | None = None,
    *,
    per_sample: bool = False,
    reduce_window: str = "mean",
    baseline: Any = 0.0,
    n_steps: int = 50,
    rtol: float = 0.2,
    batch_size: int = 1024,
    part: str | None = None,
) -> np.ndarray | Attribution:
    """How much each neuron drives each embedding dimension, sample by sample, summarised over a recording.

    Sample ``t``'s map is computed on the window of ``receptive_field_`` samples its embedding row is computed
    from, with the recording edge-padded exactly as in ``transform``, so per-sample map ``i`` belongs to
    ``estimator.transform(X, session)[i]``. The attributed output is the embedding itself (L2-normalised for the
    cosine distance). The encoder runs in eval mode on the estimator's device, ``batch_size`` samples at a time; its
    parameters get no gradients and the estimator is left as it was.

    Parameters
    ----------
    estimator : fitted neuroembed.Estimator
        Read through its fitted attributes (``encoder_``, ``receptive_field_``, ``device_``, ``n_sessions_``,
        ``session_n_features_``; ``verbose`` shows a progress bar).
    X : array-like of shape (n_samples, n_neurons), DataFrame, or h5py.Dataset
        The recording, with session ``session``'s neurons; an HDF5 dataset is read one batch at a time.
    method : {"inverted-jacobian", "jacobian", "integrated-gradients", "ablation"}
        - ``"jacobian"``: ``dz[d] / dx[c]`` reduced over the window (see ``reduce_window``);
        - ``"inverted-jacobian"``: the pseudo-inverse of that ``(output_dim, n_neurons)`` Jacobian, transposed back
          to ``(output_dim, n_neurons)`` (see ``rtol``);
        - ``"integrated-gradients"``: each neuron's share, summed over the window, of ``z(x) - z(baseline)``
          (``n_steps`` midpoint steps);
        - ``"ablation"``: ``z(x) - z(x with neuron c at the baseline over the whole window)``.
    session : int, optional
        Which session's input layer to use; required after a multi-session fit (as in ``transform``).
    per_sample : bool
        Also return every sample's map (``n_samples * output_dim * n_neurons`` float32 values in memory).
    reduce_window : {"mean", "mean_abs"}
        Jacobian methods: the mean over the window's positions, or the mean of absolute values.
    baseline : float or array-like of shape (n_neurons,)
        Integrated gradients and ablation: the reference input (in the units of ``X``), default ``0``.
    n_steps : int
        Integrated gradients: steps of the path integral.
    rtol : float
        Inverted Jacobian: singular values below ``rtol`` times the largest are treated as zero (see
        :func:`~neuroembed.attribution.inverted_jacobian`). A cosine embedding's Jacobian always has one such
        direction (rounding noise); a trained encoder has more, directions of the embedding it barely moves, whose
        huge inverse weights would otherwise swamp the map. The default, ``0.2``, was chosen on the ground-truth
        set :func:`neuroembed.datasets.attribution_manifold` with seeds 5-9 and reaches an AUC of 0.979 on seeds
        0-4, against 0.685 with ``1e-4`` (``benchmarks/attribution_rtol.py``); ``0`` is the plain pseudo-inverse.
    batch_size : int
        Samples per batch on the device. Memory is that of one batch: ``batch_size * n_neurons *
        receptive_field_`` input gradients and the encoder's activations on as many windows (``n_neurons + 1``
        times as many windows for ablation), whatever the recording's length.
    part : str, optional
        For an estimator fitted with ``objectives``: only this part's rows of the map (a key of ``parts_``). The
        map is computed on the whole embedding first, so the inverted Jacobian is the pseudo-inverse of the whole
        embedding's Jacobian, as in xCEBRA, and the rows of every part together are the whole map.

    Returns
    -------
    ndarray of shape (output_dim, n_neurons), or Attribution
        ``abs(map).mean(0)`` over samples, in float64: CEBRA's summary, but over all ``n_samples`` of the
        edge-padded recording where CEBRA averages over the ``n_samples - R + 1`` windows that need no padding
        (``R`` the receptive field; a few per cent apart on short recordings). With ``per_sample=True``, an
        :class:`Attribution` ``(summary, per_sample)`` with the per-sample maps ``(n_samples, output_dim,
        n_neurons)`` as well. Without it only the running sum of one batch is kept.

    Raises
    ------
    NotFittedError
        If the estimator is not fitted.
    ValueError
        For an unknown method, a bad session, or data that ``transform`` would refuse (not 2-D, not finite, the
        wrong number of neurons).

    Examples
    --------
    >>> import numpy as np
    >>> import neuroembed as ne
    >>> X = np.random.default_rng(0).poisson(2.0, (200, 6)).astype(np.float32)
    >>> est = ne.Estimator(model="offset5", conditional="time", output_dimension=3, max_iterations=5,
    ...                    batch_size=32, device="cpu", random_state=0).fit(X)
    >>> ne.attribution.attribution_map(est, X).shape
    (3, 6)
    >>> summary, maps = ne.attribution.attribution_map(est, X, "jacobian", per_sample=True)
    >>> maps.shape, bool(np.allclose(summary, np.abs(maps).mean(0)))
    ((200, 3, 6), True)
    """
    fitted = FittedEncoder(estimator)
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method={method!r} is not supported; choose one of {list(METHODS)}.")
    if not isinstance(per_sample, (bool, np.bool_)):
        raise TypeError(f"per_sample must be True or False; got {per_sample!r}.")
    check_reduce_window(reduce_window)
    batch_size = V.check_positive_int(batch_size, "batch_size")
    n_steps = V.check_positive_int(n_steps, "n_steps")
    rtol = V.check_positive_float(rtol, "rtol", allow_zero=True)
    if rtol >= 1:
        raise ValueError(
            f"rtol must be below 1 (a fraction of the largest singular value); got {rtol}."
        )
    rows = slice(None) if part is None else part_slice(getattr(estimator, "parts_", None), part)
    s = fitted.session_index(session)
    data = fitted.check_data(X, s)
    n, n_neurons = int(data.shape[0]), int(data.shape[1])
    base = torch.as_tensor(
        _check_baseline(baseline, n_neurons), dtype=fitted.dtype, device=fitted.device
    )
    options: dict[str, Any] = {
        "jacobian": {"reduce_window": reduce_window},
        "inverted-jacobian": {"reduce_window": reduce_window, "rtol": rtol},
        "integrated-gradients": {"baseline": base, "n_steps": n_steps},
        "ablation": {"baseline": base},
    }[method]
    compute = functools.partial(METHODS[method], fitted.forward(s), **options)

    total: torch.Tensor | None = None
    accumulate = torch.float32 if fitted.device.type == "mps" else torch.float64
    maps: np.ndarray | None = None
    batches = window_batches(data, fitted.receptive_field, batch_size, fitted.device, fitted.dtype)
    with eval_mode(fitted.encoder), flush_denormal(fitted.device):
        for a, b, windows in tqdm(
            batches,
            total=n_batches(n, batch_size),
            desc=f"attribution ({method})",
            disable=not fitted.verbose,
            leave=False,
        ):
            batch_maps = compute(windows).detach()
            batch_sum = batch_maps.abs().sum(0, dtype=accumulate)
            total = batch_sum if total is None else total + batch_sum
            if per_sample:
                if maps is None:
                    maps = np.empty((n, *batch_maps.shape[1:]), dtype=np.float32)
                maps[a:b] = batch_maps.float().cpu().numpy()
    if total is None:  # unreachable: check_data refuses empty recordings
        raise ValueError("X holds no samples.")
    summary = (total / n).cpu().numpy().astype(np.float64)[rows]
    if per_sample:
        return Attribution(summary, maps[:, rows])  # type: ignore[index]  # set with the first batch
    return summary

"""Matplotlib figures: embeddings coloured by behaviour, training loss, consistency matrices, attribution maps.

Every function draws into a new figure (or into ``ax`` when given) and returns the
:class:`matplotlib.figure.Figure`; none calls ``plt.show()``. Figures are made with
:mod:`matplotlib.pyplot`, so they show in notebooks and with ``plt.show()``; close them with
``plt.close(fig)`` when making many.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import is_color_like
from matplotlib.figure import Figure, SubFigure
from mpl_toolkits.mplot3d import Axes3D

from neuroembed._validation import (
    as_numeric_array,
    check_neural,
    check_positive_float,
    check_positive_int,
)

__all__ = ["plot_embedding", "plot_loss", "plot_consistency", "plot_attribution"]


def _figure_of(ax: Axes) -> Figure:
    """The figure an Axes is drawn in (the parent figure for an Axes inside a subfigure)."""
    fig = ax.get_figure()
    if isinstance(fig, SubFigure):
        fig = fig.figure
    if not isinstance(fig, Figure):
        raise ValueError("ax is not part of a matplotlib figure.")
    return fig


def _check_dims(dims: Any, n_columns: int) -> tuple[int, ...]:
    if isinstance(dims, (int, np.integer)) or not hasattr(dims, "__len__"):
        raise TypeError(f"dims must be a tuple of 2 or 3 column indices; got {dims!r}.")
    dims = tuple(dims)
    if tuple(dims) == (0, 1, 2) and n_columns == 2:
        dims = (0, 1)  # the default on a 2-D embedding
    if len(dims) not in (2, 3):
        raise ValueError(f"dims must name 2 or 3 columns; got {dims!r}.")
    for d in dims:
        if (
            isinstance(d, bool)
            or not isinstance(d, (int, np.integer))
            or not -n_columns <= d < n_columns
        ):
            raise ValueError(f"dims {dims!r} do not fit an embedding with {n_columns} column(s).")
    return tuple(int(d) for d in dims)


def plot_embedding(
    embedding: Any,
    color: Any = None,
    dims: tuple[int, ...] = (0, 1, 2),
    ax: Axes | None = None,
    cmap: str = "viridis",
    title: str | None = None,
    s: float = 1.0,
    alpha: float = 0.7,
    colorbar: bool = True,
) -> Figure:
    """Scatter an embedding in 2-D or 3-D, coloured by behaviour.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, n_dims)
        The embedding, n_dims >= 2.
    color : array-like of shape (n_samples,), "time", or a matplotlib colour, optional
        Values mapped through ``cmap`` (e.g. position), ``"time"`` for the sample index, or one
        colour for all points (a name or an RGB / RGBA tuple). A (n_samples, 1) array is accepted.
        Default: grey.
    dims : tuple of int, default=(0, 1, 2)
        Columns to plot: three for a 3-D plot, two for a 2-D one. The default falls back to (0, 1)
        for a 2-D embedding.
    ax : matplotlib Axes, optional
        Axes to draw into (a 3-D Axes for three dims); default a new figure.
    cmap : str, default="viridis"
        Colormap for ``color`` values.
    title : str, optional
        Axes title.
    s : float, default=1.0
        Marker size.
    alpha : float, default=0.7
        Marker opacity.
    colorbar : bool, default=True
        Add a colour bar when ``color`` holds values.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_embedding(np.random.default_rng(0).normal(size=(50, 3)), color="time")
    >>> len(fig.axes)  # the scatter and its colour bar
    2
    >>> plt.close(fig)
    """
    emb = check_neural(embedding, "embedding")
    if emb.shape[1] < 2:
        raise ValueError(f"embedding must have at least 2 columns to plot; got shape {emb.shape}.")
    dims = _check_dims(dims, emb.shape[1])
    s = check_positive_float(s, "s")

    values: np.ndarray | None = None
    single: Any = "0.5"
    if isinstance(color, str):
        if color == "time":
            values = np.arange(emb.shape[0], dtype=np.float64)
        elif is_color_like(color):
            single = color
        else:
            raise ValueError(f"color={color!r} is neither 'time' nor a matplotlib colour.")
    elif isinstance(color, tuple) and is_color_like(color) and len(color) != emb.shape[0]:
        single = color  # an RGB or RGBA tuple
    elif color is not None:
        values = as_numeric_array(color, "color").astype(np.float64)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.shape != (emb.shape[0],):
            raise ValueError(
                f"color must have one value per sample, shape ({emb.shape[0]},); got shape {values.shape}. "
                "For multi-column behaviour pick one column, e.g. behaviour[:, 0]."
            )

    three_d = len(dims) == 3
    if ax is None:
        fig = plt.figure(figsize=(5, 4.5))
        ax = fig.add_subplot(projection="3d" if three_d else None)
    else:
        fig = _figure_of(ax)
        if three_d != isinstance(ax, Axes3D):
            kind = "3-D" if three_d else "2-D"
            got = "3-D" if isinstance(ax, Axes3D) else "2-D"
            raise ValueError(f"dims={dims} needs a {kind} Axes; got a {got} one.")
    coords = [emb[:, d] for d in dims]
    style: dict[str, Any] = {"s": s, "alpha": alpha, "linewidths": 0}
    if values is not None:
        style.update(c=values, cmap=cmap)
    else:
        style.update(color=single)
    points = ax.scatter(*coords, **style)
    ax.set_xlabel(f"dim {dims[0]}")
    ax.set_ylabel(f"dim {dims[1]}")
    if isinstance(ax, Axes3D):
        ax.set_zlabel(f"dim {dims[2]}")
    if title is not None:
        ax.set_title(title)
    if values is not None and colorbar:
        fig.colorbar(
            points, ax=ax, shrink=0.7, label="time (samples)" if isinstance(color, str) else None
        )
    return fig


def plot_loss(
    history_or_estimator: Any,
    bits: bool = False,
    num_negatives: int | None = None,
    ax: Axes | None = None,
    label: str | None = None,
    validation: bool = True,
) -> Figure:
    """Plot the training loss (or goodness of fit in bits) against the iteration, and the held-out curve.

    Parameters
    ----------
    history_or_estimator : array-like of shape (n_iterations,) or fitted estimator
        The losses, or an estimator with ``loss_history_`` (and ``num_negatives_``). An estimator fitted with
        ``early_stopping=True`` also has ``validation_scores_`` (minus the held-out loss) at
        ``validation_iterations_``, and ``best_iteration_``.
    bits : bool, default=False
        Plot the goodness of fit ``(log K - loss) / log 2`` in bits instead of the loss.
    num_negatives : int, optional
        ``K`` for ``bits``; default the estimator's ``num_negatives_``.
    ax : matplotlib Axes, optional
        Axes to draw into; default a new figure.
    label : str, optional
        Legend label for the curve (a legend is drawn when given, or when the held-out curve is drawn).
    validation : bool, default=True
        When the estimator has ``validation_scores_``: draw the held-out loss (or bits) at its iterations, with
        markers, and a dotted vertical line at ``best_iteration_``, the iteration whose weights the model keeps.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_loss(np.linspace(np.log(64), 2.0, 100), bits=True, num_negatives=64)
    >>> fig.axes[0].get_ylabel()
    'goodness of fit (bits)'
    >>> plt.close(fig)
    """
    held_out = None
    if hasattr(history_or_estimator, "loss_history_"):
        history = history_or_estimator.loss_history_
        if num_negatives is None:
            num_negatives = getattr(history_or_estimator, "num_negatives_", None)
        if validation:
            held_out = _held_out_curve(history_or_estimator)
    else:
        history = history_or_estimator
    values = as_numeric_array(history, "loss history").astype(np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"The loss history must be a non-empty 1-D array; got shape {values.shape}."
        )
    k = None
    if bits:
        if num_negatives is None:
            raise ValueError("bits=True needs num_negatives (or an estimator with num_negatives_).")
        k = check_positive_int(num_negatives, "num_negatives")

    def scale(loss: np.ndarray) -> np.ndarray:
        return loss if k is None else (math.log(k) - loss) / math.log(2.0)

    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
    else:
        fig = _figure_of(ax)
    train_label = label if held_out is None or label is not None else "training"
    ax.plot(np.arange(1, values.size + 1), scale(values), label=train_label)
    if held_out is not None:
        iterations, losses, best = held_out
        name = "validation" if label is None else f"{label} (validation)"
        ax.plot(iterations, scale(losses), marker="o", markersize=3, label=name)
        if best is not None:
            ax.axvline(best, color="0.4", linestyle=":", linewidth=1, label=f"best ({best})")
    ax.set_xlabel("iteration")
    ax.set_ylabel("goodness of fit (bits)" if bits else "InfoNCE loss")
    if label is not None or held_out is not None:
        ax.legend()
    return fig


def _held_out_curve(estimator: Any) -> tuple[np.ndarray, np.ndarray, int | None] | None:
    """The iterations, held-out losses and best iteration of an estimator fitted with early stopping, else None."""
    scores = getattr(estimator, "validation_scores_", None)
    if scores is None:
        return None
    losses = -as_numeric_array(scores, "validation_scores_").astype(np.float64)
    iterations = as_numeric_array(
        getattr(estimator, "validation_iterations_", None), "validation_iterations_"
    )
    if losses.ndim != 1 or iterations.shape != losses.shape:
        raise ValueError(
            "validation_scores_ and validation_iterations_ must be 1-D arrays of the same length; got shapes "
            f"{losses.shape} and {iterations.shape}."
        )
    if losses.size == 0:
        return None
    best = getattr(estimator, "best_iteration_", None)
    return iterations, losses, None if best is None else int(best)


def plot_consistency(
    matrix: Any,
    ax: Axes | None = None,
    cmap: str = "viridis",
    vmin: float = 0.0,
    vmax: float = 1.0,
    annotate: bool = True,
    fmt: str = ".2f",
    title: str | None = None,
) -> Figure:
    """Heatmap of a consistency matrix, with the values written in the cells.

    Parameters
    ----------
    matrix : pandas.DataFrame or array-like of shape (n, n)
        E.g. the output of :func:`neuroembed.metrics.consistency`; NaN cells (the diagonal) are
        left blank. A DataFrame's index and columns label the axes.
    ax : matplotlib Axes, optional
        Axes to draw into; default a new figure.
    cmap : str, default="viridis"
        Colormap.
    vmin, vmax : float, default=0, 1
        Colour range.
    annotate : bool, default=True
        Write each value in its cell.
    fmt : str, default=".2f"
        Format of the written values.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_consistency(np.array([[np.nan, 0.9], [0.8, np.nan]]))
    >>> [t.get_text() for t in fig.axes[0].texts]
    ['0.90', '0.80']
    >>> plt.close(fig)
    """
    row_labels = col_labels = None
    row_name = col_name = None
    if hasattr(matrix, "index") and hasattr(matrix, "columns"):
        row_labels = [str(v) for v in matrix.index]
        col_labels = [str(v) for v in matrix.columns]
        row_name, col_name = matrix.index.name, matrix.columns.name
    values = as_numeric_array(matrix, "matrix").astype(np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"matrix must be a non-empty 2-D array; got shape {values.shape}.")
    if ax is None:
        n_rows, n_cols = values.shape
        fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n_cols + 1.0, 1.0 + 0.6 * n_rows))
    else:
        fig = _figure_of(ax)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks(np.arange(values.shape[1]), labels=col_labels)
    ax.set_yticks(np.arange(values.shape[0]), labels=row_labels)
    ax.set_xlabel(col_name or "target")
    ax.set_ylabel(row_name or "source")
    if annotate:
        colormap = plt.get_cmap(cmap)
        span = (vmax - vmin) or 1.0
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                r, g, b, _ = colormap(np.clip((v - vmin) / span, 0.0, 1.0))
                text_color = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
                ax.text(
                    j, i, format(v, fmt), ha="center", va="center", color=text_color, fontsize=8
                )
    if title is not None:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, label="R$^2$")
    return fig


def _names(names: Any, n: int, param: str, noun: str) -> list[str]:
    """``n`` labels: ``names`` as strings, or the indices."""
    if names is None:
        return [str(i) for i in range(n)]
    if isinstance(names, str) or not hasattr(names, "__len__"):
        raise TypeError(f"{param} must be a sequence of {n} names; got {names!r}.")
    if len(names) != n:
        raise ValueError(
            f"{param} must hold one name for each of the {n} {noun}; got {len(names)}."
        )
    return [str(v) for v in names]


#: Most tick labels written on the neuron axis; a map of more neurons gets this many, evenly spaced.
_MAX_NEURON_TICKS = 40


def plot_attribution(
    attribution: Any,
    *,
    ax: Axes | None = None,
    sort: bool = True,
    neuron_names: Any = None,
    dimension_names: Any = None,
    cmap: str | None = None,
    title: str | None = None,
) -> Figure:
    """Heat map of an attribution map: embedding dimensions as rows, neurons as columns.

    Parameters
    ----------
    attribution : array-like of shape (output_dim, n_neurons)
        E.g. the summary of :func:`neuroembed.attribution.attribution_map` (an ``Attribution`` result is drawn
        from its ``summary``); a 1-D map is drawn as one row.
    ax : matplotlib Axes, optional
        Axes to draw into; default a new figure.
    sort : bool, default=True
        Order the neurons by their total attribution, ``abs(map).sum(0)``, largest first (the tick labels keep
        the neurons' names or original indices).
    neuron_names : sequence of str, optional
        One name per neuron (default: the column indices).
    dimension_names : sequence of str, optional
        One name per embedding dimension (default: the row indices).
    cmap : str, optional
        Colormap; default ``"viridis"`` from 0 for a map without negative values, and ``"RdBu_r"`` centred on 0
        for a signed one.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure: the heat map in ``ax`` (or in its first Axes when a new figure is made) and a colour bar.

    Examples
    --------
    >>> fig = plot_attribution(np.array([[0.1, 0.9, 0.3], [0.0, 0.5, 0.2]]), neuron_names=["a", "b", "c"])
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]  # by total attribution
    ['b', 'c', 'a']
    >>> plt.close(fig)
    """
    if isinstance(attribution, tuple) and hasattr(attribution, "summary"):
        attribution = attribution.summary
    values = as_numeric_array(attribution, "attribution").astype(np.float64)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or values.size == 0:
        raise ValueError(
            f"attribution must be a non-empty (output_dim, n_neurons) map; got shape {values.shape}."
        )
    if not np.isfinite(values).all():
        raise ValueError("attribution contains NaN or infinite values; expected finite numbers.")
    n_dims, n_neurons = values.shape
    neurons = _names(neuron_names, n_neurons, "neuron_names", "neurons")
    dimensions = _names(dimension_names, n_dims, "dimension_names", "embedding dimensions")
    order = np.arange(n_neurons)
    if sort:
        order = np.argsort(-np.abs(values).sum(0), kind="stable")
    values = values[:, order]
    signed = bool((values < 0).any())
    if cmap is None:
        cmap = "RdBu_r" if signed else "viridis"
    bound = float(np.abs(values).max()) or 1.0
    vmin, vmax = (-bound, bound) if signed else (0.0, bound)
    if ax is None:
        fig, ax = plt.subplots(figsize=(min(12.0, 2.0 + 0.25 * n_neurons), 1.5 + 0.3 * n_dims))
    else:
        fig = _figure_of(ax)
    image = ax.imshow(
        values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest"
    )
    step = max(1, math.ceil(n_neurons / _MAX_NEURON_TICKS))
    ticks = np.arange(0, n_neurons, step)
    ax.set_xticks(ticks, labels=[neurons[i] for i in order[ticks]])
    if n_neurons > 10:
        ax.tick_params(axis="x", labelrotation=90)
    ax.set_yticks(np.arange(n_dims), labels=dimensions)
    ax.set_xlabel("neuron (by total attribution)" if sort else "neuron")
    ax.set_ylabel("embedding dimension")
    if title is not None:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, label="attribution")
    return fig

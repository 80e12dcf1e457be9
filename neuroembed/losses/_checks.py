"""Argument checks shared by the loss functions (private).

Every check runs on shapes, dtypes and python numbers only, so that none of them forces a
host-device synchronisation in the training loop. The one exception is a tensor temperature on
the CPU, whose value is checked because reading it is free there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import torch
from torch import Tensor

from neuroembed._validation import check_choice, describe

Temperature: TypeAlias = float | Tensor

DISTANCES = ("cosine", "euclidean")


def check_float_tensor(x: object, name: str, ndims: Sequence[int], shape_doc: str) -> Tensor:
    """Raise unless ``x`` is a floating-point tensor with one of ``ndims`` dimensions and no empty axis."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {shape_doc}; got {describe(x)}.")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor of shape {shape_doc}; got dtype {x.dtype}. "
            "Convert it with .float()."
        )
    if x.ndim not in ndims:
        raise ValueError(
            f"{name} must have shape {shape_doc}; got a {x.ndim}-D tensor of shape {tuple(x.shape)}."
        )
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); expected shape {shape_doc}.")
    return x


def check_labels(labels: object, n_samples: int, name: str = "labels") -> Tensor:
    """Raise unless ``labels`` is an integer or boolean tensor of shape ``(n_samples,)``."""
    if not isinstance(labels, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape ({n_samples},); got {describe(labels)}."
        )
    if labels.is_floating_point() or labels.is_complex():
        raise TypeError(
            f"{name} must hold integer class labels; got dtype {labels.dtype}. Convert it with .long()."
        )
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise ValueError(
            f"{name} must have shape ({n_samples},), one label per sample; got shape {tuple(labels.shape)}."
        )
    return labels


def check_same_size(a: Tensor, b: Tensor, name_a: str, name_b: str, dim: int, what: str) -> None:
    """Raise unless ``a.shape[dim] == b.shape[dim]``."""
    if a.shape[dim] != b.shape[dim]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same {what}; got shapes {tuple(a.shape)} and "
            f"{tuple(b.shape)}."
        )


def check_temperature(temperature: object, name: str = "temperature") -> Temperature:
    """Return ``temperature`` if it is a number > 0 or a 0-d floating tensor (> 0 when on the CPU)."""
    if isinstance(temperature, Tensor):
        if temperature.ndim != 0 or not temperature.is_floating_point():
            raise ValueError(
                f"{name} must be a positive float or a 0-d floating tensor; got {describe(temperature)}."
            )
        if temperature.device.type == "cpu":
            value = float(temperature.detach())
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0; got {value}.")
        return temperature
    if isinstance(temperature, bool) or not isinstance(
        temperature, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"{name} must be a positive float or a 0-d tensor; got {temperature!r} "
            f"({type(temperature).__name__})."
        )
    value = float(temperature)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0; got {value}.")
    return value


def check_distance(distance: object) -> str:
    """Raise unless ``distance`` is one of :data:`DISTANCES`."""
    check_choice(distance, "distance", DISTANCES)
    return str(distance)


def zero_with_graph(*tensors: Tensor) -> Tensor:
    """A scalar zero connected to the autograd graph of ``tensors`` (gradients are zeros, not None)."""
    total = tensors[0].sum() * 0.0
    for t in tensors[1:]:
        total = total + t.sum() * 0.0
    return total


def unit(x: Tensor, dim: int = -1) -> Tensor:
    """``x`` scaled to unit L2 norm along ``dim``; a zero vector stays zero.

    As :func:`torch.nn.functional.normalize`, but the floor of the norm is at least the smallest normal number of
    the dtype: its default ``1e-12`` is zero in float16, where a zero vector would become ``0 / 0``.
    """
    return torch.nn.functional.normalize(x, dim=dim, eps=max(1e-12, torch.finfo(x.dtype).tiny))


def cosine_pairwise(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of every row of ``a (n, d)`` with every row of ``b (m, d)``: ``(n, m)``."""
    return unit(a) @ unit(b).T

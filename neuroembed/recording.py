"""The one container every reader and dataset returns: neural data and what goes with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Recording"]


@dataclass
class Recording:
    """Neural data with behaviour, labels and timestamps aligned row by row.

    Returned by the synthetic datasets (:mod:`neuroembed.datasets`) and by every reader in
    :mod:`neuroembed.io`, so that code downstream does not care where the data came from.

    Attributes
    ----------
    neural : ndarray of shape (n_samples, n_neurons)
        Spike counts per bin, rates or calcium traces (float32).
    behaviour : ndarray of shape (n_samples, n_behaviour) or None
        Continuous behaviour (float32), e.g. position or head direction.
    labels : ndarray of shape (n_samples,) or None
        Discrete labels (int64), e.g. trial condition or running direction.
    timestamps : ndarray of shape (n_samples,) or None
        Time of each row in seconds.
    latent : ndarray of shape (n_samples, n_latent) or None
        Ground-truth latent variables (synthetic data only).
    metadata : dict
        Free-form description: source file, series names, bin size, generator settings.

    Examples
    --------
    >>> rec = Recording(neural=np.zeros((5, 2), dtype=np.float32))
    >>> rec.n_samples, rec.n_neurons
    (5, 2)
    """

    neural: np.ndarray
    behaviour: np.ndarray | None = None
    labels: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    latent: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # shapes only (neural may be a lazily read dataset): every array has one row per neural row
        shape = getattr(self.neural, "shape", None)
        if shape is None or len(shape) != 2:
            raise ValueError(
                "Recording.neural must be a 2-D array (n_samples, n_neurons); got "
                + ("no array" if shape is None else f"shape {tuple(shape)}")
                + "."
            )
        for name in ("behaviour", "labels", "timestamps", "latent"):
            value = getattr(self, name)
            if value is not None and (np.ndim(value) == 0 or np.shape(value)[0] != shape[0]):
                raise ValueError(
                    f"Recording.{name} must have one row per neural row ({shape[0]}); got shape "
                    f"{np.shape(value)}."
                )

    @property
    def n_samples(self) -> int:
        """Number of rows (time bins)."""
        return int(self.neural.shape[0])

    @property
    def n_neurons(self) -> int:
        """Number of columns of the neural data."""
        return int(self.neural.shape[1])

    def __repr__(self) -> str:
        parts = [f"neural={self.neural.shape}"]
        for name in ("behaviour", "labels", "timestamps", "latent"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={np.shape(value)}")
        return f"Recording({', '.join(parts)})"

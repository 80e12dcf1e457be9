"""What attribution reads from a fitted estimator, and the windows it feeds the encoder (private).

The estimator is taken by its fitted attributes (``encoder_``, ``receptive_field_``, ``device_``, ``n_sessions_``,
``session_n_features_``, ``verbose``), never by importing :mod:`neuroembed.estimator`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from sklearn.exceptions import NotFittedError

from neuroembed import _validation as V
from neuroembed.models.conv import host_tensor, padded_rows

__all__ = ["FittedEncoder", "session_index", "window_batches", "eval_mode", "flush_denormal"]

_NEEDED = ("encoder_", "receptive_field_", "device_", "n_sessions_", "session_n_features_")


class FittedEncoder:
    """The parts of a fitted estimator that attribution uses.

    Parameters
    ----------
    estimator : fitted neuroembed.Estimator (or an object with its fitted attributes)
    """

    def __init__(self, estimator: Any) -> None:
        missing = [name for name in _NEEDED if not hasattr(estimator, name)]
        if missing:
            name = type(estimator).__name__
            if hasattr(estimator, "fit") and hasattr(estimator, "get_params"):
                hint = (
                    " An Ensemble has one encoder per member: attribute a member, e.g. ensemble.estimators_[0]."
                    if hasattr(estimator, "estimators_")
                    else " Call fit first."
                )
                raise NotFittedError(
                    f"attribution needs a fitted estimator; this {name} has no {', '.join(missing)}.{hint}"
                )
            raise TypeError(
                f"attribution needs a fitted neuroembed.Estimator (with attributes {', '.join(_NEEDED)}); got "
                f"{name}."
            )
        self.encoder: torch.nn.Module = estimator.encoder_
        self.receptive_field = int(estimator.receptive_field_)
        self.device = torch.device(estimator.device_)
        self.n_sessions = int(estimator.n_sessions_)
        self.n_features = [int(n) for n in estimator.session_n_features_]
        self.feature_names = getattr(estimator, "feature_names_in_", None)
        self.verbose = bool(getattr(estimator, "verbose", False))
        param = next(self.encoder.parameters(), None)
        self.dtype = torch.float32 if param is None else param.dtype

    def session_index(self, session: Any) -> int:
        """``session`` as an index into the sessions, as ``transform`` reads it."""
        return session_index(session, self.n_sessions)

    def check_data(self, X: Any, session: int) -> Any:
        """``X`` validated for session ``session``'s input layer, as ``transform`` does: a float32 array, or an
        HDF5 dataset whose blocks are checked as they are read."""
        return V.check_transform_input(
            X, self.n_features[session], self.feature_names, self.n_sessions > 1, session
        )

    def forward(self, session: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """The encoder of ``session`` on windows: ``(n_windows, n_neurons, R) -> (n_windows, output_dim)``.

        The output is the embedding ``transform`` returns (L2-normalised for the cosine distance).
        """
        encoder = self.encoder

        def forward(windows: torch.Tensor) -> torch.Tensor:
            return encoder(windows, session=session)[..., 0]

        return forward


def session_index(session: Any, n_sessions: int) -> int:
    """The session to attribute: required (``0..n_sessions - 1``, negative counting from the last) when the model
    has several; ``None`` for a one-session model."""
    return V.check_session(session, n_sessions)


def window_batches(
    data: Any,
    receptive_field: int,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """The window of every sample, ``batch_size`` samples at a time: ``(start, stop, windows)`` with ``windows`` of
    shape ``(stop - start, n_neurons, receptive_field)`` on ``device``.

    The recording is edge-padded as in :func:`neuroembed.solver.embed` (``transform``): sample ``t``'s window is
    rows ``t - left .. t + right - 1`` (:func:`~neuroembed.models.window_offsets`), rows before the first and after
    the last repeating the first and last. Only a batch's rows are read (contiguous slices, so ``data`` may be an
    HDF5 dataset) and moved to the device.
    """
    n = int(data.shape[0])
    for a in range(0, n, batch_size):
        b = min(n, a + batch_size)
        block = padded_rows(data, a, b, receptive_field)
        rows = host_tensor(block).to(device=device, dtype=dtype)
        # (b - a + R - 1, C) -> (b - a, C, R): window j is rows j .. j + R - 1 of the block
        yield a, b, rows.unfold(0, receptive_field, 1).contiguous()


def n_batches(n: int, batch_size: int) -> int:
    """Batches of ``batch_size`` samples that cover ``n``."""
    return math.ceil(n / batch_size)


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """``module`` and its submodules in eval mode for the duration; each gets its own mode back afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


@contextlib.contextmanager
def flush_denormal(device: torch.device) -> Iterator[None]:
    """Denormal floats flushed to zero on the CPU (their arithmetic can slow the backward passes several-fold);
    the previous (default, off) behaviour afterwards."""
    enabled = device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if enabled:
            torch.set_flush_denormal(False)

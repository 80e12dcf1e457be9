"""Which devices train through neuroembed's hand-written paths.

Four parts of the neural training step are neuroembed's own code rather than torch's modules and autograd: the
time-major trunk with its hand-written backward and the first layer over a whole short recording
(:mod:`neuroembed.models.time_major`, :mod:`neuroembed.models.sparse`, used by
:class:`neuroembed.solver.ContrastiveSolver`), the InfoNCE loss with a hand-written backward
(:func:`neuroembed.losses.info_nce_parts` in CEBRA's case) and :class:`neuroembed._optim.FusedAdam`, which calls
torch's fused Adam kernel directly. They are tested on the CPU, and on the CPU they are on.

On any other device they are off unless asked for: the step then runs the modules' own forward through autograd,
the loss composed of autograd operations and ``torch.optim.Adam(fused=True)``. The environment variable
``NEUROEMBED_CUSTOM_PATHS`` decides otherwise for every device: ``1`` turns the custom paths on everywhere (once
``benchmarks/device_check.sh`` has passed on that device), ``0`` turns them off everywhere (the CPU included: to
tell whether a difference comes from them). It is read whenever a solver, a loss or an optimiser is made, so a
change applies to the next fit.
"""

from __future__ import annotations

import os

import torch

__all__ = ["ENVIRONMENT_VARIABLE", "custom_paths_on"]

ENVIRONMENT_VARIABLE = "NEUROEMBED_CUSTOM_PATHS"


def custom_paths_on(device: torch.device) -> bool:
    """Whether training on ``device`` uses the hand-written paths: on the CPU, unless ``NEUROEMBED_CUSTOM_PATHS``
    says ``1`` (every device) or ``0`` (none).

    Examples
    --------
    >>> import os, torch
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"NEUROEMBED_CUSTOM_PATHS": ""}):
    ...     custom_paths_on(torch.device("cpu")), custom_paths_on(torch.device("cuda"))
    (True, False)
    """
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if value == "":
        return device.type == "cpu"
    if value in ("0", "1"):
        return value == "1"
    raise ValueError(
        f"the environment variable {ENVIRONMENT_VARIABLE}={value!r} is not understood; set it to '1' (custom "
        "training paths on every device), '0' (on none) or leave it unset (on the CPU only)."
    )

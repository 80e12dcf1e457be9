"""The checks of :class:`neuroembed.Estimator`'s constructor parameters, run at the start of every ``fit``.

scikit-learn's convention: ``__init__`` stores the parameters as given, and ``fit`` validates them, so that
``set_params`` and ``clone`` never fail and a bad value is reported where it is used.
"""

from __future__ import annotations

import os
from typing import Any

from neuroembed import _validation as V
from neuroembed.losses.jacobian import JACOBIAN_ESTIMATES
from neuroembed.models import MODELS
from neuroembed.sampling import CONDITIONALS
from neuroembed.sampling.objectives import check_objectives

__all__ = ["check_params"]

DISTANCES = ("cosine", "euclidean")
CRITERIA = ("infonce", "supcon")
TEMPERATURE_MODES = ("constant", "learnable")
PRECISIONS = ("float32", "bfloat16", "float16")


def check_params(est: Any) -> None:
    """Every parameter of ``est`` (an Estimator) is of the right type and range, and they combine; else a
    ``TypeError`` / ``ValueError`` that names the parameter, the value given and what is expected."""
    V.check_model(est.model, list(MODELS))
    V.check_choice(est.conditional, "conditional", [*CONDITIONALS, "auto"])
    V.check_choice(est.distance, "distance", DISTANCES)
    V.check_choice(est.criterion, "criterion", CRITERIA)
    V.check_choice(est.temperature_mode, "temperature_mode", TEMPERATURE_MODES)
    V.check_choice(est.precision, "precision", PRECISIONS)
    V.check_choice(est.behaviour_nan, "behaviour_nan", V.BEHAVIOUR_NAN)
    for name in ("compile", "hybrid"):
        V.check_bool(getattr(est, name), name)
    if est.checkpoint_dir is not None and not isinstance(est.checkpoint_dir, (str, os.PathLike)):
        raise TypeError(
            f"checkpoint_dir must be None or the path of a folder (str or PathLike); got {est.checkpoint_dir!r}."
        )
    V.check_random_state(est.random_state)
    for name in (
        "output_dimension",
        "num_hidden_units",
        "time_offset",
        "batch_size",
        "checkpoint_every",
    ):
        V.check_positive_int(getattr(est, name), name)
    V.check_positive_int(est.num_negatives, "num_negatives", allow_none=True)
    if est.bin_size is not None:
        V.check_positive_float(est.bin_size, "bin_size")
    V.check_positive_float(est.jacobian_weight, "jacobian_weight", allow_zero=True)
    V.check_choice(est.jacobian_estimate, "jacobian_estimate", JACOBIAN_ESTIMATES)
    V.check_ramp(est.jacobian_ramp, "jacobian_ramp")
    V.check_positive_int(est.max_iterations, "max_iterations", minimum=0)
    for name in ("delta", "temperature", "min_temperature", "learning_rate"):
        V.check_positive_float(getattr(est, name), name)
    if est.criterion == "supcon" and est.hybrid:
        raise ValueError("criterion='supcon' cannot be combined with hybrid=True.")
    if check_objectives(est.objectives) is not None:
        if est.hybrid:
            raise ValueError(
                "hybrid=True cannot be combined with objectives; add a ('time', dims) part to the objectives "
                "instead."
            )
        if est.criterion == "supcon":
            raise ValueError(
                "criterion='supcon' cannot be combined with objectives; use a ('discrete', dims) part."
            )
    V.check_stopping_params(
        est.max_seconds,
        est.early_stopping,
        est.validation_fraction,
        est.n_iter_no_change,
        est.validation_every,
        est.tol,
    )

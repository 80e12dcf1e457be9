"""neuroembed: contrastive embeddings of neural time series.

>>> import neuroembed as ne
>>> sorted(ne.models.MODELS)
['dilated18', 'dilated34', 'offset1', 'offset10', 'offset15', 'offset20', 'offset36', 'offset40', 'offset5', 'offset50']

The estimator, losses, models, sampling, metrics and datasets are imported with the package; the subpackages
that pull in heavier dependencies (``io`` -> pynwb, ``plotting`` -> matplotlib, ``ssl``, ``batch`` -> dask) are
imported on first use through the explicit table ``_LAZY_SUBMODULES`` (as is ``attribution``).
"""

from __future__ import annotations

import importlib
from typing import Any

from neuroembed import datasets, losses, metrics, models, sampling
from neuroembed.ensemble import Ensemble
from neuroembed.estimator import Estimator
from neuroembed.recording import Recording
from neuroembed.solver import TrainingDivergedError

__version__ = "0.1.0"

_LAZY_SUBMODULES = {
    "attribution": "neuroembed.attribution",
    "io": "neuroembed.io",
    "plotting": "neuroembed.plotting",
    "ssl": "neuroembed.ssl",
    "batch": "neuroembed.batch",
}

__all__ = [
    "Ensemble",
    "Estimator",
    "Recording",
    "TrainingDivergedError",
    "__version__",
    "attribution",
    "batch",
    "datasets",
    "io",
    "losses",
    "metrics",
    "models",
    "plotting",
    "sampling",
    "ssl",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(_LAZY_SUBMODULES[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'neuroembed' has no attribute {name!r}")


def __dir__() -> list[str]:
    # the public names and the module's own dunders; not the helpers imported above (importlib, Any, annotations)
    return sorted({name for name in globals() if name.startswith("__")} | set(__all__))

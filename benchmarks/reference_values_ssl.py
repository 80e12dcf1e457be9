"""Reference values: neuroembed's image self-supervised losses against published implementations, on identical inputs.

The companion of ``reference_values.py`` (neuroembed against CEBRA) for ``neuroembed.losses``' image-SSL losses. Not a
speed or quality benchmark: every check feeds the same seeded random inputs to neuroembed and to a published
implementation and reports the largest difference over all cases (the loss value and the gradients with respect to
the inputs), against a stated tolerance. References:

* **lightly 1.6.0** (``lightly.loss``): ``NTXentLoss``, ``NegativeCosineSimilarity``, ``DINOLoss``, ``IBOTPatchLoss``;
  for the training schedules and EMA (section 10), ``lightly.utils.scheduler.cosine_schedule``,
  ``lightly.models.utils.update_momentum``, ``DINOLoss``'s teacher-temperature warm-up and the ``MemoryBankModule`` of
  ``NTXentLoss(memory_bank_size=...)``, against ``neuroembed.models.ema`` and what ``ssl.BYOL`` / ``DINO`` / ``IBOT``
  / ``MoCo`` do at each step of tiny real fits (their ``ema_update_`` and teacher-temperature calls recorded).
* **pytorch-metric-learning** (PML): ``NTXentLoss``, ``SupConLoss``, ``TripletMarginLoss`` with ``BatchHardMiner`` and
  ``TripletMarginMiner``; scikit-learn's ``NearestNeighbors`` for the miner's neighbourhoods.
* **Formulas**, where no implementation is importable: CLIP's symmetric cross-entropy (the paper's pseudo-code,
  open_clip's ``ClipLoss``: open_clip needs torchvision, see below), DINO's teacher-temperature schedule
  (``np.linspace(warmup, final, W)`` of facebookresearch/dino), DINO's momentum ``cosine_scheduler``, and the iBOT
  centre rule. Written here with explicit loops, from the published formulas.

Where the two sides follow different conventions (mean or sum, which samples count, a float32 temperature, which
tokens move a centre), the arguments are mapped so that both compute the same thing, the mapping is named in the
check, and the value with each side's own defaults is shown beside it (rows marked n/a, with the reason).

**torchvision stand-in.** ``import lightly.loss`` imports ``torchvision.ops.roi_align`` (``lightly/loss/
dense_relational_utils.py``) and, through ``lightly.models.utils``, ``torchvision.ops.StochasticDepth``. No
torchvision release installs beside torch 2.13.0, and none of the losses compared here uses either name, so before
lightly is imported this script puts a minimal ``torchvision`` / ``torchvision.ops`` module into ``sys.modules`` whose
``roi_align`` and ``StochasticDepth`` raise ``NotImplementedError`` when called. A real torchvision, if one is
importable, is used instead.

Tolerances: a scalar agrees when ``|neuroembed - reference| <= rtol * max(1, |reference|)``; a gradient tensor when
``max |difference| <= rtol * max |reference gradient|`` (``rtol`` absolute when the reference gradient is zero; CLIP at
logit scale 100 measures against the size of the summed terms, see its notes). ``rtol`` is 1e-12 in float64, 1e-5 for
float32 scalars and 1e-4 for float32 gradient tensors, whose rounding error grows with the largest score (the same rule
as ``reference_values.py``); for float32 each side's own error against a float64 evaluation of the same inputs is
shown beside it. Index checks (miners) must agree exactly.

Setup (a separate environment; see ``benchmarks/README.md``) and run from the repository root::

    /tmp/lv/bin/python benchmarks/reference_values_ssl.py            # writes results/reference_values_ssl.md (seconds)
    /tmp/lv/bin/python benchmarks/reference_values_ssl.py --output -  # prints only
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import math
import os
import platform
import shlex
import sys
import time
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import cpu_model, git_revision, package_version, write_output  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "reference_values_ssl.md"

F32, F64 = torch.float32, torch.float64
DTYPES = (F32, F64)
RTOL = {F32: 1e-5, F64: 1e-12}
# float32 gradient tensors: their rounding error grows with the largest score (|s| ~ 1e2..1e3 in the euclidean SupCon
# cases at tau = 0.07), as in reference_values.py; each side's own error against float64 is shown beside it
RTOL_GRAD32 = 1e-4
SEEDS = (0, 1, 2)


# ---------------------------------------------------------------------------------------------------------------------
# torchvision stand-in, then the references
# ---------------------------------------------------------------------------------------------------------------------
def install_torchvision_stand_in() -> bool:
    """Put a minimal ``torchvision.ops`` into ``sys.modules`` unless a real torchvision imports; True if it did.

    ``lightly.loss`` imports ``torchvision.ops.roi_align`` and ``lightly.models.utils`` imports
    ``torchvision.ops.StochasticDepth`` at module level; torchvision cannot be installed beside torch 2.13.0, and none
    of the losses compared here calls either, so both are stand-ins that raise when used.
    """
    try:
        importlib.import_module("torchvision.ops")
        return False
    except Exception:  # noqa: BLE001 - a broken torchvision build fails in several ways; the stand-in replaces it
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]

    def roi_align(*args: Any, **kwargs: Any) -> Tensor:
        raise NotImplementedError(
            "torchvision stand-in (benchmarks/reference_values_ssl.py): no roi_align"
        )

    class StochasticDepth(torch.nn.Module):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise NotImplementedError(
                "torchvision stand-in (benchmarks/reference_values_ssl.py): no StochasticDepth"
            )

    tv = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    ops.roi_align = roi_align  # type: ignore[attr-defined]
    ops.StochasticDepth = StochasticDepth  # type: ignore[attr-defined]
    tv.ops = ops  # type: ignore[attr-defined]
    tv.__version__ = "0+stand-in"  # type: ignore[attr-defined]
    sys.modules["torchvision"] = tv
    sys.modules["torchvision.ops"] = ops
    return True


STAND_IN = install_torchvision_stand_in()
try:
    import lightly.loss as LL
    import pytorch_metric_learning.losses as PL
    import pytorch_metric_learning.miners as PM
    from lightly.models.modules.memory_bank import MemoryBankModule
    from lightly.models.utils import update_momentum
    from lightly.utils.scheduler import cosine_schedule
    from pytorch_metric_learning.distances import CosineSimilarity, LpDistance
    from pytorch_metric_learning.reducers import DoNothingReducer, MeanReducer
except ImportError as err:  # pragma: no cover - the message is the point
    raise SystemExit(
        f"reference_values_ssl.py needs lightly and pytorch-metric-learning ({err}); set up the environment "
        "described in benchmarks/README.md (section reference_values_ssl.py)."
    ) from err
from sklearn.neighbors import NearestNeighbors  # noqa: E402

import neuroembed.losses as L  # noqa: E402
import neuroembed.losses.dino as LD  # noqa: E402
import neuroembed.ssl as S  # noqa: E402
import neuroembed.ssl.byol as SB  # noqa: E402
import neuroembed.ssl.dino as SD  # noqa: E402
import neuroembed.ssl.ibot as SI  # noqa: E402
import neuroembed.ssl.moco as SM  # noqa: E402
from neuroembed.models.ema import cosine_momentum, ema_update_, frozen_copy  # noqa: E402
from neuroembed.models.heads import DINOHead, ProjectionMLP  # noqa: E402
from neuroembed.models.image import ImageCNN, TinyViT  # noqa: E402


# ---------------------------------------------------------------------------------------------------------------------
# bookkeeping
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One line of a results table."""

    check: str
    cases: str
    neuroembed: str
    reference: str
    diff: str
    tolerance: str
    agrees: str


def _g(x: float, digits: int = 6) -> str:
    return f"{x:.{digits}g}"


def _e(x: float) -> str:
    return f"{x:.1e}"


def _short(d: torch.dtype) -> str:
    return "f32" if d == F32 else "f64"


def _tol_text(dtypes: Sequence[torch.dtype]) -> str:
    return ", ".join(f"{_short(d)} {RTOL[d]:g}" for d in dtypes) + " (rel.)"


@dataclass
class Tally:
    """Largest absolute and relative differences per dtype, and float32's own errors against float64."""

    abs: dict[torch.dtype, float] = field(default_factory=dict)
    rel: dict[torch.dtype, float] = field(default_factory=dict)
    own: dict[str, float] = field(default_factory=dict)
    count: dict[torch.dtype, int] = field(default_factory=dict)
    first: tuple[float, float] | None = None
    gradient: bool = False

    def rtol(self, dtype: torch.dtype) -> float:
        return RTOL_GRAD32 if self.gradient and dtype == F32 else RTOL[dtype]

    def _put(self, dtype: torch.dtype, diff: float, rel: float) -> None:
        self.abs[dtype] = max(self.abs.get(dtype, 0.0), diff)
        self.rel[dtype] = max(self.rel.get(dtype, 0.0), rel)
        self.count[dtype] = self.count.get(dtype, 0) + 1

    def scalar(self, dtype: torch.dtype, ours: Tensor | float, ref: Tensor | float) -> None:
        a = float(ours.detach()) if isinstance(ours, Tensor) else float(ours)
        b = float(ref.detach()) if isinstance(ref, Tensor) else float(ref)
        if self.first is None:
            self.first = (a, b)
        diff = abs(a - b) if not (math.isnan(a) or math.isnan(b)) else math.inf
        self._put(dtype, diff, diff / max(1.0, abs(b)))

    def tensor(self, dtype: torch.dtype, ours: Tensor, ref: Tensor, floor: float = 0.0) -> None:
        diff = float((ours.double() - ref.double()).abs().max()) if ours.numel() else 0.0
        scale = max(float(ref.double().abs().max()) if ref.numel() else 0.0, floor)
        if not math.isfinite(diff):
            diff = math.inf
        self._put(dtype, diff, diff / scale if scale > 0 else diff)

    def own_error(self, who: str, value32: Tensor | float, value64: Tensor | float) -> None:
        v32 = float(value32.detach()) if isinstance(value32, Tensor) else float(value32)
        v64 = float(value64.detach()) if isinstance(value64, Tensor) else float(value64)
        err = abs(v32 - v64) / max(1.0, abs(v64))
        self.own[who] = max(self.own.get(who, 0.0), err)

    def own_tensor_error(self, who: str, value32: Tensor, value64: Tensor) -> None:
        scale = float(value64.abs().max()) if value64.numel() else 0.0
        err = float((value32.double() - value64).abs().max()) if value64.numel() else 0.0
        self.own[who] = max(self.own.get(who, 0.0), err / scale if scale > 0 else err)

    def ok(self) -> bool:
        return all(self.rel[d] <= self.rtol(d) for d in self.rel)

    def tolerance(self) -> str:
        return ", ".join(f"{_short(d)} {self.rtol(d):g}" for d in self.dtypes()) + " (rel.)"

    def diff_text(self) -> str:
        parts = []
        for d in DTYPES:
            if d not in self.abs:
                continue
            text = f"{_short(d)} {_e(self.abs[d])} (rel. {_e(self.rel[d])}"
            if d == F32 and self.own:
                text += "; each vs float64: " + ", ".join(
                    f"{k} {_e(v)}" for k, v in self.own.items()
                )
            parts.append(text + ")")
        return "; ".join(parts)

    def dtypes(self) -> list[torch.dtype]:
        return [d for d in DTYPES if d in self.abs]


def verdict(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def scalar_row(check: str, cases: str, ours: float, ref: float, dtype: torch.dtype) -> Row:
    """One scalar against its reference, within the dtype's tolerance."""
    return Row(
        check,
        cases,
        _g(ours),
        _g(ref),
        _e(abs(ours - ref)),
        _tol_text([dtype]),
        verdict(abs(ours - ref) <= RTOL[dtype] * max(1.0, abs(ref))),
    )


def tally_rows(
    check: str, cases: str, value: Tally, grads: Tally | None, grad_what: str = "input gradients"
) -> list[Row]:
    """A value row and, if given, a gradient row."""
    first = value.first or (math.nan, math.nan)
    rows = [
        Row(
            f"{check}: loss",
            cases,
            _g(first[0]),
            _g(first[1]),
            value.diff_text(),
            value.tolerance(),
            verdict(value.ok()),
        )
    ]
    if grads is not None:
        rows.append(
            Row(
                f"{check}: {grad_what}",
                cases,
                "-",
                "-",
                grads.diff_text(),
                grads.tolerance(),
                verdict(grads.ok()),
            )
        )
    return rows


def evaluate(
    fn: Callable[[list[Tensor]], Tensor], inputs: Sequence[Tensor], grad_of: Sequence[int]
) -> tuple[Tensor, list[Tensor]]:
    """``fn(leaves)`` and its gradients with respect to ``inputs[i]`` for ``i`` in ``grad_of`` (zeros if unused)."""
    leaves = [t.detach().clone().requires_grad_(i in grad_of) for i, t in enumerate(inputs)]
    out = fn(leaves)
    wanted = [leaves[i] for i in grad_of]
    if out.requires_grad and wanted:
        grads = torch.autograd.grad(out, wanted, allow_unused=True)
    else:
        grads = tuple(None for _ in wanted)
    return out.detach(), [
        torch.zeros_like(w) if g is None else g.detach() for w, g in zip(wanted, grads)
    ]


def compare(
    cases: Sequence[tuple[torch.dtype, list[Tensor], dict[str, Any]]],
    ours: Callable[[list[Tensor], dict[str, Any]], Tensor],
    ref: Callable[[list[Tensor], dict[str, Any]], Tensor],
    grad_of: Sequence[int],
    ref_name: str,
) -> tuple[Tally, Tally]:
    """Value and gradient tallies of ``ours`` against ``ref`` over ``cases``; float32 also against float64."""
    value, grads = Tally(), Tally(gradient=True)
    for dtype, inputs, params in cases:
        x = [t.to(dtype) if t.is_floating_point() else t for t in inputs]
        a, ga = evaluate(lambda leaves, p=params: ours(leaves, p), x, grad_of)
        b, gb = evaluate(lambda leaves, p=params: ref(leaves, p), x, grad_of)
        value.scalar(dtype, a, b)
        for u, v in zip(ga, gb):
            grads.tensor(dtype, u, v)
        if dtype == F32:
            x64 = [t.double() if t.is_floating_point() else t for t in x]
            a64, ga64 = evaluate(lambda leaves, p=params: ours(leaves, p), x64, grad_of)
            b64, gb64 = evaluate(lambda leaves, p=params: ref(leaves, p), x64, grad_of)
            value.own_error("ne", a, a64)
            value.own_error(ref_name, b, b64)
            for u, u64, v, v64 in zip(ga, ga64, gb, gb64):
                grads.own_tensor_error("ne", u, u64)
                grads.own_tensor_error(ref_name, v, v64)
    return value, grads


def _cases_text(n_per_dtype: int, what: str) -> str:
    return f"{n_per_dtype} per dtype ({what})"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------------------------------
# 1. NT-Xent
# ---------------------------------------------------------------------------------------------------------------------
NTXENT_SHAPES = ((7, 5), (64, 32), (65, 16))
NTXENT_TEMPERATURES = (0.07, 0.5, 1.0)


def _two_views(seed: int, n: int, d: int) -> list[Tensor]:
    g = _gen(seed)
    z0 = torch.randn(n, d, generator=g, dtype=F64)
    z1 = z0 + 0.7 * torch.randn(n, d, generator=g, dtype=F64)
    return [z0, z1]


def check_ntxent() -> tuple[list[Row], list[str]]:
    cases = [
        (dtype, _two_views(seed, *NTXENT_SHAPES[seed]), {"t": t})
        for dtype in DTYPES
        for seed in SEEDS
        for t in NTXENT_TEMPERATURES
    ]
    what = "seeds 0,1,2 with (n, d) = (7, 5), (64, 32), (65, 16) x tau 0.07, 0.5, 1"
    n = len(cases) // 2
    rows: list[Row] = []

    v, g = compare(
        cases,
        lambda x, p: L.nt_xent(x[0], x[1], p["t"]),
        lambda x, p: LL.NTXentLoss(temperature=p["t"], memory_bank_size=0)(x[0], x[1]),
        (0, 1),
        "lightly",
    )
    rows += tally_rows(
        "`nt_xent(z0, z1, tau)` vs lightly `NTXentLoss(tau, memory_bank_size=0)(z0, z1)`",
        _cases_text(n, what),
        v,
        g,
        "input gradients (z0, z1)",
    )

    def pml(x: list[Tensor], p: dict[str, Any]) -> Tensor:
        n_samples = x[0].shape[0]
        labels = torch.arange(n_samples).repeat(2)
        return PL.NTXentLoss(temperature=p["t"])(torch.cat([x[0], x[1]]), labels)

    v, g = compare(cases, lambda x, p: L.NTXent(temperature=p["t"])(x[0], x[1]), pml, (0, 1), "PML")
    rows += tally_rows(
        "`NTXent(tau)(z0, z1)` vs PML `NTXentLoss(tau)(cat([z0, z1]), labels=[0..n-1, 0..n-1])`",
        _cases_text(n, what),
        v,
        g,
        "input gradients (z0, z1)",
    )

    # MoCo: the query against its key and a queue of earlier keys (lightly's NT-Xent with a memory bank)
    def with_queue(seed: int, n: int, d: int, size: int) -> list[Tensor]:
        q, k = _two_views(seed, n, d)
        queue = torch.nn.functional.normalize(
            torch.randn(size, d, generator=_gen(100 + seed), dtype=F64), dim=1
        )
        return [q, k, queue]

    def lightly_bank(x: list[Tensor], p: dict[str, Any]) -> Tensor:
        crit = LL.NTXentLoss(temperature=p["t"], memory_bank_size=tuple(x[2].shape)).to(x[0].dtype)
        crit.memory_bank.bank = (
            x[2].detach().clone()
        )  # the bank as (size, d): queried before it is updated
        return crit(x[0], x[1])

    queued = [
        (dtype, with_queue(seed, n, d, size), {"t": t})
        for dtype in DTYPES
        for seed, (n, d, size) in zip(SEEDS, ((7, 5, 21), (64, 32, 256), (65, 16, 130)))
        for t in (0.07, 0.2, 1.0)
    ]
    v, g = compare(
        queued,
        lambda x, p: L.InfoNCE(p["t"], positive_in_denominator=True)(x[0], x[1], x[2]),
        lightly_bank,
        (0, 1),
        "lightly",
    )
    rows += tally_rows(
        "MoCo's loss: `InfoNCE(tau, positive_in_denominator=True)(q, k, queue)` (what `ssl.MoCo` computes) vs "
        "lightly `NTXentLoss(tau, memory_bank_size=queue.shape)(q, k)` with its bank set to the queue",
        _cases_text(
            len(queued) // 2,
            "seeds 0,1,2 with (n, d, queue) = (7, 5, 21), (64, 32, 256), (65, 16, 130) x tau 0.07, 0.2, 1; "
            "unit-norm queue",
        ),
        v,
        g,
        "input gradients (q, k)",
    )

    # one sample: every anchor's only other vector is its positive
    one = [(dtype, _two_views(seed, 1, 4), {"t": 0.5}) for dtype in DTYPES for seed in SEEDS]
    v, g = compare(
        one,
        lambda x, p: L.nt_xent(x[0], x[1], p["t"]),
        lambda x, p: LL.NTXentLoss(temperature=p["t"])(x[0], x[1]),
        (0, 1),
        "lightly",
    )
    rows += tally_rows(
        "one sample (n = 1) vs lightly: log 1 = 0, zero gradients",
        _cases_text(len(one) // 2, "seeds 0,1,2, d = 4, tau 0.5"),
        v,
        g,
    )

    # defaults side by side
    z0, z1 = _two_views(0, 64, 32)
    ours = float(L.NTXent()(z0, z1))
    light = float(LL.NTXentLoss()(z0, z1))
    pml_default = float(PL.NTXentLoss()(torch.cat([z0, z1]), torch.arange(64).repeat(2)))
    pml_at_05 = float(
        PL.NTXentLoss(temperature=0.5)(torch.cat([z0, z1]), torch.arange(64).repeat(2))
    )
    rows.append(
        scalar_row(
            "defaults: `NTXent()` (tau 0.5) vs lightly `NTXentLoss()` (tau 0.5)",
            "seed 0, n = 64, d = 32, float64",
            ours,
            light,
            F64,
        )
    )
    rows.append(
        Row(
            "defaults: `NTXent()` (tau 0.5) vs PML `NTXentLoss()` (tau 0.07)",
            "seed 0, n = 64, d = 32, float64",
            _g(ours),
            f"{_g(pml_default)} (at tau 0.5: {_g(pml_at_05)})",
            _e(abs(ours - pml_default)),
            "-",
            "n/a (PML's default temperature is 0.07)",
        )
    )
    notes = [
        "Notes on NT-Xent: all three use the SimCLR loss over the 2n views, mean over the 2n anchors, the anchor "
        "itself out of the denominator and its positive in it; neuroembed and lightly L2-normalise inside the loss, "
        "PML through its default `CosineSimilarity`. PML takes one embedding matrix and labels, so two views become "
        "`cat([z0, z1])` with labels `[0..n-1, 0..n-1]` (each anchor's only positive is its other view, every "
        "other sample is a negative). PML adds `finfo.tiny` inside its log, which is below every tolerance here. "
        "lightly's `memory_bank_size > 0` turns the loss into MoCo's (the positive against a bank of earlier "
        "`out1`s, anchors from `out0` only): that is neuroembed's `InfoNCE(..., positive_in_denominator=True)` "
        "with the queue as negatives, as `ssl.MoCo` calls it (its row above). The two queues are updated "
        "alike when the queue size is a multiple of the batch (MoCo's own requirement); otherwise neuroembed "
        "wraps the keys round the ring and lightly drops the keys past its end. Default temperatures: neuroembed 0.5, lightly 0.5, PML 0.07.",
        "",
    ]
    return rows, notes


# ---------------------------------------------------------------------------------------------------------------------
# 2. SimSiam / BYOL
# ---------------------------------------------------------------------------------------------------------------------
PREDICTOR_SHAPES = ((7, 5), (64, 32), (129, 16), (1, 4))


def _predictor_inputs(seed: int, n: int, d: int) -> list[Tensor]:
    g = _gen(seed)
    p1, p2, z1, z2 = (torch.randn(n, d, generator=g, dtype=F64) for _ in range(4))
    return [p1, p2, z1 + 0.5 * p2, z2 + 0.5 * p1]


def check_predictor() -> tuple[list[Row], list[str]]:
    cases = [
        (dtype, _predictor_inputs(seed, n, d), {})
        for dtype in DTYPES
        for seed in SEEDS
        for n, d in PREDICTOR_SHAPES
    ]
    what = "seeds 0,1,2 x (n, d) = (7, 5), (64, 32), (129, 16), (1, 4)"
    n = len(cases) // 2
    nc = LL.NegativeCosineSimilarity()
    rows: list[Row] = []

    specs: list[tuple[str, Callable[..., Tensor], Callable[..., Tensor], tuple[int, ...], str]] = [
        (
            "`negative_cosine(p, z)` / `NegativeCosine()` vs lightly `NegativeCosineSimilarity()(p, z.detach())`",
            lambda x, _: L.NegativeCosine()(x[0], x[2]),
            lambda x, _: nc(x[0], x[2].detach()),
            (0, 2),
            "input gradients (p, z; z's is zero on both sides)",
        ),
        (
            "`negative_cosine(p, z, stop_gradient=False)` vs lightly `NegativeCosineSimilarity()(p, z)`",
            lambda x, _: L.negative_cosine(x[0], x[2], stop_gradient=False),
            lambda x, _: nc(x[0], x[2]),
            (0, 2),
            "input gradients (p, z)",
        ),
        (
            "`byol_loss(p, z)` / `BYOLLoss()` vs `2 + 2 * NegativeCosineSimilarity()(p, z.detach())`",
            lambda x, _: L.BYOLLoss()(x[0], x[2]),
            lambda x, _: 2.0 + 2.0 * nc(x[0], x[2].detach()),
            (0, 2),
            "input gradients (p, z)",
        ),
        (
            "`symmetric(negative_cosine, p1, p2, z1, z2)` vs lightly's SimSiam recipe "
            "`0.5 * (ncs(p1, z2.detach()) + ncs(p2, z1.detach()))`",
            lambda x, _: L.symmetric(L.negative_cosine, x[0], x[1], x[2], x[3]),
            lambda x, _: 0.5 * (nc(x[0], x[3].detach()) + nc(x[1], x[2].detach())),
            (0, 1, 2, 3),
            "input gradients (p1, p2, z1, z2)",
        ),
        (
            "`symmetric(byol_loss, p1, p2, z1, z2, reduction='sum')` vs BYOL's L + L~ from lightly's BYOL recipe: "
            "`4 + 4 * 0.5 * (ncs(p1, z2.detach()) + ncs(p2, z1.detach()))`",
            lambda x, _: L.symmetric(L.byol_loss, x[0], x[1], x[2], x[3], reduction="sum"),
            lambda x, _: 4.0 + 4.0 * (0.5 * (nc(x[0], x[3].detach()) + nc(x[1], x[2].detach()))),
            (0, 1, 2, 3),
            "input gradients (p1, p2, z1, z2)",
        ),
    ]
    for check, ours, ref, grad_of, grad_what in specs:
        v, g = compare(cases, ours, ref, grad_of, "lightly")
        rows += tally_rows(check, _cases_text(n, what), v, g, grad_what)

    # defaults: same value, but lightly leaves the stop-gradient to the caller
    p, _, z, _ = _predictor_inputs(0, 64, 32)
    a, ga = evaluate(lambda x: L.NegativeCosine()(x[0], x[1]), [p, z], (0, 1))
    b, gb = evaluate(lambda x: nc(x[0], x[1]), [p, z], (0, 1))
    rows.append(
        Row(
            "defaults: `NegativeCosine()` vs lightly `NegativeCosineSimilarity()`, both given (p, z) as they are: "
            "value, then max |d/dz|",
            "seed 0, n = 64, d = 32, float64",
            f"{_g(float(a))}; {_e(float(ga[1].abs().max()))}",
            f"{_g(float(b))}; {_e(float(gb[1].abs().max()))}",
            f"{_e(abs(float(a - b)))}; {_e(float((ga[1] - gb[1]).abs().max()))}",
            "-",
            "n/a (values equal; neuroembed detaches z by default, lightly relies on the caller)",
        )
    )
    notes = [
        "Notes on SimSiam and BYOL: lightly has one predictor loss, `NegativeCosineSimilarity` "
        "(`-cosine_similarity(x0, x1).mean()`, eps 1e-8), and no stop-gradient inside it: its SimSiam and BYOL "
        "models return the target projection detached. neuroembed's `negative_cosine` detaches the target itself "
        "(`stop_gradient=True`). BYOL's loss is the normalised squared error `2 - 2 cos` (Grill et al.); lightly's "
        "BYOL recipe trains on the negative cosine, which has the same minimiser and half the gradient scale, so "
        "the mapping is `byol_loss = 2 + 2 * ncs` per direction, and `reduction='sum'` is the paper's `L + L~`.",
        "",
    ]
    return rows, notes


# ---------------------------------------------------------------------------------------------------------------------
# 3. DINO
# ---------------------------------------------------------------------------------------------------------------------
# (teacher views, student views, batch, prototypes)
DINO_SHAPES = ((2, 2, 8, 64), (2, 6, 5, 33), (2, 10, 3, 17))
DINO_TEMPERATURES = ((0.04, 0.1), (0.07, 0.1), (0.5, 1.0))


def _f32(x: float) -> float:
    """The value lightly divides by: ``torch.tensor(x)`` is float32."""
    return float(torch.tensor(x, dtype=F32))


def _dino_inputs(seed: int, vt: int, vs: int, b: int, k: int) -> list[Tensor]:
    g = _gen(seed)
    student = torch.randn(vs, b, k, generator=g, dtype=F64)
    teacher = 2.0 * torch.randn(vt, b, k, generator=g, dtype=F64)
    center = 0.5 * torch.randn(k, generator=g, dtype=F64)
    return [student, teacher, center]


def _lightly_dino(k: int, dtype: torch.dtype, center: Tensor | None = None, **kwargs: Any) -> Any:
    crit = LL.DINOLoss(output_dim=k, **kwargs).to(dtype)
    if center is not None:
        crit.center.copy_(center.reshape(1, 1, -1))
    return crit


def check_dino() -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    cases = [
        (dtype, _dino_inputs(seed, *DINO_SHAPES[seed]), {"tt": tt, "ts": ts})
        for dtype in DTYPES
        for seed in SEEDS
        for tt, ts in DINO_TEMPERATURES
    ]
    what = (
        "seeds 0,1,2 with (teacher views, student views, batch, K) = (2, 2, 8, 64), (2, 6, 5, 33), (2, 10, 3, 17) "
        "x (tau_t, tau_s) = (0.04, 0.1), (0.07, 0.1), (0.5, 1); random centre"
    )
    n = len(cases) // 2

    def ours(x: list[Tensor], p: dict[str, Any]) -> Tensor:
        return L.dino_cross_entropy(x[0], x[1], x[2], _f32(p["tt"]), p["ts"])

    def ref(x: list[Tensor], p: dict[str, Any]) -> Tensor:
        crit = _lightly_dino(
            x[0].shape[-1], x[0].dtype, x[2], teacher_temp=p["tt"], student_temp=p["ts"]
        )
        return crit(list(x[1].detach()), list(x[0]))

    v, g = compare(cases, ours, ref, (0,), "lightly")
    rows += tally_rows(
        "`dino_cross_entropy(student, teacher, center, float32(tau_t), tau_s)` vs lightly "
        "`DINOLoss(teacher_temp=tau_t, student_temp=tau_s)(teacher_views, student_views)` with the same centre",
        _cases_text(n, what),
        v,
        g,
        "gradient w.r.t. the student outputs",
    )

    # the same without the float32-temperature mapping, float64
    diffs = []
    for dtype, x, p in cases:
        if dtype != F64:
            continue
        a = L.dino_cross_entropy(x[0], x[1], x[2], p["tt"], p["ts"])
        b = ref(x, p)
        diffs.append((abs(float(a - b)), abs(float(b))))
    worst = max(diffs)
    rows.append(
        Row(
            "... float64, neuroembed given tau_t itself (not lightly's float32 value)",
            f"{len(diffs)} float64 cases as above",
            "-",
            "-",
            f"{_e(worst[0])} (rel. {_e(max(d / max(1.0, r) for d, r in diffs))})",
            _tol_text([F64]),
            "n/a (lightly divides by `torch.tensor(tau_t)`, a float32; 0.04 -> 0.03999999910593033)",
        )
    )

    # several steps of the modules: warm-up schedule, centre EMA, loss and student gradients
    traj_rows = dino_trajectory()
    rows += traj_rows

    # the schedule alone
    rows += dino_schedule_rows()

    # defaults side by side
    student, teacher, _ = _dino_inputs(0, 2, 6, 5, 33)
    s32, t32 = student.float(), teacher.float()
    a = float(L.DINOLoss(33)(s32, t32))
    b = float(LL.DINOLoss(33)(list(t32), list(s32)))
    rows.append(
        scalar_row(
            "defaults, first step: `DINOLoss(K)` (tau_t 0.04, tau_s 0.1, momentum 0.9, no warm-up) vs lightly "
            "`DINOLoss(K)` (warm-up 0.04 -> 0.04 over 30 epochs: constant 0.04, tau_s 0.1, momentum 0.9)",
            "seed 0, (2, 6, 5, 33), float32",
            a,
            b,
            F32,
        )
    )
    notes = [
        "Notes on DINO: both compute the mean over the batch and over the (teacher view i, student view j) pairs with "
        "i != j of the cross-entropy between `softmax((t_i - c) / tau_t)` and `log_softmax(s_j / tau_s)`, and after "
        "the forward move the centre to `m c + (1 - m) mean(t)` over all teacher views and images (as "
        "facebookresearch/dino's `DINOLoss.update_center`). Differences, each mapped above:",
        "",
        "- *Argument order*: lightly's `forward(teacher_out, student_out)` takes the teacher first, as lists of "
        "views; neuroembed's `(student_outputs, teacher_outputs)`, tensors `(n_views, batch, K)` or lists.",
        "- *Teacher temperature precision*: lightly divides by `torch.tensor(teacher_temp)`, a float32 0-d tensor, "
        "also in a float64 computation (a relative change of up to 6e-8; 2.2e-8 for 0.04); neuroembed divides by "
        "the Python float. The float64 checks give neuroembed lightly's float32 value; the row without that mapping "
        "shows the size of the effect. The multi-step check uses temperatures that are exact in float32 (dyadic: "
        "1/32 -> 1/16) instead.",
        "- *Warm-up schedule*: DINO's `warmup_teacher_temp_epochs = W` is `linspace(warmup, final, W)`, which "
        "reaches the final temperature at epoch `W - 1`; neuroembed's `warmup_steps = S` reaches it at step `S`. "
        "So `S = W - 1` gives the same schedule (mapped above). DINO's and lightly's `W = 1` keeps the *warm-up* "
        "temperature at epoch 0 (`linspace` with one point), which no `S` reproduces (`S = 0` means no warm-up). "
        "The step is passed explicitly to both (`step=` / `epoch=`); neuroembed's default step is its number of "
        "centre updates.",
        "- *Stop-gradient*: neuroembed detaches the teacher outputs; lightly's `DINOLoss` does not (its teacher "
        "runs under `no_grad`), so only the student gradients are compared.",
        "- *Centre dtype*: both keep the centre as a buffer in the module's dtype (`.to(dtype)` on both sides here); "
        "neuroembed casts the batch mean to it, lightly's update promotes it.",
        "",
    ]
    return rows, notes


def dino_trajectory() -> list[Row]:
    """Eight training steps of both modules with a warm-up: loss, student gradient and centre after every step."""
    k, b, vt, vs, w, steps = 17, 6, 2, 5, 5, 8
    warm, final = 1 / 32, 1 / 16  # exact in float32, so lightly's float32 schedule is exact too
    loss_t, grad_t, center_t, temp_t = Tally(), Tally(gradient=True), Tally(), Tally()
    n_runs = 0
    for dtype in DTYPES:
        for seed in SEEDS:
            n_runs += dtype == F64
            ours = L.DINOLoss(
                k,
                teacher_temperature=final,
                student_temperature=0.1,
                center_momentum=0.8,
                warmup_teacher_temperature=warm,
                warmup_steps=w - 1,
            ).to(dtype)
            ref = LL.DINOLoss(
                k,
                warmup_teacher_temp=warm,
                teacher_temp=final,
                warmup_teacher_temp_epochs=w,
                student_temp=0.1,
                center_momentum=0.8,
            ).to(dtype)
            g = _gen(100 + seed)
            for step in range(steps):
                s = torch.randn(vs, b, k, generator=g, dtype=F64).to(dtype)
                t = (2.0 * torch.randn(vt, b, k, generator=g, dtype=F64) + 1.0).to(dtype)
                temp_t.scalar(
                    dtype,
                    ours.current_teacher_temperature(step),
                    float(ref.teacher_temp_schedule[step]) if step < w else ref.teacher_temp,
                )
                sa = s.clone().requires_grad_(True)
                la = ours(sa, t, step=step)
                (ga,) = torch.autograd.grad(la, sa)
                sb = s.clone().requires_grad_(True)
                lb = ref(list(t), list(sb), epoch=step)
                (gb,) = torch.autograd.grad(lb, sb)
                loss_t.scalar(dtype, la, lb)
                grad_t.tensor(dtype, ga, gb)
                center_t.tensor(dtype, ours.center.reshape(-1), ref.center.reshape(-1))
    cases = _cases_text(
        n_runs,
        f"seeds 0,1,2; {steps} steps each, (2, 5, 6, 17), momentum 0.8, warm-up 1/32 -> 1/16: neuroembed "
        f"`warmup_steps={w - 1}`, lightly `warmup_teacher_temp_epochs={w}`",
    )
    check = "`DINOLoss` vs lightly `DINOLoss`, 8 steps"
    return [
        Row(
            f"{check}: teacher temperature at each step",
            cases,
            _g(temp_t.first[0]) + " (step 0)" if temp_t.first else "-",
            _g(temp_t.first[1]) + " (step 0)" if temp_t.first else "-",
            temp_t.diff_text(),
            temp_t.tolerance(),
            verdict(temp_t.ok()),
        ),
        *tally_rows(
            check, cases, loss_t, grad_t, "gradient w.r.t. the student outputs, every step"
        ),
        Row(
            f"{check}: centre after every step",
            cases,
            "-",
            "-",
            center_t.diff_text(),
            center_t.tolerance(),
            verdict(center_t.ok()),
        ),
    ]


def dino_schedule_rows() -> list[Row]:
    """``teacher_temperature_at`` against DINO's ``linspace`` schedule (float64) and lightly's (float32)."""
    formula, light = Tally(), Tally()
    settings = ((0.04, 0.07, 30), (0.04, 0.07, 10), (0.02, 0.04, 7), (0.1, 0.03, 50))
    for warm, final, w in settings:
        lightly_schedule = LL.DINOLoss(
            8, warmup_teacher_temp=warm, teacher_temp=final, warmup_teacher_temp_epochs=w
        ).teacher_temp_schedule
        for epoch in range(w + 5):
            ours = L.teacher_temperature_at(epoch, final, warm, w - 1)
            # facebookresearch/dino: concatenate(linspace(warmup, final, W), final * ones(...)), i.e.
            # warmup + epoch * (final - warmup) / (W - 1) for epoch < W, final afterwards
            dino = warm + epoch * ((final - warm) / (w - 1)) if epoch < w else final
            formula.scalar(F64, ours, dino)
            light.scalar(F32, ours, float(lightly_schedule[epoch]) if epoch < w else final)
    what = (
        "(warm-up, final, W) = (0.04, 0.07, 30), (0.04, 0.07, 10), (0.02, 0.04, 7), (0.1, 0.03, 50); epochs "
        "0 .. W + 4; neuroembed `warmup_steps = W - 1`"
    )
    return [
        Row(
            "`teacher_temperature_at(e, final, warmup, W - 1)` vs DINO's schedule `linspace(warmup, final, W)` "
            "(formula, float64)",
            what,
            "-",
            "-",
            formula.diff_text(),
            _tol_text([F64]),
            verdict(formula.ok()),
        ),
        Row(
            "`teacher_temperature_at(e, final, warmup, W - 1)` vs lightly `DINOLoss(...).teacher_temp_schedule` "
            "(float32 `torch.linspace`)",
            what,
            "-",
            "-",
            light.diff_text(),
            _tol_text([F32]),
            verdict(light.ok()),
        ),
    ]


# ---------------------------------------------------------------------------------------------------------------------
# 4. iBOT
# ---------------------------------------------------------------------------------------------------------------------
# (batch, grid side, prototypes)
IBOT_SHAPES = ((4, 4, 11), (7, 4, 32), (3, 5, 64))
IBOT_TEMPERATURES = ((0.04, 0.1), (0.07, 0.1), (0.5, 1.0))


def _ibot_mask(g: torch.Generator, b: int, p: int, counts: Sequence[int]) -> Tensor:
    """``b`` rows with ``counts[i]`` masked tokens at random places."""
    mask = torch.zeros(b, p, dtype=torch.bool)
    for i in range(b):
        c = counts[int(torch.randint(len(counts), (1,), generator=g))]
        mask[i, torch.randperm(p, generator=g)[:c]] = True
    return mask


def _ibot_inputs(seed: int, b: int, side: int, k: int, counts: Sequence[int]) -> list[Tensor]:
    g = _gen(seed)
    p = side * side
    student = torch.randn(b, p, k, generator=g, dtype=F64)
    teacher = 2.0 * torch.randn(b, p, k, generator=g, dtype=F64)
    center = 0.5 * torch.randn(k, generator=g, dtype=F64)
    return [student, teacher, center, _ibot_mask(g, b, p, counts)]


def _lightly_ibot(x: list[Tensor], tt: float, ts: float) -> Tensor:
    student, teacher, center, mask = x
    b, p, k = student.shape
    side = math.isqrt(p)
    crit = LL.IBOTPatchLoss(output_dim=k, teacher_temp=tt, student_temp=ts).to(student.dtype)
    crit.center.center.copy_(center.reshape(1, -1))
    return crit(teacher[mask].detach(), student[mask], mask.reshape(b, side, side))


def check_ibot() -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    dyadic = (1, 2, 4, 8)
    cases = [
        (dtype, _ibot_inputs(seed, *IBOT_SHAPES[seed], dyadic), {"tt": tt, "ts": ts})
        for dtype in DTYPES
        for seed in SEEDS
        for tt, ts in IBOT_TEMPERATURES
    ]
    what = (
        "seeds 0,1,2 with (batch, patches, K) = (4, 16, 11), (7, 16, 32), (3, 25, 64) x (tau_t, tau_s) = "
        "(0.04, 0.1), (0.07, 0.1), (0.5, 1); 1, 2, 4 or 8 masked tokens per image; random centre"
    )
    n = len(cases) // 2

    def ours(x: list[Tensor], p: dict[str, Any]) -> Tensor:
        return L.ibot_patch_cross_entropy(x[0], x[1], x[3], x[2], _f32(p["tt"]), p["ts"])

    def ref(x: list[Tensor], p: dict[str, Any]) -> Tensor:
        return _lightly_ibot(x, p["tt"], p["ts"])

    v, g = compare(cases, ours, ref, (0,), "lightly")
    rows += tally_rows(
        "`ibot_patch_cross_entropy(student, teacher, mask, center, float32(tau_t), tau_s)` vs lightly "
        "`IBOTPatchLoss(teacher_temp=tau_t, student_temp=tau_s)(teacher[mask], student[mask], mask)`, every image "
        "masked",
        _cases_text(n, what),
        v,
        g,
        "gradient w.r.t. the student patches",
    )

    # any number of masked tokens: lightly's per-image weights 1 / count are float32
    odd = [
        (F64, _ibot_inputs(seed, *IBOT_SHAPES[seed], (1, 3, 5, 6)), {"tt": 0.0625, "ts": 0.125})
        for seed in SEEDS
    ]
    worst = 0.0
    for _, x, p in odd:
        worst = max(worst, abs(float(ours(x, p) - ref(x, p))))
    rows.append(
        Row(
            "... float64 with 1, 3, 5 or 6 masked tokens per image",
            "3 (seeds 0,1,2), tau_t 1/16, tau_s 1/8",
            "-",
            "-",
            _e(worst),
            _tol_text([F64]),
            "n/a (lightly's weights `1 / mask.sum().clamp(min=1.0)` are float32: 1/3 becomes 0.3333333433)",
        )
    )

    # images without any masked token: both sides count them as zeros in the mean over the batch
    empty = Tally()
    n_empty = 0
    for dtype in DTYPES:
        for seed in SEEDS:
            x = _ibot_inputs(seed, 6, 4, 16, (0, 0, 1, 2, 4))
            x[3][0, :] = (
                False  # at least one image without, one with masked tokens (4: 1 / 4 is exact)
            )
            x[3][1, :] = False
            x[3][1, :4] = True
            x = [t.to(dtype) if t.is_floating_point() else t for t in x]
            empty.scalar(
                dtype, ours(x, {"tt": 0.0625, "ts": 0.125}), _lightly_ibot(x, 0.0625, 0.125)
            )
            n_empty += dtype == F64
    rows.append(
        Row(
            "images without a masked token (both: the mean over all images, those counting as zero)",
            f"{n_empty} per dtype (seeds 0,1,2; batch 6, 16 patches, K 16)",
            _g(empty.first[0]) if empty.first else "-",
            _g(empty.first[1]) if empty.first else "-",
            empty.diff_text(),
            empty.tolerance(),
            verdict(empty.ok()),
        )
    )

    rows += ibot_trajectory()
    notes = [
        "Notes on iBOT: lightly's `IBOTPatchLoss` follows DINOv2's `iBOTPatchLoss.forward_masked`: it takes only "
        "the masked tokens, flattened (`teacher[mask]`, `student[mask]`), and the `(batch, h, w)` mask; neuroembed "
        "takes the full `(batch, patches, K)` outputs and a `(batch, patches)` mask. Both average the token "
        "cross-entropy over each image's masked tokens, then over all the images of the batch, an image without "
        "a masked token counting as zero (iBOT's own code: `loss2.mean()` over the batch in bytedance/ibot "
        "`main_ibot.py`). neuroembed averaged over the masked images only until this comparison found it (with "
        "`IBOT(mask_probability=0.5)` its patch loss was about twice iBOT's); it now follows iBOT. They differ in "
        "two places:",
        "",
        "- *Patch centre*: neuroembed moves it to the mean teacher output over *all* tokens of the batch (iBOT's "
        "`update_center`: `teacher_patch.mean(1)` summed over the batch); lightly over the masked tokens it is given "
        "(DINOv2's `update_center` of the masked teacher tokens, with `centering: centering`). The trajectory "
        "above uses full masks, where the two rules coincide; the last two rows check each side against its own "
        "rule with partial masks.",
        "- *Float32 pieces in float64*: lightly divides by a float32 `torch.tensor(teacher_temp)` and weights each "
        "token by a float32 `1 / count`; the float64 checks give neuroembed lightly's float32 temperature and use "
        "1, 2, 4 or 8 masked tokens per image (exact reciprocals).",
        "",
    ]
    return rows, notes


def ibot_trajectory() -> list[Row]:
    """Five steps of both modules with full masks, then each centre against its own rule with partial masks."""
    b, side, k, steps = 4, 4, 13, 5  # 16 patches: lightly's float32 1 / 16 is exact
    p = side * side
    loss_t, grad_t, center_t = Tally(), Tally(gradient=True), Tally()
    ours_rule, ref_rule = Tally(), Tally()
    gap = 0.0
    for dtype in DTYPES:
        for seed in SEEDS:
            for full in (True, False):
                ours = L.IBOTPatchLoss(
                    k, teacher_temperature=0.0625, student_temperature=0.125, center_momentum=0.7
                ).to(dtype)
                ref = LL.IBOTPatchLoss(
                    k, teacher_temp=0.0625, student_temp=0.125, center_momentum=0.7
                ).to(dtype)
                all_tokens = torch.zeros(k, dtype=F64)
                masked_tokens = torch.zeros(k, dtype=F64)
                g = _gen(200 + seed)
                for _ in range(steps):
                    s = torch.randn(b, p, k, generator=g, dtype=F64).to(dtype)
                    t = (2.0 * torch.randn(b, p, k, generator=g, dtype=F64) + 1.0).to(dtype)
                    mask = (
                        torch.ones(b, p, dtype=torch.bool)
                        if full
                        else _ibot_mask(g, b, p, (1, 2, 4, 8))
                    )
                    sa = s.clone().requires_grad_(True)
                    la = ours(sa, t, mask)
                    (ga,) = torch.autograd.grad(la, sa)
                    sb = s.clone().requires_grad_(True)
                    lb = ref(t[mask], sb[mask], mask.reshape(b, side, side))
                    (gb,) = torch.autograd.grad(lb, sb)
                    # the centre rules, in float64 with loops over tokens
                    t64 = t.double()
                    mean_all = sum(t64[i, j] for i in range(b) for j in range(p)) / (b * p)
                    picked = [t64[i, j] for i in range(b) for j in range(p) if mask[i, j]]
                    mean_masked = sum(picked) / len(picked)
                    all_tokens = 0.7 * all_tokens + 0.3 * mean_all
                    masked_tokens = 0.7 * masked_tokens + 0.3 * mean_masked
                    if full:
                        loss_t.scalar(dtype, la, lb)
                        grad_t.tensor(dtype, ga, gb)
                        center_t.tensor(
                            dtype, ours.center.reshape(-1), ref.center.center.reshape(-1)
                        )
                if not full:
                    ours_rule.tensor(dtype, ours.center.reshape(-1), all_tokens)
                    ref_rule.tensor(dtype, ref.center.center.reshape(-1), masked_tokens)
                    gap = max(
                        gap,
                        float(
                            (ours.center.reshape(-1) - ref.center.center.reshape(-1)).abs().max()
                        ),
                    )
    cases = f"3 per dtype (seeds 0,1,2); {steps} steps each, batch {b}, {p} patches, K {k}, momentum 0.7"
    check = "`IBOTPatchLoss` vs lightly `IBOTPatchLoss`, every token masked"
    return [
        *tally_rows(
            check, cases, loss_t, grad_t, "gradient w.r.t. the student patches, every step"
        ),
        Row(
            f"{check}: centre after every step",
            cases,
            "-",
            "-",
            center_t.diff_text(),
            center_t.tolerance(),
            verdict(center_t.ok()),
        ),
        Row(
            "partial masks: neuroembed's centre after 5 steps vs iBOT's rule (EMA of the mean over all teacher "
            f"tokens, loops here); lightly's centre differs from it by up to {_e(gap)}",
            cases,
            "-",
            "iBOT rule",
            ours_rule.diff_text(),
            ours_rule.tolerance(),
            verdict(ours_rule.ok()),
        ),
        Row(
            "partial masks: lightly's centre after 5 steps vs DINOv2's rule (EMA of the mean over the masked "
            "teacher tokens, loops here)",
            cases,
            "-",
            "DINOv2 rule",
            ref_rule.diff_text(),
            ref_rule.tolerance(),
            verdict(ref_rule.ok()),
        ),
    ]


# ---------------------------------------------------------------------------------------------------------------------
# 5. SupCon
# ---------------------------------------------------------------------------------------------------------------------
# (samples, views (0: a 2-D input), features, classes)
SUPCON_SHAPES = ((7, 2, 5, 3), (64, 2, 32, 10), (33, 0, 16, 4))
SUPCON_TEMPERATURES = (0.07, 0.1, 0.5)


def _supcon_inputs(seed: int, n: int, views: int, d: int, classes: int) -> list[Tensor]:
    g = _gen(seed)
    labels = torch.randint(classes, (n,), generator=g)
    labels[:2] = torch.tensor([0, 1])  # at least two classes: every anchor has a negative
    centres = torch.randn(classes, d, generator=g, dtype=F64)
    shape = (n, views, d) if views else (n, d)
    noise = torch.randn(*shape, generator=g, dtype=F64)
    base = centres[labels][:, None, :] if views else centres[labels]
    return [base + noise, labels]


def _flat(features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    if features.ndim == 3:
        return features.reshape(-1, features.shape[-1]), labels.repeat_interleave(features.shape[1])
    return features, labels


def _pml_supcon_mapped(x: list[Tensor], t: float, distance: Any) -> Tensor:
    """PML's per-anchor SupCon losses, averaged over the anchors that have a positive."""
    feats, labels = _flat(x[0], x[1])
    losses = PL.SupConLoss(temperature=t, distance=distance, reducer=DoNothingReducer())(
        feats, labels
    )["loss"]["losses"]
    same = labels[:, None] == labels[None, :]
    has_positive = (same.sum(1) - 1) > 0
    return losses[has_positive].mean()


def check_supcon() -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    cases = [
        (dtype, _supcon_inputs(seed, *SUPCON_SHAPES[seed]), {"t": t})
        for dtype in DTYPES
        for seed in SEEDS
        for t in SUPCON_TEMPERATURES
    ]
    what = (
        "seeds 0,1,2 with (n, views, d, classes) = (7, 2, 5, 3), (64, 2, 32, 10), (33, -, 16, 4) x tau "
        "0.07, 0.1, 0.5"
    )
    n = len(cases) // 2

    v, g = compare(
        cases,
        lambda x, p: L.SupCon(temperature=p["t"])(x[0], x[1]),
        lambda x, p: PL.SupConLoss(temperature=p["t"])(*_flat(x[0], x[1])),
        (0,),
        "PML",
    )
    rows += tally_rows(
        "`SupCon(tau)(features, labels)` vs PML `SupConLoss(tau)(features flattened, labels per view)` (cosine, "
        "PML's default reducer)",
        _cases_text(n, what),
        v,
        g,
        "gradient w.r.t. the features",
    )
    euclid = LpDistance(normalize_embeddings=False, p=2, power=2)
    v, g = compare(
        cases,
        lambda x, p: L.supcon(x[0], x[1], p["t"], distance="euclidean"),
        lambda x, p: _pml_supcon_mapped(x, p["t"], euclid),
        (0,),
        "PML",
    )
    rows += tally_rows(
        "`supcon(..., distance='euclidean')` vs PML `SupConLoss(distance=LpDistance(normalize_embeddings=False, "
        "power=2), reducer=DoNothingReducer())`, mean over anchors with a positive",
        _cases_text(n, what),
        v,
        g,
        "gradient w.r.t. the features",
    )

    # PML's default reducer drops anchors whose loss is exactly zero: a same-label pair far closer than the rest
    x, y = _supcon_inputs(0, 16, 0, 8, 4)
    x = 3.0 * x
    y[:2] = 7  # a class of its own, two samples almost on top of each other
    x[1] = x[0] + 0.01 * torch.randn(8, generator=_gen(5), dtype=F64)
    x[0], x[1] = x[0] + 20.0, x[1] + 20.0
    a = float(L.supcon(x, y, 0.07, distance="euclidean"))
    b = float(PL.SupConLoss(temperature=0.07, distance=euclid)(x, y))
    b_mapped = float(_pml_supcon_mapped([x, y], 0.07, euclid))
    per = PL.SupConLoss(temperature=0.07, distance=euclid, reducer=DoNothingReducer())(x, y)
    dropped = int((per["loss"]["losses"] <= 0).sum())
    rows.append(
        Row(
            "euclidean, a same-label pair far closer than everything else, with PML's default `AvgNonZeroReducer`",
            "seed 0, 16 samples, tau 0.07, float64",
            _g(a),
            f"{_g(b)} (mapped reducer: {_g(b_mapped)})",
            _e(abs(a - b)),
            "-",
            f"n/a ({dropped} anchor losses are exactly 0 and leave PML's mean; neuroembed keeps them)",
        )
    )

    # one class only: no negatives anywhere
    x = torch.randn(6, 2, 4, generator=_gen(0), dtype=F64)
    y = torch.zeros(6, dtype=torch.long)
    a = float(L.supcon(x, y, 0.1))
    b = float(PL.SupConLoss(temperature=0.1)(*_flat(x, y)))
    rows.append(
        Row(
            "one class in the batch (no negatives)",
            "seed 0, 6 samples x 2 views, float64",
            _g(a),
            _g(b),
            _e(abs(a - b)),
            "-",
            "n/a (PML returns 0 without negatives; neuroembed, like Khosla's code, keeps the positives' softmax)",
        )
    )
    x, y = _supcon_inputs(1, 64, 2, 32, 10)
    a = float(L.SupCon()(x, y))
    b = float(PL.SupConLoss()(*_flat(x, y)))
    rows.append(
        scalar_row(
            "defaults: `SupCon()` (tau 0.1, cosine, no base temperature) vs PML `SupConLoss()` (tau 0.1, cosine)",
            "seed 1, 64 x 2 views, float64",
            a,
            b,
            F64,
        )
    )
    notes = [
        "Notes on SupCon: both compute Khosla's L_out: for each anchor, the mean over its positives of "
        "`s_ip - logsumexp_{a != i} s_ia`, the anchor out of both, every other sample (other views included) in the "
        "denominator, mean over anchors with a positive. PML takes flat embeddings, so `(n, views, d)` becomes "
        "`(n * views, d)` with each label repeated per view (what neuroembed does inside). neuroembed's "
        "`distance='euclidean'` score is minus the squared distance of the raw vectors, which is PML's "
        "`LpDistance(normalize_embeddings=False, power=2)` (PML negates non-inverted distances). PML's default "
        "`AvgNonZeroReducer` averages over the anchors whose loss is > 0: the anchors without a positive (loss 0), "
        "as neuroembed, but also any anchor whose loss rounds to exactly 0 (a positive far closer than everything "
        "else; here in the euclidean cases at small temperatures), which neuroembed keeps; the euclidean rows "
        "therefore take PML's per-anchor losses and average them over the anchors with a positive. Khosla's "
        "reference code multiplies by `temperature / base_temperature` (0.07 / 0.07 by default); PML does not, and "
        "neuroembed only when `base_temperature` is given.",
        "",
    ]
    return rows, notes


# ---------------------------------------------------------------------------------------------------------------------
# 6. Triplet margin
# ---------------------------------------------------------------------------------------------------------------------
# (samples, features, classes)
TRIPLET_SHAPES = ((9, 4, 3), (32, 8, 5), (65, 16, 6))
TRIPLET_MARGINS = (0.05, 0.2, 1.0)


def _triplet_inputs(seed: int, n: int, d: int, classes: int) -> list[Tensor]:
    g = _gen(seed)
    labels = torch.randint(classes, (n,), generator=g)
    labels[:4] = torch.tensor([0, 0, 1, 1])
    centres = torch.randn(classes, d, generator=g, dtype=F64)
    return [centres[labels] + 0.8 * torch.randn(n, d, generator=g, dtype=F64), labels]


def _pml_semi_hard(x: list[Tensor], margin: float) -> Tensor:
    """neuroembed's ``semi_hard`` selection rule applied to PML's triplet sets, the loss by PML.

    For each (anchor, positive) pair: among the negatives PML's ``TripletMarginMiner`` puts in ``semihard`` or
    ``easy`` (``d(a, n) > d(a, p)``), the nearest; if there is none, the farthest of its ``hard`` ones. The loss of
    these triplets is PML's ``TripletMarginLoss`` with a plain mean over the pairs.
    """
    emb, labels = x
    n = emb.shape[0]
    with torch.no_grad():
        dist = LpDistance()(emb)
        farther = torch.zeros(n, n, n, dtype=torch.bool)
        harder = torch.zeros(n, n, n, dtype=torch.bool)
        for kind, target in (("semihard", farther), ("easy", farther), ("hard", harder)):
            a, p, neg = PM.TripletMarginMiner(margin=margin, type_of_triplets=kind)(emb, labels)
            target[a, p, neg] = True
        d_an = dist[:, None, :].expand(n, n, n)
        nearest = torch.where(farther, d_an, math.inf).argmin(2)
        farthest = torch.where(harder, d_an, -math.inf).argmax(2)
        chosen = torch.where(farther.any(2), nearest, farthest)
        pairs = (farther | harder).any(2).nonzero()
    indices = (pairs[:, 0], pairs[:, 1], chosen[pairs[:, 0], pairs[:, 1]])
    return PL.TripletMarginLoss(margin=margin, reducer=MeanReducer())(emb, labels, indices)


def check_triplet() -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    cases = [
        (dtype, _triplet_inputs(seed, *TRIPLET_SHAPES[seed]), {"m": m})
        for dtype in DTYPES
        for seed in SEEDS
        for m in TRIPLET_MARGINS
    ]
    what = "seeds 0,1,2 with (n, d, classes) = (9, 4, 3), (32, 8, 5), (65, 16, 6) x margin 0.05, 0.2, 1"
    n = len(cases) // 2
    specs = [
        (
            "`triplet_margin(x, y, m, 'all')` vs PML `TripletMarginLoss(m)(x, y)` (every triplet, PML's default "
            "`AvgNonZeroReducer`)",
            lambda x, p: L.triplet_margin(x[0], x[1], p["m"], "all"),
            lambda x, p: PL.TripletMarginLoss(margin=p["m"])(x[0], x[1]),
        ),
        (
            "`triplet_margin(x, y, m, 'batch_hard')` vs PML `BatchHardMiner()` + `TripletMarginLoss(m, "
            "reducer=MeanReducer())`",
            lambda x, p: L.TripletMargin(p["m"], "batch_hard")(x[0], x[1]),
            lambda x, p: PL.TripletMarginLoss(margin=p["m"], reducer=MeanReducer())(
                x[0], x[1], PM.BatchHardMiner()(x[0], x[1])
            ),
        ),
        (
            "`triplet_margin(x, y, m, 'semi_hard')` vs PML `TripletMarginMiner(m, 'semihard' / 'easy' / 'hard')` "
            "triplet sets, nearest farther negative per pair (else farthest), `TripletMarginLoss(m, "
            "reducer=MeanReducer())`",
            lambda x, p: L.triplet_margin(x[0], x[1], p["m"], "semi_hard"),
            lambda x, p: _pml_semi_hard(x, p["m"]),
        ),
    ]
    for check, ours, ref in specs:
        v, g = compare(cases, ours, ref, (0,), "PML")
        rows += tally_rows(check, _cases_text(n, what), v, g, "gradient w.r.t. the embeddings")

    # PML's own semi-hard recipe: every semi-hard triplet, mean over the non-zero ones
    x, y = _triplet_inputs(1, 32, 8, 5)
    a = float(L.triplet_margin(x, y, 0.2, "semi_hard"))
    triplets = PM.TripletMarginMiner(margin=0.2, type_of_triplets="semihard")(x, y)
    b = float(PL.TripletMarginLoss(margin=0.2)(x, y, triplets))
    rows.append(
        Row(
            "semi-hard as each library's recipe: `triplet_margin(..., 'semi_hard')` vs PML "
            "`TripletMarginMiner(0.2, 'semihard')` + `TripletMarginLoss(0.2)`",
            f"seed 1, n = 32, margin 0.2, float64; PML keeps {len(triplets[0])} triplets",
            _g(a),
            _g(b),
            _e(abs(a - b)),
            "-",
            "n/a (PML: every semi-hard triplet, mean over them; neuroembed: one negative per pair, mean over pairs)",
        )
    )
    a = float(L.TripletMargin()(x, y))
    b = float(PL.TripletMarginLoss()(x, y))
    b_same = float(
        PL.TripletMarginLoss(margin=0.2, reducer=MeanReducer())(x, y, PM.BatchHardMiner()(x, y))
    )
    rows.append(
        Row(
            "defaults: `TripletMargin()` (margin 0.2, batch hard) vs PML `TripletMarginLoss()` (margin 0.05, all "
            "triplets, mean over non-zero)",
            "seed 1, n = 32, float64",
            _g(a),
            f"{_g(b)} (batch hard, margin 0.2, mean: {_g(b_same)})",
            _e(abs(a - b)),
            "-",
            "n/a (different defaults)",
        )
    )
    notes = [
        "Notes on the triplet loss: both L2-normalise and use the euclidean distance of unit vectors (PML's default "
        "`LpDistance()`, computed with `torch.cdist`; neuroembed as `sqrt(2 - 2 cos)`), hinge `relu(d_ap - d_an + m)`. "
        "Reductions: neuroembed's `'all'` averages over the triplets with a positive loss, which is PML's default "
        "`AvgNonZeroReducer`; `'batch_hard'` averages over every anchor that has a positive and a negative, zero "
        "losses included (Hermans et al.), so PML needs `reducer=MeanReducer()` (with its default reducer the zero "
        "anchors leave the mean). `'semi_hard'` is FaceNet's rule as TensorFlow Addons implements it: one negative "
        "per (anchor, positive) pair, the nearest one farther than the positive, or the farthest negative when all "
        "are closer, mean over all pairs; PML has no such selection (its semi-hard miner returns every triplet with "
        "`0 < d_an - d_ap <= m`), so the mapped row picks that negative from PML's `semihard`, `easy` and `hard` "
        "triplet sets (together every triplet) and lets PML compute the loss and its gradient.",
        "",
    ]
    return rows, notes


# ---------------------------------------------------------------------------------------------------------------------
# 7. HardNegativeMiner
# ---------------------------------------------------------------------------------------------------------------------
MINER_SHAPES = ((40, 6, 4), (101, 8, 7), (256, 16, 10))


def check_miner() -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    for distance, pml_distance, label in (
        ("cosine", CosineSimilarity(), "CosineSimilarity()"),
        (
            "euclidean",
            LpDistance(normalize_embeddings=False),
            "LpDistance(normalize_embeddings=False)",
        ),
    ):
        compared, mismatched, drawn_bad = 0, 0, 0
        for dtype in DTYPES:
            for seed in SEEDS:
                x, y = _triplet_inputs(seed, *MINER_SHAPES[seed])
                x = x.to(dtype)
                miner = L.HardNegativeMiner(n_neighbors=1, distance=distance, random_state=seed)
                miner.update(x, step=0, labels=y)
                a, _, neg = PM.BatchHardMiner(distance=pml_distance)(x, y)
                compared += len(a)
                mismatched += int((miner.neighbors_[a, 0] != neg).sum())
                drawn_bad += int((miner.sample(a) != neg).sum())
        rows.append(
            Row(
                f"`HardNegativeMiner(n_neighbors=1, distance='{distance}')`, `update(x, labels=y)`: "
                f"`neighbors_[:, 0]` and `sample(anchors)` vs PML `BatchHardMiner(distance={label})` hardest negatives",
                "seeds 0,1,2 x float32, float64; (n, d, classes) = (40, 6, 4), (101, 8, 7), (256, 16, 10)",
                f"{compared} anchors",
                f"{compared} anchors",
                f"{mismatched} / {drawn_bad} different",
                "identical indices",
                verdict(mismatched == 0 and drawn_bad == 0),
            )
        )
    for distance in ("cosine", "euclidean"):
        compared, mismatched, outside = 0, 0, 0
        for dtype in DTYPES:
            for seed in SEEDS:
                x, _ = _triplet_inputs(seed, *MINER_SHAPES[seed])
                x = x.to(dtype)
                k = 5
                miner = L.HardNegativeMiner(n_neighbors=k, distance=distance, random_state=seed)
                miner.update(x, step=0)
                nn_ = NearestNeighbors(n_neighbors=k + 1, metric=distance).fit(x.double().numpy())
                idx = nn_.kneighbors(x.double().numpy(), return_distance=False)
                theirs = torch.as_tensor(idx[:, 1:])
                ours = miner.neighbors_
                compared += ours.shape[0]
                mismatched += int((ours != theirs).any(1).sum())
                drawn = miner.sample(torch.arange(x.shape[0]).repeat(20))
                outside += int((drawn[:, None] != theirs.repeat(20, 1)).all(1).sum())
        rows.append(
            Row(
                f"`HardNegativeMiner(n_neighbors=5, distance='{distance}')`, no labels: `neighbors_` (ordered) vs "
                f"scikit-learn `NearestNeighbors(metric='{distance}')` without the sample itself; draws of `sample` "
                "outside those 5",
                "seeds 0,1,2 x float32, float64; (n, d) = (40, 6), (101, 8), (256, 16); 20 draws per sample",
                f"{compared} samples",
                f"{compared} samples",
                f"{mismatched} rows differ; {outside} draws outside",
                "identical indices",
                verdict(mismatched == 0 and outside == 0),
            )
        )
    notes = [
        "Notes on the miner: `HardNegativeMiner` keeps each sample's nearest neighbours over the whole dataset and "
        "draws one of them as a negative; PML's miners pick triplets inside a batch. With `n_neighbors=1` and labels, "
        "the neighbour is the sample's nearest different-label sample, which is PML's `BatchHardMiner` hardest "
        "negative (for the anchors PML keeps: those with a positive and a negative) under the same distance "
        "(cosine: both normalise; euclidean: raw vectors). The k-nearest neighbourhoods are compared with "
        "scikit-learn. The k-means variant has no counterpart here (scikit-learn's `KMeans` starts differently) "
        "and is not compared.",
        "",
    ]
    return rows, notes


# ---------------------------------------------------------------------------------------------------------------------
# 8. CLIP
# ---------------------------------------------------------------------------------------------------------------------
CLIP_SHAPES = ((7, 5), (64, 32), (129, 16), (1, 4))
CLIP_SCALES = (1 / 0.07, 1.0, 10.0)


def clip_formula(a: Tensor, b: Tensor, scale: Tensor | float) -> Tensor:
    """CLIP's loss from the paper's pseudo-code (open_clip's ``ClipLoss`` semantics), one row at a time.

    ``logits[i, j] = scale * <a_i / |a_i|, b_j / |b_j|>``; the image-to-text cross-entropy runs over the rows, the
    text-to-image one over the columns, each with the matching pair as the target and averaged over the batch; the
    loss is their mean.
    """
    a = a / a.norm(dim=1, keepdim=True)
    b = b / b.norm(dim=1, keepdim=True)
    logits = scale * (a @ b.T)
    n = a.shape[0]
    image_to_text = sum(torch.logsumexp(logits[i, :], 0) - logits[i, i] for i in range(n)) / n
    text_to_image = sum(torch.logsumexp(logits[:, j], 0) - logits[j, j] for j in range(n)) / n
    return (image_to_text + text_to_image) / 2


def check_clip() -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    what = "seeds 0,1,2 x (n, d) = (7, 5), (64, 32), (129, 16), (1, 4) x logit scale {}"
    for scales, saturated in ((CLIP_SCALES, False), ((100.0,), True)):
        cases = [
            (dtype, _two_views(seed, n, d), {"s": s})
            for dtype in DTYPES
            for seed in SEEDS
            for n, d in CLIP_SHAPES
            for s in scales
        ]
        v, g = Tally(), Tally(gradient=True)
        for dtype, x, p in cases:
            x = [t.to(dtype) for t in x]
            scale = p["s"]
            a, ga = evaluate(lambda z, s=scale: L.clip_loss(z[0], z[1], s), x, (0, 1))
            b, gb = evaluate(lambda z, s=scale: clip_formula(z[0], z[1], s), x, (0, 1))
            v.scalar(dtype, a, b)
            # saturated softmax: each gradient entry is a sum of terms up to scale / (n |x|) that cancel to ~1e-9,
            # so the rounding of both sides is set by the terms, not by the result
            norms = torch.cat([x[0].norm(dim=1), x[1].norm(dim=1)])
            floor = p["s"] / (x[0].shape[0] * float(norms.min())) if saturated else 0.0
            for u, w in zip(ga, gb):
                g.tensor(dtype, u, w, floor=floor)
            if dtype == F32:
                x64 = [t.double() for t in x]
                v.own_error("ne", a, L.clip_loss(x64[0], x64[1], p["s"]))
                v.own_error("formula", b, clip_formula(x64[0], x64[1], p["s"]))
        n = len(cases) // 2
        label = (
            "1/0.07, 1, 10"
            if not saturated
            else "100 (CLIP's bound; the matching pairs saturate the softmax)"
        )
        check = (
            "`clip_loss(a, b, scale)` vs CLIP's formula (paper pseudo-code, open_clip `ClipLoss`)"
        )
        grad_what = "input gradients (a, b)"
        if saturated:
            check += ", scale 100"
            grad_what += ", relative to max(max |reference gradient|, scale / (n min |row|))"
        rows += tally_rows(check, _cases_text(n, what.format(label)), v, g, grad_what)

    # learnable scale: d loss / d parameter, open_clip's parametrisation logit_scale = exp(parameter)
    value, grad = Tally(), Tally(gradient=True)
    n_learn = 0
    for dtype in DTYPES:
        for seed in SEEDS:
            for temperature in (0.07, 0.5, 1.0):
                n_learn += dtype == F64
                a, b = (t.to(dtype) for t in _two_views(seed, 64, 32))
                crit = L.CLIPLoss(temperature=temperature).to(dtype)
                la = crit(a, b)
                (ga,) = torch.autograd.grad(la, crit.log_logit_scale)
                # the same parameter value (created in float32 on both sides, then cast)
                param = crit.log_logit_scale.detach().clone().requires_grad_(True)
                lb = clip_formula(a, b, param.exp())
                (gb,) = torch.autograd.grad(lb, param)
                value.scalar(dtype, la, lb)
                grad.tensor(dtype, ga.reshape(1), gb.reshape(1))
    rows += tally_rows(
        "`CLIPLoss(temperature)` (learnable) vs the formula with open_clip's `logit_scale = exp(parameter)` at the "
        "same parameter",
        _cases_text(n_learn, "seeds 0,1,2 x temperature 0.07, 0.5, 1; n = 64, d = 32"),
        value,
        grad,
        "d loss / d parameter",
    )

    # above the bound
    a, b = _two_views(0, 64, 32)
    crit = L.CLIPLoss(temperature=0.07).double()
    with torch.no_grad():
        crit.log_logit_scale.fill_(math.log(100.0) + 0.05)  # where an optimiser step may leave it
    la = crit(a, b)  # a training forward sets the parameter back to log 100 first
    (ga,) = torch.autograd.grad(la, crit.log_logit_scale)
    param = torch.tensor(math.log(100.0) + 0.05, dtype=F64)
    param = param.clamp(0, math.log(100.0)).requires_grad_(
        True
    )  # open_clip: clamp_ the parameter after the step
    lb = clip_formula(a, b, param.exp())
    (gb,) = torch.autograd.grad(lb, param)
    pushed = Tally(gradient=True)
    pushed.scalar(F64, la, lb)
    # saturated (see the notes): d loss / d parameter is a sum of terms (softmax - target) x logit / n that cancels
    # to about 1e-9, while the logits are up to the scale, 100; measured against that size
    pushed.tensor(F64, ga.reshape(1), gb.reshape(1), floor=100.0)
    rows.append(
        Row(
            "learnable scale pushed above 100 (parameter log 100 + 0.05; both put it back to log 100, where its "
            "gradient acts): value; d loss / d parameter",
            "seed 0, n = 64, d = 32, float64",
            f"{_g(float(la.detach()))}; {_g(float(ga))}",
            f"{_g(float(lb.detach()))}; {_g(float(gb))}",
            f"{_e(abs(float(la.detach() - lb.detach())))}; {_e(abs(float(ga - gb)))}",
            _tol_text([F64]),
            verdict(pushed.ok()),
        )
    )
    a32, b32 = a.float(), b.float()
    ours = float(L.CLIPLoss()(a32, b32).detach())
    open_clip_param = torch.ones([]) * math.log(1 / 0.07)  # open_clip's initialisation, float32
    theirs = float(clip_formula(a32, b32, open_clip_param.exp()))
    rows.append(
        scalar_row(
            "defaults: `CLIPLoss()` (temperature 0.07, learnable, max scale 100) vs open_clip's initial "
            "`logit_scale = ones([]) * log(1 / 0.07)`",
            "seed 0, n = 64, d = 32, float32",
            ours,
            theirs,
            F32,
        )
    )
    notes = [
        "Notes on CLIP: open_clip (`open_clip_torch`) needs torchvision, which cannot be installed beside torch "
        "2.13.0, so the reference is the CLIP paper's pseudo-code, which is also open_clip's `ClipLoss` on one "
        "process (`logit_scale * image_features @ text_features.T`, the mean of the two cross-entropies with the "
        "diagonal as targets), written here with a loop over rows and columns. Both normalise the embeddings "
        "(open_clip's models return normalised features; neuroembed normalises inside the loss). At scale 100 the "
        "matching pairs of these inputs win by a wide margin (losses 1e-11 to 1e-9), so every gradient entry is a "
        "sum of terms of size up to `scale / (n |x|)` that cancels to about 1e-9 and both sides round at the size "
        "of the terms (in float32 the result is rounding noise on both sides); that row measures the gradient "
        "difference against the terms' size. The learnable scale is `exp(parameter)` on both sides, the parameter "
        "a float32 initialised at `log(1 / 0.07)` (neuroembed's `CLIPLoss` creates it in the default dtype, so a "
        "float64 module holds the float32-rounded value; the reference is given the same). The clamp: "
        "open_clip clamps the *parameter* to `[0, log 100]` in place after every optimiser step, so at the bound "
        "the gradient still acts. neuroembed clamped `exp(parameter)` at `max_logit_scale` inside the forward, so a "
        "parameter that an optimiser step carried above `log 100` got a zero gradient and stayed there; since this "
        "comparison found it, `CLIPLoss` clamps the parameter itself to `log(max_logit_scale)` at its next training "
        "forward (no lower bound: open_clip's 0, a scale of at least 1, is not in the paper).",
        "",
    ]
    return rows, notes


# ---------------------------------------------------------------------------------------------------------------------
# 9. Gram anchoring
# ---------------------------------------------------------------------------------------------------------------------
NOTES_GRAM = [
    "Skipped: no published implementation of DINOv3's Gram anchoring is importable here. DINOv3's `GramLoss` lives in "
    "facebookresearch/dinov3 (`dinov3/loss/gram_loss.py`), which is not on PyPI and needs torchvision; lightly 1.6.0 "
    "has none (its `PatchKernelAlignmentLoss` is `1 - CKA` of double-centred patch kernels, a different loss). From "
    "reading DINOv3's code: it is the mean squared difference of the L2-normalised student and teacher patch Gram "
    "matrices per image (`MSELoss` over `(B, N, N)`), which is neuroembed's `gram_loss(normalize=True)`, with the "
    "settings of DINOv3's Gram-anchoring config (`normalized: true`, `img_level: true`, `remove_neg: false`, "
    "`remove_only_teacher_neg: false`). Two differences: the class's own default `remove_neg=True` sets negative "
    "similarities to 0 in both Gram matrices before the MSE, which neuroembed does not offer; and DINOv3 casts the "
    "features to float32 first.",
    "",
]


# ---------------------------------------------------------------------------------------------------------------------
# 10. Training schedules and EMA
# ---------------------------------------------------------------------------------------------------------------------
# (N, base, final) of the cosine momentum schedule alone
MOMENTUM_SETTINGS = (
    (1, 0.99, 1.0),
    (7, 0.9, 0.99),
    (10, 0.99, 1.0),
    (100, 0.996, 1.0),
    (1000, 0.99, 0.999),
)
EMA_MOMENTA = (0.0, 0.5, 0.9, 0.99, 0.996, 1.0)
EMA_ROUNDS = 4
# tiny fits: (method, iterations N, EMA base, EMA final, warm-up fraction f, warm-up tau, final tau)
FITS: tuple[tuple[str, int, float, float, float | None, float | None, float | None], ...] = (
    ("BYOL", 20, 0.9, 1.0, None, None, None),
    ("BYOL", 7, 0.5, 0.99, None, None, None),
    ("MoCo", 10, 0.99, 0.99, None, None, None),
    ("DINO", 20, 0.99, 1.0, 0.3, 0.04, 0.07),
    ("DINO", 40, 0.996, 1.0, 0.5, 1 / 32, 1 / 16),
    ("DINO", 25, 0.99, 1.0, 0.2, 0.04, 0.07),
    ("DINO", 10, 0.9, 1.0, 1.0, 0.04, 0.07),
    ("IBOT", 20, 0.99, 1.0, 0.3, 0.04, 0.07),
    # N does not divide SCHEDULE_STEPS = 10000, so the steps given to the losses are rounded
    ("DINO", 30, 0.99, 1.0, 0.3, 0.04, 0.07),
    ("DINO", 12, 0.99, 1.0, 0.25, 0.02, 0.04),
    ("IBOT", 30, 0.99, 1.0, 0.3, 0.04, 0.07),
)
# MoCo queues: (queue size Q, batch B, d, steps), one per seed
QUEUE_MULTIPLES = ((12, 4, 5, 8), (64, 16, 8, 9), (256, 64, 16, 6))
QUEUE_OTHERS = ((10, 4, 5, 8), (7, 3, 4, 6), (5, 8, 4, 3))
MOCO_TEMPERATURE = 0.2


@dataclass
class Fit:
    """One tiny fit of an ``ssl`` method, with what its schedules gave at every step."""

    method: str
    n: int
    base: float
    final: float
    fraction: float | None
    warm: float | None
    tau: float | None
    momenta: list[float]
    temperatures: dict[str, list[tuple[int, float]]]


def _tally_row(check: str, cases: str, tally: Tally, ours: str = "-", ref: str = "-") -> Row:
    return Row(check, cases, ours, ref, tally.diff_text(), tally.tolerance(), verdict(tally.ok()))


def _lightly_cosine(step: int, max_steps: int, start: float, end: float) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", RuntimeWarning
        )  # lightly warns past max_steps, where it gives end_value
        return float(cosine_schedule(step, max_steps, start, end))


def _dino_momentum_schedule(base: float, final: float, n: int) -> np.ndarray:
    """facebookresearch/dino ``utils.cosine_scheduler(base, final, epochs, niter_per_ep)`` for n iterations.

    ``final + 0.5 (base - final) (1 + cos(pi it / n))``, ``it = 0 .. n - 1`` (no warm-up); DINO's training loop
    uses entry ``it`` for the EMA update after the optimiser step of iteration ``it``.
    """
    iters = np.arange(n)
    return final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))


def _tiny_estimator(spec: tuple[str, int, float, float, Any, Any, Any]) -> Any:
    method, n, base, final, fraction, warm, tau = spec
    common: dict[str, Any] = {
        "output_dimension": 8,
        "batch_size": 4,
        "max_iterations": n,
        "device": "cpu",
        "random_state": 0,
    }
    torch.manual_seed(0)
    cnn = ImageCNN(1, 8, width=4, n_stages=1)
    if method == "BYOL":
        return S.BYOL(
            backbone=cnn,
            projection_dimension=8,
            hidden_dimension=8,
            base_momentum=base,
            final_momentum=final,
            **common,
        )
    if method == "MoCo":
        return S.MoCo(
            backbone=cnn,
            projection_dimension=8,
            hidden_dimension=8,
            queue_size=8,
            momentum=base,
            **common,
        )
    heads: dict[str, Any] = {
        "head_dimension": 8,
        "hidden_dimension": 8,
        "bottleneck_dimension": 4,
        "base_momentum": base,
        "final_momentum": final,
        "warmup_fraction": fraction,
        "warmup_teacher_temperature": warm,
        "teacher_temperature": tau,
        "augmentation": S.MultiCrop(n_local=0),
    }
    if method == "DINO":
        return S.DINO(backbone=cnn, **heads, **common)
    vit = TinyViT(1, 8, image_size=8, patch_size=4, depth=1, num_heads=1)
    return S.IBOT(backbone=vit, **heads, **common)


def run_fits() -> list[Fit]:
    """Fit each of ``FITS``, recording the momentum of every ``ema_update_`` call and every teacher temperature."""
    X = np.random.default_rng(0).random((16, 1, 8, 8)).astype(np.float32)
    original = LD._TeacherCentered.current_teacher_temperature
    modules = (SB, SD, SI, SM)
    saved = [m.ema_update_ for m in modules]
    fits = []
    for spec in FITS:
        momenta: list[float] = []
        temperatures: dict[str, list[tuple[int, float]]] = {}

        def ema_spy(
            target: torch.nn.Module,
            online: torch.nn.Module,
            momentum: float,
            log: list[float] = momenta,
        ) -> None:
            log.append(float(momentum))
            ema_update_(target, online, momentum)

        def temperature_spy(
            self: Any, step: int | None = None, log: dict[str, Any] = temperatures
        ) -> float:
            value = original(self, step)
            log.setdefault(type(self).__name__, []).append((-1 if step is None else step, value))
            return value

        try:
            for m in modules:
                m.ema_update_ = ema_spy  # type: ignore[attr-defined]
            LD._TeacherCentered.current_teacher_temperature = temperature_spy  # type: ignore[method-assign]
            _tiny_estimator(spec).fit(X)
        finally:
            for m, fn in zip(modules, saved):
                m.ema_update_ = fn  # type: ignore[attr-defined]
            LD._TeacherCentered.current_teacher_temperature = original  # type: ignore[method-assign]
        fits.append(Fit(*spec, momenta, temperatures))
    return fits


def momentum_rows(fits: list[Fit]) -> list[Row]:
    """``cosine_momentum`` alone and as the methods drive it, against lightly's ``cosine_schedule`` and DINO's."""
    rows: list[Row] = []
    mapped = Tally()
    unmapped, where = 0.0, ""
    for n, base, final in MOMENTUM_SETTINGS:
        for s in range(n + 3):
            ours = cosine_momentum(s, n, base, final)
            mapped.scalar(F64, ours, _lightly_cosine(s, n + 1, base, final))
            gap = abs(ours - _lightly_cosine(s, n, base, final))
            if gap > unmapped:
                unmapped, where = gap, f"N = {n}, s = {s}"
    what = (
        "(N, base, final) = "
        + ", ".join(f"({n}, {b:g}, {f:g})" for n, b, f in MOMENTUM_SETTINGS)
        + "; every step s = 0 .. N + 2, float64"
    )
    mid = (5, 10, 0.99, 1.0)
    rows.append(
        _tally_row(
            "`cosine_momentum(s, N, base, final)` vs lightly `cosine_schedule(s, N + 1, base, final)` "
            "(`period=None`)",
            what,
            mapped,
            f"{_g(cosine_momentum(*mid))} (s = 5, N = 10)",
            f"{_g(_lightly_cosine(5, 11, 0.99, 1.0))} (max_steps 11)",
        )
    )
    rows.append(
        Row(
            "... with lightly given `max_steps = N`: `cosine_schedule(s, N, base, final)`",
            what,
            f"{_g(cosine_momentum(*mid))} (s = 5, N = 10)",
            f"{_g(_lightly_cosine(5, 10, 0.99, 1.0))} (max_steps 10)",
            f"{_e(unmapped)} (at {where})",
            "-",
            "n/a (lightly reaches end_value at step max_steps - 1, neuroembed at step N)",
        )
    )

    # as the methods drive it: the momentum of the i-th ema_update_ call (after optimiser step i = 0 .. N - 1)
    lightly_t, dino_t = Tally(), Tally()
    lightly_gap, dino_gap = 0.0, 0.0
    calls_ok = True
    for fit in fits:
        calls_ok &= len(fit.momenta) == fit.n
        dino = _dino_momentum_schedule(fit.base, fit.final, fit.n)
        for i, m in enumerate(fit.momenta):
            # neuroembed averages the weights after i + 1 optimiser steps, theta_{i+1}, with this momentum; lightly's
            # recipes call update_momentum at the start of training step j, averaging theta_j
            lightly_t.scalar(F64, m, _lightly_cosine(i + 1, fit.n + 1, fit.base, fit.final))
            lightly_gap = max(
                lightly_gap, abs(m - _lightly_cosine(i + 1, fit.n, fit.base, fit.final))
            )
            if i + 1 < fit.n:
                dino_t.scalar(F64, m, float(dino[i + 1]))
            dino_gap = max(dino_gap, abs(m - float(dino[i])))
    what = (
        "tiny fits, every EMA update: "
        + ", ".join(f"{f.method} N = {f.n} ({f.base:g} -> {f.final:g})" for f in fits)
        + ("" if calls_ok else " (**not one update per step**)")
    )
    first = fits[0]
    rows.append(
        _tally_row(
            "`ssl.BYOL` / `DINO` / `IBOT` / `MoCo` (constant): momentum of the update after optimiser step i "
            "(`cosine_momentum((i + 1) / N, 1)`) vs lightly `cosine_schedule(i + 1, N + 1, base, final)`, the "
            "value lightly's recipes use when they average the same weights (after i + 1 steps)",
            what,
            lightly_t,
            f"{_g(first.momenta[0])} (BYOL, i = 0)",
            f"{_g(_lightly_cosine(1, first.n + 1, first.base, first.final))}",
        )
    )
    rows.append(
        Row(
            "... with lightly's `max_steps = N` (`trainer.estimated_stepping_batches`): "
            "`cosine_schedule(i + 1, N, base, final)`",
            what,
            "-",
            "-",
            _e(lightly_gap),
            "-",
            "n/a (lightly's schedule reaches the final momentum one update earlier)",
        )
    )
    rows.append(
        _tally_row(
            "the same momenta vs DINO's `cosine_scheduler(base, final, ...)[i + 1]` (formula, float64; i < N - 1)",
            what,
            dino_t,
        )
    )
    rows.append(
        Row(
            "... vs DINO's entry i, the one DINO's loop uses after the optimiser step of iteration i",
            what,
            "-",
            "-",
            _e(dino_gap),
            "-",
            "n/a (that loop updates after step i with entry i, neuroembed with the next one; it never reaches `final`)",
        )
    )
    return rows


def _ema_network(kind: str) -> torch.nn.Module:
    if (
        kind == "byol"
    ):  # BYOL's online network: a CNN (batch norm 2-d) and the projector (batch norm 1-d)
        return torch.nn.Sequential(ImageCNN(1, 8, width=4, n_stages=2), ProjectionMLP(8, 16, 8))
    return DINOHead(
        8, 16, 16, 4, batch_norm=True
    )  # DINO's head: batch norm, weight-normalised last layer


def ema_rows() -> list[Row]:
    """``ema_update_`` against lightly's ``update_momentum`` on identical networks, four rounds each."""
    params, buffers = Tally(), Tally()
    float_gap, count_gap, lightly_untouched, n_cases = 0.0, 0, True, 0
    for kind in ("byol", "dino"):
        shape = (6, 1, 8, 8) if kind == "byol" else (6, 8)
        for seed in SEEDS:
            for dtype in DTYPES:
                for m in EMA_MOMENTA:
                    n_cases += dtype == F64
                    torch.manual_seed(seed)
                    online = _ema_network(kind).to(dtype).train()
                    target_ne = frozen_copy(online)
                    target_li = frozen_copy(online)
                    g = _gen(200 + seed)
                    for _ in range(EMA_ROUNDS):
                        with torch.no_grad():
                            # an optimiser step and a training forward of the online network, then the targets'
                            # own training forward on another batch (their batch-norm statistics move too)
                            for p in online.parameters():
                                p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=F64).to(dtype))
                            online(2 * torch.randn(shape, generator=g, dtype=F64).to(dtype) + 1)
                            x = torch.randn(shape, generator=g, dtype=F64).to(dtype)
                            target_ne(x)
                            target_li(x)
                        before = {k: v.clone() for k, v in target_ne.named_buffers()}
                        lightly_before = {k: v.clone() for k, v in target_li.named_buffers()}
                        online_buffers = dict(online.named_buffers())
                        ema_update_(target_ne, online, m)
                        update_momentum(online, target_li, m)
                        li_params = dict(target_li.named_parameters())
                        for name, p in target_ne.named_parameters():
                            params.tensor(dtype, p, li_params[name])
                        li_buffers = dict(target_li.named_buffers())
                        for name, b in target_ne.named_buffers():
                            lightly_untouched &= torch.equal(li_buffers[name], lightly_before[name])
                            if b.is_floating_point():
                                # the slow reference, tensor by tensor: m t + (1 - m) o
                                buffers.tensor(
                                    dtype, b, m * before[name] + (1 - m) * online_buffers[name]
                                )
                                float_gap = max(
                                    float_gap, float((b - li_buffers[name]).abs().max())
                                )
                            else:
                                count_gap = max(count_gap, int((b - li_buffers[name]).abs().max()))
    what = _cases_text(
        n_cases,
        f"BYOL's online network (`ImageCNN` + `ProjectionMLP`) and a `DINOHead` with batch norm x seeds 0,1,2 x "
        f"momentum {', '.join(f'{m:g}' for m in EMA_MOMENTA)}; {EMA_ROUNDS} rounds of (online step, forwards, "
        "update), compared after every update",
    )
    return [
        _tally_row(
            "`ema_update_(target, online, m)` vs lightly `update_momentum(online, target, m)`: parameters",
            what,
            params,
        ),
        _tally_row(
            "`ema_update_`: floating-point buffers (batch-norm running mean / variance) vs the formula "
            "`m t + (1 - m) o` per tensor",
            what,
            buffers,
        ),
        Row(
            "`ema_update_` vs `update_momentum`: buffers",
            what,
            "running statistics averaged; `num_batches_tracked` copied from online",
            "untouched (the target's own forward statistics)"
            + ("; checked unchanged" if lightly_untouched else "; **changed**"),
            f"running statistics {_e(float_gap)}; `num_batches_tracked` {count_gap} (one forward of each per round)",
            "-",
            "n/a (lightly updates parameters only)",
        ),
    ]


def warmup_rows(fits: list[Fit]) -> list[Row]:
    """The teacher temperature at every training step of the ``ssl.DINO`` / ``ssl.IBOT`` fits against lightly's."""
    rows: list[Row] = []
    for exact in (True, False):
        light, formula = Tally(), Tally()
        described = []
        calls_ok = True
        for fit in fits:
            if fit.fraction is None or (SD.SCHEDULE_STEPS % fit.n == 0) != exact:
                continue
            assert fit.warm is not None and fit.tau is not None
            w = round(fit.fraction * fit.n) + 1
            schedule = LL.DINOLoss(
                8, warmup_teacher_temp=fit.warm, teacher_temp=fit.tau, warmup_teacher_temp_epochs=w
            ).teacher_temp_schedule
            dino = np.concatenate((np.linspace(fit.warm, fit.tau, w), fit.tau * np.ones(fit.n)))
            described.append(
                f"{fit.method} N = {fit.n}, f = {fit.fraction:g} (W = {w}), {fit.warm:g} -> {fit.tau:g}"
            )
            # one call per training step and loss (iBOT: its CLS and patch losses), in step order
            calls_ok &= len(fit.temperatures) == (2 if fit.method == "IBOT" else 1)
            for losses in fit.temperatures.values():
                calls_ok &= len(losses) == fit.n
                for i, (_, value) in enumerate(losses):
                    light.scalar(F32, value, float(schedule[i]) if i < w else fit.tau)
                    formula.scalar(F64, value, float(dino[i]))
        what = (
            "tiny fits: "
            + "; ".join(described)
            + "; every training step (iBOT: both of its losses)"
            + ("" if calls_ok else " (**not one temperature per step and loss**)")
        )
        if exact:
            rows.append(
                _tally_row(
                    "`ssl.DINO` / `ssl.IBOT` teacher temperature at training step i (`warmup_fraction = f`) vs "
                    "lightly `DINOLoss(..., warmup_teacher_temp_epochs = f N + 1)` at `epoch = i` (float32 "
                    "`linspace`); N divides 10000",
                    what,
                    light,
                )
            )
            rows.append(
                _tally_row(
                    "... vs DINO's `linspace(warmup, final, f N + 1)` (formula, float64)",
                    what,
                    formula,
                )
            )
        else:
            rows.append(
                Row(
                    "... N not dividing `SCHEDULE_STEPS` = 10000: vs DINO's `linspace` (float64) and lightly's",
                    what,
                    "-",
                    "-",
                    formula.diff_text() + "; " + light.diff_text(),
                    "-",
                    "n/a (the losses get the step round(10000 i / N) on a 10000-step scale)",
                )
            )
    return rows


def _rows_of(t: Tensor) -> list[tuple[float, ...]]:
    return sorted(tuple(r) for r in t.tolist())


def queue_rows() -> list[Row]:
    """MoCo's queue (``after_step``) against lightly's memory bank over several steps."""
    rows: list[Row] = []
    loss_t = Tally()
    mismatched_rows = mismatched_ptr = fifo_bad = 0
    described: list[tuple[str, str, str]] = []
    for multiple in (True, False):
        settings = QUEUE_MULTIPLES if multiple else QUEUE_OTHERS
        for dtype in DTYPES:
            for seed, (q_size, b, d, steps) in zip(SEEDS, settings):
                g = _gen(300 + seed)
                init = torch.nn.functional.normalize(
                    torch.randn(q_size, d, generator=g, dtype=F64), dim=1
                )
                torch.manual_seed(seed)
                method = SM._MoCoMethod(
                    torch.nn.Linear(2, 2),
                    torch.nn.Linear(2, d),
                    d,
                    S.Augment(),
                    MOCO_TEMPERATURE,
                    q_size,
                    0.99,
                ).to(dtype)
                method.queue.copy_(init)
                crit = LL.NTXentLoss(MOCO_TEMPERATURE, memory_bank_size=(q_size, d)).to(dtype)
                assert isinstance(crit.memory_bank, MemoryBankModule)
                crit.memory_bank.bank = init.to(dtype).clone()
                fifo = [tuple(r) for r in init.to(dtype).tolist()]
                seen: list[Tensor] = []
                dropped = 0
                for step in range(steps):
                    qv = torch.randn(b, d, generator=g, dtype=F64).to(dtype)
                    kv = qv + 0.7 * torch.randn(b, d, generator=g, dtype=F64).to(dtype)
                    # as _MoCoMethod.loss: normalised keys, the loss against the queue before this batch joins it
                    keys = torch.nn.functional.normalize(kv, dim=1)
                    ours = method.criterion(qv, keys, method.queue.clone())
                    method._keys = keys
                    method.after_step(step, (step + 1) / steps)
                    theirs = crit(
                        qv.clone().requires_grad_(True), kv
                    )  # enqueues normalize(kv) after the loss
                    seen.append(keys)
                    fifo = (fifo + [tuple(r) for r in keys.tolist()])[-q_size:]
                    fifo_bad += sorted(fifo) != _rows_of(method.queue)
                    bank = crit.memory_bank.bank
                    stored = set(map(tuple, bank.tolist()))
                    dropped += sum(tuple(r) not in stored for r in keys.tolist())
                    if multiple:
                        loss_t.scalar(dtype, ours, theirs.detach())
                        mismatched_rows += int((method.queue != bank).any(dim=1).sum())
                        mismatched_ptr += int(method.queue_pointer) != int(
                            crit.memory_bank.bank_ptr
                        )
                if not multiple and dtype == F64:
                    recent = {tuple(r) for r in torch.cat(seen)[-q_size:].tolist()}
                    ours_recent = sum(r in recent for r in map(tuple, method.queue.tolist()))
                    theirs_recent = sum(
                        r in recent for r in map(tuple, crit.memory_bank.bank.tolist())
                    )
                    described.append(
                        (
                            f"Q = {q_size}, B = {b}, {steps} steps ({steps * b} keys)",
                            f"{ours_recent} of the {q_size} most recent keys",
                            f"{theirs_recent} of the {q_size} most recent; {dropped} keys never stored",
                        )
                    )
    what = _cases_text(
        len(QUEUE_MULTIPLES),
        "seeds 0,1,2 with (Q, B, d, steps) = "
        + ", ".join(f"({q}, {b}, {d}, {s})" for q, b, d, s in QUEUE_MULTIPLES)
        + f"; tau {MOCO_TEMPERATURE:g}; the same unit-norm initial queue",
    )
    rows.append(
        _tally_row(
            "MoCo over several steps, queue size a multiple of the batch: `InfoNCE(q, k, queue)` then "
            "`_MoCoMethod.after_step` vs lightly `NTXentLoss(memory_bank_size=(Q, d))(q, k)` (enqueues after the "
            "loss): loss at every step",
            what,
            loss_t,
        )
    )
    rows.append(
        Row(
            "... queue and pointer after every step vs lightly's `MemoryBankModule` bank and `bank_ptr`",
            what,
            "-",
            "-",
            f"{mismatched_rows} rows, {mismatched_ptr} pointers differ",
            "identical",
            verdict(mismatched_rows == 0 and mismatched_ptr == 0),
        )
    )
    all_settings = ", ".join(f"({q}, {b})" for q, b, _, _ in QUEUE_MULTIPLES + QUEUE_OTHERS)
    rows.append(
        Row(
            "`_MoCoMethod.after_step` queue vs a FIFO of the last Q keys (slow reference, as a set of rows)",
            f"(Q, B) = {all_settings}, float32 and float64, after every step",
            "-",
            "-",
            f"{fifo_bad} queues differ",
            "identical",
            verdict(fifo_bad == 0),
        )
    )
    for setting, ours_text, theirs_text in described:
        rows.append(
            Row(
                "queue size not a multiple of the batch: what each queue holds at the end",
                setting + ", float64",
                ours_text,
                theirs_text,
                "-",
                "-",
                "n/a (neuroembed wraps the keys round the ring; lightly fills to the end, drops the rest and "
                "starts again at 0)",
            )
        )
    return rows


NOTES_SCHEDULES = [
    "Notes on schedules and EMA. *Momentum schedule*: neuroembed's `cosine_momentum(s, N, base, final)` is "
    "`final - (final - base) (cos(pi s / N) + 1) / 2`, BYOL's formula with `k = s`, `K = N`: `base` at s = 0, "
    "`final` at s = N and after. lightly's `cosine_schedule(step, max_steps, start, end)` divides by "
    "`max_steps - 1` and gives `end` from step `max_steps - 1` on (and at every step when `max_steps <= 1`), so "
    "`cosine_momentum(s, N) = cosine_schedule(s, N + 1)` for every integer s. The methods call "
    "`cosine_momentum(progress, 1)` after every optimiser step, with `progress = (i + 1) / N` after step i "
    "(0-based; or the elapsed share of `max_seconds` when that is larger): the target averages the online weights "
    "after i + 1 steps with the value of step i + 1 of N, so the first update uses `cosine(1 / N)`, slightly above "
    "`base`, and the last uses `final` (with `final = 1` it changes nothing). lightly's benchmarks (e.g. "
    "`benchmarks/imagenet/resnet50/byol.py`) call `update_momentum` at the start of `training_step`, before that "
    "step's optimiser step, with `cosine_schedule(global_step, estimated_stepping_batches, ...)`: they average "
    "the weights after j steps with the value of step j, and their first update averages identical networks. "
    "Matched by the weights being averaged, neuroembed's run of N steps is lightly's with `max_steps = N + 1`; "
    "with lightly's `max_steps = N` its momenta run ahead (final one update earlier). facebookresearch/dino "
    "(`main_dino.py`) applies entry `it` of `utils.cosine_scheduler(momentum_teacher, 1, epochs, "
    "niter_per_ep)` = `final + 0.5 (base - final) (1 + cos(pi it / n))` after the optimiser step of iteration "
    "`it`, so DINO's update after step i uses neuroembed's value of the step before: DINO's first update is at "
    "`base`, and it never reaches `final`. MoCo's key encoder has a constant momentum in neuroembed, as in "
    "MoCo's code (`m = 0.999`); `update_momentum` takes whatever the caller passes. The fits are real `fit` "
    "calls of tiny models (16 random 8x8 images, batch 4) whose `ema_update_` and teacher-temperature calls are "
    "recorded.",
    "",
    "*EMA*: both update in place with the same two calls, `torch._foreach_mul_(target, m)` and "
    "`torch._foreach_add_(target, online, alpha=1 - m)`, so the parameters agree bit for bit. lightly's "
    "`update_momentum` takes the parameters only (paired by position), as DINO's and MoCo's own EMA loops do; "
    "neuroembed's `ema_update_` also averages every floating-point buffer (batch-norm running mean and "
    "variance), copies the integer ones (`num_batches_tracked`) and checks that names and shapes match. With "
    "parameters only, the target's running statistics are those of its own forward passes. neuroembed's targets "
    "run in training mode too (`fit` puts the whole method in `train()`), so their statistics move with their own "
    "forward and are then averaged with the online network's. A network in training mode normalises with the "
    "batch statistics, so neither choice changes a loss or a gradient; it matters only to someone who runs the "
    "target network itself in `eval()` mode.",
    "",
    "*Teacher-temperature warm-up*: `ssl.DINO` / `ssl.IBOT` turn `warmup_fraction = f` into `warmup_steps = "
    "round(10000 f)` on a 10000-step scale (`SCHEDULE_STEPS`) and give the losses `round(10000 progress)`, with "
    "`progress = i / N` before training step i, so the temperature rises linearly over the first f N steps and "
    "is final from step f N on. lightly's `DINOLoss` warms up over epochs (`linspace(warmup, final, W)` indexed "
    "by `epoch`, final from epoch W on, as DINO's `DINOLoss`), and its recipes pass the current epoch. The "
    "mapping is meaningful with one lightly epoch per training step: `W = f N + 1` (f N an integer) gives the "
    "same temperature at every step, exactly when N divides 10000 (up to lightly's float32 `linspace`); "
    "otherwise the rounding to the 10000-step scale moves it by the amount shown (at most half a step of that "
    "scale). With epochs of many steps, lightly's temperature is a staircase (one value per epoch) and "
    "neuroembed's rises every step. `f = 0` (no warm-up) is lightly's `W = 0`, not `W = 1` (one point: the "
    "warm-up value at epoch 0). Under `max_seconds` the progress is the larger of the step share and the time "
    "share, which no epoch count maps.",
    "",
    "*MoCo's queue*: neuroembed enqueues the normalised keys of the batch after the optimiser step "
    "(`after_step`), at a pointer that wraps round the queue, and keeps the last Q keys of a batch larger than "
    "the queue; lightly's `NTXentLoss` with a memory bank enqueues the normalised `out1` after computing the loss "
    "(when `out0` requires a gradient) with `MemoryBankModule._dequeue_and_enqueue`: when `ptr + B >= Q` it fills "
    "the queue to its end with the first `Q - ptr` keys, drops the rest and sets the pointer to 0. With Q a "
    "multiple of B (MoCo's code asserts it: `assert self.K % batch_size == 0`) the two queues are identical at "
    "every step; otherwise lightly never stores some keys and keeps older ones in their place, while neuroembed's "
    "queue always holds the last Q keys.",
    "",
]


def check_schedules() -> tuple[list[Row], list[str]]:
    fits = run_fits()
    rows = momentum_rows(fits) + ema_rows() + warmup_rows(fits) + queue_rows()
    return rows, NOTES_SCHEDULES


# ---------------------------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------------------------
def table(rows: list[Row], reference: str) -> list[str]:
    lines = [
        f"| check | cases | neuroembed | {reference} | max abs diff | tolerance | agrees |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = (r.check, r.cases, r.neuroembed, r.reference, r.diff, r.tolerance, r.agrees)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def format_report(
    sections: list[tuple[str, str, list[Row], list[str]]],
    *,
    loads: tuple[tuple[float, float, float], tuple[float, float, float]],
    wall_seconds: float,
    command: str,
) -> str:
    now = datetime.datetime.now().astimezone()
    before, after = loads
    all_rows = [r for _, _, rows, _ in sections for r in rows]
    failed = [r for r in all_rows if "NO" in r.agrees]
    compared = [r for r in all_rows if r.agrees.startswith(("yes", "**NO"))]
    stand_in = (
        "a minimal stand-in `torchvision` / `torchvision.ops` module was put into `sys.modules` before lightly was "
        "imported (`roi_align` and `StochasticDepth` raise `NotImplementedError`): `lightly.loss` imports them at "
        "module level, torchvision cannot be installed beside torch 2.13.0, and none of the compared code uses them"
        if STAND_IN
        else f"a real torchvision ({package_version('torchvision')}) was importable and used"
    )
    lines = [
        "# Reference values: neuroembed's image-SSL losses and training schedules against published implementations",
        "",
        f"- date: {now:%Y-%m-%d %H:%M %Z}",
        f"- machine: {platform.platform()}; CPU {cpu_model()}, {os.cpu_count()} cores; torch threads "
        f"{torch.get_num_threads()}",
        f"- load average (1, 5, 15 min) at start {before[0]:.2f}, {before[1]:.2f}, {before[2]:.2f}; at end "
        f"{after[0]:.2f}, {after[1]:.2f}, {after[2]:.2f} (timing plays no part here)",
        f"- versions: python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, lightly {package_version('lightly')}, pytorch-metric-learning "
        f"{package_version('pytorch-metric-learning')}, neuroembed {package_version('neuroembed')} "
        f"(git {git_revision()})",
        f"- torchvision: {stand_in}",
        f"- seeds {', '.join(map(str, SEEDS))}; inputs drawn in float64 and rounded to float32 for the float32 cases",
        "- tolerance: a scalar agrees when |neuroembed - reference| <= rtol x max(1, |reference|), a gradient tensor "
        "when max |difference| <= rtol x max |reference gradient| (rtol itself when that gradient is zero; for CLIP "
        "at logit scale 100, where the softmax saturates, rtol x the size of the summed terms, see its notes); rtol "
        "1e-12 in float64, 1e-5 for float32 scalars, 1e-4 for float32 gradient tensors (their rounding grows with "
        "the largest score, as in reference_values.md); for float32 each side's own error against a float64 "
        "evaluation of the same inputs is shown; index checks must be identical",
        f"- {len(compared)} comparisons with a tolerance, {len(compared) - len(failed)} within it"
        + (f"; **{len(failed)} outside it**" if failed else "")
        + "; rows marked n/a compare things that are not meant to be equal, with the reason",
        f"- total wall time {wall_seconds:.1f} s; produced by `{command}`",
        "",
    ]
    for title, reference, rows, notes in sections:
        lines += [f"## {title}", ""]
        if rows:
            lines += table(rows, reference) + [""]
        lines += notes
        if notes and notes[-1] != "":
            lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="neuroembed's image-SSL losses against lightly, pytorch-metric-learning and published formulas."
    )
    parser.add_argument(
        "--output",
        default=None,
        help=f"markdown file to write (default {DEFAULT_OUTPUT.relative_to(REPO)}; '-' writes nothing)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1; the numbers do not depend on it)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    checks: list[tuple[str, str, Callable[[], tuple[list[Row], list[str]]]]] = [
        ("1. NT-Xent (SimCLR)", "lightly / PML", check_ntxent),
        ("2. SimSiam and BYOL predictor losses", "lightly", check_predictor),
        ("3. DINO", "lightly", check_dino),
        ("4. iBOT masked-patch loss", "lightly", check_ibot),
        ("5. Supervised contrastive (SupCon)", "PML", check_supcon),
        ("6. Triplet margin with in-batch mining", "PML", check_triplet),
        ("7. HardNegativeMiner", "PML / scikit-learn", check_miner),
        ("8. CLIP", "formula", check_clip),
    ]
    sections: list[tuple[str, str, list[Row], list[str]]] = []
    for i, (title, reference, fn) in enumerate(checks, 1):
        print(f"{i}/{len(checks) + 2} {title}", file=sys.stderr)
        rows, notes = fn()
        sections.append((title, reference, rows, notes))
    sections.append(("9. Gram anchoring (DINOv3)", "-", [], NOTES_GRAM))
    print(f"{len(checks) + 2}/{len(checks) + 2} 10. Training schedules and EMA", file=sys.stderr)
    rows, notes = check_schedules()
    sections.append(("10. Training schedules and EMA", "lightly / formula", rows, notes))
    report = format_report(
        sections,
        loads=(load_before, os.getloadavg()),
        wall_seconds=time.perf_counter() - t0,
        command=shlex.join(
            [
                "python",
                "benchmarks/reference_values_ssl.py",
                *(sys.argv[1:] if argv is None else argv),
            ]
        ),
    )
    print(report)
    write_output(report, args.output if args.output is not None else str(DEFAULT_OUTPUT))
    return report


if __name__ == "__main__":
    main()

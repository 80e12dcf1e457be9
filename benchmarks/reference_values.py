"""Reference values: neuroembed's losses and metrics against CEBRA 0.6.1, the published implementation, on identical inputs.

Not a speed or quality benchmark: a check that the numbers neuroembed reports mean what CEBRA's mean. Every check
feeds the same seeded random inputs to both and reports the largest absolute difference over all cases, together
with a stated tolerance (float32: 1e-5, float64: 1e-12, both relative to the reference's magnitude, see below).

1. **InfoNCE loss.** :class:`neuroembed.losses.InfoNCE` (``forward_parts``, i.e. :func:`~neuroembed.losses.info_nce_parts`)
   against ``cebra.models.criterions.FixedCosineInfoNCE``, ``FixedEuclideanInfoNCE``, ``LearnableCosineInfoNCE`` and
   ``LearnableEuclideanInfoNCE`` (at their initial temperature, with ``min_temperature=0.05`` for both so that no
   case starts on the clamp; one extra row starts at ``temperature = min_temperature = 0.1``, both estimators'
   default lower bound): the total loss, the alignment and uniformity parts (CEBRA returns them as its second and third outputs,
   corrected for its max-subtraction), the gradients with respect to the reference, positive and negative inputs, and
   for the learnable criteria the gradient with respect to ``log_inverse_temperature``. Cases: seeds x
   temperatures 1, 0.5, 0.1 x shapes (references, negatives, dimensions) cycling through (512, 512, 8), (256, 1024, 3),
   (128, 64, 32), in float32 and float64. Cosine inputs are L2-normalised rows; CEBRA's cosine criteria take the dot
   product and rely on the encoder to normalise, neuroembed's normalise inside the loss, so the input gradients are
   compared through the normalisation (both see ``normalize(u)`` of the same raw ``u``), and also with respect to the
   unit vectors themselves, where they may differ only by a component along each vector (shown separately).
2. **Consistency between runs.** :func:`neuroembed.metrics.consistency` (``between="runs"``, default
   ``multioutput="uniform_average"``) against ``cebra.sklearn.metrics.consistency_score(between="runs")``
   (``sklearn.linear_model.LinearRegression().fit(a, b).score(a, b)``) on three embeddings (dimensions 8, 8, 5) that are
   noisy non-linear images of one shared latent; CEBRA's ``(scores, pairs, ids)`` are mapped onto neuroembed's
   frame by ``pairs[k] = (source, target) -> frame.loc[source, target]``. In float64 and in float32 (scikit-learn then
   fits in float32, neuroembed always in float64).
3. **Consistency between sessions, aligned on behaviour.** ``consistency(between="sessions", behaviour=...)`` against
   ``consistency_score(between="datasets", labels=...)`` on three sessions of different lengths and dimensions whose
   embeddings are noisy linear images of a ring-and-ramp code of a 1-D position. neuroembed's defaults (99 bins,
   bin means scaled to unit length) are CEBRA's; the two still bin the samples at the very top of the range and
   empty bins differently, so the table gives both values with each one's defaults, then with CEBRA's bins given
   to neuroembed, with and without the normalisation (see the notes under the table, written from reading both
   implementations).
4. **Goodness of fit.** :func:`neuroembed.metrics.infonce_to_bits` against
   ``cebra.sklearn.metrics.infonce_to_goodness_of_fit`` for several loss values, batch sizes and session counts, and
   :func:`neuroembed.metrics.goodness_of_fit_history` on the loss history of a fitted CEBRA model against CEBRA's own
   ``goodness_of_fit_history``; then the number of negatives each system's multi-session fit uses (its chance level).
5. **Models: receptive field, weights, output shape.** The ``(left, right)`` window of every shared model name
   (``neuroembed.models.MODELS[name]`` with :func:`neuroembed.models.conv.window_offsets`, CEBRA's
   ``cebra.models.init(name + "-model").get_offset()``), their parameter counts (for information); for the
   convolutional models, the initial weights after the same ``torch.manual_seed`` (identical) and the outputs once
   both hold the same weights (float64); and the output shape of ``Estimator(model="offset10").fit(X, y).transform(X)`` against
   ``cebra.CEBRA(model_architecture="offset10-model").fit(X, y).transform(X)`` after 5 iterations, single- and
   multi-session. Then ``transform`` itself on identical weights: a fitted ``Estimator`` and a fitted ``cebra.CEBRA``
   of each of offset1/5/10/36 are given the same weights (CEBRA's fitted ones plus noise) and their embeddings are
   compared row by row, first and last rows shown, on the training data, on new data of another length, on a
   recording of exactly one receptive field, in chunks against CEBRA's batched path, and on recordings shorter
   than the receptive field (which ``CEBRA.transform`` refuses, so its solver's ``transform`` is used); the edge
   padding split of both; and a 2-session fit, each session, with CEBRA's per-session models given one shared
   trunk. Both transform in float32 only (CEBRA casts the input to float32, neuroembed's ``padded_rows`` reads
   float32), so these rows use the float32 tolerance.

Tolerances: a scalar agrees when ``max |neuroembed - CEBRA| <= rtol * max(1, |CEBRA|)``; a gradient tensor when
``max |difference| <= rtol * max |CEBRA gradient|``. ``rtol`` is 1e-12 in float64 and 1e-5 for float32 scalars (losses,
parts, temperature gradient, R^2); float32 gradient tensors get 1e-4, because their rounding error grows with the
largest score (down to about -1e3 in the euclidean cases at tau = 0.1), and for every float32 InfoNCE quantity the table
also gives each system's own error against a float64 evaluation of the same float32 inputs, which shows whether a
difference is rounding on both sides or a real disagreement. R^2 and bits use ``rtol * max(1, |CEBRA|)``.

Run from the repository root, in the benchmark environment (``neuroembed`` and ``cebra``, see ``benchmarks/README.md``)::

    python benchmarks/reference_values.py                   # writes results/reference_values.md (about 20 s)
    python benchmarks/reference_values.py --quick --output -  # one seed, prints only

CEBRA is required: without it the script stops and says how to install it.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import shlex
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import sklearn.linear_model
import torch
import torch.nn.functional as F

import neuroembed as ne
from neuroembed.models.conv import window_offsets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import (  # noqa: E402
    cebra_kwargs,
    cebra_version,
    cpu_model,
    git_revision,
    package_version,
    write_output,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "reference_values.md"

RTOL = {torch.float32: 1e-5, torch.float64: 1e-12}
# float32 gradient tensors: relative to their largest element, whose rounding error grows with the largest score
# (|s| ~ 1e3 for the euclidean cases at tau = 0.1); each system's own error against float64 is shown beside it
RTOL_GRAD32 = 1e-4
TEMPERATURES = (1.0, 0.5, 0.1)
# (references, negatives, dimensions), one per seed in turn
LOSS_SHAPES = ((512, 512, 8), (256, 1024, 3), (128, 64, 32))
# below every temperature tried; the estimators' default 0.1 is checked on its own (_temperature_on_clamp)
MIN_TEMPERATURE = 0.05


@dataclass
class Row:
    """One line of a results table."""

    check: str
    cases: str
    neuroembed: str
    cebra: str
    diff: str
    tolerance: str
    agrees: str


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**NO**")


def _g(x: float, digits: int = 6) -> str:
    return f"{x:.{digits}g}"


def _e(x: float) -> str:
    return f"{x:.1e}"


# ---------------------------------------------------------------------------------------------------------------------
# 1. InfoNCE
# ---------------------------------------------------------------------------------------------------------------------
def _loss_inputs(
    seed: int, dtype: torch.dtype, cosine: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Raw (unnormalised) reference, positive and negative tensors for one case."""
    n, m, d = LOSS_SHAPES[seed % len(LOSS_SHAPES)]
    g = torch.Generator().manual_seed(seed)
    ref = torch.randn(n, d, generator=g, dtype=torch.float64)
    pos = ref + 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64)
    neg = torch.randn(m, d, generator=g, dtype=torch.float64)
    if not cosine:
        # unequal scales, so squared distances span a wide range (scores down to about -1e3 at tau = 0.1)
        ref, pos, neg = 1.5 * ref, 1.5 * pos, 0.7 * neg
    return ref.to(dtype), pos.to(dtype), neg.to(dtype)


def _run_criterion(
    crit: torch.nn.Module,
    system: str,
    raw: tuple[torch.Tensor, ...],
    cosine: bool,
    through_normalisation: bool,
) -> dict[str, Any]:
    """Loss, parts and gradients of one criterion on one case."""
    crit.zero_grad(set_to_none=True)
    leaves = [t.clone().requires_grad_(True) for t in raw]
    if cosine and through_normalisation:
        inputs = [F.normalize(t, dim=1) for t in leaves]
    elif cosine:
        leaves = [F.normalize(t, dim=1).detach().requires_grad_(True) for t in raw]
        inputs = leaves
    else:
        inputs = leaves
    if system == "neuroembed":
        # neuroembed normalises cosine inputs itself: give it the raw vectors (through_normalisation) or the unit ones
        args = leaves if cosine and through_normalisation else inputs
        loss, align, unif = crit.forward_parts(*args)
    else:
        loss, align, unif = crit(*inputs)
    loss.backward()
    param = getattr(crit, "log_inverse_temperature", None)
    return {
        "loss": loss.detach(),
        "alignment": align.detach(),
        "uniformity": unif.detach(),
        "grads": [t.grad.detach() for t in leaves],
        "units": [t.detach() for t in inputs],
        "temperature_grad": None if param is None else param.grad.detach(),
    }


def _criteria(
    distance: str,
    learnable: bool,
    temperature: float,
    dtype: torch.dtype,
    min_temperature: float = MIN_TEMPERATURE,
) -> tuple[torch.nn.Module, torch.nn.Module, str]:
    """neuroembed's criterion, the matching CEBRA criterion (both in ``dtype``) and the CEBRA class name."""
    from cebra.models import criterions

    ours = ne.losses.InfoNCE(
        temperature, distance, learnable=learnable, min_temperature=min_temperature
    )
    name = ("Learnable" if learnable else "Fixed") + distance.capitalize() + "InfoNCE"
    cls = getattr(criterions, name)
    theirs = cls(temperature, min_temperature=min_temperature) if learnable else cls(temperature)
    return ours.to(dtype), theirs.to(dtype), name


def _note(
    worst: dict[tuple[str, torch.dtype], list[float]],
    key: str,
    dtype: torch.dtype,
    ours: torch.Tensor,
    ref: torch.Tensor,
    scalar: bool,
) -> None:
    """Keep the largest absolute and relative difference of ``key`` in ``dtype``."""
    diff = float((ours.double() - ref.double()).abs().max())
    scale = max(1.0, float(ref.abs().max())) if scalar else max(float(ref.abs().max()), 1e-30)
    cur = worst.setdefault((key, dtype), [0.0, 0.0])
    cur[0] = max(cur[0], diff)
    cur[1] = max(cur[1], diff / scale)


def check_info_nce(seeds: list[int]) -> list[Row]:
    rows: list[Row] = []
    scalars = ("loss", "alignment", "uniformity", "temperature_grad")
    for distance in ("cosine", "euclidean"):
        cosine = distance == "cosine"
        for learnable in (False, True):
            # worst absolute and relative difference per (quantity, dtype); for float32 also each system's
            # error against a float64 evaluation of the same float32 inputs (keys "<quantity>:ne", "<quantity>:cebra")
            worst: dict[tuple[str, torch.dtype], list[float]] = {}
            example: dict[str, tuple[float, float]] = {}
            name = ""
            n_cases = 0
            for dtype in (torch.float32, torch.float64):
                for seed in seeds:
                    for temperature in TEMPERATURES:
                        raw = _loss_inputs(seed, dtype, cosine)
                        ours, theirs, name = _criteria(distance, learnable, temperature, dtype)
                        a = _run_criterion(
                            ours, "neuroembed", raw, cosine, through_normalisation=True
                        )
                        b = _run_criterion(theirs, "CEBRA", raw, cosine, through_normalisation=True)
                        truth = None
                        if dtype == torch.float32:
                            n_cases += 1
                            exact, _, _ = _criteria(distance, learnable, temperature, torch.float64)
                            truth = _run_criterion(
                                exact, "neuroembed", tuple(t.double() for t in raw), cosine, True
                            )
                        pairs = [
                            (k, [a[k]], [b[k]], [truth[k]] if truth else None) for k in scalars[:3]
                        ]
                        pairs.append(
                            ("grads", a["grads"], b["grads"], truth["grads"] if truth else None)
                        )
                        if learnable:
                            k = "temperature_grad"
                            pairs.append((k, [a[k]], [b[k]], [truth[k]] if truth else None))
                        for key, xs, ys, ts in pairs:
                            for i, (x, y) in enumerate(zip(xs, ys)):
                                _note(worst, key, dtype, x, y, scalar=key in scalars)
                                if ts is not None:
                                    _note(
                                        worst, key + ":ne", dtype, x, ts[i], scalar=key in scalars
                                    )
                                    _note(
                                        worst,
                                        key + ":cebra",
                                        dtype,
                                        y,
                                        ts[i],
                                        scalar=key in scalars,
                                    )
                            if dtype == torch.float32 and key in scalars and key not in example:
                                example[key] = (float(xs[0]), float(ys[0]))
                        if cosine:
                            a = _run_criterion(
                                ours, "neuroembed", raw, cosine, through_normalisation=False
                            )
                            b = _run_criterion(
                                theirs, "CEBRA", raw, cosine, through_normalisation=False
                            )
                            for ga, gb, u in zip(a["grads"], b["grads"], b["units"]):
                                _note(worst, "grads_unit", dtype, ga, gb, scalar=False)
                                # remove the component along each unit vector from CEBRA's gradient
                                tangential = gb - (gb * u).sum(1, keepdim=True) * u
                                _note(
                                    worst, "grads_tangential", dtype, ga, tangential, scalar=False
                                )

            quantities = [
                ("loss", "total loss"),
                ("alignment", "alignment part"),
                ("uniformity", "uniformity part"),
                (
                    "grads",
                    "input gradients (ref, pos, neg)"
                    + (", through the L2 normalisation" if cosine else ""),
                ),
            ]
            if cosine:
                quantities += [
                    ("grads_unit", "input gradients w.r.t. the unit vectors as given"),
                    ("grads_tangential", "... the same, CEBRA's radial component removed"),
                ]
            if learnable:
                quantities.append(("temperature_grad", "d loss / d log_inverse_temperature"))
            cases = f"{n_cases} per dtype (seeds {','.join(map(str, seeds))} x tau {','.join(map(_g, TEMPERATURES))})"
            for key, label in quantities:
                d32, r32 = worst[(key, torch.float32)]
                d64, r64 = worst[(key, torch.float64)]
                scalar = key in scalars
                rtol32 = RTOL[torch.float32] if scalar else RTOL_GRAD32
                if key == "grads_unit":
                    ok = None  # expected to differ (radial component), see the next row
                else:
                    ok = r32 <= rtol32 and r64 <= RTOL[torch.float64]
                diff = f"f32 {_e(d32)} (rel. {_e(r32)}"
                if (key + ":ne", torch.float32) in worst:
                    diff += (
                        f"; each vs float64: ne {_e(worst[(key + ':ne', torch.float32)][0])}, "
                        f"CEBRA {_e(worst[(key + ':cebra', torch.float32)][0])}"
                    )
                diff += f"); f64 {_e(d64)} (rel. {_e(r64)})"
                ex = example.get(key)
                rows.append(
                    Row(
                        check=f"`InfoNCE({distance!r}, learnable={learnable})` vs `{name}`: {label}",
                        cases=cases,
                        neuroembed=_g(ex[0]) if ex else "-",
                        cebra=_g(ex[1]) if ex else "-",
                        diff=diff,
                        tolerance=f"f32 {rtol32:g}, f64 1e-12 (rel.)",
                        agrees=_verdict(ok)
                        + (" (differ by a radial component only)" if key == "grads_unit" else ""),
                    )
                )
    rows.append(_temperature_on_clamp(seeds[0]))
    return rows


def _temperature_on_clamp(seed: int) -> Row:
    """A learnable temperature that starts exactly at its lower bound (0.1, both estimators' default)."""
    values: dict[str, list[float]] = {"neuroembed": [], "CEBRA": []}
    for dtype in (torch.float32, torch.float64):
        raw = _loss_inputs(seed, dtype, cosine=True)
        ours, theirs, _ = _criteria("cosine", True, 0.1, dtype, min_temperature=0.1)
        values["neuroembed"].append(
            float(_run_criterion(ours, "neuroembed", raw, True, True)["temperature_grad"])
        )
        values["CEBRA"].append(
            float(_run_criterion(theirs, "CEBRA", raw, True, True)["temperature_grad"])
        )
    diff = max(abs(a - b) for a, b in zip(values["neuroembed"], values["CEBRA"]))
    return Row(
        check="`InfoNCE('cosine', learnable=True, temperature=0.1, min_temperature=0.1)` vs "
        "`LearnableCosineInfoNCE(0.1, min_temperature=0.1)`: d loss / d log_inverse_temperature, starting on the clamp",
        cases=f"seed {seed}, float32 / float64",
        neuroembed=" / ".join(_g(v) for v in values["neuroembed"]),
        cebra=" / ".join(_g(v) for v in values["CEBRA"]),
        diff=_e(diff),
        tolerance="f32 1e-05, f64 1e-12 (rel.)",
        agrees=_verdict(diff <= 1e-5 * max(1.0, max(abs(v) for v in values["CEBRA"])))
        + " (both: zero gradient in float64, note on the clamp)",
    )


# ---------------------------------------------------------------------------------------------------------------------
# 2. consistency between runs
# ---------------------------------------------------------------------------------------------------------------------
def _run_embeddings(seed: int, n: int = 2000) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3))
    return [np.tanh(z @ rng.normal(size=(3, d)) + 0.5 * rng.normal(size=(n, d))) for d in (8, 8, 5)]


def _pairwise(scores: np.ndarray, pairs: np.ndarray, frame: Any) -> tuple[list[float], list[float]]:
    """CEBRA's (score, (source, target)) list next to neuroembed's frame entries for the same ordered pairs."""
    theirs = [float(s) for s in np.atleast_1d(scores)]
    ours = [float(frame.loc[int(i), int(j)]) for i, j in np.atleast_2d(pairs)]
    return ours, theirs


def _range(values: list[float]) -> str:
    return f"{min(values):.4f} .. {max(values):.4f}"


def check_consistency_runs(seeds: list[int]) -> list[Row]:
    from cebra.integrations.sklearn.metrics import consistency_score

    rows = []
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        diffs, all_ours, all_theirs = [], [], []
        for seed in seeds:
            embs = [e.astype(dtype) for e in _run_embeddings(seed)]
            frame = ne.metrics.consistency(embs, between="runs")
            scores, pairs, _ = consistency_score(embs, between="runs")
            ours, theirs = _pairwise(scores, pairs, frame)
            if len(ours) != int(np.isfinite(frame.to_numpy()).sum()):
                raise RuntimeError("CEBRA and neuroembed compared a different number of pairs")
            diffs += [abs(a - b) for a, b in zip(ours, theirs)]
            all_ours += ours
            all_theirs += theirs
        worst = max(diffs)
        rows.append(
            Row(
                check=f'`consistency(embs, between="runs")` vs `consistency_score(embs, between="runs")`, {np.dtype(dtype).name}',
                cases=f"{len(seeds)} seeds x 6 ordered pairs, 2000 samples, dims 8/8/5",
                neuroembed=_range(all_ours),
                cebra=_range(all_theirs),
                diff=_e(worst),
                tolerance=f"{rtol:g} (rel.)",
                agrees=_verdict(worst <= rtol * max(1.0, max(map(abs, all_theirs)))),
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# 3. consistency between sessions
# ---------------------------------------------------------------------------------------------------------------------
def _session_data(
    seed: int, ranges: tuple[tuple[float, float], ...] = ((0, 1), (0, 1), (0, 1))
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Three sessions: a 1-D position and an embedding that is a noisy linear image of a code of it."""
    rng = np.random.default_rng(1000 + seed)
    embs, labels = [], []
    for (n, d), (lo, hi) in zip(((3000, 8), (2500, 8), (4000, 6)), ranges):
        position = rng.uniform(lo, hi, n)
        code = np.stack(
            [np.cos(2 * np.pi * position), np.sin(2 * np.pi * position), position], axis=1
        )
        embs.append(code @ rng.normal(size=(3, d)) + 0.3 * rng.normal(size=(n, d)))
        labels.append(position)
    return embs, labels


def _cebra_aligned_r2(embs: list[np.ndarray], labels: list[np.ndarray], n_bins: int) -> np.ndarray:
    """CEBRA's alignment without its per-bin L2 normalisation, then its LinearRegression score, as a matrix."""
    from cebra.integrations.sklearn.helpers import align_embeddings

    aligned = [
        np.asarray(a) for a in align_embeddings(embs, labels, normalize=False, n_bins=n_bins)
    ]
    k = len(embs)
    out = np.full((k, k), np.nan)
    lin = sklearn.linear_model.LinearRegression()
    for i in range(k):
        for j in range(k):
            if i != j:
                out[i, j] = lin.fit(aligned[i], aligned[j]).score(aligned[i], aligned[j])
    return out


def _cebra_codes(labels: list[np.ndarray], n_bins: int) -> list[np.ndarray]:
    """The bin index CEBRA gives every sample (np.digitize on n_bins edges over the pooled range)."""
    lo = min(float(np.min(x)) for x in labels)
    hi = max(float(np.max(x)) for x in labels)
    edges = np.linspace(lo, hi, n_bins)
    return [np.digitize(x, edges) for x in labels]


def check_consistency_sessions(seeds: list[int]) -> tuple[list[Row], list[str]]:
    from cebra.integrations.sklearn.metrics import consistency_score

    n_bins = 100  # CEBRA's default num_discretization_bins: 100 edges, 99 bins (neuroembed's default n_bins=99)
    # (neuroembed values, CEBRA values, absolute differences) per comparison
    per = {key: ([], [], []) for key in ("default", "same_bins", "same_bins_raw")}
    detail: list[str] = []
    dropped, empty = 0, 0

    def add(key: str, ours: list[float], theirs: list[float]) -> None:
        per[key][0].extend(ours)
        per[key][1].extend(theirs)
        per[key][2].extend(abs(a - b) for a, b in zip(ours, theirs))

    def ordered(frame) -> list[float]:
        return [float(frame.loc[i, j]) for i in range(3) for j in range(3) if i != j]

    for seed in seeds:
        embs, labels = _session_data(seed)
        # (a) defaults, as a user calls them
        frame = ne.metrics.consistency(embs, between="sessions", behaviour=labels)
        scores, pairs, _ = consistency_score(
            embs,
            between="datasets",
            labels=[x.copy() for x in labels],
            num_discretization_bins=n_bins,
        )
        ours, theirs = _pairwise(scores, pairs, frame)
        plain = _cebra_aligned_r2(embs, labels, n_bins)
        add("default", ours, theirs)
        if seed == seeds[0]:
            detail += [
                f"Seed {seed}, every ordered pair (source -> target), default settings of each:",
                "",
                "| pair | neuroembed (defaults: `n_bins=99`, `normalize_bins=True`) | CEBRA "
                "(`num_discretization_bins=100`) | CEBRA without its per-bin normalisation |",
                "|---|---|---|---|",
            ]
            for (i, j), a, b in zip(np.atleast_2d(pairs), ours, theirs):
                detail.append(f"| {i} -> {j} | {a:.6f} | {b:.6f} | {plain[int(i), int(j)]:.6f} |")
            detail.append("")
        # (b) CEBRA's bins given to neuroembed as categories (samples CEBRA drops removed): with and without the
        # per-bin normalisation, against CEBRA's score and against its alignment without normalisation
        codes = _cebra_codes(labels, n_bins)
        keep = [
            c < n_bins for c in codes
        ]  # CEBRA never uses index n_bins (the samples at the pooled maximum)
        dropped += sum(int((~k).sum()) for k in keep)
        empty += sum(sum(1 for b in range(1, n_bins) if not np.any(c == b)) for c in codes)
        kept = dict(
            embeddings=[e[k] for e, k in zip(embs, keep)],
            between="sessions",
            behaviour=[c[k] for c, k in zip(codes, keep)],
        )
        add("same_bins", *_pairwise(scores, pairs, ne.metrics.consistency(**kept)))
        add(
            "same_bins_raw",
            ordered(ne.metrics.consistency(**kept, normalize_bins=False)),
            [float(plain[i, j]) for i in range(3) for j in range(3) if i != j],
        )

    rtol = 1e-12
    cases = f"{len(seeds)} seeds x 6 ordered pairs; sessions 3000/2500/4000 samples, dims 8/8/6"
    rows = [
        Row(
            check='defaults: `consistency(embs, between="sessions", behaviour=pos)` vs '
            '`consistency_score(embs, between="datasets", labels=pos)`',
            cases=cases,
            neuroembed=_range(per["default"][0]),
            cebra=_range(per["default"][1]),
            diff=_e(max(per["default"][2])),
            tolerance="none: the samples at the pooled maximum (note b)",
            agrees="n/a, close",
        ),
        Row(
            check="same bins: neuroembed given CEBRA's `np.digitize` bin index as integer (categorical) behaviour, "
            "samples CEBRA drops removed, vs CEBRA's `consistency_score`",
            cases=cases
            + f"; {dropped} sample(s) at the pooled maximum dropped, {empty} empty bin(s)",
            neuroembed=_range(per["same_bins"][0]),
            cebra=_range(per["same_bins"][1]),
            diff=_e(max(per["same_bins"][2])),
            tolerance=f"{rtol:g} (rel.)",
            agrees=_verdict(max(per["same_bins"][2]) <= rtol),
        ),
        Row(
            check="same bins without the per-bin normalisation: neuroembed `normalize_bins=False` vs CEBRA "
            "`align_embeddings(normalize=False)` + `LinearRegression().score`",
            cases=cases,
            neuroembed=_range(per["same_bins_raw"][0]),
            cebra=_range(per["same_bins_raw"][1]),
            diff=_e(max(per["same_bins_raw"][2])),
            tolerance=f"{rtol:g} (rel.)",
            agrees=_verdict(max(per["same_bins_raw"][2]) <= rtol),
        ),
    ]

    # (d) sessions that cover different parts of the behaviour
    embs, labels = _session_data(seeds[0], ranges=((0.0, 0.7), (0.3, 1.0), (0.0, 1.0)))
    frame = ne.metrics.consistency(embs, between="sessions", behaviour=labels)
    try:
        scores, _, _ = consistency_score(
            embs, between="datasets", labels=[x.copy() for x in labels]
        )
        theirs = f"{_range(list(np.atleast_1d(scores)))}"
    except ValueError as err:
        theirs = f"ValueError: {str(err).split('.')[0]}"
    values = frame.to_numpy()[np.isfinite(frame.to_numpy())]
    rows.append(
        Row(
            check="partial overlap: sessions on position [0, 0.7], [0.3, 1], [0, 1]",
            cases=f"seed {seeds[0]}",
            neuroembed=f"{values.min():.4f} .. {values.max():.4f} (fitted on the shared bins)",
            cebra=theirs,
            diff="-",
            tolerance="-",
            agrees="n/a (note c)",
        )
    )
    return rows, detail


# ---------------------------------------------------------------------------------------------------------------------
# 4. goodness of fit
# ---------------------------------------------------------------------------------------------------------------------
def check_goodness_of_fit(fitted: dict[str, Any]) -> list[Row]:
    from cebra.integrations.sklearn.metrics import (
        goodness_of_fit_history as cebra_history,
    )
    from cebra.integrations.sklearn.metrics import infonce_to_goodness_of_fit

    rows = []
    losses = np.array([0.0, 1.5, math.log(64), 4.9, math.log(512), 6.5, 12.0])
    diffs, ours_all, theirs_all = [], [], []
    settings = [(64, 1), (512, 1), (4096, 1), (512, 2), (128, 5)]
    for batch_size, sessions in settings:
        ours = np.asarray(ne.metrics.infonce_to_bits(losses, batch_size * sessions))
        theirs = np.asarray(
            infonce_to_goodness_of_fit(losses, batch_size=batch_size, num_sessions=sessions)
        )
        scalar_ours = ne.metrics.infonce_to_bits(float(losses[1]), batch_size * sessions)
        scalar_theirs = float(
            infonce_to_goodness_of_fit(
                float(losses[1]), batch_size=batch_size, num_sessions=sessions
            )
        )
        diffs += list(np.abs(ours - theirs)) + [abs(scalar_ours - scalar_theirs)]
        ours_all += list(ours)
        theirs_all += list(theirs)
    worst = float(max(diffs))
    rows.append(
        Row(
            check="`infonce_to_bits(loss, num_negatives=batch_size * sessions)` vs "
            "`infonce_to_goodness_of_fit(loss, batch_size=, num_sessions=)`",
            cases=f"losses {', '.join(_g(x, 4) for x in losses)} x (batch, sessions) "
            + ", ".join(f"({b}, {s})" for b, s in settings)
            + "; arrays and scalars",
            neuroembed=f"{min(ours_all):.4f} .. {max(ours_all):.4f} bits",
            cebra=f"{min(theirs_all):.4f} .. {max(theirs_all):.4f} bits",
            diff=_e(worst),
            tolerance="1e-12 (rel.)",
            agrees=_verdict(worst <= 1e-12 * max(1.0, max(map(abs, theirs_all)))),
        )
    )

    for key, label in (("single", "single session"), ("multi", "2 sessions")):
        model, batch_size, sessions = fitted[f"cebra_{key}"]
        history = np.asarray(model.state_dict_["log"]["total"], dtype=np.float64)
        ours = ne.metrics.goodness_of_fit_history(history, num_negatives=batch_size * sessions)
        theirs = np.asarray(cebra_history(model), dtype=np.float64)
        worst = float(np.max(np.abs(ours - theirs)))
        rows.append(
            Row(
                check=f"`goodness_of_fit_history(history, num_negatives={batch_size * sessions})` on a fitted CEBRA "
                f"model's loss history vs CEBRA's `goodness_of_fit_history(model)`, {label}",
                cases=f"{len(history)} iterations, batch size {batch_size}",
                neuroembed=f"{ours[0]:.4f} (first)",
                cebra=f"{theirs[0]:.4f} (first)",
                diff=_e(worst),
                tolerance="1e-12 (rel.)",
                agrees=_verdict(worst <= 1e-12 * max(1.0, float(np.max(np.abs(theirs))))),
            )
        )

    est, batch_size = fitted["ne_multi"]
    model, _, sessions = fitted["cebra_multi"]
    k_cebra = batch_size * sessions
    first_ours = float(est.loss_history_[0])
    first_theirs = float(model.state_dict_["log"]["total"][0])
    rows.append(
        Row(
            check="negatives per step (chance level log K) of a multi-session fit with the same `batch_size`: "
            "neuroembed `num_negatives_` vs CEBRA `batch_size * num_sessions_`; first-iteration loss next to log K",
            cases=f"2 sessions, batch size {batch_size}",
            neuroembed=f"K = {est.num_negatives_}; loss {first_ours:.3f} vs log K {math.log(est.num_negatives_):.3f}",
            cebra=f"K = {k_cebra}; loss {first_theirs:.3f} vs log K {math.log(k_cebra):.3f}",
            diff="-",
            tolerance="equal K",
            agrees=_verdict(est.num_negatives_ == k_cebra),
        )
    )
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# 5. receptive field and output shape
# ---------------------------------------------------------------------------------------------------------------------
def fit_tiny_models(iterations: int = 5) -> dict[str, Any]:
    """Tiny fits of both systems (single and two sessions) for the shape and goodness-of-fit checks."""
    import cebra

    rng = np.random.default_rng(0)
    x1 = rng.normal(size=(600, 30)).astype(np.float32)
    y1 = rng.uniform(size=(600, 1)).astype(np.float32)
    x2 = rng.normal(size=(500, 30)).astype(np.float32)
    y2 = rng.uniform(size=(500, 1)).astype(np.float32)
    batch_size = 64
    common = dict(max_iterations=iterations, batch_size=batch_size, output_dimension=8)
    torch.manual_seed(0)
    ours = ne.Estimator(model="offset10", device="cpu", random_state=0, **common).fit(x1, y1)
    ours_multi = ne.Estimator(model="offset10", device="cpu", random_state=0, **common).fit(
        [x1, x2], [y1, y2]
    )
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002  (CEBRA reads the global state)
    settings = cebra_kwargs({"model": "offset10", "device": "cpu", **common})
    theirs = cebra.CEBRA(**settings).fit(x1, y1)
    theirs_multi = cebra.CEBRA(**settings).fit([x1, x2], [y1, y2])
    return {
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "iterations": iterations,
        "ne_single": ours,
        "ne_multi": (ours_multi, batch_size),
        "cebra_single": (theirs, batch_size, 1),
        "cebra_multi": (theirs_multi, batch_size, theirs_multi.num_sessions_),
    }


def check_models(fitted: dict[str, Any]) -> list[Row]:
    import cebra.models

    rows = []
    n_neurons, hidden, out = 30, 32, 8
    for name in (
        "offset1",
        "offset5",
        "offset10",
        "offset15",
        "offset20",
        "offset36",
        "offset40",
        "offset50",
    ):
        ours = ne.models.MODELS[name](n_neurons, hidden, out)
        theirs = cebra.models.init(
            f"{name}-model", num_neurons=n_neurons, num_units=hidden, num_output=out
        )
        offset = theirs.get_offset()
        mine = window_offsets(ours.receptive_field)
        same = mine == (offset.left, offset.right) and ours.receptive_field == len(offset)
        n_ours = sum(p.numel() for p in ours.parameters())
        n_theirs = sum(p.numel() for p in theirs.parameters())
        rows.append(
            Row(
                check=f"`{name}` vs `{name}-model`: (left, right) window and receptive field",
                cases=f"{n_neurons} neurons, {hidden} hidden units, output {out}",
                neuroembed=f"{mine}, R = {ours.receptive_field}; {n_ours} parameters",
                cebra=f"({offset.left}, {offset.right}), R = {len(offset)}; {n_theirs} parameters",
                diff="-",
                tolerance="equal window",
                agrees=_verdict(same)
                + ("" if n_ours == n_theirs else "; parameter counts differ (note e)"),
            )
        )

    rows += _same_weights_rows(n_neurons, hidden, out)

    x1, x2 = fitted["x1"], fitted["x2"]
    ours, theirs = fitted["ne_single"], fitted["cebra_single"][0]
    ours_multi, theirs_multi = fitted["ne_multi"][0], fitted["cebra_multi"][0]
    shapes = [
        (
            "single session, transform(X) of the 600 training samples",
            ours.transform(x1),
            theirs.transform(x1),
            600,
        ),
        (
            "single session, transform of 123 new samples",
            ours.transform(x1[:123]),
            theirs.transform(x1[:123]),
            123,
        ),
        (
            "2 sessions, transform(X2, session=1) / session_id=1 of 500 samples",
            ours_multi.transform(x2, session=1),
            theirs_multi.transform(x2, session_id=1),
            500,
        ),
    ]
    for label, a, b, n in shapes:
        a_shape, b_shape = tuple(np.shape(a)), tuple(np.shape(b))
        rows.append(
            Row(
                check=f'`Estimator(model="offset10")` vs `CEBRA(model_architecture="offset10-model")`: {label}',
                cases=f"{fitted['iterations']} iterations, batch 64, output 8",
                neuroembed=str(a_shape),
                cebra=str(b_shape),
                diff="-",
                tolerance="equal shape, one row per sample",
                agrees=_verdict(a_shape == b_shape == (n, 8)),
            )
        )
    rows += _transform_rows(fitted)
    return rows


# float32 embeddings (both systems transform in float32 only): rtol x max(1, |CEBRA|), as for float32 scalars
TRANSFORM_RTOL = RTOL[torch.float32]
TRANSFORM_MODELS = ("offset1", "offset5", "offset10", "offset36")


def _shared_weights(
    ours: list[torch.Tensor], theirs: list[torch.Tensor], generator: torch.Generator
) -> None:
    """CEBRA's fitted parameters plus N(0, 0.05^2) noise, written into CEBRA's and neuroembed's parameters
    (neuroembed's kernel-1 convolutions of ``offset1`` take CEBRA's Linear weights reshaped)."""
    if [p.numel() for p in ours] != [p.numel() for p in theirs]:
        raise RuntimeError("neuroembed's and CEBRA's models have different parameter layouts")
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            b.add_(0.05 * torch.randn(b.shape, generator=generator, dtype=b.dtype))
            a.copy_(b.reshape(a.shape))


def _row_diffs(a: np.ndarray, b: np.ndarray) -> tuple[float, str]:
    """Largest difference over all rows, and a description with the first and last row's."""
    if a.shape != b.shape:
        return math.inf, f"shapes differ: {a.shape} vs {b.shape}"
    per_row = np.abs(a.astype(np.float64) - b.astype(np.float64)).max(axis=1)
    worst = float(per_row.max())
    return worst, f"{_e(worst)} (first row {_e(per_row[0])}, last row {_e(per_row[-1])})"


def _transform_row(
    check: str, cases: str, a: np.ndarray, b: np.ndarray, cebra_label: str = ""
) -> Row:
    worst, diff = _row_diffs(a, b)
    tol = TRANSFORM_RTOL * max(1.0, float(np.abs(b).max()))
    return Row(
        check=check,
        cases=cases,
        neuroembed=str(a.shape),
        cebra=cebra_label or str(b.shape),
        diff=diff,
        tolerance=f"{TRANSFORM_RTOL:g} (f32, rel.)",
        agrees=_verdict(worst <= tol),
    )


def _padding_split_row() -> Row:
    """Rows each system repeats before the first and after the last sample when it transforms a recording."""
    import cebra.models

    from neuroembed.models.conv import padded_rows

    ours, theirs = [], []
    for name in TRANSFORM_MODELS:
        R = ne.models.MODELS[name](4, 8, 2).receptive_field
        n = 50
        ramp = np.arange(n, dtype=np.float32)[:, None]
        block = padded_rows(ramp, 0, n, R)[:, 0]
        ours.append((int((block == 0).sum()) - 1, int((block == n - 1).sum()) - 1))
        # CEBRA's solver pads with F.pad(inputs.T, (offset.left, offset.right - 1), "replicate") before it
        # transforms (cebra/solver/base.py, _not_batched_transform; no padding when len(offset) < 2)
        offset = cebra.models.init(
            f"{name}-model", num_neurons=4, num_units=8, num_output=2
        ).get_offset()
        theirs.append((offset.left, offset.right - 1) if len(offset) >= 2 else (0, 0))
    fmt = ", ".join
    return Row(
        check="edge padding of `transform`: rows repeated (before the first, after the last sample); neuroembed "
        "counted from `padded_rows` on a ramp, CEBRA's `(offset.left, offset.right - 1)` of its `replicate` pad",
        cases=", ".join(TRANSFORM_MODELS),
        neuroembed=fmt(str(t) for t in ours),
        cebra=fmt(str(t) for t in theirs),
        diff="-",
        tolerance="equal split",
        agrees=_verdict(ours == theirs),
    )


def _transform_rows(fitted: dict[str, Any], iterations: int = 2, seed: int = 0) -> list[Row]:
    """``Estimator.transform`` against ``CEBRA.transform`` once both hold the same weights, edges included."""
    import copy

    import cebra

    x1, y1 = fitted["x1"], fitted["y1"]
    rng = np.random.default_rng(seed + 100)
    new = rng.normal(size=(137, x1.shape[1])).astype(np.float32)
    generator = torch.Generator().manual_seed(seed)
    rows = [_padding_split_row()]
    common = dict(max_iterations=iterations, batch_size=64, output_dimension=8)
    for name in TRANSFORM_MODELS:
        if name == "offset10":
            ours, theirs = (
                copy.deepcopy(fitted["ne_single"]),
                copy.deepcopy(fitted["cebra_single"][0]),
            )
            fit_note = f"{fitted['iterations']}-iteration fits"
        else:
            torch.manual_seed(seed)
            ours = ne.Estimator(model=name, device="cpu", random_state=seed, **common).fit(x1, y1)
            theirs = cebra.CEBRA(**cebra_kwargs({"model": name, "device": "cpu", **common})).fit(
                x1, y1
            )
            fit_note = f"{iterations}-iteration fits"
        _shared_weights(
            list(ours.encoder_.parameters()), list(theirs.solver_.model.parameters()), generator
        )
        R = ours.receptive_field_
        label = f'`Estimator(model="{name}")` vs `CEBRA(model_architecture="{name}-model")`, same weights'
        weights = f"{fit_note}, then CEBRA's weights + noise in both"
        rows.append(
            _transform_row(
                f"{label}: `transform` of the {len(x1)} training samples",
                weights,
                ours.transform(x1),
                theirs.transform(x1),
            )
        )
        rows.append(
            _transform_row(
                f"{label}: `transform` of {len(new)} new samples",
                weights,
                ours.transform(new),
                theirs.transform(new),
            )
        )
        rows.append(
            _transform_row(
                f"{label}: `transform` of exactly one receptive field ({R} samples: every row reads padding)"
                if R > 1
                else f"{label}: `transform` of 1 sample",
                weights,
                ours.transform(new[:R]),
                theirs.transform(new[:R]),
            )
        )
        if R == 1:
            continue
        # chunk boundaries: neuroembed in chunks of 64 rows, CEBRA's batched path (batches of 64)
        rows.append(
            _transform_row(
                f"{label}: neuroembed `transform(X, chunk_size=64)` vs CEBRA `transform(X, batch_size=64)` "
                f"(CEBRA's batched path: `replicate` pad on its first and last batch only)",
                weights + f"; {len(x1)} samples",
                ours.transform(x1, chunk_size=64),
                theirs.transform(x1, batch_size=64),
            )
        )
        rows.append(_short_recording_row(label, weights, ours, theirs, new, R))
    rows += _multi_session_transform_rows(fitted, generator)
    return rows


def _short_recording_row(
    label: str, weights: str, ours: Any, theirs: Any, new: np.ndarray, R: int
) -> Row:
    """A recording shorter than the receptive field: CEBRA's ``transform`` refuses it, its solver's takes it."""
    try:
        theirs.transform(new[: R - 1])
        public = "accepted"
    except ValueError as err:
        public = f"ValueError ({str(err).split(' while ')[-1].rstrip('.')})"
    lengths = sorted({R - 1, 2})
    worst, parts, a_shapes = 0.0, [], []
    for k in lengths:
        a = ours.transform(new[:k])
        b = theirs.solver_.transform(torch.from_numpy(new[:k]), pad_before_transform=True).numpy()
        w, _ = _row_diffs(a, b)
        worst = max(worst, w)
        parts.append(f"{k} samples {_e(w)}")
        a_shapes.append(str(a.shape))
    # one sample: CEBRA's solver fails on it (its output squeeze leaves a 1-D tensor), so its model is run on the
    # window its solver's padding would give, F.pad(x.T, (left, right - 1), "replicate")
    model = theirs.solver_.model.eval()
    offset = model.get_offset()
    x = torch.from_numpy(new[:1]).T[None]
    with torch.no_grad():
        b = (
            model(F.pad(x, (offset.left, offset.right - 1), mode="replicate"))
            .reshape(1, -1)
            .numpy()
        )
    a = ours.transform(new[:1])
    w, _ = _row_diffs(a, b)
    worst = max(worst, w)
    parts.append(f"1 sample {_e(w)} (against CEBRA's model on its padded window)")
    tol = TRANSFORM_RTOL
    return Row(
        check=f"{label}: a recording shorter than the receptive field; CEBRA's `transform` gives {public}, "
        "so CEBRA's side is `solver_.transform(X, pad_before_transform=True)`",
        cases=weights + f"; {', '.join(map(str, lengths))} and 1 sample(s)",
        neuroembed=", ".join(a_shapes) + f", {a.shape}",
        cebra=f"`transform`: {public}; solver: same shapes",
        diff="; ".join(parts),
        tolerance=f"{tol:g} (f32, rel.)",
        agrees=_verdict(worst <= tol),
    )


def _multi_session_transform_rows(fitted: dict[str, Any], generator: torch.Generator) -> list[Row]:
    """The 2-session fits: CEBRA has one whole model per session, neuroembed one input layer per session and one
    shared trunk; CEBRA's session-0 model is given session 1's trunk so that both hold one set of weights."""
    import copy

    ours = copy.deepcopy(fitted["ne_multi"][0])
    theirs = copy.deepcopy(fitted["cebra_multi"][0])
    models = theirs.solver_.model  # a ModuleList, one offset10-model per session
    stems = [list(m.parameters())[:2] for m in models]
    trunks = [list(m.parameters())[2:] for m in models]
    encoder = ours.encoder_
    _shared_weights(
        [*encoder.stems[1].parameters(), *encoder.trunk.parameters()],
        [*stems[1], *trunks[1]],
        generator,
    )
    _shared_weights(list(encoder.stems[0].parameters()), stems[0], generator)
    with torch.no_grad():
        for a, b in zip(trunks[0], trunks[1]):
            a.copy_(b)
    rng = np.random.default_rng(7)
    rows = []
    for s, x in enumerate((fitted["x1"], fitted["x2"])):
        new = rng.normal(size=(211, x.shape[1])).astype(np.float32)
        worst, parts, shapes = 0.0, [], []
        for label, data in (("training", x), ("new", new)):
            a, b = ours.transform(data, session=s), theirs.transform(data, session_id=s)
            w, text = _row_diffs(a, b)
            worst = max(worst, w)
            parts.append(f"{label} {text}")
            shapes.append((str(a.shape), str(b.shape)))
        rows.append(
            Row(
                check=f'2 sessions: `Estimator(model="offset10").transform(X, session={s})` vs '
                f"`CEBRA.transform(X, session_id={s})`, same weights (the shared trunk in both)",
                cases=f"{fitted['iterations']}-iteration fits; session {s}'s {len(x)} training samples and 211 "
                "new ones",
                neuroembed=", ".join(a for a, _ in shapes),
                cebra=", ".join(b for _, b in shapes),
                diff="; ".join(parts),
                tolerance=f"{TRANSFORM_RTOL:g} (f32, rel.)",
                agrees=_verdict(worst <= TRANSFORM_RTOL),
            )
        )
    return rows


def _same_weights_rows(n_neurons: int, hidden: int, out: int, seed: int = 0) -> list[Row]:
    """The convolutional models: initial weights under one torch seed, and outputs once given the same weights."""
    import cebra.models

    rows = []
    for name in ("offset5", "offset10", "offset15", "offset20", "offset36", "offset40", "offset50"):
        torch.manual_seed(seed)
        ours = ne.models.MODELS[name](n_neurons, hidden, out)
        torch.manual_seed(seed)
        theirs = cebra.models.init(
            f"{name}-model", num_neurons=n_neurons, num_units=hidden, num_output=out
        )
        mine, other = list(ours.parameters()), list(theirs.parameters())
        same_shapes = [p.shape for p in mine] == [p.shape for p in other]
        init_diff = (
            max((a - b).abs().max().item() for a, b in zip(mine, other))
            if same_shapes
            else math.inf
        )
        rows.append(
            Row(
                check=f"`{name}` vs `{name}-model`: initial weights after the same `torch.manual_seed`",
                cases=f"seed {seed}; {n_neurons} neurons, {hidden} hidden units, output {out}",
                neuroembed=f"{len(mine)} tensors",
                cebra=f"{len(other)} tensors",
                diff=_e(init_diff),
                tolerance="0 (identical)",
                agrees=_verdict(init_diff == 0),
            )
        )
        ours, theirs = ours.double(), theirs.double()
        with torch.no_grad():
            for a, b in zip(ours.parameters(), theirs.parameters()) if same_shapes else ():
                a.copy_(b + 0.01 * torch.randn_like(b))
                b.copy_(a)
            x = torch.randn(16, n_neurons, ours.receptive_field + 6, dtype=torch.float64)
            y_ours, y_theirs = ours(x), theirs(x)
        same_out = same_shapes and y_ours.shape == y_theirs.shape
        diff = (y_ours - y_theirs).abs().max().item() if same_out else math.inf
        rows.append(
            Row(
                check=f"`{name}` vs `{name}-model`: output given the same weights, float64",
                cases=f"16 inputs of {ours.receptive_field + 6} samples; weights: the init plus noise",
                neuroembed=str(tuple(y_ours.shape)),
                cebra=str(tuple(y_theirs.shape)),
                diff=_e(diff),
                tolerance="1e-12",
                agrees=_verdict(diff <= 1e-12),
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------------------------------------------------
HEADER = "| check | cases | neuroembed | CEBRA 0.6.1 | max abs diff | tolerance | agrees |"
NOTES_SESSIONS = [
    "Notes on consistency between sessions (from reading `neuroembed/metrics/consistency.py` and CEBRA's "
    "`integrations/sklearn/helpers.py::align_embeddings` / `metrics.py::_consistency_datasets`):",
    "",
    "- a. **Normalisation.** CEBRA's `consistency_score` always calls `align_embeddings` with `normalize=True`, which "
    "divides every bin's mean embedding by its L2 norm (a per-bin normalisation across the embedding's "
    "dimensions) before the regression. "
    "neuroembed does the same by default (`normalize_bins=True`) and can fit on the raw means instead "
    "(`normalize_bins=False`); CEBRA has no switch, so the raw-means row calls `align_embeddings(normalize=False)`.",
    "- b. **Bins.** CEBRA digitises the labels against `n_bins` evenly spaced values over the pooled range, i.e. `n_bins` *edges* and "
    "`n_bins - 1` bins (indices 1 .. n_bins - 1, each `[edge_k-1, edge_k)`); samples equal to the pooled maximum get "
    "index `n_bins` and are never used. neuroembed cuts the pooled range into `n_bins` bins "
    '(`np.searchsorted(np.linspace(min, max, n_bins + 1)[1:-1], x, side="right")`) and puts the maximum into the last '
    "bin. So CEBRA's `num_discretization_bins=100` is neuroembed's default `n_bins=99` apart from the maximum sample(s).",
    "- c. **Empty bins.** CEBRA fills a bin a session never visits with the mean of the samples 1, then 2 bins away "
    "(`_coarse_to_fine`) and raises `ValueError` when there are none within 2 bins, so sessions must cover the same "
    "range; neuroembed fits each pair on the bins both sessions visit and drops the others. CEBRA accepts 1-D labels "
    "only; neuroembed bins every column (a grid) and treats integer behaviour as categories.",
    "",
    "With CEBRA's bins given to neuroembed the two agree to rounding, with and without the normalisation: the "
    "regression itself (`affine_r2` in neuroembed, `LinearRegression().score` in CEBRA) is the same. With each "
    "one's defaults they differ only through the samples at the pooled maximum (b) and, where a session misses "
    "a bin, through (c).",
]
NOTE_NEGATIVES = (
    "- d. **Negatives in multi-session fits.** CEBRA's multi-session loader draws `batch_size` references and "
    "`batch_size` negatives *per session* and the solver concatenates them (`cebra/solver/multi_session.py`, "
    "`_inference`, which flattens the per-session negatives into one set), so K = batch_size x sessions and CEBRA's goodness of fit uses "
    "`log(batch_size * num_sessions)`. neuroembed's default `num_negatives=None` is the same K (as many negatives "
    "as references, split evenly over the sessions), reported as `num_negatives_` and used by its "
    "`goodness_of_fit`; a different `num_negatives` changes both together."
)
NOTE_PARAMETERS = (
    "- e. **Parameter counts.** Equal parameter counts for the same `num_hidden_units` mean the same layer widths: "
    "CEBRA's `offset1-model` is Linear(n, h) - Linear(h, h) - Linear(h, h/2) - Linear(h/2, out) with GELUs between, "
    "and neuroembed's `offset1` (kernel-1 convolutions) has the same widths; the conv models share their layout. "
    "A row that says the counts differ is a disagreement."
)
NOTE_TRANSFORM = (
    "- f. **`transform` on the same weights.** Both pad the recording by repeating its first row `left` times and its "
    "last row `right - 1` times, with `(left, right)` the model's window (`window_offsets` / `get_offset()`), so "
    "sample `t` is embedded from rows `t - left .. t + right - 1` in both and every row, the first and the last "
    "included, agrees to float32 rounding (neuroembed multiplies im2col blocks, CEBRA runs `Conv1d`). CEBRA's batched "
    "path (`batch_size=`) pads only its first and last batch and reads real rows across batch boundaries, as "
    "neuroembed's chunks do. A recording shorter than the receptive field: `CEBRA.transform` refuses it (scikit-learn's "
    "`min_samples` check), its solver's `transform` embeds it with the same padding, except a single sample, where the "
    "solver's output squeeze fails (IndexError), so that row compares with CEBRA's model on the window its padding "
    "gives; neuroembed embeds any length from 1. Multi-session: CEBRA keeps one whole model per session, neuroembed "
    "one input layer per session and one shared trunk, so CEBRA's session-0 model is given session 1's trunk; both "
    "sessions then agree. Neither system transforms in float64 (CEBRA casts the input to float32 before its model)."
)
NOTES_LOSS = (
    "Notes on InfoNCE: the neuroembed and CEBRA columns show the first float32 case (seed 0, tau 1, 512 references, "
    "512 negatives, 8 dimensions). Both use the positive outside the denominator; CEBRA subtracts the (detached) row maximum "
    "before the log-sum-exp and returns alignment and uniformity corrected for it, neuroembed uses `torch.logsumexp`; "
    "the euclidean score is minus the *squared* distance in both (CEBRA's docstring writes the unsquared norm, its code "
    "squares). CEBRA's cosine criteria take a plain dot product and expect unit-norm inputs (its encoders normalise); "
    "neuroembed normalises inside the loss, so its gradient w.r.t. already-unit inputs has no radial component, which "
    "is why only the tangential part is compared there. Learnable temperature: both parametrise "
    "`log_inverse_temperature = -log(tau)` and clamp the inverse temperature at `1 / min_temperature` "
    "(`exp(...).clamp(max=...)`). On the clamp: a temperature started exactly at `min_temperature` gets a zero "
    "gradient whenever `exp(log(1 / tau))` rounds above `1 / tau` (float64 for tau = 0.1: 10.000000000000002 > 10), "
    "and a non-zero one when it rounds below (float32), in both implementations alike, so such a temperature stays "
    "frozen in float64; start it above its bound."
)


def table(rows: list[Row]) -> list[str]:
    lines = [HEADER, "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r.check} | {r.cases} | {r.neuroembed} | {r.cebra} | {r.diff} | {r.tolerance} | {r.agrees} |"
        )
    return lines


def format_report(
    sections: list[tuple[str, list[Row], list[str]]],
    *,
    seeds: list[int],
    quick: bool,
    cebra: str,
    loads: tuple[tuple[float, float, float], tuple[float, float, float]],
    wall_seconds: float,
    command: str,
) -> str:
    now = datetime.datetime.now().astimezone()
    before, after = loads
    all_rows = [r for _, rows, _ in sections for r in rows]
    failed = [r for r in all_rows if "NO" in r.agrees]
    compared = [r for r in all_rows if r.agrees.startswith(("yes", "**NO"))]
    lines = [
        "# Reference values: neuroembed against CEBRA on identical inputs",
        "",
        f"- date: {now:%Y-%m-%d %H:%M %Z}",
        f"- machine: {platform.platform()}; CPU {cpu_model()}, {os.cpu_count()} cores; torch threads "
        f"{torch.get_num_threads()}",
        f"- load average (1, 5, 15 min) at start {before[0]:.2f}, {before[1]:.2f}, {before[2]:.2f}; at end "
        f"{after[0]:.2f}, {after[1]:.2f}, {after[2]:.2f} (timing plays no part here)",
        f"- versions: python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, neuroembed {package_version('neuroembed')} (git {git_revision()}), "
        f"CEBRA {cebra}",
        f"- seeds {', '.join(map(str, seeds))}"
        + ("; **quick mode: one seed, a smoke test**" if quick else ""),
        "- tolerance: a scalar agrees when max |neuroembed - CEBRA| <= rtol x max(1, |CEBRA|), a gradient tensor when "
        "max |difference| <= rtol x max |CEBRA gradient|; rtol 1e-12 in float64, 1e-5 for float32 scalars, 1e-4 for "
        "float32 gradient tensors (their rounding grows with the largest score; see each system's own error against "
        "float64 in the InfoNCE table)",
        f"- {len(compared)} comparisons with a tolerance, {len(compared) - len(failed)} within it"
        + (f"; **{len(failed)} outside it**" if failed else "")
        + "; rows marked n/a compare things that are not meant to be equal, with the reason",
        f"- total wall time {wall_seconds:.0f} s; produced by `{command}`",
        "",
    ]
    for title, rows, extra in sections:
        lines += [f"## {title}", ""] + table(rows) + [""] + extra
        if extra and extra[-1] != "":
            lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="neuroembed's InfoNCE, consistency and goodness of fit against CEBRA 0.6.1 on identical inputs."
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="input seeds (default 0 1 2)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="one seed (0); writes nothing unless --output is given"
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
    cebra = cebra_version()
    if cebra is None:
        raise SystemExit(
            "reference_values.py compares against CEBRA, which is not installed here; use the benchmark environment "
            "(benchmarks/README.md: pip install cebra)."
        )
    if not cebra.startswith("0.6."):
        print(
            f"warning: these reference values were written for CEBRA 0.6.1; found {cebra}",
            file=sys.stderr,
        )
    torch.set_num_threads(args.threads)
    seeds = [args.seeds[0]] if args.quick else list(args.seeds)
    warnings.filterwarnings(
        "ignore", message=r".*torch\.jit\.script.*is deprecated", category=DeprecationWarning
    )

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    print("1/5 InfoNCE", file=sys.stderr)
    loss_rows = check_info_nce(seeds)
    print("2/5 consistency between runs", file=sys.stderr)
    run_rows = check_consistency_runs(seeds)
    print("3/5 consistency between sessions", file=sys.stderr)
    session_rows, session_detail = check_consistency_sessions(seeds)
    print("4/5 tiny fits, goodness of fit", file=sys.stderr)
    fitted = fit_tiny_models()
    gof_rows = check_goodness_of_fit(fitted)
    print("5/5 models", file=sys.stderr)
    model_rows = check_models(fitted)

    sections = [
        ("1. InfoNCE loss", loss_rows, [NOTES_LOSS, ""]),
        ("2. Consistency between runs", run_rows, []),
        (
            "3. Consistency between sessions (datasets), aligned on behaviour",
            session_rows,
            session_detail + NOTES_SESSIONS + [""],
        ),
        ("4. Goodness of fit", gof_rows, [NOTE_NEGATIVES, ""]),
        (
            "5. Models: receptive field, weights, output shape, `transform` on the same weights",
            model_rows,
            [NOTE_PARAMETERS, NOTE_TRANSFORM, ""],
        ),
    ]
    report = format_report(
        sections,
        seeds=seeds,
        quick=args.quick,
        cebra=cebra,
        loads=(load_before, os.getloadavg()),
        wall_seconds=time.perf_counter() - t0,
        command=shlex.join(
            ["python", "benchmarks/reference_values.py", *(sys.argv[1:] if argv is None else argv)]
        ),
    )
    print(report)
    default = None if args.quick else str(DEFAULT_OUTPUT)
    write_output(report, args.output if args.output is not None else default)
    return report


if __name__ == "__main__":
    main()

"""Reference values for attribution: :mod:`neuroembed.attribution` against CEBRA 0.6.1's ``cebra.attribution`` (and the
Captum methods it wraps), on identical model weights, input data and baselines.

Not a benchmark of speed or of quality: a check that, once the arguments are mapped onto each other, the two compute
the same per-sample maps, and a record of where their conventions and defaults differ. Every comparison runs both
systems on one seeded recording (``N_SAMPLES`` x ``N_NEURONS``, float32) through models that hold the same weights
(CEBRA's initialisation under ``torch.manual_seed(0)`` plus Gaussian noise, copied into a fitted
``neuroembed.Estimator``'s ``encoder_``), and reports the largest absolute difference with a stated tolerance.

What is compared (CEBRA's names on the right; every CEBRA map is its per-window array as returned by
``cebra.attribution.init(name, model=..., input_data=..., output_dimension=...).compute_attribution_map(...)``):

1. **Windows.** Which samples each attributes: CEBRA's ``AttributionMap`` cuts the recording into every full window
   the model reads, without padding (``n - R + 1`` windows, the first centred on sample ``left``); neuroembed maps all
   ``n`` samples on the edge-padded recording, as ``transform`` embeds them. CEBRA's windows are compared with
   neuroembed's for samples ``left .. n - right``.
2. **Jacobian.** ``attribution_map(method="jacobian", reduce_window="mean" | "mean_abs")`` against ``jacobian-based``
   (``jf``, ``jf-convabs``), ``neuron-gradient`` (Captum's ``NeuronGradient``) and ``neuron-gradient-batched``; an
   asymmetric window (offset5), an unnormalised (euclidean) model, a 2-session fit (``session=1``), the edges (CEBRA
   given the recording padded as both pad for ``transform``), the summary over samples, the MLP ``offset1`` (a 3-D
   Jacobian), and float64 (Captum on a float64 model against neuroembed's :func:`~neuroembed.attribution.jacobian`).
3. **Inverted Jacobian.** ``method="inverted-jacobian"`` with ``rtol`` mapped onto each of CEBRA's inverses:
   ``-inv-svd`` (``scipy.linalg.pinv``), ``-inv-lsq`` (``scipy.linalg.lstsq(J, I)``), for the signed and the
   ``convabs`` Jacobian, cosine and euclidean models, float32 and float64, and ``get_attribution_map``
   (``numpy.linalg.pinv`` in float64); then both systems' defaults side by side.
4. **Integrated gradients.** ``method="integrated-gradients"`` against ``integrated-gradients`` (Captum's
   ``NeuronIntegratedGradients``) with the same quadrature (``method="riemann_middle"``), zero and per-neuron
   baselines, edges, float64; and the defaults (Gauss-Legendre against the midpoint rule) with each one's
   completeness error.
5. **Feature ablation.** ``method="ablation"`` against ``feature-ablation`` (Captum's ``NeuronFeatureAblation``) with a
   ``feature_mask`` that makes each neuron's whole window one feature, zero and per-neuron baselines, edges,
   float64; and CEBRA's default (every (neuron, lag) entry ablated on its own).

Tolerance: a tensor agrees when ``max |neuroembed - CEBRA| <= rtol * max |CEBRA|``, with ``rtol`` 1e-4 in float32 (as
for the float32 gradient tensors of ``reference_values.py``; the table also gives each system's own error against a
float64 evaluation where it helps to tell rounding from disagreement) and 1e-12 in float64. Inverses of a poorly
conditioned matrix lose more: there the tolerance is ``rtol * max |CEBRA|`` times the largest condition number
(largest over smallest kept singular value) of the matrices inverted, and the row says so.

Run from the repository root, in the benchmark environment (``neuroembed``, ``cebra`` 0.6.1, ``captum``, ``cvxpy``,
see ``benchmarks/README.md``)::

    python benchmarks/reference_values_attribution.py            # writes results/reference_values_attribution.md
    python benchmarks/reference_values_attribution.py --output -  # prints only

CEBRA (with Captum) is required: without it the script stops and says how to install it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import io
import os
import platform
import shlex
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import torch

import neuroembed as ne
from neuroembed.attribution import attribution_map
from neuroembed.attribution._fitted import window_batches

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import (  # noqa: E402
    cebra_version,
    cpu_model,
    git_revision,
    package_version,
    write_output,
)
from reference_values import Row, _e, _verdict, table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "reference_values_attribution.md"

SEED = 0
N_SAMPLES, N_NEURONS, N_NEURONS_2, OUT, HIDDEN = 160, 12, 9, 4, 32
RTOL32, RTOL64 = 1e-4, 1e-12
EPS32, EPS64 = float(np.finfo(np.float32).eps), float(np.finfo(np.float64).eps)
IG_STEPS = 50


# ---------------------------------------------------------------------------------------------------------------------
# the two systems on one set of weights
# ---------------------------------------------------------------------------------------------------------------------
class Pair:
    """A fitted neuroembed estimator and a CEBRA model holding the same weights, for one session."""

    def __init__(
        self,
        name: str,
        X: np.ndarray,
        *,
        distance: str = "cosine",
        sessions: list[np.ndarray] | None = None,
        session: int = 0,
        seed: int = SEED,
    ) -> None:
        import cebra.models

        data = sessions if sessions is not None else X
        labels = (
            [np.linspace(0, 1, len(x), dtype=np.float32) for x in sessions]
            if sessions is not None
            else np.linspace(0, 1, len(X), dtype=np.float32)
        )
        self.est = ne.Estimator(
            model=name,
            output_dimension=OUT,
            num_hidden_units=HIDDEN,
            distance=distance,
            max_iterations=1,
            batch_size=32,
            device="cpu",
            random_state=seed,
        ).fit(data, labels)
        self.session = session
        self.name = name
        torch.manual_seed(seed + session)
        suffix = "" if distance == "cosine" else "-mse"
        self.model = cebra.models.init(
            f"{name}-model{suffix}", num_neurons=X.shape[1], num_units=HIDDEN, num_output=OUT
        ).eval()
        encoder = self.est.encoder_
        ours = [*encoder.stems[session].parameters(), *encoder.trunk.parameters()]
        theirs = list(self.model.parameters())
        if [p.numel() for p in ours] != [p.numel() for p in theirs]:
            raise RuntimeError(f"{name}: neuroembed's and CEBRA's parameters do not correspond")
        generator = torch.Generator().manual_seed(seed + 10 + session)
        with torch.no_grad():
            for a, b in zip(ours, theirs):
                b.add_(0.05 * torch.randn(b.shape, generator=generator))
                a.copy_(b.reshape(a.shape))
        offset = self.model.get_offset()
        self.left, self.right = offset.left, offset.right
        self.R = len(offset)

    @property
    def sess(self) -> int | None:
        return self.session if self.est.n_sessions_ > 1 else None

    def ne_map(self, X: np.ndarray, method: str, **options: Any) -> tuple[np.ndarray, np.ndarray]:
        """neuroembed's (summary, per-sample maps) for every sample of ``X``."""
        summary, maps = attribution_map(self.est, X, method, self.sess, per_sample=True, **options)
        return summary, maps

    def valid(self, n: int) -> slice:
        """neuroembed's rows of the samples CEBRA attributes (its unpadded windows)."""
        return slice(self.left, n - self.right + 1)

    def padded(self, X: np.ndarray) -> np.ndarray:
        """``X`` edge-padded as both systems pad it for ``transform``: ``left`` rows before, ``right - 1`` after."""
        return np.pad(X, ((self.left, self.right - 1), (0, 0)), mode="edge")

    def double(self) -> tuple[Any, torch.nn.Module]:
        """Float64 copies: neuroembed's estimator (its encoder in float64) and CEBRA's model."""
        est = copy.deepcopy(self.est)
        est.encoder_.double()
        return est, copy.deepcopy(self.model).double()

    def forward64(self, est: Any) -> Callable[[torch.Tensor], torch.Tensor]:
        """neuroembed's float64 encoder on windows ``(n, C, R) -> (n, out)`` (what ``attribution_map`` runs)."""
        session = self.session

        def forward(windows: torch.Tensor) -> torch.Tensor:
            return est.encoder_(windows, session=session)[..., 0]

        return forward


def cebra_map(
    model: torch.nn.Module,
    name: str,
    X: np.ndarray,
    *,
    float64: bool = False,
    **kwargs: Any,
) -> tuple[dict[str, Any], torch.Tensor]:
    """CEBRA's per-window maps of ``X`` (its prints silenced), and the windows it attributed."""
    import cebra.attribution

    with contextlib.redirect_stdout(io.StringIO()):
        method = cebra.attribution.init(
            name,
            model=model,
            input_data=torch.from_numpy(np.ascontiguousarray(X)).clone().requires_grad_(True),
            output_dimension=OUT,
        )
        if float64:
            # CEBRA's dataset keeps float32 windows; Captum's methods run in the model's precision
            method.input_data = method.input_data.double()
        result = method.compute_attribution_map(**kwargs)
    return result, method.input_data.detach()


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Any:
    """torch's default floating dtype set to ``dtype`` for the duration."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


# ---------------------------------------------------------------------------------------------------------------------
# rows
# ---------------------------------------------------------------------------------------------------------------------
def _f(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)


def _desc(x: np.ndarray) -> str:
    return f"{tuple(x.shape)}, max abs {np.abs(x).max():.4g}"


def compare(
    check: str,
    cases: str,
    ours: Any,
    theirs: Any,
    *,
    float64: bool = False,
    truth: Any = None,
    factor: float = 1.0,
    factor_note: str = "",
    ours_label: str = "",
    theirs_label: str = "",
) -> Row:
    """One row: ``max |ours - theirs| <= rtol * factor * max |theirs|``; ``truth``: a float64 evaluation of the same
    quantity, against which each side's own error is shown."""
    a, b = _f(ours), _f(theirs)
    if a.shape != b.shape:
        return Row(check, cases, _desc(a), _desc(b), "shapes differ", "-", _verdict(False))
    rtol = RTOL64 if float64 else RTOL32
    scale = float(np.abs(b).max())
    diff = float(np.abs(a - b).max())
    text = f"{_e(diff)} (rel. {_e(diff / max(scale, 1e-300))}"
    if truth is not None:
        t = _f(truth)
        text += f"; each vs float64: ne {_e(float(np.abs(a - t).max()))}, CEBRA {_e(float(np.abs(b - t).max()))}"
    text += ")"
    tol = rtol * factor
    return Row(
        check=check,
        cases=cases,
        neuroembed=(ours_label + "; " if ours_label else "") + _desc(a),
        cebra=(theirs_label + "; " if theirs_label else "") + _desc(b),
        diff=text,
        tolerance=f"{'f64' if float64 else 'f32'} {tol:.3g} (rel.)" + factor_note,
        agrees=_verdict(diff <= tol * scale),
    )


def differ(
    check: str,
    cases: str,
    ours: Any,
    theirs: Any,
    reason: str,
    ours_label: str = "",
    theirs_label: str = "",
) -> Row:
    """A row comparing things that are not meant to be equal: the difference, and why."""
    a, b = _f(ours), _f(theirs)
    diff = (
        f"{_e(float(np.abs(a - b).max()))} (rel. {_e(float(np.abs(a - b).max() / np.abs(b).max()))})"
        if a.shape == b.shape
        else "shapes differ"
    )
    return Row(
        check,
        cases,
        (ours_label + "; " if ours_label else "") + _desc(a),
        (theirs_label + "; " if theirs_label else "") + _desc(b),
        diff,
        "-",
        f"n/a ({reason})",
    )


def _singular_ratios(jac: np.ndarray) -> np.ndarray:
    """Smallest over largest singular value of each ``(out, neurons)`` matrix, computed in float64."""
    s = np.linalg.svd(np.asarray(jac, dtype=np.float64), compute_uv=False)
    return s[:, -1] / s[:, 0]


def _condition(jac: np.ndarray, rtol: float) -> float:
    """The largest condition number over the kept singular values (those above ``rtol`` x the largest)."""
    s = np.linalg.svd(np.asarray(jac, dtype=np.float64), compute_uv=False)
    kept = np.where(s > rtol * s[:, :1], s, np.inf)
    return float((s[:, 0] / kept.min(axis=1)).max())


def _pinv64(jac: np.ndarray, rtol: float) -> np.ndarray:
    """Float64 pseudo-inverse of every matrix, transposed back to ``(out, neurons)``."""
    return np.swapaxes(np.linalg.pinv(np.asarray(jac, dtype=np.float64), rtol=rtol), 1, 2)


# ---------------------------------------------------------------------------------------------------------------------
# 1. windows, 2. Jacobian
# ---------------------------------------------------------------------------------------------------------------------
def check_windows(pairs: dict[str, Pair], X: np.ndarray) -> list[Row]:
    rows = []
    n = len(X)
    for key in ("offset10", "offset5"):
        p = pairs[key]
        _, windows = cebra_map(p.model, "jacobian-based", X)
        ours = next(window_batches(X, p.R, n, torch.device("cpu")))[2][p.valid(n)]
        same = tuple(windows.shape) == tuple(ours.shape) and bool(torch.equal(windows, ours))
        last_repeat = bool(torch.equal(windows[-1], windows[-2]))
        rows.append(
            Row(
                check=f"`{key}`, window (left, right) = ({p.left}, {p.right}): CEBRA's attributed windows "
                "(`AttributionMap.input_data`) vs neuroembed's windows (`window_batches`, as `transform` reads "
                f"them) of samples {p.left} .. n - {p.right}",
                cases=f"n = {n} samples, {X.shape[1]} neurons",
                neuroembed=f"{n} windows; rows {p.left} .. {n - p.right}: {tuple(ours.shape)}",
                cebra=f"{tuple(windows.shape)}: samples {p.left} .. {n - p.right} (n - R + 1); last window "
                + (
                    "repeats the one before it" if last_repeat else "differs from the one before it"
                ),
                diff="0 (identical)" if same else "differ",
                tolerance="identical",
                agrees=_verdict(same),
            )
        )
    return rows


def check_jacobian(pairs: dict[str, Pair], X: np.ndarray, X2: np.ndarray) -> list[Row]:
    rows = []
    n = len(X)
    p = pairs["offset10"]
    sl = p.valid(n)
    res, windows = cebra_map(p.model, "jacobian-based", X)
    ng, _ = cebra_map(p.model, "neuron-gradient", X)
    ngb, _ = cebra_map(p.model, "neuron-gradient-batched", X, batch_size=64)
    est64, model64 = p.double()
    f64 = p.forward64(est64)
    truth = {
        "mean": ne.attribution.jacobian(f64, windows.double(), reduce_window="mean"),
        "mean_abs": ne.attribution.jacobian(f64, windows.double(), reduce_window="mean_abs"),
    }
    cases = f"offset10, cosine; the {sl.stop - sl.start} samples CEBRA attributes"
    for reduce, key in (("mean", "jf"), ("mean_abs", "jf-convabs")):
        _, maps = p.ne_map(X, "jacobian", reduce_window=reduce)
        for name, result in (
            ("jacobian-based", res),
            ("neuron-gradient", ng),
            ("neuron-gradient-batched", ngb),
        ):
            ckey = key.replace("jf", "neuron-gradient") if name != "jacobian-based" else key
            rows.append(
                compare(
                    f'`attribution_map(method="jacobian", reduce_window="{reduce}", per_sample=True)` vs '
                    f"`{name}`, key `{ckey}`",
                    cases + (", batch_size=64" if name.endswith("batched") else ""),
                    maps[sl],
                    result[ckey],
                    truth=truth[reduce],
                )
            )
    # float64: Captum in float64 against neuroembed's per-batch function, on CEBRA's windows
    ng64, windows64 = cebra_map(model64, "neuron-gradient", X, float64=True)
    for reduce, key in (("mean", "neuron-gradient"), ("mean_abs", "neuron-gradient-convabs")):
        rows.append(
            compare(
                f'float64: `ne.attribution.jacobian(encoder, windows, reduce_window="{reduce}")` vs '
                f"`neuron-gradient`, key `{key}`, both models in float64",
                "offset10, cosine; CEBRA's windows, given to both",
                ne.attribution.jacobian(f64, windows64, reduce_window=reduce),
                ng64[key],
                float64=True,
            )
        )
    # asymmetric window, unnormalised model, second session
    for key, label in (
        ("offset5", "offset5 (window (2, 3)), cosine"),
        ("euclidean", "offset10, euclidean (unnormalised output)"),
    ):
        q = pairs[key]
        r, _ = cebra_map(q.model, "jacobian-based", X)
        _, maps = q.ne_map(X, "jacobian")
        rows.append(
            compare(
                '`attribution_map(method="jacobian", per_sample=True)` vs `jacobian-based` `jf`',
                f"{label}; the samples CEBRA attributes",
                maps[q.valid(n)],
                r["jf"],
            )
        )
    q = pairs["session1"]
    r, _ = cebra_map(q.model, "jacobian-based", X2)
    _, maps = q.ne_map(X2, "jacobian")
    rows.append(
        compare(
            '2 sessions: `attribution_map(est, X2, "jacobian", session=1, per_sample=True)` vs `jacobian-based` '
            "`jf` of the session-1 model",
            f"offset10, cosine; session 1: {len(X2)} samples, {X2.shape[1]} neurons; the samples CEBRA attributes",
            maps[q.valid(len(X2))],
            r["jf"],
        )
    )
    # edges: CEBRA given the recording edge-padded as for transform
    summary, maps = p.ne_map(X, "jacobian")
    padded, _ = cebra_map(p.model, "jacobian-based", p.padded(X))
    rows.append(
        compare(
            "edges: neuroembed's maps of all n samples vs `jacobian-based` `jf` of the recording edge-padded as "
            f"`transform` pads it (`np.pad(X, (({p.left}, {p.right - 1}), (0, 0)), mode='edge')`)",
            f"offset10, cosine; all {n} samples; first row diff "
            f"{_e(float(np.abs(maps[0] - padded['jf'][0]).max()))}, last row "
            f"{_e(float(np.abs(maps[-1] - padded['jf'][-1]).max()))}",
            maps,
            padded["jf"],
        )
    )
    _, maps_batched = p.ne_map(X, "jacobian", batch_size=7)
    rows.append(
        compare(
            "batch boundaries: `attribution_map(..., batch_size=7)` vs `jacobian-based` `jf` of the edge-padded "
            "recording",
            f"offset10, cosine; all {n} samples in batches of 7",
            maps_batched,
            padded["jf"],
        )
    )
    short = X[:6]
    try:
        cebra_map(p.model, "jacobian-based", short)
        raw = "accepted"
    except Exception as err:  # noqa: BLE001  (whatever CEBRA raises is reported)
        raw = f"{type(err).__name__}"
    short_padded, _ = cebra_map(p.model, "jacobian-based", p.padded(short))
    rows.append(
        compare(
            f"a recording shorter than the receptive field ({len(short)} samples, R = {p.R}): neuroembed's maps vs "
            "`jacobian-based` `jf` of the edge-padded recording",
            f"offset10, cosine; {len(short)} samples; CEBRA on the unpadded recording: {raw}",
            p.ne_map(short, "jacobian")[1],
            short_padded["jf"],
        )
    )
    # the summary over samples
    rows.append(
        differ(
            '`attribution_map(method="jacobian")` (summary `abs(maps).mean(0)` over all n samples) vs '
            "`np.abs(jf).mean(0)` over CEBRA's n - R + 1 windows",
            f"offset10, cosine; {n} vs {n - p.R + 1} samples",
            summary,
            np.abs(res["jf"]).mean(0),
            "different samples: neuroembed includes the edge-padded ones",
        )
    )
    rows.append(
        compare(
            "... the same, neuroembed's summary of the samples CEBRA attributes (`abs(maps[left:n - right + 1])"
            ".mean(0)`)",
            f"offset10, cosine; {n - p.R + 1} samples",
            np.abs(maps[sl].astype(np.float64)).mean(0),
            np.abs(res["jf"].astype(np.float64)).mean(0),
        )
    )
    rows.append(
        compare(
            "... neuroembed's summary of all n samples vs `np.abs(jf).mean(0)` of the edge-padded recording",
            f"offset10, cosine; {n} samples",
            summary,
            np.abs(padded["jf"].astype(np.float64)).mean(0),
        )
    )
    ng64_padded, _ = cebra_map(model64, "neuron-gradient", p.padded(X), float64=True)
    rows.append(
        compare(
            'float64: `attribution_map(est64, X, "jacobian")` (its summary is float64) vs '
            "`np.abs(neuron-gradient).mean(0)` of the edge-padded recording, both models in float64",
            f"offset10, cosine; {n} samples",
            attribution_map(est64, X, "jacobian"),
            np.abs(ng64_padded["neuron-gradient"]).mean(0),
            float64=True,
        )
    )
    # offset1: a 3-D Jacobian, which CEBRA does not reduce (and does not take the absolute value of)
    q = pairs["offset1"]
    r, _ = cebra_map(q.model, "jacobian-based", X)
    _, maps_mean = q.ne_map(X, "jacobian", reduce_window="mean")
    _, maps_abs = q.ne_map(X, "jacobian", reduce_window="mean_abs")
    rows.append(
        compare(
            '`offset1` (MLP): `attribution_map(method="jacobian", per_sample=True)` vs `jacobian-based` `jf`',
            f"offset1, cosine; all {n} samples (no window, no padding)",
            maps_mean,
            r["jf"],
        )
    )
    rows.append(
        differ(
            '`offset1`: `reduce_window="mean_abs"` vs `jf-convabs`',
            f"offset1, cosine; {n} samples",
            maps_abs,
            r["jf-convabs"],
            "CEBRA's `convabs` of a 3-D Jacobian is the signed Jacobian, see note b",
        )
    )
    rows.append(
        compare(
            '`offset1`: `reduce_window="mean"` vs `jf-convabs`',
            f"offset1, cosine; {n} samples",
            maps_mean,
            r["jf-convabs"],
        )
    )
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# 3. inverted Jacobian
# ---------------------------------------------------------------------------------------------------------------------
def check_inverse(pairs: dict[str, Pair], X: np.ndarray) -> tuple[list[Row], dict[str, Any]]:
    from cebra.attribution.jacobian_attribution import get_attribution_map

    rows = []
    n = len(X)
    p = pairs["offset10"]
    sl = p.valid(n)
    res, windows = cebra_map(p.model, "jacobian-based", X)
    # scipy.linalg.pinv's default cut-off on a float32 (out, neurons) matrix
    svd_rtol = max(OUT, X.shape[1]) * EPS32
    info: dict[str, Any] = {"svd_rtol": svd_rtol}
    cases = f"offset10, cosine; the {sl.stop - sl.start} samples CEBRA attributes"

    # the signed Jacobian of a cosine model: rank out - 1 plus a rounding-noise singular value
    jf = res["jf"]
    ratios = _singular_ratios(jf)
    info["ratios32"] = (float(ratios.min()), float(ratios.max()))
    _, inv = p.ne_map(X, "inverted-jacobian", rtol=svd_rtol)
    cond = _condition(jf, svd_rtol)
    rows.append(
        compare(
            f'`attribution_map(method="inverted-jacobian", rtol={svd_rtol:.3g})` (= {max(OUT, X.shape[1])} x '
            "float32 eps) vs `jacobian-based` `jf-inv-svd`",
            cases
            + f"; smallest/largest singular value of `jf` {ratios.min():.1e} .. {ratios.max():.1e}",
            inv[sl],
            res["jf-inv-svd"],
            truth=_pinv64(jf, svd_rtol),
            factor=cond,
            factor_note=f" x condition number {cond:.3g}",
        )
    )
    # lstsq: scipy solves J X = I in float64 (the identity is float64), so its cut-off is float64 eps x the largest
    # singular value, far below the float32 rounding-noise singular value; where it dropped that direction (its
    # inverse is of the size of -inv-svd's) it is the same pseudo-inverse as -inv-svd
    lsq, svd = res["jf-inv-lsq"], res["jf-inv-svd"]
    kept, info["lsq_noisy"] = _noisy_lsq(lsq, svd)
    rows += _lsq_rows(inv[sl], lsq, jf, kept, svd_rtol, "offset10, cosine")
    if kept.any():
        _, inv_eps = p.ne_map(X, "inverted-jacobian", rtol=EPS64)
        rows.append(
            differ(
                f'`attribution_map(method="inverted-jacobian", rtol={EPS64:.3g})` (lstsq\'s cut-off, float64 eps) vs '
                "`jacobian-based` `jf-inv-lsq`, on the windows where lstsq kept the rounding-noise direction",
                f"offset10, cosine; {int(kept.sum())} of {len(kept)} windows",
                inv_eps[sl][kept],
                lsq[kept],
                "both invert rounding noise, which differs between any two computations; note c",
            )
        )
    # convabs and the unnormalised model: full rank, every cut-off keeps every direction
    for key, label in (("jf-convabs", "mean_abs"), ("jf", "mean")):
        pair = p if key == "jf-convabs" else pairs["euclidean"]
        r = res if key == "jf-convabs" else cebra_map(pair.model, "jacobian-based", X)[0]
        _, inv0 = pair.ne_map(X, "inverted-jacobian", reduce_window=label, rtol=0.0)
        model = "offset10, cosine" if key == "jf-convabs" else "offset10, euclidean (unnormalised)"
        ratios_full = _singular_ratios(r[key])
        cond = _condition(r[key], 0.0)
        for how in ("lsq", "svd"):
            rows.append(
                compare(
                    f'`attribution_map(method="inverted-jacobian", reduce_window="{label}", rtol=0)` vs '
                    f"`jacobian-based` `{key}-inv-{how}`",
                    f"{model}; full rank (smallest/largest singular value {ratios_full.min():.1e} .. "
                    f"{ratios_full.max():.1e})",
                    inv0[pair.valid(n)],
                    r[f"{key}-inv-{how}"],
                    truth=_pinv64(r[key], 0.0),
                    factor=cond,
                    factor_note=f" x condition number {cond:.3g}",
                )
            )
    # Captum's gradient, the same inverses
    ng, _ = cebra_map(p.model, "neuron-gradient", X)
    cond = _condition(ng["neuron-gradient"], svd_rtol)
    rows.append(
        compare(
            f'`attribution_map(method="inverted-jacobian", rtol={svd_rtol:.3g})` vs `neuron-gradient` '
            "`neuron-gradient-inv-svd`",
            cases,
            inv[sl],
            ng["neuron-gradient-inv-svd"],
            factor=cond,
            factor_note=f" x condition number {cond:.3g}",
        )
    )
    # float64: Captum on a float64 model; CEBRA's inverses then run in float64 with float64 cut-offs
    est64, model64 = p.double()
    ng64, windows64 = cebra_map(model64, "neuron-gradient", X, float64=True)
    f64 = p.forward64(est64)
    jac64 = ng64["neuron-gradient"]
    ratios64 = _singular_ratios(jac64)
    info["ratios64"] = (float(ratios64.min()), float(ratios64.max()))
    svd_rtol64 = max(OUT, X.shape[1]) * EPS64
    cond = _condition(jac64, svd_rtol64)
    rows.append(
        compare(
            f"float64: `ne.attribution.inverted_jacobian(encoder, windows, rtol={svd_rtol64:.3g})` vs "
            "`neuron-gradient-inv-svd`, both models in float64",
            f"offset10, cosine; CEBRA's windows; smallest/largest singular value {ratios64.min():.1e} .. "
            f"{ratios64.max():.1e}",
            ne.attribution.inverted_jacobian(f64, windows64, rtol=svd_rtol64),
            ng64["neuron-gradient-inv-svd"],
            float64=True,
            factor=cond,
            factor_note=f" x condition number {cond:.3g}",
        )
    )
    lsq64, svd64 = ng64["neuron-gradient-inv-lsq"], ng64["neuron-gradient-inv-svd"]
    kept64, info["lsq_noisy64"] = _noisy_lsq(lsq64, svd64)
    inv64 = ne.attribution.inverted_jacobian(f64, windows64, rtol=svd_rtol64)
    rows += _lsq_rows(
        inv64, lsq64, jac64, kept64, svd_rtol64, "float64: offset10, cosine", float64=True
    )
    if kept64.any():
        rows.append(
            differ(
                f"float64: `inverted_jacobian(..., rtol={EPS64:.3g})` (float64 eps) vs `neuron-gradient-inv-lsq`, "
                "on the windows where lstsq kept the rounding-noise direction",
                f"offset10, cosine; {int(kept64.sum())} of {len(kept64)} windows",
                ne.attribution.inverted_jacobian(f64, windows64[kept64], rtol=EPS64),
                lsq64[kept64],
                "both invert rounding noise; note c",
            )
        )
    # get_attribution_map: numpy's pinv in float64, not transposed
    q = pairs["offset1"]
    est1, model1 = q.double()
    jf1, jinv1 = get_attribution_map(model1, torch.from_numpy(X).double(), double_precision=True)
    x1 = torch.from_numpy(X).double()[:, :, None]
    f1 = q.forward64(est1)
    rows.append(
        compare(
            "float64, `offset1`: `ne.attribution.inverted_jacobian(encoder, windows, rtol=1e-15)`, transposed, vs "
            "`get_attribution_map(model, X, double_precision=True)[1]` (`np.linalg.pinv`, its default cut-off 1e-15)",
            f"offset1, cosine; all {n} samples",
            ne.attribution.inverted_jacobian(f1, x1, rtol=1e-15).transpose(1, 2),
            jinv1,
            float64=True,
            factor=_condition(jf1, 1e-15),
            factor_note=f" x condition number {_condition(jf1, 1e-15):.3g}",
        )
    )
    jf10, jinv10 = get_attribution_map(
        copy.deepcopy(p.model).double(), windows.double(), double_precision=True
    )
    rows.append(
        Row(
            check="`get_attribution_map` on a convolutional model: the pseudo-inverse it returns",
            cases="offset10, CEBRA's windows",
            neuroembed=f"`inverted-jacobian`: {(len(windows), OUT, X.shape[1])}",
            cebra=f"Jacobian {tuple(jf10.shape)}, inverse {tuple(jinv10.shape)}",
            diff="-",
            tolerance="-",
            agrees="n/a (numpy inverts each (neurons, lags) slice of the 4-D Jacobian, not a map; note d)",
        )
    )
    # the defaults, side by side
    summary_default = attribution_map(p.est, X)
    for key in ("jf-inv-lsq", "jf-inv-svd"):
        rows.append(
            differ(
                "defaults: `attribution_map(est, X)` (inverted Jacobian, `reduce_window='mean'`, `rtol=0.2`, all n "
                f"samples) vs `np.abs({key}).mean(0)`",
                f"offset10, cosine; {n} vs {n - p.R + 1} samples",
                summary_default,
                np.abs(res[key].astype(np.float64)).mean(0),
                "different cut-offs and samples, see the defaults table",
            )
        )
    return rows, info


def _noisy_lsq(lsq: np.ndarray, svd: np.ndarray) -> tuple[np.ndarray, tuple[int, int, float]]:
    """The windows where CEBRA's ``lstsq`` inverse kept the rounding-noise direction (entries over 100 times
    ``-inv-svd``'s), and ``(how many, of how many, the largest entry there)``."""
    kept = np.abs(lsq).max(axis=(1, 2)) > 100 * np.abs(svd).max(axis=(1, 2))
    return kept, (int(kept.sum()), len(kept), float(np.abs(lsq[kept]).max()) if kept.any() else 0.0)


def _lsq_rows(
    ours: Any,
    lsq: np.ndarray,
    jac: np.ndarray,
    kept: np.ndarray,
    rtol: float,
    label: str,
    float64: bool = False,
) -> list[Row]:
    """CEBRA's lstsq inverse against neuroembed's with ``rtol`` on the windows where lstsq dropped the noise
    direction, or a line saying that there are none."""
    dropped = ~kept
    if not dropped.any():
        return [
            Row(
                check=f"{'float64: ' if float64 else ''}`-inv-lsq` on the windows where lstsq dropped the "
                "rounding-noise direction",
                cases=f"{label}; 0 of {len(kept)} windows",
                neuroembed="-",
                cebra="-",
                diff="-",
                tolerance="-",
                agrees="n/a (lstsq kept it in every window; next row)",
            )
        ]
    cond = _condition(jac[dropped], rtol)
    return [
        compare(
            f"`inverted-jacobian` with `rtol={rtol:.3g}` vs `-inv-lsq`, on the windows where lstsq dropped the "
            "rounding-noise direction (its inverse within 100 x `-inv-svd`'s)",
            f"{label}; {int(dropped.sum())} of {len(kept)} windows",
            _f(ours)[dropped],
            lsq[dropped],
            float64=float64,
            truth=None if float64 else _pinv64(jac[dropped], rtol),
            factor=cond,
            factor_note=f" x condition number {cond:.3g}",
        )
    ]


# ---------------------------------------------------------------------------------------------------------------------
# 4. integrated gradients
# ---------------------------------------------------------------------------------------------------------------------
def _completeness(
    pair_forward: Callable, windows: torch.Tensor, base: torch.Tensor, maps: np.ndarray
) -> float:
    """Largest ``|sum_c map[d, c] - (z(w) - z(b))[d]|`` over windows and dimensions, ``z`` in float64."""
    with torch.no_grad():
        gap = (pair_forward(windows) - pair_forward(base.expand_as(windows).contiguous())).numpy()
    return float(np.abs(_f(maps).sum(-1) - gap).max())


def check_integrated_gradients(pairs: dict[str, Pair], X: np.ndarray) -> list[Row]:
    rows = []
    n = len(X)
    p = pairs["offset10"]
    sl = p.valid(n)
    R = p.R
    rng = np.random.default_rng(SEED + 5)
    baseline = rng.normal(size=X.shape[1]).astype(np.float32)
    window_baseline = (
        torch.from_numpy(baseline)[None, :, None].expand(1, X.shape[1], R).contiguous()
    )
    est64, model64 = p.double()
    f64 = p.forward64(est64)

    res, windows = cebra_map(
        p.model, "integrated-gradients", X, n_steps=IG_STEPS, method="riemann_middle"
    )
    _, maps = p.ne_map(X, "integrated-gradients", n_steps=IG_STEPS)
    truth = ne.attribution.integrated_gradients(f64, windows.double(), n_steps=IG_STEPS)
    rows.append(
        compare(
            f'`attribution_map(method="integrated-gradients", n_steps={IG_STEPS})` vs R x `integrated-gradients` '
            f'(`n_steps={IG_STEPS}, method="riemann_middle"`), zero baseline',
            f"offset10, cosine; the {sl.stop - sl.start} samples CEBRA attributes; R = {R}",
            maps[sl],
            R * res["integrated-gradients"],
            truth=truth,
        )
    )
    padded, _ = cebra_map(
        p.model,
        "integrated-gradients",
        p.padded(X),
        n_steps=IG_STEPS,
        method="riemann_middle",
        baselines=window_baseline,
    )
    _, maps_b = p.ne_map(X, "integrated-gradients", n_steps=IG_STEPS, baseline=baseline)
    rows.append(
        compare(
            "per-neuron baseline `b`: `attribution_map(..., baseline=b)` vs R x `integrated-gradients` with "
            "`baselines` = `b` at every lag, shape (1, neurons, R); edges: CEBRA given the edge-padded recording",
            f"offset10, cosine; all {n} samples; first row diff "
            f"{_e(float(np.abs(maps_b[0] - R * padded['integrated-gradients'][0]).max()))}, last row "
            f"{_e(float(np.abs(maps_b[-1] - R * padded['integrated-gradients'][-1]).max()))}",
            maps_b,
            R * padded["integrated-gradients"],
        )
    )
    res64, windows64 = cebra_map(
        model64, "integrated-gradients", X, float64=True, n_steps=IG_STEPS, method="riemann_middle"
    )
    ours64 = ne.attribution.integrated_gradients(f64, windows64, n_steps=IG_STEPS)
    rows.append(
        differ(
            "float64: `ne.attribution.integrated_gradients(encoder, windows)` vs R x `integrated-gradients` "
            '(`method="riemann_middle"`), both models in float64',
            f"offset10, cosine; CEBRA's windows; {IG_STEPS} steps, zero baseline",
            ours64,
            R * res64["integrated-gradients"],
            "Captum's step points and weights are float32, note e",
        )
    )
    with default_dtype(torch.float64):
        exact64, _ = cebra_map(
            model64,
            "integrated-gradients",
            X,
            float64=True,
            n_steps=IG_STEPS,
            method="riemann_middle",
        )
    # Captum's step weight, float32(1/n), times n
    weight = IG_STEPS * float(np.float32(1.0 / IG_STEPS))
    rows.append(
        compare(
            "... the same with torch's default dtype float64 during CEBRA's call (Captum's step points in float64), "
            f"neuroembed's map times n x float32(1/n) = 1 {weight - 1:+.2g} (Captum's float32 step weight)",
            f"offset10, cosine; CEBRA's windows; {IG_STEPS} steps, zero baseline",
            ours64 * weight,
            R * exact64["integrated-gradients"],
            float64=True,
        )
    )
    # a slow reference for the float64 rows: one window, one dimension, one step at a time
    k = 5
    slow = torch.zeros(k, OUT, X.shape[1], dtype=torch.float64)
    for i in range(k):
        for d in range(OUT):
            for step in range(IG_STEPS):
                point = ((step + 0.5) / IG_STEPS * windows64[i]).clone().requires_grad_(True)
                (grad,) = torch.autograd.grad(f64(point[None])[0, d], point)
                slow[i, d] += (grad * windows64[i]).sum(-1) / IG_STEPS
    rows.append(
        compare(
            "float64: `ne.attribution.integrated_gradients(encoder, windows)` vs a loop over windows, dimensions "
            "and midpoint steps (written here, autograd on one point at a time)",
            f"offset10, cosine; the first {k} of CEBRA's windows; {IG_STEPS} steps, zero baseline",
            ours64[:k],
            slow,
            float64=True,
            theirs_label="(the loop, not CEBRA)",
        )
    )
    # the defaults: Gauss-Legendre (CEBRA, Captum's default) against the midpoint rule (neuroembed)
    gl64, _ = cebra_map(model64, "integrated-gradients", X, float64=True, n_steps=IG_STEPS)
    zero = torch.zeros(1, X.shape[1], R, dtype=torch.float64)
    rows.append(
        differ(
            f"defaults, float64: neuroembed's midpoint rule vs R x `integrated-gradients` with CEBRA's default "
            f'`method="gausslegendre"`, {IG_STEPS} steps each',
            f"offset10, cosine; CEBRA's windows; completeness error, max abs(sum_c map - (z(x) - z(0))): neuroembed "
            f"{_e(_completeness(f64, windows64, zero, ours64))}, CEBRA "
            f"{_e(_completeness(f64, windows64, zero, R * gl64['integrated-gradients']))}",
            ours64,
            R * gl64["integrated-gradients"],
            "different quadratures of the same integral",
        )
    )
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# 5. feature ablation
# ---------------------------------------------------------------------------------------------------------------------
def check_ablation(pairs: dict[str, Pair], X: np.ndarray) -> list[Row]:
    rows = []
    n = len(X)
    p = pairs["offset10"]
    sl = p.valid(n)
    R, C = p.R, X.shape[1]
    # one feature per neuron, all its lags
    mask = torch.arange(C)[None, :, None].expand(1, C, R).contiguous()
    rng = np.random.default_rng(SEED + 6)
    baseline = rng.normal(size=C).astype(np.float32)
    window_baseline = torch.from_numpy(baseline)[None, :, None].expand(1, C, R).contiguous()
    est64, model64 = p.double()
    f64 = p.forward64(est64)

    res, windows = cebra_map(p.model, "feature-ablation", X, feature_mask=mask)
    _, maps = p.ne_map(X, "ablation")
    truth = ne.attribution.feature_ablation(f64, windows.double())
    rows.append(
        compare(
            '`attribution_map(method="ablation")` vs `feature-ablation` with `feature_mask` = the neuron index at '
            "every lag (each neuron's whole window one feature), zero baseline",
            f"offset10, cosine; the {sl.stop - sl.start} samples CEBRA attributes",
            maps[sl],
            res["feature-ablation"],
            truth=truth,
        )
    )
    padded, _ = cebra_map(
        p.model, "feature-ablation", p.padded(X), feature_mask=mask, baselines=window_baseline
    )
    _, maps_b = p.ne_map(X, "ablation", baseline=baseline)
    rows.append(
        compare(
            "per-neuron baseline `b`: `attribution_map(..., baseline=b)` vs `feature-ablation` with the same mask and "
            "`baselines` = `b` at every lag; edges: CEBRA given the edge-padded recording",
            f"offset10, cosine; all {n} samples; first row diff "
            f"{_e(float(np.abs(maps_b[0] - padded['feature-ablation'][0]).max()))}, last row "
            f"{_e(float(np.abs(maps_b[-1] - padded['feature-ablation'][-1]).max()))}",
            maps_b,
            padded["feature-ablation"],
        )
    )
    res64, windows64 = cebra_map(model64, "feature-ablation", X, float64=True, feature_mask=mask)
    rows.append(
        compare(
            "float64: `ne.attribution.feature_ablation(encoder, windows)` vs `feature-ablation` (same mask), both "
            "models in float64",
            "offset10, cosine; CEBRA's windows; zero baseline",
            ne.attribution.feature_ablation(f64, windows64),
            res64["feature-ablation"],
            float64=True,
        )
    )
    default, _ = cebra_map(p.model, "feature-ablation", X)
    rows.append(
        differ(
            'defaults: `attribution_map(method="ablation")` vs `feature-ablation` without a mask (every (neuron, '
            "lag) entry ablated on its own, then the mean over lags)",
            f"offset10, cosine; the {sl.stop - sl.start} samples CEBRA attributes",
            maps[sl],
            default["feature-ablation"],
            "different perturbations: a neuron's whole window against one entry at a time",
        )
    )
    rows.append(
        compare(
            "... `feature-ablation-convabs` (the mean of abs over lags) with the per-neuron mask vs `abs` of neuroembed's "
            "map (every lag of a feature shares its value)",
            f"offset10, cosine; the {sl.stop - sl.start} samples CEBRA attributes",
            np.abs(maps[sl]),
            res["feature-ablation-convabs"],
        )
    )
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------------------------
def defaults_table(info: dict[str, Any]) -> list[str]:
    lo32, hi32 = info["ratios32"]
    noisy, total, size = info["lsq_noisy"]
    return [
        "| setting | neuroembed default | CEBRA 0.6.1 default | why they differ / how to map |",
        "|---|---|---|---|",
        "| samples attributed | all n, the recording edge-padded as for `transform` (map `i` belongs to "
        "`transform(X)[i]`) | the n - R + 1 full windows, unpadded (samples `left .. n - right`) | neuroembed keeps maps "
        "aligned with the embedding; give CEBRA `np.pad(X, ((left, right - 1), (0, 0)), mode='edge')` for the same "
        "n maps, or take neuroembed's `maps[left:n - right + 1]` |",
        "| which sample a window belongs to | sample `t`: rows `t - left .. t + right - 1`, `(left, right) = (R // 2, "
        "R - R // 2)` | the same, from `get_offset()` | equal (windows identical, table 1) |",
        "| reduction over the window | `reduce_window='mean'` (signed mean over lags) | every key at once: `jf` (signed "
        "mean), `jf-convabs` (mean of abs) | `'mean'` = `jf`, `'mean_abs'` = `-convabs` for convolutional models; for "
        "`offset1` CEBRA's `-convabs` is signed (= `jf`) |",
        "| summary over samples | `abs(maps).mean(0)`, float64 | none (per-window arrays); its demo and tests use "
        "`np.abs(map).mean(0)` | the same reduction, over different samples (row above) |",
        "| pseudo-inverse cut-off | `rtol=0.2` x largest singular value (`attribution_map`; `inverted_jacobian`'s own "
        "default is `1e-4`) | `-inv-lsq`: `scipy.linalg.lstsq(J, np.eye(out))`, solved in "
        f"float64 (the identity is float64), cut-off float64 eps ({EPS64:.3g}) x largest; `-inv-svd`: `scipy.linalg.pinv`, max(out, neurons) x eps "
        f"({info['svd_rtol']:.3g} here); `get_attribution_map`: `np.linalg.pinv`, 1e-15 | a cosine embedding's signed "
        f"Jacobian has one singular value at rounding level ({lo32:.1e} .. {hi32:.1e} of the largest here, float32): "
        f"CEBRA's lstsq inverts it in {noisy} of {total} windows (entries up to {size:.3g}); neuroembed's 0.2 was "
        "chosen on a ground truth (`benchmarks/attribution_rtol.py`). Map: `rtol=max(out, neurons) * eps32` = "
        "`-inv-svd` everywhere, and `-inv-lsq` in the windows where lstsq drops the noise direction; where it keeps "
        "it, no `rtol` reproduces it (the noise differs between any two computations); `rtol=0` = both on a "
        "full-rank Jacobian (`-convabs`, an unnormalised model) |",
        "| inverse precision | float64 `torch.linalg.pinv` of the float32 Jacobian | float32 (the Jacobian's dtype; "
        "`jacobian-based` always computes in float32) | rounding only (the 'each vs float64' columns) |",
        "| layout of the inverse | `(out, neurons)`, transposed back | `-inv-*`: `(out, neurons)`, transposed back; "
        "`get_attribution_map`: `(neurons, out)`, not transposed | transpose |",
        "| integrated gradients: quadrature | midpoint rule, `n_steps=50` | Captum's Gauss-Legendre, `n_steps=50` | pass "
        "`method='riemann_middle'` to CEBRA for neuroembed's rule |",
        "| integrated gradients: reduction over the window | sum over lags (completeness: the map adds up to "
        "`z(x) - z(baseline)`) | mean over lags (`integrated-gradients`), mean of abs (`-convabs`) | neuroembed = R x "
        "CEBRA's `integrated-gradients`; `-convabs` has no neuroembed counterpart |",
        "| ablation: what is removed | one neuron's whole window at a time | one (neuron, lag) entry at a time (Captum's "
        "default `feature_mask=None`), then the mean over lags | pass `feature_mask` = the neuron index at every lag |",
        "| baseline | `0`, or one value per neuron (the same at every lag) | `None` = 0 in Captum | a per-neuron `b` is "
        "`baselines` = `b` broadcast to `(1, neurons, R)` |",
        "| sign | `z(x) - z(ablated)`, `IG` towards `x` from the baseline | the same (Captum) | none |",
        "| precision of the per-sample maps | float32 (`per_sample=True`), the summary float64; the per-batch functions "
        "return the model's precision | float32 for `jacobian-based`; the model's for the Captum methods | compare "
        "float64 through the per-batch functions |",
    ]


NOTES = [
    "Notes (from reading `neuroembed/attribution/*.py` and CEBRA's `cebra/attribution/attribution_models.py`, "
    "`_jacobian.py`, `jacobian_attribution.py`):",
    "",
    "- a. **Weights.** CEBRA's model is initialised under `torch.manual_seed(0)` and N(0, 0.05^2) noise is added; "
    "neuroembed's fitted `encoder_` (one iteration, so that `attribution_map` takes it) is overwritten with those "
    "weights (its input layer and trunk, in CEBRA's parameter order). The 2-session row gives session 1's input layer "
    "and the shared trunk the weights of a separate CEBRA model (CEBRA keeps one whole model per session).",
    "- b. **`convabs` of a 3-D Jacobian.** CEBRA's reduction takes the mean and the mean of the absolute value over the "
    "last axis only when the Jacobian is 4-D (convolutional models); for `offset1` (input `(n, neurons)`) both keys "
    "hold the signed Jacobian. neuroembed's `reduce_window='mean_abs'` is the absolute value for every model.",
    "- c. **Inverting a cosine embedding's Jacobian.** The output is L2-normalised, so moving along the embedding "
    "itself does nothing: the signed Jacobian has rank out - 1 and its last singular value is rounding error. "
    "CEBRA's `-inv-lsq` (the one its xCEBRA test scores) calls `scipy.linalg.lstsq(J, np.eye(out))`; the identity is "
    "float64, so scipy solves in float64 and drops only singular values below float64 eps x the largest. A float32 "
    "Jacobian's noise singular value (1e-8 .. 1e-7 of the largest) is far above that, so lstsq inverts the noise in "
    "every window and returns entries of order 1 / (noise x the largest singular value); with a float64 model the "
    "noise is about float64 eps and lstsq inverts it in some windows. `-inv-svd` (`scipy.linalg.pinv`, max(M, N) x "
    "the Jacobian's eps) drops it in every window here. The mean-abs Jacobian and an unnormalised model's are of full "
    "rank, and there every cut-off below the smallest singular value gives the same inverse.",
    "- d. **`get_attribution_map`.** It runs the model on `input_data` as given and calls `np.linalg.pinv` on the "
    "full Jacobian: for `offset1` that is the per-sample `(out, neurons)` Jacobian and its inverse `(neurons, out)` "
    "(not transposed back); for a convolutional model given windows it inverts each `(neurons, lags)` slice, which "
    "is not a map of neurons to dimensions.",
    "- e. **Captum's step points and weights.** `riemann_middle` takes its points from "
    "`torch.linspace(1 / (2n), 1 - 1 / (2n), n)` in torch's default dtype (float32 unless changed), and Captum's "
    "integrated gradients multiply the gradients by `torch.tensor(step_sizes).float()`, the weights rounded to float32 "
    "whatever the model's precision (`captum/attr/_core/integrated_gradients.py`). With a float64 model its maps "
    "therefore carry a relative error of a few 1e-8 (float32(1/50) = 0.02 x (1 - 2.2e-8)). With the default dtype "
    "float64 during the call and neuroembed's map scaled by n x float32(1/n), the two agree to float64 rounding; "
    "neuroembed's midpoint rule (`(k + 1/2) / n`, Python floats) is checked against a loop over steps in the table. "
    "The Gauss-Legendre points come from numpy in float64, its weights are rounded to float32 as well.",
    "- f. **Not compared.** CEBRA's `neuron-gradient-shap` (no neuroembed counterpart), `-convabs` of integrated "
    "gradients (neuroembed sums the signed contributions over the window) and `lsq_cvxpy` (an iterative solver, "
    "not used by any `compute_attribution_map`).",
]


def format_report(
    sections: list[tuple[str, list[Row], list[str]]], wall: float, command: str
) -> str:
    import captum
    import cebra

    now = datetime.datetime.now().astimezone()
    all_rows = [r for _, rows, _ in sections for r in rows]
    failed = [r for r in all_rows if "NO" in r.agrees]
    compared = [r for r in all_rows if r.agrees.startswith(("yes", "**NO"))]
    lines = [
        "# Reference values: neuroembed's attribution maps against CEBRA's on identical weights",
        "",
        f"- date: {now:%Y-%m-%d %H:%M %Z}",
        f"- machine: {platform.platform()}; CPU {cpu_model()}, {os.cpu_count()} cores; torch threads "
        f"{torch.get_num_threads()}",
        f"- versions: python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, captum {captum.__version__}, neuroembed {package_version('neuroembed')} "
        f"(git {git_revision()}), CEBRA {cebra.__version__}",
        f"- data: one recording of {N_SAMPLES} samples x {N_NEURONS} neurons (N(0, 1), float32, seed {SEED}); a "
        f"second session of {N_SAMPLES + 21} x {N_NEURONS_2}; models with {HIDDEN} hidden units and {OUT} outputs; "
        "weights in note a",
        "- tolerance: a tensor agrees when max |neuroembed - CEBRA| <= rtol x max |CEBRA|, rtol 1e-4 in float32, 1e-12 "
        "in float64; an inverse's tolerance is also multiplied by the largest condition number of the matrices "
        "inverted (the row says so). 'each vs float64' gives each system's own error against a float64 evaluation "
        "(neuroembed's per-batch function on a float64 copy of the model, or `np.linalg.pinv` in float64 of CEBRA's "
        "Jacobian with the same cut-off)",
        f"- {len(compared)} comparisons with a tolerance, {len(compared) - len(failed)} within it"
        + (f"; **{len(failed)} outside it**" if failed else "")
        + "; rows marked n/a compare things that are not meant to be equal, with the reason",
        f"- total wall time {wall:.0f} s; produced by `{command}`",
        "",
    ]
    for title, rows, extra in sections:
        lines += [f"## {title}", ""]
        if rows:
            lines += table(rows) + [""]
        lines += extra
        if extra and extra[-1] != "":
            lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="neuroembed's attribution maps against CEBRA 0.6.1's on identical weights and inputs."
    )
    parser.add_argument(
        "--output",
        default=None,
        help=f"markdown file to write (default {DEFAULT_OUTPUT.relative_to(REPO)}; '-' writes nothing)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    version = cebra_version()
    if version is None:
        raise SystemExit(
            "reference_values_attribution.py compares against CEBRA, which is not installed here; use the benchmark "
            'environment (benchmarks/README.md: pip install "cebra[integrations]==0.6.1", or cebra with captum and '
            "cvxpy)."
        )
    if not version.startswith("0.6."):
        print(f"warning: written for CEBRA 0.6.1; found {version}", file=sys.stderr)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*is deprecated")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"captum\..*")

    t0 = time.perf_counter()
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(N_SAMPLES, N_NEURONS)).astype(np.float32)
    X2 = rng.normal(size=(N_SAMPLES + 21, N_NEURONS_2)).astype(np.float32)
    pairs = {
        "offset10": Pair("offset10", X),
        "offset5": Pair("offset5", X),
        "offset1": Pair("offset1", X),
        "euclidean": Pair("offset10", X, distance="euclidean"),
        "session1": Pair("offset10", X2, sessions=[X, X2], session=1),
    }
    print("1/5 windows, 2/5 Jacobian", file=sys.stderr)
    window_rows = check_windows(pairs, X)
    jacobian_rows = check_jacobian(pairs, X, X2)
    print("3/5 inverted Jacobian", file=sys.stderr)
    inverse_rows, info = check_inverse(pairs, X)
    print("4/5 integrated gradients", file=sys.stderr)
    ig_rows = check_integrated_gradients(pairs, X)
    print("5/5 feature ablation", file=sys.stderr)
    ablation_rows = check_ablation(pairs, X)

    sections = [
        ("1. Windows: which samples each system attributes", window_rows, []),
        ('2. Jacobian (`method="jacobian"`)', jacobian_rows, []),
        ('3. Inverted Jacobian (`method="inverted-jacobian"`)', inverse_rows, []),
        ('4. Integrated gradients (`method="integrated-gradients"`)', ig_rows, []),
        ('5. Feature ablation (`method="ablation"`)', ablation_rows, []),
        (
            "6. Defaults side by side, and the mapping",
            [],
            defaults_table(info) + [""] + NOTES + [""],
        ),
    ]
    report = format_report(
        sections,
        time.perf_counter() - t0,
        shlex.join(
            [
                "python",
                "benchmarks/reference_values_attribution.py",
                *(sys.argv[1:] if argv is None else argv),
            ]
        ),
    )
    print(report)
    write_output(report, args.output if args.output is not None else str(DEFAULT_OUTPUT))
    return report


if __name__ == "__main__":
    main()

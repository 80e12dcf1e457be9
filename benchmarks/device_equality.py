"""Float32 equality of each of neuroembed's custom training paths with the module path, on one device.

neuroembed's custom paths (see ``neuroembed/_custom_paths.py``) are on by default only on the CPU, where they are
tested. Before turning them on elsewhere (``NEUROEMBED_CUSTOM_PATHS=1``), this script compares, in float32 on
``--device``, each one with what runs when they are off:

* ``trunk``: the time-major trunk with its hand-written backward (:func:`neuroembed.models.time_major.trunk_time_major`)
  against the module's channels-last forward through autograd, per window and over a whole recording: output,
  input gradient and weight gradients;
* ``solver``: a whole training forward of :class:`neuroembed.solver.ContrastiveSolver` (stem products per kernel tap,
  the first layer over the whole recording, the trunk) with the custom paths on against off, on the same batch:
  embeddings and every parameter's gradient;
* ``sparse``: the first layer over a sparse recording as sparse products against dense ones (the CPU only: other
  devices never take it);
* ``loss``: the InfoNCE with a hand-written backward against its composition of autograd operations: values and the
  gradients of anchor, positive and negatives;
* ``adam``: :class:`neuroembed._optim.FusedAdam` against ``torch.optim.Adam(fused=True)``, 20 steps: parameters and
  moments must be equal bit for bit;
* ``fit``: 20 iterations of ``Estimator.fit`` with the custom paths on and off (from the same seed): the loss
  histories.

Each row gives the largest absolute difference divided by the largest absolute value of the reference (so one
tolerance fits values of any scale) and passes when that is within the row's tolerance. The exit status is 1 when a
row fails. Run from the repository root::

    python benchmarks/device_equality.py --device cuda
    python benchmarks/device_equality.py --quick            # the CPU, tiny sizes (the device check's dry run)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

import neuroembed as ne
from neuroembed._optim import FusedAdam
from neuroembed.losses.info_nce import _CosineSharedInfoNCE, _parts_autograd
from neuroembed.models import MODELS
from neuroembed.models.sparse import SparseRecording, conv_sparse_recording
from neuroembed.models.time_major import conv_time_major, trunk_time_major, whole_shrink
from neuroembed.solver import resolve_device

#: Tolerances of the relative differences in float32: a forward pass and its gradients differ by the order of the
#: float additions only; a whole fit accumulates that over its steps.
FORWARD_TOLERANCE = 1e-4
GRADIENT_TOLERANCE = 1e-3
FIT_TOLERANCE = 1e-2


@dataclass
class Row:
    path: str
    case: str
    quantity: str
    difference: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.difference)) and self.difference <= self.tolerance


def relative(got: torch.Tensor, want: torch.Tensor) -> float:
    """``max |got - want| / max(|want|)`` (0 for two zero tensors), in float64 on the host."""
    got, want = got.detach().double().cpu(), want.detach().double().cpu()
    if got.shape != want.shape:
        return float("inf")
    scale = float(want.abs().max()) if want.numel() else 0.0
    diff = float((got - want).abs().max()) if want.numel() else 0.0
    return diff / scale if scale > 0 else diff


def worst(pairs: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> float:
    return max((relative(g, w) for g, w in pairs), default=0.0)


def _backward(out: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Gradients of a fixed weighting of ``out`` (every output element matters, with its own weight)."""
    weights = torch.linspace(-1.0, 1.0, out.numel(), device=out.device).view_as(out)
    return list(torch.autograd.grad((out * weights).sum(), inputs))


def check_trunk(device: torch.device, quick: bool) -> list[Row]:
    rows = []
    n_windows = 64 if quick else 512
    for name in (
        ("offset10", "dilated34") if quick else ("offset5", "offset10", "offset36", "dilated34")
    ):
        torch.manual_seed(0)
        encoder = MODELS[name](20, 32, 8).to(device)
        trunk = encoder.trunk
        params = list(trunk.parameters())
        length = encoder.receptive_field - encoder.stem.kernel_size[0] + 1
        stem_out = torch.randn(length, n_windows, 32, device=device, requires_grad=True)
        want_out = trunk.forward_channels_last(stem_out.transpose(0, 1)).transpose(0, 1)
        want = _backward(want_out, [stem_out, *params])
        got_out = trunk_time_major(trunk, stem_out)
        got = _backward(got_out, [stem_out, *params])
        rows.append(
            Row(
                "trunk",
                f"{name}, windows",
                "output",
                relative(got_out, want_out),
                FORWARD_TOLERANCE,
            )
        )
        rows.append(
            Row(
                "trunk",
                f"{name}, windows",
                "input gradient",
                relative(got[0], want[0]),
                GRADIENT_TOLERANCE,
            )
        )
        rows.append(
            Row(
                "trunk",
                f"{name}, windows",
                "weight gradients",
                worst(zip(got[1:], want[1:])),
                GRADIENT_TOLERANCE,
            )
        )
        # the first blocks over a whole recording, then the windows cut out of it
        n = 2000 if quick else 8000
        sequence = torch.randn(n, 1, 32, device=device, requires_grad=True)
        start = torch.randint(0, n - length + 1, (n_windows,), device=device)
        time_rows = torch.arange(length, device=device)[:, None]
        cut = sequence[start[None, :] + time_rows, 0]
        want_out = trunk.forward_channels_last(cut.transpose(0, 1)).transpose(0, 1)
        want = _backward(want_out, [sequence, *params])
        n_whole = len(trunk.blocks)
        rows_whole = start[None, :] + time_rows[: length - whole_shrink(trunk, n_whole)]
        got_out = trunk_time_major(trunk, sequence, rows=rows_whole, n_whole=n_whole)
        got = _backward(got_out, [sequence, *params])
        case = f"{name}, whole recording"
        rows.append(Row("trunk", case, "output", relative(got_out, want_out), FORWARD_TOLERANCE))
        rows.append(
            Row("trunk", case, "input gradient", relative(got[0], want[0]), GRADIENT_TOLERANCE)
        )
        rows.append(
            Row(
                "trunk", case, "weight gradients", worst(zip(got[1:], want[1:])), GRADIENT_TOLERANCE
            )
        )
    return rows


def check_solver(device: torch.device, quick: bool) -> list[Row]:
    rows = []
    rng = np.random.default_rng(0)
    for model, n_samples in (("offset10", 600), ("offset10", 20000), ("dilated34", 3000)):
        if quick and n_samples > 5000:
            continue
        X = rng.poisson(0.5, (n_samples, 40)).astype(np.float32)
        est = ne.Estimator(
            model=model, conditional="time", batch_size=64 if quick else 512, device=str(device)
        )
        est.set_params(random_state=0)
        est._check_params()
        run = est._prepare(X, None)
        batch = run.solver.sampler.sample()
        groups = [[r, p, n] for r, p, n in zip(batch.reference, batch.positive, batch.negative)]
        params = list(run.encoder.parameters())
        results = []
        for custom in (False, True):
            run.solver._custom_paths = custom
            run.solver._sparse.clear()
            embedded = run.solver.encode(groups)
            out = torch.cat(embedded)
            results.append((out.detach(), _backward(out, params)))
        (want_out, want), (got_out, got) = results
        case = f"{model}, {n_samples} samples"
        rows.append(
            Row("solver", case, "embeddings", relative(got_out, want_out), FORWARD_TOLERANCE)
        )
        rows.append(
            Row("solver", case, "parameter gradients", worst(zip(got, want)), GRADIENT_TOLERANCE)
        )
    return rows


def check_sparse(device: torch.device, quick: bool) -> list[Row]:
    if device.type != "cpu":
        return []  # the sparse first layer runs on the CPU only
    torch.manual_seed(0)
    n = 2000 if quick else 8000
    data = torch.poisson(torch.full((n, 120), 0.03))
    weight = torch.randn(32, 120, 2, requires_grad=True)
    bias = torch.randn(32, requires_grad=True)
    want_out = conv_time_major(data[:, None, :], weight, bias)[:, 0]
    want = _backward(want_out, [weight, bias])
    got_out = conv_sparse_recording(SparseRecording(data), weight, bias)
    got = _backward(got_out, [weight, bias])
    case = f"{n} x 120, {float((data != 0).float().mean()):.0%} non-zero"
    return [
        Row("sparse", case, "output", relative(got_out, want_out), FORWARD_TOLERANCE),
        Row("sparse", case, "weight gradients", worst(zip(got, want)), GRADIENT_TOLERANCE),
    ]


def check_loss(device: torch.device, quick: bool) -> list[Row]:
    rows = []
    n = 128 if quick else 1024
    for temperature in (1.0, 0.1):
        g = torch.Generator().manual_seed(0)
        inputs = [torch.randn(n, 8, generator=g).to(device).requires_grad_(True) for _ in range(3)]
        want_parts = _parts_autograd(*inputs, temperature, "cosine", False)
        want = list(torch.autograd.grad(want_parts[0], inputs))
        got_parts = _CosineSharedInfoNCE.apply(*inputs, temperature)
        got = list(torch.autograd.grad(got_parts[0], inputs))
        case = f"{n} x {n}, temperature {temperature}"
        rows.append(
            Row(
                "loss",
                case,
                "loss, alignment, uniformity",
                worst(zip(got_parts, want_parts)),
                FORWARD_TOLERANCE,
            )
        )
        rows.append(Row("loss", case, "input gradients", worst(zip(got, want)), GRADIENT_TOLERANCE))
    return rows


def check_adam(device: torch.device, quick: bool) -> list[Row]:
    torch.manual_seed(0)
    ours = [
        p.detach().clone().requires_grad_(True)
        for p in MODELS["offset10"](40, 32, 8).to(device).parameters()
    ]
    theirs = [p.detach().clone().requires_grad_(True) for p in ours]
    opt = FusedAdam(ours, lr=3e-4)
    ref = torch.optim.Adam(theirs, lr=3e-4, fused=True)
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        for a, b in zip(ours, theirs):
            grad = torch.randn(a.shape, generator=g).to(device)
            a.grad, b.grad = grad.clone(), grad.clone()
        opt.step()
        ref.step()
    fast = opt._lists is not None
    params = worst(zip(ours, theirs))
    moments = worst(
        (opt.state[a][key], ref.state[b][key])
        for a, b in zip(ours, theirs)
        for key in ("exp_avg", "exp_avg_sq")
    )
    case = "offset10, 20 steps" + ("" if fast else " (fast path NOT taken)")
    # bit for bit: the same kernel on the same inputs
    return [
        Row("adam", case, "parameters", params if fast else float("inf"), 0.0),
        Row("adam", case, "moments", moments, 0.0),
    ]


@contextmanager
def custom_paths(value: str) -> Iterator[None]:
    before = os.environ.get("NEUROEMBED_CUSTOM_PATHS")
    os.environ["NEUROEMBED_CUSTOM_PATHS"] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ["NEUROEMBED_CUSTOM_PATHS"]
        else:
            os.environ["NEUROEMBED_CUSTOM_PATHS"] = before


def check_fit(device: torch.device, quick: bool) -> list[Row]:
    rec = ne.datasets.linear_track(n_samples=2000 if quick else 8000, n_neurons=60, random_state=0)
    histories = []
    for value in ("0", "1"):
        with custom_paths(value):
            est = ne.Estimator(
                max_iterations=20,
                batch_size=128 if quick else 512,
                device=str(device),
                random_state=0,
            )
            histories.append(torch.from_numpy(est.fit(rec.neural, rec.behaviour).loss_history_))
    return [
        Row(
            "fit",
            "offset10, time_delta, 20 steps",
            "loss history",
            relative(*histories[::-1]),
            FIT_TOLERANCE,
        )
    ]


CHECKS: dict[str, Callable[[torch.device, bool], list[Row]]] = {
    "trunk": check_trunk,
    "solver": check_solver,
    "sparse": check_sparse,
    "loss": check_loss,
    "adam": check_adam,
    "fit": check_fit,
}


def table(rows: list[Row], device: torch.device, seconds: float, quick: bool) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    lines = [
        f"# Custom paths against the module path, float32, on {device} ({name})"
        + (" (quick)" if quick else ""),
        "",
        f"torch {torch.__version__}; {seconds:.1f} s. Difference: max |custom - module| / max |module|.",
        "",
        "| path | case | quantity | difference | tolerance | |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.path} | {r.case} | {r.quantity} | {r.difference:.2e} | {r.tolerance:.0e} | "
            f"{'ok' if r.ok else '**MISMATCH**'} |"
        )
    failed = sum(not r.ok for r in rows)
    lines += ["", f"{len(rows) - failed} of {len(rows)} rows within tolerance."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes (the dry run of device_check.sh)"
    )
    parser.add_argument("--checks", nargs="+", choices=list(CHECKS), default=list(CHECKS))
    parser.add_argument(
        "--output", default="-", help="markdown file to write as well as print ('-': print only)"
    )
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    start = time.perf_counter()
    rows = [row for name in args.checks for row in CHECKS[name](device, args.quick)]
    text = table(rows, device, time.perf_counter() - start, args.quick)
    print(text)
    if args.output != "-":
        with open(args.output, "w") as f:
            f.write(text)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

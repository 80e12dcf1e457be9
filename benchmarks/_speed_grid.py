"""The ``grid`` part of ``speed.py``: neuroembed against CEBRA over a fractional grid of recordings, and on the real
recordings.

Design
------
Four axes of three levels each: neurons {20, 120, 500}, samples {10^4, 10^5, 10^6}, fraction of non-zero entries
{2 %, 10 %, 60 %} and behaviour {1-D position, 2-D ring, 3-D}. The full factorial (81 recordings) would take hours;
the grid is the nine-run orthogonal array L9(3^4), a Graeco-Latin square in which every pair of levels of every two
axes appears exactly once, plus three points:

=========  =======  =======  ========  =========  ===========================================================
point      neurons  samples  non-zero  behaviour  why
=========  =======  =======  ========  =========  ===========================================================
L9-1       20       1e4      2 %       1-D
L9-2       20       1e5      10 %      ring
L9-3       20       1e6      60 %      3-D
L9-4       120      1e4      10 %      3-D
L9-5       120      1e5      60 %      1-D
L9-6       120      1e6      2 %       ring
L9-7       500      1e4      60 %      ring
L9-8       500      1e5      2 %       3-D
L9-9       500      1e6      10 %      1-D
hd-ring    19       42,000   11 %      ring       head-direction shaped (an anterior thalamus recording)
hd-1d      19       42,000   11 %      1-D        hd-ring's recording, behaviour its angle / 2 pi
L9-6-1d    120      1e6      2 %       1-D        L9-6's recording, behaviour its angle / 2 pi
=========  =======  =======  ========  =========  ===========================================================

The two pairs (hd-ring, hd-1d) and (L9-6, L9-6-1d) fit one recording with ring and with 1-D behaviour: the step time
on a ring against the same recording on a line. With ``time`` positives the behaviour is not used, so a twin is the
same fit as its ring point and is timed once: the ``time`` summary is over the 10 distinct recordings, the
``time_delta`` one over all 12 points.

Recordings (made here, seeded): behaviour is a reflected random walk on a track of length 1 (1-D), the ``(cos, sin)``
of a random-walk angle (ring) or a reflected random walk in the unit box (3-D). Each neuron has a tuning curve on the
behaviour (a Gaussian bump on the track or in the box, a von Mises bump on the ring), a log-normal gain and a
baseline; its count in a bin is Poisson with rate ``c * gain * (baseline + tuning)`` (drawn by inverting the Poisson
distribution function, capped at 4), with ``c`` set by bisection so that the expected fraction of non-zero counts,
``mean(1 - exp(-rate))``, is the point's. The measured fraction is reported.

Timing: per point and conditional, each system fits the same data with ``n1`` and with ``n2`` iterations, whole
``fit`` calls (setup included: data to tensors, nearest-neighbour index, model), alternating the systems and who goes
first, ``repeats`` times. Two measures per system, medians over the repeats:

* **whole fit per iteration**, the ``n2``-iteration fit's seconds / ``n2`` (setup included), and
* **marginal seconds per iteration**, ``(t(n2) - t(n1)) / (n2 - n1)`` (setup cancels: the steady-state step).

The ratio CEBRA / neuroembed is always taken of the same measure for both systems. Both systems run the same
iterations except where CEBRA's step is too slow for them: ``time_delta`` at 10^6 samples, where CEBRA's brute-force
search writes several 512 x 10^6 matrices a step and runs fewer iterations (:func:`schedule`). The *headline* ratio
is the whole-fit ratio where the iterations are equal (the setup spread alike) and the marginal ratio where they are
not (a whole-fit ratio there would charge CEBRA's setup to fewer iterations); the tables give both.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import neuroembed as ne

# the benchmarks' own helper modules (benchmarks/ is on sys.path: speed.py puts it there)
import _tasks  # isort: skip
from quality import cebra_kwargs  # isort: skip

#: The device both systems train on (``speed.py --device``).
DEVICE = "cpu"


def synchronize() -> None:
    """Wait for the GPU's queued work on :data:`DEVICE`, so that a fit's clock stops when its last step has run."""
    if torch.device(DEVICE).type == "cuda":
        torch.cuda.synchronize()


NEURONS = (20, 120, 500)
SAMPLES = (10_000, 100_000, 1_000_000)
DENSITIES = (0.02, 0.10, 0.60)
BEHAVIOURS = ("1-D", "ring", "3-D")
# L9(3^4): rows of levels (neurons, samples, non-zero, behaviour)
L9 = (
    (0, 0, 0, 0),
    (0, 1, 1, 1),
    (0, 2, 2, 2),
    (1, 0, 1, 2),
    (1, 1, 2, 0),
    (1, 2, 0, 1),
    (2, 0, 2, 1),
    (2, 1, 0, 2),
    (2, 2, 1, 0),
)
QUICK_SAMPLES = 2000
QUICK_POINTS = ("L9-1", "L9-6", "L9-6-1d", "L9-8", "hd-ring", "hd-1d")
REAL = ("rat", "nelpy", "bci")
CONDITIONALS = ("time_delta", "time")
# the targets of issue 17 (median and worst ratio over the grid, whole fits)
TARGETS = {"time_delta": (4.0, 2.5), "time": (2.0, 1.5)}
HD_TARGET = 10.0
RING_TARGET = 1.3


@dataclass
class Point:
    """One recording of the grid (``twin_of``: the same recording as that point, with 1-D behaviour)."""

    name: str
    neurons: int
    samples: int
    density: float
    behaviour: str
    note: str = ""
    twin_of: str | None = None
    seed: int = 0


def grid_points(quick: bool) -> list[Point]:
    points = []
    for i, (a, b, c, d) in enumerate(L9, start=1):
        points.append(Point(f"L9-{i}", NEURONS[a], SAMPLES[b], DENSITIES[c], BEHAVIOURS[d], seed=i))
    points.append(Point("hd-ring", 19, 42_000, 0.11, "ring", "head-direction shaped", seed=10))
    points.append(Point("hd-1d", 19, 42_000, 0.11, "1-D", "hd-ring's recording", "hd-ring", 10))
    points.append(Point("L9-6-1d", 120, 1_000_000, 0.02, "1-D", "L9-6's recording", "L9-6", 6))
    if quick:  # a smoke test: every neuron count, behaviour and twin, at tiny sizes
        points = [p for p in points if p.name in QUICK_POINTS]
        for p in points:
            p.samples = min(p.samples, QUICK_SAMPLES)
    return points


def schedule(
    n_samples: int, conditional: str, quick: bool, system: str = "neuroembed"
) -> tuple[int, int, int]:
    """``(n1, n2, repeats)``: the two iteration counts of ``system``'s fits at a point, and the repeats (the same
    for both systems: their fits alternate)."""
    if quick:
        return 1, 2, 1
    if conditional != "time":  # behaviour positives
        if n_samples > 200_000:
            # CEBRA's search: seconds a step at 10^6 samples (every query against every sample); neuroembed's
            # 100 extra steps take about a second, well above the spread of its setup (the index over 10^6 samples)
            return (1, 2, 2) if system == "CEBRA" else (10, 110, 2)
        if n_samples > 50_000:
            return 20, 60, 2
        return 30, 90, 3
    if n_samples > 200_000:
        return 20, 60, 2
    return 30, 90, 2


# ---------------------------------------------------------------------------------------------------------------------
# recordings
# ---------------------------------------------------------------------------------------------------------------------
def _reflected_walk(n: int, dims: int, step: float, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((n, dims), dtype=np.float32)
    for d in range(dims):
        walk = (rng.uniform() + np.cumsum(rng.normal(0.0, step, n))) % 2.0
        out[:, d] = np.where(walk > 1.0, 2.0 - walk, walk)
    return out


def _tuning(latent: np.ndarray, kind: str, centres: np.ndarray) -> np.ndarray:
    """Tuning in [0, 1], (rows, neurons): a Gaussian bump on the track / in the box, a von Mises bump on the ring."""
    if kind == "ring":
        return np.exp(4.0 * (np.cos(latent[:, :1] - centres[None, :, 0]) - 1.0))
    width = 0.1 if kind == "1-D" else 0.2
    sq = np.zeros((latent.shape[0], centres.shape[0]), dtype=np.float32)
    for d in range(latent.shape[1]):
        sq += (latent[:, d : d + 1] - centres[None, :, d]) ** 2
    return np.exp(sq / np.float32(-2.0 * width**2))


def _poisson(rate: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Poisson counts (capped at 4) of ``rate`` by inverting the distribution function at the uniforms ``u``."""
    p = np.exp(-rate)  # P(0)
    cdf = p.copy()
    counts = (u > cdf).astype(np.float32)
    for k in (1, 2, 3):
        p *= rate / np.float32(k)
        cdf += p
        counts += u > cdf
    return counts


def grid_recording(point: Point, rng_seed: int) -> dict[str, Any]:
    """The point's recording: ``neural`` (float32 counts), ``behaviour`` (its own kind) and ``line`` (the 1-D twin's
    behaviour: the ring's angle / 2 pi), with the measured fraction of non-zero entries."""
    rng = np.random.default_rng(rng_seed)
    n, neurons = point.samples, point.neurons
    if point.behaviour == "ring":
        angle = np.cumsum(rng.normal(0.0, 0.05, n)) % (2 * np.pi)
        latent = angle[:, None].astype(np.float32)
        behaviour = np.stack([np.cos(angle), np.sin(angle)], 1).astype(np.float32)
        centres = rng.uniform(0, 2 * np.pi, (neurons, 1)).astype(np.float32)
    else:
        dims = 1 if point.behaviour == "1-D" else 3
        latent = behaviour = _reflected_walk(n, dims, 0.01, rng)
        centres = rng.uniform(0, 1, (neurons, dims)).astype(np.float32)
    gain = rng.lognormal(0.0, 0.5, neurons).astype(np.float32)
    baseline = np.float32(0.1)

    # the scale c for the target fraction of non-zero counts, on evenly spaced rows
    rows = np.linspace(0, n - 1, min(n, 4000)).astype(np.int64)
    shape = gain * (baseline + _tuning(latent[rows], point.behaviour, centres))
    lo, hi = 1e-6, 1e3
    for _ in range(60):
        c = np.sqrt(lo * hi)
        if np.mean(1.0 - np.exp(-c * shape)) < point.density:
            lo = c
        else:
            hi = c
    scale = np.float32(np.sqrt(lo * hi))

    neural = np.empty((n, neurons), dtype=np.float32)
    block = max(1, 2**24 // neurons)
    for start in range(0, n, block):
        stop = min(n, start + block)
        rate = scale * gain * (baseline + _tuning(latent[start:stop], point.behaviour, centres))
        neural[start:stop] = _poisson(rate, rng.random((stop - start, neurons), dtype=np.float32))
    line = (latent[:, :1] / np.float32(2 * np.pi)) if point.behaviour == "ring" else None
    return {
        "neural": neural,
        "behaviour": behaviour,
        "line": line,
        "density": float(np.count_nonzero(neural)) / neural.size,
    }


# ---------------------------------------------------------------------------------------------------------------------
# fits
# ---------------------------------------------------------------------------------------------------------------------
def fit_neuroembed(
    X: np.ndarray, y: Any, conditional: str, iterations: int, seed: int, settings: dict
) -> float:
    """Seconds of one whole ``Estimator.fit``."""
    torch.set_flush_denormal(True)
    est = ne.Estimator(
        **settings,
        conditional=conditional,
        max_iterations=iterations,
        device=DEVICE,
        random_state=seed,
    )
    start = time.perf_counter()
    est.fit(X, None if conditional == "time" else y)
    synchronize()
    return time.perf_counter() - start


def fit_cebra(
    X: np.ndarray, y: Any, conditional: str, iterations: int, seed: int, settings: dict
) -> float:
    """Seconds of one whole ``cebra.CEBRA.fit`` (discrete labels: CEBRA picks discrete positives from the integer
    dtype under its ``time_delta`` name)."""
    import cebra

    torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    model = cebra.CEBRA(
        **cebra_kwargs(settings),
        conditional="time_delta" if conditional == "discrete" else conditional,
        max_iterations=iterations,
        device=DEVICE,
    )
    start = time.perf_counter()
    if conditional == "time":
        model.fit(X)
    else:
        model.fit(X, y)
    synchronize()
    return time.perf_counter() - start


SYSTEMS = {"neuroembed": fit_neuroembed, "CEBRA": fit_cebra}


@dataclass
class Timing:
    """The fits of one (recording, conditional): seconds per system and iteration count, in the order run."""

    point: str
    conditional: str
    iterations: dict[str, tuple[int, int]]  # per system: (n1, n2)
    repeats: int
    seconds: dict[str, dict[int, list[float]]] = field(default_factory=dict)

    def whole(self, system: str) -> float:
        """Median seconds per iteration of the ``n2``-iteration fits (setup included)."""
        n2 = self.iterations[system][1]
        return float(np.median(self.seconds[system][n2])) / n2

    def marginal(self, system: str) -> float:
        """Median over repeats of ``(t(n2) - t(n1)) / (n2 - n1)``: the steady-state seconds per iteration."""
        n1, n2 = self.iterations[system]
        t1, t2 = self.seconds[system][n1], self.seconds[system][n2]
        return float(np.median([(b - a) / (n2 - n1) for a, b in zip(t1, t2)]))

    @property
    def headline(self) -> str:
        """The measure of the headline ratio: ``whole`` when both systems ran the same iterations."""
        return "whole" if len(set(self.iterations.values())) == 1 else "marginal"

    def iterations_cell(self) -> str:
        ours, theirs = (
            self.iterations["neuroembed"],
            self.iterations.get("CEBRA", self.iterations["neuroembed"]),
        )
        cell = f"{ours[0]} / {ours[1]}" + (
            "" if theirs == ours else f" (CEBRA {theirs[0]} / {theirs[1]})"
        )
        return f"{cell} x {self.repeats}"

    def ratio(self, measure: str) -> float | None:
        if "CEBRA" not in self.seconds:
            return None
        if measure == "headline":
            measure = self.headline
        get = self.whole if measure == "whole" else self.marginal
        ours, theirs = get("neuroembed"), get("CEBRA")
        # a marginal cost can come out negative when a slow moment of the machine hits the shorter fit
        return theirs / ours if ours > 0 and theirs > 0 else None


def time_fits(
    name: str,
    X: np.ndarray,
    y: Any,
    conditional: str,
    samples: int,
    quick: bool,
    systems: list[str],
    settings: dict,
    flip: int,
) -> Timing:
    """Fit with ``n1`` and ``n2`` iterations (:func:`schedule`), ``repeats`` times, alternating the systems and who
    goes first."""
    plan = {system: schedule(samples, conditional, quick, system) for system in systems}
    repeats = plan["neuroembed"][2]
    timing = Timing(name, conditional, {s: (n1, n2) for s, (n1, n2, _) in plan.items()}, repeats)
    turn = flip
    for repeat in range(repeats):
        for k in (0, 1):
            order = systems if turn % 2 == 0 else systems[::-1]
            turn += 1
            for system in order:
                n = plan[system][k]
                seconds = SYSTEMS[system](X, y, conditional, n, repeat, settings)
                timing.seconds.setdefault(system, {}).setdefault(n, []).append(seconds)
                print(
                    f"grid {name:8s} {conditional:10s} {system:10s} {n:4d} it: {seconds:7.2f} s",
                    flush=True,
                )
    return timing


def warm_up(systems: list[str], settings: dict) -> None:
    """Untimed fits of each system and conditional: the first fit in a process pays one-off library set-up."""
    point = Point("warm-up", 20, 2000, 0.1, "1-D")
    data = grid_recording(point, 0)
    for system in systems:
        for conditional in CONDITIONALS:
            SYSTEMS[system](data["neural"], data["behaviour"], conditional, 5, 0, settings)


# ---------------------------------------------------------------------------------------------------------------------
# the part
# ---------------------------------------------------------------------------------------------------------------------
def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}" if seconds < 10 else f"{seconds * 1e3:.0f}"


def _x(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.1f}x"


def _summary(timings: list[Timing], measure: str) -> tuple[float, float, str] | None:
    ratios = [(t.ratio(measure), t.point) for t in timings]
    ratios = [(r, p) for r, p in ratios if r is not None]
    if not ratios:
        return None
    worst = min(ratios)
    return float(np.median([r for r, _ in ratios])), worst[0], worst[1]


def run_grid(
    args: argparse.Namespace, settings: dict, has_cebra: bool
) -> tuple[list[str], dict[str, Any]]:
    """Time both systems over the grid and on the real recordings; the markdown section and the raw numbers."""
    systems = ["neuroembed", "CEBRA"] if has_cebra else ["neuroembed"]
    torch.set_flush_denormal(True)
    start = time.perf_counter()
    warm_up(systems, settings)
    points = grid_points(args.quick)
    by_name = {p.name: p for p in points}
    timings: list[Timing] = []
    densities: dict[str, float] = {}
    flip = 0
    # the head-direction recording first (the largest recordings, which need the most memory, come last)
    for point in sorted(points, key=lambda p: not p.name.startswith("hd")):
        if point.twin_of is not None:
            continue  # timed with the recording it shares
        t0 = time.perf_counter()
        data = grid_recording(point, point.seed)
        print(
            f"grid {point.name}: {point.samples} x {point.neurons}, {point.behaviour}, "
            f"{data['density']:.1%} non-zero, made in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        twins = [p for p in points if p.twin_of == point.name]
        for p in [point, *twins]:
            densities[p.name] = data["density"]
        for conditional in CONDITIONALS:
            for p in [point, *twins] if conditional == "time_delta" else [point]:
                y = data["line"] if p.twin_of else data["behaviour"]
                timings.append(
                    time_fits(
                        p.name,
                        data["neural"],
                        y,
                        conditional,
                        p.samples,
                        args.quick,
                        systems,
                        settings,
                        flip,
                    )
                )
                flip += 1
        del data
        gc.collect()
    grid_minutes = (time.perf_counter() - start) / 60

    real: list[tuple[str, str, int, int, Timing]] = []
    skipped = []
    for name in REAL:
        try:
            task = _tasks.load_task(name, args.data_dir, quick=args.quick)
        except _tasks.MissingData as error:
            skipped.append(f"{name}: {error}")
            continue
        X = np.ascontiguousarray(np.concatenate([task.neural_train, task.neural_test]))
        y = np.concatenate([task.behaviour_train, task.behaviour_test])
        density = densities[f"real:{name}"] = float(np.count_nonzero(X)) / X.size
        behavioural = "discrete" if task.kind == "discrete" else "time_delta"
        for conditional in (behavioural, "time"):
            timing = time_fits(
                name, X, y, conditional, X.shape[0], args.quick, systems, settings, flip
            )
            flip += 1
            real.append((name, task.description, X.shape[0], X.shape[1], timing))
        print(f"grid real {name}: {X.shape[0]} x {X.shape[1]}, {density:.1%} non-zero", flush=True)
    minutes = (time.perf_counter() - start) / 60

    lines = _grid_tables(
        args, points, by_name, timings, densities, real, skipped, grid_minutes, minutes
    )
    raw = {
        "design": "L9(3^4) orthogonal array over neurons x samples x non-zero x behaviour, plus hd-ring, "
        "hd-1d and L9-6-1d",
        "quick": bool(args.quick),
        "points": [asdict(p) | {"measured_density": densities.get(p.name)} for p in points],
        "timings": [asdict(t) for t in timings],
        "real": [
            {"dataset": n, "description": d, "samples": s, "neurons": c, **asdict(t)}
            for n, d, s, c, t in real
        ],
        "skipped": skipped,
        "minutes": minutes,
    }
    return lines, raw


def _row(t: Timing) -> str:
    """The timing cells of a table row: iterations, then per measure neuroembed, CEBRA, ratio; the headline ratio."""
    has = "CEBRA" in t.seconds
    mark = "" if t.headline == "whole" else " (marginal)"
    return (
        f"{t.iterations_cell()} | {_ms(t.whole('neuroembed'))} | {_ms(t.whole('CEBRA')) if has else 'n/a'} | "
        f"{_x(t.ratio('whole'))} | {_ms(t.marginal('neuroembed'))} | "
        f"{_ms(t.marginal('CEBRA')) if has else 'n/a'} | {_x(t.ratio('marginal'))} | "
        f"**{_x(t.ratio('headline'))}**{mark} |"
    )


_COLUMNS = (
    "n1 / n2 x repeats | neuroembed whole (ms/it) | CEBRA whole (ms/it) | ratio whole | neuroembed marginal "
    "(ms/it) | CEBRA marginal (ms/it) | ratio marginal | **headline ratio** |"
)


def _pair(summary: tuple[float, float, str] | None) -> str:
    return "n/a" if summary is None else f"{summary[0]:.1f}x / {summary[1]:.1f}x (`{summary[2]}`)"


def _grid_tables(
    args: argparse.Namespace,
    points: list[Point],
    by_name: dict[str, Point],
    timings: list[Timing],
    densities: dict[str, float],
    real: list[tuple[str, str, int, int, Timing]],
    skipped: list[str],
    grid_minutes: float,
    minutes: float,
) -> list[str]:
    lines = [
        "## Over a grid of recordings: whole fits, alternating with CEBRA",
        "",
        "Design: the orthogonal array L9(3^4) over neurons {20, 120, 500} x samples {1e4, 1e5, 1e6} x non-zero "
        "entries {2 %, 10 %, 60 %} x behaviour {1-D position, 2-D ring, 3-D} (every pair of levels of every two "
        "axes once), plus a head-direction-shaped point (`hd-ring`: 42,000 x 19, 11 % non-zero, ring behaviour) "
        "and two twins that fit a ring point's recording with 1-D behaviour (its angle / 2 pi): `hd-1d` and "
        "`L9-6-1d`. Synthetic Poisson counts tuned to the behaviour, seeded (see `benchmarks/_speed_grid.py`). "
        "Per point and conditional, each system fits the same data with n1 and n2 iterations (whole `fit`, setup "
        "included), alternating the systems and who goes first, repeated; *whole* is the n2-iteration fit's "
        "seconds / n2, *marginal* is (t(n2) - t(n1)) / (n2 - n1), the steady-state step with the setup "
        "cancelled; medians over the repeats. Every ratio is CEBRA / neuroembed of one measure for both. Both "
        "systems run the same iterations except with `time_delta` at 1e6 samples, where CEBRA's brute-force "
        "search takes seconds a step and CEBRA runs 1 and 2 (neuroembed 10 and 110); the *headline* ratio is the whole-fit ratio where the "
        "iterations are equal and the marginal one where they are not (marked). With `time` positives the "
        "behaviour is not used: the twins are not timed again.",
        "",
    ]
    if args.quick:
        lines += [
            "**Quick mode: six of the points at 2,000 samples, 1 and 2 iterations: a smoke test, not a "
            "benchmark.**",
            "",
        ]
    order = {p.name: i for i, p in enumerate(points)}
    for conditional in CONDITIONALS:
        rows = sorted(
            (t for t in timings if t.conditional == conditional), key=lambda t: order[t.point]
        )
        lines += [
            f"### `{conditional}` positives",
            "",
            f"| point | neurons | samples | non-zero | behaviour | {_COLUMNS}",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for t in rows:
            p = by_name[t.point]
            lines.append(
                f"| `{p.name}`{' (' + p.note + ')' if p.note else ''} | {p.neurons} | {p.samples:,} | "
                f"{densities[p.name]:.1%} | {p.behaviour} | {_row(t)}"
            )
        lines.append("")

    lines += [
        "### Summary and the targets of issue 17",
        "",
        "| positives | points | **median headline ratio** | **worst headline ratio** (point) | median / worst "
        "ratio whole | median / worst ratio marginal | target (median / worst) |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for conditional in CONDITIONALS:
        rows = [t for t in timings if t.conditional == conditional]
        summaries = {m: _summary(rows, m) for m in ("headline", "whole", "marginal")}
        target = TARGETS[conditional]
        head = summaries["headline"]
        if head is None:
            lines.append(f"| `{conditional}` | {len(rows)} | n/a | n/a | n/a | n/a | n/a |")
            continue
        lines.append(
            f"| `{conditional}` | {len(rows)} | **{head[0]:.1f}x** | **{head[1]:.1f}x** (`{head[2]}`) | "
            f"{_pair(summaries['whole'])} | {_pair(summaries['marginal'])} | >= {target[0]}x / >= {target[1]}x |"
        )
        met = head[0] >= target[0] and head[1] >= target[1]
        verdicts.append(
            f"- `{conditional}`: median {head[0]:.1f}x (target {target[0]}x), worst {head[1]:.1f}x at "
            f"`{head[2]}` (target {target[1]}x): **{'met' if met else 'not met'}**."
        )
    hd = next((t for t in timings if t.point == "hd-ring" and t.conditional == "time_delta"), None)
    if hd is not None and hd.ratio("headline") is not None:
        r = hd.ratio("headline")
        verdicts.append(
            f"- head-direction-shaped point `hd-ring`, `time_delta`: {r:.1f}x ({hd.headline}; whole "
            f"{_x(hd.ratio('whole'))}, marginal {_x(hd.ratio('marginal'))}; target {HD_TARGET:.0f}x): "
            f"**{'met' if r >= HD_TARGET else 'not met'}**."
        )
    for ring, line in (("hd-ring", "hd-1d"), ("L9-6", "L9-6-1d")):
        a = next((t for t in timings if t.point == ring and t.conditional == "time_delta"), None)
        b = next((t for t in timings if t.point == line and t.conditional == "time_delta"), None)
        if a is None or b is None:
            continue
        step_ring, step_line = a.marginal("neuroembed"), b.marginal("neuroembed")
        whole = a.whole("neuroembed") / b.whole("neuroembed")
        if step_ring <= 0 or step_line <= 0:
            verdicts.append(
                f"- `{ring}` / `{line}`: a marginal step time came out negative (a noisy run)."
            )
            continue
        step = step_ring / step_line
        verdicts.append(
            f"- ring against 1-D behaviour on one recording (`{ring}` / `{line}`, neuroembed, `time_delta`): "
            f"step (marginal) {step_ring * 1e3:.1f} against {step_line * 1e3:.1f} ms, {step:.2f}x; whole fit "
            f"{whole:.2f}x (target: step within {RING_TARGET}x): **{'met' if step <= RING_TARGET else 'not met'}**."
        )
    lines += ["", *verdicts, ""]

    lines += [
        "### Real recordings",
        "",
        "The same measures on the real recordings in `../shared/data` (whole recordings, readers of "
        "`benchmarks/_tasks.py`); the monkey BCI session has direction labels, so its behaviour positives are "
        "discrete (CEBRA: integer labels under its `time_delta` name), and its rows are not one time series.",
        "",
        f"| recording | samples x neurons | non-zero | positives | {_COLUMNS}",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, _description, samples, neurons, t in real:
        lines.append(
            f"| {name} | {samples} x {neurons} | {densities.get('real:' + name, 0):.1%} | `{t.conditional}` | "
            f"{_row(t)}"
        )
    for item in skipped:
        lines.append(f"| skipped: {item} | | | | | | | | | | | |")
    lines += [
        "",
        "Recordings: "
        + "; ".join(f"{name}: {description}" for name, description, *_ in real[::2])
        + ".",
        "",
        f"Grid {grid_minutes:.1f} min, with the real recordings {minutes:.1f} min.",
    ]
    return lines


def write_json(raw: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(raw, indent=1) + "\n")

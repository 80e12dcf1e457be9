"""The recordings the quality benchmarks run on, each split once into a training block and a held-out test block.

One loader per dataset, looked up by name in :data:`TASKS`; :func:`load_task` returns a :class:`Task` and
:func:`decode_error` scores an embedding of it. Every task is what both systems train with (``behaviour_train``),
what is decoded (``target_*``) and how the error is measured (``kind``):

* ``rat``: CEBRA's rat hippocampus recording "buddy" (``cebra_rat_hippocampus/buddy.jl``); behaviour
  ``[position, right, left]``, decoded position in m.
* ``achilles``: the first 2000 bins of CEBRA's rat "achilles"
  (``cebra_rat_hippocampus/achilles_first2000bins_from_musacchio_course.npz``); the same behaviour and target.
* ``bci``: monkey J's brain-computer-interface session of Golub et al. 2018 (``golub_bci_learning/exampleData.mat``),
  the ``beforeLearning`` activity; behaviour and target the direction class 0-7 (see :func:`load_bci`).
* ``nelpy``: nelpy's rat linear-track session (``nelpy_linear_track/``), binned here at 25 ms; behaviour
  ``[position, right, left]``, decoded position in camera pixels (see :func:`load_nelpy`).
* ``linear_track``, ``latent_manifold``, ``ring``: :func:`neuroembed.datasets.linear_track`,
  :func:`~neuroembed.datasets.latent_manifold` and :func:`~neuroembed.datasets.ring_manifold` with
  ``random_state=0``, with their true latents.

Every split but ``bci``'s trains on the first 80 % of the recording and tests on the last 20 % (contiguous, as
:func:`neuroembed.metrics.decode` does). The real recordings are read from ``../shared/data`` beside the checkout;
a loader whose file is absent raises :class:`MissingData`, which the scripts report as a skip with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from scipy.ndimage import gaussian_filter1d
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

import neuroembed as ne

# neuroembed's NWB reader bins spike times this way; the benchmark reuses its (private) helper
from neuroembed.io.nwb import _bin_spikes

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"
TRAIN_FRACTION = 0.8
QUICK_SAMPLES = 2000
KINDS = ("continuous", "discrete", "circular")
# the kNN decoder of quality.py: neuroembed.metrics.decode's defaults (cosine distance, 16 neighbours, uniform)
N_NEIGHBORS = 16
METRIC = "cosine"

# nelpy linear track: the tracking file and how it is cleaned (see load_nelpy)
NELPY_BIN_SIZE = 0.025  # s, as CEBRA's rat data
NELPY_CLOCK = 30000.0  # ticks per second of the tracking timestamps
NELPY_FRAME = np.dtype([("time", "<u4"), ("x", "<u2"), ("y", "<u2"), ("x2", "<u2"), ("y2", "<u2")])
NELPY_HELD = 5.0  # s: a position repeated unchanged this long is the tracker's placeholder (the rat is out of view)
NELPY_OFF_TRACK = (
    60.0  # px from the track's axis: beyond, the rat is being put on or taken off the track
)
NELPY_SMOOTH = (
    0.2  # s, standard deviation of the Gaussian smoothing before the velocity sign is taken
)
NELPY_STILL = 30.0  # px/s: slower than this, the running direction is that of the last movement
NELPY_MAX_BINS = 60000


class MissingData(Exception):
    """A file (or a generator) a task needs is not there; the message says which and where it was looked for."""


@dataclass
class Task:
    """One benchmark recording, split into a training block and a held-out test block.

    Attributes
    ----------
    name : str
        The key of :data:`TASKS`.
    neural_train, neural_test : ndarray of shape (n_train, n_neurons), (n_test, n_neurons)
        float32 spike counts (or rates) of the two blocks.
    behaviour_train, behaviour_test : ndarray
        What both systems train with: float32 (n, k) continuous, or int64 (n,) labels.
    target_train, target_test : ndarray of shape (n,)
        What is decoded: float continuous values, int64 labels, or angles in radians.
    kind : {"continuous", "discrete", "circular"}
        How :func:`decode_error` scores: kNN median absolute error, kNN misclassification rate, or the kNN median
        circular distance.
    unit : str
        Unit of the error ("m", "px", "rad"; "" for a rate or a unitless label).
    description : str
        One line for the results header: source, shape, bin size, split.
    latent_train, latent_test : ndarray of shape (n, n_latent) or None
        The true latent of synthetic data.
    """

    name: str
    neural_train: np.ndarray
    neural_test: np.ndarray
    behaviour_train: np.ndarray
    behaviour_test: np.ndarray
    target_train: np.ndarray
    target_test: np.ndarray
    kind: str
    unit: str
    description: str
    latent_train: np.ndarray | None = None
    latent_test: np.ndarray | None = None

    @property
    def n_train(self) -> int:
        return int(self.neural_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.neural_test.shape[0])

    @property
    def n_neurons(self) -> int:
        return int(self.neural_train.shape[1])


# ---------------------------------------------------------------------------------------------------------------------
# splitting
# ---------------------------------------------------------------------------------------------------------------------
def _n_train(n_samples: int) -> int:
    """Rows of the training block: the first ``TRAIN_FRACTION`` (floored, as neuroembed.metrics.decode does)."""
    return int(np.floor(TRAIN_FRACTION * n_samples))


def _contiguous(
    name: str,
    neural: np.ndarray,
    behaviour: np.ndarray,
    target: np.ndarray,
    kind: str,
    unit: str,
    source: str,
    latent: np.ndarray | None = None,
) -> Task:
    """A task trained on the first 80 % of the rows and tested on the last 20 %."""
    n = neural.shape[0]
    k = _n_train(n)
    description = (
        f"{source}; {n} x {neural.shape[1]}; train first {TRAIN_FRACTION:.0%} ({k}), test last "
        f"{1 - TRAIN_FRACTION:.0%} ({n - k})"
    )
    return Task(
        name,
        neural[:k],
        neural[k:],
        behaviour[:k],
        behaviour[k:],
        target[:k],
        target[k:],
        kind,
        unit,
        description,
        None if latent is None else latent[:k],
        None if latent is None else latent[k:],
    )


def _require(path: Path) -> Path:
    if not path.is_file():
        raise MissingData(
            f"{path} not found (the real recordings live in ../shared/data beside the checkout; see its README)."
        )
    return path


def _quick(quick: bool, *arrays: np.ndarray) -> list[np.ndarray]:
    """The first ``QUICK_SAMPLES`` rows of each array with ``quick``, else the arrays as they are."""
    return [a[:QUICK_SAMPLES] if quick else a for a in arrays]


# ---------------------------------------------------------------------------------------------------------------------
# the real recordings
# ---------------------------------------------------------------------------------------------------------------------
def load_rat(data_dir: Path, quick: bool = False) -> Task:
    """CEBRA's rat "buddy": 25 ms bins, behaviour ``[position, right, left]``, decoded position (m)."""
    path = _require(data_dir / "cebra_rat_hippocampus" / "buddy.jl")
    rec = ne.datasets.load_rat_hippocampus(path, verify=True)
    neural, behaviour = _quick(quick, rec.neural, rec.behaviour)
    return _contiguous(
        "rat",
        neural,
        behaviour,
        behaviour[:, 0].copy(),
        "continuous",
        "m",
        "rat hippocampus 'buddy' (CEBRA, real), 25 ms bins",
    )


def load_achilles(data_dir: Path, quick: bool = False) -> Task:
    """The first 2000 bins (50 s) of CEBRA's rat "achilles": behaviour ``[position, right, left]``, position (m)."""
    path = _require(
        data_dir / "cebra_rat_hippocampus" / "achilles_first2000bins_from_musacchio_course.npz"
    )
    with np.load(path) as d:
        neural = np.asarray(d["spikes"], dtype=np.float32)
        behaviour = np.stack([d["position"], d["right"], d["left"]], axis=1).astype(np.float32)
    neural, behaviour = _quick(quick, neural, behaviour)
    return _contiguous(
        "achilles",
        neural,
        behaviour,
        behaviour[:, 0].copy(),
        "continuous",
        "m",
        "rat hippocampus 'achilles', first 2000 bins (CEBRA, real), 25 ms bins",
    )


def load_bci(data_dir: Path, quick: bool = False) -> Task:
    """Monkey J's BCI session (Golub et al. 2018), before learning: 86 units, direction class 0-7.

    ``exampleData.mat`` holds, for ``beforeLearning`` (and ``afterLearning``), eight "clouds" of 69 samples each.
    A sample is one 45 ms timestep of a cursor-control trial: spike counts of 86 units (``spikes``, 86 x 69 per
    cloud), with the cursor-to-target direction of that timestep (``cursorToTargetDirection``, unit vectors). The
    clouds group the timesteps by that direction, in 45 degree bins centred on ``angles`` (0, 45, ..., 315 degrees;
    every sample lies within 22.5 degrees of its cloud's angle); since the cursor starts each trial at the centre,
    a cloud is mostly the timesteps of the trials toward that target. Inside a cloud the samples are runs of
    consecutive timesteps, trial after trial (each run starts with timesteps whose direction is exactly the
    target angle, while the cursor is still at the centre). The label of a sample is the index of its cloud's
    angle (0 for 0 degrees ... 7 for 315 degrees).

    The split keeps every class in both blocks: inside each cloud, its first 80 % of samples train (55) and its
    last 20 % test (14), so the test samples are the last trial(s) of each cloud; the training parts are
    concatenated in the clouds' order, and the test parts likewise. The rows are therefore not one time series:
    consecutive rows are consecutive timesteps only inside a run. ``quick`` changes nothing (552 samples).
    """
    path = _require(data_dir / "golub_bci_learning" / "exampleData.mat")
    mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    clouds = mat["beforeLearning"].clouds
    angles = np.asarray(clouds.angles, dtype=np.int64)
    classes = np.unique(angles)
    parts: dict[str, list[np.ndarray]] = {"x_train": [], "x_test": [], "y_train": [], "y_test": []}
    for spikes, angle in zip(clouds.spikes, angles):
        x = np.asarray(spikes, dtype=np.float32).T  # (n_samples, n_units)
        y = np.full(x.shape[0], np.searchsorted(classes, angle), dtype=np.int64)
        k = _n_train(x.shape[0])
        parts["x_train"].append(x[:k])
        parts["x_test"].append(x[k:])
        parts["y_train"].append(y[:k])
        parts["y_test"].append(y[k:])
    x_train, x_test, y_train, y_test = (np.concatenate(parts[key]) for key in parts)
    sizes = sorted({s.shape[1] for s in clouds.spikes})
    description = (
        f"monkey J BCI, Golub et al. 2018 (real), beforeLearning; {x_train.shape[0] + x_test.shape[0]} x "
        f"{x_train.shape[1]} counts per 45 ms; {classes.size} cursor-to-target direction classes x "
        f"{'/'.join(map(str, sizes))} samples; per class first {TRAIN_FRACTION:.0%} train ({x_train.shape[0]}), "
        f"last {1 - TRAIN_FRACTION:.0%} test ({x_test.shape[0]})"
    )
    return Task(
        "bci",
        x_train,
        x_test,
        y_train,
        y_test,
        y_train.copy(),
        y_test.copy(),
        "discrete",
        "",
        description,
    )


def _mat_units(cell: Any) -> Iterator[Any]:
    """The MatClust unit structs (those with a ``time`` field) of a nested cell array, in file order."""
    if hasattr(cell, "_fieldnames"):
        if "time" in cell._fieldnames:
            yield cell
        return
    if isinstance(cell, np.ndarray) and cell.dtype == object:
        for item in cell.flat:
            yield from _mat_units(item)


def _read_tracking(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Frame times (s, strictly increasing) and camera positions (n_frames, 2) of a ``.videoPositionTracking`` file."""
    raw = path.read_bytes()
    tag = raw.find(b"<End settings>")
    if tag < 0:
        raise ValueError(f"{path} has no '<End settings>' line ending its text header.")
    start = raw.index(b"\n", tag) + 1
    body = raw[start:]
    if len(body) % NELPY_FRAME.itemsize:
        raise ValueError(
            f"{path}: {len(body)} bytes after the header are not a whole number of "
            f"{NELPY_FRAME.itemsize}-byte frames."
        )
    frames = np.frombuffer(body, dtype=NELPY_FRAME)
    # a few frames repeat a timestamp: keep the first of each
    ticks, first = np.unique(frames["time"], return_index=True)
    xy = np.stack([frames["x"][first], frames["y"][first]], axis=1).astype(np.float64)
    return ticks / NELPY_CLOCK, xy


def _tracked(times: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Frames where the rat is seen: not (0, 0), and not inside a run of one position held for ``NELPY_HELD`` s."""
    change = np.r_[True, np.any(np.diff(xy, axis=0) != 0, axis=1)]
    run = np.cumsum(change) - 1
    starts = np.flatnonzero(change)
    ends = np.r_[starts[1:], len(times)] - 1
    held = (times[ends] - times[starts])[run] >= NELPY_HELD
    return ~held & np.any(xy != 0, axis=1)


def _track_axis(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and first principal axis of ``xy``, the axis pointing toward larger camera x."""
    centre = xy.mean(axis=0)
    axis = np.linalg.svd(xy - centre, full_matrices=False)[2][0]
    return centre, axis if axis[0] >= 0 else -axis


def _running_direction(position: np.ndarray, bin_size: float) -> np.ndarray:
    """1 where the rat runs toward larger position, 0 toward smaller; while still, the last movement's."""
    velocity = np.gradient(gaussian_filter1d(position, NELPY_SMOOTH / bin_size)) / bin_size
    moving = np.abs(velocity) > NELPY_STILL
    if not moving.any():
        raise ValueError("the rat never moves faster than NELPY_STILL: no running direction.")
    last = np.maximum.accumulate(np.where(moving, np.arange(position.size), -1))
    last[last < 0] = np.flatnonzero(moving)[0]
    return (velocity[last] > 0).astype(np.float32)


def load_nelpy(data_dir: Path, quick: bool = False) -> Task:
    """nelpy's rat linear-track session: 31 units binned at 25 ms while the rat is on the track.

    Spike times (s) are read from ``spikes.mat`` (MatClust unit structs ``spikes{tetrode}{cell}.time``; the six
    structs without spikes are left out, leaving the 31 units). The tracking file (60 Hz, camera pixels; the
    second LED ``x2, y2`` is all zeros, and the header gives no pixel scale) is cleaned: frames that repeat a
    timestamp are dropped, and so are untracked frames, at ``(0, 0)`` or inside a run of one position held
    unchanged for 5 s or more (the tracker's placeholders: 26 s at ``(477, 479)`` before the rat appears, 997 s at
    ``(522, 8)`` after it is taken away; the rat itself never sits still longer than 2.4 s). The track lies
    diagonally in the image (at 37 degrees), so position is the projection on the first principal axis of the
    tracked ``(x, y)``, in pixels from the track's end at smaller x. The rat is on the track while it is within
    60 px of that axis (the axis is refitted on those frames); the session kept is the span from the first to the
    last frame on the track (about 4424-5378 s, 38147 bins; no frame inside it is untracked or off the track, and the
    longest gap between frames is 0.11 s), binned at 25 ms, with position linearly interpolated at the bin centres
    from the on-track frames. The running direction is the sign of the velocity of the position smoothed with a
    0.2 s Gaussian; below 30 px/s (runs peak at 100-150 px/s) the last direction is kept, so that fidgeting at the
    ends does not flip it. Behaviour ``[position, right, left]`` (right: toward larger position), target position
    (px). ``quick`` keeps the first 2000 bins.
    """
    folder = data_dir / "nelpy_linear_track"
    spikes_file = _require(folder / "spikes.mat")
    tracking_file = _require(folder / "trajectory.videoPositionTracking")
    mat = scipy.io.loadmat(spikes_file, squeeze_me=True, struct_as_record=False)
    units = [np.sort(np.atleast_1d(u.time).astype(np.float64)) for u in _mat_units(mat["spikes"])]
    units = [u for u in units if u.size]

    times, xy = _read_tracking(tracking_file)
    seen = _tracked(times, xy)
    on = seen
    for _ in range(2):  # fit the axis, keep the frames near it, refit on those
        centre, axis = _track_axis(xy[on])
        off_axis = np.abs((xy - centre) @ np.array([-axis[1], axis[0]]))
        on = seen & (off_axis <= NELPY_OFF_TRACK)
    if np.count_nonzero(on) < 2:
        raise ValueError(f"{tracking_file}: fewer than two tracked frames on the track.")
    along = (xy - centre) @ axis
    t_on, p_on = times[on], along[on] - along[on].min()

    n_bins = int(np.floor((t_on[-1] - t_on[0]) / NELPY_BIN_SIZE))
    cut = n_bins > NELPY_MAX_BINS
    n_bins = min(n_bins, NELPY_MAX_BINS, QUICK_SAMPLES if quick else n_bins)
    edges = t_on[0] + NELPY_BIN_SIZE * np.arange(n_bins + 1)
    neural = _bin_spikes(units, edges)
    position = np.interp(edges[:-1] + NELPY_BIN_SIZE / 2, t_on, p_on)
    right = _running_direction(position, NELPY_BIN_SIZE)
    behaviour = np.stack([position, right, 1.0 - right], axis=1).astype(np.float32)
    source = (
        f"nelpy linear track (rat, real), {len(units)} units, 25 ms bins over {edges[0]:.0f}-{edges[-1]:.0f} s "
        f"on the track{' (cut to the first bins)' if cut or quick else ''}; position along the track's "
        "principal axis in camera px (no calibration)"
    )
    return _contiguous(
        "nelpy", neural, behaviour, behaviour[:, 0].copy(), "continuous", "px", source
    )


# ---------------------------------------------------------------------------------------------------------------------
# synthetic recordings
# ---------------------------------------------------------------------------------------------------------------------
def load_linear_track(data_dir: Path, quick: bool = False) -> Task:
    """:func:`neuroembed.datasets.linear_track`: behaviour ``[position, right, left]``, position (m), latent."""
    rec = ne.datasets.linear_track(n_samples=QUICK_SAMPLES if quick else 10000, random_state=0)
    return _contiguous(
        "linear_track",
        rec.neural,
        rec.behaviour,
        rec.behaviour[:, 0].copy(),
        "continuous",
        "m",
        "linear_track(random_state=0) (synthetic place cells), 25 ms bins",
        rec.latent,
    )


def load_latent_manifold(data_dir: Path, quick: bool = False) -> Task:
    """:func:`neuroembed.datasets.latent_manifold`: behaviour and target the 1-D label in [0, 1], latent."""
    rec = ne.datasets.latent_manifold(n_samples=QUICK_SAMPLES if quick else 10000, random_state=0)
    return _contiguous(
        "latent_manifold",
        rec.neural,
        rec.behaviour,
        rec.behaviour[:, 0].copy(),
        "continuous",
        "",
        "latent_manifold(random_state=0) (synthetic, label in [0, 1])",
        rec.latent,
    )


def load_ring(data_dir: Path, quick: bool = False) -> Task:
    """``neuroembed.datasets.ring_manifold``: behaviour ``(cos, sin)`` of an angle, target the angle (rad).

    ``kind="circular"``: :func:`decode_error` regresses ``(cos, sin)`` of the angle and reports the median circular
    distance between the decoded and the true angle, in radians (at most pi).
    """
    ring_manifold = getattr(ne.datasets, "ring_manifold", None)
    if ring_manifold is None:
        raise MissingData("this neuroembed has no neuroembed.datasets.ring_manifold.")
    rec = ring_manifold(n_samples=QUICK_SAMPLES if quick else 10000, random_state=0)
    return _contiguous(
        "ring",
        rec.neural,
        rec.behaviour,
        np.asarray(rec.metadata["angle"], dtype=np.float32),
        "circular",
        "rad",
        "ring_manifold(random_state=0) (synthetic, angle on a ring; circular error)",
        rec.latent,
    )


TASKS: dict[str, Callable[[Path, bool], Task]] = {
    "rat": load_rat,
    "achilles": load_achilles,
    "bci": load_bci,
    "nelpy": load_nelpy,
    "linear_track": load_linear_track,
    "latent_manifold": load_latent_manifold,
    "ring": load_ring,
}


def _check_task(task: Task) -> Task:
    """Refuse a task whose blocks are misaligned, of the wrong type or not finite (a loader bug)."""
    if task.kind not in KINDS:
        raise ValueError(f"task {task.name!r} has kind {task.kind!r}; expected one of {KINDS}.")
    for block in ("train", "test"):
        arrays = {
            f"{field}_{block}": getattr(task, f"{field}_{block}")
            for field in ("neural", "behaviour", "target", "latent")
        }
        rows = {name: a.shape[0] for name, a in arrays.items() if a is not None}
        if len(set(rows.values())) != 1:
            raise ValueError(f"task {task.name!r}: the {block} arrays have different rows: {rows}.")
        for name, a in arrays.items():
            if a is not None and not np.all(np.isfinite(a)):
                raise ValueError(f"task {task.name!r}: {name} holds NaN or infinite values.")
    if task.neural_train.dtype != np.float32 or task.neural_train.ndim != 2:
        raise ValueError(f"task {task.name!r}: neural data must be float32 (n_samples, n_neurons).")
    return task


def load_task(name: str, data_dir: str | Path = DEFAULT_DATA_DIR, *, quick: bool = False) -> Task:
    """The benchmark task called ``name``, split into its training and test blocks.

    Parameters
    ----------
    name : str
        A key of :data:`TASKS`.
    data_dir : path-like, default ``../shared/data`` beside the checkout
        Folder holding the real recordings (unused by the synthetic tasks).
    quick : bool, default=False
        Smoke-test size: the first 2000 bins of a recording, or 2000 synthetic samples (``bci`` is left whole).

    Raises
    ------
    MissingData
        If a file (or generator) the task needs is absent; the message says which.
    ValueError
        If ``name`` is not a task.
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {list(TASKS)}.")
    return _check_task(TASKS[name](Path(data_dir), quick))


def decode_error(task: Task, embedding_train: Any, embedding_test: Any) -> float:
    """kNN decoding error of ``task``'s target from an embedding of its training and test blocks.

    The decoder is quality.py's (cosine distance, 16 neighbours, uniform weights), fitted on
    ``embedding_train`` and scored on ``embedding_test``: for ``continuous`` the median absolute error, for
    ``discrete`` the misclassification rate, for ``circular`` the median circular distance
    ``|angle(exp(i (decoded - true)))|`` with the angle decoded as ``(cos, sin)`` by the kNN regressor.
    """
    train = np.asarray(embedding_train, dtype=np.float64)
    test = np.asarray(embedding_test, dtype=np.float64)
    for name, emb, rows in (("train", train, task.n_train), ("test", test, task.n_test)):
        if emb.ndim != 2 or emb.shape[0] != rows:
            raise ValueError(
                f"embedding_{name} has shape {emb.shape}; expected ({rows}, n_dims) for task {task.name!r}."
            )
    if task.kind == "discrete":
        knn = KNeighborsClassifier(n_neighbors=N_NEIGHBORS, metric=METRIC)
        return float(1.0 - knn.fit(train, task.target_train).score(test, task.target_test))
    regressor = KNeighborsRegressor(n_neighbors=N_NEIGHBORS, metric=METRIC)
    if task.kind == "circular":
        ring = np.stack([np.cos(task.target_train), np.sin(task.target_train)], axis=1)
        cos_sin = regressor.fit(train, ring).predict(test)
        decoded = np.arctan2(cos_sin[:, 1], cos_sin[:, 0])
        return float(np.median(np.abs(np.angle(np.exp(1j * (decoded - task.target_test))))))
    decoded = regressor.fit(train, task.target_train).predict(test)
    return float(np.median(np.abs(decoded - task.target_test)))

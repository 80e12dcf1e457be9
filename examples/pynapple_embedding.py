"""pynapple in, pynapple out: spike times, tracking with gaps and running epochs; fit, transform, decode, plot.

Run it as a script::

    python examples/pynapple_embedding.py                      # a simulated session, 10000 bins of 25 ms
    python examples/pynapple_embedding.py --quick              # small settings, under a minute on a CPU
    NEUROEMBED_QUICK=1 python examples/pynapple_embedding.py
    python examples/pynapple_embedding.py --nwb my_session.nwb    # also embed the units of your own file

Needs pynapple: ``pip install "neuroembed[pynapple]"``.

Steps: simulate a rat on a linear track (:func:`neuroembed.datasets.linear_track`) as a pynapple session would
hold it: a ``TsGroup`` of the place cells' spike times, the position tracked at 120 Hz as a ``Tsd`` with
stretches where the tracking was lost (NaN), and the running epochs as an ``IntervalSet``. Hold out the last
20 % of the session, fit an :class:`~neuroembed.Estimator` on the running epochs before it (spikes counted in
``bin_size`` bins, the 120 Hz position averaged onto them, bins without tracking left out with
``behaviour_nan="drop"``), embed the whole session as a ``TsdFrame``, decode the position on the held-out
running epochs with ``test=`` an ``IntervalSet``, and draw two figures:

* ``pynapple_session.png``: tracked position (gaps where it was lost), running epochs, held-out block, and the
  position decoded from the embedding there;
* ``pynapple_embedding.png``: the embedding of the running bins, coloured by position.

Then, when an NWB file with a units table is found (``--nwb``, or pynapple's test recording
``../shared/data/pynapple_tests/A8604-211122.nwb`` beside the repository), its units are read with
``nap.load_file``, embedded with ``conditional="time"`` (no behaviour), the embedding written to an NWB sidecar
file in ``--out`` with :func:`neuroembed.io.write_embedding` and read back with ``nap.load_file``
(``pynapple_nwb_units.png``). Without a file, that part is skipped with the reason.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import neuroembed as ne  # noqa: E402

try:
    import pynapple as nap  # noqa: E402
except ImportError as err:  # an optional extra: say which one
    raise SystemExit(
        f'this example needs pynapple ({err}); install it with: pip install "neuroembed[pynapple]"'
    ) from None

BIN_SIZE = 0.025  # seconds
FPS = 120.0  # tracking frames per second
TEST_FRACTION = 0.2
#: pynapple's test recording (MIT licence), where the repository sits beside a shared/ folder
TEST_NWB = Path(__file__).resolve().parents[2] / "shared/data/pynapple_tests/A8604-211122.nwb"


def quick_mode(flag: bool) -> bool:
    """``--quick`` or a non-empty ``NEUROEMBED_QUICK`` other than ``0`` selects the small settings."""
    return flag or os.environ.get("NEUROEMBED_QUICK", "0") not in ("", "0")


def simulated_session(
    n_samples: int, n_neurons: int, seed: int
) -> tuple[nap.TsGroup, nap.Tsd, nap.IntervalSet]:
    """Spike times (``TsGroup``), position at 120 Hz with lost tracking (``Tsd``), running epochs (``IntervalSet``)."""
    rec = ne.datasets.linear_track(n_samples, n_neurons, bin_size=BIN_SIZE, random_state=seed)
    rng = np.random.default_rng(seed)
    end = rec.timestamps[-1] + BIN_SIZE
    spikes = {}
    for unit, counts in enumerate(rec.neural.T.astype(int)):  # counted spikes: at random in the bin
        t = np.repeat(rec.timestamps, counts) + rng.uniform(0, BIN_SIZE, counts.sum())
        spikes[unit] = nap.Ts(np.sort(t))
    units = nap.TsGroup(spikes, time_support=nap.IntervalSet(0.0, end))

    frames = np.arange(0.0, end, 1 / FPS)
    x = np.interp(frames, rec.timestamps, rec.behaviour[:, 0]) + rng.normal(0, 0.002, frames.size)
    n_lost = max(2, int(end / 40))  # one stretch of lost tracking per 40 s, 0.5 to 2 s long
    for start, length in zip(rng.uniform(0, end - 2, n_lost), rng.uniform(0.5, 2.0, n_lost)):
        x[(frames >= start) & (frames < start + length)] = np.nan
    position = nap.Tsd(t=frames, d=x, time_units="s")

    speed = nap.Tsd(t=rec.timestamps, d=np.abs(np.gradient(rec.behaviour[:, 0], rec.timestamps)))
    run = speed.threshold(0.05).time_support.drop_short_intervals(0.5)  # > 5 cm/s for 0.5 s or more
    return units, position, run


def embed_nwb_units(path: Path, out: Path, quick: bool, seed: int) -> None:
    """Embed the units of an NWB file without behaviour; write the embedding back (a sidecar) and read it."""
    data = nap.load_file(str(path))
    try:
        if "units" not in data.keys():
            print(f"{path}: no units table (keys {list(data.keys())}); skipped")
            return
        units = data["units"]
        _embed_units(units, path, out, quick, seed)
    finally:
        data.close()  # nap.load_file keeps the file open until closed


def _embed_units(units: nap.TsGroup, path: Path, out: Path, quick: bool, seed: int) -> None:
    """Fit on ``units``, write the embedding to a sidecar NWB file, read it back and draw it."""
    bin_size = 0.1
    print(f"{path.name}: {len(units)} units, {units.time_support.tot_length():.0f} s")
    est = ne.Estimator(
        conditional="time",
        output_dimension=3,
        bin_size=bin_size,  # 100 ms bins: these units fire a few spikes per second
        batch_size=128 if quick else 512,
        max_iterations=100 if quick else 2000,
        random_state=seed,
    )
    t0 = time.perf_counter()
    est.fit(units)
    embedding = est.transform(units)  # TsdFrame on the 100 ms bins
    print(f"  fit and transform: {est.n_iter_} iterations in {time.perf_counter() - t0:.1f} s")
    sidecar = out / f"{path.stem}.neuroembed.nwb"
    if sidecar.exists():
        sidecar.unlink()  # a rerun writes it afresh
    where = ne.io.write_embedding(
        path, embedding.values, embedding.t, settings=est.get_params(), sidecar_path=sidecar
    )
    written = nap.load_file(str(where))
    try:
        back = written["embedding"]
        print(
            f"  embedding written to {where} and read back with nap.load_file: {type(back).__name__} "
            f"{back.shape}, same values: {np.allclose(back.values, embedding.values)}"
        )
    finally:
        written.close()

    counts = units.count(bin_size)
    shown = nap.IntervalSet(embedding.t[0], embedding.t[0] + 120.0)  # the first two minutes
    fig, axes = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    rates = counts.restrict(shown)
    axes[0].imshow(
        rates.values.T / bin_size,
        aspect="auto",
        interpolation="nearest",
        extent=(rates.t[0], rates.t[-1], len(units) - 0.5, -0.5),
        cmap="Greys",
    )
    axes[0].set_yticks(range(len(units)), [str(u) for u in units.keys()])
    axes[0].set_ylabel("unit")
    axes[0].set_title(f"{path.name}: spikes per s, and the embedding (conditional='time')")
    emb = embedding.restrict(shown)
    for j in range(emb.shape[1]):
        axes[1].plot(emb.t, emb.values[:, j], lw=0.8, label=emb.columns[j])
    axes[1].set_ylabel("embedding")
    axes[1].set_xlabel("time (s)")
    axes[1].legend(loc="upper right", fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(out / "pynapple_nwb_units.png", dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small settings (also NEUROEMBED_QUICK=1)"
    )
    parser.add_argument("--out", default="pynapple-output", help="folder for files and figures")
    parser.add_argument("--iterations", type=int, help="training steps (default 2000; 300 quick)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--nwb", type=Path, help="an NWB file with a units table to embed too (read by pynapple)"
    )
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. a pynapple session: spike times, position at 120 Hz with lost tracking, running epochs
    n_samples, n_neurons = (4000, 50) if quick else (10000, 100)
    units, position, run = simulated_session(n_samples, n_neurons, args.seed)
    lost = float(np.isnan(position.values).mean())
    print(
        f"session: {len(units)} units over {units.time_support.tot_length():.0f} s; position at {FPS:g} Hz, "
        f"tracking lost in {100 * lost:.1f} % of the frames; {len(run)} running epochs "
        f"({run.tot_length():.0f} s)"
    )

    # 2. hold out the last 20 % of the session; fit on the running epochs before it
    start, end = units.time_support.start[0], units.time_support.end[-1]
    test = nap.IntervalSet(start=end - TEST_FRACTION * (end - start), end=end)
    train = run.set_diff(test)
    est = ne.Estimator(
        output_dimension=3,
        bin_size=BIN_SIZE,  # the TsGroup is counted in 25 ms bins
        behaviour_nan="drop",  # bins without tracking are never drawn
        batch_size=128 if quick else 512,
        max_iterations=args.iterations or (300 if quick else 2000),
        random_state=args.seed,
    )
    t0 = time.perf_counter()
    est.fit(units, position, epochs=train)
    print(f"fit: {est.n_iter_} iterations in {time.perf_counter() - t0:.1f} s")

    # 3. embed the whole session: a TsdFrame on the 25 ms bins
    embedding = est.transform(units)
    print(
        f"transform: {type(embedding).__name__} {embedding.shape}, columns {list(embedding.columns)}"
    )

    # 4. decode the position on the held-out running bins, from the embedding and from the spike counts
    running = embedding.restrict(run)
    on_run = position.restrict(run)  # aligned to the bins inside the epochs, as in fit
    scores = ne.metrics.decode(running, on_run, test=test, behaviour_nan="drop", method="knn")
    raw = ne.metrics.decode(
        units.count(BIN_SIZE).restrict(run), on_run, test=test, behaviour_nan="drop", method="knn"
    )
    print(
        f"kNN decoding of the position on {scores['n_test']} held-out running bins: median error "
        f"{100 * scores['knn_median_error']:.1f} cm from the embedding, "
        f"{100 * raw['knn_median_error']:.1f} cm from the spike counts (track 160 cm)"
    )

    # 5. figures
    true_on_bins = ne.io.align_behaviour(on_run, running)  # what decode compared against
    held_out = ne.io.align_behaviour(on_run, running.restrict(test))
    predicted = _knn_prediction(running, true_on_bins, test)
    fig, axes = plt.subplots(2, 1, figsize=(8, 5))
    ax = axes[0]
    for s, e in run.values:
        ax.axvspan(s, e, color="tab:green", alpha=0.12, lw=0)
    ax.axvspan(test.start[0], test.end[0], color="tab:orange", alpha=0.15, lw=0)
    ax.plot(position.t, position.values, lw=0.6, color="k")
    ax.set_ylabel("position (m)")
    ax.set_title(
        "tracked position (120 Hz, gaps: lost), running epochs (green), held-out block (orange)"
    )
    ax = axes[1]
    t_test = running.restrict(test).t
    keep = t_test < test.start[0] + 40.0  # the first 40 s of the block
    ax.plot(t_test[keep], held_out[keep], ".", ms=2, color="k", label="tracked (bin means)")
    ax.plot(t_test[keep], predicted[keep], ".", ms=2, color="tab:orange", label="decoded (kNN)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("position (m)")
    ax.set_title(f"held-out running bins: median error {100 * scores['knn_median_error']:.1f} cm")
    ax.legend(loc="upper right", fontsize=7, markerscale=4)
    fig.tight_layout()
    fig.savefig(out / "pynapple_session.png", dpi=80)
    plt.close(fig)

    from neuroembed.plotting import plot_embedding

    fig = plt.figure(figsize=(6, 4.5))
    ax = fig.add_subplot(projection="3d")
    plot_embedding(
        running.values, color=true_on_bins, ax=ax, title="running bins, coloured by position", s=2
    )
    fig.savefig(out / "pynapple_embedding.png", dpi=80)
    plt.close(fig)
    print(f"figures: {out / 'pynapple_session.png'}, {out / 'pynapple_embedding.png'}")

    # 6. a real NWB file's units, without behaviour
    path = args.nwb if args.nwb is not None else TEST_NWB.resolve()
    if path.is_file():
        embed_nwb_units(path, out, quick, args.seed)
    else:
        print(
            f"no NWB file to embed: {path} does not exist (pass --nwb FILE); that part is skipped"
        )


def _knn_prediction(
    embedding: nap.TsdFrame, position: np.ndarray, test: nap.IntervalSet
) -> np.ndarray:
    """The kNN decoder's prediction on the held-out rows, as ``ne.metrics.decode`` trains it (for the figure)."""
    from sklearn.neighbors import KNeighborsRegressor

    held = np.isin(embedding.t, embedding.restrict(test).t)
    known = ~np.isnan(position)
    knn = KNeighborsRegressor(n_neighbors=16, metric="cosine")  # decode's defaults
    knn.fit(embedding.values[~held & known], position[~held & known])
    return knn.predict(embedding.values[held])


if __name__ == "__main__":
    main()

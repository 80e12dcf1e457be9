"""Embed a folder of NWB recordings in one go, on a Dask cluster, and read the results back.

Run it as a script::

    python examples/nwb_batch.py                       # makes 4 synthetic NWB sessions, embeds them
    python examples/nwb_batch.py --quick               # small sessions, few steps (also NEUROEMBED_QUICK=1)
    python examples/nwb_batch.py 'recordings/*.nwb'    # your own files
    python examples/nwb_batch.py 'recordings/*.nwb' --scheduler tcp://10.0.0.5:8786

The same from the shell: ``neuroembed batch 'recordings/*.nwb' --out results/ --workers 2``.

Without ``--scheduler`` a LocalCluster with ``--workers`` processes runs the batch. On a SLURM cluster,
start the workers with dask-jobqueue and hand the client over instead::

    from dask.distributed import Client
    from dask_jobqueue import SLURMCluster

    cluster = SLURMCluster(cores=4, processes=1, memory="16GB", walltime="02:00:00")
    cluster.scale(jobs=10)
    with Client(cluster) as client:
        summary = embed_files(pattern, params, out_dir, client=client)

Running the script again skips the sessions already embedded (delete ``--out`` or pass ``--redo`` to
recompute). A corrupt file is reported in the summary and does not stop the others: the demo adds one.
"""

from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path

import numpy as np

from neuroembed.batch import embed_files
from neuroembed.datasets import linear_track
from neuroembed.io import read_hdf5, read_nwb


def write_session(path: Path, seed: int, n_samples: int = 6000, n_neurons: int = 40) -> None:
    """A synthetic linear-track session as an NWB file: a units table (spike times) and the position."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.behavior import Position

    rec = linear_track(n_samples, n_neurons, random_state=seed)
    bin_size = rec.metadata["bin_size"]
    rng = np.random.default_rng(seed)
    nwb = NWBFile(
        session_description=f"synthetic linear track, seed {seed}",
        identifier=f"linear-track-{seed}",
        session_start_time=datetime.datetime(2024, 1, 1 + seed, tzinfo=datetime.timezone.utc),
    )
    counts = rec.neural.astype(np.int64)
    for j in range(n_neurons):  # each spike at a uniform random time inside its bin
        bins = np.repeat(np.arange(n_samples), counts[:, j])
        nwb.add_unit(spike_times=np.sort((bins + rng.random(bins.size)) * bin_size))
    position = Position(name="Position")
    position.create_spatial_series(
        name="track_position",
        data=rec.behaviour[:, :1],
        timestamps=rec.timestamps + bin_size / 2,
        reference_frame="left end of the track",
        unit="meters",
    )
    nwb.create_processing_module(name="behavior", description="position on the track").add(position)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "pattern", nargs="?", help="files to embed (default: make synthetic sessions)"
    )
    parser.add_argument("--out", default="nwb-batch-results", help="output folder")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler")
    parser.add_argument("--iterations", type=int, default=300, help="training steps per file")
    parser.add_argument("--redo", action="store_true", help="recompute files already done")
    parser.add_argument(
        "--quick", action="store_true", help="small sessions and 50 steps (also NEUROEMBED_QUICK=1)"
    )
    args = parser.parse_args()
    quick = args.quick or os.environ.get("NEUROEMBED_QUICK", "0") not in ("", "0")
    n_samples, iterations = (1500, 50) if quick else (6000, args.iterations)

    out = Path(args.out)
    pattern = args.pattern
    if pattern is None:
        folder = out / "recordings"
        folder.mkdir(parents=True, exist_ok=True)
        for seed in range(4):
            path = folder / f"session_{seed}.nwb"
            if not path.exists():
                write_session(path, seed, n_samples=n_samples)
        broken = folder / "session_broken.nwb"
        if not broken.exists():
            broken.write_bytes(b"this is not an NWB file")
        pattern = str(folder / "*.nwb")
        print(f"wrote synthetic sessions to {folder}")

    params = {
        "model": "offset10",
        "output_dimension": 8,
        "max_iterations": iterations,
        "batch_size": 256,
    }
    summary = embed_files(
        pattern,
        params,
        out,
        n_workers=args.workers,
        scheduler=args.scheduler,
        redo=args.redo,
        read_kwargs={"bin_size": 0.025},
    )
    columns = [
        "path",
        "status",
        "n_samples",
        "n_neurons",
        "fit_seconds",
        "final_loss",
        "knn_median_error",
    ]
    shown = summary[columns].assign(path=[Path(p).name for p in summary["path"]])
    print(shown.to_string(index=False))
    for row in summary.itertuples():
        if row.status == "failed":
            print(f"failed: {Path(row.path).name}: {row.error}")
    print(f"summary table: {out / 'summary.csv'}")

    done = summary[summary["status"].isin(["ok", "skipped"])]
    if len(done):
        first = done.iloc[0]
        embedding = read_hdf5(first["output"], neural="embedding", timestamps="timestamps")
        source = read_nwb(first["path"], bin_size=0.025)
        print(
            f"{Path(first['output']).name}: embedding {embedding.neural.shape}, aligned with the "
            f"{source.behaviour.shape[1]}-D position of {Path(first['path']).name} "
            f"({np.allclose(embedding.timestamps, source.timestamps)})"
        )


if __name__ == "__main__":
    main()

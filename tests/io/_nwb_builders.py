"""NWB files built with pynwb for the io tests: units + position, calcium + trials."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

START = datetime.datetime(2024, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _nwbfile(identifier: str):
    from pynwb import NWBFile

    return NWBFile(
        session_description="neuroembed test", identifier=identifier, session_start_time=START
    )


def write_units_position(
    path: Path, seed: int = 0, duration: float = 20.0, n_units: int = 4
) -> dict:
    """Units with random spike times + a Position/SpatialSeries at 50 Hz; returns what was written."""
    from pynwb import NWBHDF5IO
    from pynwb.behavior import Position

    rng = np.random.default_rng(seed)
    nwb = _nwbfile(f"units-{seed}")
    spikes = []
    for unit in range(n_units):
        times = np.sort(rng.uniform(0.0, duration, size=int(rng.integers(50, 200))))
        spikes.append(times)
        nwb.add_unit(spike_times=times, id=10 + unit)
    t = np.arange(0.0, duration, 0.02)
    xy = np.stack([np.sin(t), np.cos(0.5 * t)], axis=1)
    position = Position(name="Position")
    position.create_spatial_series(
        name="pos", data=xy, timestamps=t, reference_frame="arena centre", unit="meters"
    )
    module = nwb.create_processing_module(name="behavior", description="behaviour")
    module.add(position)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return {"spikes": spikes, "t": t, "xy": xy, "ids": list(range(10, 10 + n_units))}


def write_calcium_trials(
    path: Path, seed: int = 0, n_frames: int = 300, n_rois: int = 5, rate: float = 10.0
) -> dict:
    """A RoiResponseSeries (rate-based) in processing/ophys/Fluorescence + a trials table with a 'side' column."""
    from pynwb import NWBHDF5IO
    from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel

    rng = np.random.default_rng(seed)
    nwb = _nwbfile(f"calcium-{seed}")
    device = nwb.create_device(name="microscope")
    channel = OpticalChannel(name="green", description="green", emission_lambda=520.0)
    plane = nwb.create_imaging_plane(
        name="plane",
        optical_channel=channel,
        imaging_rate=rate,
        description="plane",
        device=device,
        excitation_lambda=920.0,
        indicator="GCaMP6f",
        location="CA1",
    )
    segmentation = ImageSegmentation()
    seg = segmentation.create_plane_segmentation(
        name="rois", description="rois", imaging_plane=plane
    )
    for k in range(n_rois):
        mask = np.zeros((4, 4))
        mask[k % 4, k // 4] = 1.0
        seg.add_roi(image_mask=mask, id=100 + k)
    module = nwb.create_processing_module(name="ophys", description="ophys")
    module.add(segmentation)
    traces = rng.normal(size=(n_frames, n_rois)).astype(np.float32)
    region = seg.create_roi_table_region(region=list(range(n_rois)), description="all rois")
    fluorescence = Fluorescence(name="Fluorescence")
    module.add(fluorescence)
    fluorescence.create_roi_response_series(
        name="RoiResponseSeries",
        data=traces,
        rois=region,
        unit="lumens",
        rate=rate,
        starting_time=1.0,
    )
    nwb.add_trial_column(name="side", description="which side")
    trials = [(2.0, 6.0, "left"), (8.0, 12.0, "right"), (14.0, 18.0, "left"), (20.0, 25.0, "right")]
    for start, stop, side in trials:
        nwb.add_trial(start_time=start, stop_time=stop, side=side)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return {
        "traces": traces,
        "t": 1.0 + np.arange(n_frames) / rate,
        "trials": trials,
        "roi_ids": list(range(100, 100 + n_rois)),
    }

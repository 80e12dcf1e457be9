"""neuroembed.batch: many files on a real Dask LocalCluster, failures, resuming, the summary table."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from neuroembed.batch import (
    OUTPUT_SUFFIX,
    SUMMARY_COLUMNS,
    _output_stems,
    embed_files,
    read_recording,
)
from neuroembed.io import read_hdf5, read_nwb

TINY = {
    "model": "offset1",
    "output_dimension": 3,
    "batch_size": 32,
    "max_iterations": 10,
    "time_offset": 1,
    "device": "cpu",
    "random_state": 0,
}


def write_units_position_nwb(
    path: Path, seed: int = 0, duration: float = 12.0, n_units: int = 5, trials: bool = False
) -> None:
    """A small NWB file: units whose rates follow a position on a track, and that position (50 Hz).

    With ``trials``, a trials table of 2 s trials alternating between sides "out" and "back".
    """
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.behavior import Position

    rng = np.random.default_rng(seed)
    nwb = NWBFile(
        session_description="batch test",
        identifier=f"batch-{seed}",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    )
    t = np.arange(0.0, duration, 0.02)
    x = 0.5 + 0.5 * np.sin(2 * np.pi * t / 4.0)
    centres = np.linspace(0, 1, n_units)
    for unit in range(n_units):
        rate = 2.0 + 40.0 * np.exp(-((x - centres[unit]) ** 2) / 0.02)
        spikes = t[rng.random(t.size) < rate * 0.02] + rng.uniform(0, 0.02)
        nwb.add_unit(spike_times=np.sort(spikes))
    position = Position(name="Position")
    position.create_spatial_series(
        name="x", data=x[:, None], timestamps=t, reference_frame="track start", unit="m"
    )
    nwb.create_processing_module(name="behavior", description="behaviour").add(position)
    if trials:
        nwb.add_trial_column(name="side", description="direction of the run")
        for k, start in enumerate(np.arange(0.0, duration, 2.0)):
            nwb.add_trial(start_time=start, stop_time=start + 2.0, side=["out", "back"][k % 2])
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


@pytest.fixture
def recordings(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "recordings"
    folder.mkdir()
    paths = [folder / "rec_a.nwb", folder / "rec_b.nwb", folder / "rec_c_corrupt.nwb"]
    write_units_position_nwb(paths[0], seed=1)
    write_units_position_nwb(paths[1], seed=2)
    paths[2].write_bytes(np.random.default_rng(0).bytes(4096))  # garbage with an .nwb name
    return paths


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_batch_on_local_cluster_reports_failure_and_resumes(
    recordings: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "results"
    summary = embed_files(
        str(recordings[0].parent / "*.nwb"), TINY, out, n_workers=2, progress=False
    )

    assert list(summary.columns) == SUMMARY_COLUMNS
    assert summary["path"].tolist() == [str(p) for p in recordings]
    assert summary["status"].tolist() == ["ok", "ok", "failed"]
    assert summary["error"].iloc[:2].isna().all()
    error = summary["error"].iloc[2]
    assert "rec_c_corrupt.nwb" in error and "not an NWB file" in error
    for path, row in zip(recordings[:2], summary.itertuples()):
        rec = read_nwb(path)
        assert row.n_samples == rec.n_samples and row.n_neurons == rec.n_neurons == 5
        assert (
            row.behaviour_dims == 1
            and row.output_dimension == 3
            and row.conditional == "time_delta"
        )
        assert (
            np.isfinite(row.final_loss)
            and row.fit_seconds > 0
            and np.isfinite(row.knn_median_error)
            and np.isfinite(row.goodness_of_fit_bits)
        )
        written = read_hdf5(row.output, neural="embedding", timestamps="timestamps")
        assert written.neural.shape == (rec.n_samples, 3)
        np.testing.assert_array_equal(written.timestamps, rec.timestamps)
        with h5py.File(row.output, "r") as f:
            assert json.loads(f.attrs["settings"])["max_iterations"] == 10
    assert sorted(p.name for p in out.glob(f"*{OUTPUT_SUFFIX}")) == [
        "rec_a.embedding.h5",
        "rec_b.embedding.h5",
    ]
    assert not list(out.glob(".*.tmp"))  # no temporary leftovers
    on_disk = pd.read_csv(out / "summary.csv")
    assert on_disk["status"].tolist() == ["ok", "ok", "failed"]
    assert on_disk["error"].iloc[2] == error

    # running it again redoes nothing: finished files are skipped, the unchanged corrupt file is not retried
    mtimes = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    again = embed_files([str(p) for p in recordings], TINY, out, n_workers=2, progress=False)
    assert again["status"].tolist() == ["skipped", "skipped", "failed"]
    assert again["previous_run"].tolist() == [True, True, True]
    assert again["error"].iloc[2] == error
    pd.testing.assert_series_equal(again["final_loss"], summary["final_loss"])
    assert {p: p.stat().st_mtime_ns for p in out.iterdir() if p.name != "summary.csv"} == {
        p: m for p, m in mtimes.items() if p.name != "summary.csv"
    }


@pytest.mark.timeout(120)
def test_existing_scheduler_address(tmp_path: Path) -> None:
    """A scheduler started elsewhere (here: in this process) is used through its address and left running."""
    from distributed import Client, LocalCluster

    path = tmp_path / "one.nwb"
    write_units_position_nwb(path, seed=5)
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        summary = embed_files(
            [path], TINY, tmp_path / "out", scheduler=cluster.scheduler_address, progress=False
        )
        assert summary["status"].tolist() == ["ok"]
        with Client(cluster) as client:  # the cluster still serves after the batch
            assert client.submit(sum, [1, 2]).result() == 3
            again = embed_files([path], TINY, tmp_path / "out", client=client, redo=True)
            assert again["status"].tolist() == ["ok"] and client.status != "closed"


def test_rerun_without_cluster_when_everything_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files already done never reach Dask: the second run would fail if it tried to start a cluster."""
    import neuroembed.batch as batch

    path = tmp_path / "one.nwb"
    write_units_position_nwb(path, seed=3)
    calls = []

    def run_inline(jobs, rows, *args):  # the per-file task, in this process
        calls.append(len(jobs))
        for job in jobs:
            rows[job["path"]] = batch._embed_one(job)

    monkeypatch.setattr(batch, "_run", run_inline)
    first = embed_files([path], TINY, tmp_path / "out", progress=False)
    assert first["status"].tolist() == ["ok"] and calls == [1]
    second = embed_files([path], TINY, tmp_path / "out", progress=False)
    assert second["status"].tolist() == ["skipped"] and calls == [1]
    # other settings, a changed source or redo=True compute again
    third = embed_files([path], {**TINY, "output_dimension": 2}, tmp_path / "out", progress=False)
    assert (
        third["status"].tolist() == ["ok"]
        and third["output_dimension"].tolist() == [2]
        and calls == [1, 1]
    )
    fourth = embed_files(
        [path], {**TINY, "output_dimension": 2}, tmp_path / "out", redo=True, progress=False
    )
    assert fourth["status"].tolist() == ["ok"] and calls == [1, 1, 1]


def test_shared_model_is_applied_to_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import neuroembed.batch as batch
    from neuroembed.estimator import Estimator

    paths = [tmp_path / "a.nwb", tmp_path / "b.nwb"]
    for seed, path in enumerate(paths):
        write_units_position_nwb(path, seed=seed)
    rec = read_nwb(paths[0])
    estimator = Estimator(**TINY).fit(rec.neural, rec.behaviour)
    estimator.save(tmp_path / "model.pt")
    monkeypatch.setattr(
        batch,
        "_run",
        lambda jobs, rows, *a: rows.update({j["path"]: batch._embed_one(j) for j in jobs}),
    )
    summary = embed_files(
        paths, out_dir=tmp_path / "out", model=tmp_path / "model.pt", progress=False
    )
    assert summary["status"].tolist() == ["ok", "ok"]
    assert summary["fit_seconds"].tolist() == [0.0, 0.0]
    written = read_hdf5(summary["output"].iloc[0], neural="embedding")
    np.testing.assert_allclose(
        written.neural, estimator.transform(rec.neural), rtol=1e-5, atol=1e-6
    )


def test_labels_and_behaviour_are_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import neuroembed.batch as batch
    from neuroembed.metrics import decode

    monkeypatch.setattr(
        batch,
        "_run",
        lambda jobs, rows, *a: rows.update({j["path"]: batch._embed_one(j) for j in jobs}),
    )
    path = tmp_path / "trials.nwb"
    write_units_position_nwb(path, seed=4, trials=True)
    summary = embed_files(
        [path], TINY, tmp_path / "out", read_kwargs={"labels": "trials/side"}, progress=False
    )
    row = summary.iloc[0]
    assert row["status"] == "ok" and pd.isna(row["error"]) and row["n_label_classes"] == 2
    rec = read_nwb(path, labels="trials/side")
    Z = read_hdf5(row["output"], neural="embedding").neural
    expected = decode(Z, rec.labels, method="knn", discrete=True)["knn_accuracy"]
    assert row["knn_accuracy"] == pytest.approx(expected)
    expected = decode(Z, rec.behaviour, method="knn")
    assert row["knn_r2"] == pytest.approx(expected["knn_r2"])
    assert row["knn_median_error"] == pytest.approx(expected["knn_median_error"])


def test_failures_are_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import neuroembed.batch as batch

    monkeypatch.setattr(
        batch,
        "_run",
        lambda jobs, rows, *a: rows.update({j["path"]: batch._embed_one(j) for j in jobs}),
    )
    short = tmp_path / "short.nwb"
    write_units_position_nwb(short, seed=0, duration=0.03)  # shorter than one bin
    missing = tmp_path / "missing.nwb"
    summary = embed_files([short, missing], TINY, tmp_path / "out", progress=False)
    assert summary["status"].tolist() == ["failed", "failed"]
    assert "shorter than one bin" in summary["error"].iloc[0]
    assert summary["error"].iloc[1].startswith("FileNotFoundError")
    # labels asked for by the conditional but absent from the file
    other = tmp_path / "ok.nwb"
    write_units_position_nwb(other, seed=1)
    summary = embed_files(
        [other], {**TINY, "conditional": "discrete"}, tmp_path / "out2", progress=False
    )
    assert "conditional='discrete' needs labels" in summary["error"].iloc[0]


def test_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="matches no file"):
        embed_files(str(tmp_path / "*.nwb"), TINY, tmp_path / "out")
    with pytest.raises(ValueError, match="unknown settings"):
        embed_files([tmp_path / "x.nwb"], {"max_iteration": 3}, tmp_path / "out")
    with pytest.raises(ValueError, match="either client= or scheduler="):
        embed_files(
            [tmp_path / "x.nwb"], TINY, tmp_path / "out", client=object(), scheduler="tcp://x:1"
        )
    with pytest.raises(TypeError, match="n_workers"):
        embed_files([tmp_path / "x.nwb"], TINY, tmp_path / "out", n_workers=1.5)
    with pytest.raises(FileNotFoundError, match="model file"):
        embed_files([tmp_path / "x.nwb"], out_dir=tmp_path / "out", model=tmp_path / "nope.pt")


def test_missing_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    import neuroembed.batch as batch

    real_import = builtins.__import__

    def no_distributed(name, *args, **kwargs):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError("No module named 'distributed'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(ImportError, match=r"neuroembed\[batch\]"):
        batch._import_distributed()


def _inline(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Run each batch's tasks in this process; returns the list of the n_workers each batch asked for."""
    import neuroembed.batch as batch

    workers: list[int] = []

    def run_inline(jobs, rows, client, scheduler, n_workers, progress):
        workers.append(n_workers)
        rows.update({j["path"]: batch._embed_one(j) for j in jobs})

    monkeypatch.setattr(batch, "_run", run_inline)
    return workers


def test_a_file_of_the_same_stem_elsewhere_is_neither_skipped_nor_written_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    _inline(monkeypatch)
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    first, second = tmp_path / "A" / "rec.nwb", tmp_path / "B" / "rec.nwb"
    write_units_position_nwb(first, seed=1)
    shutil.copy2(first, second)  # same size and modification time, another file
    out = tmp_path / "out"
    done = embed_files([first], TINY, out, progress=False)
    before = (out / "rec.embedding.h5").stat().st_mtime_ns
    other = embed_files([second], TINY, out, progress=False)
    assert other["status"].tolist() == ["ok"] and other["previous_run"].tolist() == [False]
    assert other["output"].iloc[0] != done["output"].iloc[0]
    assert (
        out / "rec.embedding.h5"
    ).stat().st_mtime_ns == before  # the first file's output is kept
    with h5py.File(other["output"].iloc[0], "r") as f:
        assert f.attrs["source"] == str(second)
    # each is recognised as done by the next run
    again = embed_files([first], TINY, out, progress=False)
    assert (
        again["status"].tolist() == ["skipped"]
        and again["output"].tolist() == done["output"].tolist()
    )


def test_save_models_on_a_rerun_fits_the_files_done_without_their_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _inline(monkeypatch)
    path = tmp_path / "one.nwb"
    write_units_position_nwb(path, seed=3)
    out = tmp_path / "out"
    embed_files([path], TINY, out, progress=False)
    summary = embed_files([path], TINY, out, save_models=True, progress=False)
    assert summary["status"].tolist() == ["ok"] and (out / "one.model.pt").is_file()
    again = embed_files([path], TINY, out, save_models=True, progress=False)
    assert again["status"].tolist() == ["skipped"]


def test_one_file_named_two_ways_is_embedded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = _inline(monkeypatch)
    (tmp_path / "sub").mkdir()
    path = tmp_path / "one.nwb"
    write_units_position_nwb(path, seed=3)
    summary = embed_files(
        [path, tmp_path / "sub" / ".." / "one.nwb"],
        TINY,
        tmp_path / "out",
        n_workers=64,
        progress=False,
    )
    assert summary["path"].tolist() == [str(path)] and summary["status"].tolist() == ["ok"]
    assert summary["output"].iloc[0].endswith("one.embedding.h5")
    assert workers == [1]  # no more worker processes than files


def test_a_model_argument_that_is_not_a_model_file_fails_at_once(tmp_path: Path) -> None:
    path = tmp_path / "one.nwb"
    write_units_position_nwb(path, seed=3)
    with pytest.raises(TypeError, match="model must be the path of a model file.*got dict"):
        embed_files([path], out_dir=tmp_path / "out", model={"max_iterations": 3})
    with pytest.raises(ValueError, match="not a model file"):
        embed_files([path], out_dir=tmp_path / "out", model=path)
    assert not (tmp_path / "out").exists()


@pytest.mark.timeout(60)
def test_an_unreachable_scheduler_fails_fast_with_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import time

    import neuroembed.batch as batch

    path = tmp_path / "one.nwb"
    write_units_position_nwb(path, seed=3)
    with pytest.raises(TypeError, match="scheduler must be the address"):
        embed_files([path], TINY, tmp_path / "out", scheduler=8786)
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(batch, "CONNECT_TIMEOUT", 1.0)
    tic = time.perf_counter()
    with pytest.raises(
        OSError,
        match=f"could not connect to a Dask scheduler at scheduler='tcp://127.0.0.1:{port}' within 1 s",
    ):
        embed_files(
            [path], TINY, tmp_path / "out", scheduler=f"tcp://127.0.0.1:{port}", progress=False
        )
    assert time.perf_counter() - tic < 20
    with pytest.raises(ValueError, match="expected the address of a running scheduler"):
        embed_files([path], TINY, tmp_path / "out", scheduler="no port", progress=False)


def test_output_names_stay_distinct_for_equal_stems() -> None:
    stems = _output_stems([Path("/a/rec.nwb"), Path("/b/rec.nwb"), Path("/b/other.nwb")])
    assert (
        stems[2] == "other"
        and stems[0] != stems[1]
        and all(s.startswith("rec-") for s in stems[:2])
    )


def test_read_recording_dispatches_on_extension(tmp_path: Path) -> None:
    path = tmp_path / "r.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.ones((5, 2))
    assert read_recording(path, neural="x").neural.shape == (5, 2)
    with pytest.raises(ValueError, match="unsupported file type '.txt'"):
        read_recording(tmp_path / "r.txt")
    with pytest.raises(
        ValueError, match="bin_size applies to NWB files .* a .h5 file is read one row"
    ):
        read_recording(path, neural="x", bin_size=0.05)

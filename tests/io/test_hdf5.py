"""neuroembed.io.hdf5: datasets read into a Recording, streaming, atomic embedding files."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from neuroembed.io import open_hdf5_dataset, read_hdf5, write_embedding_hdf5
from neuroembed.recording import Recording


@pytest.fixture
def h5file(tmp_path: Path) -> tuple[Path, dict]:
    rng = np.random.default_rng(0)
    truth = {
        "spikes": rng.poisson(2.0, size=(50, 4)).astype(np.int32),
        "position": rng.normal(size=(50, 2)),
        "speed": rng.normal(size=50),
        "trial": np.repeat(np.arange(5), 10),
        "time": np.arange(50) * 0.04 + 3.0,
    }
    path = tmp_path / "rec.h5"
    with h5py.File(path, "w") as f:
        f["session/spikes"] = truth["spikes"]
        f["session/spikes_T"] = truth["spikes"].T
        f["behaviour/position"] = truth["position"]
        f["behaviour/speed"] = truth["speed"]
        f["trial"] = truth["trial"]
        f["time"] = truth["time"]
        f["short"] = np.zeros(10)
    return path, truth


def test_read_everything(h5file) -> None:
    path, truth = h5file
    rec = read_hdf5(
        path,
        neural="session/spikes",
        behaviour=["behaviour/position", "behaviour/speed"],
        labels="trial",
        timestamps="time",
    )
    assert isinstance(rec, Recording)
    assert (
        rec.neural.dtype == np.float32
        and rec.behaviour.dtype == np.float32
        and rec.labels.dtype == np.int64
    )
    np.testing.assert_array_equal(rec.neural, truth["spikes"])
    np.testing.assert_allclose(
        rec.behaviour, np.column_stack([truth["position"], truth["speed"]]), rtol=1e-6
    )
    np.testing.assert_array_equal(rec.labels, truth["trial"])
    np.testing.assert_array_equal(rec.timestamps, truth["time"])
    assert rec.metadata["neural"] == "session/spikes" and rec.metadata["source"] == str(path)


def test_time_axis_sample_range_and_rate(h5file) -> None:
    path, truth = h5file
    rec = read_hdf5(path, neural="session/spikes_T", time_axis=1, sample_range=(10, 20), rate=25.0)
    np.testing.assert_array_equal(rec.neural, truth["spikes"][10:20])
    np.testing.assert_allclose(rec.timestamps, np.arange(10, 20) / 25.0)
    assert rec.behaviour is None and rec.labels is None
    part = read_hdf5(
        path, neural="session/spikes", behaviour="behaviour/speed", sample_range=(45, 100)
    )
    np.testing.assert_allclose(part.behaviour[:, 0], truth["speed"][45:], rtol=1e-6)
    assert part.timestamps is None and part.metadata["sample_range"] == (45, 50)


def test_errors_name_what_is_there(h5file, tmp_path: Path) -> None:
    path, _ = h5file
    with pytest.raises(ValueError, match=r"neural='nope' is not in the file.*'session/spikes'"):
        read_hdf5(path, neural="nope")
    with pytest.raises(ValueError, match="is a group, not a dataset"):
        read_hdf5(path, neural="session")
    with pytest.raises(ValueError, match="has 10 rows but the neural dataset has 50"):
        read_hdf5(path, neural="session/spikes", behaviour="short")
    with pytest.raises(ValueError, match="time_axis"):
        read_hdf5(path, neural="session/spikes", time_axis=2)
    with pytest.raises(ValueError, match="sample_range"):
        read_hdf5(path, neural="session/spikes", sample_range=(5, 5))
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="bad.h5' is not an HDF5 file"):
        read_hdf5(bad, neural="x")
    with pytest.raises(FileNotFoundError):
        read_hdf5(tmp_path / "absent.h5", neural="x")


def test_open_dataset_streams_and_closes(h5file) -> None:
    path, truth = h5file
    with open_hdf5_dataset(path, "session/spikes") as ds:
        assert isinstance(ds, h5py.Dataset)
        chunks = [ds[i : i + 16] for i in range(0, ds.shape[0], 16)]
        handle = ds.file
    np.testing.assert_array_equal(np.concatenate(chunks), truth["spikes"])
    assert not handle  # closed after the block
    with pytest.raises(ValueError, match="not in the file"), open_hdf5_dataset(path, "absent"):
        pass


def test_write_embedding_hdf5_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out" / "emb.h5"
    Z = np.arange(12, dtype=np.float32).reshape(6, 2)
    t = np.linspace(0, 1, 6)
    assert (
        write_embedding_hdf5(path, Z, t, attrs={"model": "offset1", "params": {"a": 1}, "n": 3})
        == path
    )
    rec = read_hdf5(path, neural="embedding", timestamps="timestamps")
    np.testing.assert_array_equal(rec.neural, Z)
    np.testing.assert_array_equal(rec.timestamps, t)
    with h5py.File(path, "r") as f:
        assert (
            f.attrs["model"] == "offset1" and f.attrs["params"] == '{"a": 1}' and f.attrs["n"] == 3
        )
    assert (path.stat().st_mode & 0o777) != 0o600

    # a crash while writing leaves the previous file and no temporary
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_embedding_hdf5(path, Z * 2, t)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["emb.h5"]
    with pytest.raises(ValueError, match=r"timestamps must have shape \(6,\)"):
        write_embedding_hdf5(path, Z, t[:3])


def test_scalar_datasets_and_bad_ranges_are_clear_errors(h5file, tmp_path: Path) -> None:
    path, _ = h5file
    with h5py.File(path, "a") as f:
        f["scalar"] = 3.0
    for role in ("behaviour", "labels", "timestamps"):  # was IndexError: tuple index out of range
        with pytest.raises(
            ValueError, match=f"{role} dataset 'scalar' is a scalar; expected an array"
        ):
            read_hdf5(path, neural="session/spikes", **{role: "scalar"})
    for bad in (5, (1.5, 3), (1, 2, 3)):
        with pytest.raises(TypeError, match=r"sample_range must be \(start, stop\), two ints"):
            read_hdf5(path, neural="session/spikes", sample_range=bad)


def test_writing_onto_a_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match="it is a folder; expected the path of a file"):
        write_embedding_hdf5(tmp_path, np.zeros((3, 2)))
    assert list(tmp_path.iterdir()) == []

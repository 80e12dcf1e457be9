"""neuroembed.io.nwb: NWB files built with pynwb read back correctly; embeddings written back safely."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from neuroembed.io import list_nwb, read_embedding, read_nwb, write_embedding
from neuroembed.recording import Recording

from ._nwb_builders import START, write_calcium_trials

# An old-style Device in the pynapple test file makes hdmf warn when reading it; nothing to fix on our side.
OLD_DEVICE = "ignore:The 'manufacturer' field is deprecated:DeprecationWarning"


# ------------------------------------------------------------------------------------------------ references


def reference_counts(spikes: list[np.ndarray], edges: np.ndarray) -> np.ndarray:
    """Spike counts per bin with plain loops: spikes with edges[k] <= t < edges[k + 1]."""
    out = np.zeros((len(edges) - 1, len(spikes)))
    for j, times in enumerate(spikes):
        for k in range(len(edges) - 1):
            out[k, j] = sum(1 for t in times if edges[k] <= t < edges[k + 1])
    return out


def reference_labels(
    times: np.ndarray, intervals: list[tuple[float, float, str]], names: list[str]
) -> list[int]:
    labels = []
    for t in times:
        found = [names.index(side) for start, stop, side in intervals if start <= t < stop]
        labels.append(found[-1] if found else -1)
    return labels


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hdf5_snapshot(path: Path) -> dict[str, bytes]:
    """Raw bytes of every dataset and every attribute in the file, keyed by location."""
    out: dict[str, bytes] = {}

    def raw(value) -> bytes:
        if isinstance(value, h5py.Reference):
            return b"<reference>"
        arr = np.asarray(value)
        if arr.dtype.kind == "O":
            return repr(
                [
                    v if not isinstance(v, h5py.Reference) else "<reference>"
                    for v in arr.ravel().tolist()
                ]
            ).encode()
        return arr.tobytes() + str(arr.dtype).encode() + str(arr.shape).encode()

    def visit(name: str, obj) -> None:
        for key, value in obj.attrs.items():
            out[f"{name}@{key}"] = raw(value)
        if isinstance(obj, h5py.Dataset):
            out[name] = raw(obj[()])

    with h5py.File(path, "r") as f:
        visit("/", f)
        f.visititems(visit)
    return out


# ------------------------------------------------------------------------------------------------ reading


def test_units_and_position_read_back(units_file) -> None:
    path, truth = units_file
    rec = read_nwb(path)  # defaults: units table, the file's SpatialSeries, 25 ms bins
    assert isinstance(rec, Recording)
    assert (
        rec.neural.dtype == np.float32 and rec.behaviour.dtype == np.float32 and rec.labels is None
    )
    # the recording spans the behaviour; bins of 25 ms from its first sample
    t = truth["t"]
    edges = t[0] + 0.025 * np.arange(rec.n_samples + 1)
    assert rec.n_samples == int(
        np.floor((t[-1] - t[0]) / 0.025 + 1e-9)
    )  # whole bins inside the behaviour
    assert rec.timestamps[-1] + 0.0125 <= t[-1]
    np.testing.assert_allclose(rec.timestamps, edges[:-1] + 0.0125)
    np.testing.assert_array_equal(rec.neural, reference_counts(truth["spikes"], edges))
    expected_behaviour = np.stack(
        [np.interp(rec.timestamps, t, truth["xy"][:, j]) for j in range(2)], axis=1
    )
    np.testing.assert_allclose(rec.behaviour, expected_behaviour, rtol=1e-5, atol=1e-6)
    assert rec.metadata["unit_ids"] == truth["ids"]
    assert rec.metadata["behaviour"] == ["processing/behavior/Position/pos"]
    assert rec.metadata["bin_size"] == 0.025 and rec.metadata["source"] == str(path)


def test_units_without_behaviour_span_the_spikes(units_file) -> None:
    path, truth = units_file
    rec = read_nwb(path, behaviour=None, bin_size=0.5, unit_ids=[12, 10])
    first = min(s[0] for s in truth["spikes"][:3:2])
    last = max(s[-1] for s in truth["spikes"][:3:2])
    edges = first + 0.5 * np.arange(rec.n_samples + 1)
    assert edges[-2] <= last < edges[-1]
    np.testing.assert_array_equal(
        rec.neural, reference_counts([truth["spikes"][2], truth["spikes"][0]], edges)
    )
    assert rec.behaviour is None and rec.metadata["unit_ids"] == [12, 10]
    assert rec.neural.sum() == sum(
        len(truth["spikes"][i]) for i in (0, 2)
    )  # no spike lost at the edges


def test_time_range_reads_only_that_part(units_file) -> None:
    path, truth = units_file
    rec = read_nwb(path, time_range=(5.0, 7.0), bin_size=0.1)
    assert rec.n_samples == 20
    np.testing.assert_allclose(rec.timestamps[[0, -1]], [5.05, 6.95])
    edges = 5.0 + 0.1 * np.arange(21)
    np.testing.assert_array_equal(rec.neural, reference_counts(truth["spikes"], edges))


def test_behaviour_by_any_name(units_file) -> None:
    path, _ = units_file
    full = read_nwb(path, behaviour="processing/behavior/Position/pos").behaviour
    for name in ["pos", "Position", "processing/behavior/Position", ["pos"]]:
        np.testing.assert_array_equal(read_nwb(path, behaviour=name).behaviour, full)
    with pytest.raises(
        ValueError, match=r"behaviour='speed' matches nothing.*processing/behavior/Position/pos"
    ):
        read_nwb(path, behaviour="speed")
    with pytest.raises(ValueError, match="neural='units' but .* has no units table"):
        read_nwb(write_calcium_file(path.parent), neural="units")
    with pytest.raises(TypeError, match="behaviour must be"):
        read_nwb(path, behaviour=[3])
    # a second series called "pos" makes the short name ambiguous, the full path still works
    from pynwb import NWBHDF5IO, TimeSeries

    with NWBHDF5IO(str(path), "a") as io:
        nwb = io.read()
        nwb.add_acquisition(TimeSeries(name="pos", data=np.zeros(5), rate=1.0, unit="m"))
        io.write(nwb)
    with pytest.raises(ValueError, match="behaviour='pos' is ambiguous.*'acquisition/pos'"):
        read_nwb(path, behaviour="pos")
    np.testing.assert_array_equal(read_nwb(path, behaviour="Position").behaviour, full)


def write_calcium_file(folder: Path) -> Path:
    path = folder / "calcium_extra.nwb"
    write_calcium_trials(path)
    return path


def test_calcium_and_trials_read_back(calcium_file) -> None:
    path, truth = calcium_file
    rec = read_nwb(path, labels="trials/side")  # neural defaults to the only RoiResponseSeries
    np.testing.assert_array_equal(rec.neural, truth["traces"])
    np.testing.assert_allclose(rec.timestamps, truth["t"])
    assert rec.behaviour is None
    assert rec.metadata["neural"] == "processing/ophys/Fluorescence/RoiResponseSeries"
    assert rec.metadata["roi_ids"] == truth["roi_ids"]
    assert rec.metadata["label_names"] == ["left", "right"]
    assert rec.labels.tolist() == reference_labels(
        rec.timestamps, truth["trials"], ["left", "right"]
    )
    assert set(rec.labels.tolist()) == {-1, 0, 1}
    # a bare column name finds the table; the table name alone labels each trial
    np.testing.assert_array_equal(read_nwb(path, labels="side").labels, rec.labels)
    per_trial = read_nwb(path, labels="trials")
    assert sorted(set(per_trial.labels.tolist())) == [-1, 0, 1, 2, 3]
    assert per_trial.metadata["label_names"] == [0, 1, 2, 3]


def test_calcium_binned_is_the_mean_of_each_bin(calcium_file) -> None:
    path, truth = calcium_file
    rec = read_nwb(path, neural="Fluorescence", bin_size=0.5)
    t = truth["t"]
    edges = t[0] + 0.5 * np.arange(rec.n_samples + 1)
    expected = np.array(
        [
            truth["traces"][(t >= edges[k]) & (t < edges[k + 1])].mean(axis=0)
            for k in range(rec.n_samples)
        ]
    )
    np.testing.assert_allclose(rec.neural, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="shorter than the sampling interval"):
        read_nwb(path, bin_size=0.05)


def test_labels_errors(calcium_file, units_file) -> None:
    path, _ = calcium_file
    with pytest.raises(ValueError, match="has no column 'colour'"):
        read_nwb(path, labels="trials/colour")
    with pytest.raises(
        ValueError, match=r"matches no intervals table or column.*trials: \['start_time'"
    ):
        read_nwb(path, labels="colour")
    with pytest.raises(ValueError, match="has no trials or intervals table"):
        read_nwb(units_file[0], labels="trials")
    for bad in (3, ["side"]):  # was AttributeError: 'int' object has no attribute 'strip'
        with pytest.raises(TypeError, match="labels must be the name of an intervals table"):
            read_nwb(path, labels=bad)


def test_a_series_with_no_rows_in_the_range_is_a_clear_error(calcium_file) -> None:
    path, _ = calcium_file  # the calcium series spans [1, 30.9] s
    for bin_size in (None, 0.5):  # was "cannot reshape array of size 0 into shape (0,newaxis)"
        with pytest.raises(
            ValueError, match=r"has no samples in the selected time range \[100, 200\] s"
        ):
            read_nwb(path, time_range=(100.0, 200.0), bin_size=bin_size)


def test_trials_without_stop_time_last_until_the_next_one(tmp_path: Path) -> None:
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(session_description="t", identifier="t", session_start_time=START)
    nwb.add_unit(spike_times=np.linspace(0.0, 9.99, 200))
    nwb.add_trial_column(name="kind", description="kind")
    for start, kind in [(1.0, "a"), (4.0, "b"), (6.0, "a")]:
        nwb.add_trial(start_time=start, stop_time=np.nan, kind=kind)
    path = tmp_path / "t.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    rec = read_nwb(path, labels="trials/kind", bin_size=1.0)
    assert rec.timestamps.tolist() == [0.5 + k for k in range(10)]
    assert rec.labels.tolist() == [-1, 0, 0, 0, 1, 1, 0, 0, 0, 0]


def test_behaviour_with_gaps_and_out_of_order_timestamps(units_file) -> None:
    """Lost tracking (NaN) is interpolated over; out-of-order times (seen in real files) are sorted."""
    from pynwb import NWBHDF5IO, TimeSeries

    path, _ = units_file
    t = np.arange(0.0, 20.0, 0.1)
    speed = 2.0 * t
    stored = speed.copy()
    stored[50:60] = np.nan
    order = np.random.default_rng(0).permutation(t.size)
    with NWBHDF5IO(str(path), "a") as io:
        nwb = io.read()
        nwb.add_acquisition(
            TimeSeries(name="speed", data=stored[order], timestamps=t[order], unit="m/s")
        )
        io.write(nwb)
    rec = read_nwb(path, behaviour="speed")
    np.testing.assert_allclose(rec.behaviour[:, 0], 2.0 * rec.timestamps, rtol=1e-5)


def test_no_neural_data_is_a_clear_error(tmp_path: Path) -> None:
    from pynwb import NWBHDF5IO, NWBFile

    path = tmp_path / "empty.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(NWBFile(session_description="e", identifier="e", session_start_time=START))
    with pytest.raises(ValueError, match="no units table and no RoiResponseSeries"):
        read_nwb(path)
    assert list_nwb(path).empty


def test_list_nwb_shows_what_the_files_hold(units_file, calcium_file) -> None:
    table = list_nwb(units_file[0]).set_index("path")
    assert table.loc["units", "type"] == "Units" and table.loc["units", "shape"] == (4,)
    pos = table.loc["processing/behavior/Position/pos"]
    assert (
        pos["type"] == "SpatialSeries" and pos["use"] == "behaviour" and pos["shape"] == (1000, 2)
    )
    assert pos["start"] == 0.0 and pos["stop"] == pytest.approx(19.98)
    table = list_nwb(calcium_file[0]).set_index("path")
    roi = table.loc["processing/ophys/Fluorescence/RoiResponseSeries"]
    assert roi["use"] == "neural" and roi["rate"] == 10.0 and roi["start"] == 1.0
    assert table.loc["intervals/trials", "columns"] == ["start_time", "stop_time", "side"]


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"\x89HDF\r\n\x1a\n" + b"\0" * 64])
def test_corrupt_files_raise_value_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.nwb"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="broken.nwb"):
        read_nwb(path)
    with pytest.raises(ValueError, match="broken.nwb"):
        list_nwb(path)


def test_plain_hdf5_is_not_nwb(tmp_path: Path) -> None:
    path = tmp_path / "plain.nwb"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="plain.nwb' could not be read as an NWB file"):
        read_nwb(path)
    with pytest.raises(FileNotFoundError, match="absent.nwb"):
        read_nwb(tmp_path / "absent.nwb")


def test_argument_errors(units_file) -> None:
    path, _ = units_file
    with pytest.raises(ValueError, match="bin_size"):
        read_nwb(path, bin_size=0)
    with pytest.raises(ValueError, match="time_range"):
        read_nwb(path, time_range=(3.0, 1.0))
    with pytest.raises(ValueError, match=r"unit_ids \[99\] are not in the units table"):
        read_nwb(path, unit_ids=[10, 99])
    with pytest.raises(ValueError, match="do not overlap"):
        read_nwb(path, time_range=(100.0, 200.0))
    with pytest.raises(TypeError, match="unit_ids must be a sequence of unit ids; got int"):
        read_nwb(path, unit_ids=10)
    with pytest.raises(TypeError, match="behaviour must be a series name"):
        read_nwb(path, behaviour=3)


# ------------------------------------------------------------------------------------------------ writing


def test_round_trip_embedding_and_original_bytes_unchanged(units_file) -> None:
    from pynwb import NWBHDF5IO

    path, _ = units_file
    rec = read_nwb(path)
    before = hdf5_snapshot(path)
    with h5py.File(path, "r") as f:
        spikes_before = f["units/spike_times"][()].tobytes()
        position_before = f["processing/behavior/Position/pos/data"][()].tobytes()
    embedding = np.random.default_rng(0).normal(size=(rec.n_samples, 3)).astype(np.float32)
    settings = {"model": "offset10", "output_dimension": 3, "max_iterations": 100}

    written = write_embedding(path, embedding, rec.timestamps, settings=settings)

    assert written == path
    with NWBHDF5IO(str(path), "r") as io:  # plain pynwb reads it back unchanged
        nwb = io.read()
        series = nwb.processing["neuroembed"]["embedding"]
        np.testing.assert_array_equal(series.data[:], embedding)
        np.testing.assert_array_equal(series.timestamps[:], rec.timestamps)
        assert (
            '"max_iterations": 100' in series.description
            and '"model": "offset10"' in series.description
        )
        assert series.data.dtype == np.float32
    after = hdf5_snapshot(path)
    changed = [key for key in before if after.get(key) != before[key]]
    assert changed == []  # every dataset and attribute that was there keeps its bytes
    added = {key.split("/")[0] for key in set(after) - set(before)}
    assert added <= {"processing", "specifications"}
    with h5py.File(path, "r") as f:
        assert f["units/spike_times"][()].tobytes() == spikes_before
        assert f["processing/behavior/Position/pos/data"][()].tobytes() == position_before
    # the original recording still reads the same
    again = read_nwb(path)
    np.testing.assert_array_equal(again.neural, rec.neural)
    np.testing.assert_array_equal(again.behaviour, rec.behaviour)
    Z, t, stored = read_embedding(path)
    np.testing.assert_array_equal(Z, embedding)
    assert stored == settings


def test_existing_embedding_needs_overwrite(units_file) -> None:
    path, _ = units_file
    rec = read_nwb(path, behaviour=None)
    write_embedding(path, np.zeros((rec.n_samples, 2)), rec.timestamps)
    digest = file_digest(path)
    with pytest.raises(
        ValueError, match="already holds an embedding at 'processing/neuroembed/embedding'"
    ):
        write_embedding(path, np.ones((rec.n_samples, 2)), rec.timestamps)
    assert file_digest(path) == digest
    write_embedding(path, np.ones((rec.n_samples, 4)), rec.timestamps, overwrite=True)
    assert read_embedding(path)[0].shape == (rec.n_samples, 4)
    # another name in the same module sits beside it
    write_embedding(path, np.full((rec.n_samples, 2), 2.0), rec.timestamps, name="embedding_time")
    assert read_embedding(path)[0].shape == (rec.n_samples, 4)
    assert read_embedding(path, name="embedding_time")[0][0].tolist() == [2.0, 2.0]


def test_sidecar_leaves_the_source_untouched(units_file) -> None:
    from pynwb import NWBHDF5IO

    path, _ = units_file
    rec = read_nwb(path)
    digest = file_digest(path)
    written = write_embedding(path, np.ones((rec.n_samples, 2)), rec.timestamps, sidecar=True)
    assert written == path.with_name("units.neuroembed.nwb")
    assert file_digest(path) == digest
    with NWBHDF5IO(str(written), "r") as io:
        nwb = io.read()
        assert nwb.session_start_time == START
        assert "units.nwb" in nwb.session_description and "units-0" in nwb.session_description
        assert nwb.processing["neuroembed"]["embedding"].data.shape == (rec.n_samples, 2)
    # a second embedding goes into the same sidecar
    write_embedding(path, np.zeros((rec.n_samples, 2)), rec.timestamps, sidecar=True, name="other")
    assert read_embedding(written, name="other")[0].shape == (rec.n_samples, 2)
    assert file_digest(path) == digest
    # a folder as sidecar_path: was h5py's IsADirectoryError, several lines long
    with pytest.raises(
        ValueError, match="sidecar_path=.* is a folder; expected the path of the NWB file"
    ):
        write_embedding(path, np.ones((rec.n_samples, 2)), rec.timestamps, sidecar_path=path.parent)
    assert file_digest(path) == digest


def test_read_only_source_gets_a_sidecar(units_file) -> None:
    path, _ = units_file
    rec = read_nwb(path, behaviour=None)
    os.chmod(path, 0o444)
    try:
        digest = file_digest(path)
        written = write_embedding(path, np.ones((rec.n_samples, 2)), rec.timestamps)
        assert written.name == "units.neuroembed.nwb"
        assert file_digest(path) == digest
        with pytest.raises(PermissionError, match="read-only"):
            write_embedding(path, np.ones((rec.n_samples, 2)), rec.timestamps, sidecar=False)
    finally:
        os.chmod(path, 0o644)
    assert oct(written.stat().st_mode & 0o777) != oct(
        0o600
    )  # an ordinary file, not a private temporary


def test_a_failed_write_leaves_the_file_and_no_temporary(
    units_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pynwb import NWBHDF5IO

    path, _ = units_file
    rec = read_nwb(path, behaviour=None)
    digest = file_digest(path)

    def crash(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(NWBHDF5IO, "write", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        write_embedding(path, np.ones((rec.n_samples, 2)), rec.timestamps)
    assert file_digest(path) == digest
    assert sorted(p.name for p in path.parent.iterdir()) == ["units.nwb"]


def test_write_embedding_checks_its_input(units_file) -> None:
    path, _ = units_file
    with pytest.raises(ValueError, match="one time per embedding row"):
        write_embedding(path, np.ones((5, 2)), np.arange(4.0))
    with pytest.raises(ValueError, match="non-decreasing"):
        write_embedding(path, np.ones((3, 2)), [0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        write_embedding(path, np.full((3, 2), np.nan), [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="module must be"):
        write_embedding(path, np.ones((3, 2)), [0.0, 1.0, 2.0], module="a/b")


# ------------------------------------------------------------------------------------------------ real files


@pytest.mark.filterwarnings(OLD_DEVICE)
def test_real_pynapple_file(shared_data: Path) -> None:
    path = shared_data / "pynapple_tests" / "A8604-211122.nwb"
    table = list_nwb(path)
    print(table.to_string())
    assert table["path"].tolist() == ["units", "intervals/epochs"]
    rec = read_nwb(path)
    print(rec, {k: v for k, v in rec.metadata.items() if k != "source"})
    assert rec.n_neurons == 3 and rec.behaviour is None
    assert rec.neural.sum() == 21354  # every spike of the file lands in a bin
    assert rec.metadata["unit_ids"] == [6, 191, 206]


@pytest.mark.parametrize(
    "name, n_trials",
    [("sub-anm369963_ses-20170228.nwb", 178), ("sub-anm372793_ses-20170508.nwb", 340)],
)
def test_real_dandi_files(shared_data: Path, name: str, n_trials: int) -> None:
    path = shared_data / "dandi_cli_tests" / name
    table = list_nwb(path).set_index("path")
    print(table.to_string())
    assert table.loc["intervals/trials", "shape"] == (n_trials,)
    assert table.loc["units", "shape"] == (1,)
    rec = read_nwb(path, labels="trials/type", bin_size=0.1)
    print(rec, rec.metadata["label_names"])
    assert rec.n_neurons == 1 and rec.metadata["label_names"] == ["lick left", "lick right"]
    with h5py.File(path, "r") as f:
        n_spikes = f["units/spike_times"].shape[0]
    assert rec.neural.sum() == n_spikes
    # lick times as (event-valued) behaviour, interpolated onto the bins
    licks = read_nwb(path, behaviour="lick_left_times", labels="response")
    assert licks.behaviour.shape == (licks.n_samples, 1) and np.isfinite(licks.behaviour).all()


def test_old_nwb_version_gets_a_sidecar(shared_data: Path, tmp_path: Path) -> None:
    """pynwb would re-stamp a 2.0.2 file with its own version when appending; such files get a sidecar."""
    source = tmp_path / "old.nwb"
    shutil.copyfile(shared_data / "dandi_cli_tests" / "sub-anm369963_ses-20170228.nwb", source)
    rec = read_nwb(source, bin_size=1.0)
    digest = file_digest(source)
    written = write_embedding(source, np.ones((rec.n_samples, 2)), rec.timestamps)
    assert written.name == "old.neuroembed.nwb" and file_digest(source) == digest
    Z, t, _ = read_embedding(written)
    np.testing.assert_array_equal(t, rec.timestamps)


def test_position_and_compass_direction_side_by_side(units_file) -> None:
    from pynwb import NWBHDF5IO
    from pynwb.behavior import CompassDirection

    path, truth = units_file
    t = truth["t"]
    heading = np.mod(t, 2 * np.pi)
    with NWBHDF5IO(str(path), "a") as io:
        nwb = io.read()
        compass = CompassDirection(name="CompassDirection")
        compass.create_spatial_series(
            name="heading", data=heading, timestamps=t, reference_frame="north", unit="radians"
        )
        nwb.processing["behavior"].add(compass)
        io.write(nwb)
    with pytest.raises(ValueError, match="behaviour='auto' found several behaviour sources"):
        read_nwb(path)
    rec = read_nwb(path, behaviour=["Position", "CompassDirection"])
    assert rec.behaviour.shape == (rec.n_samples, 3)
    assert rec.metadata["behaviour"] == [
        "processing/behavior/Position/pos",
        "processing/behavior/CompassDirection/heading",
    ]
    np.testing.assert_allclose(
        rec.behaviour[:, 2], np.interp(rec.timestamps, t, heading), rtol=1e-5, atol=1e-6
    )
    assert read_nwb(path, behaviour=None).behaviour is None

import hashlib
import io
import json
import os
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest

import neuroembed.datasets.rat_hippocampus as rh
from neuroembed.datasets import RAT_HIPPOCAMPUS_FILES, RATS, default_data_dir, load_rat_hippocampus

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared" / "data" / "cebra_rat_hippocampus"
BUDDY = SHARED / "buddy.jl"


def _fake_rat(path, n=50, n_neurons=4):
    rng = np.random.default_rng(0)
    position = np.zeros((n, 3))
    position[:, 0] = np.linspace(0, 1.6, n)
    position[: n // 2, 1] = 1.0  # first half running right, then left
    position[n // 2 :, 2] = 1.0
    spikes = rng.poisson(0.5, size=(n, n_neurons)).astype(np.float64)
    joblib.dump({"spikes": spikes, "position": position}, path)
    return spikes, position


def _md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def test_manifest_matches_the_loader_table():
    manifest = json.loads((REPO / "datasets" / "rat_hippocampus.json").read_text())
    assert sorted(manifest["files"]) == sorted(RATS) == sorted(RAT_HIPPOCAMPUS_FILES)
    for rat, entry in manifest["files"].items():
        assert entry["filename"] == f"{rat}.jl"
        for key in ("url", "md5", "md5_verified"):
            assert entry[key] == RAT_HIPPOCAMPUS_FILES[rat][key], (rat, key)
        assert entry["url"].startswith("https://")
    assert RAT_HIPPOCAMPUS_FILES["buddy"]["md5"] == "36341322907708c466871bf04bc133c2"


def test_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True") as info:
        load_rat_hippocampus(rat="cicero", data_dir=tmp_path)
    assert "cicero.jl" in str(info.value) and RAT_HIPPOCAMPUS_FILES["cicero"]["url"] in str(
        info.value
    )
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_rat_hippocampus(tmp_path / "nope.jl")


def test_default_data_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROEMBED_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path / "rat_hippocampus"
    monkeypatch.delenv("NEUROEMBED_DATA_DIR")
    assert default_data_dir() == Path.home() / ".cache" / "neuroembed" / "rat_hippocampus"


def test_checksum_is_checked_for_files_in_data_dir(tmp_path, monkeypatch):
    spikes, position = _fake_rat(tmp_path / "buddy.jl")
    with pytest.raises(ValueError, match="MD5"):
        load_rat_hippocampus(data_dir=tmp_path)  # not the published buddy file
    rec = load_rat_hippocampus(data_dir=tmp_path, verify=False)
    np.testing.assert_array_equal(rec.neural, spikes.astype(np.float32))
    # with the file's own checksum in the table, the default verification passes
    table = {
        **RAT_HIPPOCAMPUS_FILES,
        "buddy": {**RAT_HIPPOCAMPUS_FILES["buddy"], "md5": _md5(tmp_path / "buddy.jl")},
    }
    monkeypatch.setattr(rh, "RAT_HIPPOCAMPUS_FILES", table)
    rec = load_rat_hippocampus(data_dir=tmp_path)
    np.testing.assert_array_equal(rec.behaviour, position.astype(np.float32))


def test_explicit_path_is_read_without_checksum_unless_asked(tmp_path):
    spikes, position = _fake_rat(tmp_path / "mine.jl", n=40)
    rec = load_rat_hippocampus(tmp_path / "mine.jl")
    assert rec.neural.dtype == np.float32 and rec.behaviour.dtype == np.float32
    assert rec.labels.dtype == np.int64
    np.testing.assert_array_equal(rec.labels, np.r_[np.zeros(20), np.ones(20)])
    np.testing.assert_allclose(rec.timestamps, np.arange(40) * 0.025)
    with pytest.raises(ValueError, match="MD5"):
        load_rat_hippocampus(tmp_path / "mine.jl", verify=True)
    with pytest.raises(ValueError, match="either path"):
        load_rat_hippocampus(tmp_path / "mine.jl", data_dir=tmp_path)


def test_arbitrary_objects_are_never_unpickled(tmp_path):
    evil = tmp_path / "evil.jl"
    evil.write_bytes(pickle.dumps({"spikes": os.getcwd, "position": None}))
    with pytest.raises(ValueError, match="only hold numpy arrays"):
        load_rat_hippocampus(evil)

    class Boom:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    (tmp_path / "boom.jl").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ValueError):
        load_rat_hippocampus(tmp_path / "boom.jl")
    assert not (tmp_path / "pwned").exists()


def test_bad_content(tmp_path):
    (tmp_path / "text.jl").write_text("spikes,position\n")
    with pytest.raises(ValueError, match="not an uncompressed joblib"):
        load_rat_hippocampus(tmp_path / "text.jl")
    joblib.dump({"spikes": np.zeros((5, 2))}, tmp_path / "partial.jl")
    with pytest.raises(ValueError, match="'spikes' and 'position'"):
        load_rat_hippocampus(tmp_path / "partial.jl")
    joblib.dump({"spikes": np.zeros((5, 2)), "position": np.zeros((4, 3))}, tmp_path / "short.jl")
    with pytest.raises(ValueError, match="rows"):
        load_rat_hippocampus(tmp_path / "short.jl")
    with pytest.raises(ValueError, match="rat"):
        load_rat_hippocampus(rat="stuart", data_dir=tmp_path)
    text = np.array([["1.0", "yes", "no"]] * 5, dtype=object)
    with open(tmp_path / "text_position.jl", "wb") as handle:
        pickle.dump({"spikes": np.zeros((5, 2)), "position": text}, handle)
    with pytest.raises(
        ValueError, match="numeric spikes and position; .* dtype float64 and object"
    ):
        load_rat_hippocampus(tmp_path / "text_position.jl")
    joblib.dump(
        {"spikes": np.zeros((500, 40)), "position": np.zeros((500, 3))}, tmp_path / "whole.jl"
    )
    data = (tmp_path / "whole.jl").read_bytes()
    (tmp_path / "truncated.jl").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"truncated\.jl could not be read .* it may be truncated"):
        load_rat_hippocampus(tmp_path / "truncated.jl")


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_is_verified_before_it_is_kept(tmp_path, monkeypatch):
    _fake_rat(tmp_path / "source.jl")
    payload = (tmp_path / "source.jl").read_bytes()
    requested = []

    def fake_urlopen(request, timeout=None):
        requested.append(request.full_url)
        return _FakeResponse(payload)

    monkeypatch.setattr(rh.urllib.request, "urlopen", fake_urlopen)
    target = tmp_path / "data"
    with pytest.raises(ValueError, match="MD5"):
        load_rat_hippocampus(rat="gatsby", download=True, data_dir=target)
    assert requested == [RAT_HIPPOCAMPUS_FILES["gatsby"]["url"]]
    assert list(target.iterdir()) == []  # nothing half-downloaded or unverified is left behind

    table = {
        **RAT_HIPPOCAMPUS_FILES,
        "gatsby": {**RAT_HIPPOCAMPUS_FILES["gatsby"], "md5": _md5(tmp_path / "source.jl")},
    }
    monkeypatch.setattr(rh, "RAT_HIPPOCAMPUS_FILES", table)
    rec = load_rat_hippocampus(rat="gatsby", download=True, data_dir=target)
    assert rec.n_samples == 50 and rec.metadata["rat"] == "gatsby"
    assert (target / "gatsby.jl").read_bytes() == payload
    load_rat_hippocampus(
        rat="gatsby", download=True, data_dir=target
    )  # present: no second download
    assert len(requested) == 2


@pytest.mark.skipif(
    not BUDDY.is_file(), reason="shared rat hippocampus data not available beside the checkout"
)
def test_real_buddy_recording():
    rec = load_rat_hippocampus(BUDDY, verify=True)
    assert rec.neural.shape == (6577, 48) and rec.neural.dtype == np.float32
    assert rec.behaviour.shape == (6577, 3)
    right, left = rec.behaviour[:, 1], rec.behaviour[:, 2]
    np.testing.assert_array_equal(right + left, 1.0)
    np.testing.assert_array_equal(rec.labels, left.astype(np.int64))
    assert np.bincount(rec.labels).tolist() == [3454, 3123]
    assert 0.0 <= rec.behaviour[:, 0].min() and rec.behaviour[:, 0].max() <= 1.6
    assert rec.timestamps[-1] == pytest.approx(6576 * 0.025)
    # same data as a plain joblib.load
    plain = joblib.load(BUDDY)
    np.testing.assert_array_equal(rec.neural, plain["spikes"].astype(np.float32))
    # through data_dir, with the default checksum check
    assert load_rat_hippocampus(data_dir=SHARED).n_samples == 6577

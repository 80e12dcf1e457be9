"""examples/hippocampus.py runs in quick mode and writes its figure."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "hippocampus.py"
RAT_FILE = ROOT / ".." / "shared" / "data" / "cebra_rat_hippocampus" / "buddy.jl"


def _load_example():
    spec = importlib.util.spec_from_file_location("hippocampus_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_png(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    image = matplotlib.image.imread(path)
    # the figure is 18 x 4.6 inches at 100 dpi: four panels side by side
    assert image.shape[:2] == (460, 1800)
    assert float(np.std(image[..., :3])) > 0.05  # not a blank canvas


def test_falls_back_to_the_synthetic_track_without_the_rat_file(tmp_path, monkeypatch, capsys):
    example = _load_example()
    monkeypatch.setattr(example, "DEFAULT_FILE", tmp_path / "absent" / "buddy.jl")
    monkeypatch.setenv("NEUROEMBED_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("NEUROEMBED_QUICK", "1")
    out = tmp_path / "figure.png"
    numbers = example.main(["--iterations", "5", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "No rat hippocampus file found" in printed
    assert "synthetic linear track" in printed
    assert "3000 bins x 50 cells" in printed
    _check_png(out)
    assert set(numbers) == {"knn_median_error", "raw_counts_median_error", "consistency"}
    # position on a 1.6 m track: any decoder's median error lies between 0 and the track length
    assert 0.0 <= numbers["knn_median_error"] <= 1.6
    assert 0.0 <= numbers["raw_counts_median_error"] <= 1.6
    assert numbers["consistency"] <= 1.0


def test_out_may_name_a_folder(tmp_path, monkeypatch):
    """``--out DIR`` (as the other examples take it) writes DIR/hippocampus.png."""
    example = _load_example()
    monkeypatch.setenv("NEUROEMBED_QUICK", "1")
    example.main(["--synthetic", "--iterations", "3", "--out", str(tmp_path / "figures")])
    _check_png(tmp_path / "figures" / "hippocampus.png")


def test_a_named_data_file_that_does_not_exist_is_an_error(tmp_path):
    example = _load_example()
    missing = tmp_path / "nowhere.jl"
    with pytest.raises(FileNotFoundError, match="nowhere.jl"):
        example.main(
            ["--data", str(missing), "--iterations", "1", "--out", str(tmp_path / "x.png")]
        )
    assert not (tmp_path / "x.png").exists()


def test_one_seed_is_refused(tmp_path):
    example = _load_example()
    with pytest.raises(SystemExit):
        example.main(["--seeds", "0", "--synthetic", "--out", str(tmp_path / "x.png")])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_mode_as_a_script(tmp_path):
    """The documented quick run, in a fresh process: the rat data when present, else the synthetic track."""
    env = dict(os.environ, NEUROEMBED_QUICK="1", MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--out", "fig.png"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    _check_png(tmp_path / "fig.png")
    out = result.stdout
    assert ("rat 'buddy'" in out) == RAT_FILE.is_file()
    assert "300 iterations" in out
    errors = re.search(r"seed 0 ([\d.]+) cm, seed 1 ([\d.]+) cm; raw counts ([\d.]+) cm", out)
    assert errors is not None, out
    seed0, seed1, raw = map(float, errors.groups())
    # even a short fit pools 10 bins and beats single-bin raw counts
    assert max(seed0, seed1) < raw
    consistency = float(re.search(r"consistency across seeds \(R\^2\): ([-\d.]+)", out).group(1))
    assert 0.0 < consistency <= 1.0

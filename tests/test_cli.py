"""neuroembed.cli: the fit / embed / batch / list / demo subcommands, run in-process through main()."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuroembed.cli import main
from neuroembed.io import read_embedding, read_hdf5, read_nwb

from .test_batch import write_units_position_nwb

TINY = ["--model", "offset1", "--iterations", "10", "--batch-size", "32", "--output-dimension", "3"]
TINY += ["--time-offset", "1", "--device", "cpu", "--seed", "0", "--quiet"]


@pytest.fixture
def nwb_file(tmp_path: Path) -> Path:
    path = tmp_path / "session.nwb"
    write_units_position_nwb(path, seed=0)
    return path


def test_fit_then_embed(nwb_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from neuroembed.estimator import Estimator

    model = tmp_path / "m.pt"
    assert main(["fit", str(nwb_file), *TINY, "--out", str(model), "--write-back"]) == 0
    out = capsys.readouterr().out
    assert "fitted offset1 (time_delta)" in out and f"model saved to {model}" in out
    assert "embedding written into the source file" in out
    estimator = Estimator.load(model, device="cpu")
    assert estimator.get_params()["max_iterations"] == 10 and estimator.output_dimension == 3
    rec = read_nwb(nwb_file)
    Z, t, settings = read_embedding(nwb_file)
    np.testing.assert_allclose(Z, estimator.transform(rec.neural), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(t, rec.timestamps)
    assert settings["model"] == "offset1"

    # embed into an .h5 file, into a sidecar .nwb, and back into the source
    h5 = tmp_path / "e.h5"
    assert (
        main(["embed", str(nwb_file), "--model", str(model), "--out", str(h5), "--device", "cpu"])
        == 0
    )
    np.testing.assert_allclose(read_hdf5(h5, neural="embedding").neural, Z, rtol=1e-5, atol=1e-6)
    sidecar = tmp_path / "side.nwb"
    assert main(["embed", str(nwb_file), "--model", str(model), "--out", str(sidecar)]) == 0
    np.testing.assert_allclose(read_embedding(sidecar)[0], Z, rtol=1e-5, atol=1e-6)
    assert main(["embed", str(nwb_file), "--model", str(model), "--write-back"]) == 2
    assert "already holds an embedding" in capsys.readouterr().err
    # refused before the model is read or the recording embedded: a bad model file is not even opened
    argv = ["embed", str(nwb_file), "--model", str(tmp_path / "absent.pt"), "--write-back"]
    assert main(argv) == 2
    assert "pass --overwrite to replace it, or --sidecar" in capsys.readouterr().err
    assert main(["embed", str(nwb_file), "--model", str(model), "--write-back", "--overwrite"]) == 0
    # a sidecar that already holds one: refused before the work too (the model is not even opened)
    absent = str(tmp_path / "absent.pt")
    assert main(["embed", str(nwb_file), "--model", absent, "--out", str(sidecar)]) == 2
    assert "side.nwb' already holds an embedding" in capsys.readouterr().err
    (tmp_path / "session.neuroembed.nwb").write_bytes(sidecar.read_bytes())
    assert main(["embed", str(nwb_file), "--model", absent, "--write-back", "--sidecar"]) == 2
    assert "pass --overwrite to replace it, or --out with another" in capsys.readouterr().err
    again = tmp_path / "again.pt"
    assert (
        main(["fit", str(nwb_file), *TINY, "--out", str(again), "--write-back", "--sidecar"]) == 2
    )
    assert "or move that file away" in capsys.readouterr().err and not again.exists()
    argv = ["embed", str(nwb_file), "--model", str(model), "--out", str(sidecar), "--overwrite"]
    assert main(argv) == 0
    # a recording with another number of neurons than the model's
    other = tmp_path / "other.nwb"
    write_units_position_nwb(other, seed=1, n_units=3)
    capsys.readouterr()
    assert main(["embed", str(other), "--model", str(model), "--out", str(tmp_path / "o.h5")]) == 2
    assert "features" in capsys.readouterr().err and not (tmp_path / "o.h5").exists()


def test_fit_without_behaviour_is_time_contrastive(nwb_file: Path, tmp_path: Path, capsys) -> None:
    model = tmp_path / "t.pt"
    argv = [
        "fit",
        str(nwb_file),
        *TINY,
        "--iterations",
        "2",
        "--no-behaviour",
        "--bin-size",
        "0.05",
        "--out",
        str(model),
    ]
    assert main(argv) == 0
    assert "fitted offset1 (time) on" in capsys.readouterr().out


def test_labels_asked_for_are_used(tmp_path: Path, capsys) -> None:
    path = tmp_path / "trials.nwb"
    write_units_position_nwb(path, seed=0, trials=True)
    argv = ["fit", str(path), *TINY, "--iterations", "2", "--labels", "trials/side"]
    assert main([*argv, "--no-behaviour", "--out", str(tmp_path / "d.pt")]) == 0
    assert "fitted offset1 (discrete) on" in capsys.readouterr().out
    assert main([*argv, "--out", str(tmp_path / "m.pt")]) == 0
    assert "fitted offset1 (mixed) on" in capsys.readouterr().out
    batch = ["batch", str(path), "--out", str(tmp_path / "out"), "--labels", "trials/side"]
    assert main(batch) == 2
    assert "--labels are used by --conditional discrete" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_help_names_every_built_in_encoder() -> None:
    from neuroembed.cli import _MODEL_NAMES
    from neuroembed.models import MODELS

    assert sorted(_MODEL_NAMES) == sorted(MODELS)


def test_errors_are_one_line_and_exit_2(nwb_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["fit", str(tmp_path / "absent.nwb"), *TINY]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "absent.nwb" in err and "Traceback" not in err
    broken = tmp_path / "broken.nwb"
    broken.write_bytes(b"\0garbage" * 50)
    assert main(["fit", str(broken), *TINY]) == 2
    assert "not an NWB file" in capsys.readouterr().err
    assert main(["fit", str(nwb_file), *TINY, "--behaviour", "nope"]) == 2
    assert "behaviour='nope' matches nothing" in capsys.readouterr().err
    assert main(["fit", str(nwb_file), "--iterations", "0"]) == 2  # argparse: usage line + error
    assert "expected a positive integer" in capsys.readouterr().err
    assert main(["embed", str(nwb_file), "--model", str(broken)]) == 2
    capsys.readouterr()
    assert main(["fit", str(nwb_file), *TINY, "--sidecar"]) == 2
    assert "--sidecar only applies with --write-back" in capsys.readouterr().err


def test_out_paths_are_checked_before_the_work(
    nwb_file: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    from neuroembed.estimator import Estimator

    def no_fit(self, *args, **kwargs):
        raise AssertionError("fit must not run when --out is unusable")

    # --out naming a folder: one line, exit 2, before fitting
    with monkeypatch.context() as patch:
        patch.setattr(Estimator, "fit", no_fit)
        assert main(["fit", str(nwb_file), *TINY, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a folder" in err and "Traceback" not in err
    # --out in a folder that does not exist yet: the folder is made, as for embed's .h5 and batch
    model = tmp_path / "new" / "deeper" / "m.pt"
    assert main(["fit", str(nwb_file), *TINY, "--out", str(model)]) == 0
    assert model.is_file()
    capsys.readouterr()
    embed = ["embed", str(nwb_file), "--model", str(model), "--device", "cpu", "--out"]
    side = tmp_path / "other" / "side.nwb"
    assert main([*embed, str(side)]) == 0 and side.is_file()
    # an embedding written to a file whose name says it is something else, or onto a folder
    assert main([*embed, str(tmp_path / "e.csv")]) == 2
    assert "'.csv'; expected .h5, .hdf5 or .nwb" in capsys.readouterr().err
    assert not (tmp_path / "e.csv").exists()
    assert main([*embed, str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_options_that_do_not_fit_the_file_fail_before_the_work(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from neuroembed.estimator import Estimator

    def no_fit(self, *args, **kwargs):
        raise AssertionError("fit must not run")

    monkeypatch.setattr(Estimator, "fit", no_fit)
    csv = tmp_path / "rec.csv"
    pd.DataFrame({"u0": np.arange(50) % 3, "u1": np.arange(50) % 2}).to_csv(csv, index=False)
    # was: "from_dataframe() got an unexpected keyword argument 'bin_size'"
    assert main(["fit", str(csv), *TINY, "--neural", "u", "--bin-size", "0.1"]) == 2
    assert "--bin-size applies to NWB files" in capsys.readouterr().err
    # was: fitted (and transformed) first, refused after
    assert main(["fit", str(csv), *TINY, "--neural", "u", "--write-back"]) == 2
    assert "need an NWB source file" in capsys.readouterr().err
    # batch --out naming a file: was "[Errno 17] File exists"
    assert main(["batch", str(csv), "--out", str(csv), "--neural", "u", "--no-progress"]) == 2
    assert "is a file; expected the folder" in capsys.readouterr().err


def test_batch_forwards_its_options(nwb_file: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    import neuroembed.batch as batch

    seen = {}

    def fake_embed_files(paths, estimator_params, out_dir, **kwargs):
        seen.update(paths=paths, params=estimator_params, out_dir=out_dir, **kwargs)
        return pd.DataFrame(
            [
                {
                    "path": str(nwb_file),
                    "status": "ok",
                    "n_samples": 10,
                    "fit_seconds": 0.1,
                    "error": None,
                }
            ],
            columns=batch.SUMMARY_COLUMNS,
        )

    monkeypatch.setattr(batch, "embed_files", fake_embed_files)
    pattern = str(tmp_path / "*.nwb")
    argv = [
        "batch",
        pattern,
        "--out",
        str(tmp_path / "res"),
        "--scheduler",
        "tcp://10.1.2.3:8786",
        "--workers",
        "3",
    ]
    argv += [
        "--redo",
        "--iterations",
        "7",
        "--behaviour",
        "Position",
        "--bin-size",
        "0.05",
        "--no-progress",
    ]
    assert main(argv) == 0
    assert (
        seen["paths"] == pattern
        and seen["scheduler"] == "tcp://10.1.2.3:8786"
        and seen["n_workers"] == 3
    )
    assert (
        seen["redo"] is True and seen["params"] == {"max_iterations": 7} and seen["model"] is None
    )
    assert (
        seen["read_kwargs"] == {"behaviour": "Position", "bin_size": 0.05}
        and seen["progress"] is False
    )
    assert "1 embedded, 0 already done, 0 failed" in capsys.readouterr().out
    assert main(["batch", pattern, "--out", "x", "--model", "m.pt", "--iterations", "3"]) == 2


def test_batch_end_to_end_inline(nwb_file: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """The real embed_files with its tasks run in this process (the Dask path is tested in test_batch)."""
    import neuroembed.batch as batch

    monkeypatch.setattr(
        batch,
        "_run",
        lambda jobs, rows, *a: rows.update({j["path"]: batch._embed_one(j) for j in jobs}),
    )
    (tmp_path / "zz_corrupt.nwb").write_bytes(b"garbage" * 10)
    tiny = [
        "--architecture",
        "offset1",
        "--iterations",
        "10",
        "--batch-size",
        "32",
        "--output-dimension",
        "2",
    ]
    tiny += ["--time-offset", "1", "--device", "cpu", "--seed", "0"]
    argv = [
        "batch",
        str(tmp_path / "*.nwb"),
        "--out",
        str(tmp_path / "res"),
        "--no-progress",
        *tiny,
    ]
    assert main(argv) == 1  # one file failed
    out = capsys.readouterr().out
    assert "1 embedded, 0 already done, 1 failed" in out and "zz_corrupt.nwb" in out
    summary = pd.read_csv(tmp_path / "res" / "summary.csv")
    assert summary["status"].tolist() == ["ok", "failed"]
    assert main(argv) == 1
    assert "0 embedded, 1 already done, 1 failed" in capsys.readouterr().out


def test_list(nwb_file: Path, capsys) -> None:
    assert main(["list", str(nwb_file)]) == 0
    out = capsys.readouterr().out
    assert "units" in out and "processing/behavior/Position/x" in out and "SpatialSeries" in out


def test_demo_calls_run_demo(tmp_path: Path, monkeypatch, capsys) -> None:
    import neuroembed._demo as demo

    calls = []

    def fake_run_demo(out_dir, quick=False, max_iterations=None):
        calls.append((out_dir, quick, max_iterations))
        return {"figure": str(Path(out_dir) / "demo.png"), "results": []}

    monkeypatch.setattr(demo, "run_demo", fake_run_demo)
    assert main(["demo", "--out", str(tmp_path), "--quick", "--iterations", "5"]) == 0
    assert calls == [(str(tmp_path), True, 5)]
    assert "demo.png" in capsys.readouterr().out
    assert main(["demo"]) == 0 and calls[-1] == ("neuroembed-demo", False, None)


def test_python_dash_m_and_help(capsys) -> None:
    assert main(["--help"]) == 0
    assert "batch" in capsys.readouterr().out
    assert main([]) == 2  # a subcommand is required
    done = subprocess.run(
        [sys.executable, "-m", "neuroembed", "batch", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "--scheduler ADDRESS" in done.stdout

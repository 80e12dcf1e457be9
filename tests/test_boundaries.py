"""Bad input at the public boundaries other than the estimator gets a clear ValueError / TypeError.

``BOUNDARY_CASES`` is the table behind ``docs/errors.md`` (built by ``docs/gen_errors.py``; the estimator's own
cases are in ``tests/test_estimator_errors.py``). Each row is ``(boundary, case, call, error type, message
pattern)``: ``call(tmp)`` does what a user would do, with ``tmp`` an empty folder to write files into. Rows marked
``xfail`` are boundaries that fail obscurely today (the reason says what happens now); they are reported to be
fixed, and the strict marker makes the test fail once they are, so that the mark is removed.

The command line is exercised through :func:`neuroembed.cli.main`: an error must exit with status 2 and print
exactly one ``error:`` line on stderr, never a traceback; :class:`CLIExit` carries that line.
"""

from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path
from typing import Any
from unittest import mock

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

import neuroembed as ne
import neuroembed.cli
from neuroembed import metrics
from neuroembed.estimator import Estimator

FAST = dict(
    model="offset5", batch_size=16, max_iterations=2, time_offset=2, device="cpu", random_state=0
)

_RNG = np.random.default_rng(0)
Z = _RNG.normal(size=(100, 3))
Z_NAN = Z.copy()
Z_NAN[4, 1] = np.nan
X = _RNG.poisson(1.0, size=(200, 6)).astype(np.float32)
Y = np.linspace(0.0, 1.0, 200).astype(np.float32)
IMAGES = _RNG.random((16, 1, 8, 8))
IMAGES_NAN = IMAGES.copy()
IMAGES_NAN[0, 0, 3, 3] = np.nan


class CLIExit(Exception):
    """The command line exited with a non-zero status; the message is its one error line."""

    def __init__(self, code: int, line: str) -> None:
        super().__init__(line)
        self.code = code


# ------------------------------------------------------------------------------------------------------------
# helpers that make the files and objects a user would have
# ------------------------------------------------------------------------------------------------------------
@functools.cache
def _fitted() -> Estimator:
    return Estimator(**FAST).fit(X, Y)


def _garbage(tmp: Path, name: str = "garbage.nwb") -> Path:
    path = tmp / name
    path.write_bytes(b"this is not an HDF5 file\n" * 8)
    return path


def _plain_hdf5(tmp: Path, name: str = "plain.nwb") -> Path:
    path = tmp / name
    with h5py.File(path, "w") as f:
        f["spikes"] = np.ones((10, 3))
    return path


def _recording_h5(tmp: Path) -> Path:
    path = tmp / "rec.h5"
    with h5py.File(path, "w") as f:
        f["spikes"] = np.ones((10, 3))
        f["position"] = np.linspace(0.0, 1.0, 8)
        f["one_neuron"] = np.ones(10)
        f["scalar"] = 1.0
    return path


def _units_nwb(tmp: Path) -> Path:
    from tests.io._nwb_builders import write_units_position

    path = tmp / "units.nwb"
    write_units_position(path, duration=4.0, n_units=3)
    return path


def _csv(tmp: Path, n: int = 60, n_neurons: int = 4) -> Path:
    path = tmp / "rec.csv"
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        rng.poisson(1.0, size=(n, n_neurons)), columns=[f"n{i}" for i in range(n_neurons)]
    )
    frame["x"] = np.linspace(0.0, 1.0, n)
    frame.to_csv(path, index=False)
    return path


def _bytes(tmp: Path, content: bytes) -> Path:
    path = tmp / "model.pt"
    path.write_bytes(content)
    return path


def _torch_file(tmp: Path, payload: Any) -> Path:
    path = tmp / "model.pt"
    torch.save(payload, path)
    return path


def _model_file(tmp: Path) -> Path:
    path = tmp / "model.pt"
    _fitted().save(path)
    return path


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"unit_0": [1, 2, 3], "unit_1": [0, 1, 0], "x": [0.0, 0.5, 1.0], "t": ["a", "b", "c"]}
    )


def _cli(*argv: Any) -> Any:
    """A call that runs the command line and raises :class:`CLIExit` with its error line if it fails."""

    def call(tmp: Path) -> int:
        args = [str(a(tmp)) if callable(a) else str(a) for a in argv]
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = neuroembed.cli.main(args)
        text = err.getvalue()
        if code == 0:
            return code
        assert "Traceback" not in text, text
        error_lines = [line for line in text.splitlines() if ": error: " in line]
        assert len(error_lines) == 1, f"expected one error line on stderr, got:\n{text}"
        assert text.rstrip("\n").splitlines()[-1] == error_lines[0], text
        raise CLIExit(code, error_lines[0])

    return call


def _ssl(**params: Any) -> Any:
    return ne.ssl.SimCLR(
        output_dimension=4, batch_size=8, max_iterations=1, device="cpu", random_state=0, **params
    )


def _cluster_must_not_start(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("the batch started its Dask cluster before rejecting the settings")


def _embed_files_with_unknown_model(tmp: Path) -> Any:
    from neuroembed.batch import embed_files

    with mock.patch("neuroembed.batch._run", _cluster_must_not_start):
        return embed_files(
            [_csv(tmp)], {"model": "offset7"}, tmp / "out", read_kwargs={"neural": "n"}
        )


# ------------------------------------------------------------------------------------------------------------
# the table: (boundary, case, call(tmp), error type, message pattern)
# ------------------------------------------------------------------------------------------------------------
BOUNDARY_CASES = [
    # --- neuroembed.metrics ------------------------------------------------------------------------------
    ("metrics.consistency", "a single embedding", lambda tmp: metrics.consistency([Z]), ValueError, "at least two embeddings"),
    ("metrics.consistency", "one 3-D array instead of a list", lambda tmp: metrics.consistency(np.stack([Z, Z])), TypeError, "list.*of arrays"),
    ("metrics.consistency", "NaN in an embedding", lambda tmp: metrics.consistency([Z, Z_NAN]), ValueError, r"embeddings\[1\] contains 1 NaN"),
    ("metrics.consistency", "runs of different lengths", lambda tmp: metrics.consistency([Z, Z[:50]]), ValueError, r"same number of samples; got \[100, 50\]"),
    ("metrics.consistency", "1-D embeddings", lambda tmp: metrics.consistency([Z[:, 0], Z[:, 1]]), ValueError, r"must be \(n_samples, n_dims\)"),
    ("metrics.consistency", "empty embeddings", lambda tmp: metrics.consistency([Z[:0], Z[:0]]), ValueError, "is empty"),
    ("metrics.consistency", "text instead of numbers", lambda tmp: metrics.consistency([np.full((10, 3), "a"), Z[:10]]), TypeError, "real numbers"),
    ("metrics.consistency", "unknown between", lambda tmp: metrics.consistency([Z, Z], between="animals"), ValueError, r"between='animals'.*runs.*sessions"),
    ("metrics.consistency", "sessions without behaviour", lambda tmp: metrics.consistency([Z, Z], between="sessions"), ValueError, "behaviour is required"),
    ("metrics.consistency", "behaviour given between runs", lambda tmp: metrics.consistency([Z, Z], behaviour=[Y[:100], Y[:100]]), ValueError, "only used between sessions"),
    ("metrics.consistency", "behaviour shorter than its session", lambda tmp: metrics.consistency([Z, Z], between="sessions", behaviour=[Y[:100], Y[:90]]), ValueError, "90 samples, but 100"),
    ("metrics.consistency", "constant behaviour between sessions", lambda tmp: metrics.consistency([Z, Z], between="sessions", behaviour=[np.ones(100), np.ones(100)]), ValueError, "share only 1 behaviour bin"),
    ("metrics.consistency", "negative bootstrap", lambda tmp: metrics.consistency([Z, Z], bootstrap=-1), ValueError, "bootstrap must be an integer >= 0"),
    ("metrics.consistency", "confidence above 1", lambda tmp: metrics.consistency([Z, Z], confidence=1.5), ValueError, "between 0 and 1"),
    ("metrics.consistency", "fewer samples than dimensions + 2", lambda tmp: metrics.consistency([Z[:3], Z[:3] + 1.0]), ValueError, "samples"),
    ("metrics.consistency", "a constant (collapsed) embedding", lambda tmp: metrics.consistency([np.ones((100, 3)), Z]), ValueError, "constant"),
    ("metrics.decode", "behaviour of another length", lambda tmp: metrics.decode(Z, np.arange(90.0)), ValueError, "shape \\(90,\\) but the embedding has 100 samples"),
    ("metrics.decode", "NaN in the embedding", lambda tmp: metrics.decode(Z_NAN, np.arange(100.0)), ValueError, "embedding contains 1 NaN"),
    ("metrics.decode", "NaN in the behaviour", lambda tmp: metrics.decode(Z, np.r_[np.nan, np.arange(99.0)]), ValueError, "behaviour contains 1 NaN"),
    ("metrics.decode", "1-D embedding", lambda tmp: metrics.decode(Z[:, 0], np.arange(100.0)), ValueError, r"\(n_samples, n_dims\)"),
    ("metrics.decode", "3-D embedding", lambda tmp: metrics.decode(Z[None], np.arange(100.0)), ValueError, r"shape \(1, 100, 3\)"),
    ("metrics.decode", "empty embedding", lambda tmp: metrics.decode(Z[:0], np.arange(0.0)), ValueError, "is empty"),
    ("metrics.decode", "text labels as continuous", lambda tmp: metrics.decode(Z, np.array(["left", "right"] * 50), discrete=False), TypeError, "holds text"),
    ("metrics.decode", "non-integer labels as discrete", lambda tmp: metrics.decode(Z, np.arange(100) * 0.5, discrete=True), TypeError, "must be integers"),
    ("metrics.decode", "unknown method", lambda tmp: metrics.decode(Z, np.arange(100.0), method="svm"), ValueError, r"method='svm'.*knn"),
    ("metrics.decode", "train_fraction of 1", lambda tmp: metrics.decode(Z, np.arange(100.0), train_fraction=1.0), ValueError, "between 0 and 1"),
    ("metrics.decode", "more neighbours than training samples", lambda tmp: metrics.decode(Z[:10], np.arange(10.0)), ValueError, "n_neighbors=16 is more than the 8 training samples"),
    ("metrics.decode", "one class in the training block", lambda tmp: metrics.decode(Z, np.zeros(100, int)), ValueError, "single label"),
    ("metrics.decode", "constant behaviour", lambda tmp: metrics.decode(Z, np.ones(100)), ValueError, "constant"),
    ("metrics.latent_recovery", "latent of another length", lambda tmp: metrics.latent_recovery(Z, Z[:50]), ValueError, "50 samples, but 100"),
    ("metrics.latent_recovery", "NaN in the latent", lambda tmp: metrics.latent_recovery(Z, Z_NAN), ValueError, "true_latent contains 1 NaN"),
    ("metrics.latent_recovery", "one sample", lambda tmp: metrics.latent_recovery(Z[:1], Z[:1]), ValueError, "at least two samples"),
    ("metrics.latent_recovery", "None as embedding", lambda tmp: metrics.latent_recovery(None, Z), TypeError, "got None"),
    ("metrics.goodness_of_fit", "not an estimator", lambda tmp: metrics.goodness_of_fit(object(), X), TypeError, "score"),
    ("metrics.goodness_of_fit", "an unfitted estimator", lambda tmp: metrics.goodness_of_fit(Estimator(), X), ValueError, "is it fitted"),
    ("metrics.goodness_of_fit", "wrong neuron count", lambda tmp: metrics.goodness_of_fit(_fitted(), X[:, :4], Y), ValueError, "X has 4 features, but Estimator is expecting 6"),
    ("metrics.goodness_of_fit", "NaN in the neural data", lambda tmp: metrics.goodness_of_fit(_fitted(), np.where(X > 3, np.nan, X), Y), ValueError, "NaN"),
    ("metrics.goodness_of_fit", "behaviour missing", lambda tmp: metrics.goodness_of_fit(_fitted(), X), ValueError, "needs behaviour"),
    ("metrics.goodness_of_fit", "session out of range", lambda tmp: metrics.goodness_of_fit(_fitted(), X, Y, session=2), ValueError, "out of range"),
    ("metrics.goodness_of_fit", "a recording one window long", lambda tmp: metrics.goodness_of_fit(_fitted(), X[:5], Y[:5]), ValueError, "samples"),
    ("metrics.goodness_of_fit_history", "history without num_negatives", lambda tmp: metrics.goodness_of_fit_history([1.0, 2.0]), ValueError, "num_negatives is required"),
    ("metrics.goodness_of_fit_history", "2-D history", lambda tmp: metrics.goodness_of_fit_history(np.ones((2, 2)), num_negatives=4), ValueError, "must be 1-D"),
    # --- neuroembed.io --------------------------------------------------------------------------------------
    ("io.read_nwb", "missing file", lambda tmp: ne.io.read_nwb(tmp / "missing.nwb"), FileNotFoundError, "NWB file not found"),
    ("io.read_nwb", "a folder", lambda tmp: ne.io.read_nwb(tmp), ValueError, "is not a file"),
    ("io.read_nwb", "corrupt file (not HDF5)", lambda tmp: ne.io.read_nwb(_garbage(tmp)), ValueError, "is not an NWB file: it is not HDF5"),
    ("io.read_nwb", "HDF5 file that is not NWB", lambda tmp: ne.io.read_nwb(_plain_hdf5(tmp)), ValueError, "could not be read as an NWB file"),
    ("io.read_nwb", "neural series that is not in the file", lambda tmp: ne.io.read_nwb(_units_nwb(tmp), neural="Fluorescence"), ValueError, "neural='Fluorescence' matches nothing.*available series"),
    ("io.read_nwb", "behaviour that is not in the file", lambda tmp: ne.io.read_nwb(_units_nwb(tmp), behaviour="Speed"), ValueError, "behaviour='Speed' matches nothing"),
    ("io.read_nwb", "labels without an intervals table", lambda tmp: ne.io.read_nwb(_units_nwb(tmp), labels="trials/side"), ValueError, "no trials or intervals table"),
    ("io.read_nwb", "unit ids not in the file", lambda tmp: ne.io.read_nwb(_units_nwb(tmp), unit_ids=[99]), ValueError, r"unit_ids \[99\] are not in the units table"),
    ("io.read_nwb", "time range outside the recording", lambda tmp: ne.io.read_nwb(_units_nwb(tmp), time_range=(100, 200)), ValueError, "do not overlap in time"),
    ("io.read_nwb", "reversed time range", lambda tmp: ne.io.read_nwb(_units_nwb(tmp), time_range=(2, 1)), ValueError, "start < stop"),
    ("io.read_nwb", "bin size of zero", lambda tmp: ne.io.read_nwb(_units_nwb(tmp), bin_size=0), ValueError, "bin_size must be a finite number > 0"),
    ("io.read_nwb", "bin longer than the recording", lambda tmp: ne.io.read_nwb(_units_nwb(tmp), bin_size=1000.0), ValueError, "shorter than one bin"),
    ("io.read_nwb", "time range given as text", lambda tmp: ne.io.read_nwb(_units_nwb(tmp), time_range="ab"), TypeError, "time_range"),
    ("io.list_nwb", "corrupt file", lambda tmp: ne.io.list_nwb(_garbage(tmp)), ValueError, "is not an NWB file"),
    ("io.write_embedding", "missing NWB file", lambda tmp: ne.io.write_embedding(tmp / "missing.nwb", np.ones((3, 2)), np.arange(3.0)), FileNotFoundError, "NWB file not found"),
    ("io.write_embedding", "timestamps of another length", lambda tmp: ne.io.write_embedding(_units_nwb(tmp), np.ones((3, 2)), np.arange(4.0)), ValueError, r"one time per embedding row \(3\)"),
    ("io.write_embedding", "NaN in the embedding", lambda tmp: ne.io.write_embedding(_units_nwb(tmp), np.full((3, 2), np.nan), np.arange(3.0)), ValueError, "embedding contains 6 NaN"),
    ("io.read_embedding", "file without an embedding", lambda tmp: ne.io.read_embedding(_units_nwb(tmp)), ValueError, "has no embedding at"),
    ("io.read_hdf5", "missing file", lambda tmp: ne.io.read_hdf5(tmp / "missing.h5", neural="spikes"), FileNotFoundError, "HDF5 file not found"),
    ("io.read_hdf5", "corrupt file", lambda tmp: ne.io.read_hdf5(_garbage(tmp, "garbage.h5"), neural="spikes"), ValueError, "is not an HDF5 file"),
    ("io.read_hdf5", "missing dataset", lambda tmp: ne.io.read_hdf5(_recording_h5(tmp), neural="spike"), ValueError, "neural='spike' is not in the file.*its datasets: .*'spikes'"),
    ("io.read_hdf5", "behaviour with fewer rows", lambda tmp: ne.io.read_hdf5(_recording_h5(tmp), neural="spikes", behaviour="position"), ValueError, "has 8 rows but the neural dataset has 10"),
    ("io.read_hdf5", "dataset name that is not a string", lambda tmp: ne.io.read_hdf5(_recording_h5(tmp), neural=3), TypeError, "must be the path of a dataset"),
    ("io.read_hdf5", "time_axis of 2", lambda tmp: ne.io.read_hdf5(_recording_h5(tmp), neural="spikes", time_axis=2), ValueError, "time_axis must be 0 or 1"),
    ("io.read_hdf5", "sample range past the end", lambda tmp: ne.io.read_hdf5(_recording_h5(tmp), neural="spikes", sample_range=(20, 30)), ValueError, "0 sample"),
    ("io.read_hdf5", "scalar dataset as neural data", lambda tmp: ne.io.read_hdf5(_recording_h5(tmp), neural="scalar"), ValueError, "scalar"),
    ("io.read_hdf5", "time_axis=1 on a 1-D dataset", lambda tmp: ne.io.read_hdf5(_recording_h5(tmp), neural="one_neuron", time_axis=1), ValueError, "time_axis"),
    ("io.open_hdf5_dataset", "missing dataset", lambda tmp: ne.io.open_hdf5_dataset(_recording_h5(tmp), "nope").__enter__(), ValueError, "name='nope' is not in the file"),
    ("io.write_embedding_hdf5", "timestamps of another length", lambda tmp: ne.io.write_embedding_hdf5(tmp / "out.h5", np.ones((3, 2)), np.arange(4.0)), ValueError, r"timestamps must have shape \(3,\)"),
    ("io.write_embedding_hdf5", "1-D embedding", lambda tmp: ne.io.write_embedding_hdf5(tmp / "out.h5", np.ones(3), np.arange(3.0)), ValueError, "must be 2-D"),
    ("io.from_dataframe", "not a DataFrame", lambda tmp: ne.io.from_dataframe(np.ones((3, 3)), neural="unit_"), TypeError, "must be a pandas DataFrame"),
    ("io.from_dataframe", "missing neural columns", lambda tmp: ne.io.from_dataframe(_frame(), neural=["unit_0", "unit_9"]), ValueError, r"neural columns \['unit_9'\] are not in the DataFrame"),
    ("io.from_dataframe", "prefix that matches no column", lambda tmp: ne.io.from_dataframe(_frame(), neural="cell_"), ValueError, "neither a column nor the prefix"),
    ("io.from_dataframe", "missing behaviour column", lambda tmp: ne.io.from_dataframe(_frame(), neural="unit_", behaviour="speed"), ValueError, "behaviour='speed'"),
    ("io.from_dataframe", "missing labels column", lambda tmp: ne.io.from_dataframe(_frame(), neural="unit_", labels="side"), ValueError, "labels='side' is not a column"),
    ("io.from_dataframe", "text in the neural columns", lambda tmp: ne.io.from_dataframe(_frame(), neural=["t"]), TypeError, "must hold numbers"),
    ("io.from_dataframe", "text as times", lambda tmp: ne.io.from_dataframe(_frame(), neural="unit_", time="t"), TypeError, "must hold numbers \\(seconds\\)"),
    ("io.from_dataframe", "empty list of columns", lambda tmp: ne.io.from_dataframe(_frame(), neural=[]), ValueError, "empty list of columns"),
    ("io.from_dataframe", "NaN in the neural columns", lambda tmp: ne.io.from_dataframe(pd.DataFrame({"u": [1.0, np.nan]}), neural="u"), ValueError, "1 NaN"),
    # --- neuroembed.batch -----------------------------------------------------------------------------------
    ("batch.embed_files", "empty path list", lambda tmp: ne.batch.embed_files([], out_dir=tmp / "out"), ValueError, "paths is empty"),
    ("batch.embed_files", "pattern that matches no file", lambda tmp: ne.batch.embed_files(str(tmp / "*.nwb"), out_dir=tmp / "out"), ValueError, "matches no file"),
    ("batch.embed_files", "a number among the paths", lambda tmp: ne.batch.embed_files([3], out_dir=tmp / "out"), TypeError, "file paths or glob patterns; got int"),
    ("batch.embed_files", "both client and scheduler", lambda tmp: ne.batch.embed_files([_csv(tmp)], out_dir=tmp / "out", client=object(), scheduler="tcp://host:8786"), ValueError, "either client= or scheduler="),
    ("batch.embed_files", "both model and estimator settings", lambda tmp: ne.batch.embed_files([_csv(tmp)], {"max_iterations": 2}, tmp / "out", model=_model_file(tmp)), ValueError, "either model="),
    ("batch.embed_files", "missing model file", lambda tmp: ne.batch.embed_files([_csv(tmp)], out_dir=tmp / "out", model=tmp / "missing.pt"), FileNotFoundError, "model file not found"),
    ("batch.embed_files", "unknown estimator setting", lambda tmp: ne.batch.embed_files([_csv(tmp)], {"iterations": 2}, tmp / "out"), ValueError, r"unknown settings \['iterations'\]"),
    ("batch.embed_files", "zero workers", lambda tmp: ne.batch.embed_files([_csv(tmp)], out_dir=tmp / "out", n_workers=0), ValueError, "n_workers must be an integer >= 1"),
    ("batch.embed_files", "estimator settings as a list", lambda tmp: ne.batch.embed_files([_csv(tmp)], [("max_iterations", 2, 3)], tmp / "out"), TypeError, "estimator_params"),
    ("batch.embed_files", "unknown model name in the settings", _embed_files_with_unknown_model, ValueError, r"model='offset7'"),
    ("batch.read_recording", "unsupported file type", lambda tmp: ne.batch.read_recording(tmp / "rec.txt"), ValueError, "unsupported file type '.txt'"),
    ("batch.read_recording", "HDF5 file without neural=", lambda tmp: ne.batch.read_recording(_recording_h5(tmp)), ValueError, "neural"),
    # --- neuroembed.ssl -------------------------------------------------------------------------------------
    ("ssl.SimCLR.fit", "2-D (flattened) images", lambda tmp: _ssl().fit(IMAGES.reshape(16, -1)), ValueError, "must be 4-D images.*reshape"),
    ("ssl.SimCLR.fit", "3-D images without channels", lambda tmp: _ssl().fit(IMAGES[:, 0]), ValueError, r"X\[:, None\]"),
    ("ssl.SimCLR.fit", "NaN in the images", lambda tmp: _ssl().fit(IMAGES_NAN), ValueError, "1 NaN or infinite"),
    ("ssl.SimCLR.fit", "no images", lambda tmp: _ssl().fit(IMAGES[:0]), ValueError, "0 image"),
    ("ssl.SimCLR.fit", "one image", lambda tmp: _ssl().fit(IMAGES[:1]), ValueError, "at least 2"),
    ("ssl.SimCLR.fit", "images of zero height", lambda tmp: _ssl().fit(np.empty((4, 1, 0, 8))), ValueError, "empty image dimension"),
    ("ssl.SimCLR.fit", "float images outside [0, 1]", lambda tmp: _ssl().fit(IMAGES * 200.0), ValueError, r"uint8 \(0..255\) or as numbers in \[0, 1\]"),
    ("ssl.SimCLR.fit", "text instead of images", lambda tmp: _ssl().fit(np.full((4, 1, 2, 2), "a")), TypeError, "real numbers"),
    ("ssl.SimCLR.fit", "unknown backbone", lambda tmp: _ssl(backbone="vgg").fit(IMAGES), ValueError, r"backbone='vgg'.*cnn"),
    ("ssl.SimCLR.fit", "batch_size of 1", lambda tmp: ne.ssl.SimCLR(batch_size=1).fit(IMAGES), ValueError, "batch_size must be an integer >= 2"),
    ("ssl.SimCLR.fit", "unknown device", lambda tmp: _ssl().set_params(device="tpu").fit(IMAGES), ValueError, "device='tpu'"),
    ("ssl.SimCLR.transform", "images of another size", lambda tmp: _ssl().fit(IMAGES).transform(IMAGES[:, :, :4, :4]), ValueError, r"fitted on \(1, 8, 8\)"),
    ("ssl.SupCon.fit", "no labels", lambda tmp: ne.ssl.SupCon(batch_size=8, max_iterations=1, device="cpu").fit(IMAGES), ValueError, "needs class labels"),
    ("ssl.SupCon.fit", "non-integer labels", lambda tmp: ne.ssl.SupCon(batch_size=8, max_iterations=1, device="cpu").fit(IMAGES, np.linspace(0, 1, 16)), TypeError, "must be integers"),
    ("ssl.SupCon.fit", "fewer labels than images", lambda tmp: ne.ssl.SupCon(batch_size=8, max_iterations=1, device="cpu").fit(IMAGES, np.zeros(10, int)), ValueError, r"X has 16|16 images"),
    ("ssl.Triplet.fit", "one class", lambda tmp: ne.ssl.Triplet(batch_size=8, max_iterations=1, device="cpu").fit(IMAGES, np.zeros(16, int)), ValueError, "at least two classes"),
    ("ssl.CLIP.fit", "second modality missing", lambda tmp: ne.ssl.CLIP(max_iterations=1, device="cpu").fit(IMAGES), ValueError, "two paired modalities"),
    # --- Estimator.load (model files are data; the rest of the estimator is in tests/test_estimator_errors.py) ----
    ("Estimator.load", "missing file", lambda tmp: Estimator.load(tmp / "missing.pt"), FileNotFoundError, "does not exist"),
    ("Estimator.load", "binary garbage", lambda tmp: Estimator.load(_bytes(tmp, b"x" * 100)), ValueError, "refused to load"),
    ("Estimator.load", "an empty file", lambda tmp: Estimator.load(_bytes(tmp, b"")), ValueError, "model file"),
    ("Estimator.load", "a text file", lambda tmp: Estimator.load(_garbage(tmp, "model.pt")), ValueError, "model file"),
    ("Estimator.load", "a torch file of other tensors", lambda tmp: Estimator.load(_torch_file(tmp, {"weights": torch.ones(2)})), ValueError, "not a neuroembed model file"),
    # --- the command line -----------------------------------------------------------------------------------
    ("cli", "fit on a missing file", _cli("fit", lambda tmp: tmp / "missing.nwb", "--quiet"), CLIExit, "neuroembed fit: error: NWB file not found"),
    ("cli", "fit on a corrupt file", _cli("fit", _garbage, "--quiet"), CLIExit, "is not an NWB file"),
    ("cli", "fit with an unknown model", _cli("fit", _csv, "--neural", "n", "--model", "offset7", "--quiet"), CLIExit, r"model='offset7' is not supported; choose one of"),
    ("cli", "fit with an unknown device", _cli("fit", _csv, "--neural", "n", "--device", "tpu", "--quiet"), CLIExit, "device='tpu'"),
    ("cli", "fit with a negative iteration count", _cli("fit", _csv, "--iterations", "-3"), CLIExit, "expected a positive integer; got '-3'"),
    ("cli", "fit with an unknown conditional", _cli("fit", _csv, "--conditional", "space"), CLIExit, "invalid choice: 'space'"),
    ("cli", "an unknown option", _cli("fit", _csv, "--frobnicate"), CLIExit, "unrecognized arguments: --frobnicate"),
    ("cli", "an unknown command", _cli("train"), CLIExit, "invalid choice: 'train'"),
    ("cli", "no command", _cli(), CLIExit, "required: COMMAND"),
    ("cli", "--behaviour with --no-behaviour", _cli("fit", _garbage, "--behaviour", "x", "--no-behaviour"), CLIExit, "contradict each other"),
    ("cli", "--sidecar without --write-back", _cli("fit", _garbage, "--sidecar"), CLIExit, "only applies with --write-back"),
    ("cli", "embed without --model", _cli("embed", _garbage), CLIExit, "required: --model"),
    ("cli", "embed with a missing model file", _cli("embed", _garbage, "--model", lambda tmp: tmp / "missing.pt"), CLIExit, "does not exist"),
    ("cli", "embed with a text file as model", _cli("embed", _csv, "--model", _garbage), CLIExit, "not a readable model file|refused to load"),
    ("cli", "embed a recording with other neurons", _cli("embed", _csv, "--neural", "n", "--model", _model_file), CLIExit, "X has 4 features, but Estimator is expecting 6"),
    ("cli", "list a CSV file", _cli("list", _csv), CLIExit, "is not an NWB file"),
    ("cli", "batch with a pattern matching nothing", _cli("batch", lambda tmp: tmp / "*.nwb", "--out", lambda tmp: tmp / "out"), CLIExit, "matches no file"),
    ("cli", "batch with --model and model settings", _cli("batch", _csv, "--out", lambda tmp: tmp / "out", "--model", "m.pt", "--iterations", "3"), CLIExit, "cannot be given with it"),
    ("cli", "fit on a CSV file without --neural", _cli("fit", _csv, "--quiet"), CLIExit, "--neural"),
    # --- neuroembed.datasets --------------------------------------------------------------------------------
    ("datasets.linear_track", "zero samples", lambda tmp: ne.datasets.linear_track(n_samples=0), ValueError, "n_samples must be an integer >= 2; got 0"),
    ("datasets.linear_track", "fractional samples", lambda tmp: ne.datasets.linear_track(n_samples=10.5), TypeError, "n_samples must be an integer"),
    ("datasets.linear_track", "zero neurons", lambda tmp: ne.datasets.linear_track(n_neurons=0), ValueError, "n_neurons must be an integer >= 1"),
    ("datasets.linear_track", "place-cell fraction above 1", lambda tmp: ne.datasets.linear_track(place_cell_fraction=2), ValueError, "between 0 and 1"),
    ("datasets.linear_track", "field width range reversed", lambda tmp: ne.datasets.linear_track(field_width=(0.2, 0.1)), ValueError, "low <= high"),
    ("datasets.linear_track", "NaN peak rate", lambda tmp: ne.datasets.linear_track(peak_rate=float("nan")), ValueError, "peak_rate must be a finite number"),
    ("datasets.linear_track", "negative seed", lambda tmp: ne.datasets.linear_track(random_state=-1), ValueError, "non-negative"),
    ("datasets.linear_track", "text seed", lambda tmp: ne.datasets.linear_track(random_state="a"), TypeError, "random_state must be None, an int"),
    ("datasets.linear_track", "one sample", lambda tmp: ne.datasets.linear_track(n_samples=1, n_neurons=3, random_state=0), ValueError, "n_samples"),
    ("datasets.latent_manifold", "zero latent dimensions", lambda tmp: ne.datasets.latent_manifold(latent_dim=0), ValueError, "latent_dim must be an integer >= 1"),
    ("datasets.latent_manifold", "unknown noise", lambda tmp: ne.datasets.latent_manifold(noise="laplace"), ValueError, r"noise='laplace'.*poisson"),
    ("datasets.latent_manifold", "absurd mean rate", lambda tmp: ne.datasets.latent_manifold(n_samples=20, n_neurons=3, mean_rate=1e30, random_state=0), ValueError, "mean_rate"),
    ("datasets.reaching", "zero trials", lambda tmp: ne.datasets.reaching(n_trials=0), ValueError, "n_trials must be an integer >= 1"),
    ("datasets.reaching", "reach longer than the trial", lambda tmp: ne.datasets.reaching(onset=(0.5, 0.6)), ValueError, "exceeds trial_duration"),
    ("datasets.reaching", "bin longer than the trial", lambda tmp: ne.datasets.reaching(bin_size=1.0, onset=0.05, reach_duration=0.3), ValueError, "expected at least 2"),
    ("datasets.load_rat_hippocampus", "unknown rat", lambda tmp: ne.datasets.load_rat_hippocampus(rat="bob"), ValueError, r"rat='bob'.*achilles"),
    ("datasets.load_rat_hippocampus", "missing file", lambda tmp: ne.datasets.load_rat_hippocampus(path=tmp / "buddy.jl"), FileNotFoundError, "download=True"),
    ("datasets.load_rat_hippocampus", "download given as text", lambda tmp: ne.datasets.load_rat_hippocampus(download="yes"), TypeError, "download must be True or False"),
]  # fmt: skip


def _case_id(entry: Any) -> str:
    values = entry.values if hasattr(entry, "values") else entry
    return f"{values[0]}: {values[1]}"


@pytest.mark.parametrize(
    "boundary,case,call,error,pattern", BOUNDARY_CASES, ids=[_case_id(c) for c in BOUNDARY_CASES]
)
def test_boundary_rejects(tmp_path, boundary, case, call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(tmp_path)


def test_case_names_are_unique():
    names = [_case_id(c) for c in BOUNDARY_CASES]
    assert len(names) == len(set(names))


# ------------------------------------------------------------------------------------------------------------
# what is allowed: sessions of different lengths and neuron counts
# ------------------------------------------------------------------------------------------------------------
def _session(n: int, n_neurons: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.poisson(1.0, size=(n, n_neurons)).astype(np.float32),
        rng.uniform(0.0, 1.0, n).astype(np.float32),
    )


@pytest.mark.parametrize(
    "shapes",
    [[(120, 6), (80, 6)], [(100, 6), (100, 3)], [(150, 7), (60, 2), (90, 4)]],
    ids=["different lengths", "different neuron counts", "both"],
)
def test_sessions_of_different_lengths_and_neuron_counts_fit(shapes):
    sessions = [_session(n, d, seed) for seed, (n, d) in enumerate(shapes)]
    est = Estimator(**FAST).fit([x for x, _ in sessions], [y for _, y in sessions])
    assert est.n_sessions_ == len(shapes)
    assert est.session_n_features_ == [d for _, d in shapes]
    for i, (x, _) in enumerate(sessions):
        Z_i = est.transform(x, session=i)
        assert Z_i.shape == (x.shape[0], est.output_dimension)
        assert np.isfinite(Z_i).all()
    # each session has its own input layer: the same data through another session's layer differs
    if shapes[0][1] == shapes[1][1]:
        assert not np.array_equal(
            est.transform(sessions[0][0], session=0), est.transform(sessions[0][0], session=1)
        )


def test_a_session_too_short_is_named():
    long, short = _session(120, 6, 0), _session(4, 6, 1)
    with pytest.raises(ValueError, match=r"neural\[1\] has 4 sample"):
        Estimator(**FAST).fit([long[0], short[0]], [long[1], short[1]])


def test_a_batch_larger_than_a_session_is_clipped_with_a_warning():
    # as scikit-learn's MLPRegressor clips its batches: a 12-sample session has 8 window centres of offset5
    long, short = _session(120, 6, 0), _session(12, 6, 1)
    with pytest.warns(UserWarning, match="batch_size=16 is larger than the 8 window centres"):
        est = Estimator(**FAST).fit([long[0], short[0]], [long[1], short[1]])
    assert est.n_iter_ == FAST["max_iterations"] and est.batch_size_ == 8
    assert np.isfinite(est.loss_history_).all()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_cuda_asked_where_none_exists(tmp_path):
    with pytest.raises(ValueError, match="CUDA is not available"):
        _ssl().set_params(device="cuda").fit(IMAGES)
    with pytest.raises(CLIExit, match="neuroembed fit: error: .*CUDA is not available"):
        _cli("fit", _csv, "--neural", "n", "--device", "cuda", "--quiet")(tmp_path)

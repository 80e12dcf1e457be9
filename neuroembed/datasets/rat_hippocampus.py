"""CEBRA's rat hippocampus recordings (Grosmark & Buzsaki 2016): reading, and downloading on request.

The files are those CEBRA distributes: for each of four rats (achilles, buddy, cicero, gatsby), a
joblib file holding a dict with ``spikes`` (n_samples, n_neurons) spike counts in 25 ms bins and
``position`` (n_samples, 3) = [position on the 1.6 m track in m, running right (0/1), running
left (0/1)]. The data come from CRCNS hc-11; work using them should cite Grosmark & Buzsaki,
Science 351, 1440 (2016), and CEBRA (Schneider, Lee & Mathis, Nature 2023) for the preprocessing.

Joblib files are pickles. This module never unpickles arbitrary objects: a downloaded file must
match its MD5 checksum before it is opened, and every file is read by an unpickler that only
accepts numpy arrays (anything else raises :class:`ValueError`).
"""

from __future__ import annotations

import hashlib
import inspect
import os
import pickle
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from neuroembed._validation import check_choice
from neuroembed.recording import Recording

__all__ = ["load_rat_hippocampus", "RAT_HIPPOCAMPUS_FILES", "RATS", "default_data_dir"]

RATS = ("achilles", "buddy", "cicero", "gatsby")

#: Where each rat's file is published and its MD5 checksum. Kept identical to the manifest
#: ``datasets/rat_hippocampus.json`` at the top of the repository (a test checks this).
#: The URLs and checksums are those CEBRA's downloader uses (cebra/datasets/hippocampus.py);
#: ``md5_verified`` says whether we checked the checksum against a copy of the file ourselves.
RAT_HIPPOCAMPUS_FILES: dict[str, dict[str, Any]] = {
    "achilles": {
        "url": "https://figshare.com/ndownloader/files/40849463?private_link=9f91576cbbcc8b0d8828",
        "md5": "c52f9b55cbc23c66d57f3842214058b8",
        "md5_verified": False,
    },
    "buddy": {
        "url": "https://figshare.com/ndownloader/files/40849460?private_link=9f91576cbbcc8b0d8828",
        "md5": "36341322907708c466871bf04bc133c2",
        "md5_verified": True,
    },
    "cicero": {
        "url": "https://figshare.com/ndownloader/files/40849457?private_link=9f91576cbbcc8b0d8828",
        "md5": "a83b02dbdc884fdd7e53df362499d42f",
        "md5_verified": False,
    },
    "gatsby": {
        "url": "https://figshare.com/ndownloader/files/40849454?private_link=9f91576cbbcc8b0d8828",
        "md5": "2b889da48178b3155011c12555342813",
        "md5_verified": False,
    },
}

BIN_SIZE = 0.025
DATA_DIR_ENV = "NEUROEMBED_DATA_DIR"

# the only globals a CEBRA rat file may name: numpy arrays, their dtypes, joblib's array wrapper
_ALLOWED_GLOBALS = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


def default_data_dir() -> Path:
    """Folder the rat files are looked for in and downloaded to.

    ``$NEUROEMBED_DATA_DIR/rat_hippocampus`` when that environment variable is set, else
    ``~/.cache/neuroembed/rat_hippocampus``.
    """
    root = os.environ.get(DATA_DIR_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "neuroembed"
    return base / "rat_hippocampus"


def file_md5(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """MD5 hex digest of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_md5(path: Path, rat: str) -> None:
    expected = RAT_HIPPOCAMPUS_FILES[rat]["md5"]
    if expected is None:  # only reached when verify=True was asked for explicitly
        raise ValueError(
            f"No MD5 checksum is known for rat {rat!r}, so {path} cannot be verified; pass "
            "verify=False to read it anyway (only for a file you trust)."
        )
    actual = file_md5(path)
    if actual != expected:
        raise ValueError(
            f"{path} has MD5 {actual}, but the published file for rat {rat!r} has MD5 {expected}; "
            "the file is corrupt, incomplete or a different file. Delete it and download it again "
            "(download=True), or pass verify=False for a file you made yourself."
        )


def _safe_joblib_load(path: Path) -> Any:
    """Read an uncompressed joblib file whose only objects are numpy arrays in dicts and lists."""
    from joblib.numpy_pickle import NumpyUnpickler

    class _ArraysOnly(NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) not in _ALLOWED_GLOBALS:
                raise ValueError(
                    f"{path} refers to {module}.{name}; a rat hippocampus file may only hold numpy "
                    "arrays, so it was not read (it may not be a CEBRA rat file, or it was tampered with)."
                )
            return super().find_class(module, name)

    with open(path, "rb") as handle:
        head = handle.read(2)
        handle.seek(0)
        if len(head) < 2 or head[0] != 0x80:
            raise ValueError(
                f"{path} is not an uncompressed joblib/pickle file (it starts with {head!r}); "
                "expected a CEBRA rat hippocampus .jl file."
            )
        kwargs: dict[str, Any] = {}
        if "ensure_native_byte_order" in inspect.signature(NumpyUnpickler.__init__).parameters:
            kwargs["ensure_native_byte_order"] = True
        unpickler = _ArraysOnly(str(path), handle, **kwargs)
        try:
            return unpickler.load()
        except (pickle.UnpicklingError, EOFError, AttributeError, IndexError, KeyError) as err:
            raise ValueError(f"{path} could not be read as a joblib file: {err}") from None
        except ValueError as err:
            if str(path) in str(err):  # the refusal above
                raise
            # joblib's own, such as "EOF: reading array data" for a truncated file
            raise ValueError(
                f"{path} could not be read as a joblib file ({err}); it may be truncated: download it again."
            ) from None


def _download(url: str, target: Path, rat: str) -> None:
    """Download ``url`` to ``target`` atomically, verifying the MD5 before the file is kept."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{rat}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "neuroembed"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=60) as response:
            shutil.copyfileobj(response, out)
        if RAT_HIPPOCAMPUS_FILES[rat]["md5"] is not None:
            _verify_md5(tmp, rat)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def load_rat_hippocampus(
    path: str | os.PathLike[str] | None = None,
    rat: str = "buddy",
    download: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    verify: bool | None = None,
) -> Recording:
    """Load one rat of CEBRA's hippocampus data set (a rat running on a 1.6 m linear track).

    Parameters
    ----------
    path : path-like, optional
        A ``.jl`` file to read. If omitted, ``<data_dir>/<rat>.jl`` is read.
    rat : {"achilles", "buddy", "cicero", "gatsby"}, default="buddy"
        Which rat; picks the file name and the expected checksum.
    download : bool, default=False
        If the file is missing from ``data_dir``, download it from the public URL in
        :data:`RAT_HIPPOCAMPUS_FILES` (needs internet). The download is verified against the
        published MD5 before it is kept, and never overwrites an existing file.
    data_dir : path-like, optional
        Folder holding ``<rat>.jl``; default :func:`default_data_dir` (``$NEUROEMBED_DATA_DIR``
        or ``~/.cache/neuroembed``, plus ``rat_hippocampus``).
    verify : bool, optional
        Check the file's MD5 against the published one before reading. Default: check files
        found in ``data_dir`` (and, always, downloads) whose checksum is known, not a file given
        by ``path``. Whatever this says, only numpy arrays are ever unpickled.

    Returns
    -------
    Recording
        ``neural`` (n_samples, n_neurons) float32 spike counts per 25 ms bin; ``behaviour``
        (n_samples, 3) float32 ``[position in m, running right, running left]``; ``labels``
        (n_samples,) int64 running direction (0 right, 1 left); ``timestamps`` (n_samples,) in
        seconds (bin starts, 25 ms apart); ``metadata`` with the rat, source file and bin size.

    Raises
    ------
    FileNotFoundError
        If the file is absent (and ``download`` is False); the message says how to get it.
    ValueError
        If the checksum does not match, or the file holds anything but the expected arrays.

    Examples
    --------
    >>> try:
    ...     rec = load_rat_hippocampus(data_dir="/nonexistent")
    ... except FileNotFoundError as err:
    ...     print("download=True" in str(err))
    True
    """
    check_choice(rat, "rat", RATS)
    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False; got {download!r}.")
    if verify is not None and not isinstance(verify, bool):
        raise TypeError(f"verify must be None, True or False; got {verify!r}.")

    if path is not None:
        if data_dir is not None or download:
            raise ValueError("Give either path, or data_dir/download, not both.")
        file = Path(path).expanduser()
        if not file.is_file():
            raise FileNotFoundError(
                f"No rat hippocampus file at {file}. Download {rat}.jl from "
                f"{RAT_HIPPOCAMPUS_FILES[rat]['url']} or call load_rat_hippocampus(rat={rat!r}, "
                "download=True)."
            )
        check = bool(verify)
    else:
        folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
        file = folder / f"{rat}.jl"
        known = RAT_HIPPOCAMPUS_FILES[rat]["md5"] is not None
        check = verify if verify is not None else known
        if not file.is_file():
            if not download:
                raise FileNotFoundError(
                    f"The rat hippocampus file for {rat!r} is not at {file}. Call "
                    f"load_rat_hippocampus(rat={rat!r}, download=True) to fetch it (about 3-10 MB, "
                    f"MD5-checked) from {RAT_HIPPOCAMPUS_FILES[rat]['url']}, or save it there "
                    f"yourself, or set ${DATA_DIR_ENV} / data_dir to the folder that holds it."
                )
            _download(RAT_HIPPOCAMPUS_FILES[rat]["url"], file, rat)
            check = False  # verified before it was moved into place

    if check:
        _verify_md5(file, rat)
    data = _safe_joblib_load(file)
    if not isinstance(data, dict) or "spikes" not in data or "position" not in data:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{file} should hold a dict with 'spikes' and 'position'; got {keys}.")
    spikes = np.asarray(data["spikes"])
    position = np.asarray(data["position"])
    if spikes.ndim != 2 or position.ndim != 2 or position.shape[1] != 3:
        raise ValueError(
            f"{file}: expected spikes (n_samples, n_neurons) and position (n_samples, 3); got "
            f"{spikes.shape} and {position.shape}."
        )
    if spikes.dtype.kind not in "biuf" or position.dtype.kind not in "biuf":
        raise ValueError(
            f"{file}: expected numeric spikes and position; got arrays of dtype {spikes.dtype} and "
            f"{position.dtype}."
        )
    if spikes.shape[0] != position.shape[0]:
        raise ValueError(
            f"{file}: spikes has {spikes.shape[0]} rows but position has {position.shape[0]}."
        )
    right = position[:, 1] > 0.5
    left = position[:, 2] > 0.5
    labels = np.where(left & ~right, 1, 0).astype(np.int64)
    n_samples = spikes.shape[0]
    return Recording(
        neural=np.ascontiguousarray(spikes, dtype=np.float32),
        behaviour=np.ascontiguousarray(position, dtype=np.float32),
        labels=labels,
        timestamps=np.arange(n_samples) * BIN_SIZE,
        latent=None,
        metadata={
            "source": str(file),
            "rat": rat,
            "bin_size": BIN_SIZE,
            "behaviour_columns": ["position", "right", "left"],
            "label_names": {0: "right", 1: "left"},
            "citation": "Grosmark & Buzsaki, Science 351, 1440 (2016); Schneider, Lee & Mathis, Nature 2023",
        },
    )

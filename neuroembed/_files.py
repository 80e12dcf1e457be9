"""Atomic file writes: a file is either the old one or the complete new one, never half written (private)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "ordinary_permissions"]


def _read_umask() -> int:
    # os.umask both sets and returns the mask; set it back at once. Done once, at import.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def ordinary_permissions(path: str | os.PathLike) -> None:
    """Give ``path`` the permissions a plain ``open(path, "w")`` would (``mkstemp`` makes files private)."""
    os.chmod(path, 0o666 & ~_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, move it onto ``path``.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"cannot write {str(path)!r}: it is a folder; expected the path of a file."
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {str(path)!r}: the folder {str(path.parent)!r} does not exist; create it first."
        )
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        ordinary_permissions(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

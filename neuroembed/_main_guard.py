"""The ``if __name__ == "__main__":`` guard of :func:`neuroembed.batch.embed_files`.

A LocalCluster starts its workers with multiprocessing, and distributed uses the "spawn" start method by
default (``distributed.worker.multiprocessing-method``; "forkserver" behaves the same). A spawned process
first runs the parent's main script again, under the name ``__mp_main__``
(``multiprocessing.spawn.prepare``), and only then becomes a worker. A script that calls embed_files at its
top level, outside ``if __name__ == "__main__":``, therefore calls it again in every new worker, where
starting processes is forbidden until that import is over: each worker dies, and the parent gets
"Nanny failed to start" after a page of tracebacks per worker. Two checks turn that into one clear error:

* in the parent, before any worker starts (check_main_guard): when the start method re-runs the main
  script, the call is found on the stack in the script's module-level code, and the script's syntax tree
  says the statement making it runs whatever the process (no enclosing if / while / match / except);
* in a new process that is re-running the main script (refuse_in_new_process): embed_files stops it at
  once with one line on stderr and leaves the full message in a file named by an environment variable,
  which the parent reads when the cluster fails to start, and raises once, with the worker logs muted.
"""

from __future__ import annotations

import ast
import json
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import tokenize
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from neuroembed._files import atomic_path

__all__ = [
    "GUARD_REPORT_ENV",
    "check_main_guard",
    "refuse_in_new_process",
    "reporting_refused_workers",
    "worker_start_method",
]

#: Environment variable naming the file where a refusing worker process leaves its message for the parent.
GUARD_REPORT_ENV = "NEUROEMBED_BATCH_GUARD_REPORT"

_GUARD_FIX = """\
    from neuroembed.batch import embed_files

    if __name__ == "__main__":
        summary = embed_files(...)
"""

#: Compound statements whose body may not run in a worker process although it ran in the parent.
_CONDITIONAL = (ast.If, ast.While, ast.Match)
_TRY = (ast.Try, getattr(ast, "TryStar", ast.Try))


def _guard_message(script: str, line: int | None, method: str) -> str:
    """The error for an unguarded call, with the fix."""
    where = f"{script!r}" if line is None else f"{script!r} (line {line})"
    return (
        f"embed_files() was called from the top-level code of the script {where}, outside an "
        '`if __name__ == "__main__":` block. It starts its Dask workers as new processes (multiprocessing '
        f"start method {method!r}), and each of them runs the script again before it can work, so the "
        "call would run again in every worker and the cluster could not start. Put the code that runs the "
        "batch under the guard:\n\n"
        f"{_GUARD_FIX}\n"
        "Imports, functions and constants may stay at the top level. Interactive sessions, notebooks and "
        "`python -c` need no guard, and neither does a batch on a client= or scheduler= whose workers were "
        "started elsewhere."
    )


def _main_script_run_by_new_processes() -> tuple[dict[str, Any], str] | None:
    """The namespace and file of the main script, if processes started with spawn or forkserver run it.

    Mirrors what :mod:`multiprocessing.spawn` sends to and does in a new process: a main module with a
    module name (``python -m pkg.mod``) is imported again unless it is a package's ``__main__``; one with
    only a file (``python script.py``) is run again unless it is IPython's launcher. Interactive sessions,
    notebooks and ``python -c`` have no such file, and frozen executables do not run it.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not isinstance(path, str) or getattr(sys, "frozen", False):
        return None
    module_name = getattr(getattr(main, "__spec__", None), "name", None)
    if module_name is not None:
        if module_name == "__main__" or module_name.endswith(".__main__"):
            return None
    elif os.path.splitext(os.path.basename(path))[0] == "ipython":
        return None
    return vars(main), path


def _same_file(a: str, b: str) -> bool:
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _runs_in_every_process(body: list[ast.stmt], line: int) -> bool:
    """Whether the module-level code on ``line`` runs whenever the module runs, in any process.

    False when the line is in a branch of an ``if``, ``while`` or ``match``, in an ``except`` or ``else``
    clause, or cannot be found: such code may be guarded by a test this function does not evaluate.
    """
    for stmt in body:
        if not _spans(stmt, line):
            continue
        if isinstance(stmt, _CONDITIONAL):
            branches = (
                [case.body for case in stmt.cases]
                if isinstance(stmt, ast.Match)
                else [stmt.body, stmt.orelse]
            )
            if any(_spans(inner, line) for branch in branches for inner in branch):
                return False  # in a branch (also `if test: call()` on one line)
            return True  # in the test, which always runs
        if isinstance(stmt, _TRY):
            for part in (stmt.body, stmt.finalbody):
                if any(_spans(inner, line) for inner in part):
                    return _runs_in_every_process(part, line)
            return False  # an except or else clause
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
            if any(_spans(inner, line) for inner in stmt.body):
                return _runs_in_every_process(stmt.body, line)
            return not any(_spans(inner, line) for inner in getattr(stmt, "orelse", []))
        return True  # a simple statement, or a decorator / default of a def or class
    return False


def _spans(node: ast.stmt, line: int) -> bool:
    end = node.end_lineno if node.end_lineno is not None else node.lineno
    return node.lineno <= line <= end


def _unguarded_call_line(namespace: dict[str, Any], path: str) -> int | None:
    """The line of the main script's module-level code that led to this call, if it runs unguarded."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and not (
        frame.f_code.co_name == "<module>" and frame.f_globals is namespace
    ):
        frame = frame.f_back
    if frame is None or not _same_file(frame.f_code.co_filename, path):
        return None  # not called from the script's own top level (a thread, atexit, exec'd text)
    line = frame.f_lineno
    try:
        with tokenize.open(path) as handle:
            tree = ast.parse(handle.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    return line if _runs_in_every_process(tree.body, line) else None


def worker_start_method(distributed: Any) -> str:
    """The multiprocessing start method of the LocalCluster's worker processes."""
    return str(distributed.utils.get_mp_context().get_start_method())


def check_main_guard(method: str) -> None:
    """Raise in the parent, before any worker starts, if every worker would run this call again.

    Parameters
    ----------
    method : str
        The multiprocessing start method the workers will be started with.

    Raises
    ------
    RuntimeError
        If the main script calls :func:`embed_files` at its top level, outside
        ``if __name__ == "__main__":``, and ``method`` runs the script again in new processes.
    """
    if method == "fork":
        return
    found = _main_script_run_by_new_processes()
    if found is None:
        return
    namespace, path = found
    line = _unguarded_call_line(namespace, path)
    if line is not None:
        raise RuntimeError(_guard_message(path, line, method))


def _main_script_being_rerun() -> tuple[str, int | None] | None:
    """Where this process is running the main script again for multiprocessing, or None.

    multiprocessing runs it under the module name ``__mp_main__`` while the new process is still
    "inheriting" from its parent (the flag behind its own "bootstrapping phase" error).
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__mp_main__":
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        main = sys.modules.get("__main__")
        return str(getattr(main, "__file__", None) or "the main module"), None
    return None


def refuse_in_new_process() -> None:
    """Stop a new process that is running the main script again, with one line and a note to the parent.

    Raises
    ------
    SystemExit
        If this process is running the main script again for multiprocessing: calling
        :func:`embed_files` there is always a mistake (an unguarded script).
    """
    found = _main_script_being_rerun()
    if found is None:
        return
    script, line = found
    report = os.environ.get(GUARD_REPORT_ENV)
    if report and os.path.exists(report):
        raise SystemExit(1)  # another worker has said it already
    if report:
        try:
            with atomic_path(report) as tmp:
                tmp.write_text(json.dumps({"script": script, "line": line}), encoding="utf-8")
        except OSError:
            pass  # the line below still says what to do
    where = script if line is None else f"{script}, line {line}"
    raise SystemExit(
        f"neuroembed: a new worker process ran the main script again and reached embed_files() ({where}); "
        'put that call under `if __name__ == "__main__":`.'
    )


class _MuteOnceRefused(logging.Filter):
    """Drop Dask's log records once a worker has reported that it refused to start."""

    def __init__(self, report: Path) -> None:
        super().__init__()
        self.report = report

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("distributed", "tornado", "asyncio")):
            return True
        return not self.report.exists()


@contextmanager
def reporting_refused_workers(method: str) -> Iterator[None]:
    """Around starting worker processes: raise a worker's refusal once, as the error, without Dask's logs.

    Parameters
    ----------
    method : str
        The multiprocessing start method of the workers, for the message.

    Raises
    ------
    RuntimeError
        If starting the workers failed and a worker reported that it refused to run the main script's
        unguarded call (:func:`refuse_in_new_process`).
    """
    folder = Path(tempfile.mkdtemp(prefix="neuroembed-start-"))
    report = folder / "refused.txt"
    previous = os.environ.get(GUARD_REPORT_ENV)
    os.environ[GUARD_REPORT_ENV] = str(report)
    mute = _MuteOnceRefused(report)
    loggers = [logging.getLogger()] + [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]
    handlers = list({id(h): h for logger in loggers for h in logger.handlers}.values())
    for handler in handlers:
        handler.addFilter(mute)
    try:
        yield
    except Exception:
        if report.exists():
            refused = json.loads(report.read_text(encoding="utf-8"))
            raise RuntimeError(_guard_message(refused["script"], refused["line"], method)) from None
        raise
    finally:
        for handler in handlers:
            handler.removeFilter(mute)
        if previous is None:
            os.environ.pop(GUARD_REPORT_ENV, None)
        else:
            os.environ[GUARD_REPORT_ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)

"""neuroembed.batch: scripts that call embed_files outside ``if __name__ == "__main__":`` get one clear error.

The subprocess tests run real scripts, as users do: an unguarded one must fail in the parent within seconds with
the fix in the message and no flood of worker tracebacks; the guarded one must still run.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import neuroembed.batch as batch
from neuroembed import _main_guard
from neuroembed.batch import embed_files

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
ADVICE = 'if __name__ == "__main__":'

HEADER = """\
from neuroembed.batch import embed_files

SETTINGS = {"model": "offset1", "output_dimension": 2, "batch_size": 16, "max_iterations": 2,
            "time_offset": 1, "device": "cpu", "random_state": 0}
"""
CALL = """\
summary = embed_files(["rec.csv"], SETTINGS, "out", n_workers=1, read_kwargs={"neural": ["a", "b", "c"]},
                      metrics=False, progress=False)
print("statuses:", summary["status"].tolist())
"""


def _run_script(folder: Path, source: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Write a tiny recording and ``source`` as run.py into ``folder``, run it, and time it."""
    columns = ["a", "b", "c"]
    data = np.random.default_rng(0).normal(size=(200, 3))
    pd.DataFrame(data, columns=columns).to_csv(folder / "rec.csv", index=False)
    (folder / "run.py").write_text(source, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != _main_guard.GUARD_REPORT_ENV}
    env.update(
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    tic = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "run.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, time.perf_counter() - tic


def _assert_one_clear_error(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0, result.stdout
    assert ADVICE in result.stderr and "RuntimeError: embed_files() was called" in result.stderr
    assert "Nanny failed to start" not in result.stderr, result.stderr[-3000:]
    assert "bootstrapping phase" not in result.stderr, result.stderr[-3000:]
    assert result.stderr.count("Traceback") <= 1, result.stderr[-3000:]
    assert result.stderr.count("RuntimeError: embed_files() was called") == 1
    assert "statuses:" not in result.stdout


# ------------------------------------------------------------------------------------------------ real scripts


def test_unguarded_script_fails_fast_in_the_parent(tmp_path: Path) -> None:
    result, seconds = _run_script(tmp_path, HEADER + CALL)
    _assert_one_clear_error(result)
    assert seconds < 30, f"took {seconds:.1f} s"
    assert "run.py' (line 5)" in result.stderr  # the line of the call
    assert "a new worker process" not in result.stderr  # refused before any worker started
    assert not (tmp_path / "out").exists()  # and before anything was written


def test_guarded_script_is_not_refused(tmp_path: Path) -> None:
    source = HEADER + '\nif __name__ == "__main__":\n' + textwrap.indent(CALL, "    ")
    result, _ = _run_script(tmp_path, source)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "statuses: ['ok']" in result.stdout
    assert (tmp_path / "out" / f"rec{batch.OUTPUT_SUFFIX}").is_file()


@pytest.mark.slow
def test_call_under_another_condition_is_refused_by_the_worker_once(tmp_path: Path) -> None:
    """A test the parent cannot judge (it may differ in a worker) is left to the worker, which refuses."""
    source = HEADER + "\nif len(SETTINGS) > 1:\n" + textwrap.indent(CALL, "    ")
    result, _ = _run_script(tmp_path, source)
    _assert_one_clear_error(result)
    assert "run.py' (line 7)" in result.stderr
    refusals = [line for line in result.stderr.splitlines() if "a new worker process" in line]
    assert len(refusals) == 1 and ADVICE in refusals[0]


# ------------------------------------------------------------------------------------------------ the parent's check


@pytest.fixture
def fake_main(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run source as the main script ``tmp_path/script.py`` of this process; yields a runner."""

    def run(source: str) -> types.ModuleType:
        path = tmp_path / "script.py"
        path.write_text(source, encoding="utf-8")
        module = types.ModuleType("__main__")
        module.__file__ = str(path)
        module.__spec__ = None
        monkeypatch.setitem(sys.modules, "__main__", module)
        exec(compile(source, str(path), "exec"), vars(module))
        return module

    return run


def test_parent_check_through_embed_files(
    fake_main, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = []
    monkeypatch.setattr(batch, "_run", lambda jobs, *args: started.append(len(jobs)))
    monkeypatch.setattr(_main_guard, "worker_start_method", lambda distributed: "spawn")
    (tmp_path / "rec.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(tmp_path)
    call = "embed_files(['rec.csv'], out_dir='out', read_kwargs={'neural': ['a', 'b']}EXTRA)\n"
    head = "from neuroembed.batch import embed_files\n"

    with pytest.raises(
        RuntimeError, match=r"(?s)script\.py' \(line 2\).*if __name__ == \"__main__\":"
    ):
        fake_main(head + call.replace("EXTRA", ""))
    with pytest.raises(RuntimeError, match=r"\(line 4\)"):  # the call of main()
        fake_main(head + "def main():\n    " + call.replace("EXTRA", "") + "main()\n")
    assert started == [] and not (tmp_path / "out").exists()

    fake_main(head + 'if __name__ == "__main__":\n    ' + call.replace("EXTRA", ""))
    # a cluster the user started: not ours to guard
    fake_main(head + call.replace("EXTRA", ", scheduler='tcp://127.0.0.1:8786'"))
    fake_main(head + call.replace("EXTRA", ", client=object()"))
    assert started == [1, 1, 1]


def test_parent_check_needs_a_start_method_that_reruns_the_script(fake_main) -> None:
    source = "import neuroembed._main_guard as g\ng.check_main_guard({method!r})\n"
    fake_main(source.format(method="fork"))  # fork copies the process: nothing runs again
    for method in ("spawn", "forkserver"):
        with pytest.raises(RuntimeError, match=f"start method '{method}'"):
            fake_main(source.format(method=method))


def test_this_test_process_is_not_refused() -> None:
    """pytest (like the neuroembed command) is a guarded entry point, or a package's __main__."""
    _main_guard.check_main_guard("spawn")
    _main_guard.refuse_in_new_process()


@pytest.mark.parametrize(
    ("name", "spec", "file", "expected"),
    [
        ("python script.py", None, "/x/run.py", True),
        ("python -m pkg.run", "pkg.run", "/x/pkg/run.py", True),
        ("python -m pkg (its __main__)", "pkg.__main__", "/x/pkg/__main__.py", False),
        ("python -c / interactive / notebook", None, None, False),
        ("IPython's launcher", None, "/usr/bin/ipython", False),
    ],
)
def test_which_main_modules_new_processes_run_again(
    monkeypatch: pytest.MonkeyPatch, name: str, spec: str | None, file: str | None, expected: bool
) -> None:
    module = types.ModuleType("__main__")
    module.__spec__ = None if spec is None else types.SimpleNamespace(name=spec)
    if file is not None:
        module.__file__ = file
    monkeypatch.setitem(sys.modules, "__main__", module)
    found = _main_guard._main_script_run_by_new_processes()
    assert (found is not None) == expected, name
    if expected:
        assert found == (vars(module), file)


GUARDED = 'if __name__ == "__main__":\n    go()\n'
CASES = [
    ("plain statement", "x = 1\ngo()\n", 2, True),
    ("inside for", "for x in [1]:\n    go()\n", 2, True),
    ("inside with", "with ctx():\n    go()\n", 2, True),
    ("inside try body", "try:\n    go()\nexcept ValueError:\n    pass\n", 2, True),
    ("in finally", "try:\n    pass\nfinally:\n    go()\n", 4, True),
    ("in an if test", "if go():\n    pass\n", 1, True),
    ("multi-line call", "go(\n    1,\n)\n", 2, True),
    ("__main__ guard", GUARDED, 2, False),
    ("guard on one line", 'if __name__ == "__main__": go()\n', 1, False),
    (
        "else of a negated guard",
        'if __name__ != "__main__":\n    pass\nelse:\n    go()\n',
        4,
        False,
    ),
    ("other if", "if flag:\n    go()\n", 2, False),
    ("while", "while flag:\n    go()\n", 2, False),
    ("except clause", "try:\n    pass\nexcept ValueError:\n    go()\n", 4, False),
    ("for-else", "for x in []:\n    pass\nelse:\n    go()\n", 4, False),
    ("match", "match __name__:\n    case '__main__':\n        go()\n", 3, False),
    ("guard within with", "with ctx():\n    " + GUARDED.replace("\n    ", "\n        "), 3, False),
]


@pytest.mark.parametrize(("name", "source", "line", "expected"), CASES, ids=[c[0] for c in CASES])
def test_which_lines_run_in_every_process(
    name: str, source: str, line: int, expected: bool
) -> None:
    assert _main_guard._runs_in_every_process(ast.parse(source).body, line) is expected


# ------------------------------------------------------------------------------------------------ the worker's check


def test_worker_rerunning_the_script_refuses_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "refused.txt"
    monkeypatch.setenv(_main_guard.GUARD_REPORT_ENV, str(report))
    script = str(tmp_path / "run.py")
    code = compile(
        "import neuroembed._main_guard as g\n\ng.refuse_in_new_process()\n", script, "exec"
    )
    with pytest.raises(SystemExit) as info:
        exec(code, {"__name__": "__mp_main__"})  # how multiprocessing runs the main script again
    message = str(info.value.code)
    assert "\n" not in message and ADVICE in message and f"{script}, line 3" in message
    assert json.loads(report.read_text()) == {"script": script, "line": 3}
    with pytest.raises(SystemExit) as info:  # the next worker stays quiet: one line is enough
        exec(code, {"__name__": "__mp_main__"})
    assert info.value.code == 1


def test_parent_raises_the_workers_refusal_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_main_guard.GUARD_REPORT_ENV, "previous")
    with pytest.raises(
        RuntimeError, match=r"(?s)'/x/run\.py' \(line 4\).*start method 'spawn'"
    ) as info:
        with _main_guard.reporting_refused_workers("spawn"):
            path = Path(os.environ[_main_guard.GUARD_REPORT_ENV])
            path.write_text('{"script": "/x/run.py", "line": 4}')
            raise RuntimeError("Nanny failed to start.")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert os.environ[_main_guard.GUARD_REPORT_ENV] == "previous" and not path.parent.exists()
    # any other failure to start passes through unchanged
    with pytest.raises(OSError, match="no ports"):
        with _main_guard.reporting_refused_workers("spawn"):
            raise OSError("no ports")


def test_embed_files_refuses_first_thing_in_a_worker_rerunning_the_script(tmp_path: Path) -> None:
    code = compile(
        "from neuroembed.batch import embed_files\nembed_files([3])\n",
        str(tmp_path / "run.py"),
        "exec",
    )
    with pytest.raises(SystemExit, match="line 2"):  # not the TypeError the bad path would get
        exec(code, {"__name__": "__mp_main__"})
    with pytest.raises(TypeError, match="file paths or glob patterns"):
        embed_files([3])

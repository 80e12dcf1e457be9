"""Print the test files that ``benchmarks/device_check.sh`` runs on a GPU: those in which a function (a test or a
fixture) takes the argument ``device``, the fixture of ``tests/conftest.py`` that adds the CUDA case where a GPU is
present. The other test files have no CUDA case, and collecting them would import optional packages (pynwb, dask,
pynapple) that a GPU image may lack."""

import ast
import pathlib
import sys


def device_test_files(root: pathlib.Path) -> list[pathlib.Path]:
    files = []
    for path in sorted((root / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        functions = (
            n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        )
        if any("device" in [a.arg for a in f.args.args + f.args.kwonlyargs] for f in functions):
            files.append(path.relative_to(root))
    return files


if __name__ == "__main__":
    found = device_test_files(pathlib.Path(__file__).resolve().parent.parent)
    if not found:
        sys.exit("no test file takes the device fixture")
    print("\n".join(map(str, found)))

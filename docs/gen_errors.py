"""Build ``docs/errors.md``, the table of bad inputs and the errors they get, from the tests' case tables.

The rows come from ``tests/test_estimator_errors.py`` (``FIT_CASES``, ``TRANSFORM_CASES``) and
``tests/test_boundaries.py`` (``BOUNDARY_CASES``). Every case is run here, and the table shows the exception it
actually raises now, so the page says what users get, not what a test hoped for. Messages are shortened to their
first sentence; temporary paths become ``<tmp>``, library detail in parentheses (``(OSError: ...)``) becomes
``(...)``, NumPy scalars are written as plain numbers and argparse's choices without quotes, so that the page is
the same on every machine and supported version. ``tests/test_errors_table.py`` fails when the committed
page differs from what this script writes.

Usage::

    python docs/gen_errors.py           # rewrite docs/errors.md
    python docs/gen_errors.py --check   # exit with status 1 if docs/errors.md is out of date
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "docs" / "errors.md"

_NUMPY_SCALAR = re.compile(r"np\.(?:float|int|uint|bool_?)\d*\(([^()]*)\)")
_ARGPARSE_CHOICES = re.compile(r"\(choose from ([^()]*)\)")
_LIBRARY_DETAIL = re.compile(
    r"\((?:[A-Za-z_.]*(?:Error|Exception|Warning)): [^()]*(?:\([^()]*\)[^()]*)*\)"
)
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z(\"'])")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.")


@dataclass
class Case:
    """One bad input: where it enters, what it is, how to trigger it and what the tests expect."""

    boundary: str
    case: str
    call: Callable[[Path], Any]
    error: type
    pattern: str
    known_defect: str | None = None  # the xfail reason, for cases that fail obscurely today


@dataclass
class Outcome:
    """What a case does now."""

    error: str  # exception class name, "exit status N" for the command line, or "no error"
    message: str
    as_expected: bool


# ------------------------------------------------------------------------------------------------------------
# collecting the cases
# ------------------------------------------------------------------------------------------------------------
def _unwrap(entry: Any) -> tuple[tuple[Any, ...], str | None]:
    """The values of a table row and, for a ``pytest.param`` marked xfail, the reason."""
    if hasattr(entry, "values") and hasattr(entry, "marks"):
        reasons = [m.kwargs.get("reason", "") for m in entry.marks if m.name == "xfail"]
        return tuple(entry.values), (reasons[0] if reasons else None)
    return tuple(entry), None


def collect() -> list[Case]:
    """Every case of the estimator tables and of the boundary table, in table order."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from neuroembed.estimator import Estimator
    from tests import test_boundaries as boundaries
    from tests import test_estimator_errors as estimator_errors

    fast = estimator_errors.FAST
    fitted: dict[str, Any] = {}

    def fit_call(params: dict, X: Any, y: Any) -> Callable[[Path], Any]:
        def call(tmp: Path) -> Any:
            data = X
            # the string "sparse" is the table's stand-in for a scipy.sparse matrix
            if isinstance(data, str) and data == "sparse":
                import scipy.sparse

                data = scipy.sparse.csr_matrix(estimator_errors.X)
            return Estimator(**{**fast, **params}).fit(data, y)

        return call

    def transform_call(kwargs: dict) -> Callable[[Path], Any]:
        def call(tmp: Path) -> Any:
            if "model" not in fitted:
                fitted["model"] = Estimator(**fast).fit(estimator_errors.X, estimator_errors.Y)
            return fitted["model"].transform(**kwargs)

        return call

    cases = []
    for entry in estimator_errors.FIT_CASES:
        (name, params, X, y, error, pattern), reason = _unwrap(entry)
        cases.append(Case("Estimator.fit", name, fit_call(params, X, y), error, pattern, reason))
    for entry in estimator_errors.TRANSFORM_CASES:
        (name, kwargs, error, pattern), reason = _unwrap(entry)
        cases.append(
            Case("Estimator.transform", name, transform_call(kwargs), error, pattern, reason)
        )
    for entry in boundaries.BOUNDARY_CASES:
        (boundary, name, call, error, pattern), reason = _unwrap(entry)
        cases.append(Case(boundary, name, call, error, pattern, reason))
    return cases


# ------------------------------------------------------------------------------------------------------------
# running them
# ------------------------------------------------------------------------------------------------------------
def _normalise(message: str, tmp: Path) -> str:
    """Stable, one-sentence form of an error message."""
    for path in sorted({str(tmp.resolve()), str(tmp)}, key=len, reverse=True):
        message = message.replace(path, "<tmp>")
    message = " ".join(message.split())
    message = _LIBRARY_DETAIL.sub("(...)", message)
    # spellings that differ between numpy and Python versions: np.float64(0.5) / 0.5, quoted argparse choices
    message = _NUMPY_SCALAR.sub(r"\1", message)
    message = _ARGPARSE_CHOICES.sub(
        lambda m: "(choose from " + m.group(1).replace("'", "") + ")", message
    )
    for match in _SENTENCE_END.finditer(message):
        head = message[: match.end()]
        if not head.endswith(_ABBREVIATIONS):
            return head
    return message


def run_case(case: Case) -> Outcome:
    """Run one case in a fresh temporary folder and record what it raises."""
    tmp = Path(tempfile.mkdtemp(prefix="neuroembed-errors-"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                case.call(tmp)
            except Exception as err:  # recording what users get is the point here
                code = getattr(err, "code", None)
                name = (
                    f"exit status {code}" if type(err).__name__ == "CLIExit" else type(err).__name__
                )
                message = _normalise(str(err), tmp)
                matches = (
                    isinstance(err, case.error) and re.search(case.pattern, str(err)) is not None
                )
                return Outcome(name, message, matches)
        return Outcome("no error", "returns normally", False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------------------
# writing the page
# ------------------------------------------------------------------------------------------------------------
HEADER = """\
# Bad input and the errors it gets

*Generated by `docs/gen_errors.py` from the case tables of `tests/test_estimator_errors.py` and
`tests/test_boundaries.py`; do not edit by hand. `tests/test_errors_table.py` fails when this page is out of
date: run `python docs/gen_errors.py` after changing a case or an error message.*

Every public entry point checks what it is given before any work starts, and answers a bad input with a
`ValueError` (right kind of data, wrong content) or a `TypeError` (wrong kind of data) that says what was given
and what was expected; files that are missing raise `FileNotFoundError`. The command line prints one
`error:` line on stderr and exits with status 2, never a traceback. Each row below is a test; the message is
shown up to its first sentence, with temporary paths written `<tmp>`.

Rows marked † are known defects: the input fails today with the error shown instead of a clear one. Their tests
are marked `xfail(strict=True)` and start failing once the boundary is fixed, so that the mark is removed.

## Determinism

**CPU.** The same `random_state` (an int), data, settings, neuroembed and torch version give bitwise-identical
embeddings and loss histories, also after `save` / `load` (tested in `tests/test_estimator.py` and, over random
small configurations, `tests/test_properties.py`). `random_state` seeds the weights, a NumPy generator and a
`torch.Generator` that draws every batch; `random_state=None` draws a fresh seed, so such fits differ.
Thread count: on torch 2.13.0+cpu with MKL 2024.2 (x86-64), fits with `torch.set_num_threads(1)` and `(2)`
were bitwise identical in every configuration we tried (offset1, offset10 and offset36 encoders, cosine and
euclidean, up to 4000 samples x 100 neurons, 128 hidden units, batch 1024, 15 to 40 iterations; checked on
2026-11-22 and again on 2026-11-30 on a 2-core AMD EPYC with AVX-512). PyTorch does not promise this: a
kernel may split a floating-point reduction differently with another thread count, CPU instruction set
(AVX2 / AVX-512) or BLAS library, and a fit magnifies such last-bit differences. For results that must match
to the bit, keep the thread count (`OMP_NUM_THREADS` / `torch.set_num_threads`), the machine type and the
versions (saved models record them under `versions`).

**CUDA** (PyTorch's documented behaviour; not verified here, as no GPU was available). The seeded generator lives
on the device, so the same batches are drawn on every run, and the initial weights are the same. The training
arithmetic is not deterministic by default: the backward pass of indexing and gathering ops accumulates with
atomic adds in an unspecified order, and cuBLAS may pick reduction strategies that vary between runs, so two fits
drift apart by rounding and then further. To make them repeatable, set the environment variable
`CUBLAS_WORKSPACE_CONFIG=:4096:8` before the process starts CUDA, and call
`torch.use_deterministic_algorithms(True)` (and keep `torch.backends.cudnn.benchmark = False`): PyTorch then uses
deterministic kernels, at some cost in speed, and raises an error for any op that has none. Bitwise equality
between a CPU and a GPU fit is not expected.
"""


def _cell(text: str) -> str:
    """Text as a Markdown code span that is safe inside a table cell."""
    text = text.replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render(results: Iterable[tuple[Case, Outcome]]) -> str:
    """The Markdown page."""
    sections: dict[str, list[str]] = {}
    for case, outcome in results:
        marker = "† " if not outcome.as_expected else ""
        rows = sections.setdefault(case.boundary, [])
        rows.append(f"| {marker}{case.case} | {outcome.error} | {_cell(outcome.message)} |")
    lines = [HEADER]
    for boundary, rows in sections.items():
        lines += [
            f"## `{boundary}`",
            "",
            "| bad input | error | message |",
            "|---|---|---|",
            *rows,
            "",
        ]
    return "\n".join(lines)


def generate() -> str:
    """Run every case and return the page."""
    return render((case, run_case(case)) for case in collect())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only check that docs/errors.md is up to date"
    )
    args = parser.parse_args(argv)
    page = generate()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != page:
            print(f"{OUTPUT} is out of date; run python docs/gen_errors.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(page, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

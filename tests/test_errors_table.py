"""``docs/errors.md`` is exactly what ``docs/gen_errors.py`` writes from the case tables (it cannot drift)."""

import difflib
import importlib.util
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_errors", DOCS / "gen_errors.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(240)
def test_errors_page_is_up_to_date():
    page = _generator().generate()
    committed = (DOCS / "errors.md").read_text(encoding="utf-8")
    if page != committed:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                page.splitlines(keepends=True),
                "docs/errors.md",
                "generated",
            )
        )
        pytest.fail(f"docs/errors.md is out of date; run python docs/gen_errors.py\n{diff[:4000]}")


def test_message_normalisation():
    gen = _generator()
    tmp = Path("/tmp/neuroembed-errors-abc")
    assert (
        gen._normalise(f"'{tmp}/x.nwb' is not a file. Second sentence.", tmp)
        == "'<tmp>/x.nwb' is not a file."
    )
    assert (
        gen._normalise("Reshape, e.g. X.reshape(-1, 1). More.", tmp)
        == "Reshape, e.g. X.reshape(-1, 1)."
    )
    assert (
        gen._normalise(
            "could not be read (TypeError: Missing NWB version. Not NWB (really).).", tmp
        )
        == "could not be read (...)."
    )
    assert gen._normalise("a\nmulti-line   message", tmp) == "a multi-line message"
    assert gen._normalise("floats such as np.float64(0.5).", tmp) == "floats such as 0.5."
    assert (
        gen._normalise("invalid choice: 'x' (choose from 'a', 'b')", tmp)
        == "invalid choice: 'x' (choose from a, b)"
    )
    assert gen._cell("a | b") == "`a \\| b`"
    assert gen._cell("uses `x`") == "`` uses `x` ``"  # CommonMark strips one space each side

"""The documentation builds without warnings, shows real figures, and explains every estimator parameter.

``test_mkdocs_build_strict`` runs what CI runs, ``mkdocs build --strict`` (any warning fails: a broken link, a
page missing from the navigation, a docstring that mkdocstrings cannot parse), into a temporary folder. It is
skipped, with the reason, when the docs toolchain (``pip install ".[docs]"``) is not installed. The other tests
need nothing beyond the package.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from neuroembed import Estimator

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MAX_IMAGE_BYTES = 200 * 1024

_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _missing_toolchain() -> str | None:
    for module, package in (
        ("mkdocs", "mkdocs"),
        ("material", "mkdocs-material"),
        ("mkdocstrings_handlers.python", "mkdocstrings[python]"),
    ):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{package} is not installed (pip install '.[docs]')"
    return None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    reason = _missing_toolchain()
    if reason is not None:
        pytest.skip(reason)
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    log = result.stdout + result.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert result.returncode == 0 and not warnings, f"mkdocs build --strict failed:\n{log[-5000:]}"
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "estimator" / "index.html").is_file()


def test_every_image_exists_and_is_small() -> None:
    """Each figure a page shows is in docs/, is a real PNG, and stays under 200 KB."""
    shown: set[Path] = set()
    for page in _pages():
        for target in _IMAGE.findall(page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            image = (page.parent / target).resolve()
            assert image.is_file(), f"{page.relative_to(ROOT)} shows {target}, which does not exist"
            shown.add(image)
    assert shown, "no page shows a figure"
    for image in sorted(shown):
        data = image.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{image.name} is not a PNG file"
        assert len(data) < MAX_IMAGE_BYTES, (
            f"{image.name} is {len(data)} bytes (limit {MAX_IMAGE_BYTES})"
        )


def test_every_image_in_docs_is_shown() -> None:
    """No stale figure lies in docs/images unused."""
    images = {p.resolve() for p in (DOCS / "images").glob("*.png")}
    shown = {
        (page.parent / target).resolve()
        for page in _pages()
        for target in _IMAGE.findall(page.read_text(encoding="utf-8"))
    }
    assert not images - shown, f"figures no page shows: {sorted(p.name for p in images - shown)}"


#: Pages whose ``python`` code blocks run top to bottom as written (with the shrinking below).
RUNNABLE_PAGES = [
    "index.md",
    "quickstart.md",
    "guides/time.md",
    "guides/behaviour.md",
    "guides/discrete.md",
    "guides/mixed.md",
    "guides/hybrid.md",
    "guides/objectives.md",
    "guides/multisession.md",
    "guides/ensembles.md",
    "guides/quality.md",
    "guides/ssl.md",
    "guides/deeplabcut.md",
    "guides/pynapple.md",
    "guides/attribution.md",
]

#: Tiny settings, so that the snippets run in seconds: (pattern, replacement).
SHRINK = [
    (r"max_iterations=\d+", "max_iterations=3"),
    (r"n_samples=\d+", "n_samples=1500"),
    (r"n_train = \d+", "n_train = 1200"),
]


def _code_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", RUNNABLE_PAGES)
def test_page_code_runs(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples on the guide pages run against the current package (no file of the user's needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = [
        b for b in _code_blocks(DOCS / name) if "np.load(" not in b
    ]  # "your own data" needs files
    assert blocks, f"docs/{name} has no python code block"
    monkeypatch.chdir(tmp_path)  # snippets that save write here
    namespace: dict[str, object] = {"__name__": "docs_snippet"}
    for i, block in enumerate(blocks):
        code = block
        for pattern, replacement in SHRINK:
            code = re.sub(pattern, replacement, code)
        exec(compile(code, f"docs/{name} block {i}", "exec"), namespace)  # noqa: S102
    plt.close("all")


def test_every_estimator_parameter_is_explained() -> None:
    """The parameter guide has a row for every argument of Estimator, and no row for one it lacks."""
    text = (DOCS / "guides" / "parameters.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    params = set(Estimator().get_params())
    assert not params - documented, (
        f"parameters missing from docs/guides/parameters.md: {sorted(params - documented)}"
    )
    assert not documented - params, (
        f"docs/guides/parameters.md names unknown parameters: {sorted(documented - params)}"
    )


def test_migration_table_covers_every_parameter() -> None:
    """Every Estimator argument appears in the CEBRA migration page."""
    text = (DOCS / "migration.md").read_text(encoding="utf-8")
    missing = [name for name in Estimator().get_params() if f"`{name}`" not in text]
    assert not missing, f"parameters missing from docs/migration.md: {missing}"

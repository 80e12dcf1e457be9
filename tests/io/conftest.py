"""Fixtures of the io tests: NWB files built with pynwb, and the real recordings when present."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._nwb_builders import DATA, write_calcium_trials, write_units_position


@pytest.fixture
def units_file(tmp_path: Path) -> tuple[Path, dict]:
    path = tmp_path / "units.nwb"
    return path, write_units_position(path)


@pytest.fixture
def calcium_file(tmp_path: Path) -> tuple[Path, dict]:
    path = tmp_path / "calcium.nwb"
    return path, write_calcium_trials(path)


@pytest.fixture
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real recordings not available ({DATA} is absent)")
    return DATA.resolve()

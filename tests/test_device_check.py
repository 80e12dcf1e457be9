"""``benchmarks/device_check.sh`` (the GPU check of issue 17) runs its dry run on the CPU, so that it cannot rot."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "device_check.sh"

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None, reason="the device check is a bash script"
)


# 72-77 s measured on the 2-core machine under a load of about 4; each step has its own timeout in the script
@pytest.mark.timeout(300)
def test_the_device_check_dry_run_passes(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path)}
    env.pop("NEUROEMBED_CUSTOM_PATHS", None)
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=290,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = (tmp_path / "summary.md").read_text()
    assert "| equality | 0 |" in summary and "| tests | 0 |" in summary
    assert "rows within tolerance" in (tmp_path / "equality.md").read_text()


def test_the_device_check_refuses_unknown_arguments():
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--gpu"], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 2 and "unknown argument '--gpu'" in proc.stderr

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


# ---------------------------------------------------------------------------------------------------------------------
# cuda_graph_probe.py's graph timing goes through the library's GraphedStep (no copy of the capture code)
# ---------------------------------------------------------------------------------------------------------------------
@pytest.fixture
def probe(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import cuda_graph_probe

    return cuda_graph_probe


@pytest.mark.timeout(120)
def test_the_probe_times_the_library_graph_step_with_a_stand_in_capture(probe, monkeypatch):
    import torch

    from neuroembed import _graphs

    captured = []

    def stand_in(
        step, device
    ):  # replays by running the step again (CUDA graphs do not exist on the CPU)
        captured.append(device)
        loss = step().detach().clone()

        def replay():
            loss.copy_(step().detach())

        return replay, loss

    monkeypatch.setattr(_graphs, "capture", stand_in)
    X, y = probe.head_data(1000, 20)
    result = probe.graphed(probe.prepared(X, y, "time_delta", "cpu", 0), steps=4, warm=2)
    assert captured == [torch.device("cpu")]
    assert result["finite"] and result["ms_per_step"] > 0 and result["capture_seconds"] > 0


@pytest.mark.timeout(120)
def test_the_probe_reports_a_refused_capture_as_its_finding(probe, monkeypatch):
    from neuroembed import _graphs

    def refuse(step, device):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(_graphs, "capture", refuse)
    X, y = probe.head_data(1000, 20)
    with pytest.raises(RuntimeError, match="not permitted when stream is capturing"):
        probe.graphed(probe.prepared(X, y, "time", "cpu", 0), steps=4, warm=2)

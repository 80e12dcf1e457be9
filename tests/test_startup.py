"""A plain fit imports nothing it does not use: not torch's compiler (``torch._dynamo``), nor more of
``torch.distributed`` than ``import torch`` does.

``import torch`` itself imports the package ``torch.distributed`` (and a few of its modules), so for it the test asserts
only what neuroembed is responsible for: no ``torch.distributed`` module imported after ``import torch``. Nothing in
``import torch`` imports ``torch._dynamo``, so it must not be there at all. ``torch.optim``'s ``Optimizer`` imports it
on the first call of ``add_param_group``, ``step``, ``zero_grad`` or ``state_dict`` (see ``neuroembed/_optim.py``).
"""

import json
import subprocess
import sys

import pytest

PROBE = r"""
import json, sys
import torch
with_torch = set(sys.modules)
import numpy as np
import neuroembed as ne
rng = np.random.default_rng(0)
X = rng.poisson(1.0, (300, 6)).astype(np.float32)
y = np.cumsum(rng.normal(size=300)).astype(np.float32)
est = ne.Estimator(max_iterations=5, batch_size=32, device="cpu", random_state=0).fit(X, y)
est.transform(X)
watched = ("torch._dynamo", "torch.distributed", "torch._inductor")
print(json.dumps({
    "dynamo_with_torch": "torch._dynamo" in with_torch,
    "dynamo": "torch._dynamo" in sys.modules,
    "new": sorted(m for m in set(sys.modules) - with_torch if m.startswith(watched)),
    "steps": int(est.n_iter_),
}))
"""


@pytest.mark.timeout(120)
def test_a_plain_fit_imports_neither_the_compiler_nor_torch_distributed(monkeypatch):
    monkeypatch.delenv(
        "NEUROEMBED_CUSTOM_PATHS", raising=False
    )  # the default: custom paths on the CPU
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=110, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["steps"] == 5
    assert not found["dynamo_with_torch"], (
        "torch itself now imports torch._dynamo: revisit this test"
    )
    assert not found["dynamo"]
    assert found["new"] == []

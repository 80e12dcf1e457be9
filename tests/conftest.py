"""Fixtures shared by all tests: the devices that the tests of a training path run on."""

import pytest
import torch

#: The CPU, and CUDA where a GPU is present: every test of a training path runs on each (issue 17: a training path
#: is tested on each device it runs on; ``benchmarks/device_check.sh`` runs them on a GPU machine).
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Each of :data:`DEVICES` in turn (the test's id ends in ``[cpu]`` or ``[cuda]``)."""
    return request.param

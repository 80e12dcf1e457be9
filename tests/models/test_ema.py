"""EMA of networks: foreach update against a per-tensor loop reference, the cosine schedule."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from neuroembed.models.ema import cosine_momentum, ema_update_, frozen_copy


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def _reference(target: nn.Module, online: nn.Module, m: float) -> dict[str, torch.Tensor]:
    """Slow per-tensor reference of the EMA step, as a new state dict."""
    out = {}
    t_state, o_state = target.state_dict(), online.state_dict()
    for name, t in t_state.items():
        o = o_state[name]
        out[name] = m * t + (1 - m) * o if t.is_floating_point() else o.clone()
    return out


@pytest.mark.parametrize("momentum", [0.0, 0.3, 0.9, 0.999, 1.0])
def test_ema_matches_loop_reference_for_parameters_and_buffers(momentum):
    online, target = _net(0), _net(1)
    online.train()(torch.randn(16, 3) * 3 + 1)  # move online's running statistics
    online.train()(torch.randn(16, 3))
    expected = _reference(target, online, momentum)
    ema_update_(target, online, momentum)
    state = target.state_dict()
    assert state["1.running_mean"].abs().sum() > 0 or momentum == 1.0
    for name, value in expected.items():
        assert torch.allclose(state[name], value, atol=1e-6), name
    assert state["1.num_batches_tracked"].item() == 2  # integer buffer copied


def test_ema_updates_in_place_without_touching_online_or_autograd():
    online, target = _net(0), frozen_copy(_net(1))
    before = {k: v.clone() for k, v in online.state_dict().items()}
    storage = [p.data_ptr() for p in target.parameters()]
    ema_update_(target, online, 0.5)
    assert [p.data_ptr() for p in target.parameters()] == storage
    for k, v in online.state_dict().items():
        assert torch.equal(v, before[k])
    assert all(p.grad is None for p in online.parameters())


def test_ema_repeated_updates_converge_geometrically():
    online, target = _net(0), _net(1)
    start = target[0].weight.detach().clone()
    for _ in range(5):
        ema_update_(target, online, 0.5)
    expected = 0.5**5 * start + (1 - 0.5**5) * online[0].weight.detach()
    assert torch.allclose(target[0].weight, expected, atol=1e-6)


def test_ema_rejects_mismatched_networks_and_momentum():
    with pytest.raises(ValueError, match="same parameters"):
        ema_update_(nn.Linear(3, 4), nn.Linear(3, 5), 0.5)
    with pytest.raises(ValueError, match="same buffers"):
        ema_update_(nn.BatchNorm1d(3), nn.BatchNorm1d(3, track_running_stats=False), 0.5)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
        ema_update_(nn.Linear(2, 2), nn.Linear(2, 2), 1.5)


def test_frozen_copy_is_independent_and_gradient_free():
    online = _net(0)
    target = frozen_copy(online)
    assert all(not p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in online.parameters())
    with torch.no_grad():
        target[0].weight.add_(1.0)
    assert not torch.equal(target[0].weight, online[0].weight)


def test_cosine_momentum_schedule():
    base, final, total = 0.99, 1.0, 40
    values = [cosine_momentum(s, total, base, final) for s in range(total + 1)]
    for s, v in enumerate(values):
        assert v == pytest.approx(final - (final - base) * (math.cos(math.pi * s / total) + 1) / 2)
    assert values[0] == pytest.approx(base) and values[-1] == pytest.approx(final)
    assert all(b >= a for a, b in zip(values, values[1:]))
    assert cosine_momentum(total + 10, total, base, final) == pytest.approx(final)
    assert cosine_momentum(-3, total, base, final) == pytest.approx(base)
    assert cosine_momentum(0.5, 1.0, base, final) == pytest.approx((base + final) / 2)
    with pytest.raises(ValueError, match="total must be > 0"):
        cosine_momentum(1, 0)

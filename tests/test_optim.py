"""FusedAdam makes torch.optim.Adam's (fused) updates bit for bit, on its fast path and off it, on every device of
``tests/conftest.py``; make_adam picks it where the custom paths are on."""

import pytest
import torch

from neuroembed._optim import FusedAdam, make_adam

SHAPES = [(4, 6, 2), (4,), (3, 4, 3), (3,)]


def _pair(device="cpu", **kwargs):
    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(s).to(device)) for s in SHAPES]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    return ours, FusedAdam(ours, **kwargs), theirs, torch.optim.Adam(theirs, fused=True, **kwargs)


def _step(params, optimizer, grads):
    optimizer.zero_grad()
    for p, g in zip(params, grads):
        if g is not None:
            p.grad = g.clone().to(p.device)
    optimizer.step()


def _step_both(ours, opt, theirs, ref, generator, steps, without_grad_at=None):
    """``steps`` steps of both optimisers on the same random gradients (parameter 1 without one at a given step)."""
    for i in range(steps):
        grads = [torch.randn(s, generator=generator) for s in SHAPES]
        if i == without_grad_at:
            grads[1] = None
        _step(ours, opt, grads)
        _step(theirs, ref, grads)


def _assert_same(ours, opt, theirs, ref):
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    sa, sb = opt.state_dict(), ref.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for key in sa["state"]:
        for name in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(sa["state"][key][name], sb["state"][key][name])


@pytest.mark.parametrize(
    "kwargs", [dict(lr=3e-3), dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)]
)
def test_same_updates_and_state_as_torch_adam(kwargs, device):
    ours, opt, theirs, ref = _pair(device, **kwargs)
    g = torch.Generator().manual_seed(1)
    for i in range(12):
        grads = [torch.randn(s, generator=g) for s in SHAPES]
        if i == 6:  # a scheduler's change of the learning rate is read at the next step
            for o in (opt, ref):
                o.param_groups[0]["lr"] *= 0.5
        _step(ours, opt, grads)
        _step(theirs, ref, grads)
    assert opt._lists is not None  # the fast path ran
    _assert_same(ours, opt, theirs, ref)


def test_resumed_from_a_state_dict(device):
    ours, opt, theirs, ref = _pair(device, lr=1e-2)
    g = torch.Generator().manual_seed(2)
    _step_both(ours, opt, theirs, ref, g, 3)
    resumed = FusedAdam(ours, lr=1e-2)
    resumed.load_state_dict(opt.state_dict())
    _step_both(ours, resumed, theirs, ref, g, 3)
    _assert_same(ours, resumed, theirs, ref)


def test_off_the_fast_path_it_is_torch_adam(device):
    # a parameter without a gradient, a closure, and a second parameter group all take torch's own step
    ours, opt, theirs, ref = _pair(device, lr=1e-2)
    g = torch.Generator().manual_seed(3)
    _step_both(ours, opt, theirs, ref, g, 4, without_grad_at=2)
    _assert_same(ours, opt, theirs, ref)

    loss_value = opt.step(closure=lambda: 1.5)
    ref.step(closure=lambda: 1.5)
    assert loss_value == 1.5
    _assert_same(ours, opt, theirs, ref)

    extra = torch.nn.Parameter(torch.ones(2, device=device))
    extra_ref = torch.nn.Parameter(torch.ones(2, device=device))
    opt.add_param_group({"params": [extra], "lr": 0.1})
    ref.add_param_group({"params": [extra_ref], "lr": 0.1})
    assert opt._fast_lists() is None
    grads = [torch.randn(s, generator=g) for s in SHAPES] + [torch.ones(2)]
    _step([*ours, extra], opt, grads)
    _step([*theirs, extra_ref], ref, grads)
    _assert_same([*ours, extra], opt, [*theirs, extra_ref], ref)


def test_zero_grad_and_hooks(device):
    ours, opt, _, _ = _pair(device, lr=1e-2)
    for p in ours:
        p.grad = torch.ones_like(p)
    opt.zero_grad(set_to_none=False)
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in ours)
    opt.zero_grad()
    assert all(p.grad is None for p in ours)
    calls = []
    opt.register_step_post_hook(lambda *args: calls.append(1))
    for _ in range(3):
        for p in ours:
            p.grad = torch.ones_like(p)
        opt.step()
    assert calls == [1, 1, 1] and opt._lists is not None


def test_make_adam(device, monkeypatch):
    # FusedAdam where the custom paths are on (by default the CPU only), torch.optim.Adam(fused=True) elsewhere
    params = [torch.nn.Parameter(torch.zeros(3, device=device))]
    monkeypatch.delenv("NEUROEMBED_CUSTOM_PATHS", raising=False)
    opt = make_adam(params, 0.01)
    assert isinstance(opt, FusedAdam) == (device == "cpu") and opt.param_groups[0]["lr"] == 0.01
    assert opt.param_groups[0]["fused"]
    for value, custom in (("1", True), ("0", False)):
        monkeypatch.setenv("NEUROEMBED_CUSTOM_PATHS", value)
        assert isinstance(make_adam(params, 0.01), FusedAdam) == custom
    monkeypatch.setenv("NEUROEMBED_CUSTOM_PATHS", "yes")
    with pytest.raises(ValueError, match="NEUROEMBED_CUSTOM_PATHS='yes' is not understood"):
        make_adam(params, 0.01)


def test_mixed_dtypes_and_tensor_learning_rates_take_torch_step(device):
    torch.manual_seed(0)
    ours = [
        torch.nn.Parameter(torch.randn(3).to(device)),
        torch.nn.Parameter(torch.randn(2).double().to(device)),
    ]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt, ref = FusedAdam(ours, lr=1e-2), torch.optim.Adam(theirs, lr=1e-2, fused=True)
    for _ in range(3):
        grads = [torch.ones(3), torch.ones(2, dtype=torch.float64)]
        _step(ours, opt, grads)
        _step(theirs, ref, grads)
    assert opt._fast_lists() is None
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    params = [torch.nn.Parameter(torch.randn(3).to(device))]
    tensor_lr = FusedAdam(params, lr=torch.tensor(1e-2, device=device))
    # after a step the state exists: only the tensor learning rate stops the fast path
    _step(params, tensor_lr, [torch.ones(3)])
    assert tensor_lr.state and tensor_lr._fast_lists() is None

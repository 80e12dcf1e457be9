"""Every loss runs on every available device and in low precision, matching float32 on the CPU."""

import pytest
import torch

import neuroembed.losses as L

CUDA = pytest.param(
    "cuda",
    marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here"),
)


def cases():
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g)

    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    mask = torch.rand(4, 6, generator=g) < 0.5
    return {
        "info_nce": (lambda a, p, n: L.info_nce(a, p, n, 0.1), (r(8, 5), r(8, 5), r(12, 5))),
        "info_nce_euclid": (
            lambda a, p, n: L.info_nce(a, p, n, 1.0, "euclidean"),
            (r(8, 5), r(8, 5), r(8, 6, 5)),
        ),
        "supcon": (lambda x, y: L.supcon(x, y, 0.1), (r(8, 2, 5), labels)),
        "nt_xent": (lambda a, b: L.nt_xent(a, b, 0.5), (r(8, 5), r(8, 5))),
        "triplet": (lambda x, y: L.triplet_margin(x, y, 0.2, "semi_hard"), (r(8, 5), labels)),
        "byol": (L.byol_loss, (r(8, 5), r(8, 5))),
        "dino": (
            lambda s, t: L.dino_cross_entropy(s, t, None, 0.04, 0.1),
            (r(4, 8, 16), r(2, 8, 16)),
        ),
        "ibot": (
            lambda s, t, m: L.ibot_patch_cross_entropy(s, t, m),
            (r(4, 6, 16), r(4, 6, 16), mask),
        ),
        "clip": (lambda a, b: L.clip_loss(a, b, 14.0), (r(8, 5), r(8, 5))),
        "gram": (L.gram_loss, (r(2, 6, 5), r(2, 6, 7))),
        "reconstruction": (
            lambda x, y: L.reconstruction_loss(x, y, "bce"),
            (r(4, 5), torch.rand(4, 5, generator=g)),
        ),
    }


CASES = cases()


def _to(args, device, dtype=None):
    out = []
    for a in args:
        a = a.to(device)
        if dtype is not None and a.is_floating_point():
            a = a.to(dtype)
        out.append(a)
    return out


@pytest.mark.parametrize("device", [CUDA])
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_result_on_accelerator(name, device):
    fn, args = CASES[name]
    want = fn(*args)
    got = fn(*_to(args, device))
    assert got.device.type == device
    torch.testing.assert_close(got.cpu(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bfloat16_is_finite_and_close(name):
    fn, args = CASES[name]
    want = fn(*args)
    args = [
        a.clone().requires_grad_(True) if a.is_floating_point() else a
        for a in _to(args, "cpu", torch.bfloat16)
    ]
    got = fn(*args)
    assert torch.isfinite(got)
    assert got.float().item() == pytest.approx(want.item(), rel=0.08, abs=0.05)
    got.backward()
    for a in args:
        if a.is_floating_point() and a.grad is not None:
            assert torch.isfinite(a.grad.float()).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_zero_row_keeps_low_precision_finite(name, dtype):
    # a zero vector stays zero when normalised (float16's 1e-12 floor would be 0 and give 0 / 0)
    fn, args = CASES[name]
    args = [a.clone() for a in args]
    args[0].view(-1, args[0].shape[-1])[0] = 0.0
    args = [
        a.clone().requires_grad_(True) if a.is_floating_point() else a
        for a in _to(args, "cpu", dtype)
    ]
    got = fn(*args)
    assert torch.isfinite(got)
    got.backward()
    for a in args:
        if a.is_floating_point() and a.grad is not None:
            assert torch.isfinite(a.grad.float()).all()


@pytest.mark.parametrize("device", [CUDA])
@pytest.mark.parametrize("method", ["knn", "kmeans"])
def test_miner_on_accelerator(device, method):
    z = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(50) % 3
    miner = L.HardNegativeMiner(n_neighbors=5, method=method, random_state=0)
    miner.update(z.to(device), step=0, labels=labels)
    drawn = miner.sample(torch.arange(50))
    assert drawn.device.type == device
    assert (labels[drawn.cpu()] != labels).all()


@pytest.mark.parametrize("device", [CUDA])
def test_stateful_modules_move_with_to(device):
    crit = L.DINOLoss(16).to(device)
    crit(torch.randn(3, 2, 16, device=device), torch.randn(2, 2, 16, device=device))
    assert crit.center.device.type == device
    learn = L.InfoNCE(0.5, learnable=True).to(device)
    x = torch.randn(4, 3, device=device)
    assert learn(x, x, x).device.type == device

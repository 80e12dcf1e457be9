import pytest
import torch

from neuroembed.losses import TripletMargin, normalized_distances, triplet_margin

from ._reference import dist, mean, normalize


def _setup(embeddings, labels):
    z = [normalize(v) for v in embeddings.tolist()]
    y = [int(t) for t in labels]
    n = len(z)
    d = [[max(dist(z[i], z[j]), 1e-6) for j in range(n)] for i in range(n)]
    pos = {i: [j for j in range(n) if j != i and y[j] == y[i]] for i in range(n)}
    neg = {i: [j for j in range(n) if y[j] != y[i]] for i in range(n)}
    return d, pos, neg


def reference_triplet(embeddings, labels, margin, mining):
    d, pos, neg = _setup(embeddings, labels)
    n = len(d)
    if mining == "batch_hard":
        losses = [
            max(0.0, max(d[a][p] for p in pos[a]) - min(d[a][k] for k in neg[a]) + margin)
            for a in range(n)
            if pos[a] and neg[a]
        ]
        return mean(losses) if losses else 0.0
    if mining == "semi_hard":
        losses = []
        for a in range(n):
            if not neg[a]:
                continue
            for p in pos[a]:
                farther = [d[a][k] for k in neg[a] if d[a][k] > d[a][p]]
                d_an = min(farther) if farther else max(d[a][k] for k in neg[a])
                losses.append(max(0.0, d[a][p] - d_an + margin))
        return mean(losses) if losses else 0.0
    active = []
    for a in range(n):
        for p in pos[a]:
            for k in neg[a]:
                value = d[a][p] - d[a][k] + margin
                if value > 0:
                    active.append(value)
    return mean(active) if active else 0.0


def data(n=10, d=3, n_classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, d, generator=g, dtype=torch.float64),
        torch.randint(0, n_classes, (n,), generator=g),
    )


@pytest.mark.parametrize("mining", ["batch_hard", "semi_hard", "all"])
@pytest.mark.parametrize("margin", [0.0, 0.2, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_loop_reference(mining, margin, seed):
    x, y = data(seed=seed)
    got = triplet_margin(x, y, margin, mining)
    assert got.item() == pytest.approx(reference_triplet(x, y, margin, mining), rel=1e-9, abs=1e-9)


def test_semi_hard_fallback_is_exercised():
    # anchor 0's negative (index 2) is closer than its positive: no negative is farther, so the
    # farthest negative is used
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.01], [0.9, 0.1], [0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    got = triplet_margin(x, y, 0.1, "semi_hard")
    assert got.item() == pytest.approx(reference_triplet(x, y, 0.1, "semi_hard"), rel=1e-9)
    assert got.item() > 0


def test_closed_form_single_triplet():
    # anchor (1, 0), positive (0, 1), negative (1, 0)-ish: d_ap = sqrt(2), d_an = 0
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    y = torch.tensor([0, 0, 1])
    for mining in ("batch_hard", "semi_hard", "all"):
        loss = triplet_margin(x, y, 0.3, mining)
        assert loss.item() > 0
    # anchor 0: d_ap = sqrt 2, d_an ~ 0; anchor 1: d_ap = sqrt 2, d_an = sqrt 2
    want = ((2**0.5 - 1e-6 + 0.3) + 0.3) / 2
    assert triplet_margin(x, y, 0.3, "batch_hard").item() == pytest.approx(want, rel=1e-5)


def test_single_class_or_no_positive_gives_zero_with_graph():
    for labels in (torch.zeros(5, dtype=torch.long), torch.arange(5)):
        for mining in ("batch_hard", "semi_hard", "all"):
            x = torch.randn(5, 3, requires_grad=True)
            loss = triplet_margin(x, labels, 0.2, mining)
            loss.backward()
            assert loss.item() == 0.0
            assert torch.equal(x.grad, torch.zeros_like(x))


def test_gradients_finite_with_duplicate_points():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])
    for mining in ("batch_hard", "semi_hard", "all"):
        x.grad = None
        triplet_margin(x, y, 0.5, mining).backward()
        assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_gradients_finite_in_half_precision(dtype):
    """The diagonal's clamp must not underflow to zero (1e-12 is 0 in float16: sqrt'(0) * 0 = NaN)."""
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0)).to(dtype).requires_grad_(True)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    want = triplet_margin(x.detach().float(), y, 0.5, "batch_hard")
    for mining in ("batch_hard", "semi_hard", "all"):
        x.grad = None
        loss = triplet_margin(x, y, 0.5, mining)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(x.grad).all(), mining
    assert triplet_margin(x, y, 0.5).float().item() == pytest.approx(want.item(), abs=0.02)


def test_gradcheck():
    x, y = data(n=6, n_classes=2, seed=3)
    x.requires_grad_(True)
    for mining in ("batch_hard", "semi_hard", "all"):
        assert torch.autograd.gradcheck(lambda e, m=mining: triplet_margin(e, y, 0.5, m), (x,))


def test_normalized_distances_matches_cdist():
    x, _ = data()
    z = torch.nn.functional.normalize(x, dim=1)
    want = torch.cdist(z, z).fill_diagonal_(1e-6)
    torch.testing.assert_close(normalized_distances(x), want)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(embeddings=torch.zeros(4)), ValueError, "embeddings must have shape"),
        (
            dict(labels=torch.zeros(3, dtype=torch.long)),
            ValueError,
            r"labels must have shape \(4,\)",
        ),
        (dict(labels=torch.zeros(4)), TypeError, "integer"),
        (dict(margin=-0.1), ValueError, "margin"),
        (dict(mining="hardest"), ValueError, "mining='hardest' is not supported"),
    ],
)
def test_bad_input_raises(kwargs, error, match):
    args = dict(embeddings=torch.randn(4, 2), labels=torch.tensor([0, 0, 1, 1]))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        triplet_margin(**args)


def test_module():
    x, y = data()
    crit = TripletMargin(margin=0.3, mining="semi_hard")
    torch.testing.assert_close(crit(x, y), triplet_margin(x, y, 0.3, "semi_hard"))
    assert "semi_hard" in repr(crit)
    with pytest.raises(ValueError, match="mining"):
        TripletMargin(mining="x")
    with pytest.raises(ValueError, match="margin"):
        TripletMargin(margin=-1.0)

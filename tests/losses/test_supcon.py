import math

import pytest
import torch

from neuroembed.losses import SupCon, supcon

from ._reference import logsumexp, mean, sim


def reference_supcon(features, labels, temperature, distance, base_temperature=None):
    """Khosla et al. L_out with explicit loops over anchors and positives."""
    if features.ndim == 3:
        n, v, _ = features.shape
        z = [features[i, j].tolist() for i in range(n) for j in range(v)]
        y = [int(labels[i]) for i in range(n) for _ in range(v)]
    else:
        z, y = features.tolist(), [int(t) for t in labels]
    per_anchor = []
    for i in range(len(z)):
        others = [j for j in range(len(z)) if j != i]
        positives = [j for j in others if y[j] == y[i]]
        if not positives:
            continue
        log_denominator = logsumexp([sim(z[i], z[a], distance, temperature) for a in others])
        terms = [sim(z[i], z[p], distance, temperature) - log_denominator for p in positives]
        per_anchor.append(-mean(terms))
    loss = mean(per_anchor) if per_anchor else 0.0
    if base_temperature is not None:
        loss *= temperature / base_temperature
    return loss


def data(n=8, d=4, views=None, n_classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (n, d) if views is None else (n, views, d)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    y = torch.randint(0, n_classes, (n,), generator=g)
    return x, y


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("views", [None, 1, 2, 3])
@pytest.mark.parametrize("temperature", [0.1, 1.0])
def test_matches_loop_reference(distance, views, temperature):
    x, y = data(views=views, seed=7 if views is None else views)
    got = supcon(x, y, temperature, distance)
    assert got.item() == pytest.approx(reference_supcon(x, y, temperature, distance), rel=1e-10)


def test_anchors_without_positive_are_left_out():
    # label 5 appears once: that anchor has no positive and must not count as a zero
    x, _ = data(n=6)
    y = torch.tensor([0, 0, 1, 1, 1, 5])
    got = supcon(x, y, 0.5)
    assert got.item() == pytest.approx(reference_supcon(x, y, 0.5, "cosine"), rel=1e-10)
    with_zero = reference_supcon(x, y, 0.5, "cosine") * 5 / 6
    assert got.item() != pytest.approx(with_zero)


def test_no_positive_at_all_gives_zero_with_graph():
    x = torch.randn(4, 3, requires_grad=True)
    loss = supcon(x, torch.arange(4))
    assert loss.item() == 0.0
    loss.backward()
    assert x.grad is not None and torch.equal(x.grad, torch.zeros_like(x))
    single = torch.randn(1, 3, requires_grad=True)
    loss = supcon(single, torch.tensor([0]))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(single.grad, torch.zeros(1, 3))


def test_single_class_closed_form():
    # all samples identical and one class: every similarity is 1/t, each anchor has n-1
    # positives and n-1 terms in the denominator, so the loss is log(n - 1)
    n = 6
    x = torch.ones(n, 3)
    loss = supcon(x, torch.zeros(n, dtype=torch.long), temperature=0.1)
    assert loss.item() == pytest.approx(math.log(n - 1), abs=1e-5)


def test_identical_views_one_positive_per_anchor():
    # two views per sample, each sample its own class, views identical and samples orthogonal:
    # one positive at 1/t, 2n - 2 others at 0  ->  log(e^{1/t} + 2n - 2) - 1/t
    n, t = 4, 0.2
    x = torch.eye(n)[:, None, :].expand(n, 2, n)
    loss = supcon(x, torch.arange(n), temperature=t)
    want = math.log(math.exp(1 / t) + 2 * n - 2) - 1 / t
    assert loss.item() == pytest.approx(want, rel=1e-5)


def test_single_view_matches_2d():
    x, y = data()
    torch.testing.assert_close(supcon(x[:, None], y, 0.3), supcon(x, y, 0.3))


def test_base_temperature_scales():
    x, y = data()
    plain = supcon(x, y, 0.1)
    scaled = supcon(x, y, 0.1, base_temperature=0.07)
    torch.testing.assert_close(scaled, plain * (0.1 / 0.07))
    assert scaled.item() == pytest.approx(reference_supcon(x, y, 0.1, "cosine", 0.07))


def test_stable_at_small_temperature_and_gradients_finite():
    x, y = data(n=10)
    x = (x * 30).float().requires_grad_(True)
    for distance in ("cosine", "euclidean"):
        loss = supcon(x, y, 1e-3, distance)
        assert torch.isfinite(loss)
        assert loss.item() == pytest.approx(
            reference_supcon(x.detach().double(), y, 1e-3, distance), rel=1e-3
        )
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(grad).all()


def test_gradcheck():
    x, y = data(n=5, views=2, n_classes=2)
    x.requires_grad_(True)
    for distance in ("cosine", "euclidean"):
        assert torch.autograd.gradcheck(lambda f, d=distance: supcon(f, y, 0.5, d), (x,))


def test_tensor_temperature_gets_gradient():
    x, y = data()
    t = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    supcon(x, y, t).backward()
    assert t.grad is not None and torch.isfinite(t.grad)


@pytest.mark.parametrize(
    ("features", "labels", "kwargs", "error", "match"),
    [
        (
            torch.zeros(4),
            torch.zeros(4, dtype=torch.long),
            {},
            ValueError,
            "features must have shape",
        ),
        (
            torch.zeros(4, 3),
            torch.zeros(5, dtype=torch.long),
            {},
            ValueError,
            r"labels must have shape \(4,\)",
        ),
        (torch.zeros(4, 2, 3), torch.zeros(8, dtype=torch.long), {}, ValueError, r"shape \(4,\)"),
        (torch.zeros(4, 3), torch.zeros(4), {}, TypeError, "integer class labels"),
        (torch.zeros(4, 3), [0, 0, 1, 1], {}, TypeError, "labels must be a torch.Tensor"),
        (
            torch.zeros(4, 3),
            torch.zeros(4, dtype=torch.long),
            dict(temperature=0),
            ValueError,
            "temperature",
        ),
        (
            torch.zeros(4, 3),
            torch.zeros(4, dtype=torch.long),
            dict(temperature=-0.1),
            ValueError,
            "> 0",
        ),
        (
            torch.zeros(4, 3),
            torch.zeros(4, dtype=torch.long),
            dict(distance="l1"),
            ValueError,
            "distance",
        ),
        (
            torch.zeros(4, 3),
            torch.zeros(4, dtype=torch.long),
            dict(base_temperature=0.0),
            ValueError,
            "base_temperature",
        ),
    ],
)
def test_bad_input_raises(features, labels, kwargs, error, match):
    with pytest.raises(error, match=match):
        supcon(features, labels, **kwargs)


def test_module():
    x, y = data(views=2)
    crit = SupCon(temperature=0.2, distance="euclidean", base_temperature=0.1)
    torch.testing.assert_close(crit(x, y), supcon(x, y, 0.2, "euclidean", 0.1))
    assert "base_temperature=0.1" in repr(crit)
    with pytest.raises(ValueError, match="temperature"):
        SupCon(temperature=0.0)
    with pytest.raises(ValueError, match="distance"):
        SupCon(distance="nope")
    with pytest.raises(ValueError, match="base_temperature"):
        SupCon(base_temperature=-1.0)

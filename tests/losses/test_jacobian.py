"""The Jacobian penalty against ``||J||_F^2 / 2B`` from full per-sample Jacobians (the slow reference written here),
its ramp, and the estimator trained with it."""

import numpy as np
import pytest
import torch

from neuroembed import Estimator
from neuroembed.losses import jacobian_penalty, ramp_weight
from neuroembed.models import make_encoder


def _reference(f, x, slices=None):
    """sum over slices of 1/(2B) sum_b ||J_f(x_b)[slice]||_F^2, one torch.autograd.functional.jacobian per sample."""
    B = x.shape[0]
    total = 0.0
    for b in range(B):
        J = torch.autograd.functional.jacobian(lambda v: f(v[None])[0], x[b])  # (D, *x.shape[1:])
        J = J.reshape(J.shape[0], -1).double()
        for part in slices or [slice(None)]:
            total += float((J[part] ** 2).sum())
    return total / (2 * B)


@pytest.mark.parametrize("model", ["offset1", "offset10"])
@pytest.mark.parametrize("normalize", [True, False])
def test_exact_penalty_equals_the_full_jacobians(model, normalize):
    torch.manual_seed(0)
    enc = make_encoder(model, 7, 16, 6, normalize=normalize).double()
    R = enc.receptive_field
    x = torch.randn(5, 7, R, dtype=torch.float64)

    def f(w):
        return enc(w)[..., 0]

    for slices in (None, [slice(0, 2), slice(2, 6)]):
        got = float(jacobian_penalty(f, x, estimate="exact", slices=slices, create_graph=False))
        assert got == pytest.approx(_reference(f, x, slices), rel=1e-10)


def test_projection_estimate_is_unbiased():
    torch.manual_seed(1)
    enc = make_encoder("offset5", 4, 8, 3, normalize=True).double()
    x = torch.randn(6, 4, 5, dtype=torch.float64)

    def f(w):
        return enc(w)[..., 0]

    exact = _reference(f, x)
    # 2000 copies of the batch in one call: the mean of 2000 independent projections per window
    copies = x.repeat(2000, 1, 1)
    g = torch.Generator().manual_seed(0)
    estimate = float(jacobian_penalty(f, copies, generator=g, create_graph=False))
    assert estimate == pytest.approx(exact, rel=0.03)
    single = float(jacobian_penalty(f, x, generator=g, create_graph=False))
    assert single != pytest.approx(exact, rel=1e-6)  # one projection is an estimate, not the value


def test_projection_with_a_known_direction():
    # a linear map: v^T W per sample, so the estimate is sum_b ||v_b^T W||^2 / 2B exactly
    W = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]], dtype=torch.float64)
    x = torch.randn(4, 3, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    got = float(jacobian_penalty(lambda v: v @ W.T, x, generator=g, create_graph=False))
    v = torch.randn((4, 2), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert got == pytest.approx(float(((v @ W) ** 2).sum()) / 8, rel=1e-12)


def test_the_penalty_trains_the_weights():
    enc = make_encoder("offset5", 4, 8, 3, normalize=False)
    x = torch.randn(16, 4, 5)
    penalty = jacobian_penalty(lambda w: enc(w)[..., 0], x, estimate="exact")
    penalty.backward()
    # every weight matrix shapes the Jacobian (a bias of the last layer does not)
    weights = [p for name, p in enc.named_parameters() if name.endswith("weight")]
    assert weights and all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in weights)


def test_bad_arguments():
    with pytest.raises(ValueError, match="estimate='full'"):
        jacobian_penalty(lambda v: v, torch.ones(2, 2), estimate="full")
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        jacobian_penalty(lambda v: v.sum(), torch.ones(2, 2))


def test_ramp():
    assert [ramp_weight(i, 0.01, (2500, 15000)) for i in (0, 2499, 2500, 8750, 15000, 20000)] == [
        0.0,
        0.0,
        0.0,
        pytest.approx(0.005),
        0.01,
        0.01,
    ]
    assert ramp_weight(0, 0.3, None) == 0.3


def _toy(n=800, seed=0):
    rng = np.random.default_rng(seed)
    pos = (np.sin(np.arange(n) / 30) + 1) / 2
    centres = rng.uniform(0, 1, 12)
    rates = 0.2 + 3 * np.exp(-((pos[:, None] - centres) ** 2) / 0.02)
    return rng.poisson(rates).astype(np.float32), pos.astype(np.float32)


def _mean_jacobian_norm(est, X):
    enc = est.encoder_
    R = est.receptive_field_
    x = torch.from_numpy(np.stack([X[t : t + R].T for t in range(0, len(X) - R, 7)]))
    return float(
        jacobian_penalty(lambda w: enc(w)[..., 0], x, estimate="exact", create_graph=False)
    )


def test_a_regularised_fit_has_a_smaller_jacobian():
    X, y = _toy()
    kw = dict(
        model="offset5",
        batch_size=64,
        max_iterations=150,
        time_offset=3,
        random_state=0,
        device="cpu",
    )
    plain = Estimator(**kw).fit(X, y)
    reg = Estimator(jacobian_weight=1.0, **kw).fit(X, y)  # one projection per window
    assert _mean_jacobian_norm(reg, X) < 0.8 * _mean_jacobian_norm(plain, X)
    # weight 0, or a ramp that has not started, changes nothing
    off = Estimator(jacobian_weight=1.0, jacobian_ramp=(1000, 2000), **kw).fit(X, y)
    np.testing.assert_array_equal(off.transform(X), plain.transform(X))


def test_the_ramp_survives_save_and_load(tmp_path):
    X, y = _toy(n=300)
    est = Estimator(
        model="offset5",
        batch_size=32,
        max_iterations=3,
        jacobian_weight=0.1,
        jacobian_ramp=(1, 2),
        random_state=0,
    ).fit(X, y)
    est.save(tmp_path / "m.pt")
    back = Estimator.load(tmp_path / "m.pt")
    assert tuple(back.jacobian_ramp) == (1, 2) and back.jacobian_weight == 0.1


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (dict(jacobian_weight=-1.0), ValueError, "jacobian_weight"),
        (dict(jacobian_estimate="full"), ValueError, "jacobian_estimate"),
        (dict(jacobian_ramp=(5, 5)), ValueError, "start < stop"),
        (dict(jacobian_ramp=3), TypeError, "two iterations"),
    ],
)
def test_bad_parameters(params, error, match):
    X, y = _toy(n=200)
    with pytest.raises(error, match=match):
        Estimator(max_iterations=1, **params).fit(X, y)

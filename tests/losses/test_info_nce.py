import functools
import math

import pytest
import torch

from neuroembed.losses import InfoNCE, info_nce, info_nce_parts, pairwise_similarity, similarity

from ._reference import logsumexp, mean, sim


def reference_info_nce(anchor, positive, negatives, temperature, distance, pos_in_denom):
    a, p, n = anchor.tolist(), positive.tolist(), negatives.tolist()
    losses = []
    for i in range(len(a)):
        negs = n[i] if negatives.ndim == 3 else n
        s_pos = sim(a[i], p[i], distance, temperature)
        s_neg = [sim(a[i], nk, distance, temperature) for nk in negs]
        if pos_in_denom:
            s_neg = [s_pos, *s_neg]
        losses.append(-s_pos + logsumexp(s_neg))
    return mean(losses)


def make(b=5, k=7, d=3, per_anchor=False, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(b, d, generator=g, dtype=dtype)
    p = torch.randn(b, d, generator=g, dtype=dtype)
    n = torch.randn((b, k, d) if per_anchor else (k, d), generator=g, dtype=dtype)
    return a, p, n


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("per_anchor", [False, True])
@pytest.mark.parametrize("pos_in_denom", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 0.1, 3.0])
def test_matches_loop_reference(distance, per_anchor, pos_in_denom, temperature):
    a, p, n = make(per_anchor=per_anchor, seed=int(temperature * 10))
    got = info_nce(a, p, n, temperature, distance, pos_in_denom)
    want = reference_info_nce(a, p, n, temperature, distance, pos_in_denom)
    assert got.shape == ()
    assert got.item() == pytest.approx(want, rel=1e-10, abs=1e-10)


def test_negatives_count_differs_from_batch_and_float32():
    a, p, n = make(b=3, k=11, dtype=torch.float32)
    got = info_nce(a, p, n, 0.5)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(reference_info_nce(a, p, n, 0.5, "cosine", False), rel=1e-5)


def test_shared_and_per_anchor_negatives_agree():
    a, p, n = make(b=4, k=6)
    shared = info_nce(a, p, n, 0.3, "euclidean")
    expanded = info_nce(a, p, n[None].expand(4, 6, 3), 0.3, "euclidean")
    torch.testing.assert_close(shared, expanded)


@pytest.mark.parametrize("k", [1, 2, 16])
def test_collapsed_encoder_gives_log_k(k):
    z = torch.full((6, 4), 0.5)
    loss = info_nce(z, z, torch.full((k, 4), 2.0), temperature=0.2)
    assert loss.item() == pytest.approx(math.log(k), abs=1e-5)
    # goodness of fit in bits above chance is zero
    assert (math.log(k) - loss.item()) / math.log(2) == pytest.approx(0.0, abs=1e-5)
    ce = info_nce(z, z, torch.full((k, 4), 2.0), temperature=0.2, positive_in_denominator=True)
    assert ce.item() == pytest.approx(math.log(k + 1), abs=1e-5)


def test_perfect_alignment_closed_form():
    # identical views, negatives orthogonal: s_pos = 1/t, s_neg = 0
    t = 0.5
    a = torch.eye(3)
    neg = torch.stack([torch.tensor([0.0, 0.0, 0.0, 1.0])] * 4)
    a4 = torch.cat([a, torch.zeros(3, 1)], 1)
    loss = info_nce(a4, a4, neg, t)
    assert loss.item() == pytest.approx(-1 / t + math.log(4), abs=1e-6)
    ce = info_nce(a4, a4, neg, t, positive_in_denominator=True)
    assert ce.item() == pytest.approx(-math.log(math.exp(1 / t) / (math.exp(1 / t) + 4)), abs=1e-6)


def test_cross_entropy_form_equals_f_cross_entropy():
    a, p, n = make(b=6, k=5)
    logits = torch.cat(
        [pairwise_similarity(a, p).diagonal()[:, None], pairwise_similarity(a, n)], 1
    )
    ce = torch.nn.functional.cross_entropy(logits / 0.7, torch.zeros(6, dtype=torch.long))
    torch.testing.assert_close(info_nce(a, p, n, 0.7, positive_in_denominator=True), ce)


def test_parts_sum_to_loss():
    a, p, n = make()
    for pos_in_denom in (False, True):
        loss, align, unif = info_nce_parts(a, p, n, 0.4, "cosine", pos_in_denom)
        torch.testing.assert_close(loss, align + unif)
        torch.testing.assert_close(loss, info_nce(a, p, n, 0.4, "cosine", pos_in_denom))
    _, align, _ = info_nce_parts(a, p, n, 0.4)
    want = -sum(sim(x, y, "cosine", 0.4) for x, y in zip(a.tolist(), p.tolist())) / len(a)
    assert align.item() == pytest.approx(want)


def test_tiny_temperature_is_stable_and_matches_reference():
    a, p, n = make(b=4, k=5, dtype=torch.float32)
    a.requires_grad_(True)
    for distance in ("cosine", "euclidean"):
        loss = info_nce(a * 10, p * 10, n * 10, 1e-3, distance)
        assert torch.isfinite(loss)
        want = reference_info_nce(a.detach() * 10, p * 10, n * 10, 1e-3, distance, False)
        assert loss.item() == pytest.approx(want, rel=1e-3)
        (grad,) = torch.autograd.grad(loss, a)
        assert torch.isfinite(grad).all()


def test_gradcheck_including_tensor_temperature():
    a, p, n = make(b=3, k=4)
    for t in (a, p, n):
        t.requires_grad_(True)
    temp = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    for distance in ("cosine", "euclidean"):
        for pos_in_denom in (False, True):
            assert torch.autograd.gradcheck(
                lambda a_, p_, n_, t_, d=distance, q=pos_in_denom: info_nce(a_, p_, n_, t_, d, q),
                (a, p, n, temp),
            )


def test_similarity_helpers_match_reference():
    a, p, n = make(b=4, k=3)
    for distance in ("cosine", "euclidean"):
        rows = similarity(a, p, distance, 0.5)
        assert rows.shape == (4,)
        for i in range(4):
            assert rows[i].item() == pytest.approx(sim(a[i].tolist(), p[i].tolist(), distance, 0.5))
        pair = pairwise_similarity(a, n, distance, 0.5)
        assert pair.shape == (4, 3)
        for i in range(4):
            for k in range(3):
                want = sim(a[i].tolist(), n[k].tolist(), distance, 0.5)
                assert pair[i, k].item() == pytest.approx(want)
    torch.testing.assert_close(pairwise_similarity(a, n, "euclidean"), -(torch.cdist(a, n) ** 2))


def test_zero_vectors_give_finite_cosine():
    z = torch.zeros(3, 2, requires_grad=True)
    loss = info_nce(z, torch.ones(3, 2), torch.ones(4, 2))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


BAD_INPUTS = [
    (dict(anchor=torch.zeros(4)), ValueError, "anchor must have shape"),
    (dict(positive=torch.zeros(3, 3)), ValueError, "positive must have the same shape"),
    (dict(positive=torch.zeros(4, 2)), ValueError, "positive must have the same shape"),
    (dict(negatives=torch.zeros(5, 2)), ValueError, "same number of features"),
    (dict(negatives=torch.zeros(3, 5, 3)), ValueError, "one row per anchor"),
    (dict(negatives=torch.zeros(5)), ValueError, "negatives must have shape"),
    (dict(negatives=torch.zeros(0, 3)), ValueError, "empty"),
    (dict(temperature=0.0), ValueError, "temperature must be a finite number > 0"),
    (dict(temperature=-1.0), ValueError, "temperature must be a finite number > 0"),
    (dict(temperature=float("nan")), ValueError, "temperature must be a finite number > 0"),
    (dict(temperature=torch.tensor(-0.5)), ValueError, "temperature must be a finite number > 0"),
    (dict(temperature=torch.ones(2)), ValueError, "0-d"),
    (dict(temperature="hot"), TypeError, "temperature must be"),
    (dict(distance="manhattan"), ValueError, "distance='manhattan' is not supported"),
    (dict(anchor=[[1.0, 2.0, 3.0]] * 4), TypeError, "anchor must be a torch.Tensor"),
    (dict(anchor=torch.zeros(4, 3, dtype=torch.long)), TypeError, "floating-point"),
    (dict(positive_in_denominator="yes"), TypeError, "positive_in_denominator must be a bool"),
]


@pytest.mark.parametrize(("override", "error", "match"), BAD_INPUTS)
def test_bad_input_raises(override, error, match):
    kwargs = dict(anchor=torch.zeros(4, 3), positive=torch.zeros(4, 3), negatives=torch.zeros(5, 3))
    kwargs.update(override)
    with pytest.raises(error, match=match):
        info_nce(**kwargs)


def test_module_fixed_temperature_matches_function():
    a, p, n = make(dtype=torch.float32)
    crit = InfoNCE(temperature=0.3, distance="euclidean", positive_in_denominator=True)
    assert crit.temperature == 0.3
    assert list(crit.parameters()) == []
    torch.testing.assert_close(crit(a, p, n), info_nce(a, p, n, 0.3, "euclidean", True))
    loss, align, unif = crit.forward_parts(a, p, n)
    torch.testing.assert_close(loss, align + unif)
    assert "temperature=0.3" in repr(crit)


def test_module_learnable_temperature():
    crit = InfoNCE(temperature=0.5, learnable=True, min_temperature=0.1)
    (param,) = list(crit.parameters())
    assert param is crit.log_inverse_temperature
    assert param.item() == pytest.approx(-math.log(0.5))
    assert crit.temperature == pytest.approx(0.5)
    assert "log_inverse_temperature" in crit.state_dict()
    a, p, n = make(dtype=torch.float32)
    torch.testing.assert_close(crit(a, p, n), info_nce(a, p, n, 0.5))
    crit(a, p, n).backward()
    assert param.grad is not None and param.grad.item() != 0.0
    # an inverse temperature pushed past 1/min_temperature is clamped, and the gradient stops
    with torch.no_grad():
        param.fill_(math.log(1000.0))
    assert crit.temperature == pytest.approx(0.1)
    param.grad = None
    loss = crit(a, p, n)
    torch.testing.assert_close(loss, info_nce(a, p, n, 0.1))
    loss.backward()
    assert param.grad.item() == 0.0


def test_module_learnable_temperature_trains_down():
    torch.manual_seed(0)
    crit = InfoNCE(temperature=1.0, learnable=True, min_temperature=0.05)
    opt = torch.optim.SGD(crit.parameters(), lr=0.5)
    a = torch.eye(4)
    for _ in range(20):
        opt.zero_grad()
        crit(a, a, -a).backward()
        opt.step()
    # perfectly separated data: sharper is better, down to the bound
    assert crit.temperature < 0.5


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(temperature=0.0), ValueError, "temperature must be a finite number > 0"),
        (dict(temperature=-2.0), ValueError, "temperature"),
        (dict(min_temperature=0.0), ValueError, "min_temperature"),
        (dict(temperature=0.05, learnable=True), ValueError, "below min_temperature"),
        (dict(distance="dot"), ValueError, "distance"),
        (dict(temperature="1"), TypeError, "temperature must be a number"),
    ],
)
def test_module_validates_constructor(kwargs, error, match):
    with pytest.raises(error, match=match):
        InfoNCE(**kwargs)


def test_module_fixed_temperature_below_min_is_allowed():
    assert InfoNCE(temperature=0.05).temperature == 0.05


# --- the fused function for CEBRA's case (cosine, shared negatives, positive outside the denominator) ----------------
def _loss_and_grads(fn, tensors, weights):
    inputs = [t.detach().clone().requires_grad_(True) for t in tensors]
    parts = fn(*inputs)
    sum(w * p for w, p in zip(weights, parts)).backward()
    return [p.detach() for p in parts], [t.grad for t in inputs]


def _normalize_then_score(anchor, positive, negatives, temperature):
    # the fused function's convention, composed of autograd operations: every vector through F.normalize (a row
    # shorter than its eps is divided by eps), then dot products
    a, p, n = (torch.nn.functional.normalize(x, dim=-1) for x in (anchor, positive, negatives))
    alignment = -((a * p).sum(1) / temperature).mean()
    uniformity = torch.logsumexp(a @ n.T / temperature, dim=1).mean()
    return alignment + uniformity, alignment, uniformity


@pytest.mark.parametrize("temperature", [1.0, 0.1, 3.0, 1e-3, "tensor"])
@pytest.mark.parametrize("degenerate", [False, True])
def test_fused_case_matches_the_autograd_composition_and_the_reference(
    temperature, degenerate, device, monkeypatch
):
    from neuroembed.losses.info_nce import _parts_autograd

    monkeypatch.setenv("NEUROEMBED_CUSTOM_PATHS", "1")  # the hand-written loss, on every device
    a, p, n = make(b=6, k=9, d=4, seed=3)
    if degenerate:  # zero rows, and a row shorter than normalize's eps
        a[1] = 0.0
        n[2] = 0.0
        p[3] = 1e-13
    a, p, n = a.to(device), p.to(device), n.to(device)
    if temperature == "tensor":
        temperature = torch.tensor(0.5, dtype=torch.float64)  # no gradient: still the fused case
    weights = (0.7, -1.3, 0.4)  # the loss and its two parts each carry a gradient
    got, got_grads = _loss_and_grads(lambda *x: info_nce_parts(*x, temperature), (a, p, n), weights)
    # F.cosine_similarity (the general path's positive score) differs from F.normalize only in the gradient of
    # a row shorter than eps: the degenerate case is checked against F.normalize throughout
    if degenerate:
        reference = functools.partial(_normalize_then_score, temperature=temperature)
    else:
        reference = functools.partial(
            _parts_autograd,
            temperature=temperature,
            distance="cosine",
            positive_in_denominator=False,
        )
    want, want_grads = _loss_and_grads(reference, (a, p, n), weights)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)
    # the gradient of a row shorter than eps is ~1e12 here: compare relative to the largest
    for g, w in zip(got_grads, want_grads):
        scale = max(1.0, float(w.abs().max()))
        torch.testing.assert_close(g / scale, w / scale, rtol=1e-12, atol=1e-12)
    if not degenerate:
        t = float(temperature)
        assert got[0].item() == pytest.approx(
            reference_info_nce(a, p, n, t, "cosine", False), rel=1e-9
        )


def test_fused_case_is_the_one_taken_and_only_for_it(device, monkeypatch):
    monkeypatch.setenv("NEUROEMBED_CUSTOM_PATHS", "1")
    a, p, n = (x.to(device) for x in make(b=3, k=4))
    a.requires_grad_(True)

    def name(loss):
        return type(loss.grad_fn).__name__

    assert "CosineSharedInfoNCE" in name(info_nce(a, p, n))
    assert "CosineSharedInfoNCE" in name(InfoNCE(0.5)(a, p, n))
    others = [
        info_nce(a, p, n, distance="euclidean"),
        info_nce(a, p, n, positive_in_denominator=True),
        info_nce(a, p, make(b=3, k=4, per_anchor=True)[2].to(device)),
        info_nce(a, p, n, torch.tensor(0.5, dtype=torch.float64, requires_grad=True)),
        InfoNCE(0.5, learnable=True).double().to(device)(a, p, n),
        info_nce(a.half(), p.half(), n.half()),
    ]
    assert not any("CosineSharedInfoNCE" in name(loss) for loss in others)


def test_fused_case_only_where_the_custom_paths_are_on(device, monkeypatch):
    # by default on the CPU only; NEUROEMBED_CUSTOM_PATHS=1 on every device, =0 on none
    a, p, n = (x.to(device) for x in make(b=3, k=4))
    a.requires_grad_(True)
    monkeypatch.delenv("NEUROEMBED_CUSTOM_PATHS", raising=False)
    fused = {}
    for value in (None, "1", "0"):
        if value is not None:
            monkeypatch.setenv("NEUROEMBED_CUSTOM_PATHS", value)
        fused[value] = "CosineSharedInfoNCE" in type(info_nce(a, p, n).grad_fn).__name__
    assert fused == {None: device == "cpu", "1": True, "0": False}


def test_fused_case_gradcheck_and_partial_gradients(device, monkeypatch):
    from neuroembed.losses.info_nce import _CosineSharedInfoNCE

    monkeypatch.setenv("NEUROEMBED_CUSTOM_PATHS", "1")
    a, p, n = (x.to(device) for x in make(b=4, k=5, seed=5))
    for t in (a, p, n):
        t.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda *x: _CosineSharedInfoNCE.apply(*x, 0.7), (a, p, n))
    # only the negatives ask for a gradient
    n_only = n.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(info_nce(a.detach(), p.detach(), n_only, 0.7), n_only)
    _, want = _loss_and_grads(
        lambda *x: (info_nce(*x, 0.7),), (a.detach(), p.detach(), n.detach()), (1.0,)
    )
    torch.testing.assert_close(grad, want[2], rtol=1e-12, atol=1e-12)


def test_fused_case_float32(device, monkeypatch):
    monkeypatch.setenv("NEUROEMBED_CUSTOM_PATHS", "1")
    a, p, n = (x.to(device) for x in make(b=64, k=128, d=8, dtype=torch.float32))
    loss = info_nce(a, p, n)
    want = reference_info_nce(a, p, n, 1.0, "cosine", False)
    assert loss.item() == pytest.approx(want, rel=1e-5)


def test_fused_case_second_derivatives_are_those_of_the_composition():
    # create_graph=True (a gradient penalty, a Hessian-vector product): the backward goes through autograd
    from neuroembed.losses.info_nce import _CosineSharedInfoNCE, _parts_autograd

    a, p, n = make(b=4, k=5, seed=6)

    def penalised(fn, x):
        x = [t.detach().clone().requires_grad_(True) for t in x]
        (grad_a,) = torch.autograd.grad(fn(*x)[0], x[0], create_graph=True)
        (grad_a.pow(2).sum()).backward()
        return [t.grad for t in x]

    got = penalised(lambda *x: info_nce_parts(*x, 0.6), (a, p, n))
    want = penalised(lambda *x: _parts_autograd(*x, 0.6, "cosine", False), (a, p, n))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)
    for t in (a, p, n):
        t.requires_grad_(True)
    assert torch.autograd.gradgradcheck(
        lambda *x: _CosineSharedInfoNCE.apply(*x, 0.6)[0], (a, p, n)
    )

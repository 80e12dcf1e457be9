import math

import pytest
import torch

from neuroembed.losses import IBOTPatchLoss, ibot_patch_cross_entropy

from ._reference import softmax


def reference_ibot(student, teacher, mask, center, tt, ts):
    per_image = []
    for b in range(student.shape[0]):
        tokens = []
        for u in range(student.shape[1]):
            if not mask[b, u]:
                continue
            q = softmax([x - c for x, c in zip(teacher[b, u].tolist(), center)], tt)
            p = softmax(student[b, u].tolist(), ts)
            tokens.append(-sum(qk * math.log(pk) for qk, pk in zip(q, p)))
        per_image.append(sum(tokens) / len(tokens) if tokens else 0.0)
    return sum(per_image) / len(per_image)


def data(b=3, p=5, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(b, p, k, generator=g, dtype=torch.float64)
    t = torch.randn(b, p, k, generator=g, dtype=torch.float64)
    mask = torch.rand(b, p, generator=g) < 0.5
    mask[0] = False  # one image without masked tokens
    mask[1, 0] = True
    return s, t, mask, (0.2 * torch.randn(k, generator=g, dtype=torch.float64))


@pytest.mark.parametrize(("tt", "ts"), [(0.04, 0.1), (0.5, 0.2)])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_loop_reference(tt, ts, seed):
    s, t, mask, c = data(seed=seed)
    got = ibot_patch_cross_entropy(s, t, mask, c, tt, ts)
    assert got.item() == pytest.approx(reference_ibot(s, t, mask, c.tolist(), tt, ts), rel=1e-10)


def test_images_weighted_equally_not_tokens():
    # image 0 has 1 masked token with CE a, image 1 has 3 with CE b: loss is (a + b) / 2
    k = 3
    s = torch.zeros(2, 3, k)
    t = torch.zeros(2, 3, k)
    t[0, 0] = torch.tensor([100.0, 0.0, 0.0])  # sharp teacher -> CE = log 3 as student is uniform
    mask = torch.tensor([[True, False, False], [True, True, True]])
    s[1] = torch.tensor([10.0, 0.0, 0.0])
    t[1] = torch.tensor([100.0, 0.0, 0.0])
    a = math.log(3)
    b = -math.log(math.exp(10 / 0.1) / (math.exp(10 / 0.1) + 2))
    got = ibot_patch_cross_entropy(s, t, mask)
    assert got.item() == pytest.approx((a + b) / 2, rel=1e-5)


def test_an_image_without_masked_tokens_counts_as_zero():
    """iBOT's, DINOv2's and lightly's normalisation: the mean over all images, not over the masked ones."""
    s, t = torch.zeros(4, 3, 5), torch.zeros(4, 3, 5)
    mask = torch.zeros(4, 3, dtype=torch.bool)
    mask[0, 0] = True
    assert ibot_patch_cross_entropy(s, t, mask).item() == pytest.approx(math.log(5) / 4, rel=1e-6)


def test_no_masked_token_gives_zero_with_graph():
    s, t, _, _ = data()
    s = s.requires_grad_(True)
    loss = ibot_patch_cross_entropy(s, t, torch.zeros(3, 5, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(s.grad, torch.zeros_like(s))


def test_unmasked_tokens_get_no_gradient_and_teacher_detached():
    s, t, mask, _ = data()
    s.requires_grad_(True)
    t.requires_grad_(True)
    ibot_patch_cross_entropy(s, t, mask).backward()
    assert t.grad is None
    assert (s.grad[~mask] == 0).all()
    assert (s.grad[mask].abs().sum(-1) > 0).all()


def test_gradcheck_and_stability():
    s, t, mask, c = data(b=2, p=3, k=3)
    s.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: ibot_patch_cross_entropy(x, t, mask, c, 0.3, 0.2), (s,)
    )
    big = (s.detach() * 1e4).float().requires_grad_(True)
    loss = ibot_patch_cross_entropy(big, t.float() * 1e4, mask, None, 0.01, 0.01)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(big.grad).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(student_patches=torch.zeros(2, 4, 3)), ValueError, "same shape"),
        (dict(student_patches=torch.zeros(2, 3)), ValueError, "student_patches must have shape"),
        (dict(mask=torch.zeros(2, 4, dtype=torch.bool)), ValueError, r"mask must have shape"),
        (dict(mask=torch.zeros(2, 3)), TypeError, "mask must be a bool tensor"),
        (dict(center=torch.zeros(5)), ValueError, "center must have 3 entries"),
        (dict(teacher_temperature=0.0), ValueError, "teacher_temperature"),
    ],
)
def test_bad_input_raises(kwargs, error, match):
    args = dict(
        student_patches=torch.zeros(2, 3, 3),
        teacher_patches=torch.zeros(2, 3, 3),
        mask=torch.ones(2, 3, dtype=torch.bool),
    )
    args.update(kwargs)
    with pytest.raises(error, match=match):
        ibot_patch_cross_entropy(**args)


def test_module_center_over_all_tokens():
    s, t, mask, _ = data()
    crit = IBOTPatchLoss(output_dim=4, center_momentum=0.8).double()
    loss = crit(s, t, mask)
    assert loss.item() == pytest.approx(reference_ibot(s, t, mask, [0.0] * 4, 0.04, 0.1), rel=1e-10)
    torch.testing.assert_close(crit.center[0], 0.2 * t.reshape(-1, 4).mean(0))
    loss = crit(s, t, mask)
    assert loss.item() == pytest.approx(
        reference_ibot(s, t, mask, (0.2 * t.reshape(-1, 4).mean(0)).tolist(), 0.04, 0.1), rel=1e-10
    )
    crit.eval()
    before = crit.center.clone()
    crit(s, t, mask)
    assert torch.equal(crit.center, before)


def test_module_warmup_and_validation():
    s, t, mask, _ = data()
    crit = IBOTPatchLoss(
        4, teacher_temperature=0.07, warmup_teacher_temperature=0.03, warmup_steps=4
    )
    crit = crit.double().eval()
    got = crit(s, t, mask, step=2)
    assert got.item() == pytest.approx(reference_ibot(s, t, mask, [0.0] * 4, 0.05, 0.1), rel=1e-10)
    with pytest.raises(ValueError, match="output_dim=3"):
        IBOTPatchLoss(3)(s, t, mask)
    with pytest.raises(ValueError, match="center_momentum"):
        IBOTPatchLoss(3, center_momentum=1.5)

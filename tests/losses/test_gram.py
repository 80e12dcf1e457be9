import pytest
import torch

from neuroembed.losses import GramLoss, gram_loss

from ._reference import normalize


def reference_gram(student, teacher, do_normalize):
    per_entry = []
    for b in range(student.shape[0]):
        s, t = student[b].tolist(), teacher[b].tolist()
        if do_normalize:
            s, t = [normalize(v) for v in s], [normalize(v) for v in t]
        for i in range(len(s)):
            for j in range(len(s)):
                gs = sum(x * y for x, y in zip(s[i], s[j]))
                gt = sum(x * y for x, y in zip(t[i], t[j]))
                per_entry.append((gs - gt) ** 2)
    return sum(per_entry) / len(per_entry)


@pytest.mark.parametrize("do_normalize", [True, False])
@pytest.mark.parametrize("teacher_dim", [4, 6])
def test_matches_loop_reference(do_normalize, teacher_dim):
    g = torch.Generator().manual_seed(teacher_dim)
    s = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    t = torch.randn(2, 5, teacher_dim, generator=g, dtype=torch.float64)
    got = gram_loss(s, t, do_normalize)
    assert got.item() == pytest.approx(reference_gram(s, t, do_normalize), rel=1e-10)


def test_closed_forms():
    x = torch.randn(3, 4, 5)
    assert gram_loss(x, 3 * x).item() == pytest.approx(0.0, abs=1e-10)
    # a rotation of the features keeps the Gram matrix
    q, _ = torch.linalg.qr(torch.randn(5, 5))
    assert gram_loss(x, x @ q).item() == pytest.approx(0.0, abs=1e-10)
    # all patches parallel vs all orthogonal (P = D): off-diagonal entries 1 vs 0
    p = 4
    parallel = torch.ones(1, p, p)
    orthogonal = torch.eye(p)[None]
    assert gram_loss(parallel, orthogonal).item() == pytest.approx((p * p - p) / (p * p))


def test_teacher_detached_and_gradcheck():
    s = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    gram_loss(s, t).backward()
    assert t.grad is None and torch.isfinite(s.grad).all()
    assert torch.autograd.gradcheck(lambda x: gram_loss(x, t), (s,))
    assert torch.autograd.gradcheck(lambda x: gram_loss(x, t, False), (s,))


@pytest.mark.parametrize(
    ("s", "t", "match"),
    [
        (torch.zeros(2, 3, 4), torch.zeros(2, 4, 4), "same batch size and number of patches"),
        (torch.zeros(2, 3, 4), torch.zeros(3, 3, 4), "same batch size and number of patches"),
        (torch.zeros(3, 4), torch.zeros(3, 4), "student_patches must have shape"),
    ],
)
def test_bad_input_raises(s, t, match):
    with pytest.raises(ValueError, match=match):
        gram_loss(s, t)


def test_module():
    s, t = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    torch.testing.assert_close(GramLoss()(s, t), gram_loss(s, t))
    torch.testing.assert_close(GramLoss(normalize=False)(s, t), gram_loss(s, t, False))
    assert "normalize=True" in repr(GramLoss())

import math
from fractions import Fraction

import pytest
import torch

from neuroembed.losses import DINOLoss, dino_cross_entropy, teacher_temperature_at

from ._reference import softmax


def reference_dino(student, teacher, center, tt, ts):
    """Loops over (teacher view, student view) pairs with different indices and over the batch."""
    total, n_terms = 0.0, 0
    for i in range(teacher.shape[0]):
        for j in range(student.shape[0]):
            if i == j:
                continue
            batch = []
            for b in range(teacher.shape[1]):
                t = [x - c for x, c in zip(teacher[i, b].tolist(), center)]
                q = softmax(t, tt)
                p = softmax(student[j, b].tolist(), ts)
                batch.append(-sum(qk * math.log(pk) for qk, pk in zip(q, p)))
            total += sum(batch) / len(batch)
            n_terms += 1
    return total / n_terms


def outputs(vs=4, vt=2, b=3, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(vs, b, k, generator=g, dtype=torch.float64),
        torch.randn(vt, b, k, generator=g, dtype=torch.float64),
        (0.3 * torch.randn(k, generator=g, dtype=torch.float64)),
    )


@pytest.mark.parametrize(("vs", "vt"), [(4, 2), (2, 2), (1, 2), (3, 1), (6, 3)])
@pytest.mark.parametrize(("tt", "ts"), [(0.04, 0.1), (1.0, 1.0)])
def test_matches_loop_reference(vs, vt, tt, ts):
    s, t, c = outputs(vs, vt)
    got = dino_cross_entropy(s, t, c, tt, ts)
    assert got.item() == pytest.approx(reference_dino(s, t, c.tolist(), tt, ts), rel=1e-10)


def test_list_of_views_and_2d_center():
    s, t, c = outputs()
    torch.testing.assert_close(
        dino_cross_entropy(list(s), list(t), c[None]), dino_cross_entropy(s, t, c)
    )
    no_center = dino_cross_entropy(s, t)
    assert no_center.item() == pytest.approx(reference_dino(s, t, [0.0] * 5, 0.04, 0.1), rel=1e-10)


def test_uniform_closed_form_and_teacher_detached():
    k = 7
    s = torch.zeros(3, 2, k, requires_grad=True)
    t = torch.randn(2, 2, k, requires_grad=True)
    # the student is uniform: the cross-entropy with any teacher distribution is log K
    loss = dino_cross_entropy(s, t)
    assert loss.item() == pytest.approx(math.log(k), rel=1e-6)
    loss.backward()
    assert t.grad is None
    assert torch.isfinite(s.grad).all()


def test_sharp_teacher_closed_form():
    # one-hot-like teacher on prototype 0 -> cross-entropy = -log softmax(student)_0
    s = torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]])
    t = torch.tensor([[[50.0, 0.0, 0.0]]])
    loss = dino_cross_entropy(s, t, teacher_temperature=0.04, student_temperature=1.0)
    # pairs: (teacher 0, student 1) only
    want = -math.log(math.exp(0) / (math.exp(1) + 2))
    assert loss.item() == pytest.approx(want, rel=1e-6)


def test_stable_at_extreme_logits():
    s, t, _ = outputs()
    s = (s * 1e4).float().requires_grad_(True)
    loss = dino_cross_entropy(s, t.float() * 1e4, None, 0.01, 0.01)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(s.grad).all()


def test_gradcheck():
    s, t, c = outputs(vs=3, vt=2, b=2, k=4)
    s.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: dino_cross_entropy(x, t, c, 0.5, 0.3), (s,))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(student_outputs=torch.zeros(3, 4, 5)), ValueError, "batch size and output dimension"),
        (dict(student_outputs=torch.zeros(3, 2, 6)), ValueError, "batch size and output dimension"),
        (dict(student_outputs=torch.zeros(2, 5)), ValueError, "student_outputs must have shape"),
        (dict(student_outputs=[]), ValueError, "empty list"),
        (dict(student_outputs=[torch.zeros(2, 5), torch.zeros(3, 5)]), ValueError, "same shape"),
        (
            dict(student_outputs=torch.zeros(1, 2, 5), teacher_outputs=torch.zeros(1, 2, 5)),
            ValueError,
            "at least one",
        ),
        (dict(center=torch.zeros(4)), ValueError, "center must have 5 entries"),
        (dict(teacher_temperature=0.0), ValueError, "teacher_temperature"),
        (dict(student_temperature=-1.0), ValueError, "student_temperature"),
    ],
)
def test_bad_input_raises(kwargs, error, match):
    args = dict(student_outputs=torch.zeros(3, 2, 5), teacher_outputs=torch.zeros(2, 2, 5))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        dino_cross_entropy(**args)


def test_teacher_temperature_schedule():
    assert teacher_temperature_at(0, 0.07, 0.04, 30) == pytest.approx(0.04)
    assert teacher_temperature_at(15, 0.07, 0.04, 30) == pytest.approx(0.055)
    assert teacher_temperature_at(30, 0.07, 0.04, 30) == pytest.approx(0.07)
    assert teacher_temperature_at(5, 0.07, None, 30) == 0.07
    assert teacher_temperature_at(5, 0.07, 0.04, 0) == 0.07


def test_teacher_temperature_schedule_is_linear_to_rounding():
    # exact linear interpolation in rationals; the temperature was rounded to 12 decimals, off by up to 1.4e-11
    for warmup, final in ((0.04, 0.07), (0.02, 0.04), (0.1, 0.03), (0.001, 0.5)):
        for warmup_steps in (1, 3, 7, 29, 30):
            for step in range(warmup_steps + 2):
                fraction = Fraction(min(step, warmup_steps), warmup_steps)
                exact = Fraction(warmup) + (Fraction(final) - Fraction(warmup)) * fraction
                value = teacher_temperature_at(step, final, warmup, warmup_steps)
                assert value == pytest.approx(float(exact), rel=1e-15, abs=0.0)


def test_module_center_ema_and_loss():
    s, t, _ = outputs()
    crit = DINOLoss(output_dim=5, center_momentum=0.9).double()
    assert torch.equal(crit.center, torch.zeros(1, 5, dtype=torch.float64))
    loss1 = crit(s, t)
    # the first loss used the zero centre, then the centre moved to 0.1 * batch mean
    assert loss1.item() == pytest.approx(reference_dino(s, t, [0.0] * 5, 0.04, 0.1), rel=1e-10)
    batch_mean = t.reshape(-1, 5).mean(0)
    torch.testing.assert_close(crit.center[0], 0.1 * batch_mean)
    loss2 = crit(s, t)
    assert loss2.item() == pytest.approx(
        reference_dino(s, t, (0.1 * batch_mean).tolist(), 0.04, 0.1), rel=1e-10
    )
    torch.testing.assert_close(crit.center[0], 0.9 * 0.1 * batch_mean + 0.1 * batch_mean)
    assert int(crit.num_updates) == 2
    assert not crit.center.requires_grad
    assert "center" in crit.state_dict()


def test_module_eval_mode_keeps_center():
    s, t, _ = outputs()
    crit = DINOLoss(output_dim=5).double().eval()
    crit(s, t)
    assert torch.equal(crit.center, torch.zeros(1, 5, dtype=torch.float64))


def test_module_warmup():
    s, t, _ = outputs()
    crit = DINOLoss(5, teacher_temperature=0.07, warmup_teacher_temperature=0.04, warmup_steps=10)
    crit = crit.double().eval()  # keep the centre at zero
    assert crit.current_teacher_temperature(5) == pytest.approx(0.055)
    got = crit(s, t, step=5)
    assert got.item() == pytest.approx(reference_dino(s, t, [0.0] * 5, 0.055, 0.1), rel=1e-10)
    crit.train()
    crit(s, t)  # step None: the number of updates so far (0) -> warm-up start
    assert crit.current_teacher_temperature() == pytest.approx(0.043)
    with pytest.raises(ValueError, match="step"):
        crit(s, t, step=-1)
    with pytest.raises(TypeError, match="step"):
        crit(s, t, step=1.5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(output_dim=0), "output_dim"),
        (dict(teacher_temperature=0.0), "teacher_temperature"),
        (dict(student_temperature=-0.1), "student_temperature"),
        (dict(center_momentum=1.0), "center_momentum"),
        (dict(center_momentum=-0.1), "center_momentum"),
        (dict(warmup_teacher_temperature=0.0), "warmup_teacher_temperature"),
        (dict(warmup_steps=-1), "warmup_steps"),
    ],
)
def test_module_validates(kwargs, match):
    args = dict(output_dim=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        DINOLoss(**args)


def test_module_output_dim_mismatch():
    with pytest.raises(ValueError, match="output_dim=4"):
        DINOLoss(4)(torch.zeros(2, 2, 5), torch.zeros(2, 2, 5))

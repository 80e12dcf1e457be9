"""DINO: multi-crop self-distillation from an EMA teacher; the loss falls on digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroembed.ssl import DINO, Augment, MultiCrop
from neuroembed.ssl._base import TrainBatch

CROPS = MultiCrop(
    n_local=2,
    global_scale=(0.5, 1.0),
    local_size=6,
    local_scale=(0.25, 0.5),
    view=Augment(crop_scale=(0.5, 1.0), flip_p=0.0),
)


def test_dino_trains_and_loss_falls(digits, small_cnn, loss_falls):
    X, _ = digits
    model = DINO(
        backbone=small_cnn,
        output_dimension=32,
        head_dimension=64,
        teacher_temperature=0.02,
        warmup_teacher_temperature=0.02,
        augmentation=CROPS,
        learning_rate=1e-3,
        batch_size=64,
        max_iterations=100,
        random_state=0,
    ).fit(X)
    h = model.loss_history_
    assert np.isfinite(h).all()
    assert loss_falls(h, margin=0.3)
    assert h[-10:].mean() < np.log(64) - 0.4  # not the collapsed (uniform) solution
    assert model.transform(X).shape == (len(X), 32)


def test_dino_student_sees_all_views_teacher_only_globals(digits, small_cnn):
    X, _ = digits
    model = DINO(
        backbone=small_cnn,
        output_dimension=32,
        head_dimension=16,
        augmentation=CROPS,
        batch_size=8,
        max_iterations=1,
        random_state=0,
    ).fit(X[:16])
    method = model.module_.train()
    seen = {"student": [], "teacher": []}
    method.student.register_forward_hook(lambda m, i, o: seen["student"].append(tuple(i[0].shape)))
    method.teacher.register_forward_hook(lambda m, i, o: seen["teacher"].append(tuple(i[0].shape)))
    x = torch.from_numpy(X[:8])
    center = method.criterion.center.clone()
    method.loss(
        TrainBatch(x, None, torch.arange(8), x, None, 1, 0.1, torch.Generator().manual_seed(0))
    )
    assert seen["student"] == [(16, 1, 8, 8), (16, 1, 6, 6)]  # 2 global, 2 local views of 8 images
    assert seen["teacher"] == [(16, 1, 8, 8)]
    assert not torch.equal(method.criterion.center, center)  # the centre moved


def test_dino_teacher_is_an_ema_of_the_student(digits, small_cnn):
    X, _ = digits
    model = DINO(
        backbone=small_cnn,
        output_dimension=32,
        head_dimension=16,
        augmentation=CROPS,
        base_momentum=0.5,
        final_momentum=0.5,
        batch_size=8,
        max_iterations=3,
        random_state=0,
    ).fit(X[:16])
    method = model.module_
    teacher = [p.clone() for p in method.teacher.parameters()]
    student = [p.clone() for p in method.student.parameters()]
    method.after_step(3, 0.5)
    for t0, s0, t1 in zip(teacher, student, method.teacher.parameters()):
        assert torch.allclose(t1, 0.5 * t0 + 0.5 * s0, atol=1e-6)
    # batch-norm running statistics are averaged too
    t_bn = dict(method.teacher.named_buffers())
    s_bn = dict(method.student.named_buffers())
    name = next(n for n in t_bn if n.endswith("running_mean"))
    before = t_bn[name].clone()
    method.after_step(4, 0.5)
    assert torch.allclose(t_bn[name], 0.5 * before + 0.5 * s_bn[name], atol=1e-6)


def test_dino_validation(digits):
    X, _ = digits
    with pytest.raises(TypeError, match="augmentation must be a neuroembed.ssl.MultiCrop"):
        DINO(augmentation=Augment(), max_iterations=1).fit(X[:8])
    with pytest.raises(ValueError, match="warmup_fraction"):
        DINO(warmup_fraction=2.0, max_iterations=1).fit(X[:8])
    with pytest.raises(TypeError, match="head_batch_norm must be True or False"):
        DINO(head_batch_norm="yes", max_iterations=1).fit(X[:8])

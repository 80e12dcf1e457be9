"""The held-out loss of early stopping (fixed, seeded batches; self-pairs left out) and the best-weights bookkeeping."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from neuroembed._early_stopping import (
    EarlyStopping,
    _distinct_pairs,
    n_held_out,
)
from neuroembed.estimator import Estimator
from neuroembed.sampling import IndexBatch


def _run(conditional="time", y=None, n=300, **params):
    X = np.random.default_rng(0).poisson(1.5, (n, 7)).astype(np.float32)
    est = Estimator(
        model="offset5",
        conditional=conditional,
        batch_size=16,
        time_offset=2,
        early_stopping=True,
        validation_fraction=0.2,
        device="cpu",
        random_state=0,
        **params,
    )
    est._check_params()
    return est._prepare(X, y)


@pytest.mark.parametrize(
    "n,fraction,expected", [(1000, 0.1, 100), (1001, 0.1, 101), (10, 0.25, 3), (7, 0.5, 4)]
)
def test_n_held_out_rounds_up(n, fraction, expected):
    assert n_held_out(n, fraction) == expected


def test_distinct_pairs_leaves_out_positives_that_are_their_reference():
    t = torch.tensor
    # one session: the second pair is the reference itself
    batch = IndexBatch([t([3, 4, 5])], [t([6, 4, 7])], [t([1])])
    assert _distinct_pairs(batch).tolist() == [0, 2]
    assert _distinct_pairs(IndexBatch([t([3, 4])], [t([6, 5])], [t([1])])) is None
    # two sessions with the positives dealt out by positive_order: sample 4 of session 1 is not sample 4 of session 0
    batch = IndexBatch(
        [t([4, 5]), t([4, 8])], [t([4, 9]), t([5, 4])], [t([1]), t([1])], t([2, 3, 0, 1])
    )
    # aligned positives: (s1, 5), (s1, 4), (s0, 4), (s0, 9) for references (s0, 4), (s0, 5), (s1, 4), (s1, 8)
    assert _distinct_pairs(batch) is None
    batch = IndexBatch(
        [t([4, 5]), t([4, 8])], [t([4, 9]), t([5, 4])], [t([1]), t([1])], t([0, 2, 3, 1])
    )
    # aligned: (s0, 4), (s1, 5), (s1, 4), (s0, 9): the first and third are their references
    assert _distinct_pairs(batch).tolist() == [1, 3]


def test_held_out_loss_is_seeded_fixed_and_leaves_the_model_as_it_was():
    run = _run()
    held_out = run.held_out_loss
    assert len(held_out.batches) == 4
    first = held_out()
    assert np.isfinite(first) and held_out() == first  # the same batches every time
    again = _run().held_out_loss
    for a, b in zip(held_out.batches, again.batches):
        assert all(
            torch.equal(x, y) for x, y in zip(a.reference + a.negative, b.reference + b.negative)
        )
    assert again() == first
    # only the held-out block is sampled: its own 60 samples (20 % of 300), windows inside it
    sessions = held_out.solver.sampler.sessions
    assert [s.n_samples for s in sessions] == [60]
    for batch in held_out.batches:
        for idx in batch.reference + batch.positive + batch.negative:
            assert int(idx.min()) >= sessions[0].lo and int(idx.max()) < sessions[0].hi
    # no gradients, and the train/eval modes are put back
    run.encoder.train()
    held_out()
    assert run.encoder.training and all(p.grad is None for p in run.encoder.parameters())
    # another seed draws other batches
    held_out.draw(held_out.seed + 1)
    assert held_out() != first


def test_held_out_loss_with_single_sample_labels_leaves_those_pairs_out():
    # the block is samples 240..299: class 0, then classes 1..30 once each (all of them also before the block);
    # class 99 is missing from the block
    labels = np.r_[np.arange(238) % 31, [99, 99], np.zeros(30, int), np.arange(1, 31)]
    assert labels.shape == (300,) and 99 not in labels[240:]
    held_out = _run("discrete", labels).held_out_loss
    left_out = 0
    for batch, rows in zip(held_out.batches, held_out.rows):
        ref, pos = batch.reference[0], batch.positive[0]
        kept = torch.arange(ref.numel()) if rows is None else rows
        assert bool((ref[kept] != pos[kept]).all())
        left_out += ref.numel() - kept.numel()
        assert int((ref == pos).sum()) == ref.numel() - kept.numel()
    assert left_out > 0 and np.isfinite(held_out())


def test_held_out_loss_refuses_a_block_of_unique_labels():
    labels = np.r_[
        np.arange(240) % 60 + 100, np.arange(60) + 100
    ]  # each label once in the block, 4 times before
    with pytest.raises(
        ValueError, match="every positive drawn in the validation block is its own reference"
    ):
        _run("discrete", labels)


def test_early_stopping_keeps_the_best_weights_and_counts_evaluations():
    layer = nn.Linear(2, 1)
    values = iter([1.0, 2.0, 2.05, 1.5, float("nan"), 0.0])
    weights = []

    def score():
        with torch.no_grad():
            layer.weight.add_(1.0)  # the weights change before every evaluation
        weights.append(layer.weight.detach().clone())
        return next(values)

    stop = EarlyStopping(score, [layer], n_iter_no_change=3, tol=0.1)
    assert [stop.update(i) for i in (10, 20, 30, 40, 50)] == [False, False, False, False, True]
    # 2.05 beats 2.0 by less than tol: no improvement for the count, but it is the best score and its weights
    assert stop.best_score == 2.05 and stop.best_iteration == 30 and stop.no_improvement == 3
    assert stop.iterations == [10, 20, 30, 40, 50] and math.isnan(stop.scores[-1])
    stop.restore_best()
    torch.testing.assert_close(layer.weight, weights[2])

    # the state goes through a checkpoint and back
    state = stop.state_dict()
    other = EarlyStopping(score, [layer], n_iter_no_change=3, tol=0.1)
    other.load_state_dict(state)
    assert (other.best_score, other.best_iteration, other.no_improvement) == (2.05, 30, 3)
    assert other.iterations == stop.iterations and other.scores[:4] == stop.scores[:4]
    with torch.no_grad():
        layer.weight.zero_()
    other.restore_best()
    torch.testing.assert_close(layer.weight, weights[2])
    with pytest.raises(ValueError, match="weights of 1 modules; expected 2"):
        EarlyStopping(score, [layer, nn.Linear(1, 1)], n_iter_no_change=1, tol=0).load_state_dict(
            state
        )


def test_nothing_scored_restores_nothing():
    layer = nn.Linear(1, 1)
    before = layer.weight.detach().clone()
    stop = EarlyStopping(lambda: 0.0, [layer], n_iter_no_change=1, tol=0.0)
    stop.restore_best()
    assert torch.equal(layer.weight, before) and stop.best_iteration is None
    assert stop.state_dict()["best_iteration"] == -1


def test_a_first_nan_score_does_not_block_every_later_improvement():
    layer = nn.Linear(1, 1)
    values = iter([float("nan"), 1.0, 2.0, 2.0, 2.0])
    weights = []

    def score():
        with torch.no_grad():
            layer.weight.add_(1.0)
        weights.append(layer.weight.detach().clone())
        return next(values)

    stop = EarlyStopping(score, [layer], n_iter_no_change=2, tol=0.0)
    assert [stop.update(i) for i in (10, 20, 30, 40, 50)] == [False, False, False, False, True]
    assert stop.best_score == 2.0 and stop.best_iteration == 30
    stop.restore_best()
    torch.testing.assert_close(layer.weight, weights[2])

"""Several objectives on one embedding: parsing ``objectives`` and drawing one set of positives per part."""

import numpy as np
import pytest
import torch

from neuroembed.sampling import (
    ContrastiveSampler,
    Objective,
    ObjectiveSampler,
    SessionData,
    part_slices,
)
from neuroembed.sampling.objectives import check_columns, check_objectives

LEFT, RIGHT = 5, 5


def _session(n=1200, seed=0, valid=None):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    # column 0 a slow sine, column 1 a fast one: positives that follow one column differ from those of the other
    beh = np.stack([np.sin(t / 80), np.sin(t / 7)], 1) + 0.01 * rng.standard_normal((n, 2))
    labels = torch.from_numpy((t // 50) % 4)
    return SessionData(
        n,
        LEFT,
        RIGHT,
        torch.from_numpy(beh.astype(np.float32)),
        labels,
        valid=None if valid is None else torch.from_numpy(valid),
    )


def _sampler(sessions, objectives, seed=0, **kw):
    kw.setdefault("batch_size", 256)
    kw.setdefault("num_negatives", 256)
    kw.setdefault("time_offset", 10)
    return ObjectiveSampler(
        sessions, check_objectives(objectives), generator=torch.Generator().manual_seed(seed), **kw
    )


# ---------------------------------------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------------------------------------
def test_spellings_and_names():
    parts = check_objectives(
        [
            ("time_delta", 3, [0, 1]),
            ["time", 2],
            {"conditional": "delta", "dims": 1, "columns": 1, "name": "pos"},
        ]
    )
    assert parts == [
        Objective("time_delta", "time_delta", 3, (0, 1)),
        Objective("time", "time", 2, None),
        Objective("pos", "delta", 1, (1,)),
    ]
    assert [o.name for o in check_objectives([("time", 1), ("delta", 1), ("time", 1)])] == [
        "time_0",
        "delta",
        "time_1",
    ]
    assert check_objectives(None) is None
    assert part_slices(parts) == [slice(0, 3), slice(3, 5), slice(5, 6)]


@pytest.mark.parametrize(
    "objectives, error, match",
    [
        ("time", TypeError, "list of parts"),
        ({"conditional": "time", "dims": 2}, TypeError, "list of parts"),
        ([], ValueError, "empty"),
        ([("time",)], TypeError, "is not a part"),
        ([("time", 2, None, 4)], TypeError, "is not a part"),
        ([("auto", 2)], ValueError, "'auto' is not allowed"),
        ([("position", 2)], ValueError, "not one of"),
        ([("time", 0)], ValueError, "dims must be a positive integer"),
        ([("time", True)], ValueError, "dims must be a positive integer"),
        ([("time", 2.0)], ValueError, "dims must be a positive integer"),
        ([("time", 2, [0])], ValueError, "takes no columns"),
        ([("discrete", 2, 0)], ValueError, "takes no columns"),
        ([("delta", 2, [0, 0])], ValueError, "distinct non-negative"),
        ([("delta", 2, [-1])], ValueError, "distinct non-negative"),
        ([("delta", 2, [])], ValueError, "distinct non-negative"),
        ([("delta", 2, "x")], TypeError, "columns must be an int or a list"),
        ([("delta", 2, [0.5])], TypeError, "columns must be an int or a list"),
        ([{"conditional": "time"}], ValueError, "needs the keys"),
        ([{"conditional": "time", "dims": 1, "colour": 1}], ValueError, "unknown keys"),
        ([{"conditional": "time", "dims": 1, "name": ""}], TypeError, "non-empty string"),
        (
            [{"conditional": "time", "dims": 1, "scope": "rest"}],
            ValueError,
            "'scope' must be 'part'",
        ),
        (
            [
                {"conditional": "time", "dims": 1, "name": "a"},
                {"conditional": "delta", "dims": 1, "name": "a"},
            ],
            ValueError,
            "repeated names",
        ),
    ],
)
def test_bad_objectives_say_what_is_wrong(objectives, error, match):
    with pytest.raises(error, match=match):
        check_objectives(objectives)


def test_scope():
    parts = check_objectives(
        [("time_delta", 2), {"conditional": "time", "dims": 3, "scope": "all"}]
    )
    assert [o.scope for o in parts] == ["part", "all"]
    sampler = _sampler(
        [_session()], [("time_delta", 2), {"conditional": "time", "dims": 3, "scope": "all"}]
    )
    assert sampler.slices == [slice(0, 2), slice(2, 5)]
    assert sampler.loss_slices == [slice(0, 2), slice(None)]


def test_columns_must_exist():
    parts = check_objectives([("delta", 2, [0, 3])])
    with pytest.raises(ValueError, match=r"columns \[0, 3\].*2 column"):
        check_columns(parts, 2)
    check_columns(parts, 4)


# ---------------------------------------------------------------------------------------------------------------------
# drawing
# ---------------------------------------------------------------------------------------------------------------------
def test_one_objective_draws_exactly_what_its_sampler_draws():
    s = _session()
    for cond in ("time", "time_delta", "discrete"):
        plain = ContrastiveSampler(
            [s],
            cond,
            batch_size=64,
            num_negatives=64,
            time_offset=10,
            generator=torch.Generator().manual_seed(3),
        ).sample()
        mine = _sampler([s], [(cond, 4)], seed=3, batch_size=64, num_negatives=64).sample()
        for a, b in zip(
            plain.reference + plain.positive + plain.negative,
            mine.reference + mine.positive + mine.negative,
        ):
            assert torch.equal(a, b)
        assert mine.more_positives == []


def test_each_part_draws_its_own_positives_for_shared_references():
    s = _session()
    sampler = _sampler(
        [s], [("time", 2), ("time_delta", 2, [0]), ("delta", 2, 1), ("discrete", 2)], delta=0.05
    )
    assert sampler.slices == [slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8)]
    batch = sampler.sample()
    ref = batch.reference[0]
    assert len(batch.more_positives) == 3
    # the first part: time positives, so references are those with a positive 10 samples later
    assert torch.equal(batch.positive[0], ref + 10)
    assert int(ref.max()) + 10 < s.hi and int(ref.min()) >= s.lo
    beh = s.behaviour
    slow_pos = batch.more_positives[0][0][0]
    fast_pos = batch.more_positives[1][0][0]
    label_pos = batch.more_positives[2][0][0]
    # the slow column's part: positives near in column 0 (plus a 10-sample change), not in column 1
    gap = lambda p, c: float((beh[p, c] - beh[ref, c]).abs().mean())  # noqa: E731
    assert gap(slow_pos, 0) < 0.2 < gap(slow_pos, 1)
    # the fast column's part: near in column 1 (delta noise 0.05), not in column 0
    assert gap(fast_pos, 1) < 0.1 < gap(fast_pos, 0)
    assert torch.equal(s.labels[label_pos], s.labels[ref])
    assert (label_pos != ref).all()
    for p in (slow_pos, fast_pos, label_pos):
        assert int(p.min()) >= s.lo and int(p.max()) < s.hi


def test_without_a_time_part_references_come_from_the_first():
    s = _session()
    batch = _sampler([s], [("time_delta", 2), ("discrete", 2)], seed=1).sample()
    # any window centre (a time anchor would leave out the last time_offset centres)
    refs = torch.cat(
        [
            _sampler([s], [("time_delta", 2), ("discrete", 2)], seed=k).sample().reference[0]
            for k in range(20)
        ]
    )
    assert int(refs.max()) >= s.hi - 10
    assert batch.negative[0].shape == (256,)


def test_masked_samples_are_never_drawn_by_any_part():
    n = 1500
    valid = np.ones(n, dtype=bool)
    for start in (100, 400, 900, 1300):
        valid[start : start + 37] = False
    s = _session(n, valid=valid)
    sampler = _sampler([s], [("time", 2), ("time_delta", 2, 0), ("discrete", 2), ("mixed", 2, [1])])
    for _ in range(20):
        b = sampler.sample()
        drawn = [*b.reference, *b.positive, *b.negative]
        for positives, _ in b.more_positives:
            drawn += positives
        drawn = torch.cat(drawn).numpy()
        assert valid[drawn].all()


def test_several_sessions_line_up_every_part():
    sessions = [_session(900, seed=0), _session(1100, seed=1)]
    sampler = _sampler(
        sessions, [("time_delta", 2, [0]), ("time", 2), ("mixed", 2, [1])], batch_size=128
    )
    b = sampler.sample()
    n_ref = sum(r.numel() for r in b.reference)
    assert n_ref == 256
    # behaviour parts of several sessions find positives in any session: each has an order that lines them up
    for positives, _order in [(b.positive, b.positive_order), *b.more_positives]:
        assert sum(p.numel() for p in positives) == n_ref
    assert b.positive_order is not None
    assert b.more_positives[0][1] is None  # time: same session, already aligned
    assert b.more_positives[1][1] is not None
    # the behaviour positives, lined up, lie near their references' behaviour in column 0
    ref_beh = torch.cat([s.behaviour[r, 0] for s, r in zip(sessions, b.reference)])
    pos_beh = torch.cat([s.behaviour[p, 0] for s, p in zip(sessions, b.positive)])[b.positive_order]
    assert float((ref_beh - pos_beh).abs().mean()) < 0.2
    # mixed: same label as the reference, wherever it was found
    ref_lab = torch.cat([s.labels[r] for s, r in zip(sessions, b.reference)])
    positives, order = b.more_positives[1]
    pos_lab = torch.cat([s.labels[p] for s, p in zip(sessions, positives)])[order]
    assert torch.equal(ref_lab, pos_lab)


def test_objective_sampler_needs_an_objective():
    with pytest.raises(ValueError, match="at least one objective"):
        ObjectiveSampler(
            [_session()],
            [],
            batch_size=8,
            num_negatives=8,
            time_offset=1,
            generator=torch.Generator(),
        )

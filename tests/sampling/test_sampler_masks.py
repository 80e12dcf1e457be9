"""Samples that must not be drawn (``SessionData.valid``) and segments (``SessionData.segment``).

A masked sample is never a reference, a positive (time or behaviour) or a negative; the behaviour index holds only
the drawable samples; time positives stay in their reference's segment; and data with nothing masked is drawn
exactly as before (the same generator draws, bitwise).
"""

import numpy as np
import pytest
import torch

from neuroembed.sampling import ContrastiveSampler, SessionData

LEFT, RIGHT = 5, 5


def _behaviour(n, dims=2, seed=0):
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    beh = np.stack([np.sin(t / (20 + 7 * d)) for d in range(dims)], 1)
    return torch.from_numpy((beh + 0.01 * rng.standard_normal(beh.shape)).astype(np.float32))


def _missing(n, seed=0, runs=8, longest=40):
    """A mask with ``runs`` stretches of missing samples (lost tracking)."""
    rng = np.random.default_rng(seed)
    valid = np.ones(n, dtype=bool)
    for start in rng.integers(0, n - longest, runs):
        valid[start : start + rng.integers(5, longest)] = False
    return valid


def _sampler(sessions, conditional, seed=0, **kw):
    kw.setdefault("batch_size", 256)
    kw.setdefault("num_negatives", 256)
    kw.setdefault("time_offset", 10)
    return ContrastiveSampler(
        sessions, conditional, generator=torch.Generator().manual_seed(seed), **kw
    )


def _every_index(batch):
    parts = batch.reference + batch.positive + batch.negative
    return torch.cat(parts + (batch.time_positive or []))


@pytest.mark.parametrize("conditional", ["delta", "time_delta", "mixed"])
@pytest.mark.parametrize("hybrid", [False, True])
def test_masked_samples_are_never_drawn(conditional, hybrid):
    n = 1500
    valid = _missing(n)
    labels = torch.from_numpy((np.arange(n) // 100) % 3) if conditional == "mixed" else None
    s = SessionData(n, LEFT, RIGHT, _behaviour(n), labels, valid=torch.from_numpy(valid))
    sampler = _sampler([s], conditional, hybrid=hybrid)
    assert sampler._index[0].n_points == int(valid[s.lo : s.hi].sum())
    drawn = torch.cat([_every_index(sampler.sample()) for _ in range(30)]).numpy()
    assert valid[drawn].all()
    assert drawn.min() >= s.lo and drawn.max() < s.hi


def test_behaviour_positive_is_the_nearest_drawable_sample():
    n = 800
    valid = _missing(n, seed=1)
    beh = _behaviour(n)
    s = SessionData(n, LEFT, RIGHT, beh, valid=torch.from_numpy(valid))
    sampler = _sampler([s], "delta", delta=0.05, seed=2)
    state = sampler.generator.get_state()
    b = sampler.sample()
    sampler.generator.set_state(state)
    ref = sampler._centres(0, 256)
    sampler._centres(0, 256)  # the negatives
    targets = sampler._behaviour_targets(0, ref).numpy()
    assert torch.equal(ref, b.reference[0])
    # brute force over the drawable centres, the reference excluded
    centres = np.arange(s.lo, s.hi)[valid[s.lo : s.hi]]
    d = ((targets[:, None, :] - beh.numpy()[centres][None]) ** 2).sum(-1)
    d[centres[None, :] == ref.numpy()[:, None]] = np.inf
    np.testing.assert_array_equal(b.positive[0].numpy(), centres[d.argmin(1)])


def test_behaviour_changes_come_from_drawable_pairs_only():
    n = 600
    valid = _missing(n, seed=3)
    beh = _behaviour(n).clone()
    beh[~torch.from_numpy(valid)] = float("nan")  # a NaN in a change would poison every target
    s = SessionData(n, LEFT, RIGHT, torch.nan_to_num(beh, nan=1e6), valid=torch.from_numpy(valid))
    sampler = _sampler([s], "time_delta")
    deltas = sampler._deltas[0]
    pairs = valid[s.lo + 10 : s.hi] & valid[s.lo : s.hi - 10]
    assert deltas.shape[0] == int(pairs.sum())
    assert float(deltas.abs().max()) < 10.0


@pytest.mark.parametrize("conditional", ["time", "discrete"])
def test_time_and_discrete_respect_the_mask(conditional):
    n = 1000
    valid = _missing(n, seed=4)
    labels = torch.from_numpy((np.arange(n) // 60) % 4)
    s = SessionData(n, LEFT, RIGHT, None, labels, valid=torch.from_numpy(valid))
    sampler = _sampler([s], conditional)
    for _ in range(20):
        b = sampler.sample()
        drawn = _every_index(b).numpy()
        assert valid[drawn].all()
        if conditional == "time":
            assert torch.equal(b.positive[0], b.reference[0] + 10)
        else:
            assert torch.equal(labels[b.positive[0]], labels[b.reference[0]])


def test_time_positives_stay_in_their_segment():
    n = 900
    segment = np.repeat([0, 1, 2], [300, 250, 350])
    # windows across a boundary are not drawable (the estimator marks them so)
    valid = np.ones(n, dtype=bool)
    centres = np.arange(LEFT, n - RIGHT + 1)
    valid[:] = False
    valid[centres] = segment[centres - LEFT] == segment[centres + RIGHT - 1]
    s = SessionData(
        n,
        LEFT,
        RIGHT,
        _behaviour(n),
        valid=torch.from_numpy(valid),
        segment=torch.from_numpy(segment),
    )
    for conditional, hybrid in (("time", False), ("time_delta", True)):
        sampler = _sampler([s], conditional, hybrid=hybrid, time_offset=30)
        for _ in range(20):
            b = sampler.sample()
            ref = b.reference[0].numpy()
            pos = (b.positive[0] if conditional == "time" else b.time_positive[0]).numpy()
            np.testing.assert_array_equal(pos, ref + 30)
            np.testing.assert_array_equal(segment[ref], segment[pos])
            assert valid[_every_index(b).numpy()].all()


@pytest.mark.parametrize("conditional", ["time", "time_delta", "delta", "discrete"])
def test_nothing_masked_draws_as_before(conditional):
    n = 500
    labels = torch.from_numpy((np.arange(n) // 50) % 3)
    plain = SessionData(n, LEFT, RIGHT, _behaviour(n), labels)
    masked = SessionData(
        n, LEFT, RIGHT, _behaviour(n), labels, valid=torch.ones(n, dtype=torch.bool)
    )
    a, b = _sampler([plain], conditional, seed=7), _sampler([masked], conditional, seed=7)
    for _ in range(3):
        x, y = a.sample(), b.sample()
        for u, v in zip(_every_index(x), _every_index(y)):
            assert torch.equal(u, v)


def test_several_sessions_draw_only_drawable_samples():
    sessions, masks = [], []
    for i, n in enumerate((700, 500)):
        valid = _missing(n, seed=10 + i)
        masks.append(valid)
        sessions.append(
            SessionData(n, LEFT, RIGHT, _behaviour(n, seed=i), valid=torch.from_numpy(valid))
        )
    sampler = _sampler(sessions, "time_delta")
    for _ in range(10):
        b = sampler.sample()
        for i, valid in enumerate(masks):
            for idx in (b.reference[i], b.positive[i], b.negative[i]):
                assert valid[idx.numpy()].all()


def test_a_session_with_nothing_drawable_is_refused():
    n = 200
    s = SessionData(n, LEFT, RIGHT, _behaviour(n), valid=torch.zeros(n, dtype=torch.bool))
    with pytest.raises(ValueError, match="no window centre that may be drawn"):
        _sampler([s], "time_delta")


def test_no_time_positive_inside_short_segments_is_refused():
    n = 300
    valid = np.zeros(n, dtype=bool)
    valid[20:26] = True  # six samples: no reference has a positive 10 later
    s = SessionData(n, LEFT, RIGHT, None, valid=torch.from_numpy(valid))
    with pytest.raises(ValueError, match="time positive time_offset=10"):
        _sampler([s], "time")

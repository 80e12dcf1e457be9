import numpy as np
import pytest
import torch

from neuroembed.sampling import ContrastiveSampler, SessionData


def _session(n=400, left=5, right=5, dims=1, labels=False, seed=0):
    t = np.arange(n)
    beh = np.stack([np.sin(t / (20 + 7 * d)) for d in range(dims)], 1).astype(np.float32)
    lab = torch.from_numpy((t // 50) % 3) if labels else None
    return SessionData(n, left, right, torch.from_numpy(beh), lab)


def _sampler(sessions, conditional, seed=0, **kw):
    kw.setdefault("batch_size", 64)
    kw.setdefault("num_negatives", 64)
    kw.setdefault("time_offset", 10)
    return ContrastiveSampler(
        sessions, conditional, generator=torch.Generator().manual_seed(seed), **kw
    )


def test_time_offset_exact_and_windows_fit():
    s = _session()
    b = _sampler([s], "time").sample()
    ref, pos, neg = b.reference[0], b.positive[0], b.negative[0]
    assert torch.equal(pos, ref + 10)
    for idx in (ref, pos, neg):
        assert idx.min() >= s.lo and idx.max() < s.hi


@pytest.mark.parametrize("conditional", ["delta", "time_delta"])
@pytest.mark.parametrize("dims", [1, 2])
def test_behaviour_positives_nearer_than_random(conditional, dims):
    s = _session(dims=dims)
    sampler = _sampler([s], conditional, batch_size=256, num_negatives=256)
    b = sampler.sample()
    y = s.behaviour
    d_pos = (y[b.positive[0]] - y[b.reference[0]]).norm(dim=1).mean()
    d_neg = (y[b.negative[0]] - y[b.reference[0]]).norm(dim=1).mean()
    assert d_pos < 0.5 * d_neg
    assert (b.positive[0] != b.reference[0]).all()
    assert b.positive[0].min() >= s.lo and b.positive[0].max() < s.hi


def test_time_delta_positive_is_exact_nearest_to_target():
    s = _session(dims=2)
    sampler = _sampler([s], "time_delta", seed=3)
    g_state = sampler.generator.get_state()
    b = sampler.sample()
    # replay the draws to reconstruct the targets
    sampler.generator.set_state(g_state)
    ref = sampler._uniform(s.lo, s.hi, 64)
    sampler._uniform(s.lo, s.hi, 64)  # negatives
    targets = sampler._behaviour_targets(0, ref)
    assert torch.equal(ref, b.reference[0])
    valid = s.behaviour[s.lo : s.hi]
    d_all = ((targets[:, None] - valid[None]) ** 2).sum(-1)
    d_all[torch.arange(64), ref - s.lo] = float("inf")
    d_got = ((targets - s.behaviour[b.positive[0]]) ** 2).sum(-1)
    torch.testing.assert_close(d_got, d_all.min(1).values)


def test_discrete_same_label_not_self():
    s = _session(labels=True)
    b = _sampler([s], "discrete").sample()
    assert (s.labels[b.positive[0]] == s.labels[b.reference[0]]).all()
    assert (b.positive[0] != b.reference[0]).all()


def test_mixed_same_label_and_near():
    s = _session(labels=True)
    b = _sampler([s], "mixed", batch_size=256).sample()
    ref, pos = b.reference[0], b.positive[0]
    assert (s.labels[pos] == s.labels[ref]).all()
    assert (pos != ref).all()


def test_negatives_cover_the_valid_range_uniformly():
    s = _session(n=120, left=0, right=1)
    sampler = _sampler([s], "time", batch_size=8, num_negatives=60000)
    neg = sampler.sample().negative[0].numpy()
    counts = np.bincount(neg, minlength=120)
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()


def test_seeded_and_reproducible():
    s = _session()
    a = _sampler([s], "time_delta", seed=7).sample()
    b = _sampler([s], "time_delta", seed=7).sample()
    c = _sampler([s], "time_delta", seed=8).sample()
    assert torch.equal(a.positive[0], b.positive[0]) and torch.equal(a.negative[0], b.negative[0])
    assert not torch.equal(a.reference[0], c.reference[0])


def test_multisession_positives_align_with_their_references():
    sessions = [_session(n=300, seed=0), _session(n=500, seed=1), _session(n=350, seed=2)]
    sampler = _sampler(sessions, "time_delta", batch_size=32, num_negatives=30)
    b = sampler.sample()
    assert [len(n) for n in b.negative] == [10, 10, 10]
    order = b.positive_order
    assert sorted(order.tolist()) == list(range(96))
    # the positive aligned with each reference has behaviour close to it, wherever it came from
    ref_y = torch.cat([s.behaviour[r] for s, r in zip(sessions, b.reference)])
    pos_y = torch.cat([s.behaviour[p] for s, p in zip(sessions, b.positive)])[order]
    rand_y = torch.cat([s.behaviour[n] for s, n in zip(sessions, b.negative)])
    assert (pos_y - ref_y).abs().mean() < 0.5 * (rand_y[:, None] - ref_y[None]).abs().mean()
    # some positives come from another session than their reference
    ref_session = torch.arange(3).repeat_interleave(32)
    pos_session = torch.arange(3).repeat_interleave(32)[order]
    assert (ref_session != pos_session).any()


def test_hybrid_adds_time_positives():
    s = _session()
    b = _sampler([s], "time_delta", hybrid=True).sample()
    assert b.time_positive is not None
    assert (b.time_positive[0] <= b.reference[0] + 10).all()


def test_unknown_conditional():
    with pytest.raises(ValueError, match="choose one of"):
        _sampler([_session()], "nope")


@pytest.mark.parametrize("conditional", ["time", "time_delta"])
def test_time_offset_longer_than_the_recording_is_clipped(conditional):
    s = _session(n=16)  # window centres 5..11: 7 of them, the longest gap 6
    b = _sampler([s], conditional, batch_size=256, num_negatives=8, time_offset=10).sample()
    ref, pos = b.reference[0], b.positive[0]
    assert ref.min() >= s.lo and pos.max() < s.hi
    if conditional == "time":
        assert torch.equal(pos, ref + 6)


@pytest.mark.parametrize("conditional", ["time", "time_delta", "delta"])
def test_a_single_window_is_its_own_positive(conditional):
    s = _session(n=10)  # one window centre, at 5
    b = _sampler([s], conditional, batch_size=4, num_negatives=4).sample()
    for idx in (b.reference[0], b.positive[0], b.negative[0]):
        assert idx.tolist() == [5] * 4

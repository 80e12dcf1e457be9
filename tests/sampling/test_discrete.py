import numpy as np
import torch

from neuroembed.sampling import SameLabelSampler


def test_same_label_never_self_and_uniform():
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 2, 0])
    sampler = SameLabelSampler(labels)
    g = torch.Generator().manual_seed(0)
    ref = torch.full((20000,), 0)  # sample 0 has label 0; others with label 0: 2, 5, 7
    pos = sampler.sample(ref, g)
    assert (labels[pos] == 0).all() and (pos != 0).all()
    counts = np.bincount(pos.numpy(), minlength=8)[[2, 5, 7]]
    np.testing.assert_allclose(counts / counts.sum(), [1 / 3] * 3, atol=0.02)


def test_every_reference_gets_a_same_label_other_sample():
    rng = np.random.default_rng(0)
    labels = torch.from_numpy(rng.integers(0, 5, 500))
    sampler = SameLabelSampler(labels)
    ref = torch.arange(500)
    pos = sampler.sample(ref, torch.Generator().manual_seed(1))
    assert (labels[pos] == labels[ref]).all()
    assert (pos != ref).all()


def test_two_member_class_returns_the_other():
    labels = torch.tensor([3, 7, 3, 7])
    pos = SameLabelSampler(labels).sample(
        torch.tensor([0, 1, 2, 3]), torch.Generator().manual_seed(0)
    )
    assert pos.tolist() == [2, 3, 0, 1]


def test_a_class_of_one_gives_the_reference_itself():
    labels = torch.tensor([3, 7, 3, 5])
    pos = SameLabelSampler(labels).sample(
        torch.tensor([0, 1, 2, 3, 1]), torch.Generator().manual_seed(0)
    )
    assert pos.tolist() == [2, 1, 0, 3, 1]

from collections import Counter

import numpy as np
import pytest
import torch

from neuroembed.losses import HardNegativeMiner

from ._reference import cos, sqdist


def reference_knn(z, k, distance, labels=None):
    """For every sample, the k most similar other samples (different label when given)."""
    z = z.tolist()
    out = []
    for i in range(len(z)):
        candidates = [
            j for j in range(len(z)) if j != i and (labels is None or labels[j] != labels[i])
        ]
        if distance == "cosine":
            candidates.sort(key=lambda j: -cos(z[i], z[j]))
        else:
            candidates.sort(key=lambda j: sqdist(z[i], z[j]))
        out.append(candidates[:k])
    return out


def embeddings(n=40, d=3, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("chunk_size", [7, 4096])
@pytest.mark.parametrize("with_labels", [False, True])
def test_knn_matches_brute_force(distance, chunk_size, with_labels):
    z = embeddings()
    labels = torch.arange(40) % 3 if with_labels else None
    miner = HardNegativeMiner(n_neighbors=5, distance=distance, chunk_size=chunk_size)
    assert miner.update(z, step=0, labels=labels) is True
    want = reference_knn(z, 5, distance, None if labels is None else labels.tolist())
    assert miner.neighbors_.tolist() == want
    assert miner.neighbors_valid_.all()


def test_knn_too_few_candidates_marked_invalid():
    z = embeddings(n=6)
    labels = torch.tensor([0, 0, 0, 0, 0, 1])
    miner = HardNegativeMiner(n_neighbors=3)
    miner.update(z, labels=labels)
    # label-0 samples have a single eligible neighbour (sample 5); sample 5 has five
    assert miner.neighbors_valid_.sum(1).tolist() == [1, 1, 1, 1, 1, 3]
    assert (miner.neighbors_[:5, 0] == 5).all()
    assert (miner.sample(torch.arange(5).repeat(20)) == 5).all()


def test_knn_draws_uniformly_among_neighbors_and_never_self():
    z = embeddings(n=30)
    miner = HardNegativeMiner(n_neighbors=4, random_state=0)
    miner.update(z, step=0)
    anchors = torch.full((4000,), 7)
    drawn = miner.sample(anchors)
    counts = Counter(drawn.tolist())
    assert set(counts) == set(miner.neighbors_[7].tolist())
    assert 7 not in counts
    for c in counts.values():
        assert abs(c - 1000) < 150  # 4000 draws over 4 neighbours


def test_labels_given_to_sample_exclude_same_label_with_fallback():
    # two tight same-label clusters: every nearest neighbour has the anchor's label, so with labels
    # known only at sample time the draw falls back to a uniform different-label sample
    g = torch.Generator().manual_seed(1)
    z = torch.cat(
        [torch.randn(10, 2, generator=g) * 0.01, 5 + torch.randn(10, 2, generator=g) * 0.01]
    )
    labels = torch.tensor([0] * 10 + [1] * 10)
    miner = HardNegativeMiner(n_neighbors=3, distance="euclidean", random_state=0)
    miner.update(z)
    anchors = torch.zeros(2000, dtype=torch.long)
    drawn = miner.sample(anchors, labels=labels)
    assert (labels[drawn] == 1).all()
    counts = Counter(drawn.tolist())
    assert set(counts) == set(range(10, 20))
    assert min(counts.values()) > 120  # ~200 each
    # without labels the neighbours are returned
    assert set(miner.sample(anchors[:50]).tolist()) <= set(miner.neighbors_[0].tolist())


def test_labels_given_to_update_give_hard_different_label_negatives():
    z = torch.tensor([[0.0], [0.1], [1.0], [1.1], [3.0]])
    labels = torch.tensor([0, 0, 1, 1, 2])
    miner = HardNegativeMiner(n_neighbors=1, distance="euclidean", random_state=0)
    miner.update(z, labels=labels)
    assert miner.neighbors_[:, 0].tolist() == [2, 2, 1, 1, 3]
    assert miner.sample(torch.tensor([0, 1, 2, 3, 4]), labels=labels).tolist() == [2, 2, 1, 1, 3]


def reference_assign(z, centroids, distance):
    out = []
    for row in z.tolist():
        if distance == "cosine":
            scores = [cos(row, c) for c in centroids.tolist()]
            out.append(int(np.argmax(scores)))
        else:
            out.append(int(np.argmin([sqdist(row, c) for c in centroids.tolist()])))
    return out


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_kmeans_finds_separated_blobs(distance):
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    blob = torch.arange(60) % 3
    z = centers[blob] + 0.3 * torch.randn(60, 3, generator=g)
    miner = HardNegativeMiner(method="kmeans", n_clusters=3, distance=distance, random_state=3)
    miner.update(z, step=0)
    assert miner.centroids_.shape == (3, 3)
    assert miner.assignments_.tolist() == reference_assign(z, miner.centroids_, distance)
    # every cluster is one blob
    for c in range(3):
        assert len(set(blob[miner.assignments_ == c].tolist())) == 1
    drawn = miner.sample(torch.arange(60).repeat(10))
    anchors = torch.arange(60).repeat(10)
    assert (miner.assignments_[drawn] == miner.assignments_[anchors]).all()
    assert (drawn != anchors).all()


def test_kmeans_excludes_labels_and_falls_back():
    z = torch.tensor([[0.0], [0.1], [0.2], [10.0], [10.1]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    miner = HardNegativeMiner(
        method="kmeans", n_clusters=2, distance="euclidean", random_state=0, n_iter=5
    )
    miner.update(z, labels=labels)
    assert miner.assignments_.tolist() in ([0, 0, 0, 1, 1], [1, 1, 1, 0, 0])
    anchors = torch.tensor([0, 1, 2, 3, 4]).repeat(200)
    drawn = miner.sample(anchors)
    assert (labels[drawn] != labels[anchors]).all()
    # samples 0, 1 only have sample 2 in their cluster; 2 has 0 and 1
    assert (drawn[anchors < 2] == 2).all()
    assert set(drawn[anchors == 2].tolist()) == {0, 1}
    # 3 and 4 share their cluster only with same-label samples: uniform fallback to {0, 1}
    assert set(drawn[anchors >= 3].tolist()) == {0, 1}


def test_kmeans_without_labels_excludes_self_uniformly():
    z = embeddings(n=12)
    miner = HardNegativeMiner(method="kmeans", n_clusters=1, random_state=0)
    miner.update(z)
    drawn = miner.sample(torch.full((2200,), 4))
    counts = Counter(drawn.tolist())
    assert set(counts) == set(range(12)) - {4}
    assert min(counts.values()) > 130  # ~200 each


def test_update_schedule():
    z = embeddings(n=10)
    miner = HardNegativeMiner(n_neighbors=2, update_every=10)
    assert miner.update(z, step=0)
    assert not miner.update(z + 1, step=9)
    assert miner.update(z, step=10)
    assert miner.last_update_step_ == 10
    assert miner.update(embeddings(n=11), step=11)  # dataset size changed
    assert miner.update(embeddings(n=11))  # no step: always
    assert miner.update(embeddings(n=11), step=12)  # last one had no step


def test_seeded_draws_are_reproducible():
    z = embeddings()
    idx = torch.arange(40)
    for method in ("knn", "kmeans"):
        a = HardNegativeMiner(method=method, n_neighbors=5, random_state=7)
        b = HardNegativeMiner(method=method, n_neighbors=5, random_state=7)
        a.update(z)
        b.update(z)
        assert torch.equal(a.sample(idx), b.sample(idx))
        g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
        assert torch.equal(a.sample(idx, generator=g1), b.sample(idx, generator=g2))
    rng = np.random.default_rng(0)
    HardNegativeMiner(random_state=rng).update(z)


def test_no_gradient_kept():
    z = embeddings().requires_grad_(True)
    miner = HardNegativeMiner(method="kmeans", n_clusters=4)
    miner.update(z)
    assert not miner.centroids_.requires_grad


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(n_neighbors=0), ValueError, "n_neighbors"),
        (dict(update_every=0), ValueError, "update_every"),
        (dict(method="faiss"), ValueError, "method='faiss' is not supported"),
        (dict(n_clusters=0), ValueError, "n_clusters"),
        (dict(distance="l1"), ValueError, "distance"),
        (dict(random_state="seed"), TypeError, "random_state"),
        (dict(n_neighbors=2.5), TypeError, "n_neighbors"),
    ],
)
def test_constructor_validates(kwargs, error, match):
    with pytest.raises(error, match=match):
        HardNegativeMiner(**kwargs)


def test_bad_calls_raise():
    miner = HardNegativeMiner()
    with pytest.raises(RuntimeError, match="before update"):
        miner.sample(torch.tensor([0]))
    with pytest.raises(ValueError, match="at least 2 samples"):
        miner.update(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="single class"):
        miner.update(torch.randn(4, 2), labels=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        miner.update(torch.randn(4, 2), labels=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="embeddings must have shape"):
        miner.update(torch.randn(4))
    miner.update(torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\)"):
        miner.sample(torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="1-D integer tensor"):
        miner.sample(torch.tensor([0.0]))
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        miner.sample(torch.tensor([0]), labels=torch.tensor([0, 1]))
    assert "HardNegativeMiner(n_neighbors=10" in repr(miner)

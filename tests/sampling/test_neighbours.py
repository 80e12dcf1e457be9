import numpy as np
import pytest
import torch

from neuroembed.sampling import NearestNeighbours


def brute_force(points, targets, labels=None, query_labels=None, exclude=None):
    """Slow reference: loop over queries, full distance scan, first index among ties."""
    out = []
    for i, t in enumerate(targets):
        best, arg = np.inf, -1
        for j, p in enumerate(points):
            if exclude is not None and j == exclude[i]:
                continue
            if labels is not None and labels[j] != query_labels[i]:
                continue
            d = float(((p - t) ** 2).sum())
            if d < best:
                best, arg = d, j
        out.append((arg, best))
    return out


def _dist(points, targets, idx):
    return ((points[idx] - targets) ** 2).sum(1)


def _query_matching_brute_force(index, points, targets, labels, qlabels, exclude):
    """Query ``index`` and check the distances equal the brute-force reference's; return the indices found."""
    got = index.query(
        torch.from_numpy(targets),
        None if qlabels is None else torch.from_numpy(qlabels),
        torch.from_numpy(exclude),
    ).numpy()
    ref = brute_force(points, targets, labels, qlabels, exclude)
    # distances equal (ties may pick another index with the same distance)
    np.testing.assert_allclose(
        _dist(points, targets, got), [d for _, d in ref], rtol=1e-5, atol=1e-6
    )
    return got


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@pytest.mark.parametrize("with_labels", [False, True])
def test_matches_brute_force_distances(n_dims, with_labels):
    rng = np.random.default_rng(n_dims)
    points = rng.normal(size=(300, n_dims)).astype(np.float32)
    targets = (points[rng.integers(0, 300, 64)] + rng.normal(scale=0.3, size=(64, n_dims))).astype(
        np.float32
    )
    exclude = rng.integers(0, 300, 64)
    labels = rng.integers(0, 3, 300) if with_labels else None
    qlabels = rng.integers(0, 3, 64) if with_labels else None
    index = NearestNeighbours(
        torch.from_numpy(points),
        None if labels is None else torch.from_numpy(labels),
        chunk_elements=1000,
    )
    got = _query_matching_brute_force(index, points, targets, labels, qlabels, exclude)
    assert (got != exclude).all()
    if with_labels:
        assert (labels[got] == qlabels).all()


def test_reference_excluded_even_when_it_is_the_exact_match():
    points = torch.tensor([[0.0], [1.0], [1.0], [2.0]])
    idx = NearestNeighbours(points).query(
        torch.tensor([[1.0], [1.0]]), exclude=torch.tensor([1, 2])
    )
    assert idx.tolist() == [2, 1]


def test_duplicates_and_out_of_range_queries():
    points = torch.zeros(10, 1)
    points[5:] = 3.0
    index = NearestNeighbours(points)
    got = index.query(torch.tensor([[-100.0], [100.0]]), exclude=torch.tensor([0, 9]))
    assert points[got, 0].tolist() == [0.0, 3.0]
    assert got.tolist()[0] != 0 and got.tolist()[1] != 9


def test_labels_required_consistently():
    index = NearestNeighbours(torch.zeros(4, 1), torch.tensor([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="labels"):
        index.query(torch.zeros(2, 1))


def test_points_must_be_2d():
    with pytest.raises(ValueError, match="2-D"):
        NearestNeighbours(torch.zeros(4))


@pytest.mark.parametrize("with_labels", [False, True])
def test_grouped_sorted_search_matches_brute_force(with_labels):
    """Position plus few-valued columns (like CEBRA's [position, right, left]) uses the sorted search, exactly."""
    rng = np.random.default_rng(7)
    n = 500
    right = rng.integers(0, 2, n)
    points = np.c_[rng.uniform(0, 1.6, n), right, 1 - right].astype(np.float32)
    targets = points[rng.integers(0, n, 200)] + rng.normal(
        scale=[0.1, 0.6, 0.6], size=(200, 3)
    ).astype(np.float32)
    exclude = rng.integers(0, n, 200)
    labels = rng.integers(0, 2, n) if with_labels else None
    qlabels = rng.integers(0, 2, 200) if with_labels else None
    index = NearestNeighbours(
        torch.from_numpy(points), None if labels is None else torch.from_numpy(labels)
    )
    assert index.strategy == "sorted"
    _query_matching_brute_force(index, points, targets, labels, qlabels, exclude)


def test_two_continuous_columns_use_brute_force():
    points = torch.rand(100, 2)
    assert NearestNeighbours(points).strategy == "brute"


def test_two_continuous_columns_of_a_long_recording_use_an_exact_tree():
    rng = np.random.default_rng(7)
    n = 25_000
    points = rng.random((n, 2)).astype(np.float32)
    points[1000:3000] = points[1000]  # the animal sits still: many identical positions
    exclude = np.r_[rng.integers(0, n, 62), 1000, 1500]
    targets = points[exclude] + rng.normal(scale=0.01, size=(64, 2)).astype(np.float32)
    # queries exactly on the duplicated point, its reference among the copies
    targets[-2:] = points[1000]
    index = NearestNeighbours(torch.from_numpy(points))
    assert index.strategy == "tree"
    got = index.query(torch.from_numpy(targets), exclude=torch.from_numpy(exclude)).numpy()
    # reference: every distance, the excluded point masked out
    dist = ((targets[:, None, :].astype(np.float64) - points[None].astype(np.float64)) ** 2).sum(-1)
    dist[np.arange(64), exclude] = np.inf
    np.testing.assert_allclose(_dist(points, targets, got), dist.min(1), rtol=1e-5, atol=1e-9)
    assert (got != exclude).all()
    assert (got[-2:] != exclude[-2:]).all() and (_dist(points, targets, got)[-2:] == 0).all()
    no_exclude = index.query(torch.from_numpy(targets)).numpy()
    full = ((targets[:, None, :].astype(np.float64) - points[None]) ** 2).sum(-1)
    np.testing.assert_allclose(
        _dist(points, targets, no_exclude), full.min(1), rtol=1e-5, atol=1e-9
    )


@pytest.mark.parametrize("strategy", ["sorted", "brute"])
def test_a_reference_alone_in_its_label_is_returned(strategy):
    points = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    labels = torch.tensor([0, 0, 1, 0])
    index = NearestNeighbours(points, labels)
    assert index.strategy == "sorted"
    index.strategy = strategy
    got = index.query(
        torch.tensor([[2.1], [2.1], [0.0]]), torch.tensor([1, 0, 0]), torch.tensor([2, 2, 0])
    )
    # label 1 has only the reference (2); the others find their nearest same-label point
    assert got.tolist() == [2, 3, 1]

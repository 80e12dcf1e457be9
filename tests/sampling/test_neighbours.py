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


def _shape(name, n, rng):
    """Behaviour of a given geometry, float32 (n, dims)."""
    if name == "ring":  # head direction: (cos, sin) of an angle, every point at radius 1
        angle = np.cumsum(rng.normal(scale=0.05, size=n))
        return np.c_[np.cos(angle), np.sin(angle)].astype(np.float32)
    if name == "clusters":  # a few tight clusters far apart
        centres = rng.normal(scale=10.0, size=(5, 2))
        return (centres[rng.integers(0, 5, n)] + rng.normal(scale=0.01, size=(n, 2))).astype(
            np.float32
        )
    if name == "duplicates":  # the animal sits still: a third of the samples at one position
        points = rng.random((n, 2)).astype(np.float32)
        points[n // 3 : 2 * n // 3] = points[n // 3]
        return points
    if name == "line":  # 2-D behaviour along a straight line
        t = rng.random(n)
        return np.c_[t, 0.5 * t + 0.1].astype(np.float32)
    if (
        name == "grid"
    ):  # a few distinct values in each of two columns, too many together to group on
        return rng.integers(0, 40, size=(n, 2)).astype(np.float32) / 40
    if name == "box3":  # 3-D random walk in a box
        return np.mod(np.cumsum(rng.normal(scale=0.02, size=(n, 3)), 0), 1.0).astype(np.float32)
    raise AssertionError(name)


def _reference(points, targets, exclude=None, labels=None, qlabels=None):
    """Every distance in float64, the excluded point and other labels masked out: the nearest distance."""
    dist = ((targets[:, None, :].astype(np.float64) - points[None].astype(np.float64)) ** 2).sum(-1)
    if exclude is not None:
        dist[np.arange(len(targets)), exclude] = np.inf
    if labels is not None:
        dist[labels[None, :] != qlabels[:, None]] = np.inf
    return dist.min(1)


@pytest.mark.parametrize("shape", ["ring", "clusters", "duplicates", "line", "grid", "box3"])
@pytest.mark.parametrize(
    "strategy, with_labels",
    [("tree", False), ("blocks", False), ("blocks", True), ("circle", False)],
)
def test_tree_and_blocks_match_brute_force_on_every_shape(shape, strategy, with_labels):
    """The tree and the blocks search are exact on behaviour of every shape, with targets drawn the way time_delta
    draws them (a reference plus another sample's change over the time offset), targets far from every point (the
    centre of a ring, where every block is almost equally far) and targets exactly on their excluded reference."""
    rng = np.random.default_rng(sum(map(ord, shape)))
    n = 6000
    points = _shape(shape, n, rng)
    ref = rng.integers(0, n - 10, 300)
    other = rng.integers(0, n - 10, 300)
    targets = points[ref] + (points[other + 10] - points[other])
    targets[:20] = points.mean(0)  # far from the points (the centre of a ring)
    targets[20:30] = points[ref[20:30]]  # exactly on a point, which is excluded
    targets = targets.astype(np.float32)
    labels = rng.integers(0, 3, n) if with_labels else None
    qlabels = labels[ref] if with_labels else None
    if strategy == "circle" and points.shape[1] != 2:
        pytest.skip("the circle search takes 2-D behaviour")
    auto = (strategy == "tree" and shape != "ring") or with_labels
    index = NearestNeighbours(
        torch.from_numpy(points),
        None if labels is None else torch.from_numpy(labels),
        strategy="auto" if auto else strategy,
    )
    assert index.strategy == strategy  # the tree without labels, the blocks with
    got = index.query(
        torch.from_numpy(targets),
        None if qlabels is None else torch.from_numpy(qlabels),
        torch.from_numpy(ref),
    ).numpy()
    assert (got != ref).all()
    if with_labels:
        assert (labels[got] == qlabels).all()
    np.testing.assert_allclose(
        _dist(points, targets, got),
        _reference(points, targets, ref, labels, qlabels),
        rtol=1e-5,
        atol=1e-9,
    )
    # without exclusion, and in small chunks of queries
    index.chunk_elements = 3000
    no_exclude = index.query(
        torch.from_numpy(targets), None if qlabels is None else torch.from_numpy(qlabels)
    ).numpy()
    np.testing.assert_allclose(
        _dist(points, targets, no_exclude),
        _reference(points, targets, None, labels, qlabels),
        rtol=1e-5,
        atol=1e-9,
    )


@pytest.mark.parametrize("strategy", ["tree", "blocks"])
def test_a_long_recording_with_identical_positions(strategy):
    """Thousands of identical points: the excluded reference is never returned, another copy is (distance 0)."""
    rng = np.random.default_rng(7)
    n = 25_000
    points = rng.random((n, 2)).astype(np.float32)
    points[1000:3000] = points[1000]  # the animal sits still: many identical positions
    exclude = np.r_[rng.integers(0, n, 62), 1000, 1500]
    targets = points[exclude] + rng.normal(scale=0.01, size=(64, 2)).astype(np.float32)
    # queries exactly on the duplicated point, its reference among the copies
    targets[-2:] = points[1000]
    index = NearestNeighbours(torch.from_numpy(points), strategy=strategy)
    assert index.strategy == strategy
    got = index.query(torch.from_numpy(targets), exclude=torch.from_numpy(exclude)).numpy()
    np.testing.assert_allclose(
        _dist(points, targets, got), _reference(points, targets, exclude), rtol=1e-5, atol=1e-9
    )
    assert (got != exclude).all()
    assert (got[-2:] != exclude[-2:]).all() and (_dist(points, targets, got)[-2:] == 0).all()


def test_blocks_partition_every_point_once_into_boxes_that_hold_them():
    rng = np.random.default_rng(3)
    points = torch.from_numpy(_shape("ring", 5000, rng))
    index = NearestNeighbours(points, strategy="blocks")
    members = index._members
    held = members[members >= 0]
    assert sorted(held.tolist()) == list(range(5000))
    sizes = (members >= 0).sum(1)
    assert int(sizes.max() - sizes.min()) <= 1  # balanced
    for block in range(members.shape[0]):
        inside = points[members[block][members[block] >= 0]]
        assert (inside >= index._block_lo[block]).all() and (inside <= index._block_hi[block]).all()


def test_a_label_alone_with_its_reference_in_the_blocks_search():
    rng = np.random.default_rng(5)
    points = torch.from_numpy(_shape("box3", 4000, rng))
    labels = torch.zeros(4000, dtype=torch.long)
    labels[17] = 1  # label 1 has one sample only
    index = NearestNeighbours(points, labels)
    assert index.strategy == "blocks"
    got = index.query(points[[17, 18]], torch.tensor([1, 0]), torch.tensor([17, 18]))
    assert (
        got[0] == 17
    )  # nothing else qualifies: the reference itself, as the other strategies answer
    assert got[1] != 18 and labels[got[1]] == 0


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


def test_the_tree_keeps_each_distinct_value_once_and_answers_its_first_samples():
    pattern = [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [2.0, 2.0], [0.0, 0.0]]
    points = torch.tensor(pattern * 500 + [[5.0, 5.0]])  # (5, 5) once, at 2500
    index = NearestNeighbours(points, strategy="tree")  # few distinct values: "auto" would sort
    assert index._tree.n == 4
    target = torch.tensor([[0.1, 0.0], [0.1, 0.0], [0.1, 0.0], [1.9, 2.0], [4.9, 5.0]])
    got = index.query(target, exclude=torch.tensor([0, 2, 1, 3, 2500]))
    # (0, 0): first copy 0, or the second (2) when 0 is the reference; (2, 2): the second copy (8) when the first
    # is the reference; the lone (5, 5) is the reference itself: the next value, (2, 2), first at 3
    assert got.tolist() == [2, 0, 0, 8, 3]
    assert index.query(target).tolist() == [0, 0, 0, 3, 2500]
    single = NearestNeighbours(torch.zeros(3000, 2), strategy="tree")  # one distinct value
    assert single.query(torch.ones(2, 2), exclude=torch.tensor([0, 5])).tolist() == [1, 0]


@pytest.mark.parametrize("bad", ["kd", "sorted", None])
def test_unknown_strategies_are_refused(bad):
    with pytest.raises(ValueError, match="strategy must be one of"):
        NearestNeighbours(torch.rand(10, 2), strategy=bad)


def test_the_tree_refuses_labels():
    with pytest.raises(ValueError, match="labels"):
        NearestNeighbours(torch.rand(10, 2), torch.zeros(10, dtype=torch.long), strategy="tree")


def _circle(n, rng, centre=(0.0, 0.0), radius=1.0, noise=0.0, arc=2 * np.pi):
    angle = np.mod(np.cumsum(rng.normal(scale=0.05, size=n)), arc)
    r = radius * (1 + noise * rng.standard_normal(n))
    return (np.c_[np.cos(angle), np.sin(angle)] * r[:, None] + centre).astype(np.float32)


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("head direction", "circle"),  # (cos, sin): every radius 1 to float32's rounding
        ("shifted and scaled", "circle"),  # a circle of radius 50 around (100, -30)
        ("annulus", "tree"),  # radii spread by 1e-3: not thin enough to be worth it
        ("short arc", "tree"),  # 20 degrees of a circle: its centre is far from the points
        ("line", "tree"),
    ],
)
def test_auto_takes_the_circle_search_only_for_points_on_a_circle(kind, expected):
    rng = np.random.default_rng(11)
    n = 5000
    points = {
        "head direction": lambda: _circle(n, rng),
        "shifted and scaled": lambda: _circle(n, rng, (100.0, -30.0), 50.0),
        "annulus": lambda: _circle(n, rng, noise=1e-3),
        "short arc": lambda: _circle(n, rng, arc=np.pi / 9),
        "line": lambda: _shape("line", n, rng),
    }[kind]()
    index = NearestNeighbours(torch.from_numpy(points))
    assert index.strategy == expected
    ref = rng.integers(0, n - 10, 200)
    other = rng.integers(0, n - 10, 200)
    targets = points[ref] + (points[other + 10] - points[other])
    targets[:5] = points.mean(0)
    targets = targets.astype(np.float32)
    got = index.query(torch.from_numpy(targets), exclude=torch.from_numpy(ref)).numpy()
    np.testing.assert_allclose(
        _dist(points, targets, got), _reference(points, targets, ref), rtol=1e-5, atol=1e-9
    )


def test_the_circle_search_with_copies_of_a_value_and_a_value_alone():
    """An animal holding its head still: the copies are one value; the reference's copy is answered (distance 0),
    and a reference that is its value's only sample is never."""
    rng = np.random.default_rng(12)
    points = _circle(4000, rng)
    points[500:1500] = points[500]
    index = NearestNeighbours(torch.from_numpy(points))
    assert index.strategy == "circle"
    exclude = np.r_[700, 3000, rng.integers(0, 4000, 30)]
    targets = points[exclude].copy()
    got = index.query(torch.from_numpy(targets), exclude=torch.from_numpy(exclude)).numpy()
    assert (got != exclude).all()
    assert got[0] in range(500, 1500) and _dist(points, targets, got)[0] == 0
    np.testing.assert_allclose(
        _dist(points, targets, got), _reference(points, targets, exclude), rtol=1e-5, atol=1e-9
    )


@pytest.mark.parametrize("labels, dims", [(True, 2), (False, 3)])
def test_the_circle_search_refuses_labels_and_other_dimensions(labels, dims):
    with pytest.raises(ValueError, match="strategy='circle' searches unlabelled 2-D points"):
        NearestNeighbours(
            torch.rand(10, dims),
            torch.zeros(10, dtype=torch.long) if labels else None,
            strategy="circle",
        )


def test_a_circle_beside_a_flag_column_is_not_searched_as_a_circle():
    """(cos, sin) and a direction flag: three columns, the search must weigh all three (the tree does)."""
    rng = np.random.default_rng(13)
    ring = _circle(4000, rng)
    points = np.c_[ring, rng.integers(0, 2, 4000)].astype(np.float32)
    index = NearestNeighbours(torch.from_numpy(points))
    assert index.strategy == "tree"

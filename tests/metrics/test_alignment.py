"""Procrustes and affine alignment in chunks: against SciPy / least squares, exact recovery, chunk invariance,
h5py input, bounded memory, several embeddings, and bad input."""

import tracemalloc

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.stats import ortho_group

from neuroembed import metrics
from neuroembed.metrics import (
    AlignedEmbeddings,
    Alignment,
    align,
    align_embeddings,
    fit_alignment,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _reflection(d, seed):
    """An orthogonal matrix with determinant -1 (a rotation followed by a reflection)."""
    q = ortho_group.rvs(d, random_state=seed)
    return q if np.linalg.det(q) < 0 else q @ np.diag([-1.0] + [1.0] * (d - 1))


# ------------------------------------------------------------------------------------------------------------
# against references
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("center", [True, False])
def test_procrustes_equals_scipy(rng, center):
    a = rng.normal(size=(60, 4)) + 3.0
    b = rng.normal(size=(60, 4)) - 1.0
    a_ref, b_ref = (a - a.mean(0), b - b.mean(0)) if center else (a, b)
    expected, _ = orthogonal_procrustes(a_ref, b_ref)
    m = fit_alignment(a, b, center=center, chunk_size=7)
    np.testing.assert_allclose(m.weights, expected, atol=1e-12)
    np.testing.assert_allclose(m.rotation, expected, atol=1e-12)
    assert m.scale == 1.0 and m.n_samples == 60
    prediction = a_ref @ expected + (b.mean(0) if center else 0.0)
    np.testing.assert_allclose(m.transform(a), prediction, atol=1e-12)
    rmse = np.sqrt(((prediction - b) ** 2).sum() / 60)
    assert m.rmse == pytest.approx(rmse, rel=1e-9)


def test_linear_equals_least_squares(rng):
    a = rng.normal(size=(80, 3))
    b = rng.normal(size=(80, 5))
    design = np.column_stack([a, np.ones(80)])
    coef, *_ = np.linalg.lstsq(design, b, rcond=None)
    m = fit_alignment(a, b, method="linear", chunk_size=9)
    np.testing.assert_allclose(m.weights, coef[:3], atol=1e-12)
    np.testing.assert_allclose(m.bias, coef[3], atol=1e-12)
    assert np.isnan(m.scale)
    # without intercept
    coef0, *_ = np.linalg.lstsq(a, b, rcond=None)
    m0 = fit_alignment(a, b, method="linear", center=False, chunk_size=9)
    np.testing.assert_allclose(m0.weights, coef0, atol=1e-12)
    np.testing.assert_array_equal(m0.bias, 0.0)


def test_procrustes_scale_is_the_least_squares_scale(rng):
    a = rng.normal(size=(100, 3))
    b = rng.normal(size=(100, 3))
    m = fit_alignment(a, b, scale=True)
    ac, bc = a - a.mean(0), b - b.mean(0)
    rotation, sigma_sum = orthogonal_procrustes(ac, bc)
    assert m.scale == pytest.approx(sigma_sum / (ac**2).sum(), rel=1e-12)
    np.testing.assert_allclose(m.rotation, rotation, atol=1e-12)


# ------------------------------------------------------------------------------------------------------------
# exact recovery of known maps
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reflect", [False, True])
def test_recovers_a_known_rotation_and_shift(rng, reflect):
    target = rng.normal(size=(500, 6))
    q = _reflection(6, 1) if reflect else ortho_group.rvs(6, random_state=1)
    shift = rng.normal(size=6)
    source = (target - shift) @ q.T  # target = source @ q + shift
    m = fit_alignment(source, target, chunk_size=64)
    np.testing.assert_allclose(m.weights, q, atol=1e-12)
    np.testing.assert_allclose(m.bias, shift, atol=1e-12)
    assert m.rmse < 1e-6
    np.testing.assert_allclose(align(source, target), target, atol=1e-12)


def test_recovers_a_known_rotation_and_scale(rng):
    target = rng.normal(size=(300, 3))
    q = ortho_group.rvs(3, random_state=2)
    source = target @ q.T / 2.5
    m = fit_alignment(source, target, scale=True, center=False)
    assert m.scale == pytest.approx(2.5, rel=1e-12)
    np.testing.assert_allclose(m.rotation, q, atol=1e-12)
    np.testing.assert_allclose(m.transform(source), target, atol=1e-12)


def test_recovers_a_known_affine_map(rng):
    source = rng.normal(size=(400, 4))
    weights = rng.normal(size=(4, 3))
    bias = rng.normal(size=3)
    target = source @ weights + bias
    m = fit_alignment(source, target, method="linear", chunk_size=33)
    np.testing.assert_allclose(m.weights, weights, atol=1e-11)
    np.testing.assert_allclose(m.bias, bias, atol=1e-11)
    np.testing.assert_allclose(align(source, target, "linear"), target, atol=1e-11)


def test_large_means_do_not_cost_precision(rng):
    """Centred moments merged block by block: a mean of 1e7 does not cancel the spread of 1."""
    target = rng.normal(size=(2000, 3)) + 1e7
    q = ortho_group.rvs(3, random_state=3)
    source = (target - 1e7) @ q.T - 5e6
    for method in ("procrustes", "linear"):
        m = fit_alignment(source, target, method, chunk_size=100)
        np.testing.assert_allclose(m.weights, q, atol=1e-9)
        np.testing.assert_allclose(m.transform(source), target, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------------------------
# chunks, inputs, memory
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["procrustes", "linear"])
@pytest.mark.parametrize("center", [True, False])
def test_chunked_equals_unchunked(rng, method, center):
    n = 101
    a = rng.normal(size=(n, 4)) + 2.0
    b = a @ rng.normal(size=(4, 4)) + rng.normal(size=(n, 4))
    whole = fit_alignment(a, b, method, center=center, chunk_size=n)
    for chunk_size in (1, 2, 7, 50, 100, n + 1, 10 * n):
        m = fit_alignment(a, b, method, center=center, chunk_size=chunk_size)
        np.testing.assert_allclose(m.weights, whole.weights, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(m.bias, whole.bias, rtol=1e-10, atol=1e-12)
        assert m.rmse == pytest.approx(whole.rmse, rel=1e-6)
        np.testing.assert_allclose(
            m.transform(a, chunk_size=chunk_size), whole.transform(a), rtol=1e-10, atol=1e-12
        )


def test_h5py_datasets_are_read_in_chunks(rng, tmp_path):
    a = rng.normal(size=(300, 3)).astype(np.float32)
    b = (a @ ortho_group.rvs(3, random_state=4) + 1.0).astype(np.float32)
    with h5py.File(tmp_path / "emb.h5", "w") as f:
        f.create_dataset("a", data=a, chunks=(32, 3), compression="gzip")
        f["b"] = b
    with h5py.File(tmp_path / "emb.h5", "r") as f:
        m = fit_alignment(f["a"], f["b"], chunk_size=50)
        out = m.transform(f["a"], chunk_size=64)
        several = align_embeddings([f["a"], f["b"]], reference=1, chunk_size=40)
    expected = fit_alignment(a, b)
    np.testing.assert_allclose(m.weights, expected.weights, atol=1e-12)
    np.testing.assert_allclose(m.bias, expected.bias, atol=1e-12)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, b, atol=1e-5)
    np.testing.assert_allclose(several.mean, b, atol=1e-5)


def test_other_array_likes(rng):
    a = rng.normal(size=(50, 2))
    b = a @ np.array([[0.0, 1.0], [1.0, 0.0]])
    expected = fit_alignment(a, b).weights
    np.testing.assert_allclose(fit_alignment(torch.from_numpy(a), b).weights, expected, atol=1e-12)
    np.testing.assert_allclose(
        fit_alignment(pd.DataFrame(a), b.tolist()).weights, expected, atol=1e-12
    )
    np.testing.assert_allclose(fit_alignment(a.astype(np.float32), b).weights, expected, atol=1e-6)


def test_inputs_are_not_modified(rng):
    a, b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    a0, b0 = a.copy(), b.copy()
    fit_alignment(a, b, chunk_size=8)
    align_embeddings([a, b], reference="mean")
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_transform_keeps_float32_and_float64(rng):
    m = fit_alignment(rng.normal(size=(20, 2)), rng.normal(size=(20, 2)))
    assert m.transform(np.ones((3, 2), dtype=np.float32)).dtype == np.float32
    assert m.transform(np.ones((3, 2))).dtype == np.float64
    assert m.transform(np.ones((3, 2), dtype=int)).dtype == np.float64


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("method", ["procrustes", "linear"])
def test_memory_does_not_grow_with_the_number_of_samples(method):
    """Peak memory is one chunk's, whatever n is (CEBRA's alignment builds an n x n matrix: its issue #307).

    The bound is a quarter of one float64 copy of the large input: an implementation that centres or
    converts the whole array, let alone builds an (n, n) matrix, exceeds it (checked below on such a copy).
    """
    d, chunk = 8, 2048
    data = {}
    for n in (20_000, 200_000):
        rng = np.random.default_rng(n)
        a = rng.normal(size=(n, d)).astype(np.float32)
        data[n] = (a, (a @ ortho_group.rvs(d, random_state=0)).astype(np.float32))
    peaks = {
        n: _peak_bytes(lambda a=a, b=b: fit_alignment(a, b, method, chunk_size=chunk))
        for n, (a, b) in data.items()
    }
    one_copy = 200_000 * d * 8
    bound = one_copy // 4
    assert peaks[200_000] < bound, peaks
    # roughly constant beyond the chunk: ten times the samples, (almost) the same peak
    assert peaks[200_000] < 1.5 * peaks[20_000] + 64 * 1024, peaks
    # the measurement can fail: converting the whole input once, as a naive implementation would, exceeds it
    a_large = data[200_000][0]
    assert _peak_bytes(lambda: np.asarray(a_large, dtype=np.float64) - 1.0) > bound


# ------------------------------------------------------------------------------------------------------------
# several embeddings
# ------------------------------------------------------------------------------------------------------------
def test_align_embeddings_to_a_reference_recovers_rotated_copies(rng):
    z = rng.normal(size=(300, 4))
    runs = [z @ _reflection(4, s) + s for s in range(5)]
    out = align_embeddings(runs, reference=2)
    assert isinstance(out, AlignedEmbeddings) and out.n_iter == 0
    for aligned in out.embeddings:
        np.testing.assert_allclose(aligned, runs[2], atol=1e-10)
    np.testing.assert_allclose(out.mean, runs[2], atol=1e-10)
    np.testing.assert_array_equal(
        out.alignments[2].weights, np.eye(4)
    )  # the reference's own map: identity
    assert [m.n_samples for m in out.alignments] == [300] * 5
    # a negative index counts from the end
    np.testing.assert_allclose(align_embeddings(runs, reference=-1).mean, runs[4], atol=1e-10)


def test_generalised_procrustes_converges_to_a_common_frame(rng):
    z = rng.normal(size=(400, 3))
    runs = [
        z @ ortho_group.rvs(3, random_state=s) + rng.normal(scale=0.05, size=z.shape)
        for s in range(4)
    ]
    out = align_embeddings(runs, reference="mean", max_iter=50, tol=1e-12)
    assert 1 <= out.n_iter < 50
    np.testing.assert_allclose(out.mean, np.mean(out.embeddings, axis=0), atol=1e-12)
    # each is aligned to the mean: re-aligning any of them onto it changes nothing
    for aligned in out.embeddings:
        np.testing.assert_allclose(align(aligned, out.mean), aligned, atol=1e-8)
    # the mean is the truth up to a rotation, and closer to it than any single noisy run
    err_mean = align(z, out.mean) - out.mean
    err_run = align(z, runs[0]) - runs[0]
    assert (err_mean**2).sum() < 0.5 * (err_run**2).sum()


def test_generalised_procrustes_with_scale_keeps_the_size(rng):
    z = rng.normal(size=(200, 3))
    runs = [s * z @ ortho_group.rvs(3, random_state=s) for s in (1, 2, 4)]
    out = align_embeddings(runs, reference="mean", scale=True, center=False)
    np.testing.assert_allclose(np.linalg.norm(out.mean), np.linalg.norm(runs[0]), rtol=1e-6)
    for aligned in out.embeddings:
        np.testing.assert_allclose(aligned, out.mean, atol=1e-8)


def test_align_embeddings_linear_of_different_sizes(rng):
    z = rng.normal(size=(150, 3))
    runs = [z, z @ rng.normal(size=(3, 5)) + 1.0, z @ rng.normal(size=(3, 3))]
    out = align_embeddings(runs, method="linear")
    assert [m.weights.shape for m in out.alignments] == [(3, 3), (5, 3), (3, 3)]
    np.testing.assert_allclose(out.mean, z, atol=1e-10)


def test_exported_from_metrics():
    for name in ("align", "fit_alignment", "align_embeddings", "Alignment", "AlignedEmbeddings"):
        assert name in metrics.__all__ and hasattr(metrics, name)


# ------------------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------------------
Z = np.random.default_rng(1).normal(size=(30, 3))
Z_NAN = Z.copy()
Z_NAN[17, 2] = np.nan

FIT_CASES = [
    (
        "1-D source",
        lambda: fit_alignment(Z[:, 0], Z),
        ValueError,
        r"source must be 2-D .*shape \(30,\)",
    ),
    ("3-D target", lambda: fit_alignment(Z, Z[None]), ValueError, r"target must be 2-D .*3-D"),
    (
        "row mismatch",
        lambda: fit_alignment(Z, Z[:20]),
        ValueError,
        "source has 30 samples .* target has 20",
    ),
    (
        "procrustes dims",
        lambda: fit_alignment(Z, Z[:, :2]),
        ValueError,
        "same dimension.*method='linear'",
    ),
    (
        "NaN",
        lambda: fit_alignment(Z, Z_NAN, chunk_size=4),
        ValueError,
        "target contains NaN or inf .*row 17",
    ),
    (
        "empty",
        lambda: fit_alignment(Z[:0], Z[:0]),
        ValueError,
        r"source is empty \(shape \(0, 3\)\)",
    ),
    ("no columns", lambda: fit_alignment(Z[:, :0], Z), ValueError, "source is empty"),
    ("strings", lambda: fit_alignment("abc", Z), TypeError, "source must be an array of numbers"),
    (
        "None",
        lambda: fit_alignment(Z, None),
        TypeError,
        "target must be an array of numbers; got None",
    ),
    ("complex", lambda: fit_alignment(Z + 1j, Z), ValueError, "Complex data not supported"),
    (
        "method",
        lambda: fit_alignment(Z, Z, "affine"),
        ValueError,
        r"method='affine' is not supported",
    ),
    ("method type", lambda: fit_alignment(Z, Z, 3), TypeError, "method must be one of"),
    (
        "chunk 0",
        lambda: fit_alignment(Z, Z, chunk_size=0),
        ValueError,
        "chunk_size must be an integer >= 1",
    ),
    (
        "chunk float",
        lambda: fit_alignment(Z, Z, chunk_size=1.5),
        TypeError,
        "chunk_size must be an integer",
    ),
    (
        "center",
        lambda: fit_alignment(Z, Z, center="yes"),
        TypeError,
        "center must be True or False",
    ),
    (
        "scale+linear",
        lambda: fit_alignment(Z, Z, "linear", scale=True),
        ValueError,
        "scale=True applies to",
    ),
]

SEVERAL_CASES = [
    (
        "3-D array",
        lambda: align_embeddings(np.stack([Z, Z])),
        TypeError,
        "list of arrays.*list\\(array\\)",
    ),
    ("empty list", lambda: align_embeddings([]), ValueError, "empty list"),
    (
        "row mismatch",
        lambda: align_embeddings([Z, Z[:10]]),
        ValueError,
        r"embeddings\[1\] has 10 samples",
    ),
    (
        "dims",
        lambda: align_embeddings([Z, Z[:, :2]]),
        ValueError,
        r"embeddings\[1\] has 2 dimensions",
    ),
    ("NaN", lambda: align_embeddings([Z, Z_NAN]), ValueError, r"embeddings\[1\] contains NaN"),
    (
        "reference range",
        lambda: align_embeddings([Z, Z], reference=2),
        ValueError,
        "reference=2 is out of range",
    ),
    (
        "reference name",
        lambda: align_embeddings([Z, Z], reference="median"),
        ValueError,
        "use an index 0..1 or 'mean'",
    ),
    (
        "reference type",
        lambda: align_embeddings([Z, Z], reference=1.0),
        TypeError,
        "reference must be an int",
    ),
    (
        "mean+linear",
        lambda: align_embeddings([Z, Z], "linear", reference="mean"),
        ValueError,
        "needs method='procrustes'",
    ),
    (
        "max_iter",
        lambda: align_embeddings([Z, Z], max_iter=-1),
        ValueError,
        "max_iter must be an integer >= 0",
    ),
    (
        "tol",
        lambda: align_embeddings([Z, Z], tol=-1.0),
        ValueError,
        "tol must be a finite number >= 0",
    ),
]

MAP = fit_alignment(Z, Z, "linear")

TRANSFORM_CASES = [
    (
        "dims",
        lambda: MAP.transform(Z[:, :2]),
        ValueError,
        "Z has 2 dimensions, but this alignment maps 3-dim",
    ),
    ("NaN", lambda: MAP.transform(Z_NAN), ValueError, "Z contains NaN or inf .*row 17"),
    (
        "rotation of linear",
        lambda: MAP.rotation,
        AttributeError,
        "'linear' alignment has no rotation",
    ),
    (
        "bad shapes",
        lambda: Alignment("linear", np.eye(2), np.zeros(3)),
        ValueError,
        "weights must be",
    ),
]


@pytest.mark.parametrize(
    "call,error,pattern",
    [case[1:] for case in FIT_CASES + SEVERAL_CASES + TRANSFORM_CASES],
    ids=[f"{i}-{case[0]}" for i, case in enumerate(FIT_CASES + SEVERAL_CASES + TRANSFORM_CASES)],
)
def test_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_nan_in_an_h5py_dataset_names_the_row(tmp_path):
    with h5py.File(tmp_path / "nan.h5", "w") as f:
        f["z"] = Z_NAN
        f["text"] = np.array([b"a", b"b"])
    with h5py.File(tmp_path / "nan.h5", "r") as f:
        with pytest.raises(ValueError, match="source contains NaN or inf .*row 17"):
            fit_alignment(f["z"], Z, chunk_size=5)
        with pytest.raises(TypeError, match="must hold real numbers"):
            fit_alignment(f["text"], Z)

import numpy as np
import pytest

from neuroembed.datasets import latent_manifold
from neuroembed.metrics import decode, latent_recovery


@pytest.mark.parametrize(("latent_dim", "label_dim"), [(2, 1), (3, 1), (3, 2)])
def test_shapes_and_dtypes(latent_dim, label_dim):
    rec = latent_manifold(
        n_samples=400, n_neurons=12, latent_dim=latent_dim, label_dim=label_dim, random_state=0
    )
    assert rec.neural.shape == (400, 12) and rec.neural.dtype == np.float32
    assert rec.behaviour.shape == (400, label_dim) and rec.behaviour.dtype == np.float32
    assert rec.latent.shape == (400, latent_dim) and rec.latent.dtype == np.float32
    assert rec.labels is None
    assert rec.metadata["rates"].shape == (400, 12)


def test_label_is_a_bounded_random_walk():
    rec = latent_manifold(n_samples=5000, n_neurons=5, step_size=0.02, random_state=1)
    label = rec.behaviour[:, 0]
    assert label.min() >= 0.0 and label.max() <= 1.0
    assert label.max() - label.min() > 0.8  # it explores the range
    assert np.abs(np.diff(label)).max() < 0.2  # in small steps
    np.testing.assert_allclose(np.abs(np.diff(label)).mean(), 0.02 * np.sqrt(2 / np.pi), rtol=0.1)


def test_latent_is_driven_by_the_label():
    rec = latent_manifold(n_samples=3000, n_neurons=30, latent_noise=0.0, random_state=2)
    # noiseless: the latent is a function of the label, so nearby labels give nearby latents
    order = np.argsort(rec.behaviour[:, 0])
    jumps = np.linalg.norm(np.diff(rec.latent[order], axis=0), axis=1)
    assert np.median(jumps) < 0.05
    np.testing.assert_allclose(rec.latent.std(axis=0), 1.0, rtol=1e-4)


def test_mean_rate_and_poisson_counts():
    rec = latent_manifold(
        n_samples=4000, n_neurons=20, mean_rate=8.0, bin_size=0.05, random_state=3
    )
    np.testing.assert_allclose(rec.metadata["rates"].mean(), 8.0, rtol=1e-4)
    np.testing.assert_allclose(rec.neural.mean() / 0.05, 8.0, rtol=0.05)
    np.testing.assert_array_equal(rec.neural, np.round(rec.neural))
    # Poisson: variance around the rate equals the rate
    expected = rec.metadata["rates"] * 0.05
    ratio = ((rec.neural - expected) ** 2).sum() / expected.sum()
    assert 0.9 < ratio < 1.1


def test_neural_data_carry_the_latent():
    rec = latent_manifold(n_samples=4000, n_neurons=60, random_state=4)
    # the rates are a non-linear function of the latent: it is decodable from the counts
    assert decode(rec.neural, rec.behaviour, method="knn", metric="euclidean")["knn_r2"] > 0.5
    # and the true latent recovers itself, while an unrelated walk does not
    assert latent_recovery(rec.latent, rec.latent) == pytest.approx(1.0)
    other = latent_manifold(n_samples=4000, n_neurons=60, random_state=5)
    assert latent_recovery(other.latent, rec.latent) < 0.2


def test_gaussian_noise_option():
    rec = latent_manifold(n_samples=500, n_neurons=10, noise="gaussian", random_state=0)
    assert not np.array_equal(rec.neural, np.round(rec.neural))


def test_seeded():
    a = latent_manifold(n_samples=200, n_neurons=4, random_state=9)
    b = latent_manifold(n_samples=200, n_neurons=4, random_state=np.random.default_rng(9))
    np.testing.assert_array_equal(a.neural, b.neural)
    np.testing.assert_array_equal(a.latent, b.latent)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"latent_dim": 0}, ValueError),
        ({"label_dim": 1.0}, TypeError),
        ({"noise": "laplace"}, ValueError),
        ({"mean_rate": 0.0}, ValueError),
        ({"step_size": float("nan")}, ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        latent_manifold(**{"n_samples": 100, "n_neurons": 5, **kwargs})


def test_datasets_import_only_the_lowest_floor():
    import ast
    from pathlib import Path

    import neuroembed.datasets as package

    for path in Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        own = {m for m in imported if m.startswith("neuroembed")}
        allowed = ("neuroembed._validation", "neuroembed.recording", "neuroembed.datasets")
        assert all(m.startswith(allowed) for m in own), (path.name, own)

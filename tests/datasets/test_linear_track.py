import numpy as np
import pytest

from neuroembed.datasets import linear_track
from neuroembed.metrics import decode
from neuroembed.recording import Recording


@pytest.fixture(scope="module")
def rec():
    return linear_track(n_samples=6000, n_neurons=60, random_state=0)


def test_types_shapes_and_dtypes(rec):
    assert isinstance(rec, Recording)
    assert rec.neural.shape == (6000, 60) and rec.neural.dtype == np.float32
    assert rec.behaviour.shape == (6000, 3) and rec.behaviour.dtype == np.float32
    assert rec.labels.shape == (6000,) and rec.labels.dtype == np.int64
    assert rec.latent.shape == (6000, 2) and rec.latent.dtype == np.float32
    np.testing.assert_allclose(np.diff(rec.timestamps), 0.025)
    assert rec.metadata["field_centres"].shape == (60, 2)


def test_counts_are_non_negative_integers(rec):
    assert (rec.neural >= 0).all()
    np.testing.assert_array_equal(rec.neural, np.round(rec.neural))


def test_behaviour_layout_matches_cebra(rec):
    pos, right, left = rec.behaviour.T
    assert pos.min() >= 0.0 and pos.max() <= 1.6
    assert pos.max() - pos.min() > 1.4  # runs cover the track
    np.testing.assert_array_equal(right + left, 1.0)
    np.testing.assert_array_equal(rec.labels, (left == 1).astype(np.int64))
    np.testing.assert_array_equal(rec.latent[:, 0], pos)
    np.testing.assert_array_equal(rec.latent[:, 1], rec.labels)


def test_direction_follows_movement(rec):
    pos = rec.behaviour[:, 0].astype(np.float64)
    velocity = np.gradient(pos) / 0.025
    fast = np.abs(velocity) > 0.2
    assert fast.mean() > 0.5  # mostly running
    moving_right = velocity[fast] > 0
    assert np.mean(moving_right == (rec.labels[fast] == 0)) > 0.99


def test_realistic_speed_and_smoothness(rec):
    pos = rec.behaviour[:, 0].astype(np.float64)
    speed = np.abs(np.gradient(pos)) / 0.025
    assert 0.3 < np.median(speed) < 0.8  # m/s, like a running rat
    assert speed.max() < 2.5
    assert np.mean(speed < 0.05) > 0.03  # pauses at the ends
    # ends of the track are where the pauses are
    still = speed < 0.02
    assert np.all((pos[still] < 0.15) | (pos[still] > 1.45))


def test_sparse_low_rates(rec):
    mean_rate_hz = rec.neural.mean() / 0.025
    assert 0.3 < mean_rate_hz < 2.0
    assert (rec.neural.sum(axis=1) == 0).mean() > 0.05  # some silent bins
    assert rec.metadata["place_cell"].sum() == 48


def test_place_fields_are_direction_selective(rec):
    # a place cell's mean count as a function of position peaks near its field centre for each direction
    pos, labels = rec.behaviour[:, 0], rec.labels
    centres, peaks = rec.metadata["field_centres"], rec.metadata["peak_rates"]
    cell = int(np.argmax(peaks.max(axis=1)))
    d = int(np.argmax(peaks[cell]))
    bins = np.linspace(0, 1.6, 17)
    mask = labels == d
    idx = np.digitize(pos[mask], bins) - 1
    tuning = np.array([rec.neural[mask][idx == b, cell].mean() for b in range(16)])
    peak_bin_centre = (bins[:-1] + 0.05)[np.nanargmax(tuning)]
    assert abs(peak_bin_centre - centres[cell, d]) < 0.25


def test_seeded():
    a = linear_track(n_samples=300, n_neurons=10, random_state=3)
    b = linear_track(n_samples=300, n_neurons=10, random_state=3)
    c = linear_track(n_samples=300, n_neurons=10, random_state=4)
    np.testing.assert_array_equal(a.neural, b.neural)
    np.testing.assert_array_equal(a.behaviour, b.behaviour)
    assert not np.array_equal(a.behaviour, c.behaviour)


def test_raw_counts_decode_mediocre_but_pooling_helps():
    rec = linear_track(n_samples=8000, n_neurons=80, random_state=1)
    pos = rec.behaviour[:, 0]
    raw = decode(rec.neural, pos, method="knn")["knn_median_error"]
    # summing 10 bins (what a 10-sample receptive field can see) makes decoding far better
    kernel = np.ones(10)
    pooled = np.stack([np.convolve(c, kernel, mode="same") for c in rec.neural.T], axis=1)
    better = decode(pooled, pos, method="knn")["knn_median_error"]
    assert 0.15 < raw < 0.5  # chance (predicting the middle) is about 0.4 m
    assert better < raw / 3


def test_options_change_the_data():
    def fraction_still(rec):
        return np.mean(np.abs(np.gradient(rec.behaviour[:, 0])) / 0.025 < 0.02)

    no_pause = linear_track(n_samples=3000, n_neurons=5, pause=0.0, random_state=0)
    long_pause = linear_track(n_samples=3000, n_neurons=5, pause=3.0, random_state=0)
    assert fraction_still(no_pause) < 0.15 < fraction_still(long_pause)
    untuned = linear_track(n_samples=500, n_neurons=10, place_cell_fraction=0.0, random_state=0)
    assert not untuned.metadata["place_cell"].any()
    assert np.isnan(untuned.metadata["field_centres"]).all()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n_samples": 0}, ValueError),
        ({"n_neurons": 2.5}, TypeError),
        ({"bin_size": -1.0}, ValueError),
        ({"place_cell_fraction": 1.5}, ValueError),
        ({"field_width": (0.2, 0.1)}, ValueError),
        ({"speed": "fast"}, TypeError),
        ({"random_state": "seed"}, TypeError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        linear_track(**{"n_samples": 100, "n_neurons": 5, **kwargs})


def test_laps_too_long_to_build_are_refused_before_any_memory_is_taken():
    with pytest.raises(
        ValueError, match=r"one lap would take about 4.5e\+09 bins .* raise bin_size"
    ):
        linear_track(n_samples=64, bin_size=1e-9)

"""Recording: the container of every reader and dataset checks that its arrays line up row by row."""

import numpy as np
import pytest

from neuroembed.recording import Recording

pytestmark = pytest.mark.timeout(60)


def test_arrays_of_the_same_rows_make_a_recording():
    rec = Recording(
        neural=np.zeros((5, 2), np.float32),
        behaviour=np.zeros((5, 3), np.float32),
        labels=np.zeros(5, np.int64),
        timestamps=np.arange(5.0),
        latent=np.zeros((5, 1)),
    )
    assert (rec.n_samples, rec.n_neurons) == (5, 2)


@pytest.mark.parametrize("name", ["behaviour", "labels", "timestamps", "latent"])
def test_an_array_of_other_rows_is_refused(name):
    with pytest.raises(
        ValueError, match=rf"Recording.{name} must have one row per neural row \(5\); got shape \(4"
    ):
        Recording(neural=np.zeros((5, 2)), **{name: np.zeros(4)})


@pytest.mark.parametrize("neural", [np.zeros(5), np.zeros((2, 3, 4)), [[0.0, 1.0]]])
def test_neural_must_be_a_2d_array(neural):
    with pytest.raises(ValueError, match="Recording.neural must be a 2-D array"):
        Recording(neural=neural)

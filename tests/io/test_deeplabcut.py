"""DeepLabCut pose files as behaviour: files written in DeepLabCut's own layout, read back.

The files are real ``.h5`` (``df.to_hdf(path, key="df_with_missing")``, as DeepLabCut writes them) and
``.csv`` (``df.to_csv(path)``) files of a DataFrame with DeepLabCut's MultiIndex columns. Speed and head
direction are checked against numbers worked out by hand; resampling against slow loop references.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

import neuroembed as ne
from neuroembed.io.deeplabcut import Pose, read_deeplabcut, resample_behaviour

pytestmark = pytest.mark.timeout(60)

SCORER = "DLC_resnet50_openfieldMar1shuffle1_200000"
FORMATS = ["h5", "csv"]
NAN = float("nan")


# ---------------------------------------------------------------------------------------------
# files in DeepLabCut's layout


def single_animal(parts: dict[str, list[tuple[float, float, float]]]) -> pd.DataFrame:
    """A single-animal table: columns (scorer, bodyparts, coords), one row per frame."""
    columns = pd.MultiIndex.from_product(
        [[SCORER], list(parts), ["x", "y", "likelihood"]], names=["scorer", "bodyparts", "coords"]
    )
    values = np.concatenate([np.asarray(v, dtype=float) for v in parts.values()], axis=1)
    return pd.DataFrame(values, columns=columns)


def multi_animal(animals: dict[str, dict[str, list[tuple[float, float, float]]]]) -> pd.DataFrame:
    """A multi-animal table: columns (scorer, individuals, bodyparts, coords)."""
    tuples = [
        (SCORER, animal, part, coord)
        for animal, parts in animals.items()
        for part in parts
        for coord in ("x", "y", "likelihood")
    ]
    columns = pd.MultiIndex.from_tuples(
        tuples, names=["scorer", "individuals", "bodyparts", "coords"]
    )
    values = np.concatenate(
        [np.asarray(v, dtype=float) for parts in animals.values() for v in parts.values()], axis=1
    )
    return pd.DataFrame(values, columns=columns)


def write(df: pd.DataFrame, tmp_path: Path, fmt: str, stem: str = "videoDLC") -> Path:
    path = tmp_path / f"{stem}.{fmt}"
    if fmt == "h5":
        df.to_hdf(path, key="df_with_missing")
    else:
        df.to_csv(path)
    return path


#: snout and tailbase over 4 frames; snout uncertain (0.3) in frame 2.
TWO_PARTS = {
    "snout": [(10.0, 20.0, 0.99), (12.0, 20.0, 0.95), (50.0, 50.0, 0.3), (16.0, 20.0, 0.9)],
    "tailbase": [(0.0, 20.0, 0.9), (1.0, 20.0, 0.9), (2.0, 20.0, 0.9), (3.0, 20.0, 0.9)],
}


@pytest.fixture(params=FORMATS)
def two_parts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return write(single_animal(TWO_PARTS), tmp_path, request.param)


def nan_equal(a: np.ndarray, b: object) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), atol=1e-5)


# ---------------------------------------------------------------------------------------------
# reading


def test_exported() -> None:
    assert ne.io.read_deeplabcut is read_deeplabcut
    assert ne.io.resample_behaviour is resample_behaviour
    assert ne.io.Pose is Pose


def test_single_animal(two_parts: Path) -> None:
    pose = read_deeplabcut(two_parts)
    assert isinstance(pose, Pose)
    assert pose.bodyparts == ("snout", "tailbase")
    assert pose.columns == ("snout_x", "snout_y", "tailbase_x", "tailbase_y")
    assert pose.positions.dtype == np.float32 and pose.positions.shape == (4, 4)
    nan_equal(
        pose.positions,
        [[10, 20, 0, 20], [12, 20, 1, 20], [NAN, NAN, 2, 20], [16, 20, 3, 20]],
    )
    nan_equal(pose.likelihood, [[0.99, 0.9], [0.95, 0.9], [0.3, 0.9], [0.9, 0.9]])
    assert pose.likelihood.dtype == np.float32
    assert pose.times.tolist() == [0.0, 1.0, 2.0, 3.0] and pose.time_unit == "frame"
    assert pose.speed is None and pose.head_direction is None
    assert pose.n_frames == 4
    assert pose.metadata["scorer"] == SCORER and pose.metadata["individual"] is None


def test_h5_and_csv_agree(tmp_path: Path) -> None:
    df = single_animal(TWO_PARTS)
    a = read_deeplabcut(write(df, tmp_path, "h5"), speed=True, head_direction=("tailbase", "snout"))
    b = read_deeplabcut(
        write(df, tmp_path, "csv"), speed=True, head_direction=("tailbase", "snout")
    )
    for name in ("positions", "likelihood", "times", "speed", "head_direction"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_hdf5_suffix_and_upper_case(tmp_path: Path) -> None:
    df = single_animal(TWO_PARTS)
    for name in ("pose.hdf5", "pose.H5", "pose.CSV"):
        path = tmp_path / name
        if name.lower().endswith(".csv"):
            df.to_csv(path)
        else:
            df.to_hdf(path, key="df_with_missing")
        assert read_deeplabcut(path).positions.shape == (4, 4)


def test_likelihood_cut_off(two_parts: Path) -> None:
    kept = read_deeplabcut(two_parts, min_likelihood=0.0)
    assert np.isfinite(kept.positions).all()
    nan_equal(kept.positions[2], [50, 50, 2, 20])
    # the cut is per body part, and a likelihood equal to the cut-off is kept
    strict = read_deeplabcut(two_parts, min_likelihood=0.95)
    nan_equal(strict.positions[:, :2], [[10, 20], [12, 20], [NAN, NAN], [NAN, NAN]])
    assert np.isnan(strict.positions[:, 2:]).all()  # tailbase: 0.9 < 0.95 everywhere
    assert np.isnan(read_deeplabcut(two_parts, min_likelihood=1).positions).all()


def test_missing_likelihood_is_uncertain(tmp_path: Path) -> None:
    parts = {"snout": [(1.0, 2.0, NAN), (3.0, 4.0, 0.9)]}
    for fmt in FORMATS:
        pose = read_deeplabcut(write(single_animal(parts), tmp_path, fmt), min_likelihood=0.0)
        nan_equal(pose.positions, [[NAN, NAN], [3, 4]])


def test_bodypart_selection(two_parts: Path) -> None:
    one = read_deeplabcut(two_parts, bodyparts="tailbase")
    assert one.bodyparts == ("tailbase",) and one.columns == ("tailbase_x", "tailbase_y")
    nan_equal(one.positions, [[0, 20], [1, 20], [2, 20], [3, 20]])
    swapped = read_deeplabcut(two_parts, bodyparts=["tailbase", "snout"])
    assert swapped.bodyparts == ("tailbase", "snout")
    nan_equal(swapped.positions[:, 2:], read_deeplabcut(two_parts).positions[:, :2])
    assert swapped.likelihood[:, 1].tolist() == pytest.approx([0.99, 0.95, 0.3, 0.9])


def test_frame_numbers_and_times(tmp_path: Path) -> None:
    df = single_animal(TWO_PARTS)
    df.index = [100, 101, 102, 103]  # a file cut from a longer video keeps its frame numbers
    for fmt in FORMATS:
        path = write(df, tmp_path, fmt)
        assert read_deeplabcut(path).times.tolist() == [100, 101, 102, 103]
        pose = read_deeplabcut(path, fps=50)
        assert pose.time_unit == "s"
        np.testing.assert_allclose(pose.times, [2.0, 2.02, 2.04, 2.06])
        given = read_deeplabcut(path, frame_times=[5.0, 5.1, 5.25, 5.3])
        assert given.times.tolist() == [5.0, 5.1, 5.25, 5.3] and given.time_unit == "s"


# ---------------------------------------------------------------------------------------------
# multi-animal files


ANIMALS = {
    "mouse1": {
        "snout": [(1.0, 1.0, 0.9), (2.0, 1.0, 0.9), (3.0, 1.0, 0.1)],
        "tail": [(0.0, 1.0, 0.9), (0.0, 2.0, 0.9), (0.0, 3.0, 0.9)],
    },
    "mouse2": {
        "snout": [(9.0, 9.0, 0.9), (8.0, 9.0, 0.9), (7.0, 9.0, 0.9)],
        "tail": [(10.0, 9.0, 0.9), (10.0, 9.0, 0.2), (10.0, 9.0, 0.9)],
    },
    # DeepLabCut's unique body parts (objects of the arena) live under the individual "single"
    "single": {"corner": [(100.0, 0.0, 1.0), (100.0, 0.0, 1.0), (100.0, 0.0, 1.0)]},
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_multi_animal_individual(tmp_path: Path, fmt: str) -> None:
    path = write(multi_animal(ANIMALS), tmp_path, fmt)
    one = read_deeplabcut(path, individual="mouse1")
    assert one.bodyparts == ("snout", "tail") and one.metadata["individual"] == "mouse1"
    nan_equal(one.positions, [[1, 1, 0, 1], [2, 1, 0, 2], [NAN, NAN, 0, 3]])
    two = read_deeplabcut(path, individual="mouse2", bodyparts=["tail"])
    nan_equal(two.positions, [[10, 9], [NAN, NAN], [10, 9]])
    single = read_deeplabcut(path, individual="single")
    assert single.bodyparts == ("corner",)
    nan_equal(single.positions, [[100, 0]] * 3)


@pytest.mark.parametrize("fmt", FORMATS)
def test_multi_animal_needs_a_choice(tmp_path: Path, fmt: str) -> None:
    path = write(multi_animal(ANIMALS), tmp_path, fmt)
    with pytest.raises(ValueError, match=r"3 individuals \['mouse1', 'mouse2', 'single'\]"):
        read_deeplabcut(path)
    with pytest.raises(ValueError, match=r"'mouse3' is not in .*\['mouse1', 'mouse2', 'single'\]"):
        read_deeplabcut(path, individual="mouse3")
    with pytest.raises(ValueError, match=r"\['corner'\] are not in .*mouse1.*\['snout', 'tail'\]"):
        read_deeplabcut(path, individual="mouse1", bodyparts="corner")


@pytest.mark.parametrize("fmt", FORMATS)
def test_multi_animal_file_with_one_individual(tmp_path: Path, fmt: str) -> None:
    path = write(multi_animal({"mouse1": ANIMALS["mouse1"]}), tmp_path, fmt)
    pose = read_deeplabcut(path)
    assert pose.metadata["individual"] == "mouse1"
    nan_equal(pose.positions[0], [1, 1, 0, 1])


def test_individual_for_a_single_animal_file(two_parts: Path) -> None:
    with pytest.raises(ValueError, match="single-animal file"):
        read_deeplabcut(two_parts, individual="mouse1")


# ---------------------------------------------------------------------------------------------
# speed and head direction


@pytest.mark.parametrize("fmt", FORMATS)
def test_speed_of_a_body_part(tmp_path: Path, fmt: str) -> None:
    # x: 0, 3, 3 (y: 0, 4, 4) then 9, 9 -> steps of 5, 0, 6, 0 pixels
    parts = {"snout": [(0, 0, 1), (3, 4, 1), (3, 4, 1), (9, 4, 1), (9, 4, 1)]}
    path = write(single_animal(parts), tmp_path, fmt)
    per_frame = read_deeplabcut(path, speed="snout")
    # central differences: |p1-p0|/1, |p2-p0|/2, |p3-p1|/2, |p4-p2|/2, |p4-p3|/1
    expected = [5.0, 2.5, 3.0, 3.0, 0.0]
    assert per_frame.speed.dtype == np.float32
    np.testing.assert_allclose(per_frame.speed, expected, rtol=1e-6)
    per_second = read_deeplabcut(path, speed="snout", fps=25)
    np.testing.assert_allclose(per_second.speed, np.array(expected) * 25, rtol=1e-6)
    assert per_second.metadata["speed_from"] == "snout"
    # uneven frame times: the time between the frames used divides
    uneven = read_deeplabcut(path, speed="snout", frame_times=[0.0, 0.5, 1.0, 2.0, 2.5])
    np.testing.assert_allclose(uneven.speed, [10.0, 5.0, 4.0, 6.0 / 1.5, 0.0], rtol=1e-6)


def test_speed_nan_where_uncertain(tmp_path: Path) -> None:
    parts = {"snout": [(0, 0, 1), (1, 0, 1), (2, 0, 0.1), (3, 0, 1), (4, 0, 1), (5, 0, 1)]}
    pose = read_deeplabcut(write(single_animal(parts), tmp_path, "csv"), speed="snout")
    # frame 2 is uncertain: its own speed and those of its neighbours (which use it) are NaN
    nan_equal(pose.speed, [1, NAN, NAN, NAN, 1, 1])


def test_speed_of_the_mean_position(two_parts: Path) -> None:
    pose = read_deeplabcut(two_parts, speed=True)
    # mean of snout and tailbase: (5, 20), (6.5, 20), NaN (snout uncertain), (9.5, 20)
    nan_equal(pose.speed, [1.5, NAN, NAN, NAN])
    assert pose.metadata["speed_from"] == ["snout", "tailbase"]
    # with the cut-off off, every frame counts: x means 5, 6.5, 26, 9.5 (y 20, 20, 35, 20)
    loose = read_deeplabcut(two_parts, speed=True, min_likelihood=0)
    expected = [
        1.5,
        math.hypot(26 - 5, 15) / 2,
        math.hypot(9.5 - 6.5, 0) / 2,
        math.hypot(9.5 - 26, -15),
    ]
    np.testing.assert_allclose(loose.speed, expected, rtol=1e-6)
    only_tail = read_deeplabcut(two_parts, bodyparts="tailbase", speed=True, fps=10)
    np.testing.assert_allclose(only_tail.speed, [10, 10, 10, 10], rtol=1e-6)


def test_speed_of_a_single_frame(tmp_path: Path) -> None:
    pose = read_deeplabcut(
        write(single_animal({"snout": [(1, 2, 1)]}), tmp_path, "csv"), speed="snout"
    )
    assert pose.speed.shape == (1,) and np.isnan(pose.speed[0])


@pytest.mark.parametrize("fmt", FORMATS)
def test_head_direction(tmp_path: Path, fmt: str) -> None:
    parts = {
        # tail at the origin; the head east, south (y down in the image), west, north, north-east
        "tail": [(0, 0, 1), (0, 0, 1), (0, 0, 1), (0, 0, 1), (0, 0, 1), (0, 0, 0.1)],
        "head": [(2, 0, 1), (0, 2, 1), (-2, 0, 1), (0, -2, 1), (1, 1, 0.2), (1, 1, 1)],
        "ear": [(5, 5, 1)] * 6,
    }
    path = write(single_animal(parts), tmp_path, fmt)
    # the parts of head_direction need not be among bodyparts
    pose = read_deeplabcut(path, bodyparts="ear", head_direction=("tail", "head"))
    assert pose.bodyparts == ("ear",) and pose.head_direction.dtype == np.float32
    expected = [0.0, math.pi / 2, math.pi, -math.pi / 2, NAN, NAN]  # either part uncertain: NaN
    nan_equal(pose.head_direction, expected)
    assert pose.head_direction[2] > 0  # west is +pi, never -pi
    assert pose.metadata["head_direction_from"] == ("tail", "head")
    reverse = read_deeplabcut(path, head_direction=["head", "tail"])
    nan_equal(reverse.head_direction[:2], [math.pi, -math.pi / 2])


# ---------------------------------------------------------------------------------------------
# tables and behaviour arrays


def test_to_dataframe_and_behaviour(two_parts: Path) -> None:
    pose = read_deeplabcut(
        two_parts, fps=10, speed="tailbase", head_direction=("tailbase", "snout")
    )
    table = pose.to_dataframe()
    assert table.columns.tolist() == [
        "snout_x",
        "snout_y",
        "tailbase_x",
        "tailbase_y",
        "speed",
        "head_direction",
    ]
    assert table.index.name == "time" and table.index.tolist() == pytest.approx([0, 0.1, 0.2, 0.3])
    assert (table.dtypes == np.float32).all()
    both = pose.to_dataframe(angles="cos_sin")
    assert both.columns[-2:].tolist() == ["head_direction_cos", "head_direction_sin"]
    nan_equal(both["head_direction_cos"], [1, 1, NAN, 1])
    behaviour = pose.to_behaviour()
    assert behaviour.dtype == np.float32 and behaviour.shape == (4, 7)
    nan_equal(behaviour, both.to_numpy())
    assert read_deeplabcut(two_parts).to_dataframe().index.name == "frame"
    with pytest.raises(ValueError, match="angles must be 'radians' or 'cos_sin'; got 'degrees'"):
        pose.to_dataframe(angles="degrees")


# ---------------------------------------------------------------------------------------------
# resampling


def reference_interpolate(v: np.ndarray, t: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Loop reference: linear between the frames around each bin, NaN across gaps and outside."""
    out = np.full(len(bins), np.nan)
    for i, b in enumerate(bins):
        for j in range(len(t)):
            if t[j] == b:
                out[i] = v[j]
                break
            if j + 1 < len(t) and t[j] < b < t[j + 1]:
                w = (b - t[j]) / (t[j + 1] - t[j])
                out[i] = (1 - w) * v[j] + w * v[j + 1]  # NaN if either is NaN
                break
    return out


def reference_mean(v: np.ndarray, t: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Loop reference: mean of the finite frames between the half-way points around each bin."""
    out = np.full(len(bins), np.nan)
    for i in range(len(bins)):
        lo = (bins[i - 1] + bins[i]) / 2 if i > 0 else bins[0] - (bins[1] - bins[0]) / 2
        hi = (
            (bins[i] + bins[i + 1]) / 2
            if i + 1 < len(bins)
            else bins[-1] + (bins[-1] - bins[-2]) / 2
        )
        inside = [v[j] for j in range(len(t)) if lo <= t[j] < hi and np.isfinite(v[j])]
        if inside:
            out[i] = sum(inside) / len(inside)
    return out


def test_interpolate_by_hand() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    x = np.array([0.0, 10.0, 20.0, np.nan, 40.0])
    bins = [-0.5, 0.0, 0.25, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5]
    out = resample_behaviour(x, t, bins)
    # before the first frame and after the last: NaN; across the NaN frame 3: NaN; on frame 2: its value
    nan_equal(out, [NAN, 0, 2.5, 15, 20, NAN, NAN, NAN, 40, NAN])
    assert out.dtype == np.float64
    assert resample_behaviour(x.astype(np.float32), t, bins).dtype == np.float32
    assert resample_behaviour(np.arange(5), t, [0.5]).tolist() == [0.5]  # integers give floats


def test_mean_by_hand() -> None:
    t = np.arange(10) * 0.1  # frames at 10 Hz
    x = np.array([1.0, 2.0, 3.0, np.nan, np.nan, np.nan, np.nan, 7.0, np.nan, 9.0])
    # bins of 0.4 s centred at 0.1, 0.5, 0.9: [-0.1, 0.3), [0.3, 0.7), [0.7, 1.1)
    out = resample_behaviour(x, t, [0.1, 0.5, 0.9], method="mean")
    nan_equal(out, [2.0, NAN, 8.0])  # the middle bin's frames are all NaN
    # bins beyond the frames are empty: NaN
    nan_equal(resample_behaviour(x, t, [0.1, 5.0], method="mean")[1:], [NAN])


def test_resampling_matches_loop_references() -> None:
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.02, 0.05, size=200))
    v = rng.normal(size=(200, 3))
    v[rng.random(v.shape) < 0.15] = np.nan
    v[50:70, 1] = np.nan  # a long gap in one column only
    fine = np.sort(rng.uniform(t[0] - 0.2, t[-1] + 0.2, size=300))
    fine = np.unique(np.concatenate([fine, t[::17]]))  # some bins exactly on frames
    coarse = np.arange(t[0], t[-1], 0.13)
    got = resample_behaviour(v, t, fine)
    for j in range(3):
        nan_equal(got[:, j], reference_interpolate(v[:, j], t, fine))
    got = resample_behaviour(v, t, coarse, method="mean")
    for j in range(3):
        nan_equal(got[:, j], reference_mean(v[:, j], t, coarse))
    assert np.isnan(resample_behaviour(v, t, coarse, method="mean")[:, 1]).any()


def test_angles_resample_on_the_circle() -> None:
    t = [0.0, 1.0, 2.0, 3.0]
    angle = np.radians([170.0, -170.0, 90.0, np.nan])
    out = np.degrees(resample_behaviour(angle, t, [0.5, 1.5, 2.5], angular=True))
    # 170 -> -170 passes through 180 (a linear interpolation would give 0)
    assert out[0] == pytest.approx(180.0) and out[0] > 0
    # halfway from -170 to 90 degrees: the direction of the mean of the two unit vectors
    cos = 0.5 * math.cos(math.radians(-170)) + 0.5 * math.cos(math.radians(90))
    sin = 0.5 * math.sin(math.radians(-170)) + 0.5 * math.sin(math.radians(90))
    assert out[1] == pytest.approx(math.degrees(math.atan2(sin, cos)))
    assert np.isnan(out[2])  # next to the NaN frame
    mean = np.degrees(resample_behaviour(angle, t, [0.5, 2.5], method="mean", angular=True))
    assert mean[0] == pytest.approx(180.0)  # circular mean of 170 and -170
    assert mean[1] == pytest.approx(90.0)  # the NaN frame is left out
    opposite = resample_behaviour(np.array([0.0, math.pi]), [0.0, 1.0], [0.5], angular=True)
    assert np.isnan(opposite[0])  # no direction halfway between opposite ones
    # facing exactly west stays +pi, also in float32 (where sin(float32(pi)) is slightly negative)
    west = resample_behaviour(np.full(3, np.pi, np.float32), [0, 1, 2], [0.5, 1.5], angular=True)
    assert west.dtype == np.float32 and west.tolist() == [np.float32(np.pi)] * 2
    west = resample_behaviour(
        np.full(3, -np.pi), [0, 1, 2], [0.5, 1.5], method="mean", angular=True
    )
    assert west.tolist() == [np.pi] * 2


def test_pose_resample(tmp_path: Path) -> None:
    parts = {
        "tail": [(0, 0, 1)] * 5,
        "head": [(1, 0.01, 1), (-1, 0.01, 1), (-1, -0.01, 1), (0, 1, 0.1), (1, 0, 1)],
    }
    path = write(single_animal(parts), tmp_path, "h5")
    pose = read_deeplabcut(path, fps=10, speed="tail", head_direction=("tail", "head"))
    bins = np.array([0.15, 0.2, 0.25, 0.35])
    on_bins = pose.resample(bins)
    assert on_bins.times.tolist() == bins.tolist() and on_bins.time_unit == "s"
    assert on_bins.positions.dtype == np.float32 and on_bins.positions.shape == (4, 4)
    nan_equal(on_bins.positions[:, 2], [-1, -1, NAN, NAN])  # head x; frame 3 (0.3 s) uncertain
    nan_equal(on_bins.speed, [0, 0, 0, 0])
    # head direction from about +180 and -180 degrees: +-180, not 0
    assert abs(np.degrees(on_bins.head_direction[0])) == pytest.approx(180.0, abs=1.0)
    assert np.isnan(on_bins.head_direction[2:]).all()
    assert on_bins.likelihood[0].tolist() == pytest.approx([1, 1])
    assert on_bins.metadata["resampled"] == "interpolate"
    coarse = pose.resample([0.05, 0.25], method="mean")
    nan_equal(coarse.positions[:, 2], [0, -1])  # frames 0 and 1: (1 - 1) / 2; frame 2 (3 uncertain)
    assert pose.positions.shape == (5, 4)  # the original is unchanged (frozen)
    plain = read_deeplabcut(path).resample([0.5, 1.5])  # no speed, no head direction; frame units
    assert plain.speed is None and plain.head_direction is None and plain.time_unit == "frame"
    nan_equal(plain.positions[:, 2], [0, -1])
    with pytest.raises(ValueError, match="bin_times must be strictly increasing"):
        pose.resample([0.2, 0.1])
    with pytest.raises(ValueError, match="method must be 'interpolate' or 'mean'; got 'max'"):
        pose.resample([0.1, 0.2], method="max")


def test_resample_errors() -> None:
    t = [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="method must be 'interpolate' or 'mean'; got 'nearest'"):
        resample_behaviour([1, 2, 3], t, [0.5], method="nearest")
    with pytest.raises(ValueError, match="values has 2 rows but times has 3 entries"):
        resample_behaviour([1, 2], t, [0.5])
    with pytest.raises(ValueError, match=r"values must be 1-D .* got shape \(3, 1, 1\)"):
        resample_behaviour(np.zeros((3, 1, 1)), t, [0.5])
    with pytest.raises(ValueError, match=r"times must be strictly increasing; entry 2"):
        resample_behaviour([1, 2, 3], [0.0, 1.0, 1.0], [0.5])
    with pytest.raises(ValueError, match="bin_times must be strictly increasing"):
        resample_behaviour([1, 2, 3], t, [0.5, 0.2])
    with pytest.raises(ValueError, match="bin_times contains NaN"):
        resample_behaviour([1, 2, 3], t, [0.5, np.nan])
    with pytest.raises(ValueError, match="bin_times must be a non-empty 1-D array"):
        resample_behaviour([1, 2, 3], t, [])
    with pytest.raises(ValueError, match="method='mean' needs at least 2 bin times"):
        resample_behaviour([1, 2, 3], t, [0.5], method="mean")
    with pytest.raises(TypeError, match="values must be a numeric array"):
        resample_behaviour(["a", "b", "c"], t, [0.5])
    with pytest.raises(TypeError, match="values must be a numeric array"):
        resample_behaviour(None, t, [0.5])
    with pytest.raises(TypeError, match="times must be a 1-D array of times"):
        resample_behaviour([1, 2, 3], "abc", [0.5])
    with pytest.raises(TypeError, match="angular must be True or False"):
        resample_behaviour([1, 2, 3], t, [0.5], angular="yes")


# ---------------------------------------------------------------------------------------------
# errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="DeepLabCut file not found: .*nothere.h5"):
        read_deeplabcut(tmp_path / "nothere.h5")
    with pytest.raises(ValueError, match="is not a file; expected a DeepLabCut .h5 or .csv file"):
        read_deeplabcut(tmp_path)


def test_wrong_extension(tmp_path: Path) -> None:
    path = tmp_path / "pose.pickle"
    single_animal(TWO_PARTS).to_pickle(path)
    with pytest.raises(ValueError, match=r"extension '.pickle'; expected .* .h5 .* or .csv"):
        read_deeplabcut(path)


@pytest.mark.parametrize(
    ("bad", "error", "pattern"),
    [
        (3, TypeError, "path must be a file path"),
        (None, TypeError, "path must be a file path"),
    ],
)
def test_path_type(bad: object, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        read_deeplabcut(bad)  # type: ignore[arg-type]


def test_csv_not_in_dlc_layout(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]}).to_csv(plain)
    with pytest.raises(
        ValueError, match=r"not in DeepLabCut's .csv layout.*start with \['', '0', '1'\]"
    ):
        read_deeplabcut(plain)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="not in DeepLabCut's .csv layout"):
        read_deeplabcut(empty)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(ValueError, match="could not be read as a DeepLabCut .csv file"):
        read_deeplabcut(binary)


def test_csv_with_words_for_numbers(tmp_path: Path) -> None:
    path = write(single_animal(TWO_PARTS), tmp_path, "csv")
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace("12.0", "twelve", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="not numbers in the columns of body part 'snout'"):
        read_deeplabcut(path)
    assert read_deeplabcut(path, bodyparts="tailbase").positions.shape == (4, 2)


def test_labelled_frames_are_not_a_video(tmp_path: Path) -> None:
    df = single_animal(TWO_PARTS)
    df.index = [f"labeled-data/video/img{i:03d}.png" for i in range(4)]
    path = write(df, tmp_path, "csv", stem="CollectedData_me")
    with pytest.raises(ValueError, match="its index should be frame numbers"):
        read_deeplabcut(path)


def test_h5_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "broken.h5"
    path.write_bytes(b"this is not HDF5 at all")
    with pytest.raises(ValueError, match="not a DeepLabCut .h5 file: it is not HDF5"):
        read_deeplabcut(path)
    truncated = tmp_path / "truncated.h5"
    write(single_animal(TWO_PARTS), tmp_path, "h5", stem="whole")
    truncated.write_bytes((tmp_path / "whole.h5").read_bytes()[:2000])
    with pytest.raises(ValueError, match=r"truncated.h5' could not be read .*\(\w+: \w"):
        read_deeplabcut(truncated)


def test_h5_without_a_pandas_table(tmp_path: Path) -> None:
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(
        ValueError, match="expected one pandas table under the key 'df_with_missing'"
    ):
        read_deeplabcut(path)
    two = tmp_path / "two.h5"
    pd.DataFrame({"a": [1.0]}).to_hdf(two, key="first")
    pd.DataFrame({"a": [1.0]}).to_hdf(two, key="second")
    with pytest.raises(ValueError, match=r"it holds \['/first', '/second'\]"):
        read_deeplabcut(two)


def test_h5_other_table(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    pd.DataFrame({"speed": [1.0, 2.0]}).to_hdf(path, key="df_with_missing")
    with pytest.raises(
        ValueError, match=r"not in DeepLabCut's layout.*got plain columns \['speed'\]"
    ):
        read_deeplabcut(path)
    series = tmp_path / "series.h5"
    pd.Series([1.0, 2.0]).to_hdf(series, key="df_with_missing")
    with pytest.raises(ValueError, match="it holds a Series, expected a DataFrame"):
        read_deeplabcut(series)


@pytest.mark.parametrize("fmt", FORMATS)
def test_layout_errors(tmp_path: Path, fmt: str) -> None:
    df = single_animal(TWO_PARTS)
    renamed = df.copy()
    renamed.columns = renamed.columns.set_names(["scorer", "parts", "coords"])
    if fmt == "h5":
        with pytest.raises(ValueError, match=r"expected columns with the levels"):
            read_deeplabcut(write(renamed, tmp_path, fmt, stem="renamed"))
    else:
        with pytest.raises(ValueError, match=r"header rows should start with scorer, bodyparts"):
            read_deeplabcut(write(renamed, tmp_path, fmt, stem="renamed"))

    three_d = df.copy()
    three_d.columns = pd.MultiIndex.from_tuples(
        [(s, b, {"likelihood": "z"}.get(c, c)) for s, b, c in df.columns], names=df.columns.names
    )
    with pytest.raises(ValueError, match=r"3-D poses \(coords \['x', 'y', 'z'\]\)"):
        read_deeplabcut(write(three_d, tmp_path, fmt, stem="three_d"))

    no_likelihood = df.drop(columns="likelihood", level="coords")
    with pytest.raises(ValueError, match=r"expected coords x, y and likelihood; got \['x', 'y'\]"):
        read_deeplabcut(write(no_likelihood, tmp_path, fmt, stem="no_likelihood"))

    partial = df.drop(columns=[(SCORER, "tailbase", "likelihood")])
    with pytest.raises(
        ValueError, match=r"lacks the coords \['likelihood'\] of body part 'tailbase'"
    ):
        read_deeplabcut(write(partial, tmp_path, fmt, stem="partial"))
    assert read_deeplabcut(write(partial, tmp_path, fmt, stem="partial"), bodyparts="snout")

    scorers = pd.concat(
        [df, single_animal({"ear": TWO_PARTS["snout"]}).rename(columns={SCORER: "other"})], axis=1
    )
    with pytest.raises(ValueError, match=rf"2 scorers \['{SCORER}', 'other'\]; expected one"):
        read_deeplabcut(write(scorers, tmp_path, fmt, stem="scorers"))

    empty = df.iloc[:0]
    with pytest.raises(ValueError, match="empty.(h5|csv)' holds no frames"):
        read_deeplabcut(write(empty, tmp_path, fmt, stem="empty"))


def test_unknown_body_parts(two_parts: Path) -> None:
    available = r"available body parts: \['snout', 'tailbase'\]"
    with pytest.raises(ValueError, match=rf"bodyparts: body part\(s\) \['nose'\] .*{available}"):
        read_deeplabcut(two_parts, bodyparts=["snout", "nose"])
    with pytest.raises(ValueError, match=rf"speed: body part\(s\) \['nose'\] .*{available}"):
        read_deeplabcut(two_parts, speed="nose")
    with pytest.raises(
        ValueError, match=rf"head_direction: body part\(s\) \['tail'\] .*{available}"
    ):
        read_deeplabcut(two_parts, head_direction=("tail", "snout"))


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"bodyparts": []}, ValueError, "bodyparts is empty"),
        ({"bodyparts": ["snout", "snout"]}, ValueError, r"names \['snout'\] more than once"),
        ({"bodyparts": ["snout", 3]}, TypeError, r"must hold body part names \(str\); got \[3\]"),
        ({"bodyparts": 3}, TypeError, "bodyparts must be a body part name or a list"),
        ({"min_likelihood": 1.5}, ValueError, r"min_likelihood must be in \[0, 1\]; got 1.5"),
        ({"min_likelihood": -0.1}, ValueError, r"min_likelihood must be in \[0, 1\]"),
        ({"min_likelihood": "high"}, TypeError, "min_likelihood must be a number"),
        ({"min_likelihood": True}, TypeError, "min_likelihood must be a number"),
        ({"individual": 1}, TypeError, "individual must be a name"),
        ({"fps": 0}, ValueError, "fps must be a finite number above 0; got 0"),
        ({"fps": float("inf")}, ValueError, "fps must be a finite number above 0"),
        ({"fps": "30"}, TypeError, "fps must be a number; got str"),
        ({"fps": 30, "frame_times": [0, 1, 2, 3]}, ValueError, "give fps or frame_times, not both"),
        ({"frame_times": [0, 1, 2]}, ValueError, "frame_times has 3 entries but .* has 4 frames"),
        ({"frame_times": [0, 1, 1, 2]}, ValueError, "frame_times must be strictly increasing"),
        ({"speed": 1}, TypeError, "speed must be True, False or a body part name; got int"),
        ({"head_direction": "snout"}, TypeError, "head_direction must be a pair of body part"),
        ({"head_direction": ("a", "b", "c")}, TypeError, "head_direction must be a pair"),
    ],
)
def test_bad_arguments(two_parts: Path, kwargs: dict, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        read_deeplabcut(two_parts, **kwargs)


def test_frame_numbers_must_increase(tmp_path: Path) -> None:
    df = single_animal(TWO_PARTS)
    df.index = [0, 2, 1, 3]
    with pytest.raises(ValueError, match="frame numbers of .* are not strictly increasing"):
        read_deeplabcut(write(df, tmp_path, "csv"))
    # with frame_times, those times order the frames
    assert read_deeplabcut(write(df, tmp_path, "csv"), frame_times=[0, 1, 2, 3]).n_frames == 4


def test_h5_without_pytables(two_parts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tables", None)  # as if PyTables were not installed
    if two_parts.suffix == ".h5":
        with pytest.raises(ImportError, match=r'pip install "neuroembed\[deeplabcut\]"'):
            read_deeplabcut(two_parts)
    else:  # .csv files need no PyTables
        assert read_deeplabcut(two_parts).n_frames == 4

"""neuroembed.io.tables: DataFrames into Recordings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroembed.io import from_dataframe
from neuroembed.recording import Recording


@pytest.fixture
def df() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "unit_0": rng.poisson(1.0, 20),
            "unit_1": rng.poisson(1.0, 20),
            "unit_2": rng.poisson(1.0, 20),
            "x": rng.normal(size=20),
            "y": rng.normal(size=20),
            "side": rng.choice(["left", "right", "centre"], 20),
            "trial": np.repeat([3, 7], 10),
            "t": np.arange(20) * 0.05,
        }
    )


def test_prefix_list_and_exact_columns(df: pd.DataFrame) -> None:
    rec = from_dataframe(df, neural="unit_", behaviour=["x", "y"], labels="trial", time="t")
    assert isinstance(rec, Recording)
    np.testing.assert_array_equal(rec.neural, df[["unit_0", "unit_1", "unit_2"]].to_numpy())
    np.testing.assert_allclose(rec.behaviour, df[["x", "y"]].to_numpy(), rtol=1e-6)
    assert rec.labels.tolist() == df["trial"].tolist() and rec.labels.dtype == np.int64
    np.testing.assert_array_equal(rec.timestamps, df["t"].to_numpy())
    assert rec.metadata["neural"] == ["unit_0", "unit_1", "unit_2"]
    assert from_dataframe(df, neural="unit_1").neural.shape == (
        20,
        1,
    )  # an exact name wins over a prefix


def test_string_and_categorical_labels(df: pd.DataFrame) -> None:
    rec = from_dataframe(df, neural="unit_", labels="side")
    assert rec.metadata["label_names"] == ["centre", "left", "right"]
    names = np.array(rec.metadata["label_names"])
    assert names[rec.labels].tolist() == df["side"].tolist()
    df["side_cat"] = pd.Categorical(df["side"], categories=["right", "left", "centre"])
    rec = from_dataframe(df, neural="unit_", labels="side_cat")
    assert rec.metadata["label_names"] == ["right", "left", "centre"]
    assert np.array(rec.metadata["label_names"])[rec.labels].tolist() == df["side"].tolist()


def test_time_from_index_timedelta_and_datetime(df: pd.DataFrame) -> None:
    indexed = df.set_index(pd.to_timedelta(df["t"], unit="s"))
    np.testing.assert_allclose(
        from_dataframe(indexed, neural="unit_", time="index").timestamps, df["t"]
    )
    df["clock"] = pd.Timestamp("2024-01-01 12:00") + pd.to_timedelta(df["t"] + 1.0, unit="s")
    np.testing.assert_allclose(from_dataframe(df, neural="unit_", time="clock").timestamps, df["t"])


def test_multiindex_columns() -> None:
    columns = pd.MultiIndex.from_product([["neural"], [0, 1, 2]]).append(
        pd.MultiIndex.from_tuples([("pos", "x")])
    )
    frame = pd.DataFrame(np.arange(20.0).reshape(5, 4), columns=columns)
    rec = from_dataframe(frame, neural="neural", behaviour="pos")
    np.testing.assert_array_equal(rec.neural, np.arange(20.0).reshape(5, 4)[:, :3])
    np.testing.assert_array_equal(rec.behaviour[:, 0], np.arange(3.0, 20.0, 4))


def test_errors(df: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="neither a column nor the prefix"):
        from_dataframe(df, neural="cell_")
    with pytest.raises(ValueError, match=r"columns \['z'\] are not in the DataFrame"):
        from_dataframe(df, neural="unit_", behaviour=["x", "z"])
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        from_dataframe(df.to_numpy(), neural="unit_")
    with pytest.raises(TypeError, match="must hold real numbers|must hold numbers"):
        from_dataframe(df, neural=["unit_0", "side"])
    with pytest.raises(ValueError, match="time='when' is neither a column nor 'index'"):
        from_dataframe(df, neural="unit_", time="when")
    df.loc[3, "x"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        from_dataframe(df, neural="unit_", behaviour="x")
    df.loc[2, "side"] = None
    with pytest.raises(ValueError, match="missing values"):
        from_dataframe(df, neural="unit_", labels="side")
    # unhashable names: was TypeError: unhashable type: 'list'
    with pytest.raises(ValueError, match=r"labels=\['side'\] is not a column"):
        from_dataframe(df, neural="unit_", labels=["side"])
    with pytest.raises(ValueError, match=r"time=\['t'\] is neither a column nor 'index'"):
        from_dataframe(df, neural="unit_", time=["t"])


def test_categorical_labels_with_missing_values_are_refused(df: pd.DataFrame) -> None:
    # a missing category used to become label -1 without a word, where missing text is refused
    df["side_cat"] = pd.Categorical(df["side"])
    df.loc[2, "side_cat"] = None
    with pytest.raises(ValueError, match="'side_cat' has missing values in 1 row"):
        from_dataframe(df, neural="unit_", labels="side_cat")

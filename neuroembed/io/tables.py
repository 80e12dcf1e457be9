"""Recordings from pandas DataFrames: one row per time sample, columns for neurons and behaviour."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from neuroembed._validation import check_continuous, check_discrete, check_neural, describe
from neuroembed.recording import Recording

__all__ = ["from_dataframe"]


def _columns(df: pd.DataFrame, spec: str | Sequence[Any], role: str) -> list[Any]:
    """Columns that ``spec`` names: a list of columns, one column, a top-level key of MultiIndex columns, or a prefix."""
    if isinstance(spec, str):
        if isinstance(df.columns, pd.MultiIndex) and spec in df.columns.get_level_values(0):
            return [c for c in df.columns if c[0] == spec]
        if spec in df.columns:
            return [spec]
        chosen = [c for c in df.columns if isinstance(c, str) and c.startswith(spec)]
        if not chosen:
            raise ValueError(
                f"{role}={spec!r} is neither a column nor the prefix of any column; columns: {list(df.columns)[:30]}."
            )
        return chosen
    if isinstance(spec, Sequence) and not isinstance(spec, (bytes, bytearray)):
        columns = list(spec)
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ValueError(
                f"{role} columns {missing} are not in the DataFrame; columns: {list(df.columns)[:30]}."
            )
        if not columns:
            raise ValueError(f"{role} is an empty list of columns.")
        return columns
    raise TypeError(
        f"{role} must be a column name, a prefix or a list of columns; got {describe(spec)}."
    )


def _seconds(values: pd.Series | pd.Index, role: str) -> np.ndarray:
    """Times in seconds from numbers, timedeltas or datetimes (the latter relative to the first)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        delta = pd.to_datetime(values) - pd.to_datetime(values).min()
        return np.asarray(delta / pd.Timedelta(seconds=1), dtype=np.float64)
    if pd.api.types.is_timedelta64_dtype(values):
        return np.asarray(pd.to_timedelta(values) / pd.Timedelta(seconds=1), dtype=np.float64)
    if not pd.api.types.is_numeric_dtype(values):
        raise TypeError(
            f"{role} must hold numbers (seconds), timedeltas or datetimes; got dtype {values.dtype}."
        )
    return np.asarray(values, dtype=np.float64)


def from_dataframe(
    df: pd.DataFrame,
    neural: str | Sequence[Any],
    behaviour: str | Sequence[Any] | None = None,
    labels: Any = None,
    time: Any = None,
) -> Recording:
    """Build a recording from a DataFrame with one row per time sample.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    neural : str or list of columns
        The neural columns: a list of column names, one column name, a top-level key of MultiIndex
        columns (``df["neural"]``) or a prefix (``"unit_"`` takes ``unit_0``, ``unit_1``, ...). An exact
        column name wins over a prefix.
    behaviour : str or list of columns, optional
        The continuous behaviour columns, named the same ways.
    labels : column name, optional
        A column of discrete labels. Integers and booleans are kept; strings and categoricals become codes
        ``0..k-1`` in sorted (or categorical) order, named in ``metadata["label_names"]``.
    time : column name or "index", optional
        Where the sample times are: a column or the index (``"index"``), in seconds, as timedeltas, or as
        datetimes (converted to seconds since the first row). Without it, timestamps are None.

    Returns
    -------
    Recording

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"unit_0": [0, 1, 2], "unit_1": [1, 0, 0], "x": [0.0, 0.5, 1.0],
    ...                    "side": ["left", "right", "left"], "t": [0.0, 0.1, 0.2]})
    >>> rec = from_dataframe(df, neural="unit_", behaviour="x", labels="side", time="t")
    >>> rec.neural.tolist(), rec.labels.tolist(), rec.metadata["label_names"]
    ([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0]], [0, 1, 0], ['left', 'right'])
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame; got {describe(df)}.")
    neural_columns = _columns(df, neural, "neural")
    X = check_neural(df[neural_columns], "neural columns")
    n = X.shape[0]
    metadata: dict[str, Any] = {"source": "DataFrame", "neural": neural_columns}

    B = None
    if behaviour is not None:
        behaviour_columns = _columns(df, behaviour, "behaviour")
        B = check_continuous(df[behaviour_columns], n, "behaviour columns")
        metadata["behaviour"] = behaviour_columns

    L = None
    if labels is not None:
        if not isinstance(labels, Hashable) or labels not in df.columns:
            raise ValueError(
                f"labels={labels!r} is not a column; columns: {list(df.columns)[:30]}."
            )
        column = df[labels]
        # missing text or categories (missing numbers are NaN, refused by check_discrete below)
        if column.dtype.kind not in "biuf" and column.isna().any():
            raise ValueError(
                f"labels column {labels!r} has missing values in {int(column.isna().sum())} row(s); expected one "
                "label per row."
            )
        if isinstance(column.dtype, pd.CategoricalDtype):
            L = check_discrete(column.cat.codes.to_numpy(), n, f"labels column {labels!r}")
            metadata["label_names"] = list(column.cat.categories)
        elif pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            L = check_discrete(column.to_numpy(), n, f"labels column {labels!r}")
        else:
            names, codes = np.unique(column.astype(str).to_numpy(), return_inverse=True)
            L = check_discrete(codes, n, f"labels column {labels!r}")
            metadata["label_names"] = names.tolist()
        metadata["labels"] = labels

    T = None
    if time is not None:
        if isinstance(time, str) and time == "index" and "index" not in df.columns:
            T = _seconds(df.index, "the index")
        elif isinstance(time, Hashable) and time in df.columns:
            T = _seconds(df[time], f"time column {time!r}")
        else:
            raise ValueError(
                f"time={time!r} is neither a column nor 'index'; columns: {list(df.columns)[:30]}."
            )
        if not np.all(np.isfinite(T)):
            raise ValueError("the times contain NaN or infinite values.")
        metadata["time"] = time
    return Recording(neural=X, behaviour=B, labels=L, timestamps=T, metadata=metadata)

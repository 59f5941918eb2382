"""What the model sees: its input columns (from the one Contract) and how they become model columns.

Features are the contract columns with ``feature: true``, minus key, target and ``train.drop_columns``
(:meth:`Contract.features`). :func:`derive` is the first step of every strata Pipeline (see
strata.model.pipeline), so a loaded model alone knows which columns to read and how to cast them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strata.contract.spec import TEXT, arrow_type
from strata.errors import ConfigError, SchemaError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from strata.contract.spec import Contract

NUMERIC_TYPES = ("float", "int", "bool")
TEXT_TYPES = TEXT


def input_columns(contract: Contract, drop: Sequence[str] = ()) -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, contract type, allowed values) of every model input, in contract order."""
    unknown = [name for name in drop if name not in contract.columns]
    if unknown:
        raise ConfigError(f"train.drop_columns: '{unknown[0]}' is not a contract column")
    if not contract.features(drop):
        offered = ", ".join(contract.features())
        raise ConfigError(f"train.drop_columns: drops every feature ({offered}); keep at least one")
    return [
        (name, contract.columns[name].type, contract.columns[name].values) for name in contract.features(drop)
    ]


def check_ratios(columns: Sequence[Sequence[Any]], ratios: Sequence[Sequence[str]]) -> None:
    """train.ratios: pairs of numeric model inputs (after drop_columns)."""
    numeric = [name for name, ctype, *_ in columns if ctype in ("float", "int")]
    for i, pair in enumerate(ratios):
        if len(pair) != 2:
            raise ConfigError(f"train.ratios[{i}]: expected [numerator, denominator], got {list(pair)}")
        wrong = [name for name in pair if name not in numeric]
        if wrong:
            raise ConfigError(
                f"train.ratios[{i}]: '{wrong[0]}' is not a numeric model input ({', '.join(numeric)}); "
                "ratios name columns of your contract ([] for none)"
            )


def ratio_name(pair: Sequence[str]) -> str:
    return f"{pair[0]}_per_{pair[1]}"


def derive(
    frame: pd.DataFrame, columns: Sequence[Sequence[Any]], ratios: Sequence[Sequence[str]] = ()
) -> pd.DataFrame:
    """Contract-typed columns -> model columns (first Pipeline step, so the model file carries it).

    Timestamps become hour of day (UTC, with its fraction; trees split on it) and its sin and cos (for
    linear models) and the day of the week; bools become 0/1 floats with NaN; numbers become float64 with
    NaN; strings/categories become object arrays with NaN for missing. Each ``ratios`` pair [a, b] adds
    a_per_b (NaN when either is missing or b is 0): a domain expert's feature (train.ratios), one split of
    a tree instead of a staircase over both readings.
    """
    import numpy as np
    import pandas as pd

    out: dict[str, Any] = {}
    for name, ctype, *_ in columns:
        series = frame[name]
        if ctype == "timestamp":
            ts = pd.to_datetime(series, utc=True)
            hours = ts.dt.hour + ts.dt.minute / 60 + ts.dt.second / 3600
            dow = ts.dt.day_of_week.to_numpy(dtype=float, na_value=np.nan)
            out.update(time_columns(name, hours.to_numpy(dtype=float, na_value=np.nan), dow))
        elif ctype == "bool":
            out[name] = series.astype("boolean").to_numpy(dtype=float, na_value=np.nan)
        elif ctype in NUMERIC_TYPES:
            out[name] = pd.to_numeric(series).to_numpy(dtype=float, na_value=np.nan)
        else:
            values = series.astype(object)
            out[name] = values.where(series.notna(), np.nan).to_numpy(dtype=object)
    add_ratios(out, ratios)
    return pd.DataFrame(out, index=frame.index)


def time_columns(name: str, hours: np.ndarray, dow: np.ndarray) -> dict[str, np.ndarray]:
    """A timestamp's model columns from its hour of day (with fraction) and day of week, float64 with NaN;
    shared by :func:`derive` (pandas) and strata.serving.fast (Arrow), so both compute the same floats."""
    import numpy as np

    angle = (2 * math.pi / 24) * hours
    return {
        f"{name}__hour": hours,
        f"{name}__hour_sin": np.sin(angle),
        f"{name}__hour_cos": np.cos(angle),
        f"{name}__dow": dow,
    }


def add_ratios(out: dict[str, Any], ratios: Sequence[Sequence[str]]) -> None:
    """Each [a, b] of ``ratios`` adds a_per_b to ``out``: NaN when either is missing or b is 0."""
    import numpy as np

    for top, bottom in ratios:
        with np.errstate(divide="ignore", invalid="ignore"):
            quotient = out[top] / out[bottom]
        out[ratio_name((top, bottom))] = np.where(np.isfinite(quotient), quotient, np.nan)


def derived_names(
    columns: Sequence[Sequence[Any]], ratios: Sequence[Sequence[str]] = ()
) -> tuple[list[str], list[str]]:
    """(text, numeric) column names that :func:`derive` produces."""
    text, numeric = [], []
    for name, ctype, *_ in columns:
        if ctype == "timestamp":
            numeric += [f"{name}__hour", f"{name}__hour_sin", f"{name}__hour_cos", f"{name}__dow"]
        elif ctype in TEXT_TYPES:
            text.append(name)
        else:
            numeric.append(name)
    return text, numeric + [ratio_name(pair) for pair in ratios]


def model_inputs(model: Any) -> list[tuple[str, str]]:
    """(name, contract type) of the columns a fitted strata Pipeline reads."""
    return [(name, ctype) for name, ctype, *_ in model.named_steps["derive"].kw_args["columns"]]


def read_table(path: Path, columns: Sequence[str]) -> pa.Table:
    """Only ``columns`` of a Parquet file; a missing column is a one-line SchemaError naming it."""
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except FileNotFoundError as exc:
        raise SchemaError(f"{path}: file not found") from exc
    missing = [name for name in columns if name not in names]
    if missing:
        raise SchemaError(f"{path}: missing column '{missing[0]}'")
    return pq.read_table(path, columns=list(dict.fromkeys(columns)))


def to_frame(table: pa.Table, inputs: Sequence[tuple[str, str]], where: str | Path) -> pd.DataFrame:
    """Cast the input columns to their contract types and hand them to pandas (the Pipeline's input)."""
    import pyarrow as pa

    arrays = input_arrays(table, inputs, where)
    return pa.Table.from_arrays(arrays, names=[name for name, _ in inputs]).to_pandas()


def input_arrays(table: pa.Table, inputs: Sequence[tuple[str, str]], where: str | Path) -> list[Any]:
    """The input columns cast to their contract types; a missing or uncastable one is a SchemaError."""
    import pyarrow as pa

    missing = [name for name, _ in inputs if name not in table.column_names]
    if missing:
        raise SchemaError(f"{where}: missing feature column '{missing[0]}'")
    arrays = []
    for name, ctype in inputs:
        try:
            arrays.append(_cast(table[name], ctype))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaError(f"{where}: column '{name}' is not {ctype}: {str(exc).splitlines()[0]}") from exc
    return arrays


def _cast(column: Any, ctype: str) -> Any:
    """Cast to the contract type; text timestamps without a zone offset are read as UTC."""
    import pyarrow as pa

    target = arrow_type(ctype)
    if ctype == "timestamp" and pa.types.is_string(column.type):
        try:
            return column.cast(target)
        except pa.ArrowInvalid:
            return column.cast(pa.timestamp("us")).cast(target)
    return column.cast(target)


def predict(model: Any, table: pa.Table, where: str | Path) -> tuple[Any, Any]:
    """(class probabilities, predicted class) for a table holding the model's input columns."""
    import numpy as np

    proba = model.predict_proba(to_frame(table, model_inputs(model), where))
    return proba, np.asarray(model.classes_, dtype=object)[proba.argmax(axis=1)]

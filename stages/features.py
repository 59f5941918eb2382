"""What the model sees: input columns from the contract metadata, their derivation, and the sklearn Pipeline.

Roles come from the ``strata.contract`` metadata in the clean Parquet (never from another stage's params):
features are the contract columns with ``feature: true``, minus key, target and ``train.drop_columns``.

The Pipeline is self-contained: its first step (``derive``, a FunctionTransformer over the module-level
function :func:`derive`) carries the input columns and their contract types in ``kw_args``, so a loaded
model alone knows which columns to read and how to cast them (evaluate, predict, a future server).
Everything else in it is a stock sklearn class, which keeps the skops trusted-types list short and explicit
(:data:`TRUSTED_TYPES`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stages.errors import ConfigError, SchemaError, StrataError
from stages.schema import METADATA_KEY

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from sklearn.pipeline import Pipeline

CONTRACT_KEY = METADATA_KEY  # written by validate (stages.schema)
MODELS = ("hist_gradient_boosting", "random_forest", "logistic_regression")
CLASS_WEIGHTS = ("", "balanced")
NUMERIC_TYPES = ("float", "int", "bool")
TEXT_TYPES = ("string", "category")
MAX_CATEGORIES = 250  # HistGradientBoosting accepts at most 255 bins per categorical feature

# Types beyond skops' own default-safe set (sklearn estimators, numpy arrays, builtins) that a strata model
# file holds; loading trusts exactly these and refuses a file that needs anything else (no blind trust).
# functools.partial wraps check_array inside HistGradientBoosting; skops checks the wrapped function too.
TRUSTED_TYPES = (
    "functools.partial",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.utils.validation.check_array",
    "stages.features.derive",
)


def arrow_type(contract_type: str) -> pa.DataType:
    """The canonical arrow type of a contract type (docs/architecture.md, "Clean format")."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "category": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    if contract_type not in types:
        raise SchemaError(f"contract type '{contract_type}' is not one of {', '.join(types)}")
    return types[contract_type]


def read_contract(schema: pa.Schema, where: str | Path) -> dict[str, Any]:
    """The contract stored in the clean Parquet's schema metadata by validate."""
    raw = (schema.metadata or {}).get(CONTRACT_KEY)
    if raw is None:
        raise SchemaError(f"{where}: not clean-format Parquet (no 'strata.contract' schema metadata)")
    contract: dict[str, Any] = json.loads(raw)
    return contract


def input_columns(
    contract: dict[str, Any], drop: Sequence[str] = ()
) -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, contract type, allowed values) of every model input, in contract order."""
    columns: dict[str, dict[str, Any]] = contract["columns"]
    unknown = [name for name in drop if name not in columns]
    if unknown:
        raise ConfigError(f"train.drop_columns: '{unknown[0]}' is not a contract column")
    excluded = {*contract.get("key", []), contract["target"], *drop}
    return [
        (name, spec["type"], tuple(spec.get("values") or ()))
        for name, spec in columns.items()
        if spec.get("feature", True) and name not in excluded
    ]


def derive(frame: pd.DataFrame, columns: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Contract-typed columns -> model columns (first Pipeline step, so the model file carries it).

    Timestamps become cyclic hour-of-day (sin, cos; UTC) and day-of-week; bools become 0/1 floats with NaN;
    numbers become float64 with NaN; strings/categories become object arrays with NaN for missing.
    """
    import numpy as np
    import pandas as pd

    out: dict[str, Any] = {}
    for name, ctype, *_ in columns:
        series = frame[name]
        if ctype == "timestamp":
            ts = pd.to_datetime(series, utc=True)
            hours = ts.dt.hour + ts.dt.minute / 60 + ts.dt.second / 3600
            angle = (2 * math.pi / 24) * hours.to_numpy(dtype=float, na_value=np.nan)
            out[f"{name}__hour_sin"] = np.sin(angle)
            out[f"{name}__hour_cos"] = np.cos(angle)
            out[f"{name}__dow"] = ts.dt.day_of_week.to_numpy(dtype=float, na_value=np.nan)
        elif ctype == "bool":
            out[name] = series.astype("boolean").to_numpy(dtype=float, na_value=np.nan)
        elif ctype in NUMERIC_TYPES:
            out[name] = pd.to_numeric(series).to_numpy(dtype=float, na_value=np.nan)
        else:
            values = series.astype(object)
            out[name] = values.where(series.notna(), np.nan).to_numpy(dtype=object)
    return pd.DataFrame(out, index=frame.index)


def derived_names(columns: Sequence[Sequence[Any]]) -> tuple[list[str], list[str]]:
    """(text, numeric) column names that :func:`derive` produces."""
    text, numeric = [], []
    for name, ctype, *_ in columns:
        if ctype == "timestamp":
            numeric += [f"{name}__hour_sin", f"{name}__hour_cos", f"{name}__dow"]
        elif ctype in TEXT_TYPES:
            text.append(name)
        else:
            numeric.append(name)
    return text, numeric


def _encoder(model: str, categories: Any) -> Any:
    """Ordinal codes for HistGradientBoosting (native categorical splits), one-hot for the others."""
    import numpy as np
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    if model == "hist_gradient_boosting":
        return OrdinalEncoder(
            categories=categories,
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            max_categories=MAX_CATEGORIES,
            dtype=np.float64,
        )
    return OneHotEncoder(
        categories=categories, handle_unknown="ignore", max_categories=MAX_CATEGORIES, sparse_output=False
    )


def _preprocess(model: str, columns: Sequence[Sequence[Any]]) -> Any:
    """Categories with contract values get fixed codes (unseen values = unknown); free strings learn them."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    text, numeric = derived_names(columns)
    values = {name: list(vals) for name, _, vals in columns}
    fixed = [name for name in text if values[name]]
    free = [name for name in text if not values[name]]
    numbers: Any = "passthrough"  # HistGradientBoosting handles NaN itself
    if model != "hist_gradient_boosting":
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median", add_indicator=True))]
        if model == "logistic_regression":
            steps.append(("scale", StandardScaler()))
        numbers = Pipeline(steps)
    parts = [
        ("category", _encoder(model, [values[name] for name in fixed]), fixed),
        ("string", _encoder(model, "auto"), free),
        ("numeric", numbers, numeric),
    ]
    return ColumnTransformer(
        [part for part in parts if part[2]], remainder="drop", verbose_feature_names_out=False
    )


def _estimator(model: str, n_text: int, seed: int, class_weight: str) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    weight = class_weight or None
    if model == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(
            categorical_features=list(range(n_text)) or None, class_weight=weight, random_state=seed
        )
    if model == "random_forest":
        return RandomForestClassifier(class_weight=weight, random_state=seed, n_jobs=1)
    return LogisticRegression(class_weight=weight, random_state=seed, max_iter=1000)


def build_pipeline(
    columns: Sequence[Sequence[Any]],
    model: str,
    hyperparams: dict[str, Any],
    seed: int,
    class_weight: str = "",
) -> Pipeline:
    """derive -> ColumnTransformer -> estimator of kind ``model`` with ``hyperparams`` passed through."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if model not in MODELS:
        raise ConfigError(f"train.model: '{model}' is not one of {', '.join(MODELS)}")
    if class_weight not in CLASS_WEIGHTS:
        raise ConfigError(f"train.class_weight: '{class_weight}' is not '' or 'balanced'")
    text, _ = derived_names(columns)
    estimator = _estimator(model, len(text), seed, class_weight)
    allowed = sorted(set(estimator.get_params()) - {"random_state", "class_weight"})
    unknown = sorted(set(hyperparams) - set(allowed))
    if unknown:
        raise ConfigError(
            f"train.hyperparams.{unknown[0]}: unknown hyperparam for {model} (allowed: {', '.join(allowed)})"
        )
    estimator.set_params(**hyperparams)
    spec = [[name, ctype, list(values)] for name, ctype, values in columns]
    return Pipeline(
        [
            ("derive", FunctionTransformer(derive, kw_args={"columns": spec})),
            ("preprocess", _preprocess(model, columns)),
            ("model", estimator),
        ]
    )


def model_inputs(model: Any) -> list[tuple[str, str]]:
    """(name, contract type) of the columns a fitted strata Pipeline reads."""
    return [(name, ctype) for name, ctype, *_ in model.named_steps["derive"].kw_args["columns"]]


def contract_of(path: Path) -> dict[str, Any]:
    """The contract of a clean Parquet file, read from its footer only."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except FileNotFoundError as exc:
        raise SchemaError(f"{path}: file not found") from exc
    return read_contract(schema, path)


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

    missing = [name for name, _ in inputs if name not in table.column_names]
    if missing:
        raise SchemaError(f"{where}: missing feature column '{missing[0]}'")
    arrays = []
    for name, ctype in inputs:
        try:
            arrays.append(_cast(table[name], ctype))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaError(f"{where}: column '{name}' is not {ctype}: {str(exc).splitlines()[0]}") from exc
    names = [name for name, _ in inputs]
    return pa.Table.from_arrays(arrays, names=names).to_pandas()


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


def load_model(path: Path) -> Pipeline:
    """Load a skops model trusting only :data:`TRUSTED_TYPES`; anything else is refused, not executed."""
    import skops.io as sio

    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise SchemaError(f"{path}: model file not found") from exc
    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise StrataError(f"{path}: model holds types outside the trusted list: {', '.join(untrusted)}")
    model: Pipeline = sio.loads(data, trusted=list(TRUSTED_TYPES))
    return model

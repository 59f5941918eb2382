"""A strata Pipeline's fitted steps called directly, on numpy arrays: the numbers of ``predict_proba``
without its per-call overhead (pandas frames, column selection by name, Pipeline and ColumnTransformer
dispatch), which is most of the cost of scoring a few rows.

:func:`compile_model` takes a fitted Pipeline apart once per model: the ``derive`` step's columns, each
ColumnTransformer part as (its derived columns, the fitted transformer or None for passthrough) and the
estimator. :func:`predict` then derives the model columns from Arrow arrays the way
:func:`strata.model.features.derive` does from pandas (the same float operations in the same order), stacks
each part's columns as the ColumnTransformer does, and calls the same fitted transformers and estimator.
A model of any other shape compiles to None and is scored through its Pipeline. The probabilities are
bit-identical to the Pipeline's (tests/unit/test_serve_fast.py checks every model kind strata trains).

The fitted transformers saw pandas frames when fitting, so they remember column names and would warn on
every array; the compiled copies (shallow: the fitted attributes are shared) forget the names only.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strata.model import features

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


@dataclasses.dataclass(frozen=True)
class Compiled:
    inputs: list[tuple[str, str]]  # (name, contract type) the model reads
    columns: list[Any]  # derive's kw_args["columns"]
    ratios: list[Any]  # derive's kw_args["ratios"]
    parts: list[tuple[list[str], list[Any] | None]]  # derived columns, transformer chain (None: passthrough)
    estimator: Any
    classes: np.ndarray
    forest: Any = None  # strata.serving.forest.Forest of the estimator, for a few rows at a time


class _Unsupported(Exception):
    """The model is not of the shape compiled here."""


def _require(condition: bool) -> None:
    if not condition:
        raise _Unsupported


def compile_model(model: Any) -> Compiled | None:
    """The fitted steps of a strata Pipeline (derive -> ColumnTransformer -> estimator), or None."""
    try:
        return _compile(model)
    except (_Unsupported, AttributeError, KeyError, TypeError, ValueError):
        return None


def _compile(model: Any) -> Compiled:
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from strata.serving import forest

    _require(
        isinstance(model, Pipeline) and [name for name, _ in model.steps] == ["derive", "preprocess", "model"]
    )
    derive, preprocess, estimator = (step for _, step in model.steps)
    _require(
        isinstance(derive, FunctionTransformer) and derive.func is features.derive and not derive.validate
    )
    kw_args = dict(derive.kw_args or {})
    columns, ratios = kw_args.pop("columns"), kw_args.pop("ratios", [])
    _require(not kw_args and _default_output(model, derive, preprocess))
    _require(isinstance(preprocess, ColumnTransformer) and not preprocess.sparse_output_)
    text, numeric = features.derived_names(columns, ratios)
    parts: list[tuple[list[str], list[Any] | None]] = []
    for _, transformer, names in preprocess.transformers_:
        if isinstance(transformer, str) and transformer == "drop" or (isinstance(names, list) and not names):
            continue
        _require(isinstance(names, list) and all(isinstance(n, str) and n in text + numeric for n in names))
        if isinstance(transformer, FunctionTransformer) and transformer.func is None:  # passthrough
            _require(not transformer.validate and set(names) <= set(numeric))  # floats: hstack keeps them
            parts.append((names, None))
            continue
        chain = [transformer]
        if isinstance(transformer, Pipeline):
            _require(_default_output(transformer))
            chain = [step for _, step in transformer.steps]
        _require(all(not isinstance(step, str) and _default_output(step) for step in chain))
        parts.append((names, [_direct(step) for step in chain]))
    _require(not hasattr(estimator, "feature_names_in_"))  # fitted on the ColumnTransformer's array
    inputs = [(name, ctype) for name, ctype, *_ in columns]
    classes = np.asarray(model.classes_, dtype=object)
    inner = _inner(estimator)
    return Compiled(inputs, columns, ratios, parts, inner, classes, forest.build(inner))


class _Stacked:
    """A fitted ColumnTransformer's parts called directly on an array: (column indices, transformer)."""

    def __init__(self, parts: list[tuple[np.ndarray, Any]]) -> None:
        self.parts = parts

    def transform(self, X: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.hstack([transformer.transform(X[:, columns]) for columns, transformer in self.parts])


def _inner(estimator: Any) -> Any:
    """HistGradientBoosting with categorical features encodes them again with a ColumnTransformer of its
    own (``_preprocessor``) on every call: a shallow copy calls that one's parts directly."""
    from sklearn.compose import ColumnTransformer

    inner = getattr(estimator, "_preprocessor", None)
    if not isinstance(inner, ColumnTransformer) or inner.sparse_output_ or not _default_output(inner):
        return estimator
    try:
        parts = _inner_parts(inner)
    except _Unsupported:
        return estimator
    twin = copy.copy(estimator)
    twin._preprocessor = _Stacked(parts)
    return twin


def _inner_parts(inner: Any) -> list[tuple[np.ndarray, Any]]:
    import numpy as np

    parts = []
    for _, transformer, selected in inner.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        mask = np.asarray(selected)
        _require(mask.dtype == bool and mask.shape == (inner.n_features_in_,))
        _require(not isinstance(transformer, str) and _default_output(transformer))
        if mask.any():  # a part without columns is skipped, as the ColumnTransformer does
            parts.append((np.flatnonzero(mask), _direct(transformer)))
    return parts


def _default_output(*estimators: Any) -> bool:
    """No set_output configured: every step returns what its stock transform returns (arrays here)."""
    return all(
        value in (None, "default")
        for e in estimators
        for value in (getattr(e, "_sklearn_output_config", None) or {}).values()
    )


def _direct(step: Any) -> Any:
    """A fitted transformer as called here: an OrdinalEncoder that gives NaN to every unknown or missing
    value as :class:`_Codes`, any other as a copy that does not check column names."""
    import numpy as np
    from sklearn.preprocessing import OrdinalEncoder

    if type(step) is OrdinalEncoder and step.handle_unknown == "use_encoded_value":
        float64 = np.dtype(step.dtype) == np.float64
        if _nan(step.unknown_value) and _nan(step.encoded_missing_value) and float64:
            if not step._infrequent_enabled or all(i is None for i in step._infrequent_indices):
                categories = [list(c.tolist()) for c in step.categories_]
                kinds = [{type(v) for v in c if not _nan(v)} for c in categories]  # None: a category
                if all(k <= {str, type(None)} or k <= {float} for k in kinds):
                    return _Codes(categories)
    return _nameless(step)


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


class _Codes:
    """OrdinalEncoder.transform as one dict lookup a value: the index of the value in its column's
    categories as a float, NaN for a missing (NaN) or unknown value (the encoder's unknown_value and
    encoded_missing_value are both NaN, and no category is infrequent). None is a category to sklearn."""

    def __init__(self, categories: list[list[Any]]) -> None:
        self.codes = [{v: float(i) for i, v in enumerate(c) if not _nan(v)} for c in categories]

    def transform(self, X: np.ndarray) -> np.ndarray:
        import numpy as np

        out = np.empty(X.shape, np.float64)
        for j, codes in enumerate(self.codes):
            out[:, j] = [codes.get(v, math.nan) for v in X[:, j].tolist()]
        return out


def _nameless(step: Any) -> Any:
    """A shallow copy that does not check column names (arrays have none); everything fitted is shared."""
    twin = copy.copy(step)
    if hasattr(twin, "feature_names_in_"):
        del twin.feature_names_in_
    return twin


def score(model: Any, compiled: Compiled | None, table: pa.Table, where: str | Path) -> tuple[Any, Any]:
    """(class probabilities, predicted class) of contract-typed rows: the one model call of scoring.

    sklearn's input checks are skipped (same numbers, a third less time a call): the contract has already
    refused what they look for (infinities, wrong types), and parameters were checked when fitting. A
    compiled model has its fitted steps called directly (:func:`predict`), any other goes through its
    Pipeline (:func:`strata.model.features.predict`).
    """
    import sklearn

    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        if compiled is not None:
            return predict(compiled, table, where)
        return features.predict(model, table, where)


def predict(compiled: Compiled, table: pa.Table, where: str | Path) -> tuple[Any, Any]:
    """(class probabilities, predicted class): :func:`strata.model.features.predict` without pandas; a few
    rows of a HistGradientBoosting model through its :class:`strata.serving.forest.Forest`."""
    from strata.serving import forest

    X = model_input(compiled, table, where)
    if compiled.forest is not None and X.shape[0] <= forest.ROWS:
        proba = compiled.forest.predict_proba(compiled.estimator._preprocess_X(X, reset=False))
    else:
        proba = compiled.estimator.predict_proba(X)
    return proba, compiled.classes[proba.argmax(axis=1)]


def model_input(compiled: Compiled, table: pa.Table, where: str | Path) -> np.ndarray:
    """What the estimator's predict_proba gets for contract-typed rows: the derived columns, each
    ColumnTransformer part's transformers applied, stacked as the ColumnTransformer stacks them."""
    import numpy as np

    arrays = features.input_arrays(table, compiled.inputs, where)
    derived = derive(dict(zip([name for name, _ in compiled.inputs], arrays, strict=True)), compiled)
    blocks = []
    for names, chain in compiled.parts:
        block = np.column_stack([derived[name] for name in names])
        for step in chain or ():
            block = step.transform(block)
        blocks.append(block)
    return np.hstack(blocks)


def derive(arrays: dict[str, Any], compiled: Compiled) -> dict[str, np.ndarray]:
    """:func:`strata.model.features.derive` of contract-typed Arrow columns, as numpy columns."""
    import numpy as np
    import pyarrow.compute as pc

    out: dict[str, Any] = {}
    for name, ctype, *_ in compiled.columns:
        column = arrays[name]
        if ctype == "timestamp":
            hours = (
                _floats(pc.hour(column)) + _floats(pc.minute(column)) / 60 + _floats(pc.second(column)) / 3600
            )
            out.update(features.time_columns(name, hours, _floats(pc.day_of_week(column))))
        elif ctype in features.NUMERIC_TYPES:
            out[name] = _floats(column)
        else:
            values = column.to_numpy(zero_copy_only=False).astype(object)
            values[_nulls(column)] = np.nan
            out[name] = values
    features.add_ratios(out, compiled.ratios)
    return out


def _nulls(column: Any) -> np.ndarray:
    return column.is_null().to_numpy(zero_copy_only=False)


def _floats(column: Any) -> np.ndarray:
    """float64 values, NaN where null (ints and bools as 0/1 exactly, as pandas converts them)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.fill_null(column, False if pa.types.is_boolean(column.type) else 0).to_numpy(
        zero_copy_only=False
    )
    floats = values.astype(np.float64)
    if column.null_count:
        floats[_nulls(column)] = np.nan
    return floats

"""The sklearn Pipeline strata trains: derive -> ColumnTransformer -> estimator.

Its first step (``derive``, a FunctionTransformer over :func:`strata.model.features.derive`) carries the
input columns and their contract types in ``kw_args``; everything else is a stock sklearn class, which keeps
the skops trusted-types list short (strata.model.artifact).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from strata.errors import ConfigError
from strata.model.features import check_ratios, derive, derived_names

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

MODELS = ("hist_gradient_boosting", "random_forest", "logistic_regression")
CLASS_WEIGHTS = ("", "balanced")
_CONSTRAINT = re.compile(r"parameter of \w+ (?P<rule>must be .*)\. Got (?P<got>.*) instead\.$", re.DOTALL)
MAX_CATEGORIES = 250  # HistGradientBoosting accepts at most 255 bins per categorical feature


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


def _preprocess(model: str, columns: Sequence[Sequence[Any]], ratios: Sequence[Sequence[str]]) -> Any:
    """Categories with contract values get fixed codes (unseen values = unknown); free strings learn them."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    text, numeric = derived_names(columns, ratios)
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


def check_hyperparams(estimator: Any, model: str, hyperparams: dict[str, Any]) -> None:
    """Every hyperparam is one the estimator has (strata sets random_state and class_weight itself) and
    meets scikit-learn's own constraint for it (``_parameter_constraints``): refused here, in one line,
    rather than as a traceback from fit."""
    from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

    allowed = sorted(set(estimator.get_params()) - {"random_state", "class_weight"})
    unknown = sorted(set(hyperparams) - set(allowed))
    if unknown:
        raise ConfigError(
            f"train.hyperparams.{unknown[0]}: unknown hyperparam for {model} (allowed: {', '.join(allowed)})"
        )
    constraints = type(estimator)._parameter_constraints
    for name in sorted(hyperparams):
        try:
            validate_parameter_constraints(
                {name: constraints[name]}, {name: hyperparams[name]}, caller_name=type(estimator).__name__
            )
        except InvalidParameterError as exc:
            found = _CONSTRAINT.search(str(exc))
            reason = f"{found['rule']}, got {found['got']}" if found else " ".join(str(exc).split())
            raise ConfigError(f"train.hyperparams.{name}: {reason}") from None


def _bagged(estimator: Any, seed: int, bag: int) -> Any:
    """``bag`` copies seeded seed, seed + 1, ..., their probabilities averaged (soft vote): the same model
    with less variance; HistGradientBoosting's early-stopping split and feature sampling differ per seed."""
    from sklearn.base import clone
    from sklearn.ensemble import VotingClassifier

    if bag == 1:
        return estimator
    members = [(f"seed{seed + i}", clone(estimator).set_params(random_state=seed + i)) for i in range(bag)]
    return VotingClassifier(members, voting="soft")


def build_pipeline(
    columns: Sequence[Sequence[Any]],
    model: str,
    hyperparams: dict[str, Any],
    seed: int,
    class_weight: str = "",
    *,
    ratios: Sequence[Sequence[str]] = (),
    bag: int = 1,
) -> Pipeline:
    """derive -> ColumnTransformer -> estimator of kind ``model`` with ``hyperparams`` passed through
    (``bag`` > 1: that many, averaged)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if model not in MODELS:
        raise ConfigError(f"train.model: '{model}' is not one of {', '.join(MODELS)}")
    if class_weight not in CLASS_WEIGHTS:
        raise ConfigError(f"train.class_weight: '{class_weight}' is not '' or 'balanced'")
    check_ratios(columns, ratios)
    text, _ = derived_names(columns)
    estimator = _estimator(model, len(text), seed, class_weight)
    check_hyperparams(estimator, model, hyperparams)
    estimator.set_params(**hyperparams)
    spec = [[name, ctype, list(values)] for name, ctype, values in columns]
    kw_args: dict[str, Any] = {"columns": spec}
    if ratios:
        kw_args["ratios"] = [list(pair) for pair in ratios]
    return Pipeline(
        [
            ("derive", FunctionTransformer(derive, kw_args=kw_args)),
            ("preprocess", _preprocess(model, columns, ratios)),
            ("model", _bagged(estimator, seed, bag)),
        ]
    )

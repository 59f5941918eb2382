"""features: input columns from the contract metadata, derivation, pipeline per model kind."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest_ml import CONTRACT, make_table

from strata.contract.spec import METADATA_KEY, from_metadata
from strata.errors import ConfigError, SchemaError
from strata.model import features, pipeline

SMALL = {
    "hist_gradient_boosting": {"max_iter": 10},
    "random_forest": {"n_estimators": 10},
    "logistic_regression": {},
}
INPUTS = [(name, ctype) for name, ctype, _ in features.input_columns(CONTRACT)]


def test_input_columns_exclude_key_target_non_features_and_dropped() -> None:
    names = [name for name, _, _ in features.input_columns(CONTRACT, drop=("speed",))]
    assert names == ["ts", "entry_point", "height", "code_ok"]


def test_drop_column_must_be_a_contract_column() -> None:
    with pytest.raises(ConfigError, match=r"^train\.drop_columns: 'spede' is not a contract column$"):
        features.input_columns(CONTRACT, drop=("spede",))


def test_contract_comes_from_parquet_metadata() -> None:
    schema = make_table(3).schema
    assert from_metadata(schema, "x.parquet") == CONTRACT
    with pytest.raises(SchemaError, match=r"^x\.parquet: not clean-format Parquet"):
        from_metadata(schema.remove_metadata(), "x.parquet")


def test_derive_timestamps_bools_and_categories() -> None:
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2026-01-05T06:00:00Z", "2026-01-10T18:00:00Z", None], utc=True),
            "code_ok": pd.array([True, None, False], dtype="boolean"),
            "entry_point": ["window", None, "garage"],
        }
    )
    spec = [["ts", "timestamp", []], ["code_ok", "bool", []], ["entry_point", "category", []]]
    out = features.derive(frame, spec)
    names = ["ts__hour", "ts__hour_sin", "ts__hour_cos", "ts__dow", "code_ok", "entry_point"]
    assert list(out.columns) == names
    assert features.derived_names(spec) == (["entry_point"], names[:5])
    assert out["ts__hour"].tolist()[:2] == [6.0, 18.0]
    assert out["ts__hour_sin"].iloc[0] == pytest.approx(1.0)  # 06:00 is a quarter turn
    assert out["ts__hour_sin"].iloc[1] == pytest.approx(-1.0)
    assert out["ts__dow"].tolist()[:2] == [0.0, 5.0]  # Monday, Saturday
    assert math.isnan(out["ts__dow"].iloc[2])
    assert out["code_ok"].iloc[0] == 1.0 and math.isnan(out["code_ok"].iloc[1])
    assert out["entry_point"].isna().tolist() == [False, True, False]


@pytest.mark.parametrize("model", pipeline.MODELS)
def test_pipeline_for_each_model_kind_fits_and_predicts(model: str) -> None:
    table = make_table(80)
    pipe = pipeline.build_pipeline(
        features.input_columns(CONTRACT), model, {}, seed=3, class_weight="balanced"
    )
    pipe.fit(features.to_frame(table, INPUTS, "t"), table["label"].to_pylist())
    proba, predicted = features.predict(pipe, make_table(10, seed=9), "t")
    assert proba.shape == (10, 3)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert set(predicted) <= {"resident", "intruder", "animal"}
    assert pipe.named_steps["model"].random_state == 3
    assert features.model_inputs(pipe) == INPUTS


def test_unseen_category_value_is_scored() -> None:
    table = make_table(60)
    pipe = pipeline.build_pipeline(
        features.input_columns(CONTRACT), "hist_gradient_boosting", {"max_iter": 10}, 0
    )
    pipe.fit(features.to_frame(table, INPUTS, "t"), table["label"].to_pylist())
    new = make_table(2).set_column(2, "entry_point", pa.array(["chimney", None]))
    assert features.predict(pipe, new, "t")[0].shape == (2, 3)


def test_ratio_features_are_derived_and_checked() -> None:
    frame = pd.DataFrame({"height": [100.0, 50.0, None, 20.0], "speed": [2.0, 0.0, 1.0, None]})
    spec = [["height", "float", []], ["speed", "float", []]]
    out = features.derive(frame, spec, ratios=[["height", "speed"]])
    assert out.columns[-1] == "height_per_speed"
    assert out["height_per_speed"].iloc[0] == 50.0
    assert out["height_per_speed"].iloc[1:].isna().all()  # division by 0, a missing value on either side
    assert features.derived_names(spec, [["height", "speed"]])[1] == ["height", "speed", "height_per_speed"]
    columns = features.input_columns(CONTRACT)
    with pytest.raises(ConfigError) as info:
        pipeline.build_pipeline(columns, "hist_gradient_boosting", {}, 0, ratios=[["height", "code_ok"]])
    assert str(info.value) == (
        "train.ratios[0]: 'code_ok' is not a numeric model input (height, speed); "
        "ratios name columns of your contract ([] for none)"
    )


def test_a_bag_averages_members_seeded_in_turn() -> None:
    table = make_table(80)
    columns = features.input_columns(CONTRACT)
    pipe = pipeline.build_pipeline(columns, "hist_gradient_boosting", {"max_iter": 5}, seed=3, bag=3)
    pipe.fit(features.to_frame(table, INPUTS, "t"), table["label"].to_pylist())
    members = pipe.named_steps["model"].estimators_
    assert [m.random_state for m in members] == [3, 4, 5]
    new = features.to_frame(make_table(10, seed=9), INPUTS, "t")
    matrix = pipe[:-1].transform(new)
    mean = np.mean([m.predict_proba(matrix) for m in members], axis=0)
    np.testing.assert_allclose(pipe.predict_proba(new), mean)


def test_hyperparams_pass_through() -> None:
    pipe = pipeline.build_pipeline(
        features.input_columns(CONTRACT), "random_forest", {"n_estimators": 7, "max_depth": 3}, 0
    )
    assert pipe.named_steps["model"].n_estimators == 7


def test_unknown_hyperparam_is_named() -> None:
    message = (
        "train.hyperparams.n_trees: unknown hyperparam for logistic_regression "
        "(allowed: C, dual, fit_intercept, intercept_scaling, l1_ratio, max_iter, n_jobs, penalty, "
        "solver, tol, verbose, warm_start)"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        pipeline.build_pipeline(features.input_columns(CONTRACT), "logistic_regression", {"n_trees": 5}, 0)


@pytest.mark.parametrize(
    ("model", "weight", "message"),
    [
        (
            "xgboost",
            "",
            "train.model: 'xgboost' is not one of hist_gradient_boosting, random_forest, logistic_regression",
        ),
        ("random_forest", "heavy", "train.class_weight: 'heavy' is not '' or 'balanced'"),
    ],
)
def test_bad_model_or_class_weight(model: str, weight: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        pipeline.build_pipeline(features.input_columns(CONTRACT), model, {}, 0, weight)
    assert str(info.value) == message


def test_to_frame_names_missing_and_uncastable_columns() -> None:
    table = make_table(3)
    with pytest.raises(SchemaError, match=r"^in\.csv: missing feature column 'speed'$"):
        features.to_frame(table.drop_columns(["speed"]), INPUTS, "in.csv")
    bad = table.set_column(4, "speed", pa.array(["fast", "1", "2"]))
    with pytest.raises(SchemaError, match=r"^in\.csv: column 'speed' is not float: "):
        features.to_frame(bad, INPUTS, "in.csv")


def test_contract_metadata_is_json() -> None:
    meta = make_table(1).schema.metadata[METADATA_KEY]
    assert json.loads(meta)["key"] == ["event_id"]
    assert list(json.loads(meta)["columns"]) == list(CONTRACT.columns)  # contract order, not sorted

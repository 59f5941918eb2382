"""strata.serving.fast: a Pipeline's fitted steps called directly give its probabilities bit for bit, for
every model kind strata trains, and a request scored through them answers what the file path (through the
Pipeline) writes, alone or batched, rejected events included."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import sklearn
from conftest_ml import CONTRACT as ML_CONTRACT
from conftest_ml import make_table
from serve_helpers import clean_table, train_model
from threadpoolctl import threadpool_limits

from strata.model import features, pipeline
from strata.serving import fast, predict, scoring
from strata.serving.model import Loaded, load

COLUMNS = features.input_columns(ML_CONTRACT)
SMALL = {
    "hist_gradient_boosting": {"max_iter": 10},
    "random_forest": {"n_estimators": 10},
    "logistic_regression": {},
}


def with_nulls(table: pa.Table, every: int) -> pa.Table:
    """Every ``every``-th row null in each input column (shifted per column), timestamps included, and
    timestamps moved by up to a day (make_table's fall on the hour; hours are derived to the second)."""
    micros = np.random.default_rng(every).integers(0, 86_400_000_000, table.num_rows)
    moved = pc.add(table["ts"], pa.array(micros.astype("timedelta64[us]")))
    table = table.set_column(table.schema.get_field_index("ts"), "ts", moved)
    for shift, (name, _, _) in enumerate(COLUMNS):
        hit = pa.array((np.arange(table.num_rows) + shift) % every == 0)
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, pc.if_else(hit, pa.scalar(None, table[name].type), table[name]))
    return table


@pytest.mark.parametrize("kind", sorted(SMALL))
@pytest.mark.parametrize("ratios", [(), (("height", "speed"),)])
def test_compiled_steps_give_the_pipelines_probabilities_bit_for_bit(kind: str, ratios: Any) -> None:
    table = with_nulls(make_table(200, seed=3), 11)
    inputs = [(name, ctype) for name, ctype, _ in COLUMNS]
    model = pipeline.build_pipeline(COLUMNS, kind, SMALL[kind], seed=5, ratios=ratios)
    model.fit(features.to_frame(table, inputs, "t"), table["label"].to_pylist())
    compiled = fast.compile_model(model)
    assert compiled is not None
    inner = kind == "hist_gradient_boosting"  # its own encoder of categorical features, called directly too
    assert isinstance(getattr(compiled.estimator, "_preprocessor", None), fast._Stacked) == inner
    new = with_nulls(make_table(300, seed=9), 7)
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        expected, labels = features.predict(model, new, "t")
        got, predicted = fast.predict(compiled, new, "t")
        assert got.tobytes() == expected.tobytes() and predicted.tolist() == labels.tolist()
        for row in (0, 7, 8):  # one row alone (BLAS may round a lone row's products differently)
            alone = new.slice(row, 1)
            assert (
                fast.predict(compiled, alone, "t")[0].tobytes()
                == features.predict(model, alone, "t")[0].tobytes()
            )


def test_a_bagged_model_gives_the_pipelines_probabilities_bit_for_bit() -> None:
    table = with_nulls(make_table(200, seed=3), 11)
    inputs = [(name, ctype) for name, ctype, _ in COLUMNS]
    model = pipeline.build_pipeline(COLUMNS, "hist_gradient_boosting", {"max_iter": 5}, seed=5, bag=2)
    model.fit(features.to_frame(table, inputs, "t"), table["label"].to_pylist())
    compiled = fast.compile_model(model)
    assert compiled is not None
    new = with_nulls(make_table(100, seed=9), 7)
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        assert fast.predict(compiled, new, "t")[0].tobytes() == features.predict(model, new, "t")[0].tobytes()


def test_a_model_of_another_shape_is_scored_through_its_pipeline() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    assert fast.compile_model(LogisticRegression()) is None
    assert fast.compile_model(Pipeline([("model", LogisticRegression())])) is None
    model = pipeline.build_pipeline(COLUMNS, "logistic_regression", {}, seed=5)
    model.set_output(transform="pandas")
    assert fast.compile_model(model) is None


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    paths = train_model(tmp_path_factory.mktemp("fast"))
    return load(paths["model"])


def mixed_events(rows: int) -> list[dict[str, Any]]:
    """Clean rows as events, with missing optional values, text values and rejected ones mixed in."""
    table = with_nulls(clean_table(rows, 4, "m"), 1000).drop_columns(["label", "_source", "_batch", "_row"])
    events = []
    for i, row in enumerate(table.to_pylist()):
        event = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}
        if i % 9 == 1:
            event["height"] = 9999  # out of range
        if i % 13 == 2:
            event["ts"] = "never"  # unparseable
        if i % 5 == 3:
            event["speed"], event["code_ok"] = "?", None
        if i % 7 == 4:
            event["height"] = str(event["height"])
        if i % 17 == 5:
            event["entry_point"] = "chimney"  # not allowed
        events.append(event)
    return events


def test_requests_answer_what_the_file_path_writes_alone_or_batched(loaded: Loaded, tmp_path: Path) -> None:
    assert loaded.compiled is not None
    events = mixed_events(300)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    through_pipeline = dataclasses.replace(loaded, compiled=None)
    predict.run(through_pipeline, path, "", tmp_path / "s.parquet", tmp_path / "r.parquet")
    scores = pq.read_table(tmp_path / "s.parquet").to_pylist()
    expected = {row["event_id"]: [row[f"proba_{c}"] for c in loaded.classes] for row in scores}
    assert 150 < len(expected) < len(events)

    def answered(prepared: list[scoring.Prepared]) -> list[dict[str, Any]]:
        return [a for answers in scoring.score_prepared(prepared).answers for a in answers]

    with threadpool_limits(limits=1):  # as `strata serve` runs (OMP_NUM_THREADS=1): no spinning threads
        alone = [answered([scoring.prepare(loaded, [event], "", "request")]) for event in events]
    one_request = answered([scoring.prepare(loaded, events, "", "request")])
    requests = [scoring.prepare(loaded, events[i : i + 7], "", "request") for i in range(0, len(events), 7)]
    for answers in ([a for (a,) in alone], one_request, answered(requests)):
        assert len(answers) == len(events)
        for event, answer in zip(events, answers, strict=True):
            if event["event_id"] in expected:
                probs = [answer["proba"][c] for c in loaded.classes]
                assert np.array(probs).tobytes() == np.array(expected[event["event_id"]]).tobytes()
            else:
                assert "error" in answer and "proba" not in answer


@pytest.mark.parametrize("fixed", [False, True])
def test_ordinal_codes_are_the_encoders_bit_for_bit(fixed: bool) -> None:
    from sklearn.preprocessing import OrdinalEncoder

    nan = float("nan")
    text = np.array(["b", "a", nan, "c", None, "a", "b", "b"], dtype=object)
    codes = np.array([2.0, 0.0, nan, 1.0, 2.0, 0.0, 3.0, nan])
    train = np.column_stack([text, codes.astype(object)])
    categories: Any = [["c", "b", "a"], [0.0, 1.0, 2.0, 3.0]] if fixed else "auto"
    encoder = OrdinalEncoder(
        categories=categories, handle_unknown="use_encoded_value", unknown_value=nan,
        encoded_missing_value=nan, max_categories=250, dtype=np.float64,
    ).fit(train)  # fmt: skip
    direct = fast._direct(encoder)
    assert isinstance(direct, fast._Codes)
    new_text = np.array(["a", "zz", nan, None, "c", "b", "A", ""], dtype=object)
    new_codes = np.array([0.0, 1.0, 5.0, nan, -0.0, 3.0, 2.0, 0.5])
    for X in (np.column_stack([new_text, new_codes.astype(object)]), train):
        assert direct.transform(X).tobytes() == encoder.transform(X).tobytes()
    numbers = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=nan, encoded_missing_value=nan)
    numbers.fit(codes[:, None])
    got, expected = fast._direct(numbers).transform(new_codes[:, None]), numbers.transform(new_codes[:, None])
    assert got.tobytes() == expected.tobytes()


def test_an_encoder_with_other_codes_for_unknown_or_rare_values_is_called_as_it_is() -> None:
    from sklearn.preprocessing import OrdinalEncoder

    X = np.array([["a"], ["a"], ["a"], ["b"]], dtype=object)
    other = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2)
    rare = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, max_categories=1)
    for encoder in (other.fit(X), rare.fit(X), OrdinalEncoder().fit(X)):
        assert not isinstance(fast._direct(encoder), fast._Codes)


def test_derive_from_arrow_gives_derives_columns_bit_for_bit() -> None:
    """Every contract type, nulls in each, ints past 2**53 and timestamps to the microsecond."""
    big = 2**53 + 1
    table = pa.table(
        {
            "n": pa.array([1, None, -7, big, 0, 3], pa.int64()),
            "f": pa.array([0.5, -0.0, None, 1e300, 2.0, 3.0], pa.float64()),
            "b": pa.array([True, False, None, True, None, False]),
            "s": pa.array(["x", None, "", "y", "x", " "]),
            "t": pa.array(
                [0, None, 1_700_000_000_123_456, -86_400_000_001, 59_999_999, 1], pa.timestamp("us", "UTC")
            ),
        }
    )
    columns = [
        ["n", "int", []],
        ["f", "float", []],
        ["b", "bool", []],
        ["s", "string", []],
        ["t", "timestamp", []],
    ]
    ratios = [["n", "f"], ["f", "b"]]
    inputs = [(name, ctype) for name, ctype, _ in columns]
    compiled = fast.Compiled(inputs, columns, ratios, [], None, np.array([]))
    expected = features.derive(features.to_frame(table, inputs, "t"), columns, ratios)
    got = fast.derive(
        dict(zip(table.column_names, features.input_arrays(table, inputs, "t"), strict=True)), compiled
    )
    assert list(got) == list(expected.columns)
    for name in got:
        if got[name].dtype == object:  # strings, and NaN (a float) for missing, as derive gives them
            shown = [f"{type(v).__name__}:{v}" for v in got[name]]
            assert shown == [f"{type(v).__name__}:{v}" for v in expected[name].to_numpy()]
        else:
            assert got[name].tobytes() == expected[name].to_numpy().tobytes(), name

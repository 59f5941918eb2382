"""The contract at the door (pure): events meet validate's own code, are answered with its reason text, and
score the same alone, together, under aliases, as text, or in another source's units."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from serve_helpers import CLASSES, CONTRACT, EVENT, train_model

from strata.errors import SchemaError, SourceError
from strata.serving import door, scoring
from strata.serving.body import ClientError, Malformed, parse_events
from strata.serving.model import Loaded, load
from strata.sources.readers import read_raw, records_batch


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    paths = train_model(tmp_path_factory.mktemp("door"))
    return load(paths["model"])


def answer(loaded: Loaded, events: list[Any], source: str = "") -> list[dict[str, Any]]:
    prepared = scoring.prepare(loaded, events, source, "request")
    return scoring.score_prepared([prepared]).answers[0]


def test_the_card_carries_the_contract(loaded: Loaded) -> None:
    assert loaded.contract == CONTRACT
    assert loaded.classes == tuple(CLASSES)
    assert not loaded.relaxed.columns["label"].required and CONTRACT.columns["label"].required


def test_a_json_lines_body_gives_what_the_json_lines_reader_gives(tmp_path: Path) -> None:
    lines = [json.dumps(EVENT), '{"ts": null, "height": 1e309, "code_ok": true, "extra": [1, {"a": 2}]}', "7"]
    lines += ['{"speed": 5, "speed": 6}', '{"ts": ', json.dumps({"speed": 5})]
    body = "\n".join(lines) + "\n"
    path = tmp_path / "events.jsonl"
    path.write_text(body)
    (from_file,) = read_raw(path, "jsonl", False, 100, "file")
    events, single = parse_events(body.encode(), "application/x-ndjson")
    rows = [(e, None) if isinstance(e, dict) else (None, e.text) for e in events]
    assert records_batch(rows, "request").equals(from_file) and not single
    assert from_file.column("_malformed").to_pylist()[2:5] == [
        "line 3: 7", "line 4: duplicate key 'speed': {\"speed\": 5, \"speed\": 6}", 'line 5: {"ts":',
    ]  # fmt: skip
    assert parse_events(body.encode())[0] == events  # JSON Lines is recognised without its content type


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ts": 12345}, "unparseable timestamp in 'ts': '12345'"),
        ({"entry_point": "chimney"}, "not allowed in 'entry_point': 'chimney'"),
        ({"entry_point": 5}, "not allowed in 'entry_point': '5'"),
        ({"height": 1e309}, "unparseable float in 'height': 'Infinity'"),
        ({"height": 2600}, "out of range in 'height': 2600 > max 260"),
        ({"height": "12,5", "speed": -1},
         "unparseable float in 'height': '12,5'; out of range in 'speed': -1 < min 0"),
        ({"code_ok": "maybe"}, "unparseable bool in 'code_ok': 'maybe'"),
        ({"event_id": None}, "missing required 'event_id'"),
        ({"ts": "-"}, "missing required 'ts'"),
        ({"label": None}, "missing required 'label'"),
        ({"label": "alien"}, "not allowed in 'label': 'alien'"),
    ],
)  # fmt: skip
def test_an_event_validate_would_quarantine_gets_its_reason(
    loaded: Loaded, change: dict[str, Any], reason: str
) -> None:
    event = EVENT | change
    assert answer(loaded, [event]) == [{"key": event["event_id"], "error": reason}]


def test_aliases_text_values_na_markers_and_bool_words_score_like_the_canonical_event(loaded: Loaded) -> None:
    canonical = EVENT | {"height": None}
    delivered = {"eventId": "x1", "timestamp": "2026-01-05 03:10:00", "entryPoint": " window ", "height": "?"}
    delivered |= {"SPEED": "1.2", "codeOk": "no"}
    (expected,) = answer(loaded, [canonical])
    assert answer(loaded, [delivered]) == [expected]
    assert answer(loaded, [EVENT | {"extra": "ignored", "nested": {"a": [1]}}]) == answer(loaded, [EVENT])
    assert expected["key"] == "x1" and list(expected["proba"]) == CLASSES


def test_a_source_with_its_own_unit_is_converted_before_scoring(loaded: Loaded) -> None:
    inches = answer(loaded, [EVENT | {"height": 70}], source="cedar")
    assert inches == answer(loaded, [EVENT | {"height": 70 * 2.54}])
    assert answer(loaded, [EVENT | {"height": 120}], source="cedar") == [
        {"key": "x1", "error": "out of range in 'height': 304.8 > max 260"}
    ]


def test_events_score_the_same_alone_or_batched_across_requests(loaded: Loaded) -> None:
    requests = [
        ([EVENT | {"event_id": f"a{i}", "height": 30.0 + 40 * i} for i in range(3)], ""),
        ([EVENT | {"event_id": "c1", "height": 60}], "cedar"),
        ([EVENT | {"event_id": "l1", "label": "intruder"}, EVENT | {"event_id": "l2", "label": None}], ""),
        ([EVENT | {"event_id": "b1", "ts": "never"}, 7, EVENT | {"event_id": "b2"}], ""),
    ]
    prepared = [scoring.prepare(loaded, events, source, "request") for events, source in requests]
    together = scoring.score_prepared(prepared)
    assert together.answers == [answer(loaded, events, source) for events, source in requests]
    assert together.answers[3][1] == {"key": None, "error": "malformed row: 7"}
    assert sorted(together.model_calls) == [1, 1, 4]  # clean rows of each (contract, source) group
    assert together.rejected == {
        "missing required: label": 1,
        "unparseable timestamp: ts": 1,
        "malformed row": 1,
    }


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([{k: v for k, v in EVENT.items() if k != "ts"}],
         "request: missing required column 'ts' (delivered: event_id, entry_point, height, speed, code_ok)"),
        ([EVENT, EVENT | {"eventId": "y"}],
         "request: delivered columns 'event_id' and 'eventId' both map to contract column 'event_id'"),
    ],
)  # fmt: skip
def test_a_required_column_absent_from_the_request_refuses_it_whole(
    loaded: Loaded, events: list[Any], message: str
) -> None:
    with pytest.raises(SchemaError) as exc:
        scoring.prepare(loaded, events, "", "request")
    assert str(exc.value) == message


def test_a_refused_column_set_is_refused_again_with_a_fresh_error(loaded: Loaded) -> None:
    events = [{k: v for k, v in EVENT.items() if k != "ts"}]
    errors = []
    for _ in range(2):  # the second answer comes from the per-model cache of column sets
        with pytest.raises(SchemaError) as exc:
            scoring.prepare(loaded, events, "", "request")
        errors.append(exc.value)
    assert str(errors[0]) == str(errors[1]) and errors[0] is not errors[1]


def test_a_request_that_breaks_its_batch_is_refused_alone(loaded: Loaded) -> None:
    good = scoring.prepare(loaded, [EVENT], "", "request")
    broken = dataclasses.replace(good, events=[EVENT | {"_row": 1}])  # past prepare(): cannot be batched
    outcome = scoring.score_prepared([good, broken, good])
    assert outcome.errors == {1: "request: column name '_row' is reserved by strata"}
    assert outcome.answers[0] == outcome.answers[2] == answer(loaded, [EVENT]) and outcome.answers[1] == []


def test_events_without_any_column_are_malformed_or_refused(loaded: Loaded) -> None:
    assert answer(loaded, [7, "x"]) == [
        {"key": None, "error": "malformed row: 7"},
        {"key": None, "error": 'malformed row: "x"'},
    ]
    with pytest.raises(SchemaError, match="request: missing required column 'event_id' \\(delivered: \\)"):
        scoring.prepare(loaded, [{}, 7], "", "request")


def test_reserved_column_names_are_refused(loaded: Loaded) -> None:
    with pytest.raises(SourceError, match="column name '_row' is reserved by strata"):
        scoring.prepare(loaded, [EVENT | {"_row": 1}], "", "request")


def test_check_merges_malformed_rows_in_row_order() -> None:
    batch = records_batch([(EVENT, None), (None, '"oops"'), (EVENT | {"ts": "x"}, None)], "r")
    contract, mapping = door.for_input(
        CONTRACT, door.without_target(CONTRACT), batch.schema.names[:-2], "", "r"
    )
    checked = door.check(batch, contract, mapping, "", "r")
    assert checked.rejects.column("_row").to_pylist() == [1, 2]
    assert door.reject_reasons(checked.rejects) == {
        1: 'malformed row: "oops"',
        2: "unparseable timestamp in 'ts': 'x'",
    }
    assert checked.clean.column("_row").to_pylist() == [0]
    assert checked.reasons == {"malformed row": 1, "unparseable timestamp: ts": 1}


@pytest.mark.parametrize(
    ("body", "events", "single"),
    [
        (b'{"a": 1}', [{"a": 1}], True),
        (b'[{"a": 1}, 2]', [{"a": 1}, 2], False),
        (b'{"a": 1}\r\n\r\n{"a": 2}\n', [{"a": 1}, {"a": 2}], False),
        (b'{"ts": 1}\n{"ts": \n', [{"ts": 1}, Malformed('line 2: {"ts":')], False),
        (b"[]", [], False),
        (b'{"h": NaN}', [{"h": pytest.approx(float("nan"), nan_ok=True)}], True),  # as the JSON Lines reader
    ],
)
def test_parse_events_shapes(body: bytes, events: list[Any], single: bool) -> None:
    assert parse_events(body) == (events, single)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body: send one JSON event, a JSON array of events, or JSON Lines"),
        (b'{"ts": ', "malformed JSON: Expecting value: line 1 column 8 (char 7)"),
        (b'{"a": 1, "a": 2}', "malformed JSON: duplicate key 'a'"),
        (b"\xff", "body is not UTF-8 (invalid start byte at byte 0)"),
        (b"[" * 100_000, "malformed JSON: nested too deeply"),
        (b'{"a": ' * 100_000, "malformed JSON: nested too deeply"),
    ],
    ids=["empty", "malformed", "duplicate_key", "not_utf8", "deep_arrays", "deep_objects"],
)
def test_parse_events_errors_are_400_with_one_line(body: bytes, message: str) -> None:
    with pytest.raises(ClientError) as exc:
        parse_events(body)
    assert (exc.value.status, str(exc.value)) == (400, message)


def test_score_table_schema_and_row_numbers(loaded: Loaded) -> None:
    clean = pa.table({"event_id": ["k"], "ts": pa.array([None], pa.timestamp("us", tz="UTC"))})
    for name, ctype in loaded.inputs[1:]:
        clean = clean.append_column(
            name, pa.nulls(1, {"float": pa.float64(), "bool": pa.bool_()}.get(ctype, pa.string()))
        )
    scores = scoring.score_table(loaded, clean, pa.array([41], pa.int64()))
    assert scores.column_names == ["event_id", "_row", "predicted", *(f"proba_{c}" for c in CLASSES)]
    assert scores["_row"].to_pylist() == [41]

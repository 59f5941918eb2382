"""The data contract on tiny batches: column resolution, each rule, units, timestamps, dedupe."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from strata.contract.columns import resolve_columns
from strata.contract.engine import validate_batch
from strata.contract.keys import KeyDeduper
from strata.contract.spec import (
    METADATA_KEY,
    ColumnSpec,
    Contract,
    clean_schema,
    from_metadata,
    quarantine_schema,
)
from strata.contract.units import conversion
from strata.errors import SchemaError

WHERE = "data/partitions/acme/0123abcd.parquet (acme: 2026-01-01.csv)"


def contract(**overrides: object) -> Contract:
    columns = {
        "event_id": ColumnSpec(type="string", required=True, aliases=("eventId", "Event ID")),
        "ts": ColumnSpec(type="timestamp", required=True, aliases=("timestamp",)),
        "entry_point": ColumnSpec(type="category", required=True, values=("front_door", "window")),
        "height": ColumnSpec(type="float", unit="cm", min=5, max=260, aliases=("height_cm",)),
        "count": ColumnSpec(type="int", min=0, max=10),
        "code_ok": ColumnSpec(type="bool"),
        "phone_nearby": ColumnSpec(type="bool"),
        "label": ColumnSpec(type="category", required=True, values=("resident", "intruder")),
    }
    base: dict[str, object] = {"target": "label", "columns": columns, "key": ("event_id",)}
    base.update(overrides)
    return Contract(**base)  # type: ignore[arg-type]


ROW = {
    "event_id": "e1",
    "ts": "2026-01-01T03:04:05",
    "entry_point": "window",
    "height": "120.5",
    "count": "3",
    "code_ok": "true",
    "label": "resident",
}


def batch(*rows: dict[str, str | None], names: list[str] | None = None) -> pa.RecordBatch:
    names = names or list(ROW)
    arrays = [pa.array([r.get(n) for r in rows], pa.string()) for n in names]
    return pa.RecordBatch.from_arrays(
        [*arrays, pa.array(range(len(rows)), pa.int64())], names=[*names, "_row"]
    )


def run(*rows: dict[str, str | None], c: Contract | None = None, source: str = "acme"):
    c = c or contract()
    b = batch(*rows)
    return validate_batch(b, c, resolve_columns(b.schema.names, c, source, WHERE), source, "0123abcd")


def row(**changes: str | None) -> dict[str, str | None]:
    return {**ROW, **changes}


# ------------------------------------------------------------------------------------------- columns


def test_resolve_exact_alias_and_normalized_names() -> None:
    names = ["Event ID", "TIMESTAMP", "entry-point", "height_cm", "LABEL", "extra", "_row"]
    mapping = resolve_columns(names, contract(), "acme", WHERE)
    assert mapping == {
        "event_id": "Event ID",
        "ts": "TIMESTAMP",
        "entry_point": "entry-point",
        "height": "height_cm",
        "count": None,
        "code_ok": None,
        "phone_nearby": None,
        "label": "LABEL",
    }


def test_missing_required_column_is_one_line_error() -> None:
    message = f"{WHERE}: missing required column 'ts' (delivered: event_id, entry_point, label)"
    with pytest.raises(SchemaError, match=f"^{re.escape(message)}$"):
        resolve_columns(["event_id", "entry_point", "label", "_row"], contract(), "acme", WHERE)


def test_two_delivered_columns_for_one_contract_column() -> None:
    message = f"{WHERE}: delivered columns 'height' and 'height_cm' both map to contract column 'height'"
    with pytest.raises(SchemaError, match=f"^{re.escape(message)}$"):
        resolve_columns([*ROW, "height_cm"], contract(), "acme", WHERE)


def test_unknown_unit_pair_fails_before_any_row() -> None:
    c = contract(source_units={"cedar": {"height": "kg"}})
    with pytest.raises(
        SchemaError, match=r"column 'height' of source 'cedar': cannot convert unit 'kg' to 'cm'"
    ):
        resolve_columns(list(ROW), c, "cedar", WHERE)
    resolve_columns(list(ROW), c, "acme", WHERE)  # other sources are not affected


def test_clean_schema_types_order_and_metadata() -> None:
    schema = clean_schema(contract())
    assert schema.names == [*contract().columns, "_source", "_batch", "_row"]
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert schema.field("count").type == pa.int64()
    assert schema.field("code_ok").type == pa.bool_()
    meta = json.loads(schema.metadata[METADATA_KEY])
    assert meta["key"] == ["event_id"] and meta["target"] == "label"
    assert meta["columns"]["height"]["unit"] == "cm" and meta["columns"]["height"]["max"] == 260
    assert from_metadata(schema, "x") == contract()  # the whole contract round-trips


def test_quarantine_schema() -> None:
    schema = quarantine_schema(["a", "_row", "b"])
    assert schema.names == ["a", "b", "_row", "reason"]
    assert schema.field("_row").type == pa.int64()


# ------------------------------------------------------------------------------------------- rules


def test_clean_row_is_typed_and_stripped() -> None:
    out = run(row(event_id="  e1 ", height=" 120.5", count="+3"))
    assert out.quarantine.num_rows == 0 and out.reasons == {}
    assert out.clean.schema.equals(clean_schema(contract()), check_metadata=True)
    assert out.clean.to_pylist() == [
        {
            "event_id": "e1",
            "ts": datetime(2026, 1, 1, 3, 4, 5, tzinfo=UTC),
            "entry_point": "window",
            "height": 120.5,
            "count": 3,
            "code_ok": True,
            "phone_nearby": None,  # absent optional column: all null
            "label": "resident",
            "_source": "acme",
            "_batch": "0123abcd",
            "_row": 0,
        }
    ]


@pytest.mark.parametrize(
    ("changes", "reason", "kind"),
    [
        ({"ts": None}, "missing required 'ts'", "missing required: ts"),
        ({"ts": " NA "}, "missing required 'ts'", "missing required: ts"),
        ({"height": "12,5"}, "unparseable float in 'height': '12,5'", "unparseable float: height"),
        ({"height": "abc"}, "unparseable float in 'height': 'abc'", "unparseable float: height"),
        ({"height": "-Infinity"}, "unparseable float in 'height': '-Infinity'", "unparseable float: height"),
        ({"height": "NAN"}, "unparseable float in 'height': 'NAN'", "unparseable float: height"),
        ({"height": "1e999"}, "unparseable float in 'height': '1e999'", "unparseable float: height"),
        ({"height": "1.2.3"}, "unparseable float in 'height': '1.2.3'", "unparseable float: height"),
        ({"count": "0x1F"}, "unparseable int in 'count': '0x1F'", "unparseable int: count"),
        ({"count": "1.5"}, "unparseable int in 'count': '1.5'", "unparseable int: count"),
        ({"count": "99999999999999999999"}, "unparseable int in 'count': '99999999999999999999'", None),
        ({"code_ok": "maybe"}, "unparseable bool in 'code_ok': 'maybe'", "unparseable bool: code_ok"),
        ({"ts": "2026-02-30 25:61"}, "unparseable timestamp in 'ts': '2026-02-30 25:61'", None),
        ({"height": "999"}, "out of range in 'height': 999 > max 260", "out of range: height"),
        ({"height": "4.5"}, "out of range in 'height': 4.5 < min 5", "out of range: height"),
        ({"count": "11"}, "out of range in 'count': 11 > max 10", "out of range: count"),
        ({"entry_point": "chimney"}, "not allowed in 'entry_point': 'chimney'", "not allowed: entry_point"),
        ({"label": "Resident"}, "not allowed in 'label': 'Resident'", "not allowed: label"),
    ],
)
def test_each_rule_quarantines_with_reason(
    changes: dict[str, str | None], reason: str, kind: str | None
) -> None:
    out = run(row(**changes), row(event_id="e2"))
    assert out.clean.column("_row").to_pylist() == [1]
    assert out.quarantine.column("reason").to_pylist() == [reason]
    assert out.quarantine.column("_row").to_pylist() == [0]
    if kind:
        assert out.reasons == {kind: 1}


def test_all_broken_rules_are_reported_and_raw_values_kept() -> None:
    out = run(row(ts=None, height=" 12,5 ", entry_point="chimney", label="x"))
    assert out.quarantine.column("reason").to_pylist() == [
        "missing required 'ts'; not allowed in 'entry_point': 'chimney'; "
        "unparseable float in 'height': ' 12,5 '; not allowed in 'label': 'x'"
    ]
    assert out.quarantine.column("height").to_pylist() == [" 12,5 "]
    assert len(out.reasons) == 4


@pytest.mark.parametrize("value", ["", "NA", "null", " N/A "])
def test_missing_optional_value_is_null(value: str) -> None:
    out = run(row(height=value, count=value, code_ok=value))
    assert out.quarantine.num_rows == 0
    assert out.clean.select(["height", "count", "code_ok"]).to_pylist() == [
        {"height": None, "count": None, "code_ok": None}
    ]


@pytest.mark.parametrize(
    ("text", "value"), [("1", 1.0), (".5", 0.5), ("7.", 7.0), ("-0", 0.0), ("1.5e2", 150.0)]
)
def test_float_forms(text: str, value: float) -> None:
    out = run(
        row(height=text), c=contract(columns={"height": ColumnSpec(type="float")}, key=(), target="height")
    )
    assert out.clean.column("height").to_pylist() == [value]


@pytest.mark.parametrize(
    ("text", "value"), [("007", 7), ("-3", -3), ("+4", 4), ("5.0", 5), ("9223372036854775807", 2**63 - 1)]
)
def test_int_forms(text: str, value: int) -> None:
    out = run(row(count=text), c=contract(columns={"count": ColumnSpec(type="int")}, key=(), target="count"))
    assert out.clean.column("count").to_pylist() == [value]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T03:04:05", datetime(2026, 1, 1, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-01 03:04:05", datetime(2026, 1, 1, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-01T03:04:05Z", datetime(2026, 1, 1, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-01T03:04:05.25", datetime(2026, 1, 1, 3, 4, 5, 250000, tzinfo=UTC)),
        ("2026-01-01T03:04:05.123456789Z", datetime(2026, 1, 1, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2026-01-01T03:04:05+01:00", datetime(2026, 1, 1, 2, 4, 5, tzinfo=UTC)),
        ("2026-01-01T00:30:00-05:30", datetime(2026, 1, 1, 6, 0, 0, tzinfo=UTC)),
        ("2024-02-29 00:00:00", datetime(2024, 2, 29, tzinfo=UTC)),
        ("1969-12-31 23:59:59", datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2026-02-30 03:04:05", None),
        ("2023-02-29 00:00:00", None),
        ("2026-01-01 24:00:00", None),
        ("2026-01-01 23:59:60", None),
        ("2026-13-01 00:00:00", None),
        ("2026-01-01", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-02-30", None),
        ("2026-1-01", None),
        ("2026-01-01T03:04:05 Z", None),
        ("2026-01-01T03:04:05+25:00", None),
        ("2026-1-01  03:04:05", None),
    ],
)
def test_timestamps(text: str, expected: datetime | None) -> None:
    out = run(row(ts=text))
    assert out.clean.column("ts").to_pylist() == ([expected] if expected else [])
    if expected is None:
        assert out.reasons == {"unparseable timestamp: ts": 1}


def test_timestamp_with_format() -> None:
    c = contract(columns={"ts": ColumnSpec(type="timestamp", format="%d/%m/%Y %H:%M")}, key=(), target="ts")
    out = run(row(ts="02/01/2026 03:04"), row(ts="2026-01-02T03:04:00"), c=c)
    assert out.clean.column("ts").to_pylist() == [datetime(2026, 1, 2, 3, 4, tzinfo=UTC)]
    assert out.reasons == {"unparseable timestamp: ts": 1}


def test_unit_conversion_happens_before_range_check() -> None:
    c = contract(source_units={"cedar": {"height": "in"}})
    out = run(row(height="10"), row(height="110"), c=c, source="cedar")
    assert out.clean.column("height").to_pylist() == [25.4]
    assert out.quarantine.column("reason").to_pylist() == ["out of range in 'height': 279.4 > max 260"]


@pytest.mark.parametrize(
    ("src", "dst", "value", "expected"),
    [
        ("in", "cm", 1.0, 2.54),
        ("ft", "m", 1.0, 0.3048),
        ("lb", "kg", 1.0, 0.45359237),
        ("g", "kg", 1500.0, 1.5),
        ("min", "s", 2.0, 120.0),
        ("ms", "s", 250.0, 0.25),
        ("km/h", "m/s", 36.0, 10.0),
        ("mph", "km/h", 1.0, 1.609344),
        ("F", "C", 212.0, 100.0),
        ("C", "K", 0.0, 273.15),
        ("K", "F", 0.0, -459.67),
        ("cm", "cm", 3.0, 3.0),
    ],
)
def test_unit_table(src: str, dst: str, value: float, expected: float) -> None:
    scale, offset = conversion(src, dst, "x")
    assert value * scale + offset == pytest.approx(expected)


def test_unit_across_dimensions_is_an_error() -> None:
    with pytest.raises(SchemaError, match=r"^col: cannot convert unit 's' to 'm' \(known: mm, "):
        conversion("s", "m", "col")


def test_new_optional_column_absent_then_present() -> None:
    before = run(row())
    after = run(row(), c=contract())  # same contract, the delivered batch now also has phone_nearby
    b = batch(row(phone_nearby="yes"), names=[*ROW, "phone_nearby"])
    mapping = resolve_columns(b.schema.names, contract(), "birch", WHERE)
    now = validate_batch(b, contract(), mapping, "birch", "d2")
    assert (
        before.clean.column("phone_nearby").to_pylist()
        == [None]
        == after.clean.column("phone_nearby").to_pylist()
    )
    assert now.clean.column("phone_nearby").to_pylist() == [True]
    assert before.clean.schema == now.clean.schema


def test_extra_columns_dropped_from_clean_kept_in_quarantine() -> None:
    b = batch(row(extra="x"), row(extra="y", label="?"), names=[*ROW, "extra"])
    out = validate_batch(
        b, contract(), resolve_columns(b.schema.names, contract(), "acme", WHERE), "acme", "d"
    )
    assert "extra" not in out.clean.schema.names
    assert out.quarantine.column("extra").to_pylist() == ["y"]
    assert out.reasons == {"not allowed: label": 1}


def test_empty_batch() -> None:
    out = run()
    assert out.clean.num_rows == 0 and out.quarantine.num_rows == 0 and out.reasons == {}
    assert out.clean.schema.names == clean_schema(contract()).names
    assert out.quarantine.schema == quarantine_schema(list(ROW))


def test_sliced_batch_and_no_input_mutation() -> None:
    b = batch(row(event_id="e0"), row(height=" 999 "), row(ts="2026-01-01 03:04:05Z"), row(count=" 4"))
    part = b.slice(1)
    snapshot = part.to_pylist()
    out = validate_batch(
        part, contract(), resolve_columns(part.schema.names, contract(), "acme", WHERE), "acme", "d"
    )
    assert part.to_pylist() == snapshot
    assert out.clean.column("_row").to_pylist() == [2, 3]
    assert out.quarantine.column("height").to_pylist() == [" 999 "]


def test_import_does_not_load_pyarrow() -> None:
    code = (
        "import sys, strata.contract.engine, strata.contract.parse, strata.contract.units; "
        "print('pyarrow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------- duplicates


def test_dedupe_across_two_chunks_keeps_first() -> None:
    first = run(row(event_id="a"), row(event_id="b", height="10"), row(event_id="a", height="20")).clean
    second = run(row(event_id="b"), row(event_id="c"), row(event_id="c")).clean
    deduper = KeyDeduper()
    kept, dropped = deduper.drop_seen(first, contract())
    assert (kept.column("event_id").to_pylist(), kept.column("height").to_pylist(), dropped) == (
        ["a", "b"],
        [120.5, 10.0],
        1,
    )
    kept, dropped = deduper.drop_seen(second, contract())
    assert (kept.column("event_id").to_pylist(), kept.column("_row").to_pylist(), dropped) == (["c"], [1], 2)
    assert len(deduper) == 3


def test_dedupe_keeps_lowest_row_even_out_of_order() -> None:
    clean = run(row(event_id="a", height="10"), row(event_id="a", height="20")).clean
    reversed_rows = clean.take([1, 0])
    kept, dropped = KeyDeduper().drop_seen(reversed_rows, contract())
    assert kept.column("height").to_pylist() == [10.0] and dropped == 1


def test_dedupe_empty_key_drops_exact_duplicates_only() -> None:
    c = contract(key=())
    clean = run(row(event_id="a"), row(event_id="a"), row(event_id="a", height="121"), c=c).clean
    deduper = KeyDeduper()
    kept, dropped = deduper.drop_seen(clean, c)
    assert (kept.column("_row").to_pylist(), dropped) == ([0, 2], 1)
    again, dropped = deduper.drop_seen(run(row(event_id="a"), c=c).clean, c)
    assert (again.num_rows, dropped) == (0, 1)


def test_dedupe_empty_table_and_null_keys() -> None:
    c = contract(columns={**contract().columns, "event_id": ColumnSpec(type="string")})
    clean = run(row(event_id=None), row(event_id=None), c=c).clean
    deduper = KeyDeduper()
    assert deduper.drop_seen(clean, c)[1] == 0
    assert deduper.drop_seen(clean.slice(0, 0), c) == (clean.slice(0, 0), 0)


def test_large_string_columns_are_accepted() -> None:
    b = batch(row(), row(ts="2026-02-30 00:00:00"))
    wide = pa.RecordBatch.from_arrays(
        [c.cast(pa.large_string()) if c.type == pa.string() else c for c in b.columns], names=b.schema.names
    )
    out = validate_batch(
        wide, contract(), resolve_columns(wide.schema.names, contract(), "acme", WHERE), "a", "d"
    )
    assert (out.clean.num_rows, out.reasons) == (1, {"unparseable timestamp: ts": 1})
    assert out.quarantine.schema == quarantine_schema(list(ROW))

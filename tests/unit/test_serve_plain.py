"""strata.serving.plain, the value-at-a-time reader of small clean batches, against the engine: whatever it
accepts is the engine's clean table exactly (schema, metadata, values, lineage), it never accepts a row the
engine quarantines, and it does accept plain clean rows (else the fast path would be dead code)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_contract_properties import CONTRACT, NAMES, junk, likely_valid

from strata.contract.engine import validate_batch
from strata.contract.spec import MALFORMED, ROW, ColumnSpec, Contract
from strata.serving import door
from strata.serving import plain as rows

NEAR_MISSES = {
    "float": [
        "1", "1.5", "+1.5", "-0", "-0.0", "1.", ".5", ".", "1e5", "1E+05", "+.5e-3", "00001.5", "1e309",
        "-1e309", "1e-400", "0x10", "1_0", "1,5", "inf", "-inf", "nan", "NaN", "Infinity", "١٢", "１２",
        "12 ", " 12", "1\u00a0", "\u200b1", "1e", "e1", "--1", "1..2", "0.1000000000000000055511151231257827",
        "179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000000000000000", "2.4703282292062328e-324", "4.9e-324",
        "9007199254740993", "0.30000000000000004", "260", "260.0000000000001", "5", "4.999999999999999",
    ],
    "int": [
        "0", "7", "007", "-3", "+3", "-4", "3.0", "3.00", "3.5", "1000", "1001", "123456789012345678",
        "1234567890123456789", "9223372036854775808", "9007199254740993", "١", "1e3", "", " 1", "0x1",
    ],
    "bool": ["true", "True", "TRUE", "1", "0", "yes", "no", "y", "n", "t", "f", "F", "T", "maybe", "true "],
    "timestamp": [
        "2026-01-01", "2026-01-01T10:00:00", "2026-01-01 10:00:00", "2026-01-01t10:00:00",
        "2026-01-01T10:00:00Z", "2026-01-01T10:00:00z", "2026-01-01T10:00:00.5", "2026-01-01T10:00:00.",
        "2026-01-01T10:00:00.123456789", "2026-01-01T10:00:00.1234567890", "2026-01-01T10:00:00+05:30",
        "2026-01-01T10:00:00-0530", "2026-01-01T10:00:00+05", "2026-01-01T10:00:00+24:00",
        "2026-01-01T10:00:00+05:60", "2026-01-01T10:00:00.999999999-23:59", "2024-02-29T00:00:00",
        "2023-02-29T00:00:00", "2026-13-01T00:00:00", "2026-01-01T24:00:00", "2026-01-01T23:59:60",
        "0000-01-01T00:00:00", "1899-12-31T23:59:59", "1900-01-01T00:00:00", "2199-12-31T23:59:59.999999",
        "2200-01-01T00:00:00", "2200-01-01T00:00:00.000001", "9999-12-31T23:59:59", "2026-01-01Z",
        "2026-1-01T10:00:00", "2026-01-01T10:00", "２０２６-01-01T10:00:00", "2026-01-01T10:00:00+05:30:00",
    ],
    "category": ["resident", "intruder", "Resident", "resident ", "animal", "", "NA", "null", "None"],
    "string": ["e1", "e 1", "é", "e1é", "NA", "", "None", "x" * 200, "\u00e9t\u00e9"],
}  # fmt: skip
COLUMN_OF = {"float": "height", "int": "count", "bool": "ok", "timestamp": "ts", "category": "label"}
GOOD = {"event_id": "e1", "ts": "2026-01-01T00:00:00", "height": "50", "count": "3", "ok": "y"}
GOOD |= {"label": "resident"}


def batch(records: list[dict[str, str | None]], contract: Contract = CONTRACT) -> pa.RecordBatch:
    """What strata.serving.door.renamed gives: every contract column by name as text, _row, _malformed."""
    names = list(contract.columns)
    arrays = [pa.array([r.get(n) for r in records], pa.string()) for n in names]
    arrays += [pa.array(range(len(records)), pa.int64()), pa.nulls(len(records), pa.string())]
    return pa.RecordBatch.from_arrays(arrays, names=[*names, ROW, MALFORMED])


def agree(records: list[dict[str, str | None]], source: str, contract: Contract = CONTRACT) -> bool:
    """The property; returns whether the fast path accepted the batch."""
    b = batch(records, contract)
    fast = rows.clean_rows(b, contract, source, "request")
    engine = validate_batch(b.drop_columns([MALFORMED]), contract, door.identity(contract), source, "request")
    if fast is None:
        return False
    assert engine.quarantine.num_rows == 0, (records, engine.quarantine.to_pylist())
    assert fast.schema.equals(engine.clean.schema, check_metadata=True)
    assert fast.equals(engine.clean), (records, fast.to_pylist(), engine.clean.to_pylist())
    return True


@pytest.mark.parametrize("kind", sorted(NEAR_MISSES))
@pytest.mark.parametrize("source", ["acme", "cedar"])  # cedar reports height in inches
def test_near_miss_values_are_typed_as_the_engine_types_them_or_left_to_it(kind: str, source: str) -> None:
    column = COLUMN_OF.get(kind, "event_id")
    accepted = [v for v in NEAR_MISSES[kind] if agree([{**GOOD, column: v}], source)]
    assert accepted  # plain values take the fast path
    assert agree([{**GOOD, column: v} for v in accepted], source)  # and all together


def test_plain_clean_rows_take_the_fast_path_and_anything_rejected_does_not() -> None:
    assert agree([GOOD, {**GOOD, "height": None, "count": "NA", "ok": ""}], "acme")  # optional missing
    for bad in ({"height": "4"}, {"count": "1001"}, {"label": "cat"}, {"ts": "never"}, {"event_id": None}):
        assert not agree([GOOD, {**GOOD, **bad}], "acme"), bad
    assert not agree([{**GOOD, "height": " 50"}], "acme")  # stripped first: left to the engine
    b = batch([GOOD])
    malformed = b.set_column(b.num_columns - 1, MALFORMED, pa.array(["{"], pa.string()))
    assert rows.clean_rows(malformed, CONTRACT, "acme", "request") is None
    assert rows.clean_rows(batch([GOOD] * (rows.ROWS + 1)), CONTRACT, "acme", "request") is None


def test_contracts_the_fast_path_does_not_read_are_left_to_the_engine() -> None:
    formatted = dataclasses.replace(CONTRACT.columns["ts"], format="%d/%m/%Y %H:%M")
    contract = dataclasses.replace(CONTRACT, columns={**CONTRACT.columns, "ts": formatted})
    assert rows.clean_rows(batch([{**GOOD, "ts": "01/01/2026 10:00"}], contract), contract, "a", "r") is None
    count = dataclasses.replace(CONTRACT.columns["count"], unit="cm")
    contract = dataclasses.replace(
        CONTRACT, columns={**CONTRACT.columns, "count": count}, source_units={"cedar": {"count": "in"}}
    )
    assert rows.clean_rows(batch([GOOD], contract), contract, "cedar", "r") is None  # int converted
    assert agree([GOOD], "acme", contract)  # the same contract, another source: nothing converted
    unknown = dataclasses.replace(CONTRACT, source_units={"cedar": {"height": "furlong"}})
    assert rows.clean_rows(batch([GOOD], unknown), unknown, "cedar", "r") is None  # the engine raises


def test_own_markers_and_words_of_a_contract_are_read_as_the_engine_reads_them() -> None:
    contract = dataclasses.replace(
        CONTRACT,
        na_values=("-", "n/a ", "?"),
        true_values=("oui", "1"),
        false_values=("non", "1"),  # "1" in both lists: the first decides, as in the engine
        columns={**CONTRACT.columns, "note": ColumnSpec(type="string")},
    )
    for value in ("-", "n/a", "?", "", "NA", "oui", "non", "1", "true"):
        agree([{**GOOD, "ok": value, "note": value, "height": value}], "acme", contract)
    assert agree([{**GOOD, "ok": "1", "height": "-", "note": ""}], "acme", contract)


values_of: dict[str, st.SearchStrategy[Any]] = {
    name: st.one_of(
        likely_valid[name], junk, st.sampled_from(NEAR_MISSES.get(CONTRACT.columns[name].type, ["e1"]))
    )
    for name in NAMES
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.fixed_dictionaries({n: values_of[n] for n in NAMES}), min_size=1, max_size=4),
    st.sampled_from(["acme", "cedar"]),
)
def test_generated_rows_are_typed_as_the_engine_types_them_or_left_to_it(
    records: list[dict[str, str | None]], source: str
) -> None:
    agree(records, source)

"""Timestamp columns have min/max like numbers (ISO text in the contract) and a default window, so a year
0000 or 10000 never reaches clean data (issue 9)."""

from __future__ import annotations

import pyarrow as pa
import pytest
import yaml

from strata.contract.engine import validate_batch
from strata.contract.spec import ColumnSpec, Contract, clean_schema, from_metadata
from strata.errors import ConfigError
from strata.typed import build


def contract(yaml_columns: str) -> Contract:
    columns = yaml.safe_load(yaml_columns)
    return build(Contract, {"target": "id", "columns": {"id": {"type": "string"}, **columns}}, "c")


def check(c: Contract, values: list[str | None]) -> tuple[list, list[tuple[int, str]], dict[str, int]]:
    names = [n for n in c.columns if n != "id"]
    batch = pa.record_batch(
        {"id": [str(i) for i in range(len(values))], **{n: values for n in names}, "_row": range(len(values))}
    )
    out = validate_batch(batch, c, {n: n for n in c.columns}, "s", "d")
    rows, reasons = (out.quarantine.column(n).to_pylist() for n in ("_row", "reason"))
    bad = list(zip(rows, reasons, strict=True))
    return out.clean.column("id").to_pylist(), bad, out.reasons


def test_default_window_quarantines_impossible_years_with_a_reason():
    values = [
        "0000-01-01",
        "9999-12-31T23:59:59-23:59",
        "1899-12-31T23:59:59Z",
        "1900-01-01",
        "2199-12-31T23:59:59",
        "2200-01-01T00:00:00.000001Z",
        None,
    ]
    clean, bad, reasons = check(contract("ts: {type: timestamp}"), values)
    assert clean == ["3", "4", "6"]
    assert bad == [
        (0, "out of range in 'ts': '0000-01-01' < min 1900-01-01"),
        (1, "out of range in 'ts': '9999-12-31T23:59:59-23:59' > max 2200-01-01"),
        (2, "out of range in 'ts': '1899-12-31T23:59:59Z' < min 1900-01-01"),
        (5, "out of range in 'ts': '2200-01-01T00:00:00.000001Z' > max 2200-01-01"),
    ]
    assert reasons == {"out of range: ts": 4}


def test_limits_are_instants_written_as_iso_text_dates_included():
    c = contract("ts: {type: timestamp, min: 2026-01-01, max: '2026-01-31T23:00:00-01:00'}")
    assert (c.columns["ts"].min, c.columns["ts"].max) == ("2026-01-01", "2026-01-31T23:00:00-01:00")
    clean, bad, _ = check(c, ["2025-12-31T23:30:00-01:00", "2026-02-01T00:00:00Z", "2026-02-01T00:00:01Z"])
    assert clean == ["0", "1"]
    assert bad == [(2, "out of range in 'ts': '2026-02-01T00:00:01Z' > max 2026-01-31T23:00:00-01:00")]


def test_a_column_with_a_strptime_format_has_the_same_window():
    clean, bad, _ = check(contract("ts: {type: timestamp, format: '%d/%m/%Y'}"), ["01/01/1850", "01/01/2026"])
    assert clean == ["1"] and bad == [(0, "out of range in 'ts': '01/01/1850' < min 1900-01-01")]


def test_wider_limits_may_reach_back_to_year_one():
    c = contract("ts: {type: timestamp, min: '0001-01-01', max: '9999-12-31T23:59:59.999999'}")
    clean, bad, _ = check(c, ["1066-10-14", "0000-12-31", "9999-12-31T23:59:59-00:01"])
    assert clean == ["0"] and [r for r, _ in bad] == [1, 2]


def test_the_contract_round_trips_its_timestamp_limits():
    c = contract("ts: {type: timestamp, min: 2020-01-01}\nw: {type: float, min: 0.5, max: 3}")
    assert from_metadata(clean_schema(c), "x") == c


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (
            "{type: timestamp, min: 5}",
            "c.columns.ts.min: expected an ISO date or date-time such as '1900-01-01'",
        ),
        (
            "{type: timestamp, max: '2026-13-01'}",
            "c.columns.ts.max: '2026-13-01' is not an ISO date or date-time",
        ),
        (
            "{type: timestamp, min: 2027-01-01, max: 2026-01-01}",
            "c.columns.ts: min 2027-01-01 is greater than max",
        ),
        ("{type: timestamp, max: 1800-01-01}", "c.columns.ts: min 1900-01-01 is greater than max 1800-01-01"),
        (
            "{type: float, min: abc}",
            "c.columns.ts.min: expected a number (not NaN) for a float column, got 'abc'",
        ),
        ("{type: float, max: .nan}", "c.columns.ts.max: expected a number (not NaN) for a float column"),
        ("{type: string, min: 3}", "c.columns.ts.min: only int, float and timestamp columns have a min"),
        ("{type: int, min: 5, max: 1}", "c.columns.ts: min 5 is greater than max 1"),
    ],
)
def test_bad_limits_name_the_key(column, message):
    with pytest.raises(ConfigError) as err:
        contract(f"ts: {column}")
    assert str(err.value).startswith(message)


def test_numbers_keep_their_limits():
    spec = ColumnSpec(type="float", min=0.1, max=250)
    assert spec.limits() == (0.1, 250.0) and spec.limit_text("max") == "250"


def test_an_impossible_unquoted_date_in_params_is_one_line(tmp_path):
    from strata.config import load_params

    path = tmp_path / "params.yaml"
    path.write_text("validate:\n  contract:\n    columns:\n      ts: {type: timestamp, max: 2026-13-01}\n")
    with pytest.raises(ConfigError, match=r"params.yaml: not valid YAML \(month must be in 1..12\)$"):
        load_params(path)

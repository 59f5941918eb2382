"""Hypothesis properties of validate_batch: nothing lost, clean rows obey the contract, rows independent."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strata.contract.columns import resolve_columns
from strata.contract.engine import validate_batch
from strata.contract.keys import KeyDeduper
from strata.contract.parse import parse_iso, strip_missing
from strata.contract.spec import ColumnSpec, Contract

CONTRACT = Contract(
    target="label",
    key=("event_id",),
    source_units={"cedar": {"height": "in"}},
    columns={
        "event_id": ColumnSpec(type="string", required=True),
        "ts": ColumnSpec(type="timestamp", required=True),
        "height": ColumnSpec(type="float", unit="cm", min=5, max=260),
        "count": ColumnSpec(type="int", min=-3, max=1000),
        "ok": ColumnSpec(type="bool"),
        "label": ColumnSpec(type="category", required=True, values=("resident", "intruder")),
    },
)
NAMES = list(CONTRACT.columns)

noise = st.text(alphabet="0123456789.-+eE :TZnaifx,\t", max_size=24)
numbers = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-1e4, 1e4).map(lambda x: f"{x:.3f}"),
)
stamps = st.builds(
    "{:04d}-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}".format,
    st.integers(1900, 2100),
    st.integers(0, 13),
    st.integers(0, 32),
    st.sampled_from(["T", " ", "t"]),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["", "Z", ".5", ".123456789", "+01:00", "-0530", "+24:00", "z"]),
)
words = st.sampled_from(["", "NA", "null", " resident ", "intruder", "Resident", "true", "0", "yes", "e1"])
junk = st.one_of(st.none(), noise, numbers, stamps, words, st.text(max_size=8))
good_stamps = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}".format,
    st.integers(1970, 2100),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.sampled_from(["", "Z", ".25", "+05:45"]),
)
likely_valid = {  # mostly valid values, so that clean rows exist and their properties are exercised
    "event_id": st.sampled_from(["e1", "e2", " e3 "]),
    "ts": good_stamps,
    "height": st.one_of(st.floats(5, 260), st.floats(0, 300)).map(str),
    "count": st.one_of(st.integers(-3, 1000), st.integers(-5, 1005)).map(str),
    "ok": st.sampled_from(["true", "0", "y", ""]),
    "label": st.sampled_from(["resident", "intruder "]),
}


def column(name: str) -> st.SearchStrategy[str | None]:
    pick = st.integers(0, 7).flatmap(lambda i: junk if i == 0 else likely_valid[name])
    return pick.map(lambda v: v if v is None or len(v) % 3 else f" {v}\t")


rows = st.lists(st.fixed_dictionaries({n: column(n) for n in NAMES}), max_size=20)


def to_batch(records: list[dict[str, str | None]], first_row: int = 0) -> pa.RecordBatch:
    arrays = [pa.array([r[n] for r in records], pa.string()) for n in NAMES]
    index = pa.array(range(first_row, first_row + len(records)), pa.int64())
    return pa.RecordBatch.from_arrays([*arrays, index], names=[*NAMES, "_row"])


def check(records: list[dict[str, str | None]], source: str = "acme"):
    b = to_batch(records)
    return validate_batch(b, CONTRACT, resolve_columns(b.schema.names, CONTRACT, source, "t"), source, "d")


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(SETTINGS, max_examples=40)  # validates every row alone too


@SETTINGS
@given(rows, st.sampled_from(["acme", "cedar"]))
def test_every_row_lands_exactly_once(records: list[dict[str, str | None]], source: str) -> None:
    out = check(records, source)
    clean_rows = out.clean.column("_row").to_pylist()
    bad_rows = out.quarantine.column("_row").to_pylist()
    assert len(records) == out.clean.num_rows + out.quarantine.num_rows
    assert sorted(clean_rows + bad_rows) == list(range(len(records)))
    assert all(out.quarantine.column("reason").to_pylist())
    assert sum(out.reasons.values()) >= out.quarantine.num_rows


@SETTINGS
@given(rows, st.sampled_from(["acme", "cedar"]))
def test_clean_values_obey_the_contract(records: list[dict[str, str | None]], source: str) -> None:
    out = check(records, source)
    assert out.clean.schema.names == [*NAMES, "_source", "_batch", "_row"]
    out.clean.validate(full=True)
    for name, spec in CONTRACT.columns.items():
        values = out.clean.column(name).to_pylist()
        if spec.required:
            assert None not in values
        present = [v for v in values if v is not None]
        if spec.values:
            assert set(present) <= set(spec.values)
        if spec.type in ("int", "float"):
            assert all(math.isfinite(v) for v in present)
            assert all(spec.min <= v <= spec.max for v in present)  # type: ignore[operator]
        if spec.type == "string":
            assert all(v == v.strip() for v in present)


@FEW
@given(rows, st.sampled_from(["acme", "cedar"]))
def test_a_rows_verdict_does_not_depend_on_its_neighbours(
    records: list[dict[str, str | None]], source: str
) -> None:
    whole = check(records, source)
    alone = [check([r], source) for r in records]
    assert whole.quarantine.column("reason").to_pylist() == [
        reason for one in alone for reason in one.quarantine.column("reason").to_pylist()
    ]
    singles = [one.clean.drop_columns(["_row"]).to_pylist() for one in alone]
    assert whole.clean.drop_columns(["_row"]).to_pylist() == [r for one in singles for r in one]


@SETTINGS
@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=30), st.integers(0, 30))
def test_dedupe_matches_first_occurrence(keys: list[str], cut: int) -> None:
    ok = {
        "event_id": "",
        "ts": "2026-01-01T00:00:00",
        "height": "",
        "count": "",
        "ok": "",
        "label": "resident",
    }
    clean = check([{**ok, "event_id": k} for k in keys]).clean
    deduper = KeyDeduper()
    first, dropped_first = deduper.drop_seen(clean.slice(0, cut), CONTRACT)
    second, dropped_second = deduper.drop_seen(clean.slice(cut), CONTRACT)
    kept = first.column("event_id").to_pylist() + second.column("event_id").to_pylist()
    assert kept == list(dict.fromkeys(keys))
    assert dropped_first + dropped_second == len(keys) - len(kept)


# ------------------------------------------------------------------------- byte-level fast paths vs oracles

ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d(?::?\d\d)?)?", re.ASCII
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def reference_iso(text: str) -> int | None:
    """The documented timestamp grammar, with re and datetime: UTC microseconds, or None."""
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text, re.ASCII):
        text += "T00:00:00"
    m = ISO.fullmatch(text)
    if m is None:
        return None
    zone = m[8] or "Z"
    hours, minutes = (0, 0) if zone == "Z" else (int(zone[1:3]), int(zone[-2:]) if len(zone) > 3 else 0)
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:  # datetime has no year 0; 400 years later is the same calendar, 146097 days on
        since = datetime(year or 400, month, day, hour, minute, second, tzinfo=UTC) - EPOCH
    except ValueError:
        return None
    if hours > 23 or minutes > 59:
        return None
    offset = (hours * 60 + minutes) * 60_000_000 * (-1 if zone[0] == "-" else 1)
    since -= timedelta(days=0 if year else 146097)
    return since // timedelta(microseconds=1) + int((m[7] or "").ljust(6, "0")[:6]) - offset


def edgy(low: int, high: int, *extra: int) -> st.SearchStrategy[int]:
    """Mostly valid values, often a boundary, sometimes just outside the valid range."""
    return st.one_of(st.integers(low, high), st.sampled_from([low, high, *extra]))


iso_like = st.builds(
    "{:04d}-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}{}".format,
    st.one_of(st.integers(1, 9999), st.sampled_from([0, 1, 1600, 1900, 1970, 2000, 2024, 2100, 9999])),
    edgy(1, 12, 0, 13),
    edgy(1, 28, 0, 29, 30, 31, 32),
    st.sampled_from(["T", "T", "T", " ", "t", "_"]),
    edgy(0, 23, 24),
    edgy(0, 59, 60),
    edgy(0, 59, 60, 61),
    st.one_of(st.just(""), st.text(alphabet="0123456789", max_size=10).map(lambda f: "." + f)),
    st.one_of(
        st.sampled_from(["", "Z", "z", "ZZ", "+", "-", "+1", "+05:", "+05:3", "+05::30", "+0530Z", ".5Z"]),
        st.builds(
            "{}{:02d}{}{:02d}".format,
            st.sampled_from("+-"),
            edgy(0, 23, 24, 30),
            st.sampled_from(["", ":"]),
            edgy(0, 59, 60, 70),
        ),
        st.builds("{}{:02d}".format, st.sampled_from("+-"), edgy(0, 23, 24)),
    ),
)
dates = st.builds(
    "{:04d}-{:02d}-{:02d}".format, st.integers(1, 9999), edgy(1, 12, 0, 13), edgy(1, 28, 0, 29, 31, 32)
)
stamp_texts = st.one_of(
    iso_like,
    iso_like,
    iso_like,
    dates,
    iso_like.map(lambda t: t[:-1]),
    st.text("0123456789-:T Z+.é", max_size=30),
)


@settings(SETTINGS, max_examples=200)
@given(st.lists(stamp_texts, min_size=20, max_size=60), st.integers(0, 3))
def test_iso_parser_matches_a_reference_parser(texts: list[str], cut: int) -> None:
    strings = pa.array(["pad"] * cut + texts, pa.string()).slice(cut)
    micros, ok = parse_iso(strings, np.ones(len(texts), bool))
    got = [int(m) if good else None for m, good in zip(micros, ok, strict=True)]
    assert got == [reference_iso(t) for t in texts]


padded_text = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.sampled_from(["NA", " NA ", "N/A", "null", "\u00a0-\u2003", "?", "", "  ", "x", "é"]),
    st.builds(
        "{}{}{}".format,
        st.sampled_from(["", " ", "\t", "\u3000"]),
        st.text(max_size=4),
        st.sampled_from(["", " ", "\n"]),
    ),
)


@SETTINGS
@given(st.lists(padded_text, max_size=40), st.sampled_from([CONTRACT.na_values, ("NA", " - ", "é"), ()]))
def test_strip_missing_matches_trim_and_lookup(texts: list[str | None], na_values: tuple[str, ...]) -> None:
    raw = pa.array(texts, pa.string())
    stripped, missing = strip_missing(raw, na_values)
    expected = pc.utf8_trim_whitespace(raw)
    assert stripped.equals(expected)
    na = pa.array([v.strip() for v in na_values], pa.string())
    looked_up = pc.fill_null(pc.is_in(expected, value_set=na), False).to_numpy(zero_copy_only=False)
    assert missing.tolist() == (looked_up | ~expected.is_valid().to_numpy(zero_copy_only=False)).tolist()

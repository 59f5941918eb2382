"""KeyDeduper and its numpy string hash: pinned values (stable everywhere) and first-occurrence semantics."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from strata.contract.keys import KeyDeduper, row_hashes, string_hash
from strata.contract.spec import ColumnSpec, Contract

TEXTS = [
    "",
    "a",
    "a\x00",
    "E000000000001",
    "abcdefgh",
    "abcdefghi",
    "ünïcødé key that is longer than 32 bytes",
]
# Pinned: the hash must never change across processes, machines or releases (the deduper only ever compares
# hashes made by one process, but a silent change would mean the code changed without anyone deciding it).
PINNED = [
    13371944130919835716,
    11917584344424898561,
    8659711738170984150,
    12461530981654548189,
    4238821247360054455,
    4287441548404494745,
    4955590931299452553,
]
CONTRACT = Contract(
    target="label",
    key=("event_id",),
    columns={
        "event_id": ColumnSpec(type="string"),
        "label": ColumnSpec(type="category", values=("x",)),
    },
)


def table(keys: list[str | None], first_row: int = 0, kind: pa.DataType | None = None) -> pa.Table:
    return pa.table(
        {
            "event_id": pa.array(keys, kind or pa.string()),
            "label": pa.array(["x"] * len(keys), pa.string()),
            "_row": pa.array(range(first_row, first_row + len(keys)), pa.int64()),
        }
    )


def test_string_hash_is_pinned() -> None:
    assert [int(h) for h in string_hash(pa.array(TEXTS, pa.string()))] == PINNED


def test_string_hash_reads_slices_and_ignores_neighbours() -> None:
    whole = pa.array(["zz", *TEXTS, "yy"], pa.string())
    assert [int(h) for h in string_hash(whole.slice(1, len(TEXTS)))] == PINNED
    assert [int(h) for h in string_hash(pa.array(TEXTS[::-1], pa.string()))] == PINNED[::-1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=40))
def test_string_hash_depends_on_the_value_only(texts: list[str]) -> None:
    hashes = string_hash(pa.array(texts, pa.string()))
    alone = [int(string_hash(pa.array([t], pa.string()))[0]) for t in texts]
    assert [int(h) for h in hashes] == alone
    distinct = {t: int(h) for t, h in zip(texts, hashes, strict=True)}
    assert len(set(distinct.values())) == len(distinct)  # no collision among a few values


def test_single_string_key_hashes_without_pandas_and_masks_nulls() -> None:
    hashes, hashed = row_hashes(table(["a", None, "b"]), CONTRACT)
    assert hashed.tolist() == [True, False, True]
    assert [int(hashes[0]), int(hashes[2])] == [PINNED[1], int(string_hash(pa.array(["b"]))[0])]
    wide, _ = row_hashes(table(["a", None, "b"], kind=pa.large_string()), CONTRACT)
    assert wide[[0, 2]].tolist() == hashes[[0, 2]].tolist()


keys = st.one_of(
    st.none(), st.sampled_from(["", "a", "a\x00", "abcdefgh", "abcdefgh\x00", "x" * 40]), st.text()
)


@settings(max_examples=200, deadline=None)
@given(st.lists(keys, max_size=60), st.integers(0, 60), st.booleans())
def test_dedupe_matches_first_occurrence_with_any_keys(
    values: list[str | None], cut: int, shuffle: bool
) -> None:
    deduper = KeyDeduper()
    first = table(values[:cut])
    second = table(values[cut:], first_row=len(values[:cut]))
    if shuffle:  # processing order is by _row, not by position in the table
        second = second.take(pa.array(range(second.num_rows)[::-1], pa.int64()))
    kept_first, dropped_first = deduper.drop_seen(first, CONTRACT)
    kept_second, dropped_second = deduper.drop_seen(second, CONTRACT)
    kept = kept_first.to_pylist() + kept_second.to_pylist()
    seen: set[str] = set()
    expected = []
    for row, value in enumerate(values):
        if value is None or value not in seen:
            expected.append(row)
        if value is not None:
            seen.add(value)
    assert sorted(r["_row"] for r in kept) == expected
    assert dropped_first + dropped_second == len(values) - len(expected)
    if shuffle:
        assert [r["_row"] for r in kept_second.to_pylist()] == sorted(
            (r["_row"] for r in kept_second.to_pylist()), reverse=True
        )


# ----------------------------------------------------------------------------- pinned values (never change)
# These numbers are the train/test side of every row ever split. If one changes, rows move between train and
# test on the next run: that is a breaking change of the data contract, never an incidental one.


def test_string_hash_values_are_pinned() -> None:
    values = pa.array(["", "a", "acme-20260101-00000", "x" * 17])
    assert [int(h) for h in string_hash(values)] == [
        13371944130919835716,
        11917584344424898561,
        4375902963943770279,
        377437682530159891,
    ]


def test_composite_key_text_and_hash_are_pinned() -> None:
    import datetime

    from strata.contract.keys import key_text

    contract = Contract(
        target="y",
        key=("site", "n", "t"),
        columns={
            "site": ColumnSpec(type="string"),
            "n": ColumnSpec(type="int"),
            "t": ColumnSpec(type="timestamp"),
            "f": ColumnSpec(type="float"),
            "y": ColumnSpec(type="string"),
        },
    )
    moment = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    table = pa.table(
        {
            "site": ["a", None],
            "n": [1, 2],
            "t": pa.array([moment, None], pa.timestamp("us", tz="UTC")),
            "f": [1.5, -0.0],
            "y": ["r", "i"],
        }
    )
    assert key_text(table, contract).to_pylist() == ["1:a1:116:1767225600000000", "~1:2~"]
    hashes, complete = row_hashes(table, contract)
    assert [int(h) for h in hashes] == [18384196267576753305, 13873016705676162224]
    assert complete.tolist() == [True, False]
    every = Contract(target="y", columns=contract.columns)  # key: [] -> all columns; -0.0 == 0.0
    assert key_text(table, every).to_pylist() == [
        "1:a1:116:176722560000000019:46094342186137026561:r",
        "~1:2~1:01:i",
    ]


def test_split_side_is_pinned() -> None:
    from strata.contract.keys import on_test_side

    hashes = string_hash(pa.array([f"e{i}" for i in range(12)]))
    assert on_test_side(hashes, 7, 0.25).tolist() == [True, False, False, True] + [False] * 8

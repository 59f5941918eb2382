"""Pure helpers of strata.review.snapshots: flattening, params/metrics/schema diffs, manifest reading."""

from __future__ import annotations

from collections import Counter

import pytest

from strata.review.snapshots import (
    diff_flat,
    diff_metrics,
    diff_schema,
    flatten,
    manifest_entries,
    partition_columns,
    reasons,
)


@pytest.mark.parametrize(
    ("obj", "flat"),
    [
        ({"a": {"b": 1, "c": {"d": "x"}}}, {"a.b": 1, "a.c.d": "x"}),
        ({"key": ["event_id"], "drop": []}, {"key": ["event_id"], "drop": []}),
        (
            {"sites": [{"name": "acme"}, {"name": "birch", "homes": 3}]},
            {"sites[0].name": "acme", "sites[1].name": "birch", "sites[1].homes": 3},
        ),
        ({"empty": {}}, {}),
        (3, {}),
    ],
)
def test_flatten(obj: object, flat: dict[str, object]) -> None:
    assert flatten(obj) == flat


def test_diff_flat_reports_changed_added_removed_only() -> None:
    base = {"train.seed": 1, "train.model": "hgb", "split.seed": 7, "gone": True}
    head = {"train.seed": 2, "train.model": "hgb", "split.seed": 7, "new": [1]}
    assert diff_flat(base, head) == [
        {"key": "gone", "base": True, "head": None, "status": "removed"},
        {"key": "new", "base": None, "head": [1], "status": "added"},
        {"key": "train.seed", "base": 1, "head": 2, "status": "changed"},
    ]


def test_diff_metrics_numeric_only_with_deltas() -> None:
    rows = diff_metrics(
        {"accuracy": 0.9, "n": 10, "name": "x", "old": 0.5, "flag": True},
        {"accuracy": 0.95, "n": 12, "name": "y", "new": 0.1, "flag": False},
    )
    assert [(r["metric"], r["base"], r["head"]) for r in rows] == [
        ("accuracy", 0.9, 0.95),
        ("n", 10.0, 12.0),
        ("new", None, 0.1),
        ("old", 0.5, None),
    ]
    assert rows[0]["delta"] == pytest.approx(0.05)
    assert rows[1]["delta"] == 2.0 and rows[2]["delta"] is None and rows[3]["delta"] is None


@pytest.mark.parametrize("key", ["partitions", "datums"])
def test_manifest_entries_under_either_key(key: str) -> None:
    entry = {"rows_in": 3}
    assert manifest_entries({"version": 1, key: {"acme/ab": entry}}) == {"acme/ab": entry}


def test_manifest_entries_at_top_level_and_empty() -> None:
    assert manifest_entries({"version": 1, "acme/ab": {"rows_in": 1}}) == {"acme/ab": {"rows_in": 1}}
    assert manifest_entries({}) == {}


def test_reasons_sums_mappings_and_lists() -> None:
    clean = {
        "a/1": {"reasons": {"missing required 'ts'": 2}},
        "a/2": {"reasons": {"missing required 'ts'": 1, "out of range in 'height': 999 > max 260": 4}},
        "b/1": {"reasons": ["not allowed in 'entry_point': 'chimney'"]},
        "b/2": {},
    }
    assert reasons(clean) == Counter(
        {
            "missing required 'ts'": 3,
            "out of range in 'height': 999 > max 260": 4,
            "not allowed in 'entry_point': 'chimney'": 1,
        }
    )


def test_partition_columns_union_in_first_seen_order() -> None:
    parts = {
        "birch/2": {"source": "birch", "columns": ["event_id", "ts", "phone_nearby"]},
        "birch/1": {"source": "birch", "columns": ["event_id", "ts"]},
        "acme/1": {"columns": ["eventId"]},
    }
    assert partition_columns(parts) == {"acme": ["eventId"], "birch": ["event_id", "ts", "phone_nearby"]}


def test_diff_schema_lists_and_typed() -> None:
    assert diff_schema({"birch": ["a", "b"]}, {"birch": ["a", "c"], "new": ["x"]}) == {
        "birch": {"added": ["c"], "removed": ["b"], "retyped": {}},
        "new": {"added": ["x"], "removed": [], "retyped": {}},
    }
    typed = diff_schema({"acme": {"h": "double", "k": "string"}}, {"acme": {"h": "int64", "k": "string"}})
    assert typed == {"acme": {"added": [], "removed": [], "retyped": {"h": ["double", "int64"]}}}
    assert diff_schema({"acme": ["a"]}, {"acme": ["a"]}) == {}

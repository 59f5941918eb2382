"""Pure helpers of strata.review.diffs: flattening, params/metrics/schema diffs, manifest reading, and
snapshots with unknown pieces (never shown as zero)."""

from __future__ import annotations

from collections import Counter

import pytest

from strata.review.diffs import (
    Snapshot,
    diff_flat,
    diff_metrics,
    diff_schema,
    diff_snapshots,
    flatten,
    from_clean,
    headline,
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
        ("n", 10, 12),
        ("new", None, 0.1),
        ("old", 0.5, None),
    ]
    assert rows[0]["delta"] == pytest.approx(0.05)
    assert rows[1]["delta"] == 2 and isinstance(rows[1]["delta"], int)  # counts stay counts
    assert rows[2]["delta"] is None and rows[3]["delta"] is None


def test_metrics_headline_first_gate_order_then_the_rest_sorted() -> None:
    metrics = {"a_vs_bayes": 0.9, "accuracy": 0.8, "alarm_recall_at_far": 0.5, "macro_f1": 0.7, "z": 1}
    assert headline(metrics, ["macro_f1", "not_here"]) == ["macro_f1", "accuracy", "alarm_recall_at_far"]
    rows = diff_metrics(metrics, metrics, ["macro_f1"])
    assert [r["metric"] for r in rows] == ["macro_f1", "accuracy", "alarm_recall_at_far", "a_vs_bayes", "z"]


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


def snap(rev: str, **kw: object) -> Snapshot:
    return Snapshot(rev, "0" * 40, "2026-01-01", **kw)  # type: ignore[arg-type]


PARTS = {"acme/1": {"source": "acme", "rows": 10, "columns": ["a"]}, "acme/2": {"rows": 5, "columns": ["a"]}}
CLEAN = {
    "acme/1": {
        "source": "acme",
        "batches": ["d1.csv"],
        "input": "ab",
        "rows_in": 10,
        "clean": 8,
        "quarantined": 2,
        "duplicates": 0,
    },
    "acme/2": {"rows_in": 5, "clean": 5, "quarantined": 0, "duplicates": 0},
}


def test_sources_leave_unread_counts_out_instead_of_zero() -> None:
    assert snap("a", partitions=PARTS, clean=None).sources() == {"acme": {"partitions": 2, "rows": 15}}
    assert snap("a", partitions=PARTS, clean=None).quarantined() is None
    assert snap("a", partitions=None, clean=CLEAN).sources() == {
        "acme": {"rows_in": 15, "clean": 13, "quarantined": 2, "duplicates": 0}
    }
    assert snap("a").sources() == {} and snap("a").headline() == {}


def test_from_clean_gives_partition_entries() -> None:
    """`input` is a token, not the delivered sha256, in newer manifests: no sha256 is made up from it."""
    entry = from_clean(CLEAN)["acme/1"]
    assert entry == {"source": "acme", "batches": ["d1.csv"], "sha256": None, "rows": 10}
    assert from_clean(CLEAN)["acme/2"]["source"] == "acme"
    full = {"acme/1": {**CLEAN["acme/1"], "input": "ab" * 32}}
    assert from_clean(full)["acme/1"]["sha256"] == "ab" * 32


def test_diff_with_an_unreadable_side_is_unknown_not_zero() -> None:
    base = snap("v1", partitions=None, clean=CLEAN, metrics=None)
    head = snap("v2", partitions=PARTS, clean=CLEAN, metrics={"accuracy": 0.9})
    d = diff_snapshots(base, head)
    assert d["sources"]["acme"]["added"] is None and d["sources"]["acme"]["removed"] is None
    assert d["sources"]["acme"]["partitions"] == {"base": None, "head": 2, "delta": None}
    assert d["sources"]["acme"]["quarantined"] == {"base": 2, "head": 2, "delta": 0}
    assert d["metrics"] is None and d["schema"] == {"partitions": None, "clean": None}


def test_diff_counts_a_source_new_at_head_from_zero() -> None:
    base = snap("v1", partitions={}, clean={}, metrics={}, partitions_from="partitions", clean_schema={})
    head = snap(
        "v2", partitions=PARTS, clean=CLEAN, metrics={}, partitions_from="partitions", clean_schema={}
    )
    d = diff_snapshots(base, head)
    assert d["sources"]["acme"]["added"] == ["acme/1", "acme/2"]
    assert d["sources"]["acme"]["rows"] == {"base": 0, "head": 15, "delta": 15}
    assert d["schema"] == {
        "partitions": {"acme": {"added": ["a"], "removed": [], "retyped": {}}},
        "clean": {},
    }

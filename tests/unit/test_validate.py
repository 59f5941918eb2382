"""The validate stage shell: per-datum outputs, accounting, structural errors, incremental, parallel."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from stages import ingest, validate
from strata.config import ExecutorParams, IngestParams, SourceSpec, ValidateParams
from strata.contract.spec import ColumnSpec, Contract
from strata.errors import SchemaError
from tests.helpers.trees import tree

CONTRACT = Contract(
    target="label",
    key=("id",),
    columns={
        "id": ColumnSpec(type="string", required=True),
        "w": ColumnSpec(type="float", min=0, max=100),
        "label": ColumnSpec(type="category", required=True, values=("a", "b")),
    },
)
GOOD = "id,w,label\n1,2,a\n2,3.5,b\n2,9,b\n3,12,a\n"
BAD = 'id,w,label\n1,12,5,a\n2,abc,b\n3,500,c\n4,,a\n4,1,a\n"5",1,b\n'


@pytest.fixture
def partitions(tmp_path):
    landing = tmp_path / "landing"
    (landing / "s").mkdir(parents=True)
    (landing / "s" / "1.csv").write_text(GOOD)
    (landing / "s" / "2.csv").write_text(BAD)
    params = IngestParams(landing="landing", sources=(SourceSpec(name="s", kind="files", path="s"),))
    ingest.run(params, landing, tmp_path / "partitions", tmp_path / "cache.json")
    return tmp_path / "partitions"


def run(partitions, out, executor=None, **kwargs):
    params = ValidateParams(contract=kwargs.pop("contract", CONTRACT), chunk_rows=2, **kwargs)
    return validate.run(params, partitions, out / "clean", out / "quarantine", executor)


def test_every_row_is_accounted_for_and_bad_rows_keep_their_reason(partitions, tmp_path):
    plan, entries = run(partitions, tmp_path)
    assert plan.summary() == "2 datums processed, 0 skipped, 0 removed"
    good, bad = sorted(entries.values(), key=lambda e: e["batches"])
    assert (good["rows_in"], good["clean"], good["quarantined"], good["duplicates"]) == (4, 3, 0, 1)
    assert "quarantine" not in good["files"]  # no bad rows, no quarantine file
    assert (bad["rows_in"], bad["clean"], bad["quarantined"], bad["duplicates"]) == (6, 2, 3, 1)
    assert bad["reasons"] == {
        "malformed row": 1,
        "not allowed: label": 1,
        "out of range: w": 1,
        "unparseable float: w": 1,
    }
    rows = pq.read_table(tmp_path / "quarantine" / bad["files"]["quarantine"]).to_pylist()
    assert sorted((r["_row"], r["reason"]) for r in rows) == [
        (0, "malformed row: line 2: 1,12,5,a"),  # a row the CSV parser cannot split keeps its number
        (1, "unparseable float in 'w': 'abc'"),
        (2, "out of range in 'w': 500 > max 100; not allowed in 'label': 'c'"),
    ]
    clean = pq.read_table(tmp_path / "clean" / bad["files"]["clean"])
    assert clean.column("id").to_pylist() == ["4", "5"]
    assert json.loads(clean.schema.metadata[b"strata.contract"])["target"] == "label"


def test_second_run_skips_and_a_contract_change_redoes(partitions, tmp_path):
    run(partitions, tmp_path)
    plan, _ = run(partitions, tmp_path)
    assert plan.summary() == "0 datums processed, 2 skipped, 0 removed"
    wider = Contract(
        target="label", key=("id",), columns={**CONTRACT.columns, "w": ColumnSpec(type="float", max=1000)}
    )
    plan, entries = run(partitions, tmp_path, contract=wider)
    assert len(plan.todo) == 2
    assert sum(e["quarantined"] for e in entries.values()) == 3


def test_missing_required_column_fails_before_writing_anything(partitions, tmp_path):
    strict = Contract(
        target="label", columns={**CONTRACT.columns, "ts": ColumnSpec(type="timestamp", required=True)}
    )
    with pytest.raises(
        SchemaError, match=r"\(s: [12].csv\): missing required column 'ts' \(delivered: id, w, label\)$"
    ):
        run(partitions, tmp_path, contract=strict)
    assert not (tmp_path / "clean").exists() and not (tmp_path / "quarantine").exists()


def test_parallel_workers_write_the_same_bytes(partitions, tmp_path):
    run(partitions, tmp_path / "serial", ExecutorParams(workers=1))
    run(partitions, tmp_path / "parallel", ExecutorParams(workers=2))
    assert tree(tmp_path / "parallel") == tree(tmp_path / "serial")


def ingest_files(tmp_path, files):
    landing = tmp_path / "landing"
    (landing / "s").mkdir(parents=True)
    for name, data in files.items():
        (landing / "s" / name).write_bytes(data)
    params = IngestParams(landing="landing", sources=(SourceSpec(name="s", kind="files", path="s"),))
    ingest.run(params, landing, tmp_path / "partitions", tmp_path / "cache.json")
    return tmp_path / "partitions"


def accounting(entries):
    return sorted(
        (e["batches"][0], e["rows_in"], e["clean"], e["quarantined"], e["duplicates"])
        for e in entries.values()
    )


def parquet_bytes(table):
    import io

    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_a_dataset_without_bad_rows_still_has_a_quarantine_output(tmp_path):
    parts = ingest_files(tmp_path, {"1.csv": b"id,w,label\n1,2,a\n2,3,b\n"})
    plan, entries = run(parts, tmp_path)
    assert accounting(entries) == [("1.csv", 2, 2, 0, 0)]
    assert (tmp_path / "quarantine").is_dir() and list((tmp_path / "quarantine").iterdir()) == []


def test_a_dataset_where_every_row_is_bad_has_an_empty_clean_file(tmp_path):
    parts = ingest_files(tmp_path, {"1.csv": b"id,w,label\n1,abc,a\n2,3,zzz\n,1,a\n"})
    _, entries = run(parts, tmp_path)
    assert accounting(entries) == [("1.csv", 3, 0, 3, 0)]
    (entry,) = entries.values()
    assert pq.read_table(tmp_path / "clean" / entry["files"]["clean"]).num_rows == 0
    assert pq.read_table(tmp_path / "quarantine" / entry["files"]["quarantine"]).num_rows == 3


def test_empty_batches_of_every_format_complete_with_zero_rows(tmp_path):
    import pyarrow as pa

    empty_parquet = parquet_bytes(
        pa.table({"id": pa.array([], pa.string()), "label": pa.array([], pa.string())})
    )
    files = {
        "header.csv": b"id,w,label\n",
        "none.jsonl": b"",
        "blank.jsonl": b"\n\n",
        "e.parquet": empty_parquet,
    }
    parts = ingest_files(tmp_path, files)
    partitions = json.loads((parts / "manifest.json").read_text())["datums"]
    assert sorted((e["batches"][0], e["rows"], e["columns"]) for e in partitions.values()) == [
        ("blank.jsonl", 0, []),
        ("e.parquet", 0, ["id", "label"]),
        ("header.csv", 0, ["id", "w", "label"]),
        ("none.jsonl", 0, []),
    ]
    assert all(pq.read_table(parts / e["files"]["partition"]).num_rows == 0 for e in partitions.values())
    plan, entries = run(parts, tmp_path)
    assert accounting(entries) == [(name, 0, 0, 0, 0) for name in sorted(files)]
    assert plan.summary() == "4 datums processed, 0 skipped, 0 removed"
    for entry in entries.values():
        assert pq.read_table(tmp_path / "clean" / entry["files"]["clean"]).num_rows == 0


def test_threads_inside_a_datum_change_no_byte(partitions, tmp_path, monkeypatch):
    from strata.contract import engine

    monkeypatch.setattr(engine, "PARALLEL_ROWS", 10**9)
    run(partitions, tmp_path / "one-thread")
    monkeypatch.setattr(engine, "PARALLEL_ROWS", 0)
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    run(partitions, tmp_path / "threads")
    assert tree(tmp_path / "threads") == tree(tmp_path / "one-thread")

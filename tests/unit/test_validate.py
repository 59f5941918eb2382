"""The validate stage shell: per-datum outputs, accounting, structural errors, incremental, parallel."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from stages import ingest, validate
from strata.config import IngestParams, SourceSpec, ValidateParams
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


def run(partitions, out, **kwargs):
    params = ValidateParams(contract=kwargs.pop("contract", CONTRACT), chunk_rows=2, **kwargs)
    return validate.run(params, partitions, out / "clean", out / "quarantine")


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


def test_parallel_workers_write_the_same_bytes(partitions, tmp_path, monkeypatch):
    run(partitions, tmp_path / "serial", workers=1)
    monkeypatch.setattr(validate, "PARALLEL_MIN_ROWS", 0)
    run(partitions, tmp_path / "parallel", workers=2)
    assert tree(tmp_path / "parallel") == tree(tmp_path / "serial")

import gzip
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stages import ingest
from strata import executor as ex
from strata.atomic import sha256_file
from strata.config import ExecutorParams, IngestParams, SourceSpec
from strata.errors import SourceError
from strata.sources import hashes, readers
from tests.helpers.trees import tree


def params(*sources, chunk_rows=2):
    return IngestParams(landing="landing", sources=tuple(sources), chunk_rows=chunk_rows)


CSV = SourceSpec(name="a", kind="files", path="a", glob="*.csv*")
JSON = SourceSpec(name="b", kind="files", path="b")


@pytest.fixture
def landing(tmp_path):
    root = tmp_path / "landing"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "2026-01-01.csv").write_text("id,w\n1,2\n2,3\n3,4\n")
    (root / "a" / "2026-01-02.csv.gz").write_bytes(gzip.compress(b"id,w\n4,5\n", mtime=0))
    (root / "b" / "x.jsonl").write_text('{"id": 1}\n')
    return root


def run(landing, out, *sources):
    return ingest.run(params(*sources), landing, out, landing.parent / "cache.json")


def test_partitions_are_named_by_the_hash_of_the_delivered_bytes(landing, tmp_path):
    plan, entries = run(landing, tmp_path / "out", CSV, JSON)
    assert plan.summary() == "3 datums processed, 0 skipped, 0 removed"
    sha = sha256_file(landing / "a" / "2026-01-01.csv")
    entry = entries[f"a/{sha[:16]}"]
    assert entry["sha256"] == sha and entry["rows"] == 3 and entry["batches"] == ["2026-01-01.csv"]
    assert entry["columns"] == ["id", "w"] and entry["format"] == "csv"
    table = pq.read_table(tmp_path / "out" / entry["files"]["partition"])
    assert table.column("id").to_pylist() == ["1", "2", "3"]
    assert sorted(e["format"] for e in entries.values()) == ["csv", "csv.gz", "jsonl"]


def test_incremental_runs_equal_a_rebuild(landing, tmp_path):
    out = tmp_path / "out"
    run(landing, out, CSV, JSON)
    plan, _ = run(landing, out, CSV, JSON)
    assert plan.summary() == "0 datums processed, 3 skipped, 0 removed"
    (landing / "a" / "2026-01-03.csv").write_text("id,w\n9,9\n")  # new
    (landing / "b" / "x.jsonl").write_text('{"id": 2}\n')  # changed
    (landing / "a" / "2026-01-02.csv.gz").unlink()  # removed
    plan, _ = run(landing, out, CSV, JSON)
    assert (len(plan.todo), len(plan.keep), len(plan.remove)) == (2, 1, 2)
    rebuilt = tmp_path / "rebuilt"
    run(landing, rebuilt, CSV, JSON)
    assert tree(out) == tree(rebuilt)


def test_same_bytes_delivered_twice_is_one_datum(landing, tmp_path):
    shutil.copy(landing / "a" / "2026-01-01.csv", landing / "a" / "2026-01-01-resent.csv")
    _, entries = run(landing, tmp_path / "out", CSV)
    assert sorted(len(e["batches"]) for e in entries.values()) == [1, 2]


def test_unchanged_files_are_not_rehashed(landing, tmp_path, monkeypatch):
    run(landing, tmp_path / "out", CSV)
    calls = []
    monkeypatch.setattr(hashes, "sha256_file", calls.append)
    plan, _ = run(landing, tmp_path / "out", CSV)
    assert calls == [] and len(plan.keep) == 2


def test_parsing_options_are_part_of_the_fingerprint(landing, tmp_path):
    out = tmp_path / "out"
    run(landing, out, CSV)
    plan, _ = run(landing, out, SourceSpec(name="a", kind="files", path="a", glob="*.csv*", delimiter=";"))
    assert len(plan.todo) == 2


def test_unreadable_batch_names_source_and_file_and_leaves_no_partial_file(landing, tmp_path):
    (landing / "a" / "2026-01-04.csv.gz").write_bytes(b"not gzip")
    out = tmp_path / "out"
    with pytest.raises(SourceError, match=r"^source 'a': 2026-01-04.csv.gz: cannot read as csv.gz"):
        run(landing, out, CSV)
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]


def test_missing_folder_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match=r"^source 'a': folder .*landing/a does not exist$"):
        run(tmp_path / "landing", tmp_path / "out", CSV)


def test_a_process_pool_writes_the_same_bytes(landing, tmp_path):
    ingest.run(
        params(CSV, JSON), landing, tmp_path / "inline", tmp_path / "c1.json", ExecutorParams(workers=1)
    )
    ingest.run(params(CSV, JSON), landing, tmp_path / "pool", tmp_path / "c2.json", ExecutorParams(workers=2))
    assert tree(tmp_path / "pool") == tree(tmp_path / "inline")


def test_partitions_are_named_by_what_shaped_them(landing, tmp_path):
    _, first = run(landing, tmp_path / "out", CSV)
    _, other = ingest.run(params(CSV, chunk_rows=3), landing, tmp_path / "out", landing.parent / "cache.json")
    names = {e["files"]["partition"] for e in first.values()}
    assert names.isdisjoint(e["files"]["partition"] for e in other.values())  # other options, other names
    assert all(e["files"]["partition"].startswith(f"{d}-") for d, e in first.items())


def test_a_reader_that_yields_nothing_gives_an_empty_partition(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    monkeypatch.setattr(readers, "read_raw", lambda *a, **k: iter(()))
    how = ingest.HowToRead("csv", False, 10, "source 'a': x.csv", {})
    part = ingest.read_task(ex.Blob(data=b"id\n"), how)
    assert (part.rows, part.columns) == (0, [])
    assert pq.read_table(pa.BufferReader(part.data)).schema.names == ["_row", "_malformed"]


@pytest.mark.parametrize("cores", [1, 4])
def test_partition_bytes_do_not_depend_on_arrow_threads(landing, tmp_path, cores):
    """A dask worker runs pyarrow with one thread, a pool worker with one per core: the same bytes."""
    ragged = (
        "id,w\n"
        + "".join(f"{i},{i}\n" for i in range(50))
        + "1,2,3\n"
        + "".join(f"{i},{i}\n" for i in range(50))
    )
    (landing / "a" / "2026-01-03.csv").write_text(ragged)
    before = pa.cpu_count()
    try:
        pa.set_cpu_count(1)
        run(landing, tmp_path / "one", CSV)
        pa.set_cpu_count(cores)
        run(landing, tmp_path / "many", CSV)
    finally:
        pa.set_cpu_count(before)
    assert tree(tmp_path / "many") == tree(tmp_path / "one")
    (entry,) = [
        e
        for e in json.loads((tmp_path / "one/manifest.json").read_text())["datums"].values()
        if e["batches"] == ["2026-01-03.csv"]
    ]
    malformed = pq.read_table(tmp_path / "one" / entry["files"]["partition"]).column("_malformed").to_pylist()
    assert [m for m in malformed if m] == ["line 52: 1,2,3"]

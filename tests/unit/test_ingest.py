import dataclasses
import gzip
import json
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from stages import ingest
from strata import executor as ex
from strata.atomic import sha256_file
from strata.cli import app
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


def test_a_source_that_matches_nothing_is_an_error_unless_it_may_be_empty(landing, tmp_path):
    out = tmp_path / "out"
    run(landing, out, CSV)
    typo = SourceSpec(name="a", kind="files", path="a", glob="*.tsv")
    with pytest.raises(SourceError) as err:
        run(landing, out, typo)
    assert str(err.value) == (
        f"source 'a': no file in {(landing / 'a').as_posix()} matches glob '*.tsv'; set allow_empty: true "
        "if it may deliver nothing (removing a source's data takes removing the source)"
    )
    assert len(list((out / "a").glob("*.parquet"))) == 2  # nothing was removed
    plan, entries = run(landing, out, dataclasses.replace(typo, allow_empty=True))
    assert (len(plan.remove), entries) == (2, {})  # said explicitly: the source delivers nothing now
    missing = SourceSpec(name="m", kind="files", path="not-yet", allow_empty=True)
    assert run(landing, out, missing)[1] == {}


def test_files_outside_the_landing_folder_are_refused(landing, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.csv").write_text("id\n1\n")
    (landing / "a" / "link.csv").symlink_to(outside / "x.csv")
    with pytest.raises(SourceError) as err:
        run(landing, tmp_path / "out", CSV)
    assert str(err.value).startswith(
        f"source 'a': link.csv is a link to {outside.resolve() / 'x.csv'}, outside {landing} "
        "(ingest.landing) where DVC cannot see it change"
    )
    (landing / "a" / "link.csv").unlink()
    (landing / "c").symlink_to(outside, target_is_directory=True)
    with pytest.raises(
        SourceError, match=r"^source 'c': folder .*/landing/c is a link to .*/elsewhere, outside"
    ):
        run(landing, tmp_path / "out", SourceSpec(name="c", kind="files", path="c"))


def test_links_inside_the_landing_folder_or_into_the_dvc_cache_are_files_like_any_other(landing, tmp_path):
    cached = tmp_path / ".dvc" / "cache" / "files" / "md5" / "ab" / "cdef"
    cached.parent.mkdir(parents=True)
    cached.write_text("id,w\n7,8\n")
    (landing / "a" / "cached.csv").symlink_to(cached)  # dvc add with cache.type: symlink
    (landing / "a" / "again.csv").symlink_to(landing / "a" / "2026-01-01.csv")
    _, entries = run(landing, tmp_path / "out", CSV)
    assert sorted(n for e in entries.values() for n in e["batches"]) == [
        "2026-01-01.csv",
        "2026-01-02.csv.gz",
        "again.csv",
        "cached.csv",
    ]


def test_a_broken_symlink_is_named(landing, tmp_path):
    (landing / "a" / "gone.csv").symlink_to(tmp_path / "nothing.csv")
    with pytest.raises(SourceError, match=r"^source 'a': gone.csv is a broken symlink \(to .*nothing.csv\)$"):
        run(landing, tmp_path / "out", CSV)


@pytest.mark.parametrize("junk", ["{not json", "[1, 2]", '{"a\\tb": ["v", "short-sha"]}', "\udcff"])
def test_a_corrupt_hash_cache_is_rebuilt_with_one_warning(landing, tmp_path, capsys, junk):
    out = tmp_path / "out"
    _, first = run(landing, out, CSV)
    cache = landing.parent / "cache.json"
    cache.write_text(junk, errors="surrogateescape")
    plan, again = run(landing, out, CSV)
    assert again == first and len(plan.keep) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: hash cache {cache} is unreadable (")
    assert err[0].endswith("); rebuilding it: every delivered batch is read once")
    run(landing, out, CSV)
    assert capsys.readouterr().err == ""  # rebuilt: the next run trusts it again


def test_an_edit_that_puts_back_size_and_mtime_is_still_seen(landing, tmp_path):
    out = tmp_path / "out"
    path = landing / "a" / "2026-01-01.csv"
    before = path.stat()
    run(landing, out, CSV)
    with path.open("r+b") as handle:  # same inode, same size
        handle.write(b"id,w\n9")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    plan, entries = run(landing, out, CSV)
    assert len(plan.todo) == 1
    entry = next(e for e in entries.values() if e["batches"] == ["2026-01-01.csv"])
    assert entry["sha256"] == sha256_file(path)


def test_rehash_reads_every_batch_again(landing, tmp_path, monkeypatch):
    run(landing, tmp_path / "out", CSV)
    calls = []
    monkeypatch.setattr(hashes, "sha256_file", lambda p: calls.append(p) or sha256_file(p))
    ingest.run(params(CSV), landing, tmp_path / "out", landing.parent / "cache.json", rehash=True)
    assert len(calls) == 2


def test_the_cli_rehashes_when_told_by_flag_or_environment(landing, tmp_path, monkeypatch):
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump({"ingest": {"landing": "x", "sources": [dataclasses.asdict(CSV)]}}))
    args = ["ingest", "--params", str(params_file), "--landing", str(landing), "--out", str(tmp_path / "out")]
    args += ["--hash-cache", str(tmp_path / "cache.json")]
    assert CliRunner().invoke(app, args).exit_code == 0
    calls = []
    monkeypatch.setattr(hashes, "sha256_file", lambda p: calls.append(p) or sha256_file(p))
    assert CliRunner().invoke(app, args).exit_code == 0 and calls == []
    assert CliRunner().invoke(app, [*args, "--rehash"]).exit_code == 0 and len(calls) == 2
    assert CliRunner().invoke(app, args, env={"STRATA_REHASH": "1"}).exit_code == 0 and len(calls) == 4


def test_a_batch_that_cannot_be_read_while_hashing_is_named(landing, tmp_path, monkeypatch):
    def denied(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(hashes, "sha256_file", denied)
    with pytest.raises(SourceError, match=r"^source 'a': cannot read 2026-01-01.csv: Permission denied$"):
        run(landing, tmp_path / "out", CSV)


def test_a_header_alone_is_a_partition_of_no_rows(landing, tmp_path):
    (landing / "a" / "2026-01-05.csv").write_text("id,w\n")
    _, entries = run(landing, tmp_path / "out", CSV)
    entry = next(e for e in entries.values() if e["batches"] == ["2026-01-05.csv"])
    table = pq.read_table(tmp_path / "out" / entry["files"]["partition"])
    assert (entry["rows"], table.column_names) == (0, ["id", "w", "_row", "_malformed"])


def test_a_source_path_that_is_a_file_or_a_symlink_loop_is_named(landing, tmp_path):
    (landing / "f").write_text("id\n1\n")
    with pytest.raises(SourceError, match=r"^source 'f': folder .*landing/f is not a folder$"):
        run(landing, tmp_path / "out", SourceSpec(name="f", kind="files", path="f"))
    (landing / "a" / "loop.csv").symlink_to("loop.csv")
    with pytest.raises(SourceError, match=r"^source 'a': loop.csv is a broken symlink \(to loop.csv\)$"):
        run(landing, tmp_path / "out", CSV)


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

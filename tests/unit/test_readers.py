import gzip
import json
from unittest.mock import patch

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strata.errors import SourceError
from strata.sources import csvfile
from strata.sources.readers import MALFORMED, ROW, read_raw


def rows(path, fmt, gz=False, chunk_rows=2, **opts):
    batches = list(read_raw(path, fmt, gz, chunk_rows, f"src: {path.name}", **opts))
    return pa.Table.from_batches(batches).to_pylist()


def test_csv_keeps_text_as_delivered_and_quarantines_ragged_rows(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('id,w\n1,12.5\n2,abc\n3,4,extra\n"4",\n')
    got = rows(path, "csv")
    assert [r["w"] for r in got] == ["12.5", "abc", None, ""]
    assert [r[ROW] for r in got] == [0, 1, 2, 3]  # the delivered record numbers, ragged ones included
    assert [r[MALFORMED] for r in got] == [None, None, "line 4: 3,4,extra", None]


def test_gzipped_csv_and_other_delimiter(tmp_path):
    path = tmp_path / "a.csv.gz"
    path.write_bytes(gzip.compress(b"id;w\n1;2\n"))
    assert rows(path, "csv", gz=True, delimiter=";") == [{"id": "1", "w": "2", ROW: 0, MALFORMED: None}]


def test_jsonl_mixed_types_late_keys_and_bad_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    lines = [{"id": 1, "w": 1.5}, {"id": "2", "w": "12,5"}, {"id": 3, "late": True, "nested": {"a": 1}}]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n\n[1, 2]\n")
    got = rows(path, "jsonl")
    assert list(got[0]) == ["id", "w", "late", "nested", ROW, MALFORMED]
    assert [r["w"] for r in got] == ["1.5", "12,5", None, None, None]
    assert got[2]["late"] == "true" and got[2]["nested"] == '{"a": 1}'
    assert got[3][MALFORMED] == "line 4: not json"
    assert got[4][MALFORMED] == "line 6: [1, 2]"
    assert [r[ROW] for r in got] == [0, 1, 2, 3, 4]


def test_parquet_native_types_become_text(tmp_path):
    path = tmp_path / "a.parquet"
    table = pa.table(
        {
            "ts": pa.array([0, 1_500_000], pa.timestamp("us", tz="UTC")),
            "h": pa.array([1.5, None]),
            "ok": pa.array([True, False]),
            "n": pa.array([1, 2], pa.int32()),
        }
    )
    pq.write_table(table, path)
    got = rows(path, "parquet")
    assert got[0] == {
        "ts": "1970-01-01T00:00:00.000000Z",
        "h": "1.5",
        "ok": "true",
        "n": "1",
        ROW: 0,
        MALFORMED: None,
    }
    assert got[1]["h"] is None and got[1]["ok"] == "false"


@pytest.mark.parametrize(
    ("name", "content", "fmt", "message"),
    [
        ("e.csv", b"", "csv", "src: e.csv: empty file, no CSV header"),
        ("d.csv", b"a,a\n1,2\n", "csv", "src: d.csv: column 'a' appears twice in the header"),
        ("r.csv", b"_row,b\n1,2\n", "csv", "src: r.csv: column name '_row' is reserved by strata"),
        ("c.parquet", b"not parquet at all", "parquet", "src: c.parquet: cannot read as parquet: "),
    ],
)
def test_structural_errors_are_one_line_and_name_the_file(tmp_path, name, content, fmt, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError) as err:
        rows(path, fmt)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_corrupt_gzip_is_a_source_error(tmp_path):
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(SourceError, match=r"^src: x.jsonl.gz: cannot read as jsonl.gz: "):
        rows(path, "jsonl", gz=True)


def test_rows_after_ragged_rows_keep_their_delivered_numbers(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a,b\nx\ny,z,w\n3,4\n")
    got = rows(path, "csv")
    assert [(r[ROW], r["a"], r[MALFORMED]) for r in got] == [
        (0, None, "line 2: x"),
        (1, None, "line 3: y,z,w"),
        (2, "3", None),
    ]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(["ok", "short", "long", "blank", "multiline"]), max_size=60),
    st.sampled_from([64, 256, 4096]),
)
def test_csv_row_numbers_match_the_records_of_the_file_across_blocks(tmp_path_factory, kinds, block):
    """Whatever mix of ragged, blank and multi-line records, and however the file falls into blocks: every
    record gets its own number, in order, and well-formed ones keep their values."""
    lines, expected = ["a,b"], []
    for i, kind in enumerate(kinds):
        line = {
            "ok": f"v{i},w{i}",
            "short": f"v{i}",
            "long": f"v{i},w{i},x",
            "blank": "",
            "multiline": f'v{i},"w\n{i}"',
        }[kind]
        lines.append(line)
        if kind != "blank":
            expected.append(None if kind in ("short", "long") else f"v{i}")
    path = tmp_path_factory.mktemp("csv") / "f.csv"
    path.write_text("\n".join(lines) + "\n")
    with patch.object(csvfile, "CSV_BLOCK_BYTES", block):
        got = rows(path, "csv")
    assert [r[ROW] for r in got] == list(range(len(expected)))
    assert [r["a"] for r in got] == expected
    assert all((r[MALFORMED] is None) == (r["a"] is not None) for r in got)


def test_quoted_values_may_span_lines_and_blocks(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("a,b\n" + "".join(f'{i},"one\ntwo {i}"\n' for i in range(500)))
    with patch.object(csvfile, "CSV_BLOCK_BYTES", 256):
        got = rows(path, "csv", chunk_rows=1000)
    assert [r[ROW] for r in got] == list(range(500))
    assert got[499]["b"] == "one\ntwo 499" and all(r[MALFORMED] is None for r in got)


def test_csv_numbers_and_bytes_do_not_depend_on_arrow_threads(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i}\n" if i % 7 else f"{i}\n" for i in range(3000)))
    before = pa.cpu_count()
    results = []
    try:
        for threads in (1, 4):
            pa.set_cpu_count(threads)
            with patch.object(csvfile, "CSV_BLOCK_BYTES", 1 << 12):
                batches = list(read_raw(path, "csv", False, 100, "src"))
            sink = pa.BufferOutputStream()
            with pq.ParquetWriter(sink, batches[0].schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
            results.append(sink.getvalue().to_pybytes())
    finally:
        pa.set_cpu_count(before)
    assert results[0] == results[1]
    table = pq.read_table(pa.BufferReader(results[0]))
    assert table.column(ROW).to_pylist() == list(range(3000))
    assert table.column(MALFORMED).to_pylist()[7] == "line 9: 7"


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path):
    (tmp_path / "b.csv").write_bytes(b"\xef\xbb\xbfevent_id,w\n1,2\n")
    (tmp_path / "b.jsonl").write_bytes(b'\xef\xbb\xbf{"event_id": 1}\n')
    (tmp_path / "u.csv").write_bytes("event_id;w\n1;2\n".encode("utf-16"))
    assert rows(tmp_path / "b.csv", "csv") == [{"event_id": "1", "w": "2", ROW: 0, MALFORMED: None}]
    assert rows(tmp_path / "b.jsonl", "jsonl") == [{"event_id": "1", ROW: 0, MALFORMED: None}]
    got = rows(tmp_path / "u.csv", "csv", delimiter=";", encoding="utf-16")
    assert got == [{"event_id": "1", "w": "2", ROW: 0, MALFORMED: None}]


def test_header_names_are_stripped_and_every_column_stays_text(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("id , w\n1, 007\n")
    assert rows(path, "csv") == [{"id": "1", "w": " 007", ROW: 0, MALFORMED: None}]


def test_jsonl_duplicate_keys_and_deep_nesting_are_malformed_rows(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1, "a": 2}\n' + "[" * 100_000 + "]" * 100_000 + '\n{"a": 3}\n')
    got = rows(path, "jsonl")
    assert [r[ROW] for r in got] == [0, 1, 2]
    assert got[0][MALFORMED] == 'line 1: duplicate key \'a\': {"a": 1, "a": 2}'
    assert got[1][MALFORMED].startswith("line 2: [[[")
    assert got[2]["a"] == "3"


def test_parquet_keeps_timestamp_precision_and_reads_gzip(tmp_path):
    table = pa.table({"ts": pa.array([1_500_000_001], pa.timestamp("ns", tz="Europe/Paris"))})
    pq.write_table(table, tmp_path / "t.parquet")
    (tmp_path / "t.parquet.gz").write_bytes(gzip.compress((tmp_path / "t.parquet").read_bytes()))
    expected = [{"ts": "1970-01-01T00:00:01.500000001Z", ROW: 0, MALFORMED: None}]
    assert rows(tmp_path / "t.parquet", "parquet") == expected
    assert rows(tmp_path / "t.parquet.gz", "parquet", gz=True) == expected


def _truncated_gzip(text: bytes) -> bytes:
    return gzip.compress(text * 50, mtime=0)[:-12]


@pytest.mark.parametrize(
    ("name", "content", "fmt", "opts", "message"),
    [
        ("g.csv", bytes(range(256)) * 4, "csv", {}, "src: g.csv: cannot read as csv: 'utf-8' codec"),
        ("h.csv", b"a," + b"b" * 200_000 + b"\n", "csv", {}, "src: h.csv: cannot read as csv: field larger"),
        (
            "s.csv",
            b"a,b\n" * 5000 + b"1,\xff\n",
            "csv",
            {},
            "src: s.csv: cannot read as csv: In CSV column #1: Row #5001",
        ),
        ("s.jsonl", b'{"a": "\xff"}\n', "jsonl", {}, "src: s.jsonl: cannot read as jsonl: 'utf-8' codec"),
        ("e.jsonl", b'{"": 1}\n', "jsonl", {}, "src: e.jsonl: column 1 of the JSON keys has no name"),
        ("t.csv.gz", _truncated_gzip(b"a,b\n1,2\n"), "csv", {}, "src: t.csv.gz: cannot read as csv.gz: "),
        (
            "t.jsonl.gz",
            _truncated_gzip(b'{"a": 1}\n'),
            "jsonl",
            {},
            "src: t.jsonl.gz: cannot read as jsonl.gz",
        ),
        (
            "w.csv",
            b"a,b\n1,2\n",
            "csv",
            {"encoding": "utf-16"},
            "src: w.csv: cannot read as csv: UTF-16 stream",
        ),
        (
            "q.csv",
            b'a,b\n1,"never closed\n2,3\n',
            "csv",
            {},
            "src: q.csv: cannot read as csv: a record longer",
        ),
    ],
)
def test_unreadable_files_are_one_line_naming_the_file(tmp_path, name, content, fmt, opts, message):
    path = tmp_path / name
    path.write_bytes(content + (b"x" * 300 if name == "q.csv" else b""))
    with patch.object(csvfile, "CSV_BLOCK_BYTES", 128), pytest.raises(SourceError) as err:
        rows(path, fmt, gz=name.endswith(".gz"), **opts)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_not_utf8_text_suggests_setting_the_encoding(tmp_path):
    path = tmp_path / "l.csv"
    path.write_bytes("a,b\n1,caf\u00e9\n".encode("latin-1"))
    with pytest.raises(SourceError, match=r"not utf8 text: set the source's encoding, e.g. latin-1"):
        rows(path, "csv")
    assert rows(path, "csv", encoding="latin-1")[0]["b"] == "caf\u00e9"


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (
            pa.array([[1, 2]]),
            "src: n.parquet: column 'c' has nested type list<element: int64>, not a flat table",
        ),
        (pa.array([b"\xff"], pa.binary()), "src: n.parquet: column 'c' (binary) has no text form: "),
    ],
)
def test_parquet_columns_without_a_text_form_are_refused(tmp_path, column, message):
    pq.write_table(pa.table({"c": column}), tmp_path / "n.parquet")
    with pytest.raises(SourceError) as err:
        rows(tmp_path / "n.parquet", "parquet")
    assert str(err.value).startswith(message)


def test_a_header_alone_is_a_batch_of_no_rows(tmp_path):
    (tmp_path / "h.csv").write_text("a,b\n")
    batches = list(read_raw(tmp_path / "h.csv", "csv", False, 2, "src"))
    assert [b.num_rows for b in batches] == [0] and batches[0].schema.names == ["a", "b", ROW, MALFORMED]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("z.csv", b"", "src: z.csv: empty file, no CSV header"),
        ("z.parquet", b"", "src: z.parquet: cannot read as parquet: "),
    ],
)
def test_a_file_without_columns_is_refused(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SourceError) as err:
        rows(tmp_path / name, name.split(".")[1])
    assert str(err.value).startswith(message)


def test_json_lines_without_any_object_are_a_batch_without_columns(tmp_path):
    """Zero rows, or only malformed rows: nothing to check a contract against, every row accounted for."""
    (tmp_path / "z.jsonl").write_bytes(b"\n")
    assert rows(tmp_path / "z.jsonl", "jsonl") == []
    (tmp_path / "l.jsonl").write_bytes(b"[1]\n\n2\n")
    got = rows(tmp_path / "l.jsonl", "jsonl")
    assert [(r[ROW], r[MALFORMED]) for r in got] == [(0, "line 1: [1]"), (1, "line 3: 2")]


def test_a_json_line_longer_than_the_limit_is_refused(tmp_path, monkeypatch):
    from strata.sources import readers

    monkeypatch.setattr(readers, "JSON_LINE_CHARS", 100)
    path = tmp_path / "big.jsonl"
    path.write_text('{"a": 1}\n' + '{"a": "' + "x" * 100 + '"}\n')
    with pytest.raises(
        SourceError, match=r"^src: big.jsonl: line 2 is longer than 0 MiB \(not JSON Lines\?\)$"
    ):
        rows(path, "jsonl")
    path.write_text('{"a": 1}\n' + '{"a": "' + "x" * 90 + '"}\n')
    assert len(rows(path, "jsonl")) == 2

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from strata.errors import SourceError
from strata.sources.readers import MALFORMED, ROW, read_raw


def rows(path, fmt, gz=False, chunk_rows=2, **opts):
    batches = list(read_raw(path, fmt, gz, chunk_rows, f"src: {path.name}", **opts))
    return pa.Table.from_batches(batches).to_pylist()


def test_csv_keeps_text_as_delivered_and_quarantines_ragged_rows(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('id,w\n1,12.5\n2,abc\n3,4,extra\n"4",\n')
    got = rows(path, "csv")
    assert [r["w"] for r in got] == ["12.5", "abc", "", None]
    assert [r[ROW] for r in got] == [0, 1, 2, 3]
    assert got[-1][MALFORMED] == "line 4: 3,4,extra"  # one parsing thread: the line number is known
    assert all(r[MALFORMED] is None for r in got[:-1])


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

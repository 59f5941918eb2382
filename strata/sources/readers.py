"""Streaming readers that turn one delivered file into record batches of raw text.

Every delivered column becomes `pa.string()` exactly as delivered (typing is the contract's job, in
validate), plus `_row` (0-based row number) and `_malformed` (the raw text of a row the format parser
could not split, else null). Memory is bounded by `chunk_rows` (JSON) or the CSV block size, never by the
size of the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strata.contract.spec import MALFORMED, ROW
from strata.errors import SourceError

if TYPE_CHECKING:
    import pyarrow as pa

CSV_BLOCK_BYTES = 8 << 20  # ~8 MiB of text per CSV chunk


def raw_schema(columns: list[str]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [*(pa.field(c, pa.string()) for c in columns), (ROW, pa.int64()), (MALFORMED, pa.string())]
    )


def read_raw(
    path: Path, fmt: str, gz: bool, chunk_rows: int, where: str, **opts: Any
) -> Iterator[pa.RecordBatch]:
    """Yield raw-text record batches of one delivered file. ``where`` names the batch in errors."""
    import pyarrow as pa

    readers: dict[str, Callable[..., Iterator[pa.RecordBatch]]] = {
        "csv": _csv,
        "jsonl": _jsonl,
        "parquet": _parquet,
    }
    reader = readers[fmt]
    try:
        yield from reader(path, gz, chunk_rows, where, **opts)
    except (pa.ArrowInvalid, OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"{where}: cannot read as {fmt}{'.gz' if gz else ''}: {detail}") from exc


def _header(path: Path, gz: bool, delimiter: str, encoding: str, where: str) -> list[str]:
    opener = gzip.open if gz else open
    with opener(path, "rt", encoding=encoding, newline="") as handle:
        first = next(csv.reader(handle, delimiter=delimiter), None)
    if not first:
        raise SourceError(f"{where}: empty file, no CSV header")
    names = [n.strip() for n in first]
    _check_names(names, where)
    return names


def _check_names(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not name:
            raise SourceError(f"{where}: column {i + 1} of the header has no name")
        if name in seen:
            raise SourceError(f"{where}: column '{name}' appears twice in the header")
        if name in (ROW, MALFORMED):
            raise SourceError(f"{where}: column name '{name}' is reserved by strata")
        seen.add(name)


def _csv(
    path: Path, gz: bool, chunk_rows: int, where: str, *, delimiter: str = ",", encoding: str = "utf8"
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = _header(path, gz, delimiter, encoding, where)
    bad: list[str] = []

    def on_invalid(row: Any) -> str:
        bad.append(f"line {row.number}: {row.text}" if row.number is not None else str(row.text))
        return "skip"

    stream = pa.input_stream(str(path), compression="gzip" if gz else None)
    reader = pcsv.open_csv(
        stream,
        # one parsing thread: with several, pyarrow reports ragged lines in any order and without their line
        # number, so the partition's bytes would depend on the core count (a dask worker runs one thread)
        read_options=pcsv.ReadOptions(encoding=encoding, block_size=CSV_BLOCK_BYTES, use_threads=False),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    schema = raw_schema(names)
    start = 0
    for batch in reader:
        yield _with_row(batch, schema, start)
        start += batch.num_rows
    if bad:
        yield _malformed_rows(bad, schema, start)
    elif start == 0:  # a header and no row: an empty batch that still names the delivered columns
        yield pa.RecordBatch.from_pylist([], schema=schema)


def _with_row(batch: pa.RecordBatch, schema: pa.Schema, start: int) -> pa.RecordBatch:
    import pyarrow as pa

    n = batch.num_rows
    rows = pa.array(range(start, start + n), pa.int64())
    cols = [*batch.columns, rows, pa.nulls(n, pa.string())]
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def _malformed_rows(bad: list[str], schema: pa.Schema, start: int) -> pa.RecordBatch:
    import pyarrow as pa

    n = len(bad)
    cols = [pa.nulls(n, pa.string()) for _ in schema.names[:-2]]
    cols += [pa.array(range(start, start + n), pa.int64()), pa.array(bad, pa.string())]
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True)


def _json_lines(path: Path, gz: bool, encoding: str) -> Iterator[tuple[int, str]]:
    opener = gzip.open if gz else open
    with opener(path, "rt", encoding=encoding) as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _jsonl(
    path: Path, gz: bool, chunk_rows: int, where: str, encoding: str = "utf8", **_: Any
) -> Iterator[pa.RecordBatch]:
    # Two passes: the first finds every key in order of first appearance (a column that starts half-way
    # through the file still gets a fixed place in the schema), the second emits bounded chunks.
    names: dict[str, None] = {}
    for _number, line in _json_lines(path, gz, encoding):
        obj = _loads(line)
        if isinstance(obj, dict):
            names.update(dict.fromkeys(str(k) for k in obj))
    _check_names(list(names), where)
    schema = raw_schema(list(names))
    rows: list[tuple[dict[str, Any] | None, str | None]] = []
    start = 0
    for number, line in _json_lines(path, gz, encoding):
        obj = _loads(line)
        rows.append((obj, None) if isinstance(obj, dict) else (None, f"line {number}: {line.rstrip()}"))
        if len(rows) >= chunk_rows:
            yield _json_batch(rows, schema, start)
            start += len(rows)
            rows = []
    if rows or start == 0:
        yield _json_batch(rows, schema, start)


def _loads(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _json_batch(
    rows: list[tuple[dict[str, Any] | None, str | None]], schema: pa.Schema, start: int
) -> pa.RecordBatch:
    import pyarrow as pa

    cols = [
        pa.array([_json_text(obj.get(name)) if obj is not None else None for obj, _ in rows], pa.string())
        for name in schema.names[:-2]
    ]
    cols.append(pa.array(range(start, start + len(rows)), pa.int64()))
    cols.append(pa.array([bad for _, bad in rows], pa.string()))
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def _parquet(path: Path, gz: bool, chunk_rows: int, where: str, **_: Any) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if gz:  # a gzipped Parquet file is unusual but possible: stream-decompress to a seekable buffer
        with gzip.open(path, "rb") as handle:
            source: Any = io.BytesIO(handle.read())
    else:
        source = str(path)
    parquet = pq.ParquetFile(source)
    names = list(parquet.schema_arrow.names)
    _check_names(names, where)
    schema = raw_schema(names)
    for field in parquet.schema_arrow:
        if pa.types.is_nested(field.type):
            raise SourceError(
                f"{where}: column '{field.name}' has nested type {field.type}, not a flat table"
            )
    start = 0
    for batch in parquet.iter_batches(batch_size=chunk_rows):
        text = pa.RecordBatch.from_arrays([_as_text(pc, c) for c in batch.columns], names=names)
        yield _with_row(text, schema, start)
        start += batch.num_rows
    if start == 0:
        yield pa.RecordBatch.from_pylist([], schema=schema)


def _as_text(pc: Any, column: pa.Array) -> pa.Array:
    import pyarrow as pa

    if pa.types.is_boolean(column.type):
        return pc.if_else(column, "true", "false")
    if pa.types.is_timestamp(column.type):
        # aware -> the same instant in UTC, written with "Z"; naive stays naive (the contract decides)
        tz = "UTC" if column.type.tz else None
        micros = column.cast(pa.timestamp("us", tz=tz))
        return pc.strftime(micros, format="%Y-%m-%dT%H:%M:%S" + ("Z" if tz else ""))
    return pc.cast(column, pa.string())

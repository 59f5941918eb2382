"""Streaming readers that turn one delivered file into record batches of raw text (strata.sources.rawtext).

Every delivered column becomes `pa.string()` exactly as delivered (typing is the contract's job, in
validate), plus `_row` (the 0-based record number in the file, malformed records included) and `_malformed`
(`line N: <raw text>` of a record the format parser could not split, else null). Rows come in `_row` order;
the same file gives the same batches on any machine, however many threads. Memory is bounded by
`chunk_rows` (JSON Lines, Parquet) or the CSV block size, never by the size of the file. A UTF-8 byte-order
mark is dropped (CSV and JSON Lines). Anything that cannot be read at all is one `SourceError` line naming
the file.
"""

from __future__ import annotations

import collections
import csv
import gzip
import json
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strata.contract.spec import MALFORMED, ROW
from strata.errors import SourceError
from strata.sources.csvfile import CSV_BLOCK_BYTES, python_encoding, read_csv
from strata.sources.rawtext import check_names, raw_schema, with_row

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MALFORMED", "ROW", "raw_schema", "read_raw"]

JSON_LINE_CHARS = CSV_BLOCK_BYTES  # the longest JSON line read, like the longest CSV record
UNREADABLE = (OSError, EOFError, UnicodeError, csv.Error, zlib.error)  # plus pa.ArrowInvalid


def read_raw(
    path: Path, fmt: str, gz: bool, chunk_rows: int, where: str, **opts: Any
) -> Iterator[pa.RecordBatch]:
    """Yield raw-text record batches of one delivered file. ``where`` names the batch in errors."""
    import pyarrow as pa

    readers: dict[str, Callable[..., Iterator[pa.RecordBatch]]] = {
        "csv": read_csv,
        "jsonl": _jsonl,
        "parquet": _parquet,
    }
    reader = readers[fmt]
    try:
        yield from reader(path, gz, chunk_rows, where, **opts)
    except (pa.ArrowInvalid, *UNREADABLE) as exc:
        detail = _detail(exc, opts.get("encoding", "utf8"))
        raise SourceError(f"{where}: cannot read as {fmt}{'.gz' if gz else ''}: {detail}") from exc


def _detail(exc: BaseException, encoding: str) -> str:
    """The first line of a reader's complaint, in the words a user can act on."""
    text = str(exc).strip()
    detail = text.splitlines()[0] if text else type(exc).__name__
    if "straddl" in detail:  # Arrow: a record does not fit in one block
        return f"a record longer than {CSV_BLOCK_BYTES >> 20} MiB (an unclosed quote, or not CSV text?)"
    if isinstance(exc, UnicodeError) or "UTF8" in detail or "UTF-8" in detail:
        return f"{detail} (not {encoding} text: set the source's encoding, e.g. latin-1, or fix the file)"
    return detail


# ------------------------------------------------------------------------------------------ JSON Lines


class _DuplicateKey(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json object hook: a key given twice is ambiguous (json.loads would silently keep the last)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        counts = collections.Counter(k for k, _ in pairs)
        raise _DuplicateKey(f"duplicate key '{next(k for k, _ in pairs if counts[k] > 1)}'")
    return obj


def _loads(line: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the object, None) or (None, why the line is malformed, '' when it is just not an object)."""
    try:
        obj = json.loads(line, object_pairs_hook=_object)
    except _DuplicateKey as exc:
        return None, f"{exc}: "
    except (ValueError, RecursionError):  # not JSON, too deeply nested, an integer of 4300+ digits
        return None, ""
    return (obj, None) if isinstance(obj, dict) else (None, "")


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True)


def _json_lines(path: Path, gz: bool, encoding: str, where: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of every non-blank line; a line is at most JSON_LINE_CHARS long, so a binary file
    without line breaks cannot fill the memory."""
    opener: Any = gzip.open if gz else open
    with opener(path, "rt", encoding=python_encoding(encoding)) as handle:
        for number, line in enumerate(iter(lambda: handle.readline(JSON_LINE_CHARS + 1), ""), start=1):
            if len(line) > JSON_LINE_CHARS:
                raise SourceError(
                    f"{where}: line {number} is longer than {JSON_LINE_CHARS >> 20} MiB (not JSON Lines?)"
                )
            if line.strip():
                yield number, line


def _jsonl(
    path: Path, gz: bool, chunk_rows: int, where: str, encoding: str = "utf8", **_: Any
) -> Iterator[pa.RecordBatch]:
    # Two passes: the first finds every key in order of first appearance (a column that starts half-way
    # through the file still gets a fixed place in the schema), the second emits bounded chunks.
    names: dict[str, None] = {}
    objects = lines = 0
    for _number, line in _json_lines(path, gz, encoding, where):
        obj, _why = _loads(line)
        lines += 1
        if obj is not None:
            objects += 1
            names.update(dict.fromkeys(obj))
    # no object at all: a batch with no column, whose lines (if any) are all malformed rows
    check_names(list(names), where, "JSON keys")
    schema = raw_schema(list(names))
    rows: list[tuple[dict[str, Any] | None, str | None]] = []
    start = 0
    for number, line in _json_lines(path, gz, encoding, where):
        obj, why = _loads(line)
        rows.append((obj, None) if obj is not None else (None, f"line {number}: {why}{line.rstrip()}"))
        if len(rows) >= chunk_rows:
            yield _json_batch(rows, schema, start)
            start += len(rows)
            rows = []
    if rows or start == 0:
        yield _json_batch(rows, schema, start)


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


def json_line(line: str) -> tuple[dict[str, Any] | None, str | None]:
    """One JSON Lines line as this reader takes it: (the object, None), or (None, why it is a malformed row:
    '' when it is just not an object, else e.g. "duplicate key 'x': ")."""
    return _loads(line)


def records_batch(rows: list[tuple[dict[str, Any] | None, str | None]], where: str) -> pa.RecordBatch:
    """Records already parsed, (object, None) or (None, the malformed row's text), e.g. the events of an HTTP
    request -> the raw-text batch a JSON Lines file of them gives: keys in order of first appearance,
    values as text by the same rule, rows numbered from 0."""
    names: dict[str, None] = {}
    for obj, _ in rows:
        if obj is not None:
            names.update(dict.fromkeys(obj))
    check_names(list(names), where, "JSON keys")
    return _json_batch(rows, raw_schema(list(names)), 0)


# --------------------------------------------------------------------------------------------- Parquet


def _parquet(path: Path, gz: bool, chunk_rows: int, where: str, **_: Any) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryFile(prefix="strata-parquet-") as spool:
        source: Any = str(path)
        if gz:  # a gzipped Parquet file is unusual but possible: decompress to a seekable temp file
            with gzip.open(path, "rb") as handle:
                shutil.copyfileobj(handle, spool, 1 << 20)
            spool.seek(0)
            source = spool
        parquet = pq.ParquetFile(source)
        names = list(parquet.schema_arrow.names)
        check_names(names, where, "schema")
        schema = raw_schema(names)
        for field in parquet.schema_arrow:
            if pa.types.is_nested(field.type):
                raise SourceError(
                    f"{where}: column '{field.name}' has nested type {field.type}, not a flat table"
                )
        start = 0
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            text = [_as_text(c, name, where) for c, name in zip(batch.columns, names, strict=True)]
            yield with_row(pa.RecordBatch.from_arrays(text, names=names), schema, start)
            start += batch.num_rows
        if start == 0:
            yield pa.RecordBatch.from_pylist([], schema=schema)


def _as_text(column: pa.Array, name: str, where: str) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(column.type):
        return pc.if_else(column, "true", "false")
    if pa.types.is_timestamp(column.type):
        # aware -> the same instant in UTC, written with "Z"; naive stays naive (the contract decides);
        # the file's own precision is kept (validate reads up to nanoseconds, truncating to microseconds)
        tz = "UTC" if column.type.tz else None
        utc = column.cast(pa.timestamp(column.type.unit, tz=tz))
        return pc.strftime(utc, format="%Y-%m-%dT%H:%M:%S" + ("Z" if tz else ""))
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SourceError(f"{where}: column '{name}' ({column.type}) has no text form: {exc}") from exc

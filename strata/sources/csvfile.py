"""CSV -> raw-text record batches, numbered by delivered record however many threads Arrow may use.

The header is read once here (Python's csv module: a byte-order mark and blank padding around names are
dropped) and handed to Arrow as the column names, so Arrow never guesses a type or a name. Arrow parses the
records serially (``use_threads=False``): only then does its invalid-row handler learn each ragged record's
number, and serial parsing is as fast as threaded for an all-string read (the columns are not converted).
Quoted values may span lines (``newlines_in_values``), as RFC 4180 allows.

Numbering: ``_row`` is the 0-based number of the data record in the file, ragged records included, blank
lines not counted. A ragged record is kept as one row with every column null and ``_malformed`` =
``line N: <its text>``, where N counts records from the header (line 1; blank lines are skipped, a quoted
value spanning lines counts once). It sits in its place: rows are in ``_row`` order in every batch.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strata.contract.spec import ROW
from strata.errors import SourceError
from strata.sources.rawtext import check_names, raw_schema

if TYPE_CHECKING:
    import pyarrow as pa

CSV_BLOCK_BYTES = 8 << 20  # ~8 MiB of text per CSV chunk; also the longest record Arrow can read
HEADER_LINE = 1  # Arrow numbers records from 1, the header included


def python_encoding(encoding: str) -> str:
    """The codec for Python's own reads: UTF-8 drops a leading byte-order mark (it is never data)."""
    return "utf-8-sig" if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig") else encoding


def arrow_encoding(encoding: str) -> str:
    """Arrow reads UTF-8 natively (and skips a BOM); anything else goes through Python's codec."""
    return "utf8" if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig") else encoding


def header(path: Path, gz: bool, delimiter: str, encoding: str, where: str) -> list[str]:
    opener: Any = gzip.open if gz else open
    with opener(path, "rt", encoding=python_encoding(encoding), newline="") as handle:
        first = next(csv.reader(handle, delimiter=delimiter), None)
    if not first:
        raise SourceError(f"{where}: empty file, no CSV header")
    names = [n.strip() for n in first]
    check_names(names, where, "header")
    return names


def read_csv(
    path: Path, gz: bool, chunk_rows: int, where: str, *, delimiter: str = ",", encoding: str = "utf8"
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = header(path, gz, delimiter, encoding, where)
    numbering = _Numbering(raw_schema(names), where)

    def on_invalid(row: Any) -> str:
        if row.number is None or row.number < 0:  # only a threaded parse leaves it unset; ours is serial
            raise SourceError(f"{where}: the CSV parser did not number a ragged record ({row.text!r})")
        numbering.ragged(int(row.number) - HEADER_LINE - 1, f"line {row.number}: {row.text}")
        return "skip"

    stream = pa.input_stream(str(path), compression="gzip" if gz else None)
    reader = pcsv.open_csv(
        stream,
        read_options=pcsv.ReadOptions(
            encoding=arrow_encoding(encoding),
            block_size=CSV_BLOCK_BYTES,
            use_threads=False,
            column_names=names,
            skip_rows=1,
        ),
        parse_options=pcsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
        ),
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    empty = True
    for batch in reader:
        empty = False
        yield numbering.place(batch)
    if numbering.pending or empty:  # a header alone is a batch of no rows, never no batch at all
        yield numbering.rest()


class _Numbering:
    """Gives parsed rows their record numbers around the ragged records the parser skipped.

    The parser reports a ragged record before it hands out the batch holding the records around it, so when a
    batch arrives every ragged record up to its last row is known: the k-th parsed row of the file is the
    k-th record number that is not ragged.
    """

    def __init__(self, schema: pa.Schema, where: str) -> None:
        self.schema, self.where = schema, where
        self.next = 0  # record number of the next parsed row
        self.pending: list[tuple[int, str]] = []  # ragged records not yet written, by record number

    def ragged(self, number: int, text: str) -> None:
        bisect.insort(self.pending, (number, text))

    def place(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        import numpy as np
        import pyarrow as pa

        if self.pending and self.pending[0][0] < self.next:  # the parser reported a record too late
            raise SourceError(f"{self.where}: ragged record {self.pending[0][0]} was reported out of order")
        n = batch.num_rows
        bad = np.array([number for number, _ in self.pending], np.int64)
        before = bad - self.next - np.arange(len(bad))  # parsed rows ahead of each ragged record
        k = np.arange(n)
        numbers = self.next + k + np.searchsorted(before, k, side="right")
        if n:
            self.next = int(numbers[-1]) + 1
        inside = int(np.searchsorted(before, n, side="left"))  # ragged records before the last parsed row
        rows = pa.RecordBatch.from_arrays(
            [*batch.columns, pa.array(numbers, pa.int64()), pa.nulls(n, pa.string())], schema=self.schema
        )
        if not inside:
            return rows
        mixed = pa.Table.from_batches([rows, self._malformed(self.pending[:inside])])
        del self.pending[:inside]
        return mixed.sort_by(ROW).combine_chunks().to_batches()[0]

    def rest(self) -> pa.RecordBatch:
        batch = self._malformed(self.pending)
        self.pending = []
        return batch

    def _malformed(self, records: list[tuple[int, str]]) -> pa.RecordBatch:
        import pyarrow as pa

        n = len(records)
        cols = [pa.nulls(n, pa.string()) for _ in self.schema.names[:-2]]
        cols += [
            pa.array([r for r, _ in records], pa.int64()),
            pa.array([t for _, t in records], pa.string()),
        ]
        return pa.RecordBatch.from_arrays(cols, schema=self.schema)

"""The raw-text partition format every reader produces: delivered columns as `pa.string()`, then `_row`
(int64, the 0-based record number in the delivered file) and `_malformed` (the raw text of a record the
format parser could not split, else null). Shared by the CSV, JSON Lines and Parquet readers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from strata.contract.spec import MALFORMED, ROW
from strata.errors import SourceError

if TYPE_CHECKING:
    import pyarrow as pa


def raw_schema(columns: list[str]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [*(pa.field(c, pa.string()) for c in columns), (ROW, pa.int64()), (MALFORMED, pa.string())]
    )


def check_names(names: list[str], where: str, place: str) -> None:
    """Delivered column names: non-empty, distinct, not strata's own (``place``: header, schema, keys)."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not name:
            raise SourceError(f"{where}: column {i + 1} of the {place} has no name")
        if name in seen:
            raise SourceError(f"{where}: column '{name}' appears twice in the {place}")
        if name in (ROW, MALFORMED):
            raise SourceError(f"{where}: column name '{name}' is reserved by strata")
        seen.add(name)


def with_row(batch: pa.RecordBatch, schema: pa.Schema, start: int) -> pa.RecordBatch:
    """A batch of well-formed rows numbered from ``start``."""
    import pyarrow as pa

    n = batch.num_rows
    rows = pa.array(range(start, start + n), pa.int64())
    return pa.RecordBatch.from_arrays([*batch.columns, rows, pa.nulls(n, pa.string())], schema=schema)

"""The data contract applied to one record batch: the pure, typed core of the ``validate`` stage.

Input is a partition batch (every delivered column ``pa.string()`` plus ``_row`` int64); output is the clean
rows (contract columns, canonical names and types, then ``_source``, ``_batch``, ``_row``) and the
quarantined rows (raw delivered strings, ``_row`` and a ``reason``). Nothing is lost: every input row ends in
exactly one of the two. Everything is vectorized (pyarrow.compute + numpy, type parsers in
strata.contract.parse, units in strata.contract.units, one thread per column on big batches); reason strings
are built only for failing rows.

Semantics (the README repeats them):

- Columns: a contract column matches a delivered column by exact name, then an alias, then a normalized
  name (case-insensitive, spaces/dashes/dots -> ``_``), for the name and each alias. A missing *required*
  column, or two delivered columns for one contract column, is a ``SchemaError`` (the whole datum fails).
  An absent optional column is all-null. Delivered columns outside the contract are dropped from clean
  rows (kept in quarantine rows) and counted nowhere.
- Missing: null, or a value in ``na_values`` compared after stripping whitespace. Missing in a required
  column quarantines the row; in an optional column it is null.
- Types (values are stripped first): string; category (must be one of ``values``, case-sensitive; a
  string column with ``values`` is checked the same way); int (``[+-]digits``, also ``3.0``-style integral
  decimals; int64 overflow is unparseable); float (``[+-]`` decimal with optional exponent: ``1``, ``.5``,
  ``1.``, ``1e-3``; ``12,5``, ``abc``, ``inf``, ``nan`` and overflow to infinity are unparseable); bool
  (``true_values``/``false_values``, exact); timestamp: ``YYYY-MM-DD[T ]hh:mm:ss``, optional ``.f`` (1-9
  digits, truncated to microseconds), optional ``Z``/``+hh``/``+hhmm``/``+hh:mm`` (hours <= 23), stored as
  UTC; naive means UTC; a date alone (``YYYY-MM-DD``) is midnight UTC; impossible dates/times
  (``2026-02-30``, ``25:61``, second 60) are unparseable.
  With ``format`` set, pyarrow's strptime parses instead (note: strptime rolls ``Feb 30`` over to March).
- Units: ``source_units[source][column]`` converts that source's numbers to the column's ``unit``
  (strata.contract.units)
  before the range check; int columns are rounded after converting. An unknown pair is a
  ``SchemaError`` before any row is read.
- Rules, all checked per row (one message per failing column, contract order, joined with ``"; "``):
  ``missing required 'c'``, ``unparseable <type> in 'c': '<raw>'``, ``out of range in 'c': v > max m`` (or
  ``< min``, on the converted value; for a timestamp ``'<raw>' > max <limit as written>``, compared as UTC
  instants, default window ``1900-01-01`` .. ``2200-01-01``), ``not allowed in 'c': '<raw>'``. ``reasons``
  counts rows per ``"<kind>: <column>"``, e.g. ``"unparseable float: weight"``; a row failing twice counts
  twice.
- Clean rows: contract order, canonical names and types, then ``_source``, ``_batch`` (datum id), ``_row``.
  Quarantine rows: the delivered columns as delivered (raw strings, before stripping), ``_row``, ``reason``.
- Duplicates (``KeyDeduper``, strata.contract.keys): first occurrence by processing order (lowest ``_row``
  within a
  batch) wins; the key is ``contract.key``, or all contract columns' cleaned values when the key is empty.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from strata.contract.columns import check_units
from strata.contract.spec import (
    MALFORMED,
    NUMERIC,
    REASON,
    ROW,
    arrow_type,
    clean_schema,
    quarantine_schema,
)
from strata.contract.units import conversion
from strata.errors import SchemaError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from strata.contract.spec import ColumnSpec, Contract

PARALLEL_ROWS = 16384  # below this, threads cost more than they save


# ---------------------------------------------------------------------------------------- validation


@dataclasses.dataclass(frozen=True)
class Validated:
    """One batch through the contract: clean rows, quarantined rows, and rows per ``"<kind>: <column>"``."""

    clean: pa.Table
    quarantine: pa.Table
    reasons: dict[str, int]


@dataclasses.dataclass(frozen=True)
class _Checked:
    """One contract column of one batch: typed values and one row mask per broken rule."""

    column: str
    spec: ColumnSpec
    values: pa.Array
    raw: pa.Array | None
    failures: dict[str, np.ndarray]  # missing | unparseable | low | high | not_allowed


def validate_batch(
    batch: pa.RecordBatch, contract: Contract, mapping: dict[str, str | None], source: str, datum: str
) -> Validated:
    """Split ``batch`` into contract-typed clean rows and quarantined raw rows (input is not modified)."""
    import numpy as np
    import pyarrow as pa

    where = f"{source}/{datum}"
    check_units(contract, source, where)
    if ROW not in batch.schema.names:
        raise SchemaError(f"{where}: batch has no '{ROW}' column")
    checked = _check_all(batch, contract, mapping, source=source, where=where)
    bad = np.zeros(batch.num_rows, bool)
    for col in checked:
        for mask in col.failures.values():
            bad |= mask
    arrays = [*(c.values for c in checked), batch.column(ROW)]
    if bad.any():
        good = pa.array(~bad)
        arrays = [a.filter(good) for a in arrays]
    kept = len(arrays[-1])
    lineage = [pa.repeat(source, kept).cast(pa.string()), pa.repeat(datum, kept).cast(pa.string())]
    clean = pa.Table.from_arrays([*arrays[:-1], *lineage, arrays[-1]], schema=_clean_schema(contract))
    return Validated(clean, _quarantine(batch, checked, bad), _count(checked))


_SCHEMAS: dict[int, tuple[Contract, pa.Schema]] = {}  # id -> (contract, its clean schema): built once


def _clean_schema(contract: Contract) -> pa.Schema:
    """clean_schema(contract), remembered per contract object (it serializes the whole contract): a server
    checks every small batch against the same few contracts."""
    hit = _SCHEMAS.get(id(contract))
    if hit is None or hit[0] is not contract:
        if len(_SCHEMAS) >= 64:
            _SCHEMAS.clear()
        hit = _SCHEMAS[id(contract)] = (contract, clean_schema(contract))
    return hit[1]


def split_malformed(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.Table | None]:
    """Rows the format parser could not split (``_malformed`` set) go straight to quarantine.

    Returns the other rows without the ``_malformed`` column, and the malformed ones as quarantine rows
    (``malformed row: <raw text>``), or None when there are none. validate, predict and serve all split here.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if batch.column(MALFORMED).null_count == batch.num_rows:  # the usual case: nothing to filter
        return batch.drop_columns([MALFORMED]), None
    bad = pc.is_valid(batch.column(MALFORMED))
    good = batch.filter(pc.invert(bad)).drop_columns([MALFORMED])
    rejected = batch.filter(bad)
    reason = pc.binary_join_element_wise("malformed row: ", rejected.column(MALFORMED), "")
    table = pa.Table.from_batches([rejected.drop_columns([MALFORMED])]).append_column(REASON, reason)
    return good, table


def _check_all(
    batch: pa.RecordBatch, contract: Contract, mapping: dict[str, str | None], *, source: str, where: str
) -> list[_Checked]:
    """Check every contract column; columns are independent, so big batches use a thread per core
    (pyarrow kernels and numpy release the GIL)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    def one(column: str) -> _Checked:
        return _check(batch, contract, column, mapping.get(column), source=source, where=where)

    if batch.num_rows < PARALLEL_ROWS:
        return [one(c) for c in contract.columns]
    workers = min(os.cpu_count() or 1, len(contract.columns))
    if workers < 2:
        return [one(c) for c in contract.columns]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, contract.columns))


def _check(
    batch: pa.RecordBatch, contract: Contract, column: str, delivered: str | None, *, source: str, where: str
) -> _Checked:
    import pyarrow as pa

    from strata.contract.parse import PARSERS, strip_missing

    spec = contract.columns[column]
    if delivered is None:
        if spec.required:
            raise SchemaError(f"{where}: no delivered column for required column '{column}'")
        return _Checked(column, spec, pa.nulls(batch.num_rows, arrow_type(spec.type)), None, {})
    if delivered not in batch.schema.names:
        raise SchemaError(f"{where}: column '{delivered}' (for '{column}') is not in the batch")
    raw = batch.column(delivered)
    if raw.type != pa.string():  # the partition format says string; large_string/others are cast, not trusted
        raw = raw.cast(pa.string())
    stripped, missing = strip_missing(raw, contract.na_values)
    values, ok = PARSERS[spec.type](stripped, ~missing, spec, contract)
    failures = {"missing": missing} if spec.required else {}
    failures["unparseable"] = ~missing & ~ok
    values = _convert(values, contract.source_units.get(source, {}).get(column), spec, where)
    failures.update(_limits(values, ok, spec))
    return _Checked(column, spec, values, raw, failures)


def _convert(values: pa.Array, source_unit: str | None, spec: ColumnSpec, where: str) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not source_unit or source_unit == spec.unit:
        return values
    scale, offset = conversion(source_unit, spec.unit, where)
    converted = pc.add(pc.multiply(values.cast(pa.float64()), scale), offset)
    return pc.round(converted).cast(pa.int64(), safe=False) if spec.type == "int" else converted


def _limits(values: pa.Array, ok: np.ndarray, spec: ColumnSpec) -> dict[str, np.ndarray]:
    import pyarrow as pa
    import pyarrow.compute as pc

    from strata.contract.parse import to_numpy_mask

    out = {}
    if spec.type in (*NUMERIC, "timestamp"):
        low, high = spec.limits()
        if spec.type == "timestamp":  # UTC microseconds, like the limits
            values = values.cast(pa.int64())
        numbers = pc.fill_null(values, 0).to_numpy()
        if low is not None:
            out["low"] = ok & (numbers < low)
        if high is not None:
            out["high"] = ok & (numbers > high)
    elif spec.values and spec.type in ("string", "category"):
        allowed = pa.array(spec.values, pa.string())
        out["not_allowed"] = ok & ~to_numpy_mask(pc.is_in(values, value_set=allowed))
    return out


def _count(checked: list[_Checked]) -> dict[str, int]:
    import numpy as np

    counts: dict[str, int] = {}
    for col in checked:
        for kind, mask in col.failures.items():
            label = _label(kind, col)
            hits = int(np.count_nonzero(mask))
            if hits:
                counts[label] = counts.get(label, 0) + hits
    return counts


def _label(kind: str, col: _Checked) -> str:
    words = {
        "missing": "missing required",
        "unparseable": f"unparseable {col.spec.type}",
        "low": "out of range",
    }
    words |= {"high": "out of range", "not_allowed": "not allowed"}
    return f"{words[kind]}: {col.column}"


def _message(kind: str, col: _Checked, rows: pa.Array) -> pa.Array:
    """The reason text for ``kind`` in this column, for the quarantined ``rows`` (built only for them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    c, spec = col.column, col.spec
    if kind == "missing":
        return pa.repeat(f"missing required '{c}'", len(rows)).cast(pa.string())
    if kind in ("unparseable", "not_allowed"):
        assert col.raw is not None
        head = f"unparseable {spec.type} in '{c}': '" if kind == "unparseable" else f"not allowed in '{c}': '"
        return pc.binary_join_element_wise(head, col.raw.take(rows), "'", "")
    limit = f" > max {spec.limit_text('max')}" if kind == "high" else f" < min {spec.limit_text('min')}"
    if spec.type == "timestamp":  # the delivered text: an instant past 9999 has no UTC rendering
        assert col.raw is not None
        return pc.binary_join_element_wise(f"out of range in '{c}': '", col.raw.take(rows), "'" + limit, "")
    shown = col.values.take(rows).cast(pa.string())
    return pc.binary_join_element_wise(f"out of range in '{c}': ", shown, limit, "")


def _quarantine(batch: pa.RecordBatch, checked: list[_Checked], bad: np.ndarray) -> pa.Table:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    at = np.flatnonzero(bad)
    rows = pa.array(at, pa.int64())
    parts = []
    for col in checked:
        for kind, mask in col.failures.items():
            hit = mask[at]
            if hit.any():
                parts.append(
                    pc.if_else(pa.array(hit), _message(kind, col, rows), pa.scalar(None, pa.string()))
                )
    if parts:
        reason = pc.binary_join_element_wise(*parts, "; ", null_handling="skip")
    else:
        reason = pa.array([], pa.string())
    names = [n for n in batch.schema.names if n != ROW]
    arrays = [batch.column(n).take(rows) for n in names]
    return pa.Table.from_arrays(
        [*arrays, batch.column(ROW).take(rows), reason], schema=quarantine_schema(names)
    )

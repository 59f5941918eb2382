"""Clean rows recognized one value at a time: the contract's fast path for a few rows (a scoring request).

:func:`strata.contract.engine.validate_batch` is vectorized: a dozen pyarrow/numpy calls a column, ~3 ms for
one row of the default contract whatever the rows are, which is most of the time of scoring one event.
:func:`clean_rows` reads a small batch value by value in plain Python instead, and answers only when it can
answer exactly as the engine does:

- it *accepts* a row only when every value is in the plain form of its type, read by the engine's grammar
  (``FLOAT_RE`` for floats, 1-18 ASCII digits for ints, the ISO timestamp shapes when there is no
  ``format``, the contract's words for bools and markers for missing values) and typed to the same value:
  Python's ``float()`` and Arrow's cast both round correctly, int ranges are compared exactly below 2**53,
  timestamps are computed to the microsecond as strata.contract.parse does;
- anything else (a value that starts or ends with anything but printable ASCII, so that the engine might
  strip it; a sign or a decimal point on an int; a missing required value; a value out of range or not
  allowed; a timestamp column with ``format``; a unit conversion of an int column; a malformed row) makes
  it *decline*: it returns None and the caller runs the engine on the batch, which builds every reason
  text. No reason is ever written here.

So a batch this accepts gets the engine's clean table (same schema, values and lineage), and a batch it
declines gets the engine's own answer. tests/unit/test_serve_plain.py checks it on near-miss values of
every type, generated rows (hypothesis) and contracts with their own markers and words: each batch is either
declined or typed exactly as the engine types it, and no row the engine quarantines is ever accepted.
tests/e2e/test_serving_e2e.py posts single events of the delivered default feed and gets `strata predict`'s
answers.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from strata.contract.parse import FLOAT_RE
from strata.contract.spec import MALFORMED, ROW
from strata.contract.units import conversion

if TYPE_CHECKING:
    import pyarrow as pa

    from strata.contract.spec import ColumnSpec, Contract

ROWS = 128  # at or below this many rows reading value by value beats the engine (~250 rows here)
EXACT_INT = 2**53  # ints beyond this compare to a float limit differently in numpy than in Python

_FLOAT = re.compile(FLOAT_RE, re.ASCII)
_DIGITS = re.compile(r"[0-9]{1,18}", re.ASCII)
_ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?",
    re.ASCII,
)
_EPOCH = dt.date(1970, 1, 1).toordinal()
_DECLINE = object()  # a value this module does not decide

Reader = Callable[[str], Any]  # stripped present text -> typed value, or _DECLINE


def clean_rows(batch: pa.RecordBatch, contract: Contract, source: str, datum: str) -> pa.Table | None:
    """The engine's clean table of ``batch`` if every row is clean and plain, else None (run the engine).

    ``batch`` holds every contract column under its contract name as text (strata.serving.door.renamed),
    then ``_row`` and ``_malformed``; rows are few (:data:`ROWS`)."""
    import pyarrow as pa

    if batch.num_rows > ROWS or batch.column(MALFORMED).null_count != batch.num_rows:
        return None
    built = _readers(contract, source)
    if built is None:
        return None
    readers, schema, missing = built
    arrays = []
    for name, (read, required, kind) in readers.items():
        values = []
        for text in batch.column(name).to_pylist():
            value = _value(text, read, required, missing)
            if value is _DECLINE:
                return None
            values.append(value)
        arrays.append(pa.array(values, kind))
    rows = batch.column(ROW)
    lineage = [pa.repeat(source, len(rows)).cast(pa.string()), pa.repeat(datum, len(rows)).cast(pa.string())]
    return pa.Table.from_arrays([*arrays, *lineage, rows], schema=schema)


def _value(text: str | None, read: Reader, required: bool, missing: frozenset[str]) -> Any:
    if text is None:
        return _DECLINE if required else None
    if text and not (_plain(text[0]) and _plain(text[-1])):
        return _DECLINE  # the engine strips it first (Unicode whitespace): leave that to it
    if text in missing:
        return _DECLINE if required else None
    return read(text)


def _plain(char: str) -> bool:
    return "!" <= char <= "~"  # printable ASCII: the engine strips nothing around such a value


# (column -> (reader, required, Arrow type), the clean schema, the stripped missing-value markers)
Readers = tuple[dict[str, tuple[Reader, bool, Any]], "pa.Schema", frozenset[str]]
_CACHE: dict[tuple[int, str], tuple[Contract, Readers | None]] = {}


def _readers(contract: Contract, source: str) -> Readers | None:
    """What :func:`clean_rows` reads a batch with, built once per (contract, source); None: this contract
    and source have no fast path."""
    hit = _CACHE.get((id(contract), source))
    if hit is None or hit[0] is not contract:
        if len(_CACHE) >= 64:
            _CACHE.clear()
        hit = _CACHE[(id(contract), source)] = (contract, _build(contract, source))
    return hit[1]


def _build(contract: Contract, source: str) -> Readers | None:
    from strata.contract.columns import check_units
    from strata.contract.spec import arrow_type, clean_schema
    from strata.errors import SchemaError

    try:
        check_units(contract, source, source)
    except SchemaError:
        return None  # the engine raises it, with its own words
    units = contract.source_units.get(source, {})
    readers = {}
    for name, spec in contract.columns.items():
        unit = units.get(name)
        convert = conversion(unit, spec.unit, name) if unit and unit != spec.unit else None
        read = _reader(spec, contract, convert)
        if read is None:
            return None
        readers[name] = (read, spec.required, arrow_type(spec.type))
    return readers, clean_schema(contract), frozenset(v.strip() for v in contract.na_values)


def _reader(spec: ColumnSpec, contract: Contract, convert: tuple[float, float] | None) -> Reader | None:
    low, high = spec.limits()
    if spec.type in ("string", "category"):
        allowed = frozenset(spec.values) if spec.values else None
        return lambda text: text if allowed is None or text in allowed else _DECLINE
    if spec.type == "bool":
        words: dict[str, bool] = {}
        pairs = [(w, True) for w in contract.true_values] + [(w, False) for w in contract.false_values]
        for word, truth in pairs:
            words.setdefault(word.strip(), truth)  # the first list a word is in decides, as in the engine
        return lambda text: words.get(text, _DECLINE)
    readers: dict[str, Reader | None] = {
        # converted ints are rounded by pyarrow: leave them to the engine
        "int": (lambda text: _int(text, low, high)) if convert is None else None,
        "float": lambda text: _float(text, low, high, convert),
        "timestamp": (lambda text: _timestamp(text, low, high)) if not spec.format else None,
    }
    return readers.get(spec.type)


def _within(value: float | int, low: float | int | None, high: float | int | None) -> bool:
    return (low is None or not value < low) and (high is None or not value > high)


def _int(text: str, low: float | None, high: float | None) -> Any:
    if not _DIGITS.fullmatch(text):  # signs and 3.0-style decimals: the engine's regex path
        return _DECLINE
    value = int(text)
    return value if value < EXACT_INT and _within(value, low, high) else _DECLINE


def _float(text: str, low: float | None, high: float | None, convert: tuple[float, float] | None) -> Any:
    if not _FLOAT.fullmatch(text):
        return _DECLINE
    value = float(text)
    if not math.isfinite(value):
        return _DECLINE
    if convert is not None:
        value = value * convert[0] + convert[1]
    return value if _within(value, low, high) else _DECLINE


def _timestamp(text: str, low: float | None, high: float | None) -> Any:
    found = _ISO.fullmatch(text)
    micros = None if found is None else _micros(*found.groups())
    return micros if micros is not None and _within(micros, low, high) else _DECLINE


def _micros(*parts: str | None) -> int | None:
    """UTC microseconds as the engine computes them (the fraction truncated to microseconds, the zone
    subtracted), handed to Arrow as an int; None for a value left to the engine."""
    year, month, day, hour, minute, second, fraction, zone = parts
    clock = [int(hour or 0), int(minute or 0), int(second or 0)]
    east = _zone_seconds(zone)
    if east is None or clock[0] > 23 or clock[1] > 59 or clock[2] > 59:
        return None
    try:
        days = dt.date(int(year or 0), int(month or 0), int(day or 0)).toordinal() - _EPOCH
    except ValueError:
        return None  # impossible dates, and year 0000 (the engine decides it)
    micros = ((days * 24 + clock[0]) * 60 + clock[1]) * 60_000_000 + clock[2] * 1_000_000
    return micros + int((fraction or "")[:6].ljust(6, "0")) - east * 1_000_000


def _zone_seconds(zone: str | None) -> int | None:
    """Seconds east of UTC of ``Z``, ``+hh``, ``+hhmm`` or ``+hh:mm`` (0 without a zone), None if invalid."""
    if not zone or zone == "Z":
        return 0
    hours, minutes = int(zone[1:3]), int(zone[-2:]) if len(zone) > 3 else 0
    if hours > 23 or minutes > 59:
        return None
    return (hours * 3600 + minutes * 60) * (-1 if zone[0] == "-" else 1)

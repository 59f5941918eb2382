"""Vectorized text -> typed value parsers for the data contract (semantics: strata.contract.engine).

Each parser takes stripped strings and a numpy mask of the present (non-missing) rows and returns the typed
arrow array plus a numpy mask of the rows that parsed. A value's verdict never depends on its neighbours:
cheap checks (ASCII digits) decide the common rows and a regex only the remaining ones, and pyarrow's casts
only ever see values the grammar accepts, so a bad value can not fail a whole array.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from strata.contract.spec import ColumnSpec, Contract

Parser = Callable[["pa.Array", "np.ndarray", "ColumnSpec", "Contract"], "tuple[pa.Array, np.ndarray]"]

FLOAT_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
INT_RE = r"^[+-]?\d+(\.0*)?$"
_TS_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)  # YYYY-MM-DD?hh:mm:ss
_TS_LEN = 19
_DATE_LEN = 10
_SUFFIX_LEN = 16  # the longest suffix after the seconds: .123456789+05:30
_MIDNIGHT = b"T00:00:00"


def to_numpy_mask(mask: pa.Array) -> np.ndarray:
    """Boolean arrow array -> numpy bool, null as False (no fill when there is no null: the usual case)."""
    import pyarrow.compute as pc

    if not mask.null_count:
        return mask.to_numpy(zero_copy_only=False)
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def with_validity(strings: pa.Array, valid: np.ndarray) -> pa.Array:
    """The same strings with ``valid`` as their validity (zero copy when the array is unsliced)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if strings.offset or strings.type != pa.string():
        return pc.if_else(pa.array(valid), strings, pa.scalar(None, strings.type))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    _, offsets, data = strings.buffers()
    return pa.StringArray.from_buffers(len(strings), offsets, data, bitmap)


def string_buffers(s: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a ``pa.string()`` array, zero copy: value i is ``bytes[offsets[i]:offsets[i + 1]]``
    (null slots too, usually empty). Offsets start at 0 even for a slice."""
    import numpy as np

    n = len(s)
    _, offsets_buf, data_buf = s.buffers()
    if offsets_buf is None:
        return np.zeros(n + 1, np.int32), np.zeros(0, np.uint8)
    offsets = np.frombuffer(offsets_buf, np.int32, n + 1, s.offset * 4)
    first, last = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buf, np.uint8, last - first, first) if last > first else np.zeros(0, np.uint8)
    return offsets - first if first else offsets, data


def _edges(s: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte length, first byte and last byte of every value (the two bytes are arbitrary for empty ones)."""
    import numpy as np

    offsets, data = string_buffers(s)
    if not len(data):
        return np.diff(offsets), np.zeros(len(s), np.uint8), np.zeros(len(s), np.uint8)
    first = np.take(data, offsets[:-1], mode="clip")
    return np.diff(offsets), first, np.take(data, offsets[1:] - 1, mode="clip")


def strip_missing(raw: pa.Array, na_values: Sequence[str]) -> tuple[pa.Array, np.ndarray]:
    """(``utf8_trim_whitespace(raw)``, rows that are null or equal to a stripped na value), read cheaply:

    - nothing is trimmed (``raw`` itself is returned) when no value can start or end with whitespace, that is
      when every non-empty value's first and last bytes are printable ASCII (``!``..``~``);
    - only the values whose byte length and first byte match some na value are looked up (usually none).
    """
    import numpy as np
    import pyarrow.compute as pc

    lengths, first, last = _edges(raw)
    full = lengths > 0
    edge = np.concatenate([first, last] if full.all() else [first[full], last[full]])
    stripped = raw
    if len(edge) and (edge.min() < 33 or edge.max() > 126):
        stripped = pc.utf8_trim_whitespace(raw)
        lengths, first, _ = _edges(stripped)
    table, na = _na_lookup(tuple(na_values))
    rows = np.flatnonzero(np.take(table, np.minimum(lengths, len(table) // 256 - 1) * 256 + first))
    if len(rows) > len(raw) // 4:
        found = to_numpy_mask(pc.is_in(stripped, value_set=na))
    else:
        found = np.zeros(len(raw), bool)
        if len(rows):
            found[rows] = to_numpy_mask(pc.is_in(stripped.take(rows), value_set=na))
    if stripped.null_count:
        found |= ~to_numpy_mask(stripped.is_valid())
    return stripped, found


@functools.lru_cache(maxsize=64)
def _na_lookup(na_values: tuple[str, ...]) -> tuple[np.ndarray, pa.Array]:
    """(flat table[length * 256 + first byte]: some stripped na value has them, the stripped na values),
    built once per contract (read only)."""
    import numpy as np
    import pyarrow as pa

    words = [v.strip().encode() for v in na_values]
    table = np.zeros((max((len(w) for w in words), default=0) + 2, 256), bool)  # [length, first byte]
    for w in words:
        table[len(w), w[0] if w else slice(None)] = True
    flat = table.ravel()
    flat.flags.writeable = False
    return flat, pa.array([w.decode() for w in words], pa.string())


def safe_cast(strings: pa.Array, kind: pa.DataType) -> pa.Array:
    """Cast; a value pyarrow still refuses (int64 overflow) becomes null, found by bisecting (rare)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(strings, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(strings) <= 1:
            return pa.nulls(len(strings), kind)
    half = len(strings) // 2
    return pa.concat_arrays([safe_cast(strings[:half], kind), safe_cast(strings[half:], kind)])


def _syntax(strings: pa.Array, present: np.ndarray, simple: pa.Array, pattern: str) -> np.ndarray:
    """Rows that pass the cheap ``simple`` check or, checked only for the rest, match ``pattern``."""
    import numpy as np
    import pyarrow.compute as pc

    ok = to_numpy_mask(simple) & present
    rest = np.flatnonzero(present & ~ok)
    if len(rest):
        ok[rest] = to_numpy_mask(pc.match_substring_regex(strings.take(rest), pattern))
    return ok


def parse_float(s: pa.Array, present: np.ndarray, spec: ColumnSpec, contract: Contract) -> tuple:
    import pyarrow as pa
    import pyarrow.compute as pc

    around = pc.ascii_trim(s, "0123456789")  # "" or "." left: plain digits with at most one dot
    plain = pc.or_(pc.equal(pc.binary_length(around), 0), pc.equal(around, "."))
    simple = pc.and_(plain, pc.and_(pc.not_equal(s, "."), pc.greater(pc.binary_length(s), 0)))
    ok = _syntax(s, present, simple, FLOAT_RE)
    values = safe_cast(with_validity(s, ok), pa.float64())
    ok &= to_numpy_mask(pc.is_finite(values))
    return values, ok


def parse_int(s: pa.Array, present: np.ndarray, spec: ColumnSpec, contract: Contract) -> tuple:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    simple = to_numpy_mask(pc.and_(pc.ascii_is_decimal(s), pc.less_equal(pc.binary_length(s), 18)))
    ok = _syntax(s, present, pa.array(simple), INT_RE)
    values = pc.fill_null(safe_cast(with_validity(s, ok & simple), pa.int64()), 0).to_numpy().copy()
    rest = np.flatnonzero(ok & ~simple)
    if len(rest):
        parsed = safe_cast(pc.replace_substring_regex(s.take(rest), r"^\+|\.0*$", ""), pa.int64())
        ok[rest] = to_numpy_mask(parsed.is_valid())
        values[rest] = pc.fill_null(parsed, 0).to_numpy()
    return pa.array(values, pa.int64(), mask=~ok), ok


def parse_bool(s: pa.Array, present: np.ndarray, spec: ColumnSpec, contract: Contract) -> tuple:
    import pyarrow as pa
    import pyarrow.compute as pc

    words = [w.strip() for w in (*contract.true_values, *contract.false_values)]
    found = pc.index_in(s, value_set=pa.array(words, pa.string()))  # one hash lookup for both
    ok = to_numpy_mask(found.is_valid()) & present
    truth = pc.fill_null(found, len(words)).to_numpy() < len(contract.true_values)
    return pa.array(truth, pa.bool_(), mask=~ok), ok


def parse_text(s: pa.Array, present: np.ndarray, spec: ColumnSpec, contract: Contract) -> tuple:
    return with_validity(s, present), present.copy()


def parse_timestamp(s: pa.Array, present: np.ndarray, spec: ColumnSpec, contract: Contract) -> tuple:
    import pyarrow as pa
    import pyarrow.compute as pc

    utc = pa.timestamp("us", tz="UTC")
    if not spec.format:
        micros, ok = parse_iso(s, present)
        return pa.array(micros, utc, mask=~ok), ok
    parsed = pc.strptime(with_validity(s, present), format=spec.format, unit="us", error_is_null=True)
    return parsed.cast(utc), to_numpy_mask(parsed.is_valid()) & present


PARSERS: dict[str, Parser] = {
    "string": parse_text,
    "category": parse_text,
    "int": parse_int,
    "float": parse_float,
    "bool": parse_bool,
    "timestamp": parse_timestamp,
}


# ------------------------------------------------------------------------------------- ISO timestamps


def parse_iso(s: pa.Array, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC microseconds since the epoch and the parsed mask, reading the string bytes with numpy.

    ``YYYY-MM-DD[T ]hh:mm:ss`` is read at fixed byte positions; a date alone is read as if followed by
    ``T00:00:00``; whatever follows the seconds must match ``(\\.\\d{1,9})?(Z|[+-]hh(:?mm)?)?`` exactly.
    No regex: every shape is decided on the bytes, so a row's verdict depends on its own bytes only.
    """
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    offsets, data = string_buffers(s)
    starts, lengths = offsets[:-1], np.diff(offsets)
    dates = present & (lengths == _DATE_LEN)
    ok = present & ((lengths >= _TS_LEN) | dates)
    rows = np.flatnonzero(ok)
    micros = np.zeros(len(s), np.int64)
    if not len(rows):
        return micros, ok
    padded = np.concatenate([data, np.zeros(_TS_LEN + _SUFFIX_LEN, np.uint8)])  # windows never run off
    cols = sliding_window_view(padded, _TS_LEN)[starts[rows]].T.copy()  # byte i of every row in row i
    date_rows = np.flatnonzero(dates[rows])
    if len(date_rows):
        cols[_DATE_LEN:, date_rows] = np.frombuffer(_MIDNIGHT, np.uint8)[:, None]
    ok[rows], micros[rows] = _iso_prefix(cols)
    long_rows = rows[lengths[rows] > _TS_LEN]
    if len(long_rows):
        good, shift = _iso_suffix(padded, starts[long_rows] + _TS_LEN, lengths[long_rows] - _TS_LEN)
        micros[long_rows] += shift
        ok[long_rows] &= good
    return micros, ok


def _iso_prefix(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert ``YYYY-MM-DD[T ]hh:mm:ss``; ``cols`` holds byte i of every value in row i (19, n),
    so every step is a contiguous numpy loop."""
    import numpy as np

    digits = cols[list(_TS_DIGITS)] - np.uint8(48)  # wraps around for non-digits
    good = (digits <= 9).all(axis=0)
    good &= (cols[4] == 45) & (cols[7] == 45) & (cols[13] == 58) & (cols[16] == 58)  # - - : :
    good &= (cols[10] == 84) | (cols[10] == 32)  # 'T' or ' '
    pairs = digits[0::2].astype(np.int64) * 10 + digits[1::2]
    year, month, day, hour, minute, second = pairs[0] * 100 + pairs[1], *pairs[2:]
    good &= (month >= 1) & (month <= 12)
    first, length = _months()
    at = np.where(good, year * 12 + month - 1, 0)
    good &= (day >= 1) & (day <= length[at]) & (hour <= 23) & (minute <= 59) & (second <= 59)
    days = first[at] + day - 1
    return good, ((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000


@functools.cache
def _months() -> tuple[np.ndarray, np.ndarray]:
    """For month ``year * 12 + month - 1`` of years 0000-9999: days from 1970-01-01 to its first day, and
    its length (days from civil, H. Hinnant; proleptic Gregorian)."""
    import numpy as np

    index = np.arange(10_001 * 12, dtype=np.int64)  # one past 9999-12, for the length of December
    y, m = index // 12, index % 12 + 1
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(m > 2, m - 3, m + 9) + 2) // 5
    first = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return first[:-12], np.diff(first)[: 10_000 * 12]


def _iso_suffix(padded: np.ndarray, at: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``size`` bytes at ``at``: ``(.f{1,9})?(Z|+hh|+hhmm|+hh:mm)?`` (ok, microseconds to add).

    A lone ``Z`` (the common case) is decided on one byte; the other shapes are read as byte matrices."""
    import numpy as np

    ok = (size == 1) & (padded[at] == 90)  # 'Z'
    shift = np.zeros(len(at), np.int64)
    rest = np.flatnonzero(~ok)
    if len(rest):
        ok[rest], shift[rest] = _iso_suffix_any(padded, at[rest], size[rest])
    return ok, shift


def _iso_suffix_any(padded: np.ndarray, at: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    k = len(at)
    window = sliding_window_view(padded, _SUFFIX_LEN)[at]
    text = np.zeros((k, _SUFFIX_LEN + 6), np.uint8)  # room to read a 6-byte zone after any fraction
    text[:, :_SUFFIX_LEN] = np.where(np.arange(_SUFFIX_LEN) < size[:, None], window, 0)
    digit = (text - np.uint8(48)) <= 9
    dot = text[:, 0] == 46
    run = np.where(dot, np.argmin(digit[:, 1:], axis=1), 0)  # fraction digits (the zero padding stops it)
    ok = (size <= _SUFFIX_LEN) & (~dot | ((run >= 1) & (run <= 9)))
    weights = np.array([100_000, 10_000, 1_000, 100, 10, 1])
    fraction = np.where(np.arange(6) < run[:, None], text[:, 1:7] - np.int64(48), 0) @ weights
    zone_at = np.where(dot, run + 1, 0)
    zone = np.take_along_axis(text, zone_at[:, None] + np.arange(6), axis=1)
    zone_ok, offset = _iso_zone(zone, size - zone_at)
    return ok & zone_ok, fraction - offset * 1_000_000


def _iso_zone(zone: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``size`` bytes of ``zone``: none, ``Z``, ``+hh``, ``+hhmm`` or ``+hh:mm`` (ok, seconds east of UTC)."""
    import numpy as np

    d = zone.astype(np.int64) - 48
    digit = (d >= 0) & (d <= 9)
    sign = (zone[:, 0] == 43) | (zone[:, 0] == 45)  # '+' or '-'
    colon = size == 6
    m1, m2 = np.where(colon, d[:, 4], d[:, 3]), np.where(colon, d[:, 5], d[:, 4])
    minute_digits = np.where(colon, digit[:, 4] & digit[:, 5] & (zone[:, 3] == 58), digit[:, 3] & digit[:, 4])
    hours = d[:, 1] * 10 + d[:, 2]
    minutes = np.where(size == 3, 0, m1 * 10 + m2)
    numeric = sign & digit[:, 1] & digit[:, 2] & ((size == 3) | minute_digits)
    numeric &= ((size == 3) | (size == 5) | colon) & (hours <= 23) & (minutes <= 59)
    ok = (size == 0) | ((size == 1) & (zone[:, 0] == 90)) | numeric  # 'Z'
    seconds = np.where(numeric, (hours * 3600 + minutes * 60) * np.where(zone[:, 0] == 45, -1, 1), 0)
    return ok, seconds

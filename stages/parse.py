"""Vectorized text -> typed value parsers for the data contract (see stages.schema for the semantics).

Each parser takes stripped strings and a numpy mask of the present (non-missing) rows and returns the typed
arrow array plus a numpy mask of the rows that parsed. A value's verdict never depends on its neighbours:
cheap checks (ASCII digits) decide the common rows and a regex only the remaining ones, and pyarrow's casts
only ever see values the grammar accepts, so a bad value can not fail a whole array.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from stages.config import ColumnSpec, Contract

Parser = Callable[["pa.Array", "np.ndarray", "ColumnSpec", "Contract"], "tuple[pa.Array, np.ndarray]"]

FLOAT_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
INT_RE = r"^[+-]?\d+(\.0*)?$"
TS_SUFFIX_RE = r"^(?:\.(?P<frac>\d{1,9}))?(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?$"
_TS_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)  # YYYY-MM-DD?hh:mm:ss
_TS_LEN = 19
_DATE_LEN = 10
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def to_numpy_mask(mask: pa.Array) -> np.ndarray:
    """Boolean arrow array -> numpy bool, null as False."""
    import pyarrow.compute as pc

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
    """UTC microseconds since the epoch and the parsed mask, reading the string bytes with numpy."""
    import numpy as np

    n = len(s)
    s = _pad_dates(s, present)
    raw = s if s.offset == 0 else s.take(np.arange(n))
    _, offsets_buf, data_buf = raw.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32, n + 1) if offsets_buf else np.zeros(n + 1, np.int32)
    data = np.frombuffer(data_buf, np.uint8) if data_buf else np.zeros(0, np.uint8)
    ok = present & (np.diff(offsets) >= _TS_LEN)
    rows = np.flatnonzero(ok)
    micros = np.zeros(n, np.int64)
    if not len(rows):
        return micros, ok
    good, value = _iso_prefix(data, offsets[rows])
    micros[rows] = value
    ok[rows] = good
    long_rows = rows[np.diff(offsets)[rows] > _TS_LEN]
    if len(long_rows):
        good_suffix, shift = _iso_suffix(raw.take(long_rows))
        micros[long_rows] += shift
        ok[long_rows] &= good_suffix
    return micros, ok


def _pad_dates(s: pa.Array, present: np.ndarray) -> pa.Array:
    """A date alone (``YYYY-MM-DD``, common in real exports) means midnight UTC of that day."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dates = present & (pc.utf8_length(s).to_numpy(zero_copy_only=False) == _DATE_LEN)
    if not dates.any():
        return s
    padded = pc.binary_join_element_wise(s, "T00:00:00", "")
    return pc.if_else(pa.array(dates), padded, s).cast(pa.string())


def _iso_prefix(data: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert ``YYYY-MM-DD[T ]hh:mm:ss`` at each start (days from civil, H. Hinnant)."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    text = sliding_window_view(data, _TS_LEN)[starts]  # (rows, 19) bytes, one gather
    digits = text[:, _TS_DIGITS] - np.uint8(48)  # wraps around for non-digits
    good = (digits <= 9).all(axis=1)
    good &= (text[:, [4, 7, 13, 16]] == np.array([45, 45, 58, 58], np.uint8)).all(axis=1)
    good &= (text[:, 10] == 84) | (text[:, 10] == 32)  # 'T' or ' '
    pairs = digits[:, 0::2].astype(np.int32) * 10 + digits[:, 1::2]
    year, month, day = pairs[:, 0] * 100 + pairs[:, 1], pairs[:, 2], pairs[:, 3]
    hour, minute, second = pairs[:, 4], pairs[:, 5], pairs[:, 6]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    last = np.asarray(_DAYS_IN_MONTH)[np.where(month_ok, month, 0)] + (leap & (month == 2))
    good &= month_ok & (day >= 1) & (day <= last) & (hour <= 23) & (minute <= 59) & (second <= 59)
    y = (year - (month <= 2)).astype(np.int64)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return good, ((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000


def _iso_suffix(rest: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Fraction (truncated to microseconds) and UTC offset after the seconds: (ok, microseconds to add)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = pc.extract_regex(pc.utf8_slice_codeunits(rest, _TS_LEN), TS_SUFFIX_RE)
    ok = to_numpy_mask(parts.is_valid())
    parts = pc.if_else(pa.array(ok), parts, pa.scalar({"frac": "", "tz": ""}, parts.type))
    frac = pc.utf8_slice_codeunits(pc.utf8_rpad(parts.field("frac"), 6, "0"), 0, 6)
    tz = pc.replace_substring(pc.replace_substring(parts.field("tz"), ":", ""), "Z", "")
    tz = pc.utf8_rpad(pc.if_else(pc.equal(tz, ""), "+00", tz), 5, "0")
    hours = pc.cast(pc.utf8_slice_codeunits(tz, 1, 3), pa.int64()).to_numpy()
    minutes = pc.cast(pc.utf8_slice_codeunits(tz, 3, 5), pa.int64()).to_numpy()
    sign = np.where(to_numpy_mask(pc.starts_with(tz, "-")), -1, 1)
    ok &= (hours <= 23) & (minutes <= 59)
    shift = pc.cast(frac, pa.int64()).to_numpy() - sign * (hours * 3600 + minutes * 60) * 1_000_000
    return ok, shift

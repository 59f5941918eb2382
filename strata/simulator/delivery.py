"""How each simulated site delivers a day of events: its column names, missing markers, units, format,
and the realistic mess validate must catch (bad numbers and timestamps, out-of-range readings, unknown
categories, duplicates, yesterday's rows delivered again). Text sites' tables hold delivered tokens (CSV
text, JSON literals); Parquet sites' tables native types; :func:`encode` pins every byte.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from strata.atomic import PARQUET_COMPRESSION
from strata.errors import ConfigError
from strata.simulator.generate import (
    CAMEL,
    COLUMNS,
    FLAGS,
    HEIGHT_UNITS,
    NEW_COLUMN,
    READINGS,
    Row,
    day_rng,
    events,
    start_date,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from strata.config import SimulateParams, SiteSpec

T = TypeVar("T")
Copies = list[tuple[int, str]]  # (row index, "duplicate" | "redelivered")

MISSING_MARKERS = ("", "NA", "-")  # CSV sites; all are in validate.contract.na_values
MESS_KINDS = ("missing", "bad_number", "bad_timestamp", "out_of_range", "unknown_category", "duplicate",
              "redelivered")  # fmt: skip
TEXT_ONLY_MESS = ("bad_number", "bad_timestamp")  # Parquet's native types cannot carry these
BAD_NUMBERS = ("{comma}", "abc", "{value} units")
BAD_TIMESTAMPS = ("2026-02-30 25:61", "yesterday", "31/13/2026 10:00")
OUT_OF_RANGE = (("height", 999.0), ("weight", -3.0), ("animal_score", 1.7), ("speed", 42.0),
                ("dwell", -5.0), ("vibration", 75.0))  # fmt: skip
UNKNOWN_ENTRY = ("chimney", "skylight", "cat_door")


def _pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def _spoil(rng: np.random.Generator, row: Row, kind: str) -> None:
    """Give one row one kind of mess (in place); copies are added later by _with_copies."""
    if kind == "missing":
        row[_pick(rng, COLUMNS)] = None
    elif kind == "bad_number":
        name = _pick(rng, list(READINGS))
        value = 12.5 if row[name] is None else row[name]
        row[name] = _pick(rng, BAD_NUMBERS).format(comma=str(value).replace(".", ","), value=value)
    elif kind == "bad_timestamp":
        row["ts"] = _pick(rng, BAD_TIMESTAMPS)
    elif kind == "out_of_range":
        name, value = _pick(rng, OUT_OF_RANGE)
        row[name] = value
    elif kind == "unknown_category":
        row["entry_point"] = _pick(rng, UNKNOWN_ENTRY)


def _mark_missing(rng: np.random.Generator, rows: list[Row], fmt: str) -> None:
    """Render missing values the way the site does: CSV markers, JSON null or an absent key."""
    for row in rows:
        for name in [n for n, v in row.items() if v is None]:
            if fmt.startswith("csv"):
                row[name] = _pick(rng, MISSING_MARKERS)
            elif fmt.startswith("jsonl") and rng.random() < 0.5:
                del row[name]


class Day(NamedTuple):
    """One site-day before copies: the rows as delivered, which are duplicated or re-delivered, and for
    the oracle only (never delivered) each event's profile and the values it reaches the model with."""

    rows: list[Row]
    copies: Copies
    profiles: list[int]  # index into generate.PROFILES
    seen: list[Row]  # the generated values, with a reading the mess blanked set to None


def delivered_once(params: SimulateParams, site: SiteSpec, day: int) -> Day:
    """One site-day's rows as delivered (before copies), and which rows are duplicated or re-delivered."""
    rng = day_rng(params.seed, site.name, day, "rows")
    rows, profiles = events(params, site, day, rng)
    seen = [dict(row) for row in rows]
    kinds = mess_kinds(site)
    hit = rng.random(len(rows)) < params.mess_rate
    picks = rng.integers(len(kinds), size=len(rows))
    copies: Copies = []
    for i in map(int, hit.nonzero()[0]):
        _spoil(rng, rows[i], kinds[picks[i]])
        seen[i].update({k: None for k in (*READINGS, *FLAGS) if rows[i][k] is None})  # a reading lost
        if kinds[picks[i]] in ("duplicate", "redelivered"):
            copies.append((i, kinds[picks[i]]))
    _mark_missing(rng, rows, site.format)
    return Day(rows, copies, profiles, seen)


def mess_kinds(site: SiteSpec) -> list[str]:
    """The kinds of mess a site's format can carry (Parquet's native types cannot carry bad text)."""
    return [k for k in MESS_KINDS if site.format.startswith(("csv", "jsonl")) or k not in TEXT_ONLY_MESS]


def _with_copies(params: SimulateParams, site: SiteSpec, day: int) -> list[Row]:
    """Add exact duplicates later in the batch, and yesterday's rows re-delivered at its start."""
    rows, copies, _, _ = delivered_once(params, site, day)
    rng = day_rng(params.seed, site.name, day, "copies")
    yesterday = delivered_once(params, site, day - 1).rows if day > 0 and copies else []
    head: list[Row] = []
    after: dict[int, list[Row]] = {}
    for i, kind in copies:
        if kind == "redelivered" and yesterday:
            head.append(dict(_pick(rng, yesterday)))
        else:
            after.setdefault(int(rng.integers(i, len(rows))), []).append(dict(rows[i]))
    return head + [r for i, row in enumerate(rows) for r in (row, *after.get(i, []))]


def site_columns(site: SiteSpec, day: int) -> list[tuple[str, str]]:
    """(canonical, delivered) column names of one site-day; JSON sites speak camelCase."""
    late = 0 < site.new_column_from_day and day < site.new_column_from_day
    names = {c: CAMEL.get(c, c) if site.format.startswith("jsonl") else c for c in COLUMNS}
    return [(c, out) for c, out in names.items() if not (late and c == NEW_COLUMN)]


def _token(value: Any, fmt: str) -> str | None:
    """The delivered text of one cell: CSV field text, or a JSON literal (None = absent key)."""
    if isinstance(value, datetime):
        value = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt.startswith("jsonl"):
        return json.dumps(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value if value is None or isinstance(value, str) else repr(value)


def simulate_day(params: SimulateParams, site: SiteSpec, day: int) -> pa.Table:
    """The rows one site delivers for one day, in its own column names, format conventions and mess."""
    import pyarrow as pa

    rows = _with_copies(params, site, day)
    columns = site_columns(site, day)
    if site.format == "parquet":
        types = {"ts": pa.timestamp("us", tz="UTC")} | dict.fromkeys(FLAGS, pa.bool_())
        types |= dict.fromkeys(READINGS, pa.float64())
        schema = pa.schema([(out, types.get(name, pa.string())) for name, out in columns])
        return pa.table({out: [r.get(name) for r in rows] for name, out in columns}, schema=schema)
    arrays = {out: pa.array([_token(r[name], site.format) if name in r else None for r in rows], pa.string())
              for name, out in columns}  # fmt: skip
    return pa.table(arrays)


def encode(table: pa.Table, fmt: str) -> bytes:
    """The delivered bytes of one batch; the same table always gives the same bytes."""
    base = fmt.removesuffix(".gz")
    if base == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression=PARQUET_COMPRESSION, use_dictionary=True,
                       write_statistics=True)  # fmt: skip
        return bytes(sink.getvalue().to_pybytes())
    rows = zip(*(col.to_pylist() for col in table.columns), strict=True)
    if base == "csv":
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(table.column_names)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        data = text.getvalue().encode()
    else:
        keys = [json.dumps(name) for name in table.column_names]
        pairs = ((f"{k}: {v}" for k, v in zip(keys, row, strict=True) if v is not None) for row in rows)
        data = "".join("{" + ", ".join(p) + "}\n" for p in pairs).encode()
    if not fmt.endswith(".gz"):
        return data
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:  # no name, no time, OS byte fixed
        gz.write(data)
    return buf.getvalue()


def file_name(params: SimulateParams, site: SiteSpec, day: int) -> str:
    return f"{(start_date(params) + timedelta(days=day)).isoformat()}.{site.format}"


def check(params: SimulateParams, where: str = "simulate") -> None:
    """What SimulateParams alone cannot say: sane counts, known units, distinct plain site names."""
    start_date(params)
    if params.days < 0 or params.events_per_day < 1 or not 0.0 <= params.mess_rate <= 1.0:
        raise ConfigError(f"{where}: need days >= 0, events_per_day >= 1 and mess_rate in [0, 1]")
    names = [s.name for s in params.sites]
    for i, site in enumerate(params.sites):
        plain = names.count(site.name) == 1 and re.fullmatch(r"[a-z0-9][a-z0-9_-]*", site.name)
        if not plain or site.height_unit not in HEIGHT_UNITS or site.homes < 1:
            raise ConfigError(f"{where}.sites[{i}]: need a unique plain name, height_unit cm|in, homes >= 1")

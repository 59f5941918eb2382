"""The default data feed: entry-point events (resident, intruder, animal) at customers' homes.

Each site delivers one batch per day to ``<out>/<site>/<YYYY-MM-DD>.<ext>`` in its own style (names, missing
markers, units, format) with the mess validate must catch. Every (seed, site, day, purpose) owns an RNG
seeded from a sha256, so growing ``days`` leaves earlier files byte-identical; encoding pins every byte.
Text sites' tables hold delivered tokens (CSV text, JSON literals); Parquet sites' tables native types.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import re
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, TypeVar

import typer

from stages.config import SimulateParams, SiteSpec, section
from stages.errors import ConfigError
from stages.io import PARQUET_COMPRESSION, atomic_dir, write_text

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

Row = dict[str, Any]
T = TypeVar("T")
Copies = list[tuple[int, str]]  # (row index, "duplicate" | "redelivered")

COLUMNS = ("event_id", "ts", "home_id", "entry_point", "height", "weight", "speed", "dwell", "vibration",
           "animal_score", "code_ok", "phone_nearby", "label")  # fmt: skip
ENTRY_POINTS = ("front_door", "back_door", "garage", "window", "pet_flap")
FLAGS = ("code_ok", "phone_nearby")
NEW_COLUMN = FLAGS[1]  # sent only from a site's new_column_from_day on
CAMEL = {"event_id": "eventId", "home_id": "homeId", "entry_point": "entryPoint", "height": "objectHeight",
         "dwell": "dwellSeconds", "animal_score": "animalScore", "code_ok": "codeOk",
         "phone_nearby": "phoneNearby"}  # fmt: skip  # JSON sites' keys: aliases in validate.contract
# name: (lowest, highest, decimals) of a clean reading in cm, kg, m/s, s, g, score
READINGS = {"height": (10.0, 230.0, 1), "weight": (0.5, 200.0, 1), "speed": (0.05, 12.0, 2),
            "dwell": (0.5, 3000.0, 1), "vibration": (0.01, 40.0, 2),
            "animal_score": (0.0, 1.0, 3)}  # fmt: skip
DROPOUT = {"height": 0.05, "weight": 0.1, "speed": 0.03, "dwell": 0.02, "vibration": 0.06,
           "animal_score": 0.12, "phone_nearby": 0.05}  # fmt: skip  # sensor silence per reading
NO_SCALE = {"window": 0.7, "pet_flap": 0.8}  # P(no floor scale under this kind of entry point)
MISSING_MARKERS = ("", "NA", "-")  # CSV sites; all are in validate.contract.na_values
MESS_KINDS = ("missing", "bad_number", "bad_timestamp", "out_of_range", "unknown_category", "duplicate",
              "redelivered")  # fmt: skip
TEXT_ONLY_MESS = ("bad_number", "bad_timestamp")  # Parquet's native types cannot carry these
BAD_NUMBERS = ("{comma}", "abc", "{value} units")
BAD_TIMESTAMPS = ("2026-02-30 25:61", "yesterday", "31/13/2026 10:00")
OUT_OF_RANGE = (("height", 999.0), ("weight", -3.0), ("animal_score", 1.7), ("speed", 42.0),
                ("dwell", -5.0), ("vibration", 75.0))  # fmt: skip
UNKNOWN_ENTRY = ("chimney", "skylight", "cat_door")
HEIGHT_UNITS = {"cm": 1.0, "in": 2.54}  # cm per unit


HOURS = {  # relative frequency per hour of day (UTC), 0..23
    "home": (1, .5, .3, .3, .3, 1, 4, 8, 9, 6, 4, 4, 5, 4, 4, 5, 7, 9, 9, 8, 6, 4, 3, 2),
    "night": (5, 8, 9, 8, 5, 1, *[0] * 17, 2),
    "prowl": (5, 6, 6, 5, 4, 3, 2, 2, 3, 4, 5, 5, 5, 5, 4, 3, 3, 2, 2, 2, 3, 3, 4, 4),
    "animal": (3, 3, 3, 3, 4, 6, 7, 6, 4, 3, 3, 3, 3, 3, 3, 3, 4, 5, 7, 7, 6, 5, 4, 3),
}  # fmt: skip


class Profile(NamedTuple):
    """One kind of event; overlapping profiles make the classes learnable but not trivially."""

    label: str
    share: float
    hours: str
    entry: tuple[float, float, float, float, float]  # in ENTRY_POINTS order
    height: tuple[float, float]  # cm: mean, sd
    weight: tuple[float, float]  # kg: mean, sd
    speed: tuple[float, float]  # m/s: mean, sd
    dwell: tuple[float, float]  # s: median, log-sd
    vibration: tuple[float, float]  # g: median, log-sd
    animal_score: tuple[float, float]  # beta a, b
    code: tuple[float, float]  # P(code tried), P(correct | tried)
    phone: float  # P(resident's phone seen)
    weight_lost: float = 0.0  # P(scale misses the body)


PROFILES = (
    Profile("resident", .46, "home", (.45, .15, .32, .04, .04), (170, 14), (75, 18), (1.2, .45), (10, .8),
            (.45, .9), (1.5, 6), (.65, .92), .8),
    Profile("resident", .07, "home", (.55, .25, .12, .04, .04), (125, 22), (33, 13), (1.5, .6), (7, .8),
            (.5, .9), (2, 3.5), (.5, .75), .5),
    Profile("resident", .07, "night", (.5, .22, .2, .05, .03), (170, 15), (77, 18), (1.0, .45), (25, .8),
            (.8, .9), (1.8, 5), (.8, .45), .45),  # 3 a.m.: fumbled code, phone flat
    Profile("intruder", .11, "prowl", (.15, .35, .1, .33, .07), (172, 14), (80, 18), (1.3, .6), (16, .9),
            (1.0, .9), (1.8, 5.5), (.35, .2), .2),
    Profile("intruder", .04, "prowl", (.05, .3, .05, .25, .35), (70, 20), (78, 18), (.8, .35), (25, .8),
            (1.2, .9), (5, 2.5), (.05, .05), .12, .6),  # animal costume: crawls, fools the camera
    Profile("animal", .17, "animal", (.05, .15, .05, .15, .6), (35, 18), (6, 4), (1.5, .8), (4, .9),
            (.3, .9), (3, 2.2), (.01, .2), .35, .3),
    Profile("animal", .08, "animal", (.1, .3, .15, .1, .35), (80, 22), (32, 14), (1.8, 1.0), (7, .9),
            (.6, .9), (2.2, 2.2), (0, 0), .35),
)  # fmt: skip


def day_rng(seed: int, site: str, day: int, purpose: str) -> np.random.Generator:
    """An RNG owned by one (seed, site, day, purpose): a stable sha256, never Python's salted hash()."""
    import numpy as np

    digest = hashlib.sha256(f"{seed}/{site}/{day}/{purpose}".encode()).digest()
    return np.random.default_rng(np.random.SeedSequence(int.from_bytes(digest[:16], "big")))


def _sample(rng: np.random.Generator, p: Profile, k: int) -> dict[str, np.ndarray]:
    import numpy as np

    tried, correct = rng.random(k) < p.code[0], rng.random(k) < p.code[1]
    hours = np.array(HOURS[p.hours], dtype=float)
    return {
        "hour": rng.choice(24, size=k, p=hours / hours.sum()),
        "second": rng.integers(0, 3600, size=k),
        "entry": rng.choice(len(ENTRY_POINTS), size=k, p=p.entry),
        "height": rng.normal(*p.height, size=k),
        "weight": np.where(rng.random(k) < p.weight_lost, np.nan, rng.normal(*p.weight, size=k)),
        "speed": rng.normal(*p.speed, size=k),
        "dwell": p.dwell[0] * np.exp(rng.normal(0, p.dwell[1], size=k)),
        "vibration": p.vibration[0] * np.exp(rng.normal(0, p.vibration[1], size=k)),
        "animal_score": rng.beta(*p.animal_score, size=k),
        "code_ok": np.where(tried, correct, np.nan),
        "phone_nearby": (rng.random(k) < p.phone).astype(float),
    }


def _draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Profiles and raw readings of n events; NaN is a reading the sensors did not deliver."""
    import numpy as np

    shares = np.array([p.share for p in PROFILES])
    prof = rng.choice(len(PROFILES), size=n, p=shares / shares.sum())
    cols: dict[str, np.ndarray] = {}
    for j, p in enumerate(PROFILES):
        idx = np.flatnonzero(prof == j)
        for name, values in _sample(rng, p, idx.size).items():
            cols.setdefault(name, np.full(n, np.nan))[idx] = values
    dark = (cols["hour"] < 6) | (cols["hour"] >= 21)  # the night camera is half guessing
    cols["animal_score"] = np.where(dark, (cols["animal_score"] + rng.random(n)) / 2, cols["animal_score"])
    for name, (low, high, decimals) in READINGS.items():
        cols[name] = np.round(np.clip(cols[name], low, high), decimals)
    for entry, rate in NO_SCALE.items():
        cols["weight"][(cols["entry"] == ENTRY_POINTS.index(entry)) & (rng.random(n) < rate)] = np.nan
    for name, rate in DROPOUT.items():
        cols[name][rng.random(n) < rate] = np.nan
    return prof, cols


def _events(params: SimulateParams, site: SiteSpec, day: int, rng: np.random.Generator) -> list[Row]:
    """The clean events of one site-day in canonical names, time order, heights in the site's unit."""
    import numpy as np

    n = max(1, int(rng.poisson(params.events_per_day)))
    prof, cols = _draw(rng, n)
    homes = rng.integers(0, site.homes, size=n)
    midnight = datetime.combine(_start(params) + timedelta(days=day), datetime.min.time(), UTC)
    seconds = cols["hour"].astype(int) * 3600 + cols["second"].astype(int)
    stamp = midnight.strftime("%Y%m%d")
    cols["height"] = np.round(cols["height"] / HEIGHT_UNITS[site.height_unit], 1)
    values = {c: [None if math.isnan(x) else bool(x) if c in FLAGS else x for x in cols[c].tolist()]
              for c in (*READINGS, *FLAGS)}  # fmt: skip  # NaN: nothing delivered
    rows = []
    for rank, i in enumerate(np.argsort(seconds, kind="stable")):
        row: Row = {"event_id": f"{site.name}-{stamp}-{rank:05d}",
                    "ts": midnight + timedelta(seconds=int(seconds[i])),
                    "home_id": f"{site.name}-h{int(homes[i]):03d}",
                    "entry_point": ENTRY_POINTS[int(cols["entry"][i])]}  # fmt: skip
        row.update({c: v[i] for c, v in values.items()}, label=PROFILES[int(prof[i])].label)
        rows.append(row)
    return rows


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


def _delivered_once(params: SimulateParams, site: SiteSpec, day: int) -> tuple[list[Row], Copies]:
    """One site-day's rows as delivered (before copies), and which rows are duplicated or re-delivered."""
    rng = day_rng(params.seed, site.name, day, "rows")
    rows = _events(params, site, day, rng)
    kinds = [k for k in MESS_KINDS if site.format.startswith(("csv", "jsonl")) or k not in TEXT_ONLY_MESS]
    hit = rng.random(len(rows)) < params.mess_rate
    picks = rng.integers(len(kinds), size=len(rows))
    copies: Copies = []
    for i in map(int, hit.nonzero()[0]):
        _spoil(rng, rows[i], kinds[picks[i]])
        if kinds[picks[i]] in ("duplicate", "redelivered"):
            copies.append((i, kinds[picks[i]]))
    _mark_missing(rng, rows, site.format)
    return rows, copies


def _with_copies(params: SimulateParams, site: SiteSpec, day: int) -> list[Row]:
    """Add exact duplicates later in the batch, and yesterday's rows re-delivered at its start."""
    rows, copies = _delivered_once(params, site, day)
    rng = day_rng(params.seed, site.name, day, "copies")
    yesterday = _delivered_once(params, site, day - 1)[0] if day > 0 and copies else []
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
    return f"{(_start(params) + timedelta(days=day)).isoformat()}.{site.format}"


def _start(params: SimulateParams) -> date:
    try:
        return date.fromisoformat(params.start_date)
    except ValueError as exc:
        raise ConfigError(f"simulate.start_date: '{params.start_date}' is not a YYYY-MM-DD date") from exc


def check(params: SimulateParams, where: str = "simulate") -> None:
    """What SimulateParams alone cannot say: sane counts, known units, distinct plain site names."""
    _start(params)
    if params.days < 0 or params.events_per_day < 1 or not 0.0 <= params.mess_rate <= 1.0:
        raise ConfigError(f"{where}: need days >= 0, events_per_day >= 1 and mess_rate in [0, 1]")
    names = [s.name for s in params.sites]
    for i, site in enumerate(params.sites):
        plain = names.count(site.name) == 1 and re.fullmatch(r"[a-z0-9][a-z0-9_-]*", site.name)
        if not plain or site.height_unit not in HEIGHT_UNITS or site.homes < 1:
            raise ConfigError(f"{where}.sites[{i}]: need a unique plain name, height_unit cm|in, homes >= 1")


_SECTION = re.compile(r"simulate:[ \t]*(#.*)?")
_DAYS = re.compile(r"(?P<lead>[ \t]+days:[ \t]*)(?P<num>\d+)(?P<gap>[ \t]*)(?P<rest>(#.*)?)")


def bump_days(text: str, add: int, where: str = "params.yaml") -> tuple[str, int]:
    """params.yaml text with ``simulate.days`` raised by ``add``; every other byte is kept."""
    lines = text.splitlines(keepends=True)
    bodies = [line.rstrip("\r\n") for line in lines]
    start = next((i for i, body in enumerate(bodies) if _SECTION.fullmatch(body)), None)
    indent = None
    for i in range(len(lines) if start is None else start + 1, len(lines)):
        body = bodies[i]
        if not body.strip() or body.lstrip().startswith("#"):
            continue
        if not body[0].isspace():
            break  # the next top-level section
        indent = len(body) - len(body.lstrip()) if indent is None else indent
        found = _DAYS.fullmatch(body)
        if found and len(found["lead"]) - len(found["lead"].lstrip()) == indent:
            new = int(found["num"]) + add
            gap = found["gap"]
            if found["rest"] and gap:  # keep the comment in its column
                gap = " " * max(1, len(gap) - len(str(new)) + len(found["num"]))
            lines[i] = f"{found['lead']}{new}{gap}{found['rest']}{lines[i][len(body) :]}"
            return "".join(lines), new
    raise ConfigError(f"{where}: no 'days: <int>' line directly under a block 'simulate:' section")


def write_landing(params: SimulateParams, out: Path) -> tuple[int, int]:
    """Build the whole landing folder atomically; returns (files, rows)."""
    files = rows = 0
    with atomic_dir(out) as tmp:
        for site in sorted(params.sites, key=lambda s: s.name):
            folder = tmp / site.name
            folder.mkdir()
            for day in range(params.days):
                table = simulate_day(params, site, day)
                (folder / file_name(params, site, day)).write_bytes(encode(table, site.format))
                files, rows = files + 1, rows + table.num_rows
    return files, rows


ParamsOption = Annotated[Path, typer.Option(help="params.yaml to read the `simulate` section from.")]
OutOption = Annotated[Path, typer.Option(help="Landing folder to (re)build: <out>/<site>/<date>.<ext>.")]
AddDaysOption = Annotated[int, typer.Option(min=0, help="Raise simulate.days in params.yaml by N first.")]


def command(
    params: ParamsOption = Path("params.yaml"),
    out: OutOption = Path("data/landing/sim"),
    add_days: AddDaysOption = 0,
) -> None:
    """Land the simulated default feed: one file per site and day, each in its site's own delivery style.

    Deterministic: the same params give the same bytes, and adding days only adds files.
    """
    started = time.perf_counter()
    if add_days:
        if not params.is_file():
            raise ConfigError(f"{params}: params file not found")
        text, days = bump_days(params.read_bytes().decode(), add_days, str(params))
        write_text(params, text)
        typer.echo(f"simulate: {params}: simulate.days is now {days}")
    cfg = section(params, "simulate", SimulateParams)
    check(cfg, f"{params}:simulate")
    files, rows = write_landing(cfg, out)
    took = f"{time.perf_counter() - started:.1f}s"
    typer.echo(f"simulate: {len(cfg.sites)} sites x {cfg.days} days -> {files} files, {rows} rows ({took})")

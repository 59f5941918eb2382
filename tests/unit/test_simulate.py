"""The simulated feed: deterministic bytes, each site's style, every kind of mess, a learnable signal."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stages import simulate
from strata.cli import app
from strata.config import SimulateParams, SiteSpec, ValidateParams, section
from strata.contract.spec import Contract
from strata.errors import ConfigError
from strata.simulator import delivery, generate

MISSING = ("", "NA", "-", None)
KINDS = {"missing", "missing_label", "bad_number", "bad_timestamp", "out_of_range", "unknown_category"}
KINDS |= {"duplicate", "redelivered"}

SITES = (
    SiteSpec("acme", "csv", homes=5),
    SiteSpec("birch", "jsonl.gz", homes=4, new_column_from_day=2),
    SiteSpec("cedar", "parquet", homes=3, height_unit="in"),
)


def tiny(
    days: int = 3, events: int = 40, mess_rate: float = 0.05, sites: tuple[SiteSpec, ...] = SITES
) -> SimulateParams:
    return SimulateParams(
        seed=11, start_date="2026-01-01", days=days, events_per_day=events, sites=sites, mess_rate=mess_rate
    )


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def decode(data: bytes, fmt: str) -> list[dict[str, Any]]:
    """Rows as delivered, keys as delivered (an absent JSON key stays absent)."""
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(data)).to_pylist()
    if fmt.endswith(".gz"):
        assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0"  # gzip, mtime 0
        data = gzip.decompress(data)
    text = data.decode()
    if fmt.startswith("csv"):
        return list(csv.DictReader(io.StringIO(text)))
    return [json.loads(line) for line in text.splitlines()]


def canonical(row: dict[str, Any], contract: Contract) -> dict[str, Any]:
    names = {alias: name for name, spec in contract.columns.items() for alias in (name, *spec.aliases)}
    unknown = set(row) - set(names)
    assert not unknown, f"delivered columns not in the contract: {unknown}"
    return {names[key]: value for key, value in row.items()}


def mess_in(row: dict[str, Any], contract: Contract, height_scale: float) -> set[str]:
    """The kinds of mess one delivered row shows, judged like validate would (the tests' own contract)."""
    kinds = set()
    for name, spec in contract.columns.items():
        value = row.get(name)
        if value in MISSING:
            if name in row or name != "phone_nearby":
                kinds.add("missing_label" if name == "label" else "missing")
        elif spec.type == "float":
            try:
                number = float(value) * (height_scale if name == "height" else 1.0)
            except ValueError:
                kinds.add("bad_number")
                continue
            if not spec.min <= number <= spec.max:
                kinds.add("out_of_range")
        elif spec.type == "timestamp" and isinstance(value, str):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                kinds.add("bad_timestamp")
        elif spec.type == "category" and value not in spec.values:
            kinds.add("unknown_category")
    return kinds


# The tests' own params (never the project's params.yaml, which a user edits to bring their own data): a
# default-like feed, and the contract validate would judge it by.
FEED_TEXT = """simulate:
  seed: 20260101
  start_date: "2026-01-01"
  days: 20                    # `strata simulate --add-days 1` lands one more day
  events_per_day: 200
  mess_rate: 0.03
  sites:
    - {name: acme, format: csv, homes: 40}
    - {name: birch, format: jsonl.gz, homes: 30, new_column_from_day: 10}
    - {name: cedar, format: parquet, homes: 25, height_unit: in}

validate:
  contract:
    key: [event_id]
    target: label
    na_values: ["", "NA", "N/A", "NaN", "null", "-", "?"]
    source_units:
      cedar: {height: in}
    columns:
      event_id: {type: string, required: true, aliases: [eventId, "Event ID"], feature: false}
      ts: {type: timestamp, required: true, aliases: [timestamp, eventTime]}
      home_id: {type: string, required: true, aliases: [homeId], feature: false}
      entry_point:
        type: category
        required: true
        aliases: [entryPoint]
        values: [front_door, back_door, garage, window, pet_flap]
      height: {type: float, unit: cm, min: 5, max: 260, aliases: [height_cm, objectHeight]}
      weight: {type: float, unit: kg, min: 0.1, max: 250, aliases: [weight_kg, objectWeight]}
      speed: {type: float, unit: m/s, min: 0, max: 15, aliases: [speed_mps]}
      dwell: {type: float, unit: s, min: 0, max: 3600, aliases: [dwell_s, dwellSeconds]}
      vibration: {type: float, min: 0, max: 50, aliases: [vibration_g]}
      animal_score: {type: float, min: 0, max: 1, aliases: [animalScore, cam_animal_score]}
      code_ok: {type: bool, aliases: [codeOk, keypad_ok]}
      phone_nearby: {type: bool, aliases: [phoneNearby]}
      label: {type: category, required: true, values: [resident, intruder, animal], feature: false}
"""


@pytest.fixture(scope="module")
def feed_params(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("feed") / "params.yaml"
    path.write_text(FEED_TEXT)
    return path


@pytest.fixture(scope="module")
def contract(feed_params: Path) -> Contract:
    return section(feed_params, "validate", ValidateParams).contract


def delivered(params: SimulateParams, site: SiteSpec, day: int) -> list[dict[str, Any]]:
    return decode(delivery.encode(delivery.simulate_day(params, site, day), site.format), site.format)


@pytest.fixture(scope="module")
def default_run(contract: Contract, feed_params: Path) -> dict[str, list[list[dict[str, Any]]]]:
    """A default-like feed, decoded: site -> day -> canonical rows."""
    params = section(feed_params, "simulate", SimulateParams)
    return {
        site.name: [[canonical(r, contract) for r in delivered(params, site, d)] for d in range(params.days)]
        for site in params.sites
    }


def test_same_params_give_the_same_bytes(tmp_path: Path) -> None:
    assert simulate.write_landing(tiny(), tmp_path / "a") == simulate.write_landing(tiny(), tmp_path / "b")
    first, second = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert first == second
    assert list(first) == [f"{s.name}/2026-01-0{d}.{s.format}" for s in SITES for d in (1, 2, 3)]


def test_bytes_do_not_depend_on_the_python_process() -> None:
    """A fresh interpreter with another hash seed renders the same bytes (no hash(), no set order)."""
    code = (
        "import hashlib; from strata.simulator import delivery\n"
        "from strata.config import SimulateParams, SiteSpec\n"
        "p = SimulateParams(seed=11, start_date='2026-01-01', days=2, events_per_day=40, mess_rate=0.05,"
        " sites=(SiteSpec('acme', 'csv'), SiteSpec('birch', 'jsonl.gz'), SiteSpec('cedar', 'parquet')))\n"
        "for s in p.sites: print(hashlib.sha256(delivery.encode(delivery.simulate_day(p, s, 1), s.format))"
        ".hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    sites = (SiteSpec("acme", "csv"), SiteSpec("birch", "jsonl.gz"), SiteSpec("cedar", "parquet"))
    params = tiny(days=2, sites=sites)
    here = [
        hashlib.sha256(delivery.encode(delivery.simulate_day(params, s, 1), s.format)).hexdigest()
        for s in sites
    ]
    assert out.stdout.split() == here


def test_adding_a_day_keeps_earlier_files_byte_identical(tmp_path: Path) -> None:
    simulate.write_landing(tiny(days=3), tmp_path / "short")
    simulate.write_landing(tiny(days=4), tmp_path / "long")
    short, long = tree(tmp_path / "short"), tree(tmp_path / "long")
    assert {k: long[k] for k in short} == short
    assert sorted(set(long) - set(short)) == [f"{s.name}/2026-01-04.{s.format}" for s in SITES]


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet"])
def test_every_format_decodes_to_the_rows_of_the_table(fmt: str, contract: Contract) -> None:
    site = SiteSpec("site", fmt)
    table = delivery.simulate_day(tiny(), site, 1)
    rows = decode(delivery.encode(table, fmt), fmt)
    assert len(rows) == table.num_rows > 20
    assert {k for r in rows for k in r} == set(table.column_names)
    ids = table.column(table.column_names[0]).to_pylist()
    if fmt.startswith("jsonl"):
        ids = [json.loads(i) for i in ids]  # JSON sites' cells hold JSON literals
    assert [canonical(r, contract)["event_id"] for r in rows] == ids


def test_event_ids_are_per_site_and_day_and_count_is_near_events_per_day() -> None:
    params = tiny(days=1, events=300, mess_rate=0.0)
    rows = delivery.simulate_day(params, SiteSpec("acme", "csv"), 0).to_pylist()
    ids = [r["event_id"] for r in rows]
    assert len(set(ids)) == len(ids) and all(i.startswith("acme-20260101-") for i in ids)
    assert 250 < len(rows) < 350
    assert [r["ts"] for r in rows] == sorted(r["ts"] for r in rows)  # a day's file is in time order


def test_birch_sends_phone_nearby_only_from_its_new_column_day() -> None:
    params = tiny(days=4, mess_rate=0.0)
    site = SITES[1]
    days = [delivered(params, site, d) for d in range(4)]
    assert all("phoneNearby" not in row for day in days[:2] for row in day)
    for day in days[2:]:
        assert sum("phoneNearby" in row for row in day) > 0.8 * len(day)
    assert {
        "eventId",
        "homeId",
        "entryPoint",
        "objectHeight",
        "dwellSeconds",
        "animalScore",
        "codeOk",
    } <= set(days[0][0])


def test_cedar_reports_native_types_and_heights_in_inches() -> None:
    sites = (SiteSpec("cm", "parquet"), SiteSpec("inch", "parquet", height_unit="in"))
    params = tiny(days=2, events=400, mess_rate=0.0, sites=sites)
    tables = {s.name: delivery.simulate_day(params, s, 0) for s in sites}
    assert str(tables["inch"].schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert str(tables["inch"].schema.field("code_ok").type) == "bool"

    def median_resident_height(name: str) -> float:
        heights = sorted(
            r["height"] for r in tables[name].to_pylist() if r["label"] == "resident" and r["height"]
        )
        return heights[len(heights) // 2]

    assert 155 < median_resident_height("cm") < 180
    assert 155 / 2.54 < median_resident_height("inch") < 180 / 2.54


def test_every_kind_of_mess_appears_in_a_default_run(
    default_run: dict, contract: Contract, feed_params: Path
) -> None:
    params = section(feed_params, "simulate", SimulateParams)
    seen: Counter[str] = Counter()
    for site in params.sites:
        scale = 2.54 if site.height_unit == "in" else 1.0
        site_seen: Counter[str] = Counter()
        for day, rows in enumerate(default_run[site.name]):
            for row in rows:
                site_seen.update(mess_in(row, contract, scale))
            keys = [json.dumps(r, sort_keys=True, default=str) for r in rows]
            site_seen["duplicate"] += len(keys) - len(set(keys))
            if day:
                before = {json.dumps(r, sort_keys=True, default=str) for r in default_run[site.name][day - 1]}
                site_seen["redelivered"] += len(before & set(keys))
        expected = (
            KINDS
            - {"missing_label"}
            - ({"bad_number", "bad_timestamp"} if site.format == "parquet" else set())
        )
        assert {k for k in expected if site_seen[k] == 0} == set(), site.name
        seen += site_seen
    assert seen["missing_label"] > 0


def test_each_site_marks_missing_values_its_own_way(default_run: dict, feed_params: Path) -> None:
    acme = Counter(v for day in default_run["acme"] for row in day for v in row.values() if v in MISSING)
    assert set(acme) == {"", "NA", "-"}
    birch = [row for day in default_run["birch"][12:] for row in day]
    assert any(None in row.values() for row in birch)
    assert any(len(row) < 13 for row in birch)  # an absent key
    first = next(s for s in section(feed_params, "simulate", SimulateParams).sites if s.name == "birch")
    assert first.new_column_from_day > 0
    early = [row for day in default_run["birch"][: first.new_column_from_day] for row in day]
    assert not any("phone_nearby" in row for row in early)
    late = default_run["birch"][first.new_column_from_day]
    assert sum("phone_nearby" in row for row in late) > 0.8 * len(late)


def test_label_priors_are_roughly_resident_animal_intruder(default_run: dict) -> None:
    labels = Counter(row.get("label") for site in default_run.values() for day in site for row in day)
    total = sum(labels[k] for k in ("resident", "animal", "intruder"))
    assert abs(labels["resident"] / total - 0.6) < 0.03
    assert abs(labels["animal"] / total - 0.25) < 0.03
    assert abs(labels["intruder"] / total - 0.15) < 0.03


def test_a_model_learns_the_signal_but_not_perfectly() -> None:
    """Learnable, not trivial: night residents and costumed intruders keep accuracy well below 1."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    site = SiteSpec("lab", "parquet")
    params = tiny(days=8, events=400, mess_rate=0.0, sites=(site,))
    rows = [r for d in range(8) for r in delivery.simulate_day(params, site, d).to_pylist()]
    points = generate.ENTRY_POINTS

    def features(r: dict[str, Any]) -> list[float]:
        readings = [np.nan if r[c] is None else float(r[c]) for c in (*generate.READINGS, *generate.FLAGS)]
        return [r["ts"].hour, points.index(r["entry_point"]), *readings]

    x, y = np.array([features(r) for r in rows]), np.array([r["label"] for r in rows])
    cut = len(rows) * 3 // 4
    model = HistGradientBoostingClassifier(max_iter=60, categorical_features=[1], random_state=0)
    with threadpool_limits(1):  # tiny data: threads only add overhead on a busy machine
        accuracy = model.fit(x[:cut], y[:cut]).score(x[cut:], y[cut:])
    assert 0.7 < accuracy < 0.97


PARAMS_TEXT = """# top comment
simulate:                     # the feed
  seed: 1
  start_date: "2026-01-01"
  days: 9                     # `strata simulate --add-days 1` lands one more day
  events_per_day: 20
  sites:
    - {name: acme, format: csv, homes: 3}
    - {name: birch, format: jsonl, homes: 2, new_column_from_day: 1}   # a comment
  nested:
    days: 4

other:
  days: 2   # must stay
"""


def test_bump_days_edits_only_the_days_line_and_keeps_its_comment_column() -> None:
    text, days = simulate.bump_days(PARAMS_TEXT, 1)
    old, new = PARAMS_TEXT.splitlines(), text.splitlines()
    assert days == 10
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert changed == [
        (old[4], "  days: 10                    # `strata simulate --add-days 1` lands one more day")
    ]
    assert new[4].index("#") == old[4].index("#")


def test_bump_days_on_a_whole_params_file_keeps_other_sections_byte_identical(feed_params: Path) -> None:
    original = feed_params.read_text()
    text, days = simulate.bump_days(original, 2)
    assert days == section(feed_params, "simulate", SimulateParams).days + 2
    changed = [b for a, b in zip(original.splitlines(), text.splitlines(), strict=True) if a != b]
    assert changed == [
        f"  days: {days}                    # `strata simulate --add-days 1` lands one more day"
    ]


def test_bump_days_keeps_crlf_line_endings() -> None:
    text, _ = simulate.bump_days(PARAMS_TEXT.replace("\n", "\r\n"), 5)
    assert "  days: 14                    # `strata" in text and text.count("\r\n") == PARAMS_TEXT.count("\n")


@pytest.mark.parametrize(
    "text",
    ["other:\n  days: 3\n", "simulate: {days: 3}\n", "simulate:\n  seed: 1\n  nested:\n    days: 3\n"],
)
def test_bump_days_refuses_params_without_a_simulate_days_line(text: str) -> None:
    with pytest.raises(
        ConfigError, match=r"params.yaml: no 'days: <int>' line directly under a block 'simulate:'"
    ):
        simulate.bump_days(text, 1)


def test_cli_add_days_edits_params_and_lands_the_files(tmp_path: Path) -> None:
    params, out = tmp_path / "params.yaml", tmp_path / "landing"
    params.write_text(PARAMS_TEXT.replace("  nested:\n    days: 4\n", ""))
    result = CliRunner().invoke(
        app, ["simulate", "--params", str(params), "--out", str(out), "--add-days", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "simulate.days is now 10" in result.output
    assert "2 sites x 10 days -> 20 files" in result.output
    assert len(list((out / "acme").iterdir())) == 10 and len(list((out / "birch").iterdir())) == 10
    assert params.read_text().split("other:")[1] == PARAMS_TEXT.split("other:")[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landing", "params.yaml"]  # no temp leftovers


def test_cli_reports_bad_params_in_one_line(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        PARAMS_TEXT.replace('"2026-01-01"', '"2026-13-01"').replace("  nested:\n    days: 4\n", "")
    )
    result = CliRunner().invoke(app, ["simulate", "--params", str(params), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert (
        "strata simulate: error: simulate.start_date: '2026-13-01' is not a YYYY-MM-DD date" in result.output
    )


def test_help_is_the_docstring() -> None:
    result = CliRunner().invoke(app, ["simulate", "--help"])
    assert result.exit_code == 0
    assert "Land the simulated default feed" in result.output and "--add-days" in result.output


def test_file_names_follow_the_calendar() -> None:
    params = tiny(days=40)
    assert simulate.file_name(params, SITES[1], 31) == f"{date(2026, 1, 1) + timedelta(days=31)}.jsonl.gz"

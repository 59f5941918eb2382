"""Stage `simulate`: land the default feed, one file per site and day, each in its site's delivery style,
and beside it (never inside the landing folder) the oracle: each event's exact class posterior.

The generating process is strata.simulator.generate, the delivery styles strata.simulator.delivery, the
oracle strata.simulator.oracle (docs/oracle.md).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated

import typer

from strata.atomic import atomic_dir, write_table, write_text
from strata.config import SimulateParams, section
from strata.errors import ConfigError
from strata.simulator.delivery import check, encode, file_name, simulate_day
from strata.simulator.oracle import oracle_day

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


def write_oracle(params: SimulateParams, out: Path) -> int:
    """Build the oracle folder atomically, <out>/<site>/<date>.parquet beside the landing files; returns
    the number of events. Kept out of the landing folder: ingest must never read it."""
    events = 0
    with atomic_dir(out) as tmp:
        for site in sorted(params.sites, key=lambda s: s.name):
            folder = tmp / site.name
            folder.mkdir()
            for day in range(params.days):
                table = oracle_day(params, site, day)
                write_table(folder / f"{file_name(params, site, day).split('.')[0]}.parquet", table)
                events += table.num_rows
    return events


ParamsOption = Annotated[Path, typer.Option(help="params.yaml to read the `simulate` section from.")]
OutOption = Annotated[Path, typer.Option(help="Landing folder to (re)build: <out>/<site>/<date>.<ext>.")]
OracleOption = Annotated[
    Path | None, typer.Option(help="Oracle folder to (re)build: <oracle>/<site>/<date>.parquet (optional).")
]
AddDaysOption = Annotated[int, typer.Option(min=0, help="Raise simulate.days in params.yaml by N first.")]


def command(
    params: ParamsOption = Path("params.yaml"),
    out: OutOption = Path("data/landing/sim"),
    add_days: AddDaysOption = 0,
    oracle: OracleOption = None,
) -> None:
    """Land the simulated default feed: one file per site and day, each in its site's own delivery style.

    Deterministic: the same params give the same bytes, and adding days only adds files. With --oracle,
    also each event's exact class posterior and generating profile, for evaluate's Bayes rate only.
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
    known = f", oracle for {write_oracle(cfg, oracle)} events" if oracle is not None else ""
    took = f"{time.perf_counter() - started:.1f}s"
    summary = f"{len(cfg.sites)} sites x {cfg.days} days -> {files} files, {rows} rows{known}"
    typer.echo(f"simulate: {summary} ({took})")

"""`strata refresh`: listings of the remote sources (s3, http) inside the landing folder ingest depends on.

DVC cannot look into a bucket or a web server, so it would never rerun ingest when objects land there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from strata.atomic import write_json
from strata.config import IngestParams, section
from strata.sources import REMOTE_KINDS, open_source

LISTINGS = ".listings"  # <landing>/.listings/<source>.json: what each remote source delivers


def refresh(params: IngestParams, landing: Path) -> dict[str, int]:
    """Write what every remote source (s3, http) delivers now to ``<landing>/.listings/<source>.json``.

    DVC cannot look into a bucket or a web server, so it would never rerun ingest when objects land
    there. These small sorted listings (name, size, ETag) sit in the landing folder that ingest depends
    on: when a remote source changes, its listing changes and `dvc repro` reruns ingest. Committed to
    git, they also record what each source held at that revision. Returns batches per source.
    """
    folder = landing / LISTINGS
    counts: dict[str, int] = {}
    for spec in params.sources:
        if spec.kind not in REMOTE_KINDS:
            continue
        batches = open_source(spec, landing).list_batches()
        listing = [{"name": b.name, "size": b.size, "version": b.version} for b in batches]
        write_json(folder / f"{spec.name}.json", {"source": spec.name, "url": spec.url, "batches": listing})
        counts[spec.name] = len(listing)
    for stale in sorted(folder.glob("*.json")) if folder.exists() else []:
        if stale.stem not in counts:
            stale.unlink()
    return counts


def command(
    landing: Annotated[Path, typer.Option(help="The landing folder ingest depends on (ingest.landing).")],
    params: Annotated[Path, typer.Option(help="params.yaml to read the `ingest` section from.")] = Path(
        "params.yaml"
    ),
) -> None:
    """List the remote sources (s3, http) into the landing folder so that `dvc repro` sees them change.

    Run it before `dvc repro` (by hand, from cron or in CI); local folders need no refresh.
    """
    counts = refresh(section(params, "ingest", IngestParams), landing)
    listed = ", ".join(f"{name} {n} batches" for name, n in counts.items()) or "no remote sources"
    typer.echo(f"refresh: {listed} -> {landing / LISTINGS}")

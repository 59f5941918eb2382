"""Stage `ingest`: snapshot every delivered batch as an immutable, content-addressed Parquet partition.

Each batch a source delivers (a file, an object, a URL) is hashed (sha256 of the delivered bytes) and
written once to `<out>/<source>/<id>.parquet`, id = the first 16 hex digits of that hash, with every
column kept as delivered text (see stages.readers). The partition manifest records source, batch names,
hash, size, rows and columns. Incremental (stages.datums): batches whose bytes were seen before are
skipped; batches gone from the source are removed; identical to a rebuild from scratch.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from stages import datums, io, readers
from stages.config import IngestParams, SourceSpec, section
from stages.io import (
    atomic_path,
    code_fingerprint,
    fingerprint,
    parquet_writer,
    progress,
    read_json,
    sha256_file,
    write_json,
)
from stages.sources import REMOTE_KINDS, Batch, Source, open_source

ID_HEX = 16
LISTINGS = ".listings"  # <landing>/.listings/<source>.json: what each remote source delivers (refresh)


@dataclasses.dataclass(frozen=True)
class Delivered:
    """One datum to be: the batches (usually one) of a source that share the same bytes."""

    spec: SourceSpec
    batches: tuple[Batch, ...]
    sha256: str

    @property
    def datum(self) -> str:
        return f"{self.spec.name}/{self.sha256[:ID_HEX]}"

    @property
    def token(self) -> str:
        return fingerprint(self.sha256, [b.name for b in self.batches])


def source_fingerprint(spec: SourceSpec, chunk_rows: int) -> str:
    """What shapes a partition besides its bytes: the reader code and the parsing options."""
    code = code_fingerprint(sys.modules[__name__], readers, datums, io)
    return fingerprint(code, chunk_rows, spec.format, spec.delimiter, spec.encoding)


class HashCache:
    """sha256 of delivered batches keyed by (source, name, version token): a local-only shortcut so an
    unchanged file or object is not re-read just to learn that it is unchanged. Never part of an output."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = read_json(path, default={}) or {}
        self.used: dict[str, list[Any]] = {}

    def sha256(self, source: Source, batch: Batch) -> str:
        key = f"{batch.source}\t{batch.name}"
        hit = self.entries.get(key)
        if batch.version and hit and hit[0] == batch.version:
            sha = str(hit[1])
        else:
            with source.materialize(batch) as local:
                sha = sha256_file(local)
        self.used[key] = [batch.version, sha]
        return sha

    def save(self) -> None:
        write_json(self.path, self.used)


def discover(params: IngestParams, landing: Path, cache: HashCache) -> dict[str, tuple[Source, Delivered]]:
    """Every datum currently delivered by every source, keyed by datum id."""
    found: dict[str, tuple[Source, Delivered]] = {}
    for spec in params.sources:
        source = open_source(spec, landing)
        by_hash: dict[str, list[Batch]] = {}
        for batch in source.list_batches():
            by_hash.setdefault(cache.sha256(source, batch), []).append(batch)
        for sha, batches in by_hash.items():
            item = Delivered(spec, tuple(batches), sha)
            found[item.datum] = (source, item)
    return found


def write_partition(source: Source, item: Delivered, dest: Path, chunk_rows: int) -> dict[str, Any]:
    """Stream one delivered batch into its partition file; returns its manifest entry (without files)."""
    batch = item.batches[0]
    where = f"source '{item.spec.name}': {batch.name}"
    opts = {"encoding": item.spec.encoding}
    if batch.format == "csv":
        opts["delimiter"] = item.spec.delimiter
    rows = 0
    columns: list[str] = []
    with source.materialize(batch) as local, atomic_path(dest, ".parquet") as tmp:
        writer = None
        try:
            for chunk in readers.read_raw(local, batch.format, batch.gzip, chunk_rows, where, **opts):
                if writer is None:
                    columns = chunk.schema.names[:-2]
                    writer = parquet_writer(tmp, chunk.schema)
                writer.write_batch(chunk)
                rows += chunk.num_rows
        finally:
            if writer is not None:
                writer.close()
    return {
        "source": item.spec.name,
        "batches": [b.name for b in item.batches],
        "sha256": item.sha256,
        "bytes": batch.size,
        "format": batch.format + (".gz" if batch.gzip else ""),
        "rows": rows,
        "columns": columns,
    }


def run(
    params: IngestParams, landing: Path, out: Path, cache_path: Path
) -> tuple[datums.Plan, dict[str, Any]]:
    """Bring ``out`` up to date with what the sources deliver now; returns the plan and the entries."""
    cache = HashCache(cache_path)
    found = discover(params, landing, cache)
    fps = {spec.name: source_fingerprint(spec, params.chunk_rows) for spec in params.sources}
    wanted = {d: (item.token, fps[item.spec.name]) for d, (_, item) in found.items()}
    done = datums.load_entries(out)
    dirs = {"partition": out}
    plan = datums.plan(wanted, done, dirs)
    entries = {d: done[d] for d in plan.keep}
    for datum in progress(list(plan.todo), "ingest"):
        source, item = found[datum]
        rel = datums.datum_file(datum)
        entry = write_partition(source, item, out / rel, params.chunk_rows)
        entries[datum] = {
            **entry,
            "input": item.token,
            "fingerprint": fps[item.spec.name],
            "files": {"partition": rel},
        }
    datums.prune(dirs, entries)
    datums.save_entries(out, entries)
    cache.save()
    return plan, entries


def command(
    landing: Annotated[Path, typer.Option(help="Folder local sources live in (ingest.landing).")],
    out: Annotated[Path, typer.Option(help="Partition folder (a DVC output with persist: true).")],
    hash_cache: Annotated[Path, typer.Option(help="Local cache of batch hashes (git-ignored).")],
    params: Annotated[Path, typer.Option(help="params.yaml to read the `ingest` section from.")] = Path(
        "params.yaml"
    ),
) -> None:
    """Snapshot every delivered batch as an immutable, content-addressed Parquet partition.

    Only new or changed batches are read; removed batches are dropped from the snapshot.
    """
    started = time.perf_counter()
    cfg = section(params, "ingest", IngestParams)
    plan, entries = run(cfg, landing, out, hash_cache)
    rows = sum(e["rows"] for d, e in entries.items() if d in plan.todo)
    total = sum(e["rows"] for e in entries.values())
    typer.echo(
        f"ingest: {plan.summary()}; {rows} rows read, {len(entries)} partitions / {total} rows in snapshot "
        f"({time.perf_counter() - started:.1f}s)"
    )


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


def refresh_command(
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

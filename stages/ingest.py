"""Stage `ingest`: snapshot every delivered batch as an immutable, content-addressed Parquet partition.

Each batch a source delivers (a file, an object, a URL) is hashed (sha256 of the delivered bytes) and
written once to `<out>/<source>/<id>.parquet`, id = the first 16 hex digits of that hash, with every
column kept as delivered text (see strata.sources.readers). The partition manifest records source,
batch names, hash, size, rows and columns. Incremental (strata.datums): batches whose bytes were seen
before are skipped; batches gone from the source are removed; identical to a rebuild from scratch.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from strata import datums, deps
from strata.atomic import atomic_path, fingerprint, parquet_writer
from strata.config import IngestParams, SourceSpec, section
from strata.errors import SourceError
from strata.progress import progress
from strata.sources import Batch, Source, open_source, readers
from strata.sources.hashes import HashCache

ID_HEX = 16
REHASH_ENV = "STRATA_REHASH"  # DVC does not tell a stage it was forced: `STRATA_REHASH=1 dvc repro -f ingest`


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
    code = deps.code_fingerprint("stages.ingest")
    return fingerprint(code, chunk_rows, spec.format, spec.delimiter, spec.encoding)


def discover(params: IngestParams, landing: Path, cache: HashCache) -> dict[str, tuple[Source, Delivered]]:
    """Every datum currently delivered by every source, keyed by datum id."""
    found: dict[str, tuple[Source, Delivered]] = {}
    for spec in params.sources:
        source = open_source(spec, landing)
        listed = source.list_batches()
        if not listed and not spec.allow_empty:
            place = spec.url or (landing / spec.path).as_posix()
            raise SourceError(
                f"source '{spec.name}': no file in {place} matches glob '{spec.glob}'; set allow_empty: true "
                "if it may deliver nothing (removing a source's data takes removing the source)"
            )
        by_hash: dict[str, list[Batch]] = {}
        for batch in listed:
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
    params: IngestParams, landing: Path, out: Path, cache_path: Path, rehash: bool = False
) -> tuple[datums.Plan, dict[str, Any]]:
    """Bring ``out`` up to date with what the sources deliver now; returns the plan and the entries."""
    cache = HashCache(cache_path, rehash=rehash)
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
    rehash: Annotated[
        bool,
        typer.Option(
            "--rehash",
            envvar=REHASH_ENV,
            help=f"Re-read every delivered batch instead of trusting the hash cache ({REHASH_ENV}=1 under "
            "`dvc repro -f ingest`).",
        ),
    ] = False,
) -> None:
    """Snapshot every delivered batch as an immutable, content-addressed Parquet partition.

    Only new or changed batches are read; removed batches are dropped from the snapshot.
    """
    started = time.perf_counter()
    cfg = section(params, "ingest", IngestParams)
    plan, entries = run(cfg, landing, out, hash_cache, rehash=rehash)
    rows = sum(e["rows"] for d, e in entries.items() if d in plan.todo)
    total = sum(e["rows"] for e in entries.values())
    typer.echo(
        f"ingest: {plan.summary()}; {rows} rows read, {len(entries)} partitions / {total} rows in snapshot"
        f"{'; every batch re-hashed' if rehash else ''} ({time.perf_counter() - started:.1f}s)"
    )

"""Stage `ingest`: snapshot every delivered batch as an immutable, content-addressed Parquet partition.

Each batch a source delivers (a file, an object, a URL) is hashed (sha256 of the delivered bytes) and
written once to `<out>/<source>/<id>-<key>.parquet`, id = the first 16 hex digits of that hash, key = the
hash of everything that shapes the partition (strata.datums.output_key), with every column kept as
delivered text (see strata.sources.readers). The partition manifest records source, batch names, hash,
size, rows and columns. Incremental (strata.datums): batches whose bytes were seen before are skipped;
batches gone from the source are removed; identical to a rebuild from scratch. Reading is a pure task
(:func:`read_task`) run by strata.executor; this process writes the partitions.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from strata import datums, deps
from strata import executor as ex
from strata.atomic import ParquetBuffer, fingerprint
from strata.config import ExecutorParams, IngestParams, SourceSpec, section
from strata.errors import SourceError
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


@dataclasses.dataclass(frozen=True)
class Partition:
    """A read batch: its partition file's bytes, rows and delivered columns."""

    data: bytes
    rows: int
    columns: list[str]


@dataclasses.dataclass(frozen=True)
class HowToRead:
    """How to read one delivered batch, and how errors name it."""

    format: str
    gzip: bool
    chunk_rows: int
    where: str
    options: dict[str, str]


def read_task(blob: ex.Blob, how: HowToRead) -> Partition:
    """The datum task: delivered bytes in, partition Parquet bytes out (every column as delivered text).
    Pure: it runs in a worker process or on a cluster and writes nothing."""
    out: ParquetBuffer | None = None
    rows = 0
    with blob.local(f".{how.format}" + (".gz" if how.gzip else "")) as local:
        for chunk in readers.read_raw(local, how.format, how.gzip, how.chunk_rows, how.where, **how.options):
            if out is None:
                out = ParquetBuffer(chunk.schema)
            out.write(chunk)
            rows += chunk.num_rows
    if out is None:  # a reader that yields nothing: an empty partition with only strata's columns
        out = ParquetBuffer(readers.raw_schema([]))
    data = out.getvalue()
    assert data is not None
    return Partition(data, rows, out.schema.names[:-2])


def read_job(source: Source, item: Delivered, chunk_rows: int) -> ex.Job:
    """The task for one delivered batch. A local file goes as a path (bytes for workers elsewhere); a
    remote batch is downloaded by this process when the task is submitted."""
    batch = item.batches[0]
    opts = {"encoding": item.spec.encoding}
    if batch.format == "csv":
        opts["delimiter"] = item.spec.delimiter
    if item.spec.kind in ("files", "simulated"):
        with source.materialize(batch) as local:
            blob = ex.Blob(path=str(local), size=batch.size)
    else:
        blob = ex.Blob(size=batch.size, fetch=functools.partial(_download, source, batch))
    how = HowToRead(batch.format, batch.gzip, chunk_rows, f"source '{item.spec.name}': {batch.name}", opts)
    return ex.Job(item.datum, (blob, how), batch.size)


def _download(source: Source, batch: Batch) -> bytes:
    with source.materialize(batch) as local:
        return local.read_bytes()


def partition_key(item: Delivered, fp: str) -> str:
    """What shapes a partition's bytes: the delivered bytes, how they are read, the code and options."""
    batch = item.batches[0]
    return datums.output_key(item.sha256, batch.format, batch.gzip, fp)


def run(
    params: IngestParams,
    landing: Path,
    out: Path,
    cache_path: Path,
    executor: ExecutorParams | None = None,  # None: the defaults (local)
    *,
    rehash: bool = False,
) -> tuple[datums.Plan, dict[str, Any]]:
    """Bring ``out`` up to date with what the sources deliver now; returns the plan and the entries."""
    cache = HashCache(cache_path, rehash=rehash)
    found = discover(params, landing, cache)
    fps = {spec.name: source_fingerprint(spec, params.chunk_rows) for spec in params.sources}
    wanted = {d: (item.token, fps[item.spec.name]) for d, (_, item) in found.items()}
    dirs = {"partition": out}
    plan = datums.plan(wanted, datums.load_candidates(out), dirs)
    jobs = [read_job(*found[d], params.chunk_rows) for d in plan.todo]
    ledger = datums.Ledger("ingest", dirs, plan.kept)
    try:
        for job, part in ex.run(read_task, jobs, executor or ExecutorParams(), "ingest"):
            _, item = found[job.label]
            batch = item.batches[0]
            entry = {
                "source": item.spec.name,
                "batches": [b.name for b in item.batches],
                "sha256": item.sha256,
                "bytes": batch.size,
                "format": batch.format + (".gz" if batch.gzip else ""),
                "rows": part.rows,
                "columns": part.columns,
                "input": item.token,
                "fingerprint": fps[item.spec.name],
            }
            ledger.commit(
                job.label, partition_key(item, fps[item.spec.name]), {"partition": part.data}, entry
            )
        ledger.finish()
    finally:
        ledger.close()
    cache.save()
    return plan, dict(ledger.entries)


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
    executor = section(params, "executor", ExecutorParams, optional=True)
    plan, entries = run(cfg, landing, out, hash_cache, executor, rehash=rehash)
    rows = sum(e["rows"] for d, e in entries.items() if d in plan.todo)
    total = sum(e["rows"] for e in entries.values())
    typer.echo(
        f"ingest: {plan.summary()}; {rows} rows read, {len(entries)} partitions / {total} rows in snapshot"
        f"{'; every batch re-hashed' if rehash else ''} ({time.perf_counter() - started:.1f}s)"
    )

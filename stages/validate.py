"""Stage `validate`: apply the data contract to every partition, datum by datum, chunk by chunk.

Rows that break the contract go to `<quarantine>/<source>/<id>-<key>.parquet` with their raw delivered
values and the reason; the rest are typed, unit-normalized and deduplicated within the datum by key (first
occurrence kept) into `<clean>/<source>/<id>-<key>.parquet` (key: strata.datums.output_key). For every
datum the manifest records rows_in = clean + quarantined + duplicates, and the stage refuses to finish if
that ever fails to hold. Structural problems (a required column missing) are found for every pending datum
before anything is written, and stop the stage with one line naming the file and the column.

Each datum is a pure task (:func:`validate_task`: partition bytes in, Parquet bytes and counts out) run by
strata.executor wherever `executor` in params.yaml says; this process writes the results (strata.datums).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer

from strata import datums, deps
from strata import executor as ex
from strata.atomic import ParquetBuffer, fingerprint
from strata.config import ExecutorParams, ValidateParams, section
from strata.contract import columns, engine, keys, spec
from strata.contract.engine import split_malformed
from strata.contract.spec import MALFORMED, ROW, Contract
from strata.errors import StrataError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq


class Sink(Protocol):
    def write(self, table: pa.Table | pa.RecordBatch) -> None: ...


class AccountingError(StrataError):
    """rows_in != clean + quarantined + duplicates: a bug, never silently tolerated."""


@dataclasses.dataclass
class Counts:
    rows_in: int = 0
    clean: int = 0
    quarantined: int = 0
    duplicates: int = 0
    reasons: Counter[str] = dataclasses.field(default_factory=Counter)

    def check(self, where: str) -> None:
        if self.rows_in != self.clean + self.quarantined + self.duplicates:
            raise AccountingError(
                f"{where}: rows in {self.rows_in} != clean {self.clean} + quarantined {self.quarantined}"
                f" + duplicates {self.duplicates}"
            )


@dataclasses.dataclass(frozen=True)
class Datum:
    """One partition to validate, and how errors name it (no client path: a task may run anywhere)."""

    ident: str  # <source>/<id>
    source: str
    where: str
    delivered: tuple[str, ...]  # the partition's delivered columns, read once from its footer
    rows: int

    @classmethod
    def of(cls, ident: str, entry: dict[str, Any], part: Path) -> Datum:
        import pyarrow.parquet as pq

        where = f"{part} ({entry['source']}: {', '.join(entry['batches'])})"
        columns = tuple(n for n in pq.read_schema(part).names if n not in (ROW, MALFORMED))
        return cls(ident, entry["source"], where, columns, int(entry["rows"]))

    def check(self, contract: Contract) -> None:
        """Structural errors first. A datum without a single delivered column (an empty JSON Lines file,
        or one whose lines are all malformed) says nothing about the schema: its rows, if any, are
        malformed."""
        if self.delivered:
            columns.resolve_columns(self.delivered, contract, self.source, self.where)


@dataclasses.dataclass(frozen=True)
class Result:
    """A validated datum: its output files' bytes (quarantine None: no bad row) and its accounting."""

    clean: bytes
    quarantine: bytes | None
    counts: Counts


def validate_datum(
    datum: Datum,
    parquet: pq.ParquetFile,
    contract: Contract,
    chunk_rows: int,
    *,
    clean: Sink,
    quarantine: Sink,
) -> Counts:
    """Stream one partition through the contract into the two sinks; returns its accounting."""
    counts = Counts()
    mapping: dict[str, str | None] | None = None
    dedupe = keys.KeyDeduper()
    for batch in parquet.iter_batches(batch_size=chunk_rows):
        counts.rows_in += batch.num_rows
        if mapping is None and datum.delivered:
            mapping = columns.resolve_columns(datum.delivered, contract, datum.source, datum.where)
        good, malformed = split_malformed(batch)
        if malformed is not None:
            counts.quarantined += malformed.num_rows
            counts.reasons["malformed row"] += malformed.num_rows
            quarantine.write(malformed)
        if mapping is None:  # no delivered column: there is nothing but malformed rows, or an object {}
            mapping = dict.fromkeys(contract.columns)
            if not good.num_rows:
                continue
        result = engine.validate_batch(good, contract, mapping, datum.source, datum.ident)
        kept, dropped = dedupe.drop_seen(result.clean, contract)
        clean.write(kept)
        quarantine.write(result.quarantine)
        counts.clean += kept.num_rows
        counts.duplicates += dropped
        counts.quarantined += result.quarantine.num_rows
        counts.reasons.update(result.reasons)
    counts.check(datum.where)
    return counts


def validate_task(part: ex.Blob, datum: Datum, contract: Contract, chunk_rows: int) -> Result:
    """The datum task: partition bytes in, clean (always) and quarantine (if any) Parquet bytes out. Pure:
    it runs in a worker process or on a cluster and writes nothing."""
    import pyarrow.parquet as pq

    clean = ParquetBuffer(spec.clean_schema(contract))
    quarantine = ParquetBuffer(spec.quarantine_schema(datum.delivered), lazy=True)
    parquet = pq.ParquetFile(part.open())
    counts = validate_datum(datum, parquet, contract, chunk_rows, clean=clean, quarantine=quarantine)
    data = clean.getvalue()
    assert data is not None  # not lazy: a clean file always exists, even with no row
    return Result(data, quarantine.getvalue(), counts)


def validate_token(entry: dict[str, Any]) -> str:
    """What a clean datum is computed from: its partition file (whose name is the hash of everything that
    shaped it) and the batch names (split orders datums by them)."""
    return fingerprint(entry["files"]["partition"], entry["batches"])


def run(
    params: ValidateParams,
    partitions: Path,
    clean: Path,
    quarantine: Path,
    executor: ExecutorParams | None = None,  # None: the defaults (local)
) -> tuple[datums.Plan, dict[str, Any]]:
    """Bring clean/ and quarantine/ up to date with the partitions; returns the plan and the entries."""
    inputs = datums.load_entries(partitions)
    contract = params.contract
    code = deps.code_fingerprint("stages.validate")
    fp = fingerprint(code, dataclasses.asdict(contract), params.chunk_rows)
    dirs = {"clean": clean, "quarantine": quarantine}
    wanted = {d: (validate_token(e), fp) for d, e in inputs.items()}
    plan = datums.plan(wanted, datums.load_candidates(clean), dirs)
    parts = {d: partitions / inputs[d]["files"]["partition"] for d in plan.todo}
    pending = [Datum.of(d, inputs[d], parts[d]) for d in plan.todo]
    for datum in pending:  # structural errors first: nothing is written if any datum cannot be read
        datum.check(contract)
    jobs = [
        ex.Job(d.ident, (ex.Blob(path=str(parts[d.ident])), d, contract, params.chunk_rows), size)
        for d in pending
        for size in [parts[d.ident].stat().st_size]
    ]
    ledger = datums.Ledger("validate", dirs, plan.kept)
    try:
        for job, result in ex.run(validate_task, jobs, executor or ExecutorParams(), "validate"):
            entry = inputs[job.label]
            key = datums.output_key(entry["files"]["partition"], fp)
            counts = result.counts
            ledger.commit(
                job.label,
                key,
                {"clean": result.clean, "quarantine": result.quarantine},
                {
                    "source": entry["source"],
                    "batches": entry["batches"],
                    "input": wanted[job.label][0],
                    "fingerprint": fp,
                    "rows_in": counts.rows_in,
                    "clean": counts.clean,
                    "quarantined": counts.quarantined,
                    "duplicates": counts.duplicates,
                    "reasons": dict(sorted(counts.reasons.items())),
                },
            )
        ledger.finish()
    finally:
        ledger.close()
    return plan, dict(ledger.entries)


def command(
    partitions: Annotated[Path, typer.Option(help="Partition folder written by ingest.")],
    clean: Annotated[Path, typer.Option(help="Output folder of clean rows (persist: true).")],
    quarantine: Annotated[Path, typer.Option(help="Output folder of quarantined rows (persist: true).")],
    params: Annotated[Path, typer.Option(help="params.yaml to read the `validate` section from.")] = Path(
        "params.yaml"
    ),
) -> None:
    """Apply the data contract: clean rows out, bad rows quarantined with a reason, every row accounted for.

    Only partitions that are new or changed since the last run are validated.
    """
    started = time.perf_counter()
    cfg = section(params, "validate", ValidateParams)
    executor = section(params, "executor", ExecutorParams, optional=True)
    plan, entries = run(cfg, partitions, clean, quarantine, executor)
    done = [entries[d] for d in plan.todo]
    total = {k: sum(e[k] for e in done) for k in ("rows_in", "clean", "quarantined", "duplicates")}
    typer.echo(
        f"validate: {plan.summary()}; rows in {total['rows_in']} = clean {total['clean']} + quarantined "
        f"{total['quarantined']} + duplicates {total['duplicates']} ({time.perf_counter() - started:.1f}s)"
    )

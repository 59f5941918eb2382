"""Stage `validate`: apply the data contract to every partition, datum by datum, chunk by chunk.

Rows that break the contract go to `<quarantine>/<source>/<id>.parquet` with their raw delivered values
and the reason; the rest are typed, unit-normalized and deduplicated within the datum by key (first
occurrence kept) into `<clean>/<source>/<id>.parquet`. For every datum the manifest records
rows_in = clean + quarantined + duplicates, and the stage refuses to finish if that ever fails to hold.
Structural problems (a required column missing) are found for every pending datum before anything is
written, and stop the stage with one line naming the file and the column.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from strata import datums, deps
from strata.atomic import AtomicParquetWriter, fingerprint
from strata.config import ValidateParams, section
from strata.contract import columns, engine, keys, spec
from strata.contract.spec import MALFORMED, ROW, Contract
from strata.errors import StrataError
from strata.progress import progress

if TYPE_CHECKING:
    import pyarrow as pa


PARALLEL_MIN_ROWS = 400_000  # below this, worker start-up costs more than it saves


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
    """One partition to validate, and how errors name it."""

    ident: str  # <source>/<id>
    source: str
    part: Path
    where: str
    delivered: tuple[str, ...]  # the partition's delivered columns, read once from its footer

    @classmethod
    def of(cls, ident: str, entry: dict[str, Any], partitions: Path) -> Datum:
        import pyarrow.parquet as pq

        part = partitions / entry["files"]["partition"]
        where = f"{part} ({entry['source']}: {', '.join(entry['batches'])})"
        columns = tuple(n for n in pq.read_schema(part).names if n not in (ROW, MALFORMED))
        return cls(ident, entry["source"], part, where, columns)


def split_malformed(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.Table | None]:
    """Rows the format parser could not split go straight to quarantine."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if batch.column(MALFORMED).null_count == batch.num_rows:  # the usual case: nothing to filter
        return batch.drop_columns([MALFORMED]), None
    bad = pc.is_valid(batch.column(MALFORMED))
    good = batch.filter(pc.invert(bad)).drop_columns([MALFORMED])
    rejected = batch.filter(bad)
    reason = pc.binary_join_element_wise("malformed row: ", rejected.column(MALFORMED), "")
    table = pa.Table.from_batches([rejected.drop_columns([MALFORMED])]).append_column("reason", reason)
    return good, table


def validate_datum(
    datum: Datum,
    contract: Contract,
    chunk_rows: int,
    clean_w: AtomicParquetWriter,
    quarantine_w: AtomicParquetWriter,
) -> Counts:
    """Stream one partition through the contract into the two writers; returns its accounting."""
    import pyarrow.parquet as pq

    counts = Counts()
    mapping = columns.resolve_columns(datum.delivered, contract, datum.source, datum.where)
    dedupe = keys.KeyDeduper()
    for batch in pq.ParquetFile(datum.part).iter_batches(batch_size=chunk_rows):
        counts.rows_in += batch.num_rows
        good, malformed = split_malformed(batch)
        if malformed is not None:
            counts.quarantined += malformed.num_rows
            counts.reasons["malformed row"] += malformed.num_rows
            quarantine_w.write(malformed)
        result = engine.validate_batch(good, contract, mapping, datum.source, datum.ident)
        kept, dropped = dedupe.drop_seen(result.clean, contract)
        clean_w.write(kept)
        quarantine_w.write(result.quarantine)
        counts.clean += kept.num_rows
        counts.duplicates += dropped
        counts.quarantined += result.quarantine.num_rows
        counts.reasons.update(result.reasons)
    counts.check(datum.where)
    return counts


def process(
    datum: Datum, contract: Contract, params: ValidateParams, clean: Path, quarantine: Path
) -> dict[str, Any]:
    """Validate one datum into its clean (always) and quarantine (if any) files, atomically."""
    rel = datums.datum_file(datum.ident)
    q_schema = spec.quarantine_schema(datum.delivered)
    with (
        AtomicParquetWriter(clean / rel, spec.clean_schema(contract)) as clean_w,
        AtomicParquetWriter(quarantine / rel, q_schema, lazy=True) as quarantine_w,
    ):
        counts = validate_datum(datum, contract, params.chunk_rows, clean_w, quarantine_w)
        clean_w.commit()
        wrote_quarantine = quarantine_w.commit()
    return {
        "files": {"clean": rel, **({"quarantine": rel} if wrote_quarantine else {})},
        "rows_in": counts.rows_in,
        "clean": counts.clean,
        "quarantined": counts.quarantined,
        "duplicates": counts.duplicates,
        "reasons": dict(sorted(counts.reasons.items())),
    }


def process_all(
    pending: list[Datum], inputs: dict[str, Any], params: ValidateParams, clean: Path, quarantine: Path
) -> dict[str, dict[str, Any]]:
    """Validate the pending datums, several at once when there is enough work for the cores.

    Datums are independent (each writes only its own files), so running them in worker processes changes
    nothing in the output. Small runs stay in this process: starting workers costs about a second.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    rows = sum(int(inputs[d.ident].get("rows", 0)) for d in pending)
    workers = min(params.workers or os.cpu_count() or 1, len(pending))
    if workers < 2 or rows < PARALLEL_MIN_ROWS:
        return {
            d.ident: process(d, params.contract, params, clean, quarantine)
            for d in progress(pending, "validate")
        }
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {
            d.ident: pool.submit(process, d, params.contract, params, clean, quarantine) for d in pending
        }
        return {ident: future.result() for ident, future in futures.items()}


def run(
    params: ValidateParams, partitions: Path, clean: Path, quarantine: Path
) -> tuple[datums.Plan, dict[str, Any]]:
    """Bring clean/ and quarantine/ up to date with the partitions; returns the plan and the entries."""
    inputs = datums.load_entries(partitions)
    contract = params.contract
    code = deps.code_fingerprint("stages.validate")
    fp = fingerprint(code, dataclasses.asdict(contract), params.chunk_rows)
    dirs = {"clean": clean, "quarantine": quarantine}
    done = datums.load_entries(clean)
    plan = datums.plan({d: (e["sha256"], fp) for d, e in inputs.items()}, done, dirs)
    pending = [Datum.of(d, inputs[d], partitions) for d in plan.todo]
    for datum in pending:  # structural errors first: nothing is written if any datum cannot be read
        columns.resolve_columns(datum.delivered, contract, datum.source, datum.where)
    entries = {d: done[d] for d in plan.keep}
    results = process_all(pending, inputs, params, clean, quarantine)
    for datum in pending:
        entry = inputs[datum.ident]
        result = results[datum.ident]
        entries[datum.ident] = {
            "source": entry["source"],
            "batches": entry["batches"],
            "input": entry["sha256"],
            "fingerprint": fp,
            **result,
        }
    datums.prune(dirs, entries)
    datums.save_entries(clean, entries)
    return plan, entries


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
    plan, entries = run(cfg, partitions, clean, quarantine)
    done = [entries[d] for d in plan.todo]
    total = {k: sum(e[k] for e in done) for k in ("rows_in", "clean", "quarantined", "duplicates")}
    typer.echo(
        f"validate: {plan.summary()}; rows in {total['rows_in']} = clean {total['clean']} + quarantined "
        f"{total['quarantined']} + duplicates {total['duplicates']} ({time.perf_counter() - started:.1f}s)"
    )

"""Stage `split`: one clean table, deduplicated across datums, split stably by a hash of the key.

A row's side is decided by its key alone (salted with split.seed): a row never moves between train and
test when data is added, removed or reprocessed. The same key delivered again in a later batch is kept
once: the occurrence from the earliest delivered batch (datums ordered by source, then batch name) wins.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from strata import datums
from strata.atomic import AtomicParquetWriter, write_json
from strata.config import SplitParams, section
from strata.contract import keys
from strata.contract.spec import from_metadata
from strata.errors import ConfigError, SchemaError

if TYPE_CHECKING:
    import pyarrow as pa


def ordered_datums(entries: dict[str, Any]) -> list[str]:
    """Earliest delivery first: by source, then first batch name, then id (stable and data-independent)."""
    return sorted(entries, key=lambda d: (entries[d]["source"], min(entries[d]["batches"]), d))


def batches(clean: Path, entries: dict[str, Any]) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    for datum in ordered_datums(entries):
        path = clean / entries[datum]["files"]["clean"]
        with unreadable(path, clean):
            yield from pq.ParquetFile(path).iter_batches(batch_size=65_536)


@contextlib.contextmanager
def unreadable(path: Path, clean: Path) -> Iterator[None]:
    """A clean partition that is missing or not Parquet (a truncated copy) is one line with the fix."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowInvalid, OSError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SchemaError(
            f"{path}: unreadable clean partition ({detail}); delete it and run validate again, or "
            f"`dvc checkout {clean}`"
        ) from exc


@dataclasses.dataclass
class SplitCounts:
    rows_in: int = 0
    train: int = 0
    test: int = 0
    duplicates: int = 0


def check_sides(counts: SplitCounts, params: SplitParams, clean: Path) -> None:
    """Train and evaluate need rows on both sides: an empty side is an error here, not three stages later."""
    kept = counts.train + counts.test
    if not kept:
        raise SchemaError(
            f"{clean}: no clean rows to split (every delivered row was quarantined or a duplicate; the "
            f"reasons per batch are in {clean / datums.MANIFEST})"
        )
    for side, rows in (("test", counts.test), ("train", counts.train)):
        if not rows:
            raise ConfigError(
                f"split.test_fraction: {params.test_fraction} leaves the {side} side empty (train "
                f"{counts.train}, test {counts.test} of {kept} rows); each side needs at least one row: "
                f"{'raise' if side == 'test' else 'lower'} split.test_fraction or deliver more rows"
            )


def run(params: SplitParams, clean: Path, train: Path, test: Path) -> tuple[SplitCounts, list[str]]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    entries = datums.load_entries(clean)
    order = ordered_datums(entries)
    if not order:
        raise SchemaError(f"{clean}: no clean partitions to split (did validate run on any data?)")
    first = clean / entries[order[0]]["files"]["clean"]
    with unreadable(first, clean):
        arrow_schema = pq.read_schema(first)
    contract = from_metadata(arrow_schema, first)
    dedupe = keys.KeyDeduper()
    counts = SplitCounts()
    with (
        AtomicParquetWriter(train, arrow_schema) as train_w,
        AtomicParquetWriter(test, arrow_schema) as test_w,
    ):
        for batch in batches(clean, entries):
            counts.rows_in += batch.num_rows
            kept, dropped = dedupe.drop_seen(pa.Table.from_batches([batch]), contract)
            counts.duplicates += dropped
            side = keys.on_test_side(keys.identity_hashes(kept, contract), params.seed, params.test_fraction)
            mask = pa.array(side)
            test_w.write(kept.filter(mask))
            train_w.write(kept.filter(pc.invert(mask)))
        counts.train, counts.test = train_w.rows, test_w.rows
        check_sides(counts, params, clean)  # before anything is written: the old split stays as it was
        train_w.commit()
        test_w.commit()
    return counts, order


def command(
    clean: Annotated[Path, typer.Option(help="Clean partitions written by validate.")],
    train: Annotated[Path, typer.Option(help="Train rows (Parquet).")],
    test: Annotated[Path, typer.Option(help="Test rows (Parquet).")],
    summary: Annotated[Path, typer.Option(help="Counts and the partitions that went in (JSON).")],
    params: Annotated[Path, typer.Option(help="params.yaml to read the `split` section from.")] = Path(
        "params.yaml"
    ),
) -> None:
    """Deduplicate across batches and split train/test by a stable hash of the key.

    A row's side never changes as data grows; the summary lists the partitions used (model lineage).
    """
    started = time.perf_counter()
    cfg = section(params, "split", SplitParams)
    counts, order = run(cfg, clean, train, test)
    write_json(
        summary,
        {
            "seed": cfg.seed,
            "test_fraction": cfg.test_fraction,
            "rows_in": counts.rows_in,
            "duplicates_across_batches": counts.duplicates,
            "train_rows": counts.train,
            "test_rows": counts.test,
            "partitions": order,
        },
    )
    typer.echo(
        f"split: {len(order)} partitions, {counts.rows_in} rows in, "
        f"{counts.duplicates} duplicates across batches, train {counts.train}, test {counts.test} "
        f"({time.perf_counter() - started:.1f}s)"
    )

"""`strata predict`: score a file with a trained model, through the data contract first.

A delivered file (csv, jsonl, parquet, gzipped or not, exactly as a source sends it) is read by ingest's
readers and checked by validate's own code (strata.serving.door): aliases, NA markers, boolean words, the
source's units (``--source``), types, ranges, allowed values. Rows validate would quarantine are written to
the rejects file with its reason text; duplicates by key are dropped as validate drops them (first
occurrence kept); every other row is scored. A clean-format Parquet file (validate's output, or a split) is
already checked and is scored as it is, if it was written under the model's own contract.

On a delivered batch, `strata predict` therefore scores exactly the rows validate keeps, with the
probabilities the clean partition gets, and rejects exactly the rows validate quarantines (tested).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from strata.atomic import AtomicParquetWriter
from strata.contract.spec import METADATA_KEY, ROW, Contract, from_metadata, quarantine_schema
from strata.errors import ConfigError, SchemaError, StrataError
from strata.serving import door, scoring
from strata.serving.model import Loaded, load

if TYPE_CHECKING:
    import pyarrow as pa

CHUNK_ROWS = 65536  # rows per chunk read, checked and scored: memory is bounded by this, not the file
SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json", ".parquet")


@dataclasses.dataclass
class Counts:
    rows_in: int = 0
    scored: int = 0
    rejected: int = 0
    duplicates: int = 0
    predicted: Counter[str] = dataclasses.field(default_factory=Counter)

    def check(self, where: Path) -> None:
        if self.rows_in != self.scored + self.rejected + self.duplicates:
            raise StrataError(
                f"{where}: rows in {self.rows_in} != scored {self.scored} + rejected {self.rejected} "
                f"+ duplicates {self.duplicates}"
            )

    def add(self, scores: pa.Table) -> None:
        self.scored += scores.num_rows
        self.predicted.update(scores.column(scoring.PREDICTED).to_pylist())


def input_format(path: Path) -> tuple[str, bool]:
    """(format, gzipped) of an input file from its name, as ingest tells a delivered file's format."""
    from strata.sources.base import detect_format

    name = path.name.lower().removesuffix(".gz")
    if not name.endswith(SUFFIXES):
        raise ConfigError(f"--input {path}: unsupported file type (csv, jsonl, parquet; optionally .gz)")
    return detect_format(path.name, "auto", "--input")


def is_clean(path: Path, fmt: str, gz: bool) -> bool:
    """A Parquet file written by validate (or split) carries the contract in its schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fmt != "parquet" or gz:
        return False
    try:
        return METADATA_KEY in (pq.read_schema(path).metadata or {})
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"{path}: cannot read as parquet: {str(exc).splitlines()[0]}") from exc


def delivered_chunks(
    loaded: Loaded, path: Path, source: str, counts: Counts
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """(scores, rejects) per chunk of a delivered file, through the contract and the key deduper."""
    from strata.contract.keys import KeyDeduper
    from strata.sources.readers import read_raw

    fmt, gz = input_format(path)
    dedupe = KeyDeduper()
    where = str(path)
    chosen: tuple[Contract, door.Mapping] | None = None
    for raw in read_raw(path, fmt, gz, CHUNK_ROWS, where):
        if chosen is None:
            chosen = door.for_input(loaded.contract, loaded.relaxed, raw.schema.names[:-2], source, where)
        contract, mapping = chosen
        counts.rows_in += raw.num_rows
        checked = door.check(raw, contract, mapping, source, where)
        kept, dropped = dedupe.drop_seen(checked.clean, contract)
        counts.duplicates += dropped
        counts.rejected += checked.rejects.num_rows
        scores = scoring.score_table(loaded, kept, kept.column(ROW))
        counts.add(scores)
        yield scores, checked.rejects


def clean_chunks(loaded: Loaded, path: Path, counts: Counts) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Scores of a clean-format file, which must have been written under the model's contract."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    if from_metadata(parquet.schema_arrow, path) != loaded.contract:
        raise SchemaError(
            f"{path}: written under another contract than the model's (score the delivered file instead)"
        )
    rejects = quarantine_schema([]).empty_table()
    for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
        rows = pa.array(range(counts.rows_in, counts.rows_in + batch.num_rows), pa.int64())
        counts.rows_in += batch.num_rows
        scores = scoring.score_table(loaded, pa.Table.from_batches([batch]), rows)
        counts.add(scores)
        yield scores, rejects


def run(loaded: Loaded, path: Path, source: str, out: Path, rejects: Path) -> Counts:
    """Score ``path`` into ``out``, its rejected rows into ``rejects``; each appears whole or not at all."""
    counts = Counts()
    fmt, gz = input_format(path)
    chunks = (
        clean_chunks(loaded, path, counts)
        if is_clean(path, fmt, gz)
        else delivered_chunks(loaded, path, source, counts)
    )
    with AtomicParquetWriter(out, scoring.scores_schema(loaded)) as scores_w:
        rejects_w: AtomicParquetWriter | None = None
        try:
            for scores, rejected in chunks:
                if rejects_w is None:
                    rejects_w = AtomicParquetWriter(rejects, rejected.schema)
                scores_w.write(scores)
                rejects_w.write(rejected)
            if rejects_w is None:  # an input without a single chunk (an empty Parquet file)
                rejects_w = AtomicParquetWriter(rejects, quarantine_schema([]))
            counts.check(path)
            rejects_w.commit()
            scores_w.commit()
        finally:
            if rejects_w is not None:
                rejects_w.abort()
    return counts


def check_paths(input_path: Path, out: Path, rejects: Path) -> None:
    """Every path option checked before the model is loaded, each with a one-line message."""
    if not input_path.is_file():
        raise ConfigError(f"--input {input_path}: file not found")
    input_format(input_path)
    for option, path in (("--out", out), ("--rejects", rejects)):
        if path.suffix != ".parquet":
            raise ConfigError(f"{option} {path}: must end in .parquet")
        if path.resolve() == input_path.resolve():
            raise ConfigError(f"{option} {path}: would overwrite the input")
        if path.is_dir():
            raise ConfigError(f"{option} {path}: is a directory")
        parent = next((p for p in path.absolute().parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise ConfigError(f"{option} {path}: {parent} is a file, not a folder")
    if out.resolve() == rejects.resolve():
        raise ConfigError(f"--rejects {rejects}: same file as --out")


def default_rejects(out: Path) -> Path:
    return out.with_name(f"{out.name.removesuffix('.parquet')}.rejects.parquet")


def command(
    *,
    model: Annotated[Path, typer.Option(help="skops model written by train (its card.json beside it)")],
    input_path: Annotated[
        Path,
        typer.Option(
            "--input",
            help="file to score: as delivered (.csv, .jsonl, .parquet, optionally .gz), or clean Parquet",
        ),
    ],
    out: Annotated[Path, typer.Option(help="output Parquet: key, _row, predicted, proba_<class>")],
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="output Parquet of rejected rows (delivered text, _row, reason); "
            "default: <out>.rejects.parquet"
        ),
    ] = None,
    source: Annotated[
        str, typer.Option(help="source the file comes from: its contract.source_units apply (e.g. cedar)")
    ] = "",
    card: Annotated[
        Path | None, typer.Option(help="model card with the data contract; default: card.json beside --model")
    ] = None,
) -> None:
    """Score a file through the data contract: scores for the rows it accepts, a rejects file for the rest."""
    start = time.perf_counter()
    rejects_path = rejects or default_rejects(out)
    check_paths(input_path, out, rejects_path)
    loaded = load(model, card)
    try:
        counts = run(loaded, input_path, source, out, rejects_path)
    except OSError as exc:  # a full disk, a folder without write permission: one line, nothing half-written
        where = exc.filename or out
        raise StrataError(f"{where}: cannot write ({exc.strerror or exc})") from None
    shares = ", ".join(f"{cls} {n}" for cls, n in sorted(counts.predicted.items()))
    typer.echo(
        f"predict: rows in {counts.rows_in} = scored {counts.scored} + rejected {counts.rejected} "
        f"+ duplicates {counts.duplicates}; predicted: {shares or 'none'}; rejects in {rejects_path} "
        f"({time.perf_counter() - start:.1f} s)"
    )

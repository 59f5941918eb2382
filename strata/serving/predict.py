"""`strata predict`: score a file with a trained model, through the data contract first.

A delivered file (csv, jsonl, parquet, gzipped or not, exactly as a source sends it) is read by ingest's
readers and checked by validate's own code (strata.serving.door): aliases, NA markers, boolean words, the
source's units (``--source``), types, ranges, allowed values. Rows validate would quarantine are written to
the rejects file with its reason text; duplicates by key are dropped as validate drops them (first
occurrence kept); every other row is scored. A clean-format Parquet file (validate's output, or a split) is
already checked and is scored as it is, if it was written under the model's own contract.

On a delivered batch, `strata predict` therefore scores exactly the rows validate keeps, with the
probabilities the clean partition gets, and rejects exactly the rows validate quarantines (tested).

:func:`run` scores one file into its two outputs here; :func:`score_task` is the same work as a pure datum
task (input bytes and model bytes in, the same output bytes out) that strata.serving.predict_command maps
over many files on strata.executor.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strata.atomic import AtomicParquetWriter, ParquetBuffer
from strata.contract.spec import METADATA_KEY, ROW, Contract, from_metadata, quarantine_schema
from strata.errors import ConfigError, SchemaError, StrataError
from strata.executor.blobs import Blob
from strata.serving import door, scoring
from strata.serving.model import Loaded

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

    def merge(self, other: Counts) -> None:
        """Add another file's counts (the totals of `strata predict --out-dir`)."""
        self.rows_in += other.rows_in
        self.scored += other.scored
        self.rejected += other.rejected
        self.duplicates += other.duplicates
        self.predicted.update(other.predicted)

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


def is_clean(path: Path, fmt: str, gz: bool, where: str = "") -> bool:
    """A Parquet file written by validate (or split) carries the contract in its schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fmt != "parquet" or gz:
        return False
    try:
        return METADATA_KEY in (pq.read_schema(path).metadata or {})
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"{where or path}: cannot read as parquet: {str(exc).splitlines()[0]}") from exc


def delivered_chunks(
    loaded: Loaded, path: Path, where: str, source: str, counts: Counts
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """(scores, rejects) per chunk of a delivered file, through the contract and the key deduper."""
    from strata.contract.keys import KeyDeduper
    from strata.sources.readers import read_raw

    fmt, gz = input_format(Path(where))
    dedupe = KeyDeduper()
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


def clean_chunks(
    loaded: Loaded, path: Path, where: str, counts: Counts
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Scores of a clean-format file, which must have been written under the model's contract."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    if from_metadata(parquet.schema_arrow, where) != loaded.contract:
        raise SchemaError(
            f"{where}: written under another contract than the model's (score the delivered file instead)"
        )
    rejects = quarantine_schema([]).empty_table()
    for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
        rows = pa.array(range(counts.rows_in, counts.rows_in + batch.num_rows), pa.int64())
        counts.rows_in += batch.num_rows
        scores = scoring.score_table(loaded, pa.Table.from_batches([batch]), rows)
        counts.add(scores)
        yield scores, rejects


def chunks(
    loaded: Loaded, path: Path, where: str, source: str, counts: Counts
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """(scores, rejects) per chunk of the file at ``path``; ``where`` names it (and its type) in errors."""
    fmt, gz = input_format(Path(where))
    if is_clean(path, fmt, gz, where):
        return clean_chunks(loaded, path, where, counts)
    return delivered_chunks(loaded, path, where, source, counts)


def run(loaded: Loaded, path: Path, source: str, out: Path, rejects: Path) -> Counts:
    """Score ``path`` into ``out``, its rejected rows into ``rejects``; each appears whole or not at all."""
    counts = Counts()
    with AtomicParquetWriter(out, scoring.scores_schema(loaded)) as scores_w:
        rejects_w: AtomicParquetWriter | None = None
        try:
            for scores, rejected in chunks(loaded, path, str(path), source, counts):
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


# ------------------------------------------------------------------------ one file as a datum task


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """What a worker needs to score: the model's bytes (a Blob) and its card, both verified there against
    ``sha256``; ``model`` and ``card_path`` are the client's names for them (errors, answers)."""

    blob: Blob
    sha256: str
    card: dict[str, Any]
    model: str
    card_path: str


@dataclasses.dataclass(frozen=True)
class Scored:
    """One scored file: its two output files' bytes (as :func:`run` writes them) and its counts."""

    scores: bytes
    rejects: bytes
    counts: Counts


_MODELS: dict[str, Loaded] = {}  # model sha256 + card -> model, in each process that scores


def _model_key(sha256: str, card: dict[str, Any]) -> str:
    """A model is its bytes and its card (the contract): a long-lived dask worker may see another card."""
    from strata.atomic import fingerprint

    return f"{sha256}:{fingerprint(card)}"


def remember(loaded: Loaded) -> None:
    """Keep ``loaded`` as this process's model (a client scoring inline loads the model only once)."""
    _MODELS.clear()
    _MODELS[_model_key(loaded.sha256, loaded.card)] = loaded


def worker_model(ref: ModelRef) -> Loaded:
    """The model of ``ref``, loaded once per process, checked against its card as `model.load` checks."""
    from strata.atomic import sha256_file
    from strata.model.artifact import load_model
    from strata.serving.model import checked

    hit = _MODELS.get(_model_key(ref.sha256, ref.card))
    if hit is None:
        with ref.blob.local(".skops") as path:
            digest = sha256_file(path)  # a file gone or unreadable here is an I/O error: tried again
            hit = checked(load_model(path), ref.card, digest, Path(ref.model), Path(ref.card_path))
        remember(hit)
    return hit


def score_task(data: Blob, where: str, source: str, ref: ModelRef) -> Scored:
    """The datum task of `strata predict --out-dir`: one file's bytes in, the bytes :func:`run` would write
    out. Pure: it runs in a worker process or on a cluster, and writes nothing (a temp copy of the input
    at most). ``where`` is the client's name of the file: its type and every error message come from it."""
    loaded = worker_model(ref)
    counts = Counts()
    scores = ParquetBuffer(scoring.scores_schema(loaded))
    rejects: ParquetBuffer | None = None
    with data.local("".join(Path(where).suffixes[-2:])) as path:
        for scored, rejected in chunks(loaded, path, where, source, counts):
            rejects = rejects or ParquetBuffer(rejected.schema)
            scores.write(scored)
            rejects.write(rejected)
    rejects = rejects or ParquetBuffer(quarantine_schema([]))  # an input without a chunk
    counts.check(Path(where))
    scores_bytes, rejects_bytes = scores.getvalue(), rejects.getvalue()
    assert scores_bytes is not None and rejects_bytes is not None  # not lazy: always a file
    return Scored(scores_bytes, rejects_bytes, counts)

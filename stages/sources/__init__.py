"""Source kinds: where delivered batches come from. One module per kind, one interface.

A source lists its batches (sorted by name, so every run sees the same order) and hands each one out as
a local file holding exactly the delivered bytes: the file itself for a folder, a temp download streamed
to disk in chunks for S3 and HTTP. Ingest hashes and parses that file; it never needs to know the kind.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from stages.config import SourceSpec
from stages.errors import ConfigError, SourceError

REMOTE_KINDS = ("s3", "http")  # DVC cannot see these change: `strata refresh` writes their listings
FORMAT_SUFFIXES = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}


@dataclasses.dataclass(frozen=True)
class Batch:
    """One delivered batch (a datum before it is hashed)."""

    source: str
    name: str  # path relative to the source root, '/'-separated; the sort key
    format: str  # csv | jsonl | parquet
    gzip: bool
    size: int
    version: str  # a cheap change token (size+mtime, ETag): equal token => same bytes, skip re-hashing


class Source(Protocol):
    spec: SourceSpec

    def list_batches(self) -> list[Batch]:
        """Every batch currently delivered, sorted by name."""

    def materialize(self, batch: Batch) -> contextlib.AbstractContextManager[Path]:
        """A local path holding the batch's delivered bytes for the duration of the block."""


def detect_format(name: str, declared: str, source: str) -> tuple[str, bool]:
    """(format, gzipped) from the declared format or, for `auto`, the file name."""
    lower = name.lower()
    gz = lower.endswith(".gz")
    if gz:
        lower = lower[:-3]
    if declared != "auto":
        return declared, gz
    for suffix, fmt in FORMAT_SUFFIXES.items():
        if lower.endswith(suffix):
            return fmt, gz
    raise SourceError(
        f"source '{source}': cannot tell the format of '{name}' (set format: csv|jsonl|parquet)"
    )


def open_source(spec: SourceSpec, landing: Path) -> Source:
    """The Source for a spec. Kinds are imported lazily: the S3 client is heavy."""
    if spec.kind in ("files", "simulated"):
        from stages.sources.files import FilesSource

        return FilesSource(spec, landing)
    if spec.kind == "s3":
        from stages.sources.s3 import S3Source

        return S3Source(spec)
    if spec.kind == "http":
        from stages.sources.http import HttpSource

        return HttpSource(spec)
    raise ConfigError(f"source '{spec.name}': unknown kind '{spec.kind}'")


@contextlib.contextmanager
def local_file(path: Path) -> Iterator[Path]:
    """materialize() for sources whose batches already are local files."""
    yield path

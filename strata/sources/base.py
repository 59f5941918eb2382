"""What every source kind hands to ingest: a :class:`Batch` (one delivered file, object or URL) and the
:class:`Source` interface that lists batches and materializes each as a local file."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from strata.config import SourceSpec
from strata.errors import SourceError

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


@contextlib.contextmanager
def local_file(path: Path) -> Iterator[Path]:
    """materialize() for sources whose batches already are local files."""
    yield path

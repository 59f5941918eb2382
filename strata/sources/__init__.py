"""Source kinds: where delivered batches come from. One module per kind, one interface.

A source lists its batches (sorted by name, so every run sees the same order) and hands each one out as
a local file holding exactly the delivered bytes: the file itself for a folder, a temp download streamed
to disk in chunks for S3 and HTTP. Ingest hashes and parses that file; it never needs to know the kind.
"""

from __future__ import annotations

from pathlib import Path

from strata.config import SourceSpec
from strata.errors import ConfigError
from strata.sources.base import REMOTE_KINDS, Batch, Source, detect_format

__all__ = ["REMOTE_KINDS", "Batch", "Source", "detect_format", "open_source"]


def open_source(spec: SourceSpec, landing: Path) -> Source:
    """The Source for a spec. Kinds are imported lazily: the S3 client is heavy."""
    if spec.kind in ("files", "simulated"):
        from strata.sources.files import FilesSource

        return FilesSource(spec, landing)
    if spec.kind == "s3":
        from strata.sources.s3 import S3Source

        return S3Source(spec)
    if spec.kind == "http":
        from strata.sources.http import HttpSource

        return HttpSource(spec)
    raise ConfigError(f"source '{spec.name}': unknown kind '{spec.kind}'")

"""The local hash cache of delivered batches: a shortcut that spares re-reading unchanged files.

It is only a cache: never part of an output, git-ignored, and rebuilt (with one warning line) when it cannot
be read. An entry is trusted while the batch's version token is unchanged: size, mtime, inode and ctime for a
file (a user can put back a file's size and mtime after editing it, never its ctime), the ETag for S3.
``rehash=True`` (`strata ingest --rehash`, or STRATA_REHASH=1 under `dvc repro`) trusts nothing and re-reads
every batch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from strata.atomic import sha256_file, write_json
from strata.errors import SourceError
from strata.sources import Batch, Source

SHA256_HEX = 64


class HashCache:
    """sha256 of delivered batches keyed by (source, name, version token): a local-only shortcut so an
    unchanged file or object is not re-read just to learn that it is unchanged. Never part of an output."""

    def __init__(self, path: Path, rehash: bool = False) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = {} if rehash else self._load()
        self.used: dict[str, list[Any]] = {}

    def _load(self) -> dict[str, list[Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            return self._rebuild(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        if not isinstance(data, dict) or not all(_entry_ok(v) for v in data.values()):
            return self._rebuild("not a mapping of [version, sha256] entries")
        return data

    def _rebuild(self, why: str) -> dict[str, list[Any]]:
        typer.echo(
            f"warning: hash cache {self.path} is unreadable ({why}); rebuilding it: every delivered "
            "batch is read once",
            err=True,
        )
        return {}

    def sha256(self, source: Source, batch: Batch) -> str:
        key = f"{batch.source}\t{batch.name}"
        hit = self.entries.get(key)
        if batch.version and hit and hit[0] == batch.version:
            sha = str(hit[1])
        else:
            try:
                with source.materialize(batch) as local:
                    sha = sha256_file(local)
            except OSError as exc:  # removed or unreadable since it was listed
                raise SourceError(
                    f"source '{batch.source}': cannot read {batch.name}: {exc.strerror or exc}"
                ) from exc
        self.used[key] = [batch.version, sha]
        return sha

    def save(self) -> None:
        try:
            write_json(self.path, self.used)
        except OSError as exc:  # only a cache: the next run re-reads what it cannot remember
            typer.echo(f"warning: cannot save hash cache {self.path}: {exc.strerror or exc}", err=True)


def _entry_ok(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2  # noqa: PLR2004 - [version, sha256]
        and isinstance(value[0], str)
        and isinstance(value[1], str)
        and len(value[1]) == SHA256_HEX
    )

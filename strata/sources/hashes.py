"""The local hash cache of delivered batches: a shortcut that spares re-reading unchanged files.

It is only a cache: never part of an output, git-ignored, and rebuilt when it cannot be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from strata.atomic import read_json, sha256_file, write_json
from strata.sources import Batch, Source


class HashCache:
    """sha256 of delivered batches keyed by (source, name, version token): a local-only shortcut so an
    unchanged file or object is not re-read just to learn that it is unchanged. Never part of an output."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = read_json(path, default={}) or {}
        self.used: dict[str, list[Any]] = {}

    def sha256(self, source: Source, batch: Batch) -> str:
        key = f"{batch.source}\t{batch.name}"
        hit = self.entries.get(key)
        if batch.version and hit and hit[0] == batch.version:
            sha = str(hit[1])
        else:
            with source.materialize(batch) as local:
                sha = sha256_file(local)
        self.used[key] = [batch.version, sha]
        return sha

    def save(self) -> None:
        write_json(self.path, self.used)

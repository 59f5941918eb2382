"""Source kinds `files` and `simulated`: a folder (inside ingest.landing) of delivered files.

`simulated` is a folder the `simulate` stage fills the way a site delivers; it reads exactly like `files`
with the format taken from each file name, and exists so params.yaml says where the default feed comes from.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from strata.config import SourceSpec
from strata.errors import SourceError
from strata.sources.base import Batch, detect_format, local_file


class FilesSource:
    def __init__(self, spec: SourceSpec, landing: Path) -> None:
        self.spec = spec
        self.root = landing / spec.path

    def list_batches(self) -> list[Batch]:
        if not self.root.is_dir():
            raise SourceError(f"source '{self.spec.name}': folder {self.root} does not exist")
        batches = []
        for path in sorted(self.root.glob(self.spec.glob)):
            name = path.relative_to(self.root).as_posix()
            if not path.is_file() or any(part.startswith(".") for part in Path(name).parts):
                continue
            fmt, gz = detect_format(name, self.spec.format, self.spec.name)
            stat = path.stat()
            version = f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}"
            batches.append(Batch(self.spec.name, name, fmt, gz, stat.st_size, version))
        return batches

    def materialize(self, batch: Batch) -> contextlib.AbstractContextManager[Path]:
        return local_file(self.root / batch.name)

"""Source kinds `files` and `simulated`: a folder (inside ingest.landing) of delivered files.

`simulated` is a folder the `simulate` stage fills the way a site delivers; it reads exactly like `files`
with the format taken from each file name, and exists so params.yaml says where the default feed comes from.

Only files inside ingest.landing are read: DVC watches that folder (it is a dependency of ingest), so a
file outside it, reached through a symlinked file or folder, would be ingested once and never again. The
one exception is DVC's own cache (`<repo>/.dvc/cache`), where `cache.type: symlink` points tracked files.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from strata.config import SourceSpec
from strata.errors import SourceError
from strata.sources.base import Batch, detect_format, local_file


def dvc_cache(landing: Path) -> Path | None:
    """The default DVC cache of the repository holding ``landing`` (resolved), if there is one."""
    for folder in (landing, *landing.parents):
        if (folder / ".dvc").is_dir():
            return (folder / ".dvc" / "cache").resolve()
    return None


class FilesSource:
    def __init__(self, spec: SourceSpec, landing: Path) -> None:
        self.spec = spec
        self.landing = landing
        self.root = landing / spec.path

    def _outside(self, path: Path, allowed: list[Path]) -> Path | None:
        """Where ``path`` really is, if that is outside every allowed folder."""
        real = path.resolve()
        return None if any(real.is_relative_to(a) for a in allowed) else real

    def list_batches(self) -> list[Batch]:
        where = f"source '{self.spec.name}'"
        if not self.root.is_dir():
            if self.spec.allow_empty and not self.root.exists():
                return []
            problem = "is not a folder" if self.root.exists() else "does not exist"
            raise SourceError(f"{where}: folder {self.root} {problem}")
        landing = self.landing.resolve()
        if (real := self._outside(self.root, [landing])) is not None:
            raise SourceError(
                f"{where}: folder {self.root} is a link to {real}, outside {self.landing} (ingest.landing) "
                "where DVC cannot see it change; move the files into the landing folder"
            )
        allowed = [landing, *filter(None, [dvc_cache(landing)])]
        batches = []
        for path in sorted(self.root.glob(self.spec.glob)):
            name = path.relative_to(self.root).as_posix()
            if any(part.startswith(".") for part in Path(name).parts):
                continue
            if path.is_symlink() and not path.exists():
                raise SourceError(f"{where}: {name} is a broken symlink (to {path.readlink()})")
            if not path.is_file():
                continue
            if (real := self._outside(path, allowed)) is not None:
                raise SourceError(
                    f"{where}: {name} is a link to {real}, outside {self.landing} (ingest.landing) where DVC "
                    "cannot see it change; copy the file into the landing folder instead"
                )
            fmt, gz = detect_format(name, self.spec.format, self.spec.name)
            stat = path.stat()
            # ctime too: a user can restore a file's size and mtime after editing it, never its ctime
            version = f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}:{stat.st_ctime_ns}"
            batches.append(Batch(self.spec.name, name, fmt, gz, stat.st_size, version))
        return batches

    def materialize(self, batch: Batch) -> contextlib.AbstractContextManager[Path]:
        return local_file(self.root / batch.name)

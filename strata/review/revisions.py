"""Any file of the project at any git revision, read through DVC's own API; the work tree is never written.

``View(root, rev)`` wraps ``dvc.fs.DVCFileSystem(url=root, rev=sha)``: git-tracked files come from the
commit, DVC-tracked files from the local cache or, on a miss, straight from the remote their output names
(streamed: nothing is checked out and the cache is unchanged). DVC's index at that revision says which
outputs exist, their md5 and their remote. The special revision ``workspace`` is the files on disk now; a
tracked file missing on disk is read as recorded (cache or remote), as ``dvc checkout`` would restore it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from strata.errors import DataUnavailable, RevisionError
from strata.review import access

WORKSPACE = "workspace"
UPSTREAM = "auto-generated-upstream"  # DVC's name for "the work tree's own cache" when no default remote
_DOWN: dict[tuple[str, str, str], access.Reason] = {}  # remotes that failed as a whole in this process


@dataclasses.dataclass(frozen=True)
class Rev:
    """A resolved revision: the name the user gave, its commit (None for the workspace) and its date."""

    name: str
    sha: str | None
    date: str

    @property
    def short(self) -> str:
        return self.sha[:8] if self.sha else WORKSPACE


# ------------------------------------------------------------------------------------------------- git


def git(root: Path, *args: str) -> str:
    """Run a read-only git command in ``root``; failures become RevisionError."""
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise RevisionError(f"git {' '.join(args)}: {detail[0] if detail else 'failed'}")
    return proc.stdout.decode()


def repo_root(start: Path = Path()) -> Path:
    try:
        return Path(git(start, "rev-parse", "--show-toplevel").strip())
    except RevisionError as exc:
        raise RevisionError(f"{start.resolve()}: not inside a git repository") from exc


def commit_of(root: Path, rev: str) -> str | None:
    proc = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def resolve(root: Path, rev: str) -> Rev:
    """Resolve a revision name to its commit; ``workspace`` stays the work tree."""
    if rev == WORKSPACE:
        return Rev(WORKSPACE, None, "now")
    sha = commit_of(root, rev)
    if sha is None:
        raise RevisionError(f"unknown revision '{rev}'")
    return Rev(rev, sha, git(root, "show", "-s", "--format=%cI", sha).strip())


def tags(root: Path) -> list[str]:
    """All tags, oldest commit first."""
    return [line for line in git(root, "tag", "--list", "--sort=creatordate").splitlines() if line]


# ------------------------------------------------------------------------------------------------- DVC


def rel(repo: Any, out: Any) -> str:
    """An output's path relative to the project root, POSIX style."""
    return PurePosixPath(repo.fs.relpath(out.fs_path, repo.root_dir)).as_posix()


def md5_of(path: Path) -> str:
    digest = hashlib.md5()  # noqa: S324 - DVC's content address, not security
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _inside(path: str, top: str) -> bool:
    p, t = PurePosixPath(path), PurePosixPath(top)
    return p == t or t in p.parents


class View:
    """The project at one revision as DVC sees it. Use as a context manager (it holds a DVC Repo open)."""

    def __init__(self, root: Path, rev: Rev) -> None:
        self.root, self.rev = root, rev

    def __enter__(self) -> View:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if "fs" in self.__dict__:
            self.fs.close()

    @functools.cached_property
    def fs(self) -> Any:
        from dvc.exceptions import DvcException
        from dvc.fs import DVCFileSystem

        try:
            return DVCFileSystem(url=str(self.root), rev=self.rev.sha)
        except DvcException as exc:
            raise RevisionError(f"DVC cannot open {self.rev.name}: {' '.join(str(exc).split())}") from exc

    @property
    def repo(self) -> Any:
        return self.fs.repo

    @functools.cached_property
    def index(self) -> Any:
        from dvc.exceptions import DvcException

        try:
            index = self.repo.index
            index.stages  # noqa: B018 - load now, so a broken dvc.yaml fails here with its revision
        except DvcException as exc:
            raise RevisionError(f"dvc.yaml at {self.rev.name}: {' '.join(str(exc).split())}") from exc
        return index

    @functools.cached_property
    def outs(self) -> dict[str, Any]:
        """Every output of every stage and .dvc file at this revision, by project-relative path."""
        return {rel(self.repo, out): out for out in self.index.outs}

    def out_for(self, path: str) -> tuple[str, Any] | None:
        return next(((top, out) for top, out in self.outs.items() if _inside(path, top)), None)

    def remote_of(self, out: Any) -> str | None:
        name = out.remote or self.repo.config["core"].get("remote")
        return None if name in (None, UPSTREAM) else str(name)

    def recorded(self, path: str) -> bool:
        """True when ``path`` lies in an output that dvc.lock (or its .dvc file) records at this revision."""
        found = self.out_for(path)
        return found is not None and found[1].hash_info is not None and bool(found[1].hash_info.value)

    def present(self, path: str) -> bool:
        """Recorded at this revision, or (workspace) on disk now."""
        return self._on_disk(path) is not None or self.recorded(path)

    # ----------------------------------------------------------------------------- reading, with reasons

    def _on_disk(self, path: str) -> Path | None:
        if self.rev.sha is not None:
            return None
        local = self.root / path
        return local if local.exists() else None

    @functools.cached_property
    def _odb(self) -> Any:
        return self.repo.cache.local

    def _local_object(self, md5: str | None) -> Path | None:
        if not md5 or self._odb is None:
            return None
        path = self._odb.oid_to_path(md5)
        return Path(path) if os.path.isfile(path) else None

    def _memo_key(self, remote: str | None) -> tuple[str, str, str]:
        section = self.repo.config["remote"].get(remote or "", {})
        return (str(self.root), remote or "", repr(sorted(section.items())))

    def _cached(self, path: str, top: str, out: Any) -> bool:
        """Is everything needed to read ``path`` in the local cache (no remote involved)?"""
        digest = out.hash_info.value if out.hash_info else None
        if self._local_object(digest) is None:
            return False
        if path == top or not str(digest).endswith(".dir"):
            return True
        with contextlib.suppress(FileNotFoundError):
            return self._local_object(self.fs.info(path).get("md5")) is not None
        return True  # not in the listing: the caller finds out it does not exist, no remote needed

    @contextlib.contextmanager
    def _reading(self, path: str) -> Iterator[None]:
        """Turn DVC's cache/remote failures into DataUnavailable naming the tier, the reason and the roles."""
        found = self.out_for(path)
        remote = self.remote_of(found[1]) if found else None
        key = self._memo_key(remote)
        if found is not None and key in _DOWN and not self._cached(path, *found):
            raise self.unavailable(path, remote, _DOWN[key])
        try:
            yield
        except FileNotFoundError:
            raise
        except access.remote_errors() as exc:
            reason = access.classify(exc, remote)
            if reason.sticky:
                _DOWN[key] = reason
            raise self.unavailable(path, remote, reason) from exc

    def unavailable(self, path: str, remote: str | None, reason: access.Reason) -> DataUnavailable:
        where = access.describe(self.root, remote, access.remote_url(self.repo, remote))
        return DataUnavailable(path, self.rev.name, f"is not in the local cache and {reason.text}: {where}")

    def info(self, path: str) -> dict[str, Any] | None:
        """DVC's info for ``path`` (None if it does not exist at this revision)."""
        with self._reading(path):
            try:
                return dict(self.fs.info(path))
            except FileNotFoundError:
                return None

    def exists(self, path: str) -> bool:
        return self._on_disk(path) is not None or self.info(path) is not None

    def read_bytes(self, path: str) -> bytes:
        """``path``'s bytes at this revision; RevisionError if absent, DataUnavailable if unreadable."""
        if (disk := self._on_disk(path)) is not None and disk.is_file():
            return disk.read_bytes()
        info = self.info(path)
        if info is None or info.get("type") != "file":
            raise RevisionError(f"'{path}' does not exist at {self.rev.name}")
        if (local := self._local_object(info.get("md5"))) is not None:
            return local.read_bytes()
        with self._reading(path):
            try:
                return bytes(self.fs.read_bytes(path))
            except FileNotFoundError as exc:  # listed by the index, but the object is nowhere
                raise self._nowhere(path) from exc

    def _nowhere(self, path: str) -> DataUnavailable:
        reason = access.Reason("the object is not on its remote either (never pushed?)", False)
        found = self.out_for(path)
        return self.unavailable(path, self.remote_of(found[1]) if found else None, reason)

    def read_json(self, path: str, default: Any = None) -> Any:
        import json

        if not self.exists(path):
            return default
        return json.loads(self.read_bytes(path))

    def read_yaml(self, path: str) -> dict[str, Any]:
        import yaml

        if not self.exists(path):
            return {}
        loaded = yaml.safe_load(self.read_bytes(path))
        return loaded if isinstance(loaded, dict) else {}

    def files(self, path: str) -> dict[str, str | None]:
        """{file: md5} of every file at or under ``path`` (md5 None for files on disk in the workspace)."""
        if (disk := self._on_disk(path)) is not None:
            if disk.is_file():
                return {path: None}
            found = (p.relative_to(self.root).as_posix() for p in disk.rglob("*") if p.is_file())
            return dict.fromkeys(sorted(found))
        info = self.info(path)
        if info is None:
            return {}
        if info.get("type") == "file":
            return {path: info.get("md5")}
        listed: dict[str, str | None] = {}
        with self._reading(path):
            for top, _dirs, entries in self.fs.walk(path, detail=True):
                for name, entry in entries.items():
                    listed[f"{top}/{name}"] = entry.get("md5")
        return dict(sorted(listed.items()))

    def local_file(self, path: str, md5: str | None) -> Path | None:
        """A file on this machine holding ``path``'s bytes (the work-tree file or a cache object), if any."""
        disk = self._on_disk(path)
        return disk if disk is not None else self._local_object(md5)

    @contextlib.contextmanager
    def open(self, path: str, md5: str | None = None) -> Iterator[IO[bytes]]:
        """A binary file object: a local file if there is one, else DVC's stream from the remote."""
        local = self.local_file(path, md5)
        if local is not None:
            with local.open("rb") as handle:
                yield handle
            return
        with self._reading(path):
            try:
                handle = self.fs.open(path, mode="rb")
            except FileNotFoundError as exc:
                raise self._nowhere(path) from exc
            with handle:
                yield handle

    def md5(self, path: str) -> str | None:
        """The md5 DVC records for ``path`` (for a workspace file on disk: its bytes' md5)."""
        if (disk := self._on_disk(path)) is not None and disk.is_file():
            return md5_of(disk)
        found = self.out_for(path)
        if found is not None and found[0] == path:
            return str(found[1].hash_info.value) if found[1].hash_info else None
        info = self.info(path)
        return info.get("md5") if info else None


@contextlib.contextmanager
def view(root: Path, rev: str | Rev) -> Iterator[View]:
    """Open a revision (name or Rev) for reading."""
    resolved = rev if isinstance(rev, Rev) else resolve(root, rev)
    with View(root, resolved) as opened:
        yield opened


def forget_failures() -> None:
    """Forget which remotes failed (after `strata storage use` in the same process, e.g. in tests)."""
    _DOWN.clear()

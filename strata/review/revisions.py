"""Read any file of the project as it was at a git revision, without touching the work tree.

Git-tracked files come from ``git show REV:path``. DVC-tracked outputs are resolved through that revision's
dvc.lock (or a ``.dvc`` file): the md5 names the object in the local cache (``.dir`` JSON listings for
directory outs); on a cache miss the objects of that revision are fetched from the default remote into the
cache (``Repo.fetch(revs=[sha])``), never checked out. Every byte handed out is verified against its md5.

The special revision ``workspace`` means the files on disk as they are now (uncommitted results).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

from strata.errors import RevisionError

WORKSPACE = "workspace"
LOCK = "dvc.lock"


@dataclasses.dataclass(frozen=True)
class Rev:
    """A resolved revision: the name the user gave, its commit (None for the workspace) and its date."""

    name: str
    sha: str | None
    date: str

    @property
    def short(self) -> str:
        return self.sha[:8] if self.sha else WORKSPACE


@dataclasses.dataclass(frozen=True)
class Tracked:
    """A DVC-tracked path at a revision: the out that holds it, the out's md5 and who produced it."""

    out: str  # the out path as in dvc.lock / .dvc file
    md5: str  # the out's md5 (``...dir`` for directories)
    stage: str  # producing stage name, or the .dvc file for `dvc add`-ed data
    inner: str  # path relative to the out ('' when the path is the out itself)

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


def git(root: Path, *args: str) -> str:
    """Run a read-only git command in ``root``; failures become RevisionError."""
    return git_bytes(root, *args).decode()


def git_bytes(root: Path, *args: str) -> bytes:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise RevisionError(f"git {' '.join(args)}: {detail[0] if detail else 'failed'}")
    return proc.stdout


def repo_root(start: Path = Path()) -> Path:
    try:
        return Path(git(start, "rev-parse", "--show-toplevel").strip())
    except RevisionError as exc:
        raise RevisionError(f"{start.resolve()}: not inside a git repository") from exc


def resolve(root: Path, rev: str) -> Rev:
    """Resolve a revision name to its commit; ``workspace`` stays the work tree."""
    if rev == WORKSPACE:
        return Rev(WORKSPACE, None, "now")
    proc = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RevisionError(f"unknown revision '{rev}'")
    sha = proc.stdout.decode().strip()
    date = git(root, "show", "-s", "--format=%cI", sha).strip()
    return Rev(rev, sha, date)


def tags(root: Path) -> list[str]:
    """All tags, oldest commit first."""
    out = git(root, "tag", "--list", "--sort=creatordate")
    return [line for line in out.splitlines() if line]


def git_file(root: Path, rev: Rev, path: str) -> bytes | None:
    """A git-tracked file's bytes at ``rev`` (the file on disk for the workspace); None if absent."""
    if rev.sha is None:
        local = root / path
        return local.read_bytes() if local.is_file() else None
    proc = subprocess.run(
        ["git", "-C", str(root), "show", f"{rev.sha}:{path}"], capture_output=True, check=False
    )
    return proc.stdout if proc.returncode == 0 else None


def read_yaml(root: Path, rev: Rev, path: str) -> dict[str, Any]:
    import yaml

    data = git_file(root, rev, path)
    if data is None:
        return {}
    loaded = yaml.safe_load(data)
    return loaded if isinstance(loaded, dict) else {}


@functools.lru_cache(maxsize=64)
def _lock_at(root: Path, sha: str) -> dict[str, Any]:
    return read_yaml(root, Rev(sha, sha, ""), LOCK)


def read_lock(root: Path, rev: Rev) -> dict[str, Any]:
    """dvc.lock at ``rev`` ({} when that revision has none)."""
    return _lock_at(root, rev.sha) if rev.sha else read_yaml(root, rev, LOCK)


def lock_outs(lock: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Map every out path in a dvc.lock to (stage name, out entry)."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, stage in (lock.get("stages") or {}).items():
        for out in stage.get("outs") or []:
            found[out["path"]] = (name, out)
    return found


def _inside(path: str, out: str) -> str | None:
    """Path of ``path`` relative to ``out`` if it is ``out`` or under it, else None."""
    p, o = PurePosixPath(path), PurePosixPath(out)
    if p == o:
        return ""
    return str(p.relative_to(o)) if o in p.parents else None


def locate(root: Path, rev: Rev, path: str) -> Tracked:
    """Find the DVC out (dvc.lock stage or .dvc file) that holds ``path`` at ``rev``."""
    path = str(PurePosixPath(path))
    for out, (stage, entry) in lock_outs(read_lock(root, rev)).items():
        inner = _inside(path, out)
        if inner is not None and entry.get("md5"):
            return Tracked(out, entry["md5"], stage, inner)
    candidate = PurePosixPath(path)
    for base in (candidate, *candidate.parents):
        dvcfile = read_yaml(root, rev, f"{base}.dvc") if str(base) != "." else {}
        for entry in dvcfile.get("outs") or []:
            out = str(base.parent / entry["path"])
            inner = _inside(path, out)
            if inner is not None:
                return Tracked(out, entry["md5"], f"{base}.dvc", inner)
    raise RevisionError(f"'{path}' is not tracked by DVC at {rev.name}")


# ------------------------------------------------------------------------------------------ DVC cache


@functools.lru_cache(maxsize=8)
def cache_dir(root: Path) -> Path:
    """The local cache's md5 object folder (DVC 3 layout ``.dvc/cache/files/md5``)."""
    configs = [root / ".dvc" / "config", root / ".dvc" / "config.local"]
    if not any("[cache]" in c.read_text() for c in configs if c.is_file()):
        return root / ".dvc" / "cache" / "files" / "md5"
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return Path(repo.cache.local.path)


def object_path(root: Path, md5: str) -> Path:
    return cache_dir(root) / md5[:2] / md5[2:]


def md5_of(path: Path) -> str:
    digest = hashlib.md5()  # noqa: S324 - DVC's content address, not security
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(root: Path, rev: Rev, targets: list[str]) -> None:
    """Download the objects of ``targets`` as recorded at ``rev`` into the cache (work tree untouched)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            repo.fetch(targets=targets, revs=[rev.sha], workspace=False)
    except DvcException as exc:
        message = " ".join(str(exc).split())
        raise RevisionError(f"cannot fetch {', '.join(targets)} at {rev.name}: {message}") from exc


def cached_object(root: Path, rev: Rev, out: str, md5: str) -> Path:
    """The cache file for ``md5``, fetching ``out`` at ``rev`` from the default remote on a miss."""
    path = object_path(root, md5)
    if not path.exists() and rev.sha is not None:
        fetch(root, rev, [out])
    if not path.exists():
        raise RevisionError(f"'{out}' at {rev.name}: object {md5} is not in the cache nor on the remote")
    return path


def listing(root: Path, rev: Rev, tracked: Tracked) -> dict[str, str]:
    """{path: md5} of every file of the out holding ``tracked`` that lies under ``tracked.inner``."""
    if not tracked.is_dir:
        return {tracked.out: tracked.md5}
    entries = json.loads(cached_object(root, rev, tracked.out, tracked.md5).read_bytes())
    prefix = PurePosixPath(tracked.inner) if tracked.inner else None
    files = {}
    for entry in entries:
        rel = PurePosixPath(entry["relpath"])
        if prefix is None or rel == prefix or prefix in rel.parents:
            files[str(PurePosixPath(tracked.out) / rel)] = entry["md5"]
    return files


def tracked_files(root: Path, rev: Rev, path: str) -> dict[str, str]:
    """{file path: md5} of a DVC-tracked file or directory at ``rev``; RevisionError if untracked."""
    files = listing(root, rev, locate(root, rev, path))
    if not files:
        raise RevisionError(f"'{path}' is not tracked by DVC at {rev.name}")
    return files


def object_file(root: Path, rev: Rev, path: str) -> Path:
    """A local file holding ``path``'s bytes at ``rev`` (the work-tree file for the workspace)."""
    if rev.sha is None:
        if not (root / path).is_file():
            raise RevisionError(f"'{path}' does not exist in the workspace")
        return root / path
    tracked = locate(root, rev, path)
    md5 = listing(root, rev, tracked).get(str(PurePosixPath(path)))
    if md5 is None:
        raise RevisionError(f"'{path}' is not a file tracked by DVC at {rev.name}")
    obj = cached_object(root, rev, tracked.out, md5)
    if md5_of(obj) != md5:
        raise RevisionError(f"'{path}' at {rev.name}: cache object {md5} is corrupt (md5 mismatch)")
    return obj


def read_bytes(root: Path, rev: Rev, path: str) -> bytes:
    """``path`` at ``rev``: git first, then DVC (cache, then the default remote)."""
    data = git_file(root, rev, path)
    if data is not None:
        return data
    return object_file(root, rev, path).read_bytes()


def exists(root: Path, rev: Rev, path: str) -> bool:
    if git_file(root, rev, path) is not None:
        return True
    if rev.sha is None:
        return False
    try:
        tracked = locate(root, rev, path)
    except RevisionError:
        return False
    return not tracked.is_dir or bool(listing(root, rev, tracked))  # a file or folder inside a dir out


def read_json(root: Path, rev: Rev, path: str, default: Any = None) -> Any:
    """JSON at ``rev``, or ``default`` when the file did not exist then."""
    if not exists(root, rev, path):
        return default
    return json.loads(read_bytes(root, rev, path))

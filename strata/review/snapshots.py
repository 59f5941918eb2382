"""Data snapshots at git revisions: list, diff and materialize what each tag (or commit) recorded.

Everything is read through DVC's API at that revision (strata.review.revisions, strata.review.collect), so
listing, diffing and materializing an old snapshot never checks anything out in the user's work tree.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from strata.errors import DataUnavailable, RevisionError, StrataError
from strata.review import revisions as rv
from strata.review.collect import collect
from strata.review.diffs import Snapshot, diff_snapshots, flatten
from strata.review.layout import from_view

__all__ = ["checkout", "diff", "flatten", "list_snapshots"]  # flatten: strata.registry imports it from here


def list_snapshots(root: Path, revs: list[str] | None = None) -> list[Snapshot]:
    """Snapshots of the given revisions, or of every tag (oldest first) and HEAD."""
    names = revs or [*rv.tags(root), "HEAD"]
    resolved = [rv.resolve(root, name) for name in names]  # every name checked before any DVC work
    return [collect(root, rev) for rev in resolved]


def diff(root: Path, base: str, head: str) -> dict[str, Any]:
    """Partitions added/removed per source, row and quarantine deltas, schema, params and metrics diffs."""
    a, b = rv.resolve(root, base), rv.resolve(root, head)
    schemas: dict[str, Any] = {}  # clean Parquet schemas by md5, shared: unchanged files are read once
    return diff_snapshots(collect(root, a, schema_cache=schemas), collect(root, b, schema_cache=schemas))


# ------------------------------------------------------------------------------------------- checkout


def _target(root: Path, to: Path) -> Path:
    target, tree = to.resolve(), root.resolve()
    if target == tree or tree in target.parents or target in tree.parents:
        raise StrataError(f"--to {to}: inside the work tree {root}; choose a folder outside it")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise StrataError(f"--to {to}: exists and is not an empty folder; choose a new or empty folder")
    return target


def _copy(view: rv.View, path: str, md5: str | None, dest: Path) -> str:
    """Copy one file's bytes at the revision to ``dest``; verify them against DVC's md5; return the md5."""
    digest = hashlib.md5()  # noqa: S324 - DVC's content address
    dest.parent.mkdir(parents=True, exist_ok=True)
    with view.open(path, md5) as src, dest.open("wb") as out:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
    if md5 is not None and digest.hexdigest() != md5:
        raise RevisionError(
            f"'{path}' at {view.rev.name}: bytes do not match DVC's md5 {md5}; cache corrupt?"
        )
    return digest.hexdigest()


def checkout(
    root: Path, rev_name: str, to: Path, paths: tuple[str, ...] | None = None
) -> tuple[dict[str, str], list[DataUnavailable]]:
    """Materialize ``paths`` (default: data snapshot, model, card, metrics as dvc.yaml names them) as
    recorded at a revision into ``to``, every file checked against its md5. All or nothing: files land in
    a temp folder beside ``to`` that is renamed into place at the end. With the default paths an output
    this identity cannot read is skipped and returned; a path asked for by name must be readable."""
    rev = rv.resolve(root, rev_name)
    if rev.sha is None:
        raise RevisionError("checkout needs a git revision, not the workspace")
    target = _target(root, to)
    written: dict[str, str] = {}
    skipped: list[DataUnavailable] = []
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with rv.View(root, rev) as view:
            layout = from_view(view)
            if paths is None and not layout.has_pipeline:
                raise RevisionError(f"nothing to check out at {rev.name}: dvc.yaml has no stages there")
            for path in paths or layout.checkout_paths():
                try:
                    files = view.files(path)
                    if not files:
                        raise RevisionError(f"'{path}' does not exist at {rev.name}")
                    for file, md5 in files.items():
                        written[file] = _copy(view, file, md5, staging / file)
                except DataUnavailable as exc:
                    if paths is not None:
                        raise
                    skipped.append(exc)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return written, skipped

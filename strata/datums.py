"""Incremental datums: the Pachyderm idea on top of a DVC `persist: true` output.

A datum is one delivered batch, identified as `<source>/<id>` where id is the start of the sha256 of the
delivered bytes. A per-datum stage keeps a manifest inside its own output directory mapping each datum to
what it was computed from (the input token and a fingerprint of the code and params that shape the
output). On the next run only datums that are new, or whose token or fingerprint changed, are computed;
datums gone from the input are deleted. Because every datum's output is a pure function of (input bytes,
code, params) and the manifest holds no times or paths of this machine, the directory after any sequence
of incremental runs is byte-identical to a from-scratch rebuild.

The manifest lives inside the output, so `dvc checkout` of an old revision restores outputs and manifest
together and the next run continues from there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from strata.atomic import read_json, write_json
from strata.errors import ManifestError

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Plan:
    todo: tuple[str, ...]  # new or changed: compute
    keep: tuple[str, ...]  # unchanged: skip
    remove: tuple[str, ...]  # gone from the input: delete outputs

    def summary(self) -> str:
        return f"{len(self.todo)} datums processed, {len(self.keep)} skipped, {len(self.remove)} removed"


def load_entries(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Entries of the manifest in ``out_dir`` (empty if none or of another version). A manifest that cannot
    be read (not JSON, entries not mappings) is a ManifestError naming the file and the fix."""
    path = out_dir / MANIFEST
    fix = f"restore it with `dvc checkout {out_dir}`, or delete {out_dir} to rebuild it"
    try:
        data = read_json(path, default=None)
    except (OSError, ValueError) as exc:  # ValueError: JSON or UTF-8 decoding
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ManifestError(f"{path}: corrupt manifest ({detail}); {fix}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: corrupt manifest (not a JSON object); {fix}")
    if data.get("version") != MANIFEST_VERSION:  # another layout: every datum is computed again
        return {}
    entries = data.get("datums", {})
    if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
        raise ManifestError(f"{path}: corrupt manifest ('datums' is not a mapping of entries); {fix}")
    return dict(entries)


def save_entries(out_dir: Path, entries: Mapping[str, Mapping[str, Any]]) -> None:
    write_json(out_dir / MANIFEST, {"version": MANIFEST_VERSION, "datums": dict(sorted(entries.items()))})


def plan(
    wanted: Mapping[str, tuple[str, str]],
    done: Mapping[str, Mapping[str, Any]],
    dirs: Mapping[str, Path],
) -> Plan:
    """Decide per datum. ``wanted`` maps datum id -> (input token, fingerprint of code+params);
    ``dirs`` maps each output name an entry's ``files`` uses to its directory."""
    todo: list[str] = []
    keep: list[str] = []
    for datum, (token, fp) in sorted(wanted.items()):
        entry = done.get(datum)
        fresh = (
            entry is not None
            and entry.get("input") == token
            and entry.get("fingerprint") == fp
            and all((dirs[k] / f).exists() for k, f in entry.get("files", {}).items())
        )
        (keep if fresh else todo).append(datum)
    remove = sorted(set(done) - set(wanted))
    return Plan(tuple(todo), tuple(keep), tuple(remove))


def prune(dirs: Mapping[str, Path], entries: Mapping[str, Mapping[str, Any]]) -> int:
    """Delete every file in the output dirs that no manifest entry names (removed datums, leftovers of a
    killed run) and empty folders, so the tree equals a rebuild. Returns the number of files deleted."""
    deleted = 0
    for name, out_dir in dirs.items():
        wanted = {e["files"][name] for e in entries.values() if name in e.get("files", {})}
        if not out_dir.exists():
            continue
        for path in sorted(out_dir.rglob("*"), reverse=True):
            rel = path.relative_to(out_dir).as_posix()
            if path.is_dir():
                if not any(path.iterdir()):
                    path.rmdir()
            elif rel != MANIFEST and rel not in wanted:
                path.unlink()
                deleted += 1
    return deleted


def datum_file(datum: str, suffix: str = ".parquet") -> str:
    """Relative file of a datum inside an output dir: `<source>/<id>.parquet`."""
    source, _, ident = datum.partition("/")
    return f"{source}/{ident}{suffix}"

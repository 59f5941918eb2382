"""Incremental datums: the Pachyderm idea on top of a DVC `persist: true` output.

A datum is one delivered batch, identified as `<source>/<id>` where id is the start of the sha256 of the
delivered bytes. A per-datum stage keeps a manifest inside its own output directory mapping each datum to
what it was computed from (the input token and a fingerprint of the code and params that shape the
output). On the next run only datums that are new, or whose token or fingerprint changed, are computed;
datums gone from the input are deleted. Because every datum's output is a pure function of (input bytes,
code, params) and the manifest holds no times or paths of this machine, the directory after any sequence
of incremental runs is byte-identical to a from-scratch rebuild.

Crash safety (a stage killed at any moment, then rerun with the same or other params):
- Each output file is named by an output key, a hash of everything that shapes its bytes
  (`<source>/<id>-<key>.parquet`), and appears under that name only when complete (temp + rename). A file
  name therefore vouches for its content: a killed run with other params writes *other* names, and a
  manifest entry can only ever point at bytes computed for it.
- A finished datum is appended to a journal (`.journal.jsonl`) right after its files are in place, so a
  rerun reuses every datum a killed run finished. The manifest is replaced whole at the end, then the
  journal is dropped and every file no entry names (leftovers, temp files) is deleted.

The manifest lives inside the output, so `dvc checkout` of an old revision restores outputs and manifest
together and the next run continues from there.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from strata.atomic import fingerprint, read_json, write_bytes, write_json
from strata.errors import ManifestError

MANIFEST = "manifest.json"
JOURNAL = ".journal.jsonl"
MANIFEST_VERSION = 2  # 2: output files are named by their output key
CRASH_ENV = "STRATA_TEST_CRASH_AT"  # tests only: "<stage>:<point>:<n>" SIGKILLs the stage there

Entry = Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Plan:
    todo: tuple[str, ...]  # new or changed: compute
    keep: tuple[str, ...]  # unchanged (or finished by a killed run): skip
    remove: tuple[str, ...]  # gone from the input: delete outputs
    kept: Mapping[str, Entry] = dataclasses.field(default_factory=dict, compare=False)  # keep's entries

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


def save_entries(out_dir: Path, entries: Mapping[str, Entry]) -> None:
    write_json(out_dir / MANIFEST, {"version": MANIFEST_VERSION, "datums": dict(sorted(entries.items()))})


def load_candidates(out_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every finished result known for each datum: the manifest's entry, then those a killed run journaled.
    A torn last line (killed while appending) is ignored."""
    found: dict[str, list[dict[str, Any]]] = {d: [e] for d, e in load_entries(out_dir).items()}
    journal = out_dir / JOURNAL
    if journal.exists():
        for line in journal.read_text().splitlines(keepends=True):
            try:
                record = json.loads(line) if line.endswith("\n") else None
            except json.JSONDecodeError:
                record = None
            if isinstance(record, dict) and record.get("version") == MANIFEST_VERSION:
                found.setdefault(record["datum"], []).append(record["entry"])
    return found


def plan(
    wanted: Mapping[str, tuple[str, str]],
    done: Mapping[str, list[dict[str, Any]]],
    dirs: Mapping[str, Path],
) -> Plan:
    """Decide per datum. ``wanted`` maps datum id -> (input token, fingerprint of code+params); ``done``
    maps datum id -> finished results (:func:`load_candidates`); ``dirs`` maps each output name an entry's
    ``files`` uses to its directory. A result is reused only if its token and fingerprint match and every
    file it names exists (its name vouches for its bytes)."""
    todo: list[str] = []
    kept: dict[str, Entry] = {}
    for datum, (token, fp) in sorted(wanted.items()):
        fresh = [
            e
            for e in done.get(datum, ())
            if e.get("input") == token
            and e.get("fingerprint") == fp
            and all((dirs[k] / f).is_file() for k, f in e.get("files", {}).items())
        ]
        if fresh:
            kept[datum] = fresh[-1]
        else:
            todo.append(datum)
    remove = sorted(set(done) - set(wanted))
    return Plan(tuple(todo), tuple(kept), tuple(remove), kept)


def output_key(*parts: Any) -> str:
    """The name part of a datum's output files: a hash of everything that shapes their bytes."""
    return fingerprint("output", *parts)


def datum_file(datum: str, key: str, suffix: str = ".parquet") -> str:
    """Relative file of a datum inside an output dir: `<source>/<id>-<key>.parquet`."""
    source, _, ident = datum.partition("/")
    return f"{source}/{ident}-{key}{suffix}"


class Ledger:
    """Writes one run's results into the output dirs: files first, then a journal line, then (at the end)
    the manifest, and prunes what no entry names. ``dirs``' first directory holds manifest and journal."""

    def __init__(self, stage: str, dirs: Mapping[str, Path], kept: Mapping[str, Entry]) -> None:
        self.stage, self.dirs = stage, dict(dirs)
        self.home = next(iter(self.dirs.values()))
        self.entries: dict[str, Entry] = dict(kept)
        self._journal: IO[str] | None = None

    def commit(self, datum: str, key: str, outputs: Mapping[str, bytes | None], entry: Entry) -> Entry:
        """Put one datum's output bytes in place (``None``: no file for that output), then journal it."""
        files = {}
        for name, data in outputs.items():
            if data is not None:
                files[name] = datum_file(datum, key)
                write_bytes(self.dirs[name] / files[name], data)
        crash_point(self.stage, "written")
        done = {**entry, "files": files}
        if self._journal is None:
            self.home.mkdir(parents=True, exist_ok=True)
            self._journal = (self.home / JOURNAL).open("a")
        record = {"version": MANIFEST_VERSION, "datum": datum, "entry": done}
        self._journal.write(json.dumps(record, sort_keys=True) + "\n")
        self._journal.flush()
        crash_point(self.stage, "recorded")
        self.entries[datum] = done
        return done

    def finish(self) -> int:
        """Replace the manifest, drop the journal, delete unnamed files; returns how many were deleted."""
        self.close()
        for out_dir in self.dirs.values():
            out_dir.mkdir(parents=True, exist_ok=True)  # an output with no file still exists (for DVC)
        save_entries(self.home, self.entries)
        crash_point(self.stage, "saved")
        (self.home / JOURNAL).unlink(missing_ok=True)
        return prune(self.dirs, self.entries)

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None


def prune(dirs: Mapping[str, Path], entries: Mapping[str, Entry]) -> int:
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


_crashes: collections.Counter[str] = collections.Counter()


def crash_point(stage: str, point: str) -> None:
    """Tests only: SIGKILL this process at the n-th ``point`` of ``stage`` when STRATA_TEST_CRASH_AT says
    so (e.g. ``validate:written:3``). Inert unless that variable is set."""
    spec = os.environ.get(CRASH_ENV)
    if not spec or spec.rsplit(":", 1)[0] != f"{stage}:{point}":
        return
    _crashes[point] += 1
    if _crashes[point] == int(spec.rsplit(":", 1)[1]):
        os.kill(os.getpid(), signal.SIGKILL)

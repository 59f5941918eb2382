"""Data snapshots at git revisions: what data, quarantine, model and metrics each tag (or commit) recorded.

Everything is read through ``strata.review.revisions`` (git objects + the DVC cache/remote), so listing,
diffing
and materializing an old snapshot never checks anything out in the user's work tree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from strata.errors import RevisionError, StrataError
from strata.review import revisions as rv

PARTITIONS = "data/partitions/manifest.json"
CLEAN = "data/clean/manifest.json"
CLEAN_DIR = "data/clean"
MODEL = "models/model.skops"
METRICS = "eval/metrics.json"
PARAMS = "params.yaml"
CHECKOUT_PATHS = ("data/partitions", "data/clean", MODEL, "models/card.json", METRICS)
HEADLINE = ("accuracy", "macro_f1")


@dataclasses.dataclass
class Snapshot:
    """One revision's data, quarantine, model and metrics, as recorded by its manifests and dvc.lock."""

    rev: str
    sha: str | None
    date: str
    partitions: dict[str, dict[str, Any]]  # "<source>/<id>" -> partition manifest entry
    clean: dict[str, dict[str, Any]]  # "<source>/<id>" -> rows_in, clean, quarantined, duplicates, reasons
    model_md5: str | None
    metrics: dict[str, Any]  # flattened eval/metrics.json
    params: dict[str, Any]  # flattened params.yaml
    unavailable: list[str] = dataclasses.field(default_factory=list)

    def sources(self) -> dict[str, dict[str, int]]:
        """Per source: partitions, rows, and the clean manifest's rows_in/clean/quarantined/duplicates."""
        out: dict[str, Counter[str]] = {}
        for pid, entry in self.partitions.items():
            row = out.setdefault(entry.get("source") or pid.split("/")[0], Counter())
            row["partitions"] += 1
            row["rows"] += int(entry.get("rows", 0))
        for pid, datum in self.clean.items():
            row = out.setdefault(datum.get("source") or pid.split("/")[0], Counter())
            for key in ("rows_in", "clean", "quarantined", "duplicates"):
                row[key] += int(datum.get(key, 0))
        return {name: dict(counts) for name, counts in sorted(out.items())}

    def reason_counts(self) -> Counter[str]:
        return reasons(self.clean)

    def headline(self) -> dict[str, Any]:
        return {k: v for k, v in self.metrics.items() if _is_headline(k)}

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["sources"] = self.sources()
        data["headline"] = self.headline()
        return data


def _is_headline(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return key in HEADLINE or last.endswith("_recall_at_far")


# ------------------------------------------------------------------------------------------ pure helpers


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys; lists of mappings get ``[i]``; other lists stay values."""
    if isinstance(obj, dict):
        flat: dict[str, Any] = {}
        for key, value in obj.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(obj, list) and any(isinstance(v, dict | list) for v in obj):
        flat = {}
        for i, value in enumerate(obj):
            flat.update(flatten(value, f"{prefix}[{i}]"))
        return flat
    return {prefix: obj} if prefix else {}


def diff_flat(base: dict[str, Any], head: dict[str, Any]) -> list[dict[str, Any]]:
    """Changed, added and removed dotted keys: rows of key, base, head, status."""
    rows = []
    for key in sorted(set(base) | set(head)):
        if key not in head:
            rows.append({"key": key, "base": base[key], "head": None, "status": "removed"})
        elif key not in base:
            rows.append({"key": key, "base": None, "head": head[key], "status": "added"})
        elif base[key] != head[key]:
            rows.append({"key": key, "base": base[key], "head": head[key], "status": "changed"})
    return rows


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def diff_metrics(base: dict[str, Any], head: dict[str, Any]) -> list[dict[str, Any]]:
    """Every numeric metric of either side: base, head and head - base (None when a side lacks it)."""
    rows = []
    for key in sorted(set(base) | set(head)):
        b, h = _number(base.get(key)), _number(head.get(key))
        if b is None and h is None:
            continue
        delta = None if b is None or h is None else h - b
        rows.append({"metric": key, "base": b, "head": h, "delta": delta})
    return rows


def manifest_entries(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-datum entries of a partitions/clean manifest: under `partitions`, `datums` or at top level."""
    for key in ("partitions", "datums"):
        if isinstance(manifest.get(key), dict):
            return manifest[key]
    return {k: v for k, v in manifest.items() if isinstance(v, dict) and "rows_in" in v}


def reasons(clean: dict[str, dict[str, Any]]) -> Counter[str]:
    """Quarantine reasons summed over datums (a `reasons` mapping of counts, or a list of reasons)."""
    total: Counter[str] = Counter()
    for datum in clean.values():
        found = datum.get("reasons") or {}
        total.update(found if isinstance(found, dict) else Counter(map(str, found)))
    return total


def partition_columns(partitions: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Per source, the union of delivered columns over its partitions, in order of first appearance."""
    columns: dict[str, dict[str, None]] = {}
    for pid, entry in sorted(partitions.items()):
        seen = columns.setdefault(entry.get("source") or pid.split("/")[0], {})
        seen.update(dict.fromkeys(entry.get("columns") or []))
    return {source: list(cols) for source, cols in sorted(columns.items())}


def diff_schema(base: dict[str, Any], head: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per source: columns added, removed and (for typed schemas) retyped between two revisions."""
    changes: dict[str, dict[str, Any]] = {}
    for source in sorted(set(base) | set(head)):
        b, h = base.get(source, {}), head.get(source, {})
        b = b if isinstance(b, dict) else dict.fromkeys(b)
        h = h if isinstance(h, dict) else dict.fromkeys(h)
        change = {
            "added": [c for c in h if c not in b],
            "removed": [c for c in b if c not in h],
            "retyped": {c: [b[c], h[c]] for c in h if c in b and b[c] != h[c]},
        }
        if any(change.values()):
            changes[source] = change
    return changes


# ---------------------------------------------------------------------------------------- reading revs


def _optional(unavailable: list[str], path: str, read: Any, default: Any) -> Any:
    """Read a piece of a snapshot; a piece the cache and remote both lack is noted, not fatal."""
    try:
        return read()
    except RevisionError:
        unavailable.append(path)
        return default


def collect(root: Path, rev_name: str) -> Snapshot:
    """The snapshot recorded at ``rev_name`` (a tag, branch, commit or ``workspace``)."""
    rev = rv.resolve(root, rev_name)
    missing: list[str] = []
    parts = _optional(missing, PARTITIONS, lambda: rv.read_json(root, rev, PARTITIONS, {}), {})
    clean = _optional(missing, CLEAN, lambda: rv.read_json(root, rev, CLEAN, {}), {})
    metrics = _optional(missing, METRICS, lambda: rv.read_json(root, rev, METRICS, {}), {})
    return Snapshot(
        rev=rev.name,
        sha=rev.sha,
        date=rev.date,
        partitions=manifest_entries(parts),
        clean=manifest_entries(clean),
        model_md5=_model_md5(root, rev),
        metrics=flatten(metrics),
        params=flatten(rv.read_yaml(root, rev, PARAMS)),
        unavailable=missing,
    )


def _model_md5(root: Path, rev: rv.Rev) -> str | None:
    if rev.sha is None:
        return rv.md5_of(root / MODEL) if (root / MODEL).is_file() else None
    try:
        return rv.locate(root, rev, MODEL).md5
    except RevisionError:
        return None


def clean_schema(root: Path, rev_name: str) -> dict[str, dict[str, str]]:
    """Per source, the union of the clean Parquet schemas (column -> arrow type) at a revision."""
    import pyarrow.parquet as pq

    rev = rv.resolve(root, rev_name)
    if rev.sha is None:
        files = [str(p.relative_to(root)) for p in sorted((root / CLEAN_DIR).rglob("*.parquet"))]
    else:
        try:
            files = sorted(rv.tracked_files(root, rev, CLEAN_DIR))
        except RevisionError:
            return {}
    schema: dict[str, dict[str, str]] = {}
    for path in files:
        if not path.endswith(".parquet"):
            continue
        source = PurePosixPath(path).relative_to(CLEAN_DIR).parts[0]
        fields = schema.setdefault(source, {})
        for field in pq.read_schema(rv.object_file(root, rev, path)):
            known = fields.get(field.name)
            fields[field.name] = (
                str(field.type) if known in (None, str(field.type)) else f"{known}|{field.type}"
            )
    return schema


def diff(root: Path, base: str, head: str) -> dict[str, Any]:
    """Partitions added/removed per source, row and quarantine deltas, schema, params and metrics diffs."""
    return diff_snapshots(root, collect(root, base), collect(root, head))


def diff_snapshots(root: Path, a: Snapshot, b: Snapshot) -> dict[str, Any]:
    sa, sb = a.sources(), b.sources()
    sources: dict[str, dict[str, Any]] = {}
    for source in sorted(set(sa) | set(sb)):
        ids_a = {p for p, e in a.partitions.items() if (e.get("source") or p.split("/")[0]) == source}
        ids_b = {p for p, e in b.partitions.items() if (e.get("source") or p.split("/")[0]) == source}
        row: dict[str, Any] = {"added": sorted(ids_b - ids_a), "removed": sorted(ids_a - ids_b)}
        for key in ("partitions", "rows", "quarantined"):
            x, y = sa.get(source, {}).get(key, 0), sb.get(source, {}).get(key, 0)
            row[key] = {"base": x, "head": y, "delta": y - x}
        sources[source] = row
    return {
        "base": {"rev": a.rev, "sha": a.sha, "model_md5": a.model_md5},
        "head": {"rev": b.rev, "sha": b.sha, "model_md5": b.model_md5},
        "sources": sources,
        "schema": {
            "partitions": diff_schema(partition_columns(a.partitions), partition_columns(b.partitions)),
            "clean": diff_schema(clean_schema(root, a.rev), clean_schema(root, b.rev)),
        },
        "params": diff_flat(a.params, b.params),
        "metrics": diff_metrics(a.metrics, b.metrics),
        "unavailable": {"base": a.unavailable, "head": b.unavailable},
    }


def checkout(root: Path, rev_name: str, to: Path, paths: tuple[str, ...] = CHECKOUT_PATHS) -> dict[str, str]:
    """Materialize ``paths`` as recorded at a revision into ``to``; every file verified by its md5."""
    rev = rv.resolve(root, rev_name)
    if rev.sha is None:
        raise RevisionError("checkout needs a git revision, not the workspace")
    target = to.resolve()
    if target == root.resolve() or root.resolve() in target.parents or target in root.resolve().parents:
        raise StrataError(f"--to {to}: inside the work tree {root}; choose a folder outside it")
    written: dict[str, str] = {}
    for path in paths:
        blob = rv.git_file(root, rev, path)
        if blob is not None:  # a git-tracked file (e.g. metrics kept in git with cache: false)
            _place(target / path, blob)
            written[path] = hashlib.md5(blob).hexdigest()  # noqa: S324
            continue
        files = rv.tracked_files(root, rev, path)
        tracked = rv.locate(root, rev, path)
        if any(not rv.object_path(root, md5).exists() for md5 in files.values()):
            rv.fetch(root, rev, [tracked.out])
        for file, md5 in files.items():
            _copy_verified(rv.cached_object(root, rev, tracked.out, md5), target / file, md5)
            written[file] = md5
    return written


def _place(dest: Path, data: bytes) -> None:
    from strata.atomic import atomic_path

    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def _copy_verified(src: Path, dest: Path, md5: str) -> None:
    from strata.atomic import atomic_path

    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
        if rv.md5_of(tmp) != md5:
            raise RevisionError(f"'{dest}': md5 mismatch with the lock ({md5}); cache object is corrupt")

"""Snapshots and the differences between two of them: pure functions of data already read.

A ``None`` anywhere means "could not be read" (a tier this identity may not read, a remote that is down) or
"not recorded at that revision", never zero: the renderers show it as unknown and say why.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any

HEADLINE = ("accuracy", "macro_f1")
HEADLINE_SUFFIXES = ("_recall_at_far",)
CLEAN_KEYS = ("rows_in", "clean", "quarantined", "duplicates")


@dataclasses.dataclass
class Snapshot:
    """One revision's data, quarantine, model and metrics, as its manifests and DVC's index record them."""

    rev: str
    sha: str | None
    date: str
    pipeline: bool = True  # False: no stage in dvc.yaml at this revision
    partitions: dict[str, dict[str, Any]] | None = None  # "<source>/<id>" -> source, batches, sha256, rows
    partitions_from: str | None = None  # the manifest the partitions were counted from
    clean: dict[str, dict[str, Any]] | None = None  # "<source>/<id>" -> rows_in, clean, quarantined, ...
    model_md5: str | None = None
    metrics: dict[str, Any] | None = None  # flattened metrics files (None: unreadable)
    params: dict[str, Any] = dataclasses.field(default_factory=dict)  # flattened params.yaml
    gate: list[str] = dataclasses.field(default_factory=list)  # gate.max_drop metric names
    clean_schema: dict[str, dict[str, str]] | None = None  # only collected for diffs
    unavailable: list[dict[str, str]] = dataclasses.field(default_factory=list)  # path, detail
    notes: list[str] = dataclasses.field(default_factory=list)

    def sources(self) -> dict[str, dict[str, int]]:
        """Per source: partitions and rows (if known), clean-manifest counts (if known). Unknown = absent."""
        out: dict[str, Counter[str]] = {}
        for pid, entry in (self.partitions or {}).items():
            row = out.setdefault(source_of(pid, entry), Counter())
            row["partitions"] += 1
            row["rows"] += int(entry.get("rows") or 0)
        for pid, datum in (self.clean or {}).items():
            row = out.setdefault(source_of(pid, datum), Counter())
            for key in CLEAN_KEYS:
                row[key] += int(datum.get(key) or 0)
        keys = (("partitions", "rows") if self.partitions is not None else ()) + (
            CLEAN_KEYS if self.clean is not None else ()
        )
        return {name: {k: counts[k] for k in keys} for name, counts in sorted(out.items())}

    def quarantined(self) -> int | None:
        return (
            None if self.clean is None else sum(int(d.get("quarantined") or 0) for d in self.clean.values())
        )

    def reason_counts(self) -> Counter[str]:
        return reasons(self.clean or {})

    def headline(self) -> dict[str, Any]:
        metrics = self.metrics or {}
        return {k: metrics[k] for k in headline(metrics, self.gate)}

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["sources"] = self.sources()
        data["headline"] = self.headline()
        return data


def source_of(pid: str, entry: dict[str, Any]) -> str:
    return str(entry.get("source") or pid.split("/", maxsplit=1)[0])


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


def number(value: Any) -> int | float | None:
    """A metric's numeric value (ints stay ints: counts print as counts), None for anything else."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def headline(metrics: dict[str, Any], gate: Sequence[str] = ()) -> list[str]:
    """The metrics to show first: the gated ones, accuracy, macro_f1, recall at a fixed false-alarm rate."""
    wanted = [*gate, *HEADLINE, *sorted(k for k in metrics if k.endswith(HEADLINE_SUFFIXES))]
    return [k for k in dict.fromkeys(wanted) if number(metrics.get(k)) is not None]


def ordered(keys: set[str], metrics: dict[str, Any], gate: Sequence[str]) -> list[str]:
    """Headline metrics first (in headline order), then every other key sorted."""
    first = [k for k in headline(metrics, gate) if k in keys]
    return first + sorted(keys - set(first))


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


def diff_metrics(
    base: dict[str, Any],
    head: dict[str, Any],
    gate: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Every numeric metric of either side, headline first: base, head, delta (None: a side lacks it)."""
    rows = []
    numeric = {
        k for k in set(base) | set(head) if number(base.get(k)) is not None or number(head.get(k)) is not None
    }
    for key in ordered(numeric, {**base, **head}, gate):
        b, h = number(base.get(key)), number(head.get(key))
        delta = None if b is None or h is None else h - b
        rows.append({"metric": key, "base": b, "head": h, "delta": delta})
    return rows


def manifest_entries(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-datum entries of a partitions/clean manifest: under `partitions`, `datums` or at top level."""
    for key in ("partitions", "datums"):
        if isinstance(manifest.get(key), dict):
            return dict(manifest[key])
    return {k: v for k, v in manifest.items() if isinstance(v, dict) and "rows_in" in v}


def _sha256(value: Any) -> str | None:
    """A full sha256 hex digest, or None (newer clean manifests record an input token instead)."""
    text = str(value or "")
    return text if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else None


def from_clean(clean: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Partition entries as the clean manifest records them (one datum = one partition): source, batch
    names and delivered rows; the delivered bytes' sha256 only if recorded there (else None), no columns."""
    return {
        pid: {
            "source": source_of(pid, d),
            "batches": list(d.get("batches") or []),
            "sha256": _sha256(d.get("input")),
            "rows": d.get("rows_in"),
        }
        for pid, d in clean.items()
    }


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
        seen = columns.setdefault(source_of(pid, entry), {})
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


def _count(a: int | None, b: int | None) -> dict[str, int | None]:
    return {"base": a, "head": b, "delta": None if a is None or b is None else b - a}


def _known(snap: Snapshot, counts: dict[str, dict[str, int]], source: str, key: str) -> int | None:
    """A per-source count, 0 for a source the read manifest lacks, None when the manifest was not read."""
    read = snap.clean if key == "quarantined" else snap.partitions
    return None if read is None else counts.get(source, {}).get(key, 0)


def _ids(snap: Snapshot, source: str) -> set[str] | None:
    if snap.partitions is None:
        return None
    return {p for p, e in snap.partitions.items() if source_of(p, e) == source}


def _columns(snap: Snapshot) -> dict[str, list[str]] | None:
    if snap.partitions is None or snap.partitions_from != "partitions":
        return None  # counted from the clean manifest: delivered columns unknown
    return partition_columns(snap.partitions)


def diff_snapshots(a: Snapshot, b: Snapshot) -> dict[str, Any]:
    """Partitions added/removed per source, row and quarantine deltas, schema, params and metrics diffs."""
    sa, sb = a.sources(), b.sources()
    sources: dict[str, dict[str, Any]] = {}
    for source in sorted(set(sa) | set(sb)):
        ids_a, ids_b = _ids(a, source), _ids(b, source)
        row: dict[str, Any] = {
            "added": sorted(ids_b - ids_a) if ids_a is not None and ids_b is not None else None,
            "removed": sorted(ids_a - ids_b) if ids_a is not None and ids_b is not None else None,
        }
        for key in ("partitions", "rows", "quarantined"):
            row[key] = _count(_known(a, sa, source, key), _known(b, sb, source, key))
        sources[source] = row
    cols_a, cols_b = _columns(a), _columns(b)
    both_clean = a.clean_schema is not None and b.clean_schema is not None
    return {
        "base": {"rev": a.rev, "sha": a.sha, "model_md5": a.model_md5, "pipeline": a.pipeline},
        "head": {"rev": b.rev, "sha": b.sha, "model_md5": b.model_md5, "pipeline": b.pipeline},
        "sources": sources,
        "schema": {
            "partitions": diff_schema(cols_a, cols_b) if cols_a is not None and cols_b is not None else None,
            "clean": diff_schema(a.clean_schema or {}, b.clean_schema or {}) if both_clean else None,
        },
        "params": diff_flat(a.params, b.params),
        "metrics": None
        if a.metrics is None or b.metrics is None
        else diff_metrics(a.metrics, b.metrics, b.gate),
        "unavailable": {"base": a.unavailable, "head": b.unavailable},
        "notes": {"base": a.notes, "head": b.notes},
    }

"""`strata models list` and `show`: the registry's versions with what each one was, read at its commit.

Tags alone say which versions exist and where they stand, so a fresh clone lists them. The card (data
snapshot) and metrics are DVC outputs, read through DVC at each version's commit: from the local cache, or
from their tier with the current role's credentials. What cannot be read is reported as unavailable with
the reason, never shown as zeros.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from strata.errors import StrataError
from strata.registry import tags
from strata.registry.source import RevReader, spec_at

HEADLINE = ("accuracy", "macro_f1")


def _flatten(data: Any) -> dict[str, Any]:
    from strata.review.snapshots import flatten

    return flatten(data) if isinstance(data, dict) else {}


def snapshot_of(card: dict[str, Any]) -> dict[str, Any]:
    """The data a version was trained on, from its card: partition ids, per source, and the split rows."""
    partitions = list((card.get("lineage") or {}).get("partitions") or [])
    per_source = Counter(str(p).split("/")[0] for p in partitions)
    split = (card.get("lineage") or {}).get("split") or {}
    return {
        "partitions": len(partitions),
        "sources": dict(sorted(per_source.items())),
        "train_rows": split.get("train_rows"),
        "test_rows": split.get("test_rows"),
    }


def read_version(root: Path, version: tags.Version) -> dict[str, Any]:
    """Card, metrics (flattened) and data snapshot of one version; each unreadable piece is named why."""
    entry: dict[str, Any] = {"card": None, "metrics": None, "snapshot": None, "unavailable": {}}
    try:
        spec = spec_at(root, version.sha, version.name, version.ref)
    except StrataError as exc:
        entry["unavailable"]["dvc.yaml"] = str(exc)
        return entry
    entry["files"] = {"model": spec.path, "card": spec.card, "metrics": spec.metrics}
    with RevReader(root, version.sha, version.ref) as reader:
        for key, path in (("card", spec.card), ("metrics", spec.metrics)):
            try:
                entry[key] = reader.read_json(path, spec)
            except StrataError as exc:
                entry["unavailable"][path] = str(exc)
    if isinstance(entry["card"], dict):
        entry["snapshot"] = snapshot_of(entry["card"])
    if entry["metrics"] is not None:
        entry["metrics"] = _flatten(entry["metrics"])
    return entry


def since(registry: tags.Registry, version: str) -> dict[str, dict[str, Any]]:
    """For each stage the version holds now: when it took the stage and which version it replaced."""
    found: dict[str, dict[str, Any]] = {}
    for move in registry.moves:
        if move.version == version:
            found[move.stage] = {"since": move.at, "replaced": move.previous, "tag": move.tag}
    held = next((v.stages for v in registry.versions if v.version == version), ())
    return {stage: info for stage, info in found.items() if stage in held}


def listing(root: Path, name: str, metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per registered version, highest first (`strata models list --json`)."""
    registry = tags.load(root, name)
    rows = []
    for version in registry.versions:
        entry = read_version(root, version)
        flat = entry["metrics"]
        rows.append(
            {
                "version": version.version,
                "commit": version.sha,
                "registered_at": version.registered_at,
                "stages": since(registry, version.version),
                "metrics": None if flat is None else {m: flat.get(m) for m in metrics},
                "snapshot": entry["snapshot"],
                "unavailable": entry["unavailable"],
            }
        )
    return rows


def details(root: Path, name: str, ref_text: str) -> dict[str, Any]:
    """Everything about one version: tags, stage history, card, metrics, lineage down to the batches."""
    from strata.registry.spec import parse_ref
    from strata.review.lineage import lineage

    registry = tags.load(root, name)
    version, _ = registry.resolve(parse_ref(ref_text))
    entry = read_version(root, version)
    result: dict[str, Any] = {
        "name": version.name,
        "version": version.version,
        "commit": version.sha,
        "registered_at": version.registered_at,
        "author": version.author,
        "message": version.message,
        "stages": since(registry, version.version),
        "moves": [m.__dict__ for m in registry.moves if version.version in (m.version, m.previous)],
        **entry,
        "lineage": None,
    }
    model = (entry.get("files") or {}).get("model")
    if model:
        try:
            result["lineage"] = lineage(root, model, version.sha)
        except StrataError as exc:  # e.g. the partition manifest is on the raw tier
            result["unavailable"]["lineage"] = str(exc)
    return result


# ------------------------------------------------------------------------------------------ rendering


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("–" if value is None else str(value))


def _stages_text(stages: dict[str, dict[str, Any]]) -> str:
    parts = []
    for stage, info in sorted(stages.items()):
        replaced = f", replaced {info['replaced']}" if info.get("replaced") else ""
        parts.append(f"{stage} since {str(info['since'])[:19]}{replaced}")
    return "; ".join(parts) or "–"


def _snapshot_text(snapshot: dict[str, Any] | None) -> str:
    if not snapshot:
        return "unavailable"
    sources = ", ".join(f"{s} {n}" for s, n in snapshot["sources"].items())
    return f"{snapshot['partitions']} batches ({sources}), train {_number(snapshot['train_rows'])} rows"


def render_list(name: str, rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> str:
    if not rows:
        return f"{name}: no registered versions (strata models register)"
    lines = []
    for row in rows:
        shown = (
            "metrics unavailable"
            if row["metrics"] is None
            else "  ".join(f"{m} {_number(row['metrics'].get(m))}" for m in metrics)
        )
        lines.append(
            f"{name}@{row['version']}  {row['registered_at'][:10]}  {row['commit'][:8]}  "
            f"stages: {_stages_text(row['stages'])}"
        )
        lines.append(f"    {shown}")
        lines.append(f"    data: {_snapshot_text(row['snapshot'])}")
        lines.extend(f"    unavailable: {why}" for why in row["unavailable"].values())
    return "\n".join(lines)


def render_details(result: dict[str, Any]) -> str:
    from strata.review.lineage import render

    card = result.get("card") or {}
    model = card.get("model") or {}
    lines = [
        f"{result['name']}@{result['version']}  commit {result['commit']}",
        f"  registered {result['registered_at']} by {result['author']}: {result['message']}",
        f"  stages now: {_stages_text(result['stages'])}",
    ]
    for move in result["moves"]:
        took = move["version"] or "(emptied)"
        lines.append(
            f"    {move['at'][:19]}  {move['stage']}: {move['previous'] or '–'} -> {took}  {move['tag']}"
        )
    if card:
        lines.append(
            f"  model: {model.get('kind')} ({model.get('estimator')}), sha256 {model.get('sha256')}, "
            f"classes {', '.join(card.get('classes') or [])}"
        )
        lines.append(f"  data: {_snapshot_text(result.get('snapshot'))}")
    for key, value in sorted((result.get("metrics") or {}).items()):
        if isinstance(value, int | float) and not isinstance(value, bool):
            lines.append(f"  metric {key} = {_number(value)}")
    if result.get("lineage"):
        lines.append(render(result["lineage"]))
    lines.extend(f"  unavailable: {why}" for why in result["unavailable"].values())
    return "\n".join(lines)

"""Read one revision into a Snapshot: manifests, model md5, metrics, params, clean schema, through DVC's API.

Which file is which comes from dvc.yaml at that revision (strata.review.layout). A piece that cannot be read
(a tier this identity may not read, a remote that is down) is recorded with the reason and left unknown, never
counted as zero. Partitions a reviewer cannot read (raw tier) are counted from the clean manifest instead,
which records every datum with its delivered rows, and the snapshot says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from strata.errors import DataUnavailable
from strata.review import revisions as rv
from strata.review.diffs import Snapshot, flatten, from_clean, manifest_entries
from strata.review.layout import Layout, from_view

T = TypeVar("T")
PARAMS = "params.yaml"  # DVC's default params file (dvc.dependency.param.ParamsDependency)


def attempt(snap: Snapshot, read: Callable[[], T]) -> T | None:
    """Run one read; a DataUnavailable is noted on the snapshot (path + why) and gives None."""
    try:
        return read()
    except DataUnavailable as exc:
        snap.unavailable.append({"path": exc.path, "detail": exc.detail})
        return None


def manifest(view: rv.View, layout: Layout, role: str, snap: Snapshot) -> dict[str, Any] | None:
    """The datum entries of a per-datum output's manifest; None if unreadable or not recorded."""
    path = layout.manifest(role)
    if path is None:
        return None
    if not view.present(path):
        snap.notes.append(f"{path} is not recorded at {view.rev.name}")
        return None
    found = attempt(snap, lambda: view.read_json(path, {}))
    return None if found is None else manifest_entries(found)


def _metrics(view: rv.View, layout: Layout, snap: Snapshot) -> dict[str, Any] | None:
    """Every declared metrics file flattened: the main one's keys bare, others as '<file>:<key>'."""
    merged: dict[str, Any] = {}
    for i, path in enumerate(layout.metrics):
        data = attempt(snap, lambda p=path: view.read_json(p, {}))  # type: ignore[misc]
        if data is None:
            return None
        prefix = "" if i == 0 else f"{path}:"
        merged.update({f"{prefix}{k}": v for k, v in flatten(data).items()})
    return merged


def model_md5(view: rv.View, layout: Layout, snap: Snapshot) -> str | None:
    model = layout.path("model")
    if model is None or not view.present(model):
        return None
    return attempt(snap, lambda: view.md5(model))


def collect(root: Path, rev: str | rv.Rev, *, schema_cache: dict[str, Any] | None = None) -> Snapshot:
    """The snapshot recorded at ``rev`` (tag, branch, commit or ``workspace``); with ``schema_cache`` (a
    dict shared between revisions, keyed by md5) the clean Parquet schemas are read too, for diffs."""
    resolved = rev if isinstance(rev, rv.Rev) else rv.resolve(root, rev)
    snap = Snapshot(resolved.name, resolved.sha, resolved.date)
    with rv.View(root, resolved) as view:
        layout = from_view(view)
        params = view.read_yaml(PARAMS)
        snap.params = flatten(params)
        gate = (params.get("gate") or {}).get("max_drop") if isinstance(params.get("gate"), dict) else None
        snap.gate = [str(k) for k in gate] if isinstance(gate, dict) else []
        if not layout.has_pipeline:  # nothing existed yet: known empty, not unknown
            snap.pipeline = False
            snap.notes.append(f"no pipeline at {resolved.name}: dvc.yaml has no stages there")
            snap.partitions, snap.partitions_from, snap.clean, snap.metrics = {}, "partitions", {}, {}
            snap.clean_schema = {} if schema_cache is not None else None
            return snap
        snap.clean = manifest(view, layout, "clean", snap)
        snap.partitions = manifest(view, layout, "partitions", snap)
        snap.partitions_from = "partitions" if snap.partitions is not None else None
        if snap.partitions is None and snap.clean is not None:
            snap.partitions, snap.partitions_from = from_clean(snap.clean), "clean"
            snap.notes.append(f"partitions and rows counted from {layout.manifest('clean')}")
        snap.model_md5 = model_md5(view, layout, snap)
        snap.metrics = _metrics(view, layout, snap)
        if schema_cache is not None:
            snap.clean_schema = attempt(snap, lambda: clean_schema(view, layout, schema_cache))
    return snap


def clean_schema(view: rv.View, layout: Layout, cache: dict[str, Any]) -> dict[str, dict[str, str]] | None:
    """Per source, the union of the clean Parquet schemas (column -> arrow type) at a revision.

    Files are content-addressed: each distinct md5 is read once, across revisions too (``cache``), from the
    local cache object when there is one (no per-file round trip through DVC), else streamed by DVC.
    """
    import pyarrow.parquet as pq

    top = layout.path("clean")
    if top is None or not view.present(top):
        return None
    schema: dict[str, dict[str, str]] = {}
    for path, md5 in view.files(top).items():
        if not path.endswith(".parquet"):
            continue
        key = md5 or f"{view.rev.short}:{path}"
        if key not in cache:
            local = view.local_file(path, md5)
            if local is not None:
                cache[key] = [(f.name, str(f.type)) for f in pq.read_schema(local)]
            else:
                with view.open(path, md5) as handle:
                    cache[key] = [(f.name, str(f.type)) for f in pq.read_schema(handle)]
        fields = schema.setdefault(path[len(top) + 1 :].split("/", 1)[0], {})
        for name, kind in cache[key]:
            known = fields.get(name)
            fields[name] = kind if known in (None, kind) else f"{known}|{kind}"
    return schema

"""Lineage: from any output back to the delivered batches it came from, at any git revision.

Pachyderm answers this with a global commit ID; here git + DVC answer it: DVC's index at that revision
(dvc.yaml + dvc.lock) names every stage's command, params, deps and outs with their md5s, and the datum
manifest at the same revision names the delivered batches (source, batch names, sha256) behind every
partition. Which output is the manifest and which is the split summary comes from dvc.yaml.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer

from strata.errors import RevisionError
from strata.review import revisions as rv
from strata.review.collect import attempt, manifest
from strata.review.diffs import Snapshot, flatten, from_clean, source_of
from strata.review.layout import Layout, from_view


def _related(a: str, b: str) -> bool:
    """True when one path is the other or lies under it (a dir dep covers the outs inside it)."""
    pa, pb = PurePosixPath(a), PurePosixPath(b)
    return pa == pb or pa in pb.parents or pb in pa.parents


def producers(lock: dict[str, Any], path: str) -> list[str]:
    """Stages with an out that is ``path``, holds it, or lies inside it."""
    stages = lock.get("stages") or {}
    return [
        name for name, st in stages.items() if any(_related(o["path"], path) for o in st.get("outs") or [])
    ]


def chain(lock: dict[str, Any], path: str) -> list[str]:
    """Every stage that produced ``path`` transitively, nearest first (breadth-first over deps)."""
    stages = lock.get("stages") or {}
    order: list[str] = []
    queue = deque(producers(lock, path))
    while queue:
        name = queue.popleft()
        if name in order:
            continue
        order.append(name)
        for dep in stages[name].get("deps") or []:
            queue.extend(p for p in producers(lock, dep["path"]) if p not in order)
    return order


def stage_node(lock: dict[str, Any], name: str) -> dict[str, Any]:
    stage = lock["stages"][name]

    def files(key: str) -> list[dict[str, Any]]:
        return [{"path": e["path"], "md5": e.get("md5")} for e in stage.get(key) or []]

    return {
        "stage": name,
        "cmd": stage.get("cmd"),
        "params": stage.get("params") or {},
        "deps": files("deps"),
        "outs": files("outs"),
    }


def recorded_stages(view: rv.View) -> dict[str, Any]:
    """DVC's index at the revision in dvc.lock's shape: per stage cmd, params, deps and outs with md5s."""
    from dvc.dependency.param import ParamsDependency

    stages: dict[str, Any] = {}
    for st in view.index.stages:
        params: dict[str, Any] = {}
        deps = []
        for dep in st.deps:
            value = dep.hash_info.value if dep.hash_info else None
            if isinstance(dep, ParamsDependency):
                params[rv.rel(view.repo, dep)] = value or {}
            else:
                deps.append({"path": rv.rel(view.repo, dep), "md5": value})
        outs = [
            {"path": rv.rel(view.repo, o), "md5": o.hash_info.value if o.hash_info else None} for o in st.outs
        ]
        cmd = " ".join(st.cmd) if isinstance(st.cmd, list) else st.cmd
        stages[getattr(st, "name", "") or st.addressing] = {
            "cmd": cmd,
            "params": params,
            "deps": deps,
            "outs": outs,
        }
    return {"stages": stages}


def _strictly_inside_out(lock: dict[str, Any], path: str) -> bool:
    p = PurePosixPath(path)
    outs = [o["path"] for st in (lock.get("stages") or {}).values() for o in st.get("outs") or []]
    return any(PurePosixPath(out) in p.parents for out in outs)


def datum_of(path: str) -> str:
    """'<source>/<id>' of a per-datum file, named '<id>.parquet' or '<id>-<output key>.parquet'."""
    p = PurePosixPath(path)
    return f"{p.parent.name}/{p.name.split('.', 1)[0].split('-', 1)[0]}"


def _narrowed(path: str, lock: dict[str, Any], partitions: dict[str, Any]) -> set[str] | None:
    """The datums a per-datum path stands for: one datum's file, or a source folder."""
    ident = datum_of(path)
    if ident in partitions:
        return {ident}
    if _strictly_inside_out(lock, path):
        found = {pid for pid, e in partitions.items() if source_of(pid, e) == PurePosixPath(path).name}
        return found or None
    return None


def _used(view: rv.View, layout: Layout, lock: dict[str, Any], stages: list[str]) -> set[str] | None:
    """Datums the split stage recorded as its input, when the chain goes through it."""
    summary_path = layout.path("summary")
    if summary_path is None or not set(producers(lock, summary_path)) & set(stages):
        return None
    summary = view.read_json(summary_path, default={})
    listed = summary.get("partitions") if isinstance(summary, dict) else None
    return set(listed) if isinstance(listed, list) else None


def _delivered(view: rv.View, layout: Layout, snap: Snapshot) -> dict[str, Any]:
    """Partition entries from the partition manifest, or from the clean manifest when raw is unreadable."""
    found = manifest(view, layout, "partitions", snap)
    if found is None and (clean := manifest(view, layout, "clean", snap)) is not None:
        snap.notes.append(f"batches from {layout.manifest('clean')}")
        return from_clean(clean)
    return found or {}


def lineage(root: Path, path: str, rev_name: str = "HEAD") -> dict[str, Any]:
    """The stages behind ``path`` at a revision and the delivered batches at the bottom of the chain."""
    rev = rv.resolve(root, rev_name)
    path = str(PurePosixPath(path))
    with rv.View(root, rev) as view:
        lock = recorded_stages(view)
        stages = chain(lock, path)
        if not stages:
            why = "" if lock["stages"] else " (dvc.yaml has no stages there)"
            raise RevisionError(f"'{path}' is not an output of any stage at {rev.name}{why}")
        if _strictly_inside_out(lock, path) and not view.exists(path):
            raise RevisionError(f"'{path}' did not exist at {rev.name}")
        layout = from_view(view)
        snap = Snapshot(rev.name, rev.sha, rev.date)
        partitions = _delivered(view, layout, snap)
        used = _narrowed(path, lock, partitions) or attempt(snap, lambda: _used(view, layout, lock, stages))
    batches = [
        {
            "partition": pid,
            "source": e.get("source"),
            "batches": e.get("batches", []),
            "sha256": e.get("sha256"),
            "rows": e.get("rows"),
        }
        for pid, e in sorted(partitions.items())
        if used is None or pid in used
    ]
    return {
        "path": path,
        "rev": rev.name,
        "sha": rev.sha,
        "stages": [stage_node(lock, name) for name in stages],
        "batches": batches,
        "notes": snap.notes,
        "unavailable": snap.unavailable,
    }


def render(result: dict[str, Any]) -> str:
    """Plain text: the chain of stages, nearest first, then the delivered batches."""
    lines = [f"{result['path']} @ {result['rev']} ({(result['sha'] or 'workspace')[:8]})"]
    for node in result["stages"]:
        lines.append(f"  <- stage {node['stage']}: {node['cmd']}")
        for name, value in sorted(_flat_params(node["params"]).items()):
            lines.append(f"       param {name} = {value}")
        lines.extend(f"       dep  {d['path']} {d['md5']}" for d in node["deps"])
        lines.extend(f"       out  {o['path']} {o['md5']}" for o in node["outs"])
    lines.append(f"  <- {len(result['batches'])} delivered batches")
    for b in result["batches"]:
        digest = f"  sha256 {b['sha256']}" if b["sha256"] else ""
        lines.append(f"       {b['partition']}  {', '.join(b['batches'])}{digest}")
    lines += [f"  note: {n}" for n in result.get("notes", [])]
    lines += [f"  unavailable: '{u['path']}' {u['detail']}" for u in result.get("unavailable", [])]
    return "\n".join(lines)


def _flat_params(params: dict[str, Any]) -> dict[str, Any]:
    """Recorded params are {params file: {key: value}}; flatten to 'file:dotted.key'."""
    return {
        f"{file}:{key}": value for file, values in params.items() for key, value in flatten(values).items()
    }


def command(
    path: Annotated[str, typer.Argument(help="An output: model, metrics file, a partition file, a folder.")],
    rev: Annotated[
        str, typer.Option("--rev", help="Git revision (tag, branch, commit) or 'workspace'.")
    ] = "HEAD",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
    repo: Annotated[Path, typer.Option("--repo", help="Any folder inside the project.")] = Path(),
) -> None:
    """The chain from an output back to the delivered batches: stages, params, md5s, batch sha256s."""
    result = lineage(rv.repo_root(repo), path, rev)
    typer.echo(json.dumps(result, indent=2, default=str) if as_json else render(result))

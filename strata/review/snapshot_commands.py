"""`strata snapshots list|show|diff|checkout`: the typer shells over strata.review.snapshots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from strata.review import revisions as rv
from strata.review.snapshots import CHECKOUT_PATHS, Snapshot, checkout, collect, diff

RepoOpt = Annotated[Path, typer.Option("--repo", help="Any folder inside the git+DVC project.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON instead of tables.")]


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("-" if value is None else str(value))


def list_snapshots(root: Path, revs: list[str] | None = None) -> list[Snapshot]:
    """Snapshots of the given revisions, or of every tag (oldest first) and HEAD."""
    return [collect(root, rev) for rev in (revs or [*rv.tags(root), "HEAD"])]


def list_command(
    rev: Annotated[
        list[str] | None, typer.Option("--rev", help="Revision(s); default all tags + HEAD.")
    ] = None,
    as_json: JsonOpt = False,
    repo: RepoOpt = Path(),
) -> None:
    """One row per tag (or --rev): date, partitions and rows per source, quarantine, model, metrics."""
    snaps = list_snapshots(rv.repo_root(repo), rev)
    if as_json:
        typer.echo(json.dumps([s.to_json() for s in snaps], indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    metric_names = sorted({k for s in snaps for k in s.headline()})
    table = Table(title="strata snapshots")
    for col in (
        "rev",
        "commit",
        "date",
        "partitions (rows) per source",
        "quarantined",
        "model",
        *metric_names,
    ):
        table.add_column(col)
    for snap in snaps:
        per_source = snap.sources()
        data = ", ".join(f"{s} {c.get('partitions', 0)} ({c.get('rows', 0)})" for s, c in per_source.items())
        quarantined = sum(c.get("quarantined", 0) for c in per_source.values())
        model = snap.model_md5[:8] if snap.model_md5 else "-"
        metrics = [_fmt(snap.metrics.get(m)) for m in metric_names]
        table.add_row(
            snap.rev,
            snap.sha[:8] if snap.sha else "-",
            snap.date[:19],
            data,
            str(quarantined),
            model,
            *metrics,
        )
    Console().print(table)


def show_command(
    rev: Annotated[str, typer.Argument(help="A tag, branch, commit or 'workspace'.")],
    as_json: JsonOpt = False,
    repo: RepoOpt = Path(),
) -> None:
    """Everything one revision recorded: per-source data and quarantine, reasons, model, metrics."""
    from strata.review.render import render_snapshot

    snap = collect(rv.repo_root(repo), rev)
    typer.echo(json.dumps(snap.to_json(), indent=2, default=str) if as_json else render_snapshot(snap))


def diff_command(
    base: Annotated[str, typer.Argument(help="The older revision.")],
    head: Annotated[str, typer.Argument(help="The newer revision (or 'workspace').")],
    as_json: JsonOpt = False,
    repo: RepoOpt = Path(),
) -> None:
    """Partitions added/removed per source, row/quarantine deltas, schema, params and metrics diffs."""
    from strata.review.render import render_diff

    result = diff(rv.repo_root(repo), base, head)
    typer.echo(json.dumps(result, indent=2, default=str) if as_json else render_diff(result))


def checkout_command(
    rev: Annotated[str, typer.Argument(help="The revision whose data and model to materialize.")],
    to: Annotated[Path, typer.Option("--to", help="Destination folder, outside the work tree.")],
    path: Annotated[list[str] | None, typer.Option("--path", help="Only these tracked paths.")] = None,
    repo: RepoOpt = Path(),
) -> None:
    """Materialize a revision's partitions, clean data, model, card and metrics into --to, md5-verified."""
    written = checkout(rv.repo_root(repo), rev, to, tuple(path) if path else CHECKOUT_PATHS)
    typer.echo(f"checked out {len(written)} files of {rev} into {to} (all md5-verified)")

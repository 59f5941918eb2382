"""`strata snapshots list|show|diff|checkout`: the typer shells over strata.review.snapshots.

Tables are laid out by rich for the terminal's width (COLUMNS, or 80 when not a terminal): cells wrap,
nothing is cut to an ellipsis. `--json` is for machines, `--markdown` gives the Markdown the report uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from strata.review import revisions as rv
from strata.review.diffs import Snapshot, headline
from strata.review.snapshots import checkout, diff, list_snapshots

RepoOpt = Annotated[Path, typer.Option("--repo", help="Any folder inside the git+DVC project.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON instead of tables.")]
MarkdownOpt = Annotated[
    bool, typer.Option("--markdown", help="Markdown (as in the report) instead of tables.")
]
UNKNOWN = "?"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "–" if value is None else str(value)


def _grouped(snaps: list[Snapshot]) -> list[str]:
    """Notes and unavailable pieces, one line each, with every revision they apply to."""
    found: dict[str, list[str]] = {}
    for snap in snaps:
        for note in snap.notes:
            found.setdefault(note.replace(f" at {snap.rev}", ""), []).append(snap.rev)
        for u in snap.unavailable:
            found.setdefault(f"unavailable: '{u['path']}' {u['detail']}", []).append(snap.rev)
    return [f"{', '.join(revs)}: {text}" for text, revs in found.items()]


def data_table(snaps: list[Snapshot]) -> Any:
    from rich.table import Table

    table = Table(title="data per revision (oldest first)", title_justify="left")
    table.add_column("rev", overflow="fold")
    table.add_column("commit", no_wrap=True)
    table.add_column("date", no_wrap=True)
    table.add_column("source", overflow="fold")
    for name in ("partitions", "rows", "quarantined"):
        table.add_column(name, justify="right", no_wrap=True)
    for snap in snaps:
        first = [snap.rev, snap.sha[:8] if snap.sha else "-", snap.date[:10]]
        per_source = snap.sources()
        if not snap.pipeline:
            table.add_row(*first, "no pipeline", "-", "-", "-")
            continue
        if not per_source:
            read = snap.partitions is not None
            quarantined = _fmt(snap.quarantined()) if snap.clean is not None else UNKNOWN
            table.add_row(*first, *(["no data", "0", "0"] if read else [UNKNOWN] * 3), quarantined)
            continue
        for i, (source, counts) in enumerate(per_source.items()):
            cells = [
                str(counts[k]) if k in counts else UNKNOWN for k in ("partitions", "rows", "quarantined")
            ]
            table.add_row(*(first if i == 0 else ["", "", ""]), source, *cells)
    return table


def model_table(snaps: list[Snapshot]) -> Any:
    from rich.table import Table

    names: list[str] = []
    for snap in snaps:  # unreadable metrics still get their gated columns, shown as unknown
        names += headline(snap.metrics, snap.gate) if snap.metrics is not None else snap.gate
    names = list(dict.fromkeys(names))
    table = Table(title="model and metrics", title_justify="left")
    table.add_column("rev", overflow="fold")
    table.add_column("model", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right", overflow="fold")
    for snap in snaps:
        model = snap.model_md5[:8] if snap.model_md5 else "-"
        metrics = [UNKNOWN if snap.metrics is None else _fmt(snap.metrics.get(m)) for m in names]
        table.add_row(snap.rev, model, *metrics)
    return table


def list_command(
    rev: Annotated[
        list[str] | None, typer.Option("--rev", help="Revision(s); default all tags + HEAD.")
    ] = None,
    as_json: JsonOpt = False,
    repo: RepoOpt = Path(),
) -> None:
    """Per tag (or --rev): date, partitions and rows per source, quarantine, model, headline metrics."""
    snaps = list_snapshots(rv.repo_root(repo), rev)
    if as_json:
        typer.echo(json.dumps([s.to_json() for s in snaps], indent=2, default=str))
        return
    from rich.console import Console

    console = Console()
    console.print(data_table(snaps))
    console.print(model_table(snaps))
    for line in _grouped(snaps):
        console.print(line, markup=False, highlight=False)


def _emit(markdown: str, as_markdown: bool) -> None:
    from strata.review.render import echo_markdown

    if as_markdown:
        typer.echo(markdown)
    else:
        echo_markdown(markdown)


def show_command(
    rev: Annotated[str, typer.Argument(help="A tag, branch, commit or 'workspace'.")],
    as_json: JsonOpt = False,
    as_markdown: MarkdownOpt = False,
    repo: RepoOpt = Path(),
) -> None:
    """Everything one revision recorded: per-source data and quarantine, reasons, model, metrics."""
    from strata.review.collect import collect
    from strata.review.render import render_snapshot

    snap = collect(rv.repo_root(repo), rev)
    if as_json:
        typer.echo(json.dumps(snap.to_json(), indent=2, default=str))
    else:
        _emit(render_snapshot(snap), as_markdown)


def diff_command(
    base: Annotated[str, typer.Argument(help="The older revision.")],
    head: Annotated[str, typer.Argument(help="The newer revision (or 'workspace').")],
    as_json: JsonOpt = False,
    as_markdown: MarkdownOpt = False,
    repo: RepoOpt = Path(),
) -> None:
    """Partitions added/removed per source, row/quarantine deltas, schema, params and metrics diffs."""
    from strata.review.render import render_diff

    result = diff(rv.repo_root(repo), base, head)
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
    else:
        _emit(render_diff(result), as_markdown)


def checkout_command(
    rev: Annotated[str, typer.Argument(help="The revision whose data and model to materialize.")],
    to: Annotated[Path, typer.Option("--to", help="A new or empty folder outside the work tree.")],
    path: Annotated[list[str] | None, typer.Option("--path", help="Only these tracked paths.")] = None,
    repo: RepoOpt = Path(),
) -> None:
    """Materialize a revision's partitions, clean data, model, card and metrics into --to, md5-verified."""
    written, skipped = checkout(rv.repo_root(repo), rev, to, tuple(path) if path else None)
    for exc in skipped:
        typer.echo(f"skipped: {exc}", err=True)
    typer.echo(f"checked out {len(written)} files of {rev} into {to} (all md5-verified)")

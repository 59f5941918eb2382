"""The pull-request report: metrics, params and data diffs, plots of both revisions, and the gate.

``--head`` defaults to the workspace: CI runs ``dvc repro`` on the PR and the fresh metrics and plots are
uncommitted files. ``--base`` defaults to what CI compares against: the merge-base of HEAD with the default
branch (``origin/$GITHUB_BASE_REF``, ``origin/HEAD``, ``origin/main``, ``main``...), or the previous commit
when HEAD is on that branch. The gate is the head's ``gate.max_drop`` (the PR sets its own bar; a change to
it shows in the params diff); see strata.review.gate. By default the report and its plots go to
``.strata/report/`` (git-ignored), never into tracked folders.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path, PurePosixPath
from typing import Annotated

import typer

from strata.errors import DataUnavailable, RevisionError
from strata.review import revisions as rv
from strata.review.collect import PARAMS, collect
from strata.review.diffs import diff_snapshots
from strata.review.gate import GateResult, check_gate, enforce
from strata.review.layout import IMAGES, from_view
from strata.review.render import _cell, _table, render_diff

__all__ = ["GateResult", "Report", "check_gate", "enforce", "report"]
DEFAULT_OUT = Path(".strata") / "report" / "report.md"  # relative to the project root; .strata/ is ignored


def default_branch(root: Path) -> str | None:
    """What CI compares against: origin/$GITHUB_BASE_REF, origin/HEAD, then origin/main, main, ..."""
    candidates = []
    if base_ref := os.environ.get("GITHUB_BASE_REF"):
        candidates.append(f"origin/{base_ref}")
    with contextlib.suppress(RevisionError):
        candidates.append(rv.git(root, "rev-parse", "--abbrev-ref", "origin/HEAD").strip())
    candidates += ["origin/main", "origin/master", "main", "master"]
    return next((name for name in candidates if name and rv.commit_of(root, name)), None)


def default_base(root: Path) -> tuple[str, str]:
    """(base, why): the merge-base of HEAD with the default branch; on that branch, the previous commit."""
    head = rv.commit_of(root, "HEAD")
    if head is None:
        raise RevisionError("no commit yet: nothing to compare with")
    branch = default_branch(root)
    if branch is not None:
        base = ""
        with contextlib.suppress(RevisionError):  # unrelated histories: no merge-base
            base = rv.git(root, "merge-base", "HEAD", branch).strip()
        if base and base != head:
            return base, f"merge-base of HEAD and {branch}"
    if rv.commit_of(root, "HEAD~1") is None:
        raise RevisionError("HEAD is the first commit: there is no base to compare with; pass --base REV")
    on = f"HEAD is on {branch}" if branch else "no default branch found"
    return "HEAD~1", f"the previous commit: {on}"


@dataclasses.dataclass
class Report:
    markdown: str
    gate: list[GateResult]
    unreadable: str | None = None  # why the gate could not be evaluated (metrics of a side unreadable)

    def enforce(self) -> None:
        """Raise if the gate failed, or if it could not be evaluated at all."""
        if self.unreadable:
            raise RevisionError(f"gate: not evaluated, {self.unreadable}")
        enforce(self.gate)


def gate_params(view: rv.View) -> dict[str, float]:
    from strata.config import GateParams
    from strata.typed import build

    raw = view.read_yaml(PARAMS).get("gate")
    return build(GateParams, raw, f"{PARAMS}@{view.rev.name}:gate").max_drop


def _gate_section(results: list[GateResult], unreadable: str | None) -> list[str]:
    if unreadable:
        return [f"**Gate: NOT EVALUATED** ({unreadable})"]
    if not results:
        return [f"**Gate:** none configured ({PARAMS} `gate.max_drop`)"]
    verdict = "passed" if all(r.ok for r in results) else "FAILED"
    rows = [
        [r.metric, _cell(r.base), _cell(r.head), _cell(r.drop), _cell(r.max_drop), r.status] for r in results
    ]
    return [f"**Gate: {verdict}**", "", *_table(["metric", "base", "head", "drop", "max drop", ""], rows, 4)]


def copy_plots(view: rv.View, dest: Path) -> list[Path]:
    """The image plots dvc.yaml declares (files, or folders of images) at this revision, copied into
    ``dest`` and checked against DVC's md5."""
    import hashlib

    images: dict[str, str | None] = {}
    for declared in from_view(view).plots:
        for path, md5 in view.files(declared).items():
            if PurePosixPath(path).suffix.lower() in IMAGES:
                images[path] = md5
    written = []
    for path, md5 in sorted(images.items()):
        data = view.read_bytes(path)
        if md5 is not None and hashlib.md5(data).hexdigest() != md5:  # noqa: S324 - DVC's content address
            raise RevisionError(f"'{path}' at {view.rev.name}: bytes do not match DVC's md5 {md5}")
        target = dest / PurePosixPath(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(target)
    return written


def _plots_section(plots: dict[str, list[Path]], rel_to: Path) -> list[str]:
    names = sorted({p.name for files in plots.values() for p in files})
    if not names:
        return ["no image plots (dvc.yaml `plots:`) at either revision"]
    by_side = {side: {p.name: p for p in files} for side, files in plots.items()}

    def image(side: str, name: str) -> str:
        path = by_side[side].get(name)
        return f"![{side} {name}]({Path(os.path.relpath(path, rel_to)).as_posix()})" if path else "–"

    return _table(
        ["plot", "base", "head"], [[name, image("base", name), image("head", name)] for name in names]
    )


def _same(a: rv.Rev, b: rv.Rev, root: Path) -> str | None:
    if a.sha is not None and a.sha == b.sha:
        return f"base `{a.name}` and head `{b.name}` are the same commit: nothing changed between them"
    if b.sha is None and a.sha is not None and a.sha == rv.commit_of(root, "HEAD"):
        return f"base `{a.name}` is HEAD itself: this compares HEAD's recorded results with the work tree"
    return None


def report(
    root: Path, base: str, head: str = rv.WORKSPACE, out: Path | None = None, plots_dir: Path | None = None
) -> Report:
    """The report's Markdown and the gate results (not enforced here)."""
    a, b = rv.resolve(root, base), rv.resolve(root, head)
    schemas: dict[str, object] = {}
    snap_a, snap_b = collect(root, a, schema_cache=schemas), collect(root, b, schema_cache=schemas)
    with rv.View(root, b) as head_view:
        max_drop = gate_params(head_view)
    unreadable = None
    missing = [f"the metrics at {s.rev}" for s in (snap_a, snap_b) if s.metrics is None]
    if missing and max_drop:
        unreadable = f"{' and '.join(missing)} could not be read (see Not available)"
    results = check_gate(max_drop, snap_a.metrics or {}, snap_b.metrics or {}) if not unreadable else []
    lines = [f"# strata report: `{a.name}` → `{b.name}`", ""]
    if note := _same(a, b, root):
        lines += [f"> {note}", ""]
    lines += [*_gate_section(results, unreadable), "", render_diff(diff_snapshots(snap_a, snap_b))]
    if plots_dir is not None:
        plots: dict[str, list[Path]] = {}
        for side, rev in (("base", a), ("head", b)):
            with rv.View(root, rev) as view:
                try:
                    plots[side] = copy_plots(view, plots_dir / side)
                except DataUnavailable as exc:
                    plots[side] = []
                    lines += ["", f"- {side} plots unavailable: {exc}"]
        lines += ["", "## Plots", *_plots_section(plots, (out or Path("report.md")).resolve().parent)]
    return Report("\n".join(lines) + "\n", results, unreadable)


def _self_ignoring(folder: Path) -> None:
    """Make strata's own folder ignore itself (as .pytest_cache does), whatever the project's .gitignore."""
    marker = folder / ".gitignore"
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        marker.write_text("# written by strata: local state and reports, never commit them\n*\n")


def command(
    base: Annotated[
        str | None,
        typer.Option(
            "--base", help="Revision to compare against; default the merge-base with the default branch."
        ),
    ] = None,
    head: Annotated[
        str, typer.Option("--head", help="Revision under review; default the work tree.")
    ] = rv.WORKSPACE,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Markdown file ('-' for stdout); default .strata/report/report.md."),
    ] = None,
    plots_dir: Annotated[
        Path | None,
        typer.Option("--plots-dir", help="Copy both revisions' image plots here (default: beside --out)."),
    ] = None,
    repo: Annotated[Path, typer.Option("--repo", help="Any folder inside the project.")] = Path(),
) -> None:
    """Markdown PR report: metrics, params and data diffs, plots of both revisions; fails on the gate."""
    from strata.atomic import write_text

    root = rv.repo_root(repo)
    if base is None:
        base, why = default_base(root)
        typer.echo(f"report: base {base[:12]} ({why})", err=True)
    to_stdout = out is not None and str(out) == "-"
    if out is None:
        out = root / DEFAULT_OUT
        _self_ignoring(root / DEFAULT_OUT.parts[0])
    if plots_dir is None and not to_stdout:
        plots_dir = out.parent / f"{out.stem}_plots"
    result = report(root, base, head, None if to_stdout else out, plots_dir)
    if to_stdout:
        typer.echo(result.markdown, nl=False)
    else:
        write_text(out, result.markdown)
        typer.echo(f"report: wrote {out}" + (f" and plots under {plots_dir}" if plots_dir else ""), err=True)
    result.enforce()

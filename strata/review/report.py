"""The pull-request report: metrics, params and data diffs, plots of both revisions, and the gate.

``--head`` defaults to the workspace: in CI the job runs ``dvc repro`` on the PR and the fresh metrics and
plots are uncommitted files in the work tree; ``--head HEAD`` (or any revision) compares committed results.
The gate is read from the head's params.yaml (``gate.max_drop``): the PR under review sets its own bar, and
a reviewer sees a change to that bar in the params diff. Every gated metric counts as higher-is-better.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer

from strata.errors import GateFailed, RevisionError
from strata.review import revisions as rv
from strata.review import snapshots as snap
from strata.review.render import _cell, _table, render_diff

PLOTS_DIR = "eval/plots"
EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class GateResult:
    metric: str
    base: float | None
    head: float | None
    max_drop: float

    @property
    def drop(self) -> float | None:
        return None if self.base is None or self.head is None else self.base - self.head

    @property
    def ok(self) -> bool:
        if self.base is None:  # a new metric has nothing to regress from
            return True
        return self.drop is not None and self.drop <= self.max_drop + EPS

    def message(self) -> str:
        if self.head is None:
            return f"{self.metric} is missing at head (base {self.base:.4f})"
        return (
            f"{self.metric} dropped from {self.base:.4f} (base) to {self.head:.4f} (head): "
            f"drop {self.drop:.4f} > max_drop {self.max_drop:.4f}"
        )


def check_gate(max_drop: dict[str, float], base: dict[str, Any], head: dict[str, Any]) -> list[GateResult]:
    """One result per gated metric (dotted path into the flattened metrics), in the gate's order."""
    return [
        GateResult(name, snap._number(base.get(name)), snap._number(head.get(name)), float(limit))
        for name, limit in max_drop.items()
    ]


def enforce(results: list[GateResult]) -> None:
    """Raise GateFailed naming every metric that regressed past its threshold."""
    failed = [r.message() for r in results if not r.ok]
    if failed:
        raise GateFailed("gate: " + "; ".join(failed))


def gate_params(root: Path, head: rv.Rev) -> dict[str, float]:
    from strata.config import GateParams
    from strata.typed import build

    raw = rv.read_yaml(root, head, snap.PARAMS).get("gate")
    return build(GateParams, raw, f"{snap.PARAMS}@{head.name}:gate").max_drop


def _gate_section(results: list[GateResult]) -> list[str]:
    if not results:
        return ["**Gate:** none configured (params.yaml `gate.max_drop`)"]
    verdict = "passed" if all(r.ok for r in results) else "FAILED"
    rows = [
        [r.metric, _cell(r.base), _cell(r.head), _cell(r.drop), _cell(r.max_drop), "ok" if r.ok else "FAIL"]
        for r in results
    ]
    return [f"**Gate: {verdict}**", "", *_table(["metric", "base", "head", "drop", "max drop", ""], rows)]


def copy_plots(root: Path, rev: rv.Rev, dest: Path) -> list[Path]:
    """The PNGs under eval/plots at ``rev`` copied (md5-verified) into ``dest``."""
    if rev.sha is None:
        names = sorted(p.name for p in (root / PLOTS_DIR).glob("*.png"))
    elif _tracked(root, rev):
        names = sorted(
            PurePosixPath(p).name for p in rv.tracked_files(root, rev, PLOTS_DIR) if p.endswith(".png")
        )
    else:
        return []
    written = []
    for name in names:
        data = rv.read_bytes(root, rev, f"{PLOTS_DIR}/{name}")
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(data)
        written.append(dest / name)
    return written


def _tracked(root: Path, rev: rv.Rev) -> bool:
    try:
        rv.locate(root, rev, PLOTS_DIR)
    except RevisionError:
        return False
    return True


def _plots_section(plots: dict[str, list[Path]], rel_to: Path) -> list[str]:
    names = sorted({p.name for files in plots.values() for p in files})
    if not names:
        return ["no plots (eval/plots/*.png) at either revision"]
    by_side = {side: {p.name: p for p in files} for side, files in plots.items()}

    def image(side: str, name: str) -> str:
        path = by_side[side].get(name)
        return f"![{side} {name}]({Path(os.path.relpath(path, rel_to)).as_posix()})" if path else "–"

    return _table(
        ["plot", "base", "head"], [[name, image("base", name), image("head", name)] for name in names]
    )


def report(
    root: Path, base: str, head: str = rv.WORKSPACE, out: Path | None = None, plots_dir: Path | None = None
) -> tuple[str, list[GateResult]]:
    """The report's Markdown and the gate results (not enforced here)."""
    a, b = snap.collect(root, base), snap.collect(root, head)
    d = snap.diff_snapshots(root, a, b)
    head_rev = rv.resolve(root, head)
    results = check_gate(gate_params(root, head_rev), a.metrics, b.metrics)
    lines = [f"# strata report: `{base}` → `{head}`", "", *_gate_section(results), "", render_diff(d)]
    if plots_dir is not None:
        plots = {
            side: copy_plots(root, rv.resolve(root, rev), plots_dir / side)
            for side, rev in (("base", base), ("head", head))
        }
        lines += ["", "## Plots", *_plots_section(plots, (out or Path("report.md")).resolve().parent)]
    return "\n".join(lines) + "\n", results


def command(
    base: Annotated[str, typer.Option("--base", help="The revision to compare against (e.g. origin/main).")],
    head: Annotated[
        str, typer.Option("--head", help="Revision under review; default the work tree.")
    ] = rv.WORKSPACE,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the Markdown here (default stdout).")
    ] = None,
    plots_dir: Annotated[
        Path | None,
        typer.Option("--plots-dir", help="Copy both revisions' PNG plots here (default: beside --out)."),
    ] = None,
    repo: Annotated[Path, typer.Option("--repo", help="Any folder inside the project.")] = Path(),
) -> None:
    """Markdown PR report: metrics, params and data diffs, plots of both revisions; fails on the gate."""
    from strata.atomic import write_text

    if plots_dir is None and out is not None:
        plots_dir = out.parent / f"{out.stem}_plots"
    markdown, results = report(rv.repo_root(repo), base, head, out, plots_dir)
    if out is None:
        typer.echo(markdown, nl=False)
    else:
        write_text(out, markdown)
        typer.echo(f"report: wrote {out}" + (f" and plots under {plots_dir}" if plots_dir else ""), err=True)
    enforce(results)

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

from stages import revisions as rv
from stages import snapshots as snap
from stages.errors import GateFailed, RevisionError

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
    from stages.config import GateParams, build

    raw = rv.read_yaml(root, head, snap.PARAMS).get("gate")
    return build(GateParams, raw, f"{snap.PARAMS}@{head.name}:gate").max_drop


# ------------------------------------------------------------------------------------------- markdown


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "–" if value is None else str(value).replace("|", "\\|")


def _delta(value: float | None) -> str:
    return "–" if value is None else f"{value:+.4f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render_snapshot(s: snap.Snapshot) -> str:
    """Markdown for `snapshots show`."""
    lines = [
        f"# snapshot {s.rev} ({s.sha[:8] if s.sha else 'uncommitted'}, {s.date})",
        "",
        f"model md5: `{s.model_md5 or '-'}`",
        "",
        "## Data",
    ]
    keys = ["partitions", "rows", "rows_in", "clean", "quarantined", "duplicates"]
    rows = [[src, *(str(c.get(k, 0)) for k in keys)] for src, c in s.sources().items()]
    lines += _table(["source", *keys], rows) + ["", "## Quarantine reasons"]
    lines += _table(["reason", "rows"], [[_cell(r), str(n)] for r, n in snap.reasons(s.clean).most_common()])
    lines += ["", "## Metrics"]
    lines += _table(["metric", "value"], [[k, _cell(v)] for k, v in sorted(s.metrics.items())])
    if s.unavailable:
        lines += ["", f"not in the cache nor on the remote: {', '.join(s.unavailable)}"]
    return "\n".join(lines)


def _data_section(d: dict[str, Any]) -> list[str]:
    rows = []
    for source, r in d["sources"].items():
        rows.append(
            [
                source,
                f"+{len(r['added'])} / -{len(r['removed'])}",
                *(
                    f"{r[k]['base']} → {r[k]['head']} ({r[k]['delta']:+d})"
                    for k in ("partitions", "rows", "quarantined")
                ),
            ]
        )
    lines = ["## Data", *_table(["source", "partitions +/-", "partitions", "rows", "quarantined"], rows)]
    for kind, changes in d["schema"].items():
        for source, c in changes.items():
            parts = [f"+{col}" for col in c["added"]] + [f"-{col}" for col in c["removed"]]
            parts += [f"{col}: {a} → {b}" for col, (a, b) in c["retyped"].items()]
            lines.append(f"- schema ({kind}) `{source}`: {', '.join(parts)}")
    return lines


def _rev(side: dict[str, Any]) -> str:
    """`v1` (1a2b3c4d), or just `workspace` for the uncommitted work tree."""
    return f"`{side['rev']}` ({side['sha'][:8]})" if side["sha"] else f"`{side['rev']}`"


def render_diff(d: dict[str, Any]) -> str:
    """Markdown for `snapshots diff` and the body of the report: data, schema, params, metrics."""
    base, head = d["base"], d["head"]
    lines = [
        f"base {_rev(base)} → head {_rev(head)}",
        "",
        *_data_section(d),
        "",
    ]
    model_changed = base["model_md5"] != head["model_md5"]
    lines += [
        f"model: `{base['model_md5'] or '-'}` → `{head['model_md5'] or '-'}`"
        + ("" if model_changed else " (unchanged)"),
        "",
        "## Params",
    ]
    params = [[f"`{r['key']}`", _cell(r["base"]), _cell(r["head"])] for r in d["params"]]
    lines += _table(["key", "base", "head"], params) if params else ["no params changed"]
    lines += ["", "## Metrics"]
    metrics = [[r["metric"], _cell(r["base"]), _cell(r["head"]), _delta(r["delta"])] for r in d["metrics"]]
    lines += _table(["metric", "base", "head", "Δ"], metrics) if metrics else ["no metrics"]
    missing = [f"{side}: {', '.join(paths)}" for side, paths in d.get("unavailable", {}).items() if paths]
    if missing:
        lines += ["", f"not in the cache nor on the remote: {'; '.join(missing)}"]
    return "\n".join(lines)


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
    from stages.io import write_text

    if plots_dir is None and out is not None:
        plots_dir = out.parent / f"{out.stem}_plots"
    markdown, results = report(rv.repo_root(repo), base, head, out, plots_dir)
    if out is None:
        typer.echo(markdown, nl=False)
    else:
        write_text(out, markdown)
        typer.echo(f"report: wrote {out}" + (f" and plots under {plots_dir}" if plots_dir else ""), err=True)
    enforce(results)

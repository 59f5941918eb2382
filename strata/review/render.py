"""Markdown for reviewers: a snapshot, a diff between two snapshots, tables. Pure functions of their input."""

from __future__ import annotations

from typing import Any


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "–" if value is None else str(value).replace("|", "\\|")


def _delta(value: float | None) -> str:
    return "–" if value is None else f"{value:+.4f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render_snapshot(s: Any) -> str:
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
    lines += _table(["reason", "rows"], [[_cell(r), str(n)] for r, n in s.reason_counts().most_common()])
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

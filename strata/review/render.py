"""Markdown for reviewers: a snapshot, a diff between two snapshots, tables. Pure functions of their input,
plus `echo_markdown`, which lays the same Markdown out for a terminal of any width (rich).

Unknown is never zero: a count that could not be read prints as `?` and the reason is listed below the table;
a metric a revision does not have prints as `–`. Counts print as counts, other metrics with 4 decimals.
"""

from __future__ import annotations

from typing import Any

from strata.review.diffs import Snapshot, ordered

UNKNOWN = "?"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "–" if value is None else str(value).replace("|", "\\|")


def _delta(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:+d}" if isinstance(value, int) else f"{value:+.4f}"


def _table(header: list[str], rows: list[list[str]], right: int = 0) -> list[str]:
    """A Markdown table; the last ``right`` columns are right-aligned (numbers)."""
    aligns = ["---"] * (len(header) - right) + ["--:"] * right
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(aligns) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _count(value: int | None) -> str:
    return UNKNOWN if value is None else str(value)


def _missing(unavailable: list[dict[str, str]], notes: list[str], who: str = "") -> list[str]:
    lines = [f"- {who}{n}" for n in notes]
    return lines + [f"- {who}unavailable: `{u['path']}` {u['detail']}" for u in unavailable]


def render_snapshot(s: Snapshot) -> str:
    """Markdown for `snapshots show`."""
    lines = [f"# snapshot {s.rev} ({s.sha[:8] if s.sha else 'uncommitted'}, {s.date})", ""]
    if not s.pipeline:
        return "\n".join([*lines, *_missing([], s.notes)])
    lines += [f"model md5: `{s.model_md5 or '-'}`", "", "## Data"]
    keys = ["partitions", "rows", "rows_in", "clean", "quarantined", "duplicates"]
    per_source = s.sources()
    rows = [[src, *(_count(c.get(k)) for k in keys)] for src, c in per_source.items()]
    lines += _table(["source", *keys], rows, right=len(keys)) if rows else [f"no data ({UNKNOWN})"]
    lines += _missing(s.unavailable, s.notes)
    lines += ["", "## Quarantine reasons"]
    if s.clean is None:
        lines.append(f"unknown ({UNKNOWN}): the clean manifest could not be read")
    else:
        found = s.reason_counts().most_common()
        lines += (
            _table(["reason", "rows"], [[_cell(r), str(n)] for r, n in found], right=1) if found else ["none"]
        )
    lines += ["", "## Metrics"]
    if s.metrics is None:
        lines.append(f"unknown ({UNKNOWN}): the metrics could not be read")
    else:
        keys = ordered(set(s.metrics), s.metrics, s.gate)
        lines += _table(["metric", "value"], [[k, _cell(s.metrics[k])] for k in keys], right=1)
    return "\n".join(lines)


def _span(c: dict[str, int | None]) -> str:
    delta = "" if c["delta"] is None else f" ({c['delta']:+d})"
    return f"{_count(c['base'])} → {_count(c['head'])}{delta}"


def _data_section(d: dict[str, Any]) -> list[str]:
    rows = []
    for source, r in d["sources"].items():
        moved = UNKNOWN if r["added"] is None else f"+{len(r['added'])} / -{len(r['removed'])}"
        rows.append([source, moved, *(_span(r[k]) for k in ("partitions", "rows", "quarantined"))])
    header = ["source", "partitions +/-", "partitions", "rows", "quarantined"]
    lines = ["## Data", *(_table(header, rows, right=4) if rows else ["no data at either revision"])]
    for kind, changes in d["schema"].items():
        if changes is None:
            lines.append(f"- schema ({kind}): unknown ({UNKNOWN}), not readable at both revisions")
            continue
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
    lines = [f"base {_rev(base)} → head {_rev(head)}", "", *_data_section(d), ""]
    changed = base["model_md5"] != head["model_md5"]
    lines += [
        f"model: `{base['model_md5'] or '-'}` → `{head['model_md5'] or '-'}`"
        + ("" if changed else " (unchanged)"),
        "",
        "## Params",
    ]
    params = [[f"`{r['key']}`", _cell(r["base"]), _cell(r["head"])] for r in d["params"]]
    lines += _table(["key", "base", "head"], params) if params else ["no params changed"]
    lines += ["", "## Metrics"]
    if d["metrics"] is None:
        lines.append(f"unknown ({UNKNOWN}): the metrics of a revision could not be read (below)")
    else:
        rows = [[r["metric"], _cell(r["base"]), _cell(r["head"]), _delta(r["delta"])] for r in d["metrics"]]
        lines += _table(["metric", "base", "head", "Δ"], rows, right=3) if rows else ["no metrics"]
    missing = []
    for side in ("base", "head"):
        who = f"{side} `{d[side]['rev']}`: "
        missing += _missing(d["unavailable"][side], d.get("notes", {}).get(side, []), who)
    if missing:
        lines += ["", "## Not available", *missing]
    return "\n".join(lines)


def echo_markdown(text: str) -> None:
    """Print Markdown laid out for this terminal's width (tables wrap their cells instead of the lines)."""
    from rich.console import Console
    from rich.markdown import Markdown

    Console(soft_wrap=False).print(Markdown(text, hyperlinks=False))

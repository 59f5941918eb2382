"""Figures 1, 2a, 2b: `strata validate` vs a raw pyarrow scan and vs the same contract in pandas."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from common import BENCH, Figure, Stages, interleave, med, mib, peak, rate, run, validate_counts


def fig_validate(st: Stages, parts: Path, rows: int, reps: int) -> list[Figure]:
    files = sorted(str(p) for p in parts.rglob("*.parquet"))
    params = str(st.params)
    jobs = {
        "scan": lambda rep: run([sys.executable, str(BENCH / "floors.py"), "scan", *files], st.env),
        "validate": lambda rep: st.validate(parts, st.work / "validate-out"),
        "pandas": lambda rep: run(
            [
                sys.executable,
                str(BENCH / "pandas_baseline.py"),
                params,
                str(parts),
                str(st.work / "pandas-out"),
            ],
            st.env,
        ),
    }
    res = interleave(reps, jobs)
    scan, val, pdt = med(res["scan"]), med(res["validate"]), med(res["pandas"])
    ours, theirs = validate_counts(st.work / "validate-out"), json.loads(res["pandas"][-1].out.strip())
    same = "same" if ours == theirs else f"DIFFERENT: validate {ours} vs pandas {theirs}"
    v_rss, p_rss, s_rss = peak(res["validate"]), peak(res["pandas"]), peak(res["scan"])
    where = f"{len(files)} partitions, {rows:,} rows"
    return [
        Figure(
            "1 validate vs raw pyarrow scan",
            "validate",
            rate(rows, val),
            "scan",
            rate(rows, scan),
            scan / val,
            ">= 0.5",
            scan / val >= 0.5,
            f"{where}; scan peak RSS {mib(s_rss)}",
        ),
        Figure(
            "2a validate vs pandas read-all (speed)",
            "validate",
            rate(rows, val),
            "pandas",
            rate(rows, pdt),
            pdt / val,
            ">= 1",
            pdt / val >= 1,
            f"{where}; row accounting of the two: {same} ({ours})",
        ),
        Figure(
            "2b validate vs pandas read-all (peak RSS)",
            "validate",
            mib(v_rss),
            "pandas",
            mib(p_rss),
            v_rss / p_rss,
            "<= 0.25",
            v_rss / p_rss <= 0.25,
            "peak RSS of each process, measured alone",
        ),
    ]

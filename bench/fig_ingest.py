"""Figure 3: `strata ingest` (sha256 + CSV -> zstd Parquet partition) vs `pandas.read_csv` of the files."""

from __future__ import annotations

import sys
from pathlib import Path

from common import BENCH, Figure, Stages, interleave, med, mib, peak, rate, run


def fig_ingest(
    st: Stages, landing: Path, csvs: list[Path], rows: int, reps: int, parts: Path
) -> list[Figure]:
    jobs = {
        "ingest": lambda rep: st.ingest(landing, parts),
        "read_csv": lambda rep: run(
            [sys.executable, str(BENCH / "floors.py"), "read_csv", *map(str, csvs)], st.env
        ),
    }
    res = interleave(reps, jobs)
    a, b = med(res["ingest"]), med(res["read_csv"])
    return [
        Figure(
            "3 ingest CSV vs pandas.read_csv",
            "ingest",
            rate(rows, a),
            "read_csv",
            rate(rows, b),
            b / a,
            ">= 1",
            b / a >= 1,
            f"{len(csvs)} CSV files x {rows // len(csvs):,} rows; peak RSS ingest "
            f"{mib(peak(res['ingest']))}, read_csv {mib(peak(res['read_csv']))} (read_csv holds a whole "
            f"file; ingest streams 8 MiB blocks: figure 4 shows it does not grow)",
        )
    ]

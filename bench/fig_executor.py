"""Figures 7a, 7b: `strata validate` of many 1M-row datums on a dask LocalCluster (2 worker processes) vs
the local pool (2 processes) vs one process; the three outputs are compared byte for byte.

Each is the whole `strata validate` process (cluster or pool start-up included), reps interleaved."""

from __future__ import annotations

import shutil
from pathlib import Path

from common import Figure, Stages, bench_params, interleave, link_landing, med, rate, tree_hashes

KINDS = {  # label -> executor params
    "dask": {"kind": "dask", "address": "", "workers": 2},
    "pool": {"kind": "local", "workers": 2},
    "one": {"kind": "local", "workers": 1},
}


def fig_executor(st: Stages, snap: Path, csvs: list[Path], rows: int, reps: int) -> tuple[list[Figure], dict]:
    """Returns the figures and what fig_paper needs (seconds per datum on one worker, datums, rows)."""
    work = st.work
    landing = link_landing(work / "landing-f7", csvs)
    parts = work / "f7-parts"
    st.ingest(landing, parts)  # untimed: the partitions all three validate
    stages = {
        k: Stages(work, st.env, bench_params(work / f"f7-{k}.yaml", "landing", snap, **v))
        for k, v in KINDS.items()
    }
    outs = {k: work / f"f7-out-{k}" for k in KINDS}
    res = interleave(reps, {k: (lambda rep, k=k: stages[k].validate(parts, outs[k])) for k in KINDS})
    hashes = {k: {**tree_hashes(outs[k] / "clean"), **tree_hashes(outs[k] / "quarantine")} for k in KINDS}
    part_bytes = sum(p.stat().st_size for p in parts.rglob("*.parquet"))
    clean_bytes = sum(p.stat().st_size for p in (outs["one"] / "clean").rglob("*.parquet"))
    same = "same bytes" if hashes["dask"] == hashes["pool"] == hashes["one"] else "OUTPUTS DIFFER"
    dask, pool, one = med(res["dask"]), med(res["pool"]), med(res["one"])
    n = len(csvs)
    note = f"{n} datums x {rows // n:,} rows, medians of {reps}; the three outputs: {same}"
    note += f"; pool vs one process {one / pool:.2f}x"
    for path in (parts, *outs.values()):
        shutil.rmtree(path, ignore_errors=True)
    figures = [
        Figure(
            "7a validate: dask LocalCluster vs local pool",
            "dask 2",
            rate(rows, dask),
            "pool 2",
            rate(rows, pool),
            pool / dask,
            ">= 0.9",
            pool / dask >= 0.9,
            note,
        ),
        Figure(
            "7b validate: dask LocalCluster vs 1 process",
            "dask 2",
            rate(rows, dask),
            "1 process",
            rate(rows, one),
            one / dask,
            ">= 1.7",
            one / dask >= 1.7,
            "the same runs",
        ),
    ]
    measured = {"datum_s": one / n, "datum_rows": rows // n, "in_bytes_per_row": part_bytes / rows}
    return figures, {**measured, "out_bytes_per_row": clean_bytes / rows}

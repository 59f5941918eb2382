"""Figure 5: `dvc repro validate` after one batch is added to N-1 processed, vs all N from scratch."""

from __future__ import annotations

import os
import shutil
import statistics
from pathlib import Path

from common import (
    BIN,
    Figure,
    Run,
    bench_params,
    copy_project,
    environment,
    git_project,
    interleave,
    link_landing,
    med,
    run,
)


def fig_incremental(work: Path, snap: Path, batches: list[Path], reps: int) -> list[Figure]:
    """`dvc repro validate` after adding 1 batch to N-1 processed, vs all N from scratch."""

    def project(name: str, files: list[Path]) -> tuple[Path, dict[str, str]]:
        dest = copy_project(work / name)
        env = environment(dest)
        bench_params(dest / "params.yaml", "feed", dest)
        link_landing(dest / "feed", files)
        git_project(dest, env, "/feed/")
        return dest, env

    dvc = [str(BIN / "dvc"), "repro", "validate"]
    inc, inc_env = project("f5-incremental", batches[:-1])
    run(dvc, inc_env, inc)  # the N-1 batches already processed (untimed)
    noop = [run(dvc, inc_env, inc) for _ in range(2)]
    new = inc / "feed" / "acme" / batches[-1].name

    def scratch(rep: int) -> Run:
        dest, env = project(f"f5-scratch-{rep}", batches)
        try:
            return run(dvc, env, dest)
        finally:
            shutil.rmtree(dest, ignore_errors=True)

    def incremental(rep: int) -> Run:
        os.link(batches[-1], new)
        timed = run(dvc, inc_env, inc)
        new.unlink()
        run(dvc, inc_env, inc)  # back to N-1 batches (untimed)
        return timed

    res = interleave(reps, {"scratch": scratch, "incremental": incremental})
    a, b = med(res["incremental"]), med(res["scratch"])
    rows = sum(1 for _ in batches[0].open()) - 1
    return [
        Figure(
            "5 dvc repro: +1 batch vs all from scratch",
            "incremental",
            f"{a:.1f}s",
            "scratch",
            f"{b:.1f}s",
            a / b,
            "<= 0.15",
            a / b <= 0.15,
            f"`dvc repro validate` (ingest+validate) in a temp git+dvc copy; {len(batches)} CSV batches x "
            f"{rows:,} rows, 1 added to {len(batches) - 1} processed; no-op repro in the same state "
            f"{statistics.median(r.wall for r in noop):.1f}s (the fixed cost an added batch cannot avoid)",
        )
    ]

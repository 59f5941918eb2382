"""Figure 8: scheduling overhead per datum at 10,000 tiny datums (a task that returns 1 KB), and what the
client pays per datum to write results (strata.datums.Ledger: two small files + a journal line, then the
manifest of all of them).

    python bench/fig_overhead.py --measure N     one JSON line (run by bench/run.py in its own process)

Backends are started and warmed up before the clock starts (their start-up is in figure 7); the overhead is
wall time / datums of `strata.executor.run` over N jobs, so it includes submission, the window, result
transfer and ordering, the whole loop a stage runs.
"""

from __future__ import annotations

import json
import operator
import sys
import tempfile
import time
from pathlib import Path

WARMUP = 200


def _timed(backend: object, n: int) -> float:
    from strata import executor as ex
    from strata.config import ExecutorParams

    jobs = [ex.Job(f"s/{i:016x}", (b"x", 1024)) for i in range(n)]
    list(ex.run(operator.mul, jobs[:WARMUP], ExecutorParams(), "warm-up", backend=backend))  # type: ignore[arg-type]
    started = time.perf_counter()
    done = sum(1 for _ in ex.run(operator.mul, jobs, ExecutorParams(), "t", backend=backend))  # type: ignore[arg-type]
    assert done == n
    return (time.perf_counter() - started) / n


def _ledger(n: int, big: int = 10, big_bytes: int = 32 << 20) -> tuple[float, float, float]:
    """(seconds per tiny datum committed, seconds for the manifest of n, MB/s committing big results)."""
    from strata import datums

    with tempfile.TemporaryDirectory(prefix="strata-bench-ledger-") as tmp:
        dirs = {"clean": Path(tmp, "clean"), "quarantine": Path(tmp, "quarantine")}
        ledger = datums.Ledger("bench", dirs, {})
        started = time.perf_counter()
        for i in range(n):
            entry = {"input": f"{i}", "fingerprint": "f", "rows_in": 1, "reasons": {}}
            outputs = {"clean": b"x" * 1024, "quarantine": b"y" * 1024}
            ledger.commit(f"s/{i:016x}", f"{i:016x}", outputs, entry)
        commit = (time.perf_counter() - started) / n
        started = time.perf_counter()
        ledger.finish()
        finish = time.perf_counter() - started
        ledger = datums.Ledger("bench", {"clean": Path(tmp, "big")}, {})
        blob = bytes(range(256)) * (big_bytes // 256)
        started = time.perf_counter()
        for i in range(big):
            ledger.commit(f"s/{i:016x}", "big", {"clean": blob}, {})
        disk = big * big_bytes / 1e6 / (time.perf_counter() - started)
        ledger.close()
        return commit, finish, disk


def measure(n: int) -> dict[str, float]:
    from strata.config import ExecutorParams
    from strata.executor import backends

    result: dict[str, float] = {}
    for name, make in (
        ("inline", backends.Inline),
        ("pool", lambda: backends.LocalPool(2)),
        ("dask", lambda: backends.DaskCluster(ExecutorParams(kind="dask", workers=2))),
    ):
        backend = make()
        try:
            result[f"{name}_ms"] = _timed(backend, n) * 1000
        finally:
            backend.close()
    commit, finish, disk = _ledger(n)
    result["commit_ms"], result["manifest_s"], result["disk_mb_s"] = commit * 1000, finish, disk
    return result


def fig_overhead(env: dict[str, str], datums: int) -> tuple[list, dict[str, float]]:
    from common import BENCH, Figure, run

    got = json.loads(run([sys.executable, str(BENCH / "fig_overhead.py"), "--measure", str(datums)], env).out)
    note = (
        f"{datums:,} datums, a 1 KB result each; pool {got['pool_ms']:.2f} ms, in-process "
        f"{got['inline_ms']:.3f} ms; the client writes a datum's results in {got['commit_ms']:.2f} ms "
        f"and the manifest of all {datums:,} in {got['manifest_s']:.2f} s"
    )
    figure = Figure(
        "8 scheduling overhead per datum (dask)",
        "dask 2",
        f"{got['dask_ms']:.2f} ms",
        "goal",
        "5 ms",
        got["dask_ms"] / 5,
        "<= 1 (<= 5 ms)",
        got["dask_ms"] <= 5,
        note,
    )
    return [figure], got


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[sys.argv.index("--measure") + 1]))))

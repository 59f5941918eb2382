"""Scale on paper: from this run's measurements (figure 7: seconds per datum on one worker; figure 8: the
scheduler's and the client's cost per datum; fig_s3: S3 requests per datum), the projected wall time and
cost of a day of 100,000 delivered batches on 10 and 100 dask workers, and where it stops scaling.

Model: tasks run in parallel on W workers, while two things stay serial: the scheduler (one task at a
time) and the client, which reads each partition to ship it (until workers read the raw tier themselves),
receives the outputs and writes them with a journal line. The day takes the longest of the three lanes;
adding workers helps until the compute lane is shorter than the serial ones: W* = compute / serial.
Prices are assumptions, named here, not measured.
"""

from __future__ import annotations

BATCHES = 100_000
WORKERS = (10, 100)
ROWS_PER_BATCH = (10_000, 100_000)
NETWORK_MB_S = 1250.0  # the client's network (10 Gbit/s, assumed); its disk is measured (figure 8)
WORKER_HOUR_USD = 0.05  # one worker process = one core (half a 2-vCPU on-demand instance, us-east-1)
PRICE_PER_1000 = {"put": 0.005, "list": 0.005, "post": 0.005, "get": 0.0004, "head": 0.0004, "delete": 0.0}


def project(m: dict[str, float], requests: dict[str, float], rows: int, workers: int) -> dict[str, float]:
    """One row of the table: lanes in hours, the total, W*, and the cost in USD."""
    compute_s = m["datum_s"] * rows / m["datum_rows"]  # per datum on one worker (linear in rows)
    bytes_moved = rows * (m["in_bytes_per_row"] + m["out_bytes_per_row"])  # partition out, clean file back
    client_s = m["commit_ms"] / 1000 + bytes_moved / (min(m["disk_mb_s"], NETWORK_MB_S) * 1e6)
    sched_s = m["dask_ms"] / 1000
    lanes = {
        "compute": BATCHES * compute_s / workers,
        "scheduler": BATCHES * sched_s,
        "client": BATCHES * client_s,
    }
    hours = max(lanes.values()) / 3600
    s3 = sum(BATCHES * n * PRICE_PER_1000.get(kind, 0.005) / 1000 for kind, n in requests.items())
    return {
        **{f"{k}_h": v / 3600 for k, v in lanes.items()},
        "hours": hours,
        "w_star": compute_s / max(client_s, sched_s),
        "workers_usd": workers * hours * WORKER_HOUR_USD,
        "s3_usd": s3,
    }


def table(m: dict[str, float], s3: dict[str, dict[str, float]]) -> str:
    requests: dict[str, float] = {}
    for phase in ("ingest+validate", "dvc push"):
        for kind, n in s3.get(phase, {}).items():
            requests[kind] = requests.get(kind, 0.0) + n
    cols = ("rows/batch", "workers", "compute h", "client h", "scheduler h", "day h", "stops scaling at")
    cols += ("workers $", "S3 requests $")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for rows in ROWS_PER_BATCH:
        for workers in WORKERS:
            p = project(m, requests, rows, workers)
            cells = [
                f"{rows:,}",
                str(workers),
                *(f"{p[k]:.2f}" for k in ("compute_h", "client_h", "scheduler_h")),
            ]
            cells += [
                f"{p['hours']:.2f}",
                f"W* = {p['w_star']:.0f}",
                f"{p['workers_usd']:.2f}",
                f"{p['s3_usd']:.2f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    per = ", ".join(f"{k} {v:.2f}" for k, v in sorted(requests.items()))
    return "\n".join(
        [
            *lines,
            f"inputs: {m['datum_s']:.2f} s per {m['datum_rows']:,}-row datum on one worker (fig 7), "
            f"scheduler {m['dask_ms']:.2f} ms and client {m['commit_ms']:.2f} ms per datum (fig 8), S3 "
            f"requests per datum: {per} (fig_s3); partition {m['in_bytes_per_row']:.0f} B/row, clean "
            f"{m['out_bytes_per_row']:.0f} B/row (fig 7); client disk {m['disk_mb_s']:.0f} MB/s (fig 8), "
            f"network {NETWORK_MB_S:.0f} MB/s and "
            f"${WORKER_HOUR_USD}/worker-hour (assumed)",
        ]
    )

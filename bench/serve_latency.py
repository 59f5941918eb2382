"""Latency of `strata serve` for single-event requests over loopback, next to the in-process core.

    .venv/bin/python bench/serve_latency.py                      models/model.skops + data/split/test.parquet
    .venv/bin/python bench/serve_latency.py --requests 500 --model M --events clean.parquet

Without a trained model (no `make repro` yet) it trains a tiny one from tests/unit/conftest_ml.py in a temp
dir. The server is the real CLI in its own process (`strata serve --port 0`); requests are sent one at a
time, each on a new connection (the server speaks HTTP/1.0), and timed from connect to the parsed JSON.
The same events are then scored in this process with `serve.score_events` (one OpenMP thread, as the server
runs), so the ratio says what HTTP + JSON add to the scoring itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STRATA = str(Path(sys.executable).parent / "strata")


def tiny_model(folder: Path) -> tuple[Path, Path]:
    """(model, events parquet) trained on the unit tests' tiny frames."""
    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    from conftest_ml import write_split

    paths = write_split(folder, train_rows=400, test_rows=200)
    args = ["train", "--params", paths["params"], "--train", paths["train"], "--summary", paths["summary"]]
    args += ["--model", folder / "model.skops", "--card", folder / "card.json"]
    subprocess.run([STRATA, *map(str, args)], check=True, capture_output=True)
    return folder / "model.skops", paths["test"]


def load_events(path: Path, limit: int) -> list[dict[str, Any]]:
    """Clean rows as a sender would send them: ISO timestamps, null for missing."""
    import pyarrow.parquet as pq

    rows = pq.read_table(path).slice(0, limit).to_pylist()
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in rows]


def start(model: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [STRATA, "serve", "--model", str(model), "--port", "0"], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    if "listening on" not in first:
        proc.kill()
        raise SystemExit(f"server did not start: {first}{proc.stderr.read()}")
    return proc, int(first.split("127.0.0.1:")[1].split(" ")[0])


def post(port: int, body: bytes) -> float:
    begin = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    if response.status != 200:
        raise SystemExit(f"HTTP {response.status}: {payload}")
    return time.perf_counter() - begin


def quantiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": ms[-1], "mean": statistics.mean(ms)}


def in_process(model: Path, events: list[dict[str, Any]]) -> list[float]:
    from threadpoolctl import threadpool_limits

    from strata.serving import predict
    from strata.serving import server as serve

    loaded = predict.load(model)
    times = []
    with threadpool_limits(limits=1):
        serve.score_events(loaded.model, loaded.card, events[:1])
        for event in events:
            begin = time.perf_counter()
            serve.score_events(loaded.model, loaded.card, [event])
            times.append(time.perf_counter() - begin)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="single-event requests (bounded: <= 5000)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "model.skops")
    parser.add_argument("--events", type=Path, default=ROOT / "data" / "split" / "test.parquet")
    args = parser.parse_args()
    n = min(args.requests, 5000)
    with tempfile.TemporaryDirectory(prefix="strata-serve-bench-") as tmp:
        model, source = args.model, args.events
        if not (model.exists() and source.exists()):
            model, source = tiny_model(Path(tmp))
        events = load_events(source, n)
        bodies = [json.dumps(events[i % len(events)]).encode() for i in range(n)]
        proc, port = start(model)
        try:
            for body in bodies[: args.warmup]:
                post(port, body)
            began = time.perf_counter()
            http_times = [post(port, body) for body in bodies]
            wall = time.perf_counter() - began
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
        core_times = in_process(model, [json.loads(b) for b in bodies])
    http_q, core_q = quantiles(http_times), quantiles(core_times)
    print(f"strata serve latency, {n} single-event requests over loopback, model {model}")
    for name, q in (("http", http_q), ("core", core_q)):
        print(f"  {name:5} " + "  ".join(f"{k} {v:6.2f} ms" for k, v in q.items()))
    print(f"  throughput (one client, sequential): {n / wall:.0f} req/s")
    print(f"  http/core p50 ratio: {http_q['p50'] / core_q['p50']:.2f}x  (exit code {proc.returncode})")


if __name__ == "__main__":
    main()

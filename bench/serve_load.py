"""Load benchmark of `strata serve` (issue 10): requests/s, p50, p99 and errors at 1, 16, 64 and 256
concurrent clients, for the ASGI server, today's http.server implementation (bench/baseline_server.py, the
baseline) and a no-model echo endpoint on the same stack as the server (the floor), side by side in one run.

    .venv/bin/python bench/serve_load.py                          20 s a point, the figure `make bench` prints
    .venv/bin/python bench/serve_load.py --duration 3 --clients 1,64      a sanity run
    options: --servers strata,baseline,echo  --workers N  --model M  --events E  --out results.json

Each server is started as in production (`strata serve --model M --port 0`, the baseline script, the echo
floor through strata.serving.server with echo on) in its own process; this process is the load generator:
asyncio on uvloop with raw sockets, one keep-alive connection per client (the baseline closes each one, so
its clients reconnect, as real ones would), single-event requests from the test split, a 10 s timeout per
request. It is bounded: a fixed number of clients for a fixed time. A request counts when it starts after
the warm-up second and ends before the point's end; anything but a 200 (a reset, a timeout, a 4xx/5xx) is
an error. Without models/model.skops (no `make repro` yet) a tiny model from the unit tests is trained.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
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
BASELINE = ROOT / "bench" / "baseline_server.py"
TIMEOUT_S = 10.0
WARMUP_S = 1.0
START_S = 300.0
GOALS = {"speedup": 10.0, "floor": 0.5, "p99_64_ms": 100.0, "p99_1_ms": 5.0}


# ------------------------------------------------------------------------------------------ generator


class Point:
    """One (server, clients) measurement."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: collections.Counter[str] = collections.Counter()


async def _response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, keep the connection) of one HTTP/1.x response, body read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    keep = version == "HTTP/1.1" and headers.get("connection") != "close"
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    else:
        await reader.read()  # until the server closes
        keep = False
    return int(status), keep


async def _client(
    port: int, requests: list[bytes], start: int, begin: float, end: float, point: Point
) -> None:
    loop = asyncio.get_running_loop()
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    i = start
    while (now := loop.time()) < end:
        request = requests[i % len(requests)]
        i += 1
        sent = time.perf_counter()
        try:
            async with asyncio.timeout(TIMEOUT_S):
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                assert reader is not None
                status, keep = await _response(reader)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            if now >= begin:
                point.errors[type(exc).__name__] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        took = time.perf_counter() - sent
        if now >= begin and loop.time() <= end:
            point.latencies.append(took)
            if status != 200:
                point.errors[f"HTTP {status}"] += 1
        if not keep and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def load(port: int, requests: list[bytes], clients: int, duration: float) -> dict[str, Any]:
    """Run ``clients`` concurrent clients for the warm-up plus ``duration`` seconds; the point's figures."""
    import uvloop

    point = Point()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        begin = loop.time() + WARMUP_S
        end = begin + duration
        step = max(1, len(requests) // clients)
        await asyncio.gather(*(_client(port, requests, c * step, begin, end, point) for c in range(clients)))

    uvloop.run(run())
    ms = sorted(x * 1000 for x in point.latencies)
    pick = (lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]) if ms else (lambda q: float("nan"))
    return {
        "clients": clients,
        "requests": len(ms),
        "rps": len(ms) / duration,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
        "errors": sum(point.errors.values()),
        "error_kinds": dict(point.errors),
        "load_avg": os.getloadavg()[0],
    }


# -------------------------------------------------------------------------------------------- servers


def environment() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def start(name: str, model: Path, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start one server process; its port, once it says it listens."""
    commands = {
        "strata": [STRATA, "serve", "--model", str(model), "--port", "0", "--workers", str(workers)],
        "baseline": [sys.executable, str(BASELINE), "--model", str(model), "--port", "0"],
        "echo": [sys.executable, __file__, "--serve-echo", str(model), "--workers", str(workers)],
    }  # fmt: skip
    with log.open("wb") as err:
        proc = subprocess.Popen(commands[name], stdout=subprocess.DEVNULL, stderr=err, env=environment())
    deadline = time.monotonic() + START_S
    while "listening on" not in (text := log.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"{name} server did not start:\n{text[-2000:]}")
        time.sleep(0.05)
    line = next(line for line in text.splitlines() if "listening on" in line)
    return proc, int(line.split("http://127.0.0.1:")[1].split()[0])


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def serve_echo(model: Path, workers: int) -> None:
    """The floor: `strata serve`'s own stack (uvicorn, protocol, app, body limits, JSON, logs, metrics)
    with /predict echoing the parsed events instead of the contract and the model."""
    sys.path.insert(0, str(ROOT))
    from strata.serving.server import Settings, serve

    serve(Settings(str(model), port=0, workers=workers, echo=True))


# ---------------------------------------------------------------------------------------------- inputs


def model_and_events(model: Path, events: Path, folder: Path, limit: int = 2000) -> tuple[Path, list[bytes]]:
    """(model, single-event POST requests as bytes) from the pipeline's outputs, or a tiny stand-in."""
    import pyarrow.parquet as pq

    if not (model.exists() and events.exists()):
        sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "unit")]
        from serve_helpers import train_model

        print("no models/model.skops + data/split/test.parquet (run `make repro`): a tiny model stands in")
        paths = train_model(folder)
        model, events = paths["model"], paths["test"]
    table = pq.read_table(events).slice(0, limit)
    drop = [c for c in table.column_names if c.startswith("_") or c == "label"]
    rows = table.drop_columns(drop).to_pylist()
    bodies = [
        json.dumps({k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in r.items()}) for r in rows
    ]
    return model, [
        b"POST /predict HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
        for body in bodies
    ]


# --------------------------------------------------------------------------------------------- report


def report(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = [f"{'server':9} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  load"]
    for name, points in results.items():
        for p in points:
            lines.append(
                f"{name:9} {p['clients']:>7} {p['rps']:>9.1f} {p['p50_ms']:>8.2f} {p['p99_ms']:>8.2f} "
                f"{p['errors']:>7}  {p['load_avg']:.2f}" + (f"  {p['error_kinds']}" if p["errors"] else "")
            )
    at = {name: {p["clients"]: p for p in points} for name, points in results.items()}
    new = at.get("strata", {})
    checks = []
    if 64 in new:
        p = new[64]
        if 64 in at.get("baseline", {}):
            ratio = p["rps"] / max(at["baseline"][64]["rps"], 1e-9)
            checks.append(
                (
                    "64 clients: strata vs baseline req/s",
                    f"{ratio:.1f}x",
                    f">= {GOALS['speedup']:g}x",
                    ratio >= GOALS["speedup"],
                )
            )
        if 64 in at.get("echo", {}):
            ratio = p["rps"] / max(at["echo"][64]["rps"], 1e-9)
            checks.append(
                (
                    "64 clients: strata vs echo floor req/s",
                    f"{ratio:.2f}x",
                    f">= {GOALS['floor']:g}x",
                    ratio >= GOALS["floor"],
                )
            )
        checks.append(
            (
                "64 clients: strata p99",
                f"{p['p99_ms']:.1f} ms",
                f"< {GOALS['p99_64_ms']:g} ms",
                p["p99_ms"] < GOALS["p99_64_ms"],
            )
        )
        checks.append(("64 clients: strata errors", str(p["errors"]), "0", p["errors"] == 0))
    if 1 in new:
        p99 = new[1]["p99_ms"]
        checks.append(
            ("1 client: strata p99", f"{p99:.2f} ms", f"< {GOALS['p99_1_ms']:g} ms", p99 < GOALS["p99_1_ms"])
        )
    lines.append("")
    lines += [
        f"{what:40} {value:>10}  goal {goal:10} {'PASS' if ok else 'MISS'}"
        for what, value, goal, ok in checks
    ]
    return "\n".join(lines)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--duration", type=float, default=20.0, help="seconds measured per point (after 1 s warm-up)"
    )
    ap.add_argument("--clients", default="1,16,64,256", help="concurrent clients per point, comma-separated")
    ap.add_argument("--servers", default="strata,baseline,echo", help="which servers, comma-separated")
    ap.add_argument("--workers", type=int, default=1, help="--workers of strata serve and of the echo floor")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "model.skops")
    ap.add_argument("--events", type=Path, default=ROOT / "data" / "split" / "test.parquet")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    ap.add_argument("--serve-echo", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_echo:
        serve_echo(args.serve_echo, args.workers)
        return
    clients = [int(c) for c in args.clients.split(",")]
    if not (0 < args.duration <= 120 and all(0 < c <= 1024 for c in clients)):
        raise SystemExit(
            "--duration must be in (0, 120] s and --clients in 1..1024 (the generator is bounded)"
        )
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="strata-serve-load-") as tmp:
        model, requests = model_and_events(args.model, args.events, Path(tmp))
        print(f"model {model}, {len(requests)} distinct events, {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.2f}; {args.duration:g} s a point", flush=True)  # fmt: skip
        for name in args.servers.split(","):
            proc, port = start(name, model, args.workers, Path(tmp) / f"{name}.log")
            try:
                results[name] = []
                for n in clients:
                    results[name].append(load(port, requests, n, args.duration))
                    print(report({name: results[name][-1:]}).splitlines()[1], flush=True)
            finally:
                stop(proc)
    print()
    print(report(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

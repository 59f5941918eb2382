"""`strata serve` as it runs in production (a subprocess): options checked up front, clean stops on signals
even with stalled clients, several workers behind one port, and a crowd of stalled connections."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from serve_helpers import EVENT, train_model
from typer.testing import CliRunner

from strata.cli import app

START_BOUND = 120.0  # seconds for a server to load its model and listen (the machine may be busy)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return train_model(tmp_path_factory.mktemp("serve_cli"))


class Served:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path, port: int) -> None:
        self.proc, self.log, self.port = proc, log, port

    def post(self, body: bytes, timeout: float = 30) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", "/predict", body)
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    def get(self, path: str) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            return conn.getresponse().read().decode()
        finally:
            conn.close()


@contextmanager
def serve(trained: dict[str, Path], tmp_path: Path, *args: str) -> Iterator[Served]:
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "stages", "serve", "--model", str(trained["model"]), "--port", "0", *args]
    with log.open("wb") as err:
        proc = subprocess.Popen(argv, stderr=err, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + START_BOUND
        while "listening on" not in (text := log.read_text()):
            assert proc.poll() is None, f"strata serve exited {proc.returncode}: {text}"
            assert time.monotonic() < deadline, f"strata serve did not listen within {START_BOUND} s: {text}"
            time.sleep(0.05)
        first = text.splitlines()[0]
        assert first.startswith("strata serve: listening on http://127.0.0.1:"), first
        yield Served(proc, log, int(first.split("127.0.0.1:")[1].split(" ")[0]))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "--port 99999: not a port number between 0 and 65535"),
        (["--port", "-1"], "--port -1: not a port number between 0 and 65535"),
        (["--host", "no-such-host.invalid"], "--host no-such-host.invalid: cannot resolve"),
        (["--workers", "0"], "--workers 0: not a number of worker processes between 1 and 64"),
        (["--max-body", "0"], "--max-body 0: not a body size in bytes between 1 and 1.07374e+09"),
        (["--header-timeout", "0"], "--header-timeout 0: not seconds between 0.001 and 3600"),
        (["--body-timeout", "-1"], "--body-timeout -1: not seconds between 0.001 and 3600"),
        (["--batch-window-ms", "-1"], "--batch-window-ms -1: not milliseconds between 0 and 1000"),
        (["--max-batch", "0"], "--max-batch 0: not a number of events between 1 and 100000"),
        (["--backlog", "0"], "--backlog 0: not a queue length between 1 and 65535"),
        (["--model", "nope.skops"], "--model nope.skops: file not found"),
    ],
)
def test_options_are_checked_up_front_with_one_line(
    trained: dict[str, Path], args: list[str], message: str
) -> None:
    argv = ["serve", "--model", str(trained["model"]), *args]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    assert result.output.startswith(f"strata serve: error: {message}") and result.output.count("\n") == 1


def test_a_port_in_use_is_one_line(trained: dict[str, Path]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--model", str(trained["model"]), "--port", str(port)])
    assert result.exit_code == 1
    assert (
        result.output == f"strata serve: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_cleanly_even_with_stalled_clients(
    trained: dict[str, Path], tmp_path: Path, sig: signal.Signals
) -> None:
    # timeouts far above the stop bound: the server must end the stalled clients itself, not wait them out
    with serve(trained, tmp_path, "--header-timeout", "300", "--body-timeout", "300") as srv:
        assert srv.post(json.dumps(EVENT).encode())[0] == 200
        body = socket.create_connection(("127.0.0.1", srv.port))
        body.sendall(b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{")
        headers = socket.create_connection(("127.0.0.1", srv.port))
        headers.sendall(b"POST /predict HTTP/1.1\r\nHo")
        assert srv.get("/health").startswith('{"status": "alive"')  # both stalled clients are in by now
        srv.proc.send_signal(sig)
        code = srv.proc.wait(timeout=60)  # the bound: shutdown must not wait out the 300 s timeouts
        answer = body.recv(4096)
        assert headers.recv(4096) == b""  # closed without an answer: it never asked anything
        body.close()
        headers.close()
    text = srv.log.read_text()
    assert code == 0, text
    assert b"HTTP/1.1 503 " in answer and b"server shutting down before the body arrived" in answer
    assert text.endswith("strata serve: stopped\n")
    lines = [json.loads(line) for line in text.splitlines()[1:-1]]
    assert [(x["path"], x["status"]) for x in lines] == [
        ("/predict", 200),
        ("/health", 200),
        ("/predict", 503),
    ]


def test_workers_share_the_port_and_the_metrics(trained: dict[str, Path], tmp_path: Path) -> None:
    counted = 'strata_requests_total{method="POST",path="/predict",status="200"} 20.0'
    with serve(trained, tmp_path, "--workers", "2") as srv:
        statuses = [srv.post(json.dumps(EVENT).encode())[0] for _ in range(20)]
        # a request is counted once its answer is sent (its latency includes the sending), so the other
        # worker may count the 20th a moment after this client has read it (seen on one core)
        deadline = time.monotonic() + 10
        while counted not in (metrics := srv.get("/metrics")).splitlines() and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = {json.loads(line)["pid"] for line in srv.log.read_text().splitlines()[1:]}
        srv.proc.send_signal(signal.SIGTERM)
        code = srv.proc.wait(timeout=60)
    assert statuses == [200] * 20 and code == 0
    assert counted in metrics.splitlines()
    assert len(pids) >= 1 and srv.proc.pid not in pids  # the workers answer, the parent supervises


def test_300_stalled_connections_do_not_stop_another_client(trained: dict[str, Path], tmp_path: Path) -> None:
    with serve(trained, tmp_path, "--header-timeout", "300", "--body-timeout", "300") as srv:
        stalled = []
        for i in range(300):
            sock = socket.create_connection(("127.0.0.1", srv.port))
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: t\r\n" if i % 2 else b"POST /predict HTTP/1.1\r\n"
                         b"Host: t\r\nContent-Length: 100\r\n\r\n{")  # fmt: skip
            stalled.append(sock)
        started = time.monotonic()
        status, _ = srv.post(json.dumps(EVENT).encode(), timeout=30)
        took = time.monotonic() - started
        for sock in stalled:
            sock.close()
    assert status == 200
    # The goal is 1 s; 5x headroom for a busy test machine. A server blocked by the stalled connections
    # would only answer after they time out (300 s), far outside this bound.
    assert took < 5.0, f"another client was answered after {took:.2f} s next to 300 stalled connections"


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs `ss` (iproute2) to read the listen backlog")
def test_the_listen_backlog_is_at_least_1024(trained: dict[str, Path], tmp_path: Path) -> None:
    with serve(trained, tmp_path) as srv:
        ss = ["ss", "-ltnH", f"sport = :{srv.port}"]
        out = subprocess.run(ss, capture_output=True, text=True, check=True).stdout
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(timeout=60)
    backlog = int(out.split()[2])  # State Recv-Q Send-Q: a listening socket's Send-Q is its backlog
    assert backlog >= 1024, out

"""The ASGI server over real sockets (uvicorn + strata's protocol + the app, in a thread): answers, the
client's mistakes (always a 4xx with one JSON line), slow and lying clients, metrics, logs and docs."""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import CLASSES, EVENT, ThreadServer, serving, train_model

from strata.serving import scoring
from strata.serving.app import Limits, create_app
from strata.serving.model import Loaded, ModelHolder

LIMITS = Limits(max_body=1 << 20, body_timeout=0.5)  # short timeouts: the slow-client tests end quickly


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return train_model(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def loaded(trained: dict[str, Path]) -> Loaded:
    return ModelHolder.prepare(trained["model"])


@pytest.fixture(scope="module")
def server(loaded: Loaded) -> Iterator[ThreadServer]:
    with serving(create_app(ModelHolder(loaded), LIMITS), header_timeout=0.5, body_timeout=0.5) as srv:
        yield srv


def call(srv: ThreadServer, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        data = response.read()
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(data)
        return response.status, data.decode()
    finally:
        conn.close()


def raw(srv: ThreadServer, data: bytes, half_close: bool = False) -> tuple[int, dict[str, Any]]:
    """Send bytes as they are and read the answer (status, JSON body) until the server closes."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return int(head.split()[1]), json.loads(body)


def test_health_and_ready_name_the_model(server: ThreadServer, loaded: Loaded) -> None:
    status, health = call(server, "GET", "/health")
    assert status == 200 and health["status"] == "alive"
    assert health["model"]["sha256"] == loaded.sha256 and health["model"]["version"] == loaded.sha256[:12]
    assert health["model"]["classes"] == CLASSES and health["model"]["key"] == ["event_id"]
    assert call(server, "GET", "/ready") == (
        200,
        {"status": "ready", "model": {"version": loaded.version, "sha256": loaded.sha256}},
    )


def test_one_event_is_scored_or_refused_with_the_contract_reason(
    server: ThreadServer, loaded: Loaded
) -> None:
    status, payload = call(server, "POST", "/predict", json.dumps(EVENT).encode())
    assert status == 200
    (prediction,) = payload["predictions"]
    assert prediction["key"] == "x1" and list(prediction["proba"]) == CLASSES
    assert payload["model"] == {"version": loaded.version, "sha256": loaded.sha256}
    bad = EVENT | {"ts": 12345, "entry_point": "chimney", "height": 1e309}
    assert call(server, "POST", "/predict", json.dumps(bad).encode()) == (
        400,
        {
            "error": "unparseable timestamp in 'ts': '12345'; not allowed in 'entry_point': 'chimney'; "
            "unparseable float in 'height': 'Infinity'"
        },
    )


def test_a_batch_answers_each_event_in_order(server: ThreadServer) -> None:
    events = [EVENT, EVENT | {"event_id": "x2", "height": "abc"}, 5, EVENT | {"event_id": "x3"}]
    jsonl = "\n".join(json.dumps(e) for e in events).encode()
    for body, malformed in ((json.dumps(events).encode(), "5"), (jsonl, "line 3: 5")):
        status, payload = call(server, "POST", "/predict", body)
        assert status == 200
        answers = payload["predictions"]
        assert [a["key"] for a in answers] == ["x1", "x2", None, "x3"]
        assert answers[1] == {"key": "x2", "error": "unparseable float in 'height': 'abc'"}
        assert answers[2] == {"key": None, "error": f"malformed row: {malformed}"}
        assert answers[0]["proba"] == answers[3]["proba"]  # the same event, the same answer


def test_extra_columns_are_ignored_and_missing_optional_ones_are_null(server: ThreadServer) -> None:
    plain = call(server, "POST", "/predict", json.dumps(EVENT | {"height": None}).encode())
    extra = call(server, "POST", "/predict", json.dumps(EVENT | {"height": None, "colour": "red"}).encode())
    absent = call(
        server, "POST", "/predict", json.dumps({k: v for k, v in EVENT.items() if k != "height"}).encode()
    )
    assert plain == extra == absent and plain[0] == 200


MB20 = b'{"event_id": "' + b"x" * (20 << 20) + b'"}'


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{", 400,
         "malformed JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (b"[" * 100_000, 400, "malformed JSON: nested too deeply"),
        (json.dumps({"ts": "2026-01-01"}).encode(), 400,
         "request: missing required column 'event_id' (delivered: ts)"),
        (json.dumps(EVENT | {"speed": [1, 2]}).encode(), 400, "unparseable float in 'speed': '[1, 2]'"),
        (json.dumps(EVENT | {"code_ok": {"a": 1}}).encode(), 400,
         "unparseable bool in 'code_ok': '{\"a\": 1}'"),
        (MB20, 413, f"body of {len(MB20)} bytes is over the {1 << 20}-byte limit"),
    ],
    ids=["malformed", "deep", "missing_required", "list_value", "object_value", "20MB"],
)  # fmt: skip
def test_client_mistakes_are_4xx_with_one_json_line(
    server: ThreadServer, body: bytes, status: int, message: str
) -> None:
    assert call(server, "POST", "/predict", body) == (status, {"error": message})


def test_unknown_paths_and_methods_are_json(server: ThreadServer) -> None:
    routes = "(POST /predict; GET /health, /ready, /metrics, /docs, /openapi.json)"
    assert call(server, "GET", "/nope") == (404, {"error": f"no such path: /nope {routes}"})
    assert call(server, "PUT", "/predict", b"{}") == (405, {"error": f"PUT not allowed: /predict {routes}"})


HEAD = b"POST /predict HTTP/1.1\r\nHost: t\r\n"
CHUNKED = b"100000\r\n" + b" " * (1 << 20) + b"\r\n1\r\n \r\n0\r\n\r\n"  # 1 MiB + 1 byte, no length


@pytest.mark.parametrize(
    ("data", "half_close", "status", "message"),
    [
        (HEAD + b"Content-Length: -5\r\n\r\n" + b"x" * 1000, False, 400,
         "malformed HTTP request: Invalid character in Content-Length"),
        (HEAD + b"Content-Length: 99999999999999999999999\r\n\r\n", False, 400,
         "malformed HTTP request: Content-Length overflow"),
        (HEAD + b"Content-Length: 100\r\n\r\n{}", True, 400,
         "body ended after 2 of the 100 bytes its Content-Length announced"),
        (HEAD + b"Content-Length: 100\r\n\r\n{}", False, 408,
         "body not received within 0.5 s (2 of 100 bytes arrived)"),
        (HEAD + b"Content-Le", False, 408, "request headers not received within 0.5 s"),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + CHUNKED, False, 413,
         f"body over the {1 << 20}-byte limit ({(1 << 20) + 1} bytes received)"),
    ],
    ids=["negative_length", "overflowing_length", "short_half_closed", "stalled", "slow_headers", "chunked"],
)  # fmt: skip
def test_lying_and_slow_clients_get_a_json_4xx(
    server: ThreadServer, data: bytes, half_close: bool, status: int, message: str
) -> None:
    assert raw(server, data, half_close) == (status, {"error": message})
    assert call(server, "GET", "/health")[0] == 200  # and the server goes on


@pytest.mark.parametrize(
    ("head", "trickle", "message"),
    [
        (b"POST /predict HTTP/1.1\r\n", b"X-Slow: 1\r\n" * 50, "request headers not received within 0.5 s"),
        (HEAD + b"Content-Length: 60\r\n\r\n", b" " * 50, "body not received within 0.5 s ("),
    ],
    ids=["headers", "body"],
)  # fmt: skip
def test_a_client_trickling_bytes_cannot_extend_its_time(
    server: ThreadServer, head: bytes, trickle: bytes, message: str
) -> None:
    """The issue's client sent a byte every 8 s and held its connection for minutes: the header and body
    times are deadlines from the start, not idle times, so sending a little now and then does not help."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head)
        received = b""
        for i in range(0, len(trickle), len(trickle) // 50 or 1):
            try:
                sock.sendall(trickle[i : i + len(trickle) // 50 or 1])
            except OSError:  # refused and closed: stop sending
                break
            time.sleep(0.1)  # 50 pieces over 5 s, ten times the 0.5 s allowed
        while chunk := sock.recv(65536):
            received += chunk
    head_part, _, body = received.partition(b"\r\n\r\n")
    error = json.loads(body)["error"]
    assert head_part.split()[1] == b"408" and error.startswith(message), error  # body: how many arrived


def test_metrics_count_requests_rejections_batches_and_the_model(
    server: ThreadServer, loaded: Loaded
) -> None:
    call(server, "POST", "/predict", json.dumps([EVENT, EVENT | {"ts": "never"}]).encode())
    status, text = call(server, "GET", "/metrics")
    assert status == 200
    lines = text.splitlines()
    assert any(
        line.startswith('strata_requests_total{method="POST",path="/predict",status="200"} ')
        for line in lines
    )
    assert any(
        line.startswith('strata_rejected_events_total{reason="unparseable timestamp: ts"} ') for line in lines
    )
    assert any(line.startswith("strata_batch_events_count ") for line in lines)
    labels = f'kind="hist_gradient_boosting",sha256="{loaded.sha256}",version="{loaded.version}"'
    assert f"strata_model_info{{{labels}}} 1.0" in lines
    assert any(
        line.startswith('strata_request_duration_seconds_bucket{le="0.1",path="/predict"}') for line in lines
    )


def test_one_structured_log_line_per_request(
    server: ThreadServer, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    call(server, "POST", "/predict?source=cedar", json.dumps([EVENT | {"height": 70}] * 2).encode())
    call(server, "POST", "/predict", json.dumps(EVENT | {"ts": "x"}).encode())
    raw(server, HEAD + b"Content-Length: -1\r\n\r\n")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(x["method"], x["path"], x["status"]) for x in lines] == [
        ("POST", "/predict", 200), ("POST", "/predict", 400), (None, None, 400),
    ]  # fmt: skip
    assert lines[0]["query"] == "source=cedar" and lines[0]["events"] == 2 and lines[0]["rejected"] == 0
    assert lines[1]["error"] == "unparseable timestamp in 'ts': 'x'" and lines[1]["ms"] >= 0
    assert {"ts", "level", "pid", "model", "client"} <= set(lines[0])


def test_openapi_describes_the_contract_and_docs_are_served(server: ThreadServer) -> None:
    status, doc = call(server, "GET", "/openapi.json")
    assert status == 200
    event = doc["components"]["schemas"]["Event"]
    assert event["required"] == ["event_id", "ts", "entry_point"]  # the target (label) is not required
    assert event["properties"]["entry_point"]["enum"] == ["front_door", "back_door", "window"]
    assert event["properties"]["height"]["minimum"] == 5 and event["properties"]["height"]["maximum"] == 260
    assert event["properties"]["height"]["x-strata-aliases"] == ["objectHeight"]
    assert "source 'cedar' sends 'in'" in event["properties"]["height"]["description"]
    assert event["properties"]["code_ok"]["type"] == ["boolean", "null"]
    assert event["properties"]["ts"]["format"] == "date-time"
    assert doc["components"]["schemas"]["Scored"]["properties"]["predicted"]["enum"] == CLASSES
    assert "/predict" in doc["paths"] and "/health" in doc["paths"]
    status, page = call(server, "GET", "/docs")
    assert status == 200 and "swagger" in page.lower()


def test_a_swapped_model_answers_from_then_on(loaded: Loaded) -> None:
    holder = ModelHolder(loaded)
    replacement = dataclasses.replace(loaded, sha256="f" * 64)  # stands for another checked model
    with serving(create_app(holder, LIMITS)) as srv:
        before = call(srv, "POST", "/predict", json.dumps(EVENT).encode())
        assert holder.swap(replacement) is loaded and holder.current is replacement
        after = call(srv, "POST", "/predict", json.dumps(EVENT).encode())
        health = call(srv, "GET", "/health")[1]
        metrics = call(srv, "GET", "/metrics")[1]
    assert before[1]["model"]["version"] == loaded.version
    assert f'version="{"f" * 12}"}} 1.0' in metrics and f'version="{loaded.version}"' not in metrics
    assert after[1]["model"] == {"version": "f" * 12, "sha256": "f" * 64}
    assert after[1]["predictions"] == before[1]["predictions"] and health["model"]["version"] == "f" * 12


def test_a_bug_is_a_json_500_and_the_server_goes_on(
    server: ThreadServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("a bug in scoring")

    monkeypatch.setattr(scoring, "predict_clean", broken)
    assert call(server, "POST", "/predict", json.dumps(EVENT).encode()) == (
        500,
        {"error": "internal error (see the server log)"},
    )
    monkeypatch.undo()
    assert call(server, "POST", "/predict", json.dumps(EVENT).encode())[0] == 200
    (record,) = [r for r in caplog.records if r.getMessage() == "POST /predict failed"]
    assert record.exc_info is not None and str(record.exc_info[1]) == "a bug in scoring"  # the trace, logged


def test_echo_floor_answers_the_events_without_the_model(loaded: Loaded) -> None:
    with serving(create_app(ModelHolder(loaded), LIMITS, echo=True)) as srv:
        assert call(srv, "POST", "/predict", b'[{"a": 1}]') == (200, {"predictions": [{"a": 1}]})

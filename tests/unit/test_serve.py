"""serve: the pure core, the HTTP server on a loopback port, batch/online equality, errors, clean stop."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest_ml import write_split
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from stages import train
from strata.cli import app
from strata.serving import predict
from strata.serving import server as serve

CLASSES = ["animal", "intruder", "resident"]
EVENT = {"event_id": "x1", "ts": "2026-01-05T03:10:00Z", "entry_point": "window", "height": 172.5}
EVENT |= {"speed": 1.2, "code_ok": False}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("serve")
    paths = write_split(folder, train_rows=120, test_rows=40)
    with threadpool_limits(limits=1):  # OpenMP threads only wait on each other for a model this small
        train.command(
            train=paths["train"],
            summary=paths["summary"],
            model=folder / "model.skops",
            card_path=folder / "card.json",
            params=paths["params"],
        )
    return {**paths, "model": folder / "model.skops", "card": folder / "card.json", "folder": folder}


@pytest.fixture(scope="module")
def loaded(trained: dict[str, Path]) -> predict.Loaded:
    return predict.load(trained["model"])


@pytest.fixture(scope="module")
def server(loaded: predict.Loaded) -> Iterator[serve.ScoringServer]:
    srv = serve.make_server(loaded, port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def call(
    srv: serve.ScoringServer, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        assert response.getheader("Content-Type") == "application/json"
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_health_describes_the_model(server: serve.ScoringServer, trained: dict[str, Path]) -> None:
    status, payload = call(server, "GET", "/health")
    card = json.loads(trained["card"].read_text())
    assert status == 200
    assert payload["status"] == "ok"
    assert payload["model"]["sha256"] == card["model"]["sha256"]
    assert payload["model"]["kind"] == "hist_gradient_boosting"
    assert payload["model"]["classes"] == CLASSES
    assert payload["model"]["key"] == ["event_id"]
    assert [c["name"] for c in payload["model"]["inputs"]] == [c["name"] for c in card["input_schema"]]


def _events(rows: int = 3) -> list[dict[str, Any]]:
    return [EVENT | {"event_id": f"x{i}", "height": 40.0 + 60 * i} for i in range(rows)]


@pytest.mark.parametrize("shape", ["object", "array", "jsonl", "jsonl_crlf_blank"])
def test_predict_accepts_object_array_and_json_lines(server: serve.ScoringServer, shape: str) -> None:
    events = _events(1 if shape == "object" else 3)
    body = {
        "object": json.dumps(events[0]),
        "array": json.dumps(events),
        "jsonl": "\n".join(json.dumps(e) for e in events) + "\n",
        "jsonl_crlf_blank": "\r\n\r\n".join(json.dumps(e) for e in events),
    }[shape]
    status, payload = call(server, "POST", "/predict", body.encode())
    assert status == 200, payload
    assert [p["key"] for p in payload["predictions"]] == [e["event_id"] for e in events]  # input order
    assert payload["model"] == {"sha256": server.loaded.sha256, "kind": "hist_gradient_boosting"}
    for p in payload["predictions"]:
        assert list(p["proba"]) == CLASSES
        assert sum(p["proba"].values()) == pytest.approx(1.0)
        assert p["predicted"] == max(p["proba"], key=p["proba"].get)


def test_the_same_event_scores_the_same_alone_or_in_a_batch(loaded: predict.Loaded) -> None:
    events = _events(4)
    together = serve.score_events(loaded.model, loaded.card, events)
    alone = [serve.score_events(loaded.model, loaded.card, [e])[0] for e in events]
    assert together == alone


def test_score_events_missing_keys_are_null_and_the_key_is_echoed(loaded: predict.Loaded) -> None:
    partial = {k: v for k, v in EVENT.items() if k not in ("height", "event_id")}
    out = serve.score_events(loaded.model, loaded.card, [EVENT, partial])
    explicit = serve.score_events(loaded.model, loaded.card, [partial | {"height": None}])
    assert [p["key"] for p in out] == ["x1", None]
    assert out[1]["proba"] == explicit[0]["proba"]
    assert serve.score_events(loaded.model, loaded.card, []) == []
    assert serve.score_events(loaded.model, {"key": []}, [EVENT])[0]["key"] is None


def _json_lines(table: Any) -> str:
    """Rows as a sender writes them: ISO timestamps, full-precision floats, null for missing."""
    rows = table.drop_columns(["label", "_source", "_batch", "_row"]).to_pylist()
    for row in rows:
        row["ts"] = row["ts"].isoformat() if isinstance(row["ts"], dt.datetime) else None
    return "".join(json.dumps(row) + "\n" for row in rows)


def test_batch_and_online_scores_are_identical(server: serve.ScoringServer, trained: dict[str, Path]) -> None:
    folder = trained["folder"]
    test = pq.read_table(trained["test"])
    (folder / "events.jsonl").write_text(_json_lines(test))
    for source in (folder / "events.jsonl", trained["test"]):
        out = folder / f"batch_{source.suffix[1:]}.parquet"
        predict.command(model=trained["model"], input_path=source, out=out)
        batch = pq.read_table(out).to_pylist()
        status, payload = call(server, "POST", "/predict", (folder / "events.jsonl").read_bytes())
        assert status == 200
        online = payload["predictions"]
        assert len(online) == len(batch) == 40
        assert [p["key"] for p in online] == [row["event_id"] for row in batch]
        assert [p["predicted"] for p in online] == [row["predicted"] for row in batch]
        for p, row in zip(online, batch, strict=True):
            assert p["proba"] == {c: row[f"proba_{c}"] for c in CLASSES}  # exactly, not approx


BAD_ROW = {"ts": "2026-01-05T03:10:00Z", "entry_point": "window", "height": "12,5", "speed": 1.0}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body: send one JSON event, a JSON array of events, or JSON Lines"),
        (b'{"ts": ', "malformed JSON: Expecting value: line 1 column 8 (char 7)"),
        (b'{"ts": 1}\n{"ts": \n', "line 2: malformed JSON: Expecting value: line 1 column 8 (char 7)"),
        (b'{"height": NaN}', "malformed JSON: NaN is not a JSON value (send null)"),
        (b'[{"ts": null}, 7]', "events[1]: not a JSON object but int"),
        (b"\xff", "body is not UTF-8 (invalid start byte at byte 0)"),
        (json.dumps({k: v for k, v in EVENT.items() if k != "code_ok"}).encode(),
         "request: missing feature column 'code_ok'"),
        (json.dumps([EVENT, EVENT | {"ts": "yesterday"}]).encode(),
         "events[1]: column 'ts' is not timestamp: "
         "Failed to parse string: 'yesterday' as a scalar of type timestamp[us]"),
        (json.dumps(_events(5) + [BAD_ROW | {"code_ok": True}]).encode(),
         "events[5]: column 'height' is not float: "
         "Failed to parse string: '12,5' as a scalar of type double"),
    ],
    ids=["empty", "malformed", "jsonl_line", "nan", "not_object", "not_utf8", "missing", "ts", "float"],
)  # fmt: skip
def test_bad_input_is_400_with_one_line(server: serve.ScoringServer, body: bytes, message: str) -> None:
    status, payload = call(server, "POST", "/predict", body)
    assert (status, payload) == (400, {"error": message})


def test_unknown_path_and_method(server: serve.ScoringServer) -> None:
    assert call(server, "GET", "/nope") == (
        404,
        {"error": "no such path: /nope (POST /predict, GET /health)"},
    )
    assert call(server, "POST", "/health", b"{}")[0] == 404
    assert call(server, "PUT", "/predict", b"{}") == (501, {"error": "Unsupported method ('PUT')"})


def test_body_over_the_limit_is_413(server: serve.ScoringServer) -> None:
    body = b" " * (serve.MAX_BODY + 1)
    assert call(server, "POST", "/predict", body) == (
        413,
        {"error": f"body of {serve.MAX_BODY + 1} bytes is over the {serve.MAX_BODY}-byte limit"},
    )
    assert call(server, "GET", "/health")[0] == 200  # still serving


def test_one_log_line_per_request(server: serve.ScoringServer, capsys: pytest.CaptureFixture[str]) -> None:
    call(server, "POST", "/predict?v=1", json.dumps(_events(2)).encode())
    call(server, "POST", "/predict", b'{"ts": null}')  # parsed (1 row), then refused
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert " POST /predict?v=1 rows=2 status=200 ms=" in lines[0]
    assert " POST /predict rows=1 status=400 ms=" in lines[1]


def test_card_named_but_absent_or_of_another_model(trained: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--model", str(trained["model"]), "--card", "nope.json"])
    assert (result.exit_code, result.output) == (1, "strata serve: error: nope.json: model card not found\n")
    other = tmp_path / "card.json"
    other.write_text(json.dumps({"model": {"sha256": "0" * 64}}))
    result = CliRunner().invoke(app, ["serve", "--model", str(trained["model"]), "--card", str(other)])
    assert result.output == (
        f"strata serve: error: {other}: card does not describe {trained['model']} (sha256 differs)\n"
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_stops_cleanly_on_signal(trained: dict[str, Path], sig: signal.Signals) -> None:
    args = [sys.executable, "-m", "stages", "serve", "--model", str(trained["model"]), "--port", "0"]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith("strata serve: listening on http://127.0.0.1:"), first
        port = int(first.split("127.0.0.1:")[1].split(" ")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/predict", json.dumps(EVENT))
        assert conn.getresponse().status == 200
        conn.close()
        proc.send_signal(sig)
        rest = proc.stderr.read()
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
    assert " POST /predict rows=1 status=200 ms=" in rest
    assert rest.endswith("strata serve: stopped\n")

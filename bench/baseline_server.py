"""Baseline for bench/serve_load.py: `strata serve` as it was before issue 10 (stdlib http.server).

Frozen copy of strata/serving/server.py (and the bits of strata/serving/predict.py it used) at commit
8cd0bf8: one thread per request, one connection per request (HTTP/1.0), listen backlog 5, the model cast
without the data contract. Kept only to be measured side by side with the ASGI server; do not fix it.

    python bench/baseline_server.py --model models/model.skops [--port 0]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from strata.atomic import read_json, sha256_file  # noqa: E402
from strata.errors import SchemaError, StrataError  # noqa: E402
from strata.model import features  # noqa: E402
from strata.model.artifact import load_model  # noqa: E402

if TYPE_CHECKING:
    import pyarrow as pa


PREDICTED = "predicted"
PROBA_PREFIX = "proba_"


def score(model: Any, table: pa.Table, key: Sequence[str] = (), where: str | Path = "input") -> pa.Table:
    """Key columns (those present) + predicted class + one probability column per class, in input order.

    Input columns are cast to the model's contract types; one that cannot be is a SchemaError naming it.
    """
    import pyarrow as pa

    proba, predicted = features.predict(model, table, where)
    columns = {name: table[name] for name in key if name in table.column_names}
    columns[PREDICTED] = pa.array(predicted.tolist(), pa.string())
    for i, cls in enumerate(model.classes_):
        columns[f"{PROBA_PREFIX}{cls}"] = pa.array(proba[:, i], pa.float64())
    return pa.table(columns)


def read_text(source: Path | IO[bytes], fmt: str, names: Sequence[str], where: str | Path) -> pa.Table:
    """csv: every feature column read as text (cast to the model's types later); jsonl: as parsed.

    ``source`` is a file or a byte stream (the server feeds its events here), so both parse alike.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson

    try:
        if fmt == ".csv":
            options = pcsv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=True
            )
            return pcsv.read_csv(source, convert_options=options)
        return pjson.read_json(source)
    except pa.ArrowInvalid as exc:
        raise SchemaError(f"{where}: cannot parse ({str(exc).splitlines()[0]})") from exc


@dataclass(frozen=True)
class Loaded:
    """A verified model: the fitted Pipeline, its card ({} if there is none), event key and file sha256."""

    model: Any
    card: dict[str, Any]
    key: list[str]
    sha256: str


def load(model: Path, card: Path | None = None) -> Loaded:
    """Load the model (trusted types only) and its card; the card must describe this very model file.

    The card defaults to card.json beside the model and may be absent; one named explicitly must exist.
    """
    fitted = load_model(model)
    digest = sha256_file(model)
    path = card or model.with_name("card.json")
    info = read_json(path, default=None)
    if info is None and card is not None:
        raise SchemaError(f"{path}: model card not found")
    info = info or {}
    if info.get("model", {}).get("sha256") not in (None, digest):
        raise SchemaError(f"{path}: card does not describe {model} (sha256 differs)")
    return Loaded(fitted, info, list(info.get("key", [])), digest)


MAX_BODY = 10 * 1024 * 1024
REQUEST_TIMEOUT_S = 10.0  # a client that stalls mid-request cannot hold a thread (or shutdown) for longer
DISCARD_LIMIT = 64 * 1024 * 1024  # after a 413, read at most this much of the rejected body, then close
DISCARD_TIMEOUT_S = 2.0
WHERE = "request"


class BadRequest(StrataError):
    """The request body cannot be scored: malformed JSON, a missing feature column, an uncastable value."""


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """One JSON object, a JSON array of objects, or JSON Lines -> the list of events, in order."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise BadRequest("empty body: send one JSON event, a JSON array of events, or JSON Lines")
    try:
        doc = _loads(text)
    except json.JSONDecodeError as exc:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if exc.msg != "Extra data" or len(lines) < 2:
            raise BadRequest(f"malformed JSON: {exc}") from None
        doc = [_json_line(n, line) for n, line in lines]
    events = doc if isinstance(doc, list) else [doc]
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise BadRequest(f"events[{i}]: not a JSON object but {type(event).__name__}")
    return events


def _loads(text: str) -> Any:
    def constant(name: str) -> Any:
        raise BadRequest(f"malformed JSON: {name} is not a JSON value (send null)")

    return json.loads(text, parse_constant=constant)


def _json_line(number: int, line: str) -> Any:
    try:
        return _loads(line)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"line {number}: malformed JSON: {exc}") from None


def _score_rows(model: Any, events: Sequence[dict[str, Any]], where: str) -> pa.Table:
    """predict's JSON Lines path: feature fields only (missing key = null), read as jsonl, cast, score."""
    names = [name for name, _ in features.model_inputs(model)]
    lines = "\n".join(json.dumps({name: event.get(name) for name in names}) for event in events)
    table = read_text(io.BytesIO(lines.encode()), ".jsonl", names, where)
    return score(model, table, where=where)


def _locate(model: Any, events: Sequence[dict[str, Any]]) -> str | None:
    """The error of the first event that cannot be scored, found by bisecting prefixes; None if none alone."""
    lo, hi = 0, len(events)  # events[:hi] fails; events[:lo] scores
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            _score_rows(model, events[:mid], WHERE)
            lo = mid
        except (SchemaError, ValueError):
            hi = mid
    try:
        _score_rows(model, events[hi - 1 : hi], f"events[{hi - 1}]")
    except (SchemaError, ValueError) as exc:
        return str(exc).splitlines()[0]
    return None


def score_events(model: Any, card: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pure core: one prediction per event, in input order: {key, predicted, proba: {class: p}}.

    The key is the value of the card's key column (an object for a composite key, null without one), echoed
    as sent. Raises BadRequest naming the column, and the event when one event alone is at fault.
    """
    if not events:
        return []
    names = [name for name, _ in features.model_inputs(model)]
    absent = [name for name in names if not any(name in event for event in events)]
    if absent:
        raise BadRequest(f"{WHERE}: missing feature column '{absent[0]}'")
    try:
        result = _score_rows(model, events, WHERE)
    except (SchemaError, ValueError) as exc:  # sklearn refuses bad input (e.g. infinity) with ValueError
        message = _locate(model, events) or str(exc).splitlines()[0]
        raise BadRequest(message) from None
    classes = [str(c) for c in model.classes_]
    proba = [result[f"{PROBA_PREFIX}{c}"].to_pylist() for c in classes]
    key = list(card.get("key", []))
    return [
        {
            "key": _key(event, key),
            "predicted": predicted,
            "proba": {c: column[i] for c, column in zip(classes, proba, strict=True)},
        }
        for i, (event, predicted) in enumerate(zip(events, result[PREDICTED].to_pylist(), strict=True))
    ]


def _key(event: dict[str, Any], key: Sequence[str]) -> Any:
    if not key:
        return None
    if len(key) == 1:
        return event.get(key[0])
    return {name: event.get(name) for name in key}


def summary(loaded: Loaded) -> dict[str, Any]:
    """What /health and every response say about the model: enough to tell which one is serving."""
    info = loaded.card.get("model", {})
    return {
        "sha256": loaded.sha256,
        "kind": info.get("kind"),
        "estimator": info.get("estimator") or type(loaded.model[-1]).__name__,
        "classes": [str(c) for c in loaded.model.classes_],
        "key": loaded.key,
        "inputs": [{"name": n, "type": t} for n, t in features.model_inputs(loaded.model)],
        "training_rows": loaded.card.get("training", {}).get("rows"),
    }


class ScoringServer(ThreadingHTTPServer):
    """Holds the verified model; request threads are joined on close so in-flight requests finish."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], loaded: Loaded, max_body: int = MAX_BODY) -> None:
        super().__init__(address, Handler)
        self.loaded = loaded
        self.model_summary = summary(loaded)
        self.max_body = max_body

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class Handler(BaseHTTPRequestHandler):
    """POST /predict, GET /health; JSON in and out; one log line per request via log_request."""

    server_version = "strata-serve/1"
    timeout = REQUEST_TIMEOUT_S
    rows = 0
    started = 0.0

    @property
    def app(self) -> ScoringServer:
        return cast(ScoringServer, self.server)

    def do_GET(self) -> None:
        self.started = time.perf_counter()
        if urlsplit(self.path).path != "/health":
            self._not_found()
            return
        self._reply(HTTPStatus.OK, {"status": "ok", "model": self.app.model_summary})

    def do_POST(self) -> None:
        self.started = time.perf_counter()
        if urlsplit(self.path).path != "/predict":
            self._not_found()
            return
        try:
            predictions = self._predict()
        except BadRequest as exc:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": " ".join(str(exc).split())})
            return
        except _TooLarge as exc:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": str(exc)})
            self._discard(exc.length)
            return
        except Exception:  # the server's edge, like cli.edge: a bug answers 500, its trace stays in the log
            traceback.print_exc(file=sys.stderr)
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error (see the server log)"})
            return
        self._reply(HTTPStatus.OK, {"predictions": predictions, "model": self._model_ref()})

    def _predict(self) -> list[dict[str, Any]]:
        raw = self.headers.get("Content-Length")
        if raw is None:
            raise BadRequest("Content-Length header required (chunked bodies are not accepted)")
        try:
            length = int(raw)
        except ValueError:
            raise BadRequest(f"Content-Length is not a number: {raw!r}") from None
        if length > self.app.max_body:
            raise _TooLarge(length, f"body of {length} bytes is over the {self.app.max_body}-byte limit")
        events = parse_events(self.rfile.read(length))
        self.rows = len(events)
        return score_events(self.app.loaded.model, self.app.loaded.card, events)

    def _discard(self, length: int) -> None:
        """Read and drop what the client still sends (bounded), so closing does not reset the connection
        before the client has read the 413 (a socket closed with unread input sends RST)."""
        self.wfile.flush()
        self.connection.settimeout(DISCARD_TIMEOUT_S)
        remaining = min(length, DISCARD_LIMIT)
        try:
            while remaining > 0 and (chunk := self.rfile.read1(min(1 << 16, remaining))):
                remaining -= len(chunk)
        except OSError:
            pass

    def _model_ref(self) -> dict[str, Any]:
        return {key: self.app.model_summary[key] for key in ("sha256", "kind")}

    def _not_found(self) -> None:
        self._reply(
            HTTPStatus.NOT_FOUND, {"error": f"no such path: {self.path} (POST /predict, GET /health)"}
        )

    def _reply(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the base class raises itself (bad request line, unknown method) are JSON too."""
        self.close_connection = True
        self._reply(HTTPStatus(code), {"error": message or HTTPStatus(code).phrase})

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        elapsed = (time.perf_counter() - self.started) * 1000 if self.started else 0.0
        code = code.value if isinstance(code, HTTPStatus) else code
        method, path = self.command or "-", self.path if self.command else "-"
        self.log_message("%s %s rows=%d status=%s ms=%.1f", method, path, self.rows, code, elapsed)

    def log_error(self, format: str, *args: Any) -> None:  # the base class's signature
        """Silent: log_request already writes the one line for every request, errors included."""


class _TooLarge(Exception):
    def __init__(self, length: int, message: str) -> None:
        super().__init__(message)
        self.length = length


def make_server(
    loaded: Loaded, host: str = "127.0.0.1", port: int = 8080, max_body: int = MAX_BODY
) -> ScoringServer:
    """Bind (port 0 = any free port); call serve_forever() to run and shutdown() + server_close() to stop."""
    try:
        return ScoringServer((host, port), loaded, max_body)
    except OSError as exc:
        raise StrataError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def warm_up(loaded: Loaded) -> None:
    """One throwaway prediction before the first request, which pays the lazy imports instead of a sender."""
    names = [name for name, _ in features.model_inputs(loaded.model)]
    score_events(loaded.model, loaded.card, [dict.fromkeys(names)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--card", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    loaded = load(args.model, args.card)
    warm_up(loaded)
    server = make_server(loaded, args.host, args.port)

    def stop(signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    print(f"baseline serve: listening on {server.url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    print("baseline serve: stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

"""The ASGI app of `strata serve`: FastAPI routes over the contract, the micro-batcher and the model holder.

POST /predict reads the body itself, counting the bytes that actually arrive (``max_body``) against a
deadline (``body_timeout``), so neither a lying Content-Length nor a stalled sender can hold memory or a
request. Every answer is JSON; every client mistake is a 4xx with ``{"error": "<one line>"}``. Each request
writes one JSON log line to stderr and feeds the Prometheus metrics (strata.serving.metrics).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from strata.errors import StrataError
from strata.serving import openapi, scoring
from strata.serving.batcher import Batcher
from strata.serving.body import ClientError, parse_events
from strata.serving.metrics import CONTENT_TYPE, Metrics
from strata.serving.model import ModelHolder
from strata.serving.scoring import Outcome

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

ROUTES = "POST /predict; GET /health, /ready, /metrics, /docs, /openapi.json"
INLINE_BYTES = 64 * 1024  # bodies up to this are parsed on the event loop; bigger ones on a thread
DRAIN_BYTES = 64 << 20  # after a 413, read and drop at most this much (or 4x the limit) before closing


@dataclasses.dataclass(frozen=True)
class Limits:
    max_body: int = 10 * 1024 * 1024
    body_timeout: float = 10.0
    batch_window: float = 0.005
    max_batch_events: int = 256


def log_line(**fields: Any) -> None:
    """One structured line on stderr (UTC time, level, then the fields given)."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    sys.stderr.write(json.dumps({"ts": stamp, "level": "info", "pid": os.getpid(), **fields}) + "\n")


def answer(status: int, payload: dict[str, Any], close: bool = False) -> Response:
    headers = {"connection": "close"} if close else None
    return Response(json.dumps(payload), status, headers, media_type="application/json")


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(scope: Scope, receive: Receive, limits: Limits) -> bytes:
    """The body as received: at most ``max_body`` bytes, all of it within ``body_timeout`` seconds."""
    raw = header(scope, b"content-length")
    declared = int(raw) if raw is not None else None  # the HTTP parser has checked it is a number
    if declared is not None and declared > limits.max_body:
        if header(scope, b"expect") == b"100-continue":  # the client waits: refuse before it sends
            raise ClientError(413, f"body of {declared} bytes is over the {limits.max_body}-byte limit", True)
        await _drain(receive, limits, 0)
        raise ClientError(413, f"body of {declared} bytes is over the {limits.max_body}-byte limit", True)
    chunks: list[bytes] = []
    size = 0
    deadline = asyncio.get_running_loop().time() + limits.body_timeout
    more = True
    while more:
        message = await _receive_by(receive, deadline, limits, size, declared)
        chunk = message.get("body", b"")
        size += len(chunk)
        more = message.get("more_body", False)
        if more and scope.get("strata", {}).get("draining"):  # set by strata.serving.protocol
            raise ClientError(503, "server shutting down before the body arrived; send it again", True)
        if size > limits.max_body:
            if more:
                await _drain(receive, limits, size)
            text = f"body over the {limits.max_body}-byte limit ({size} bytes received)"
            raise ClientError(413, text, True)
        chunks.append(chunk)
    if declared is not None and size < declared:
        text = f"body ended after {size} of the {declared} bytes its Content-Length announced"
        raise ClientError(400, text, True)
    return b"".join(chunks)


async def _receive_by(
    receive: Receive, deadline: float, limits: Limits, size: int, declared: int | None
) -> MutableMapping[str, Any]:
    try:
        async with asyncio.timeout_at(deadline):
            message = await receive()
    except TimeoutError:
        expected = f" of {declared}" if declared is not None else ""
        text = f"body not received within {limits.body_timeout:g} s ({size}{expected} bytes arrived)"
        raise ClientError(408, text, True) from None
    if message["type"] == "http.disconnect":
        raise _Gone
    return message


async def _drain(receive: Receive, limits: Limits, size: int) -> None:
    """Read and drop (bounded in bytes and time) what the client still sends before the 413, so closing
    the connection does not reset it before the client has read the answer."""
    deadline = asyncio.get_running_loop().time() + min(limits.body_timeout, 2.0)
    budget = max(DRAIN_BYTES, 4 * limits.max_body)
    try:
        while size < budget:
            message = await _receive_by(receive, deadline, limits, size, None)
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return
    except (ClientError, _Gone):
        return


class _Gone(Exception):
    """The client disconnected: nobody to answer."""


class Service:
    """What the routes share: the model holder, the batcher, the metrics and the limits."""

    def __init__(self, holder: ModelHolder, limits: Limits) -> None:
        self.holder, self.limits = holder, limits
        self.metrics = Metrics()
        holder.watchers.append(lambda loaded: self.metrics.serving(loaded.summary()))
        self.batcher = Batcher(limits.batch_window, limits.max_batch_events, self.observe)

    def observe(self, outcome: Outcome, rows: int) -> None:
        scored = sum(1 for answers in outcome.answers for a in answers if "error" not in a)
        self.metrics.scored(outcome.model_calls, scored, dict(outcome.rejected), rows)

    async def predict(self, request: Request, echo: bool = False) -> Response:
        """POST /predict; raises _Gone when the client disconnected before its body arrived."""
        self.batcher.arrive()
        try:
            return await self._predict(request, echo)
        finally:
            self.batcher.answered()

    async def _predict(self, request: Request, echo: bool) -> Response:
        note = request.scope.setdefault("strata", {})
        try:
            body = await read_body(request.scope, request.receive, self.limits)
            note["bytes"] = len(body)
            source = request.query_params.get("source", "")
            loaded = self.holder.current
            kind = (header(request.scope, b"content-type") or b"").decode("latin-1")
            if len(body) <= INLINE_BYTES:
                events, single = parse_events(body, kind)
            else:
                events, single = await asyncio.to_thread(parse_events, body, kind)
            note["events"] = len(events)
            if echo:
                return answer(200, {"predictions": [getattr(e, "text", e) for e in events]})
            if len(body) <= INLINE_BYTES:
                prepared = scoring.prepare(loaded, events, source, "request")
            else:
                prepared = await asyncio.to_thread(scoring.prepare, loaded, events, source, "request")
        except ClientError as exc:
            return self.refuse(note, exc.status, str(exc), exc.close)
        except StrataError as exc:  # the contract refuses the request as a whole (e.g. a column missing)
            return self.refuse(note, 400, " ".join(str(exc).split()))
        finally:
            self.batcher.arrived()
        try:
            answers = await self.batcher.submit(prepared) if prepared.size else []
        except StrataError as exc:  # refused once scored alone (see scoring.score_prepared)
            return self.refuse(note, 400, " ".join(str(exc).split()))
        rejected = [a["error"] for a in answers if "error" in a]
        note["rejected"] = len(rejected)
        if single and rejected:
            return self.refuse(note, 400, rejected[0])
        model = {"version": loaded.version, "sha256": loaded.sha256}
        return answer(200, {"predictions": answers, "model": model})

    def refuse(self, note: dict[str, Any], status: int, message: str, close: bool = False) -> Response:
        note["error"] = message
        return answer(status, {"error": message}, close)


def create_app(
    holder: ModelHolder, limits: Limits, echo: bool = False, on_ready: Callable[[], None] = lambda: None
) -> Observed:
    """The app around ``holder``; ``echo`` answers /predict with the parsed events, without the model (the
    benchmark's floor: the same stack, body limits and JSON, no contract and no model). ``on_ready`` runs
    when the server starts, once it handles signals itself."""
    service = Service(holder, limits)

    async def not_found(request: Request, exc: HTTPException) -> Response:
        what = "no such path" if exc.status_code == 404 else f"{request.method} not allowed"
        return answer(exc.status_code, {"error": f"{what}: {request.url.path} ({ROUTES})"})

    async def bad_query(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return answer(400, {"error": f"{where}: {first.get('msg', 'invalid')}"})

    async def crash(request: Request, exc: Exception) -> Response:  # a bug: the trace goes to the log
        return answer(500, {"error": "internal error (see the server log)"})

    app = FastAPI(
        title="strata scoring",
        version="1",
        description="Scores events with the model trained by the strata pipeline, through its data contract.",
        redoc_url=None,
        exception_handlers={HTTPException: not_found, RequestValidationError: bad_query, Exception: crash},
        lifespan=_lifespan(service, on_ready),
    )

    @app.post("/predict", include_in_schema=False)
    async def predict(request: Request) -> Response:
        return await service.predict(request, echo)

    @app.get("/health", summary="Alive: the process answers; which model it serves")
    async def health() -> Response:
        return answer(200, {"status": "alive", "model": service.holder.current.summary()})

    @app.get("/ready", summary="Ready: a model is loaded and was checked by a prediction")
    async def ready() -> Response:
        current = service.holder.current
        return answer(
            200, {"status": "ready", "model": {"version": current.version, "sha256": current.sha256}}
        )

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    cache: dict[str, dict[str, Any]] = {}

    def document() -> dict[str, Any]:
        current = service.holder.current
        if current.sha256 not in cache:
            base = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            cache.clear()
            cache[current.sha256] = openapi.document(base, current)
        return cache[current.sha256]

    app.openapi = document  # type: ignore[method-assign]
    app.state.service = service
    return Observed(app, service, echo)


def _lifespan(service: Service, on_ready: Callable[[], None]) -> Any:
    import contextlib

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        service.metrics.serving(service.holder.current.summary())
        # Everything loaded so far (libraries, the model) lives as long as the server: moved out of the
        # garbage collector's reach, a full collection no longer walks it. Those collections paused a
        # request now and then by 50-100 ms (p99 at 64 clients: 160-180 ms before, 90-100 ms after).
        gc.collect()
        gc.freeze()
        on_ready()
        yield
        await service.batcher.close()

    return lifespan


class Observed:
    """ASGI wrapper: one log line and the request metrics for every HTTP request, whatever it ends in."""

    def __init__(self, app: FastAPI, service: Service, echo: bool = False) -> None:
        self.app, self.service, self.echo = app, service, echo
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 499  # nginx's "client closed the request", if nothing is sent

        async def send_and_note(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if scope["method"] == "POST" and scope["path"] == "/predict":
                await self._predict(scope, receive, send_and_note)
            else:
                await self.app(scope, receive, send_and_note)
        finally:
            seconds = time.perf_counter() - started
            self.service.metrics.request(scope["path"], scope["method"], status, seconds)
            note = scope.get("strata", {})
            client = scope.get("client")
            log_line(
                method=scope["method"],
                path=scope["path"],
                **({"query": scope["query_string"].decode("latin-1")} if scope.get("query_string") else {}),
                status=status,
                ms=round(seconds * 1000, 2),
                model=self.service.holder.current.version,
                client=f"{client[0]}:{client[1]}" if client else None,
                **note,
            )

    async def _predict(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /predict straight to the service: the hot path skips FastAPI's routing and dependency
        machinery (a third of the stack's time per request); the FastAPI route stays for docs and 405s."""
        try:
            response = await self.service.predict(Request(scope, receive), self.echo)
        except _Gone:  # nobody to answer
            scope.setdefault("strata", {})["error"] = "client disconnected before its body arrived"
            return
        except Exception:  # a bug, not the client's mistake: a JSON 500, the trace in the log
            logging.getLogger("uvicorn.error").exception("POST /predict failed")
            response = answer(500, {"error": "internal error (see the server log)"})
        await response(scope, receive, send)

    def refused(self, status: int, message: str) -> None:
        """A request the HTTP protocol refused before the app saw it (strata.serving.protocol)."""
        self.service.metrics.request("other", "-", status, 0.0)
        log_line(method=None, path=None, status=status, error=message)

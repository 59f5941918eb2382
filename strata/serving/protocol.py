"""uvicorn's httptools protocol with the guards a public endpoint needs before a request reaches the app.

- Headers have ``header_timeout`` seconds from the connection's first byte (or from the end of the previous
  answer): a client trickling one byte every few seconds gets a 408 and is disconnected.
- Anything the HTTP parser refuses (a negative or non-numeric Content-Length, a broken chunk, garbage) is a
  400 with a one-line JSON error, like every other error of the server, instead of uvicorn's plain text.
- A client that half-closes its side still gets its answer (uvicorn would drop the connection), and a body
  cut short by it ends there: the app sees fewer bytes than the Content-Length and answers 400 at once.

- On shutdown, a request still receiving its body is flagged in its scope (``scope["strata"]["draining"]``)
  and woken, so the app answers it 503 at once: a stalled sender cannot hold the shutdown.

The body's own limits (size counted as it arrives, time) are the app's (strata.serving.app).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, cast

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

Observer = Callable[[int, str], None]  # (status, message) of a request refused here, for the log/metrics


def protocol_class(header_timeout: float, observe: Observer) -> type[HttpToolsProtocol]:
    """The protocol class uvicorn's Config(http=...) takes, with this server's header timeout."""
    return type(
        "StrataHttpProtocol", (StrataHttpProtocol,), {"header_timeout": header_timeout, "observe": observe}
    )


class StrataHttpProtocol(HttpToolsProtocol):
    header_timeout = 5.0
    observe: Observer = staticmethod(lambda status, message: None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._began = False

    # -------------------------------------------------------------------------------- header timeout

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if not self._began:  # a connection that never sent a byte is closed without an answer
            self.transport.close()
            return
        self._refuse(408, f"request headers not received within {self.header_timeout:g} s")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._began = True
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._began = False
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._disarm()  # idle between requests: uvicorn's keep-alive timeout applies instead

    # --------------------------------------------------------------------------- parser errors, EOF

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._refuse(400, f"malformed HTTP request: {exc}")
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not supported")

    def shutdown(self) -> None:
        """The server is stopping: a request still receiving its body is told so (the app answers 503 at
        once instead of waiting out a stalled sender); everything else is left to uvicorn."""
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_started:
            scope = cast(dict[str, Any], self.scope)
            scope.setdefault("strata", {})["draining"] = True
            cycle.message_event.set()
        super().shutdown()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, msg)

    def eof_received(self) -> bool | None:  # type: ignore[override]
        """The client closed its sending side: answer what it sent if there is something to answer."""
        cycle = self.cycle
        if self._began:
            self._refuse(400, "connection closed before the request headers were complete")
            return None
        if cycle is None or cycle.response_complete:
            return None  # idle: close
        cycle.keep_alive = False
        if cycle.more_body:
            cycle.more_body = False  # the body ends here; the app compares it with its Content-Length
            cycle.message_event.set()
        return True  # keep the transport open for the answer; uvicorn closes it after

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with a one-line JSON error and close, for a request the app never saw."""
        self._disarm()
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        body = json.dumps({"error": message}).encode()
        head = f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
        head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
        self.transport.write(head.encode("latin-1") + body)
        self.transport.close()
        self.observe(status, message)


_REASONS = {400: "Bad Request", 408: "Request Timeout"}

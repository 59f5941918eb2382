"""A request body -> the events it holds: one JSON object, a JSON array of them, or JSON Lines.

The client's mistakes found here are :class:`ClientError` with the HTTP status to answer and one line of
text; nothing in a body can make this module raise anything else (deep nesting included).
"""

from __future__ import annotations

import json
from typing import Any

from strata.errors import StrataError


class ClientError(StrataError):
    """A request the client has to change: answered with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str, close: bool = False) -> None:
        super().__init__(" ".join(message.split()))
        self.status = status
        self.close = close  # the connection's state is unknown (body not read to its end): close it


def parse_events(body: bytes) -> tuple[list[Any], bool]:
    """(events in order, whether the body was one object). Values are kept as parsed: the contract decides
    what a value means, and a non-object in an array or a line is an event the contract rejects."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClientError(400, f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise ClientError(400, "empty body: send one JSON event, a JSON array of events, or JSON Lines")
    try:
        doc = _loads(text, "")
    except _ExtraData:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        return [_loads(line, f"line {n}: ") for n, line in lines], False
    if isinstance(doc, list):
        return doc, False
    return [doc], True


class _ExtraData(Exception):
    """More than one JSON value: the body is JSON Lines."""


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and not where:
            raise _ExtraData from None
        raise ClientError(400, f"{where}malformed JSON: {exc}") from None
    except RecursionError:
        raise ClientError(400, f"{where}malformed JSON: nested too deeply") from None

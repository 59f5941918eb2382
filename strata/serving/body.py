"""A request body -> the events it holds: one JSON object, a JSON array of them, or JSON Lines.

A JSON Lines body is read line by line as the JSON Lines reader reads a delivered file (a line that is no
JSON object, or repeats a key, is a malformed event, rejected with its line). A JSON document (one object
or an array) must parse as a whole: otherwise, or with a key given twice in one object, it is a 400. The
client's mistakes found here are :class:`ClientError` with the HTTP status to answer and one line of text;
nothing in a body can make this module raise anything else (deep nesting included).
"""

from __future__ import annotations

import collections
import dataclasses
import json
from typing import Any

from strata.errors import StrataError

JSON_LINES_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")


class ClientError(StrataError):
    """A request the client has to change: answered with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str, close: bool = False) -> None:
        super().__init__(" ".join(message.split()))
        self.status = status
        self.close = close  # the connection's state is unknown (body not read to its end): close it


@dataclasses.dataclass(frozen=True)
class Malformed:
    """A JSON Lines line that is no JSON object: an event the contract rejects as a malformed row."""

    text: str


def parse_events(body: bytes, content_type: str = "") -> tuple[list[Any], bool]:
    """(events in order, whether the body was one object). Values are kept as parsed: the contract decides
    what a value means; a non-object (in an array, or a Malformed line) is an event it rejects."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClientError(400, f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise ClientError(400, "empty body: send one JSON event, a JSON array of events, or JSON Lines")
    if content_type.split(";", maxsplit=1)[0].strip().lower() not in JSON_LINES_TYPES:
        try:
            doc = _document(text)
        except _ExtraData:
            pass  # more than one JSON value: JSON Lines
        else:
            return (doc, False) if isinstance(doc, list) else ([doc], True)
    return [_line(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()], False


class _ExtraData(Exception):
    """More than one JSON value: the body is JSON Lines."""


class _Duplicate(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        counts = collections.Counter(k for k, _ in pairs)
        raise _Duplicate(f"duplicate key '{next(k for k, _ in pairs if counts[k] > 1)}'")
    return obj


def _document(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            raise _ExtraData from None
        raise ClientError(400, f"malformed JSON: {exc}") from None
    except _Duplicate as exc:
        raise ClientError(400, f"malformed JSON: {exc}") from None
    except RecursionError:
        raise ClientError(400, "malformed JSON: nested too deeply") from None
    except ValueError as exc:  # an integer of 4300+ digits
        raise ClientError(400, f"malformed JSON: {str(exc).splitlines()[0]}") from None


def _line(number: int, line: str) -> Any:
    from strata.sources.readers import json_line

    obj, why = json_line(line)
    return obj if obj is not None else Malformed(f"line {number}: {why}{line.rstrip()}")

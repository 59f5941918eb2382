"""Scoring: clean rows -> class probabilities, for files (`strata predict`) and requests (`strata serve`).

Both paths first put their rows through the contract (strata.serving.door) and then call the same
:func:`predict_clean`, so a row gets the same probabilities from a file, from one request, or from a batch of
requests scored together. The request path is pure too: :func:`prepare` turns one request's events into a
:class:`Prepared` (structural problems raise), :func:`score_prepared` scores any number of them in one model
call per contract and answers each event on its own.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from strata.contract.columns import resolve_columns
from strata.contract.spec import ROW, Contract, arrow_type
from strata.serving import door
from strata.serving.model import Loaded

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

PREDICTED = "predicted"
PROBA_PREFIX = "proba_"
COLUMN_SETS = 1024  # distinct request column sets remembered per model


def predict_clean(loaded: Loaded, clean: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities, predicted class) of contract-typed rows; the one model call of both paths.

    See :func:`strata.serving.fast.score`.
    """
    from strata.serving import fast

    return fast.score(loaded.model, loaded.compiled, clean, loaded.path)


def scores_schema(loaded: Loaded) -> pa.Schema:
    """`strata predict` output: key columns (contract types), ``_row``, predicted, one proba per class."""
    import pyarrow as pa

    key = [(name, arrow_type(loaded.contract.columns[name].type)) for name in loaded.contract.key]
    fields = [*key, (ROW, pa.int64()), (PREDICTED, pa.string())]
    return pa.schema(fields + [(f"{PROBA_PREFIX}{c}", pa.float64()) for c in loaded.classes])


def score_table(loaded: Loaded, clean: pa.Table, rows: pa.Array) -> pa.Table:
    """Scores of clean rows in :func:`scores_schema`; ``rows`` are their row numbers in the input."""
    import pyarrow as pa

    schema = scores_schema(loaded)
    if clean.num_rows == 0:
        return schema.empty_table()
    proba, predicted = predict_clean(loaded, clean)
    arrays = [clean.column(name) for name in loaded.contract.key]
    arrays += [rows, pa.array(predicted.tolist(), pa.string())]
    arrays += [pa.array(proba[:, i], pa.float64()) for i in range(len(loaded.classes))]
    return pa.Table.from_arrays(arrays, schema=schema)


# ------------------------------------------------------------------------------------------- requests


@dataclasses.dataclass(frozen=True)
class Prepared:
    """One request's events, checked for structure, ready to be scored alone or with other requests."""

    loaded: Loaded  # the model the request was checked against (and will be scored by)
    contract: Contract  # loaded.contract, or loaded.relaxed when the events carry no target
    source: str
    events: list[Any]  # as parsed; objects renamed to contract columns (only those), anything else as is
    keys: list[Any]  # the key of each event as sent (None without a key), echoed in the answer

    @property
    def size(self) -> int:
        return len(self.events)


@dataclasses.dataclass
class Outcome:
    """What scoring some requests did: one answer per event of each request, and counts for metrics."""

    answers: list[list[dict[str, Any]]]
    errors: dict[int, str] = dataclasses.field(default_factory=dict)  # request index -> why it failed whole
    rejected: Counter[str] = dataclasses.field(default_factory=Counter)  # rows per "<kind>: <column>"
    model_calls: list[int] = dataclasses.field(default_factory=list)  # rows per model call


def prepare(loaded: Loaded, events: list[Any], source: str, where: str) -> Prepared:
    """Events (parsed JSON values) -> Prepared, checked as a JSON Lines file of them would be: its columns
    are the keys of all its objects; a required one missing, or two names for one column, is a
    SchemaError for the whole request. Cheap (the answer per column set is cached): the text and typed
    values are built later, for many requests at once (:func:`score_prepared`)."""
    names = tuple(dict.fromkeys(k for event in events if isinstance(event, dict) for k in event))
    if not names and any(isinstance(event, dict) for event in events):  # only {}: validate refuses too
        resolve_columns(names, loaded.relaxed, source, where)
    contract, mapping = _columns(loaded, names, source, where)
    pairs = [(column, delivered) for column, delivered in mapping.items() if delivered is not None]
    renamed = [
        {column: event[name] for column, name in pairs if name in event} if isinstance(event, dict) else event
        for event in events
    ]
    keys = [_key(event, loaded.contract.key, mapping) for event in events]
    return Prepared(loaded, contract, source, renamed, keys)


def _columns(
    loaded: Loaded, names: tuple[str, ...], source: str, where: str
) -> tuple[Contract, door.Mapping]:
    """door.for_input of a request's column names, remembered per model (most requests send the same)."""
    from strata.errors import StrataError
    from strata.sources.rawtext import check_names

    cache = loaded.columns_cache
    hit = cache.get((names, source, where))
    if hit is None:
        try:
            check_names(list(names), where, "JSON keys")
            hit = door.for_input(loaded.contract, loaded.relaxed, list(names), source, where)
        except StrataError as exc:
            hit = exc
        if len(cache) >= COLUMN_SETS:
            cache.clear()
        cache[(names, source, where)] = hit
    if isinstance(hit, Exception):
        raise type(hit)(str(hit))  # a fresh one: re-raising the cached object would grow its traceback
    return hit


def _key(event: Any, key: Sequence[str], mapping: door.Mapping) -> Any:
    if not key or not isinstance(event, dict):
        return None
    values = {name: event.get(mapping[name]) if mapping[name] else None for name in key}
    return values[key[0]] if len(key) == 1 else values


def score_prepared(requests: Sequence[Prepared]) -> Outcome:
    """Score requests together: one contract check and one model call per (model, contract, source).

    Each event is answered on its own, in request order: ``{key, predicted, proba}`` or, for an event the
    contract rejects, ``{key, error}`` with validate's reason text.
    """
    from strata.errors import StrataError

    outcome = Outcome([[] for _ in requests])
    groups: dict[tuple[int, int, str], list[int]] = {}
    for i, req in enumerate(requests):
        groups.setdefault((id(req.loaded), id(req.contract), req.source), []).append(i)
    for members in groups.values():
        try:
            _score_group([requests[i] for i in members], [outcome.answers[i] for i in members], outcome)
        except StrataError:  # a request that got past prepare() broke the batch: isolate it
            if len(members) == 1:
                raise
            for i in members:
                outcome.answers[i] = []
                try:
                    _score_group([requests[i]], [outcome.answers[i]], outcome)
                except StrataError as exc:
                    outcome.answers[i], outcome.errors[i] = [], " ".join(str(exc).split())
    return outcome


def _score_group(requests: list[Prepared], answers: list[list[dict[str, Any]]], outcome: Outcome) -> None:
    from strata.sources.readers import records_batch

    first = requests[0]
    records: list[tuple[dict[str, Any] | None, str | None]] = [
        (event, None)
        if isinstance(event, dict)
        else (None, getattr(event, "text", None) or json.dumps(event))
        for req in requests
        for event in req.events
    ]
    raw = records_batch(records, "request")  # the JSON Lines reader's text, for all requests at once
    contract = first.contract
    merged = door.renamed(raw, contract, {c: c for c in raw.schema.names[:-2]})
    checked = door.check(merged, contract, door.identity(contract), first.source, "request")
    outcome.rejected.update(checked.reasons)
    scored: dict[int, tuple[str, list[float]]] = {}
    if checked.clean.num_rows:
        proba, predicted = predict_clean(first.loaded, checked.clean)
        outcome.model_calls.append(checked.clean.num_rows)
        rows = checked.clean.column(ROW).to_pylist()
        scored = dict(zip(rows, zip(predicted.tolist(), proba.tolist(), strict=True), strict=True))
    errors = door.reject_reasons(checked.rejects)
    classes = first.loaded.classes
    row = 0
    for req, out in zip(requests, answers, strict=True):
        for key in req.keys:
            if row in scored:
                label, probs = scored[row]
                out.append({"key": key, "predicted": label, "proba": dict(zip(classes, probs, strict=True))})
            else:
                out.append({"key": key, "error": errors[row]})
            row += 1

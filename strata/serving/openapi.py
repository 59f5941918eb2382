"""The contract as the API: the OpenAPI description of POST /predict, generated from the model's contract.

Every contract column is a property of ``Event`` with its JSON type, allowed values, range, unit and aliases;
required columns are required (the target aside: it is what the model predicts). The answer lists the
model's classes. Nothing here is written by hand per column: a new contract gives a new document.
"""

from __future__ import annotations

from typing import Any

from strata.contract.spec import ColumnSpec, Contract
from strata.serving.model import Loaded

JSON_TYPES = {"string": "string", "category": "string", "int": "integer", "float": "number"}
JSON_TYPES |= {"bool": "boolean", "timestamp": "string"}


def column_schema(contract: Contract, name: str, spec: ColumnSpec) -> dict[str, Any]:
    kind = JSON_TYPES[spec.type]
    optional = not spec.required or name == contract.target
    schema: dict[str, Any] = {"type": [kind, "null"] if optional else kind}
    notes = []
    if spec.type == "timestamp":
        if spec.format:
            notes.append(f"timestamp in the format {spec.format!r} (strptime), read as UTC")
        else:
            schema["format"] = "date-time"
            notes.append("ISO 8601 (a date alone is midnight), naive means UTC")
    if spec.values:
        schema["enum"] = [*spec.values, *([None] if optional else [])]
    if spec.min is not None:
        schema["minimum"] = spec.min
    if spec.max is not None:
        schema["maximum"] = spec.max
    if spec.unit:
        notes.append(f"unit {spec.unit}")
        others = {src: units[name] for src, units in contract.source_units.items() if name in units}
        notes += [
            f"source '{src}' sends {unit!r} (converted before the range check)"
            for src, unit in others.items()
        ]
    if spec.aliases:
        notes.append("also accepted under the names " + ", ".join(f"'{a}'" for a in spec.aliases))
        schema["x-strata-aliases"] = list(spec.aliases)
    if name == contract.target:
        notes.append("the target the model predicts: optional; checked as in validate when sent")
    elif not spec.feature or name in contract.key:
        notes.append("not a model input (key or bookkeeping); checked all the same")
    schema["description"] = "; ".join(notes) or spec.type
    return schema


def event_schema(contract: Contract) -> dict[str, Any]:
    required = [c for c, spec in contract.columns.items() if spec.required and c != contract.target]
    na = ", ".join(repr(v) for v in contract.na_values)
    return {
        "title": "Event",
        "type": "object",
        "description": (
            "One event, as a source delivers it. Values may also come as text, as in a CSV file: numbers "
            f"as '1.5', booleans as {', '.join(map(repr, contract.true_values + contract.false_values))}; "
            f"missing is null, an absent key, or one of {na}. Names are matched exactly, then by alias, then "
            "case-insensitively with spaces, dashes and dots read as '_'. Other keys are ignored."
        ),
        "properties": {name: column_schema(contract, name, spec) for name, spec in contract.columns.items()},
        "required": required,
        "additionalProperties": True,
    }


def schemas(loaded: Loaded) -> dict[str, Any]:
    key = loaded.contract.key
    key_schema: dict[str, Any] = (
        {"description": f"the event's key column ({key[0]}) as sent, or null"}
        if len(key) == 1
        else {
            "type": ["object", "null"],
            "description": f"the key columns ({', '.join(key)}) as sent, or null",
        }
    )
    proba = {c: {"type": "number", "minimum": 0, "maximum": 1} for c in loaded.classes}
    return {
        "Event": event_schema(loaded.contract),
        "Scored": {
            "type": "object",
            "required": ["key", "predicted", "proba"],
            "properties": {
                "key": key_schema,
                "predicted": {"type": "string", "enum": list(loaded.classes)},
                "proba": {"type": "object", "properties": proba, "required": list(loaded.classes)},
            },
        },
        "Rejected": {
            "type": "object",
            "required": ["key", "error"],
            "description": "an event the data contract rejects, with validate's reason text",
            "properties": {"key": key_schema, "error": {"type": "string"}},
        },
        "Predictions": {
            "type": "object",
            "required": ["predictions", "model"],
            "properties": {
                "predictions": {
                    "type": "array",
                    "description": "one entry per event, in the order sent",
                    "items": {"oneOf": [_ref("Scored"), _ref("Rejected")]},
                },
                "model": {"type": "object", "description": "the model that answered: version, sha256, kind"},
            },
        },
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    }  # fmt: skip


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def predict_operation(loaded: Loaded) -> dict[str, Any]:
    event = _ref("Event")
    units = sorted(loaded.contract.source_units)

    def error(text: str) -> dict[str, Any]:
        return {
            "description": text,
            "content": {"application/json": {"schema": _ref("Error")}},
        }

    return {
        "summary": "Score events",
        "description": (
            "Each event goes through the data contract as in `strata validate`, then the model. "
            "One JSON object is answered 200 with its prediction, or 400 with the contract's reason "
            "if it breaks a rule. An array or JSON Lines is answered 200 with one entry per event, "
            "each either scored or rejected with its reason. A required column absent from every "
            "event, malformed JSON or an unreadable request is a 400 for the whole request."
        ),
        "operationId": "predict",
        "parameters": [{
            "name": "source", "in": "query", "required": False, "schema": {"type": "string", "default": ""},
            "description": "the source the events come from: its contract.source_units apply "
            f"(sources with their own units: {', '.join(units) or 'none'})",
        }],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"oneOf": [event, {"type": "array", "items": event}]}},
            "application/x-ndjson": {"schema": {"type": "string", "description": "JSON Lines"}},
        }},
        "responses": {
            "200": {"description": "predictions, one per event", "content": {
                "application/json": {"schema": _ref("Predictions")}}},
            "400": error("malformed request, or the single event breaks the contract (its reason)"),
            "408": error("headers or body not received in time"),
            "413": error("body over the size limit"),
        },
    }  # fmt: skip


def document(base: dict[str, Any], loaded: Loaded) -> dict[str, Any]:
    """FastAPI's document of the other routes, with /predict described from the contract."""
    doc = dict(base)
    doc["paths"] = {**base.get("paths", {}), "/predict": {"post": predict_operation(loaded)}}
    components = dict(base.get("components", {}))
    components["schemas"] = {**components.get("schemas", {}), **schemas(loaded)}
    doc["components"] = components
    doc["info"] = {**base.get("info", {}), "x-model": loaded.summary()}
    return doc

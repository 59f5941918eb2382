"""Typed, frozen views of plain mappings (YAML params, JSON metadata): dataclasses built with checked keys.

Unknown keys are errors, not silently ignored, and every error names the key's dotted path, so a typo in
params.yaml fails loudly where it is. A dataclass may define ``check(where)`` for rules across its fields.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import types
import typing
from typing import Any, TypeVar

from strata.errors import ConfigError

T = TypeVar("T")


def build(cls: type[T], raw: Any, where: str) -> T:
    """Construct dataclass ``cls`` from a mapping, checking keys and types; errors name the key path."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (allowed: {', '.join(sorted(fields))})")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in raw.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}")
    try:
        obj = cls(**kwargs)
    except TypeError as exc:
        missing = [n for n, f in fields.items() if n not in raw and _required(f)]
        raise ConfigError(f"{where}: missing key '{missing[0] if missing else exc}'") from exc
    check = getattr(obj, "check", None)
    if callable(check):
        check(where)
    return obj


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _coerce(hint: Any, value: Any, where: str) -> Any:  # noqa: PLR0911 - one branch per type shape
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for kind in inner[:-1]:  # `float | str`: the first type that takes the value
            with contextlib.suppress(ConfigError):
                return _coerce(kind, value, where)
        return _coerce(inner[-1], value, where)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where)  # type: ignore[arg-type]
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, datetime.date):  # YAML reads an unquoted 1900-01-01 as a date
        return value.isoformat()
    if hint in (int, float, str, bool) and not (isinstance(value, hint) and not _bool_as_number(hint, value)):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _bool_as_number(hint: Any, value: Any) -> bool:
    return hint in (int, float) and isinstance(value, bool)

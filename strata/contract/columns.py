"""Which delivered column carries which contract column: names, aliases, normalized names, and units.

A contract column matches a delivered column by exact name, then an alias, then a normalized name
(case-insensitive, spaces/dashes/dots -> ``_``). A missing *required* column, two delivered columns for one
contract column, or a unit conversion the contract cannot do is a ``SchemaError`` for the whole batch,
raised before any row is read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from strata.contract.spec import NUMERIC, ROW
from strata.contract.units import conversion
from strata.errors import SchemaError

if TYPE_CHECKING:
    from strata.contract.spec import Contract


def _normalize(name: str) -> str:
    return re.sub(r"[\s.\-]", "_", name.strip()).lower()


def resolve_columns(
    names: Sequence[str], contract: Contract, source: str, where: str
) -> dict[str, str | None]:
    """Map each contract column to the delivered column that carries it (None: absent)."""
    check_units(contract, source, where)
    delivered = [n for n in names if n != ROW]
    exact = {n: c for c, spec in contract.columns.items() for n in (c, *spec.aliases)}
    normal = {_normalize(n): c for c, spec in reversed(contract.columns.items()) for n in (c, *spec.aliases)}
    found: dict[str, list[str]] = {}
    for name in delivered:
        column = exact.get(name) or normal.get(_normalize(name))
        if column is not None:
            found.setdefault(column, []).append(name)
    mapping: dict[str, str | None] = {}
    for column, spec in contract.columns.items():
        hits = found.get(column, [])
        if len(hits) > 1:
            both = " and ".join(f"'{h}'" for h in hits)
            raise SchemaError(f"{where}: delivered columns {both} both map to contract column '{column}'")
        if not hits and spec.required:
            raise SchemaError(
                f"{where}: missing required column '{column}' (delivered: {', '.join(delivered)})"
            )
        mapping[column] = hits[0] if hits else None
    return mapping


def check_units(contract: Contract, source: str, where: str) -> None:
    """Raise SchemaError for a unit conversion this source needs but strata.contract.units cannot do."""
    for column, unit in contract.source_units.get(source, {}).items():
        spec = contract.columns[column]
        what = f"{where}: column '{column}' of source '{source}'"
        if spec.type not in NUMERIC:
            raise SchemaError(f"{what}: unit conversion needs an int or float column, not {spec.type}")
        conversion(unit, spec.unit, what)

"""The data contract itself: what a clean row is, declared once in params.yaml (``validate.contract``).

This module is the one place that says what the contract holds and how it maps onto Arrow: the column
specs, the one type map (:data:`ARROW_TYPES`), the clean and quarantine schemas, the column names strata
adds to data, and the round trip through a Parquet file's schema metadata, which is how every stage after
validate (split, train, evaluate, predict, serve, the reviewer tools) gets the *same* :class:`Contract`
without reading another stage's params.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from strata.errors import ConfigError, SchemaError

if TYPE_CHECKING:
    import pyarrow as pa

# Columns strata adds: partitions carry ROW and MALFORMED, clean rows SOURCE, BATCH and ROW (lineage),
# quarantine rows ROW and REASON.
ROW, MALFORMED, SOURCE, BATCH, REASON = "_row", "_malformed", "_source", "_batch", "reason"
RESERVED = (ROW, MALFORMED, SOURCE, BATCH)
METADATA_KEY = b"strata.contract"
NUMERIC = ("int", "float")
TEXT = ("string", "category")

COLUMN_TYPES = ("string", "int", "float", "bool", "timestamp", "category")
# Timestamps outside this window are out of range unless a column sets its own min/max: a year 0000 or
# 10000 is a typo or a sentinel, and many tools (Python's datetime, pandas) cannot even hold it.
TIMESTAMP_WINDOW = ("1900-01-01", "2200-01-01")


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    """One column of the data contract."""

    type: str
    required: bool = False  # required: present in every batch and never null (else quarantine)
    aliases: tuple[str, ...] = ()  # other names sources use for this column
    min: float | str | None = None  # a number; for a timestamp an ISO date/time (naive = UTC)
    max: float | str | None = None
    values: tuple[str, ...] = ()  # allowed values (category/string)
    unit: str = ""  # canonical unit; sources reporting another unit are converted (contract.source_units)
    format: str = ""  # timestamp: strptime format; empty = ISO 8601
    feature: bool = True  # offered to the model (key/target/timestamp handling aside)

    def check(self, where: str) -> None:
        if self.type not in COLUMN_TYPES:
            raise ConfigError(f"{where}.type: '{self.type}' is not one of {', '.join(COLUMN_TYPES)}")
        for bound in ("min", "max"):
            self._check_bound(bound, getattr(self, bound), where)
        low, high = self.limits()
        if low is not None and high is not None and low > high:
            raise ConfigError(
                f"{where}: min {self.limit_text('min')} is greater than max {self.limit_text('max')}"
            )
        if self.type == "category" and not self.values:
            raise ConfigError(f"{where}.values: a category column lists its allowed values")

    def _check_bound(self, bound: str, value: float | str | None, where: str) -> None:
        if value is None:
            return
        if self.type in NUMERIC:
            if isinstance(value, str) or value != value:  # noqa: PLR0124 - NaN: no row would ever fail
                raise ConfigError(
                    f"{where}.{bound}: expected a number (not NaN) for a {self.type} column, got {value!r}"
                )
        elif self.type == "timestamp":
            if not isinstance(value, str):
                raise ConfigError(
                    f"{where}.{bound}: expected an ISO date or date-time such as '1900-01-01' or "
                    f"'2026-01-01T00:00:00Z', got {value!r}"
                )
            timestamp_micros(value, f"{where}.{bound}")
        else:
            raise ConfigError(f"{where}.{bound}: only int, float and timestamp columns have a {bound}")

    def limits(self) -> tuple[float | int | None, float | int | None]:
        """(min, max) to compare typed values with: numbers as given, timestamps as UTC microseconds (with
        the default window where unset)."""
        if self.type != "timestamp":
            return _number_or_none(self.min), _number_or_none(self.max)
        low, high = (self.limit_text(bound) for bound in ("min", "max"))
        return timestamp_micros(low, "min"), timestamp_micros(high, "max")

    def limit_text(self, bound: str) -> str:
        """The limit as the contract spells it (for reasons), the default window for a timestamp."""
        value = getattr(self, bound)
        if value is None and self.type == "timestamp":
            return TIMESTAMP_WINDOW[0 if bound == "min" else 1]
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)


def _number_or_none(value: float | str | None) -> float | None:
    return None if value is None or isinstance(value, str) else float(value)


def timestamp_micros(text: str, where: str) -> int:
    """UTC microseconds since the epoch of an ISO date or date-time (naive = UTC)."""
    import datetime as dt

    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: '{text}' is not an ISO date or date-time ({exc})") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (parsed - epoch) // dt.timedelta(microseconds=1)


@dataclasses.dataclass(frozen=True)
class Contract:
    """The data contract: what a clean row is. Declared in params.yaml under validate.contract."""

    target: str
    columns: dict[str, ColumnSpec]
    key: tuple[str, ...] = ()  # empty: no tidy key, a row's identity is the hash of all its values
    na_values: tuple[str, ...] = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
    source_units: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    true_values: tuple[str, ...] = ("true", "True", "TRUE", "1", "yes", "y", "t")
    false_values: tuple[str, ...] = ("false", "False", "FALSE", "0", "no", "n", "f")

    def features(self, drop: Sequence[str] = ()) -> list[str]:
        """Columns offered to a model: ``feature: true``, not the key, not the target, not dropped."""
        excluded = {*self.key, self.target, *drop}
        return [c for c, spec in self.columns.items() if spec.feature and c not in excluded]

    def check(self, where: str) -> None:
        reserved = [c for c in self.columns if c in RESERVED]
        if reserved:
            raise ConfigError(f"{where}.columns.{reserved[0]}: the name is reserved by strata")
        for name in (self.target, *self.key):
            if name not in self.columns:
                raise ConfigError(f"{where}: column '{name}' is named as key/target but not declared")
        for source, units in self.source_units.items():
            for column in units:
                if column not in self.columns or not self.columns[column].unit:
                    raise ConfigError(
                        f"{where}.source_units.{source}.{column}: not a contract column with a unit"
                    )


def arrow_types() -> dict[str, pa.DataType]:
    """The one type map: contract type -> the Arrow type of its clean column."""
    import pyarrow as pa

    return {
        "string": pa.string(),
        "category": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }


def arrow_type(kind: str) -> pa.DataType:
    types = arrow_types()
    if kind not in types:
        raise SchemaError(f"contract type '{kind}' is not one of {', '.join(types)}")
    return types[kind]


def clean_schema(contract: Contract) -> pa.Schema:
    """Contract columns (required ones non-nullable), then lineage columns, with the contract as metadata."""
    import pyarrow as pa

    fields = [pa.field(c, arrow_type(s.type), nullable=not s.required) for c, s in contract.columns.items()]
    lineage = [(SOURCE, pa.string()), (BATCH, pa.string()), (ROW, pa.int64())]
    fields += [pa.field(name, kind, nullable=False) for name, kind in lineage]
    return pa.schema(fields, metadata={METADATA_KEY: to_metadata(contract)})


def quarantine_schema(delivered: Sequence[str]) -> pa.Schema:
    import pyarrow as pa

    names = [n for n in delivered if n != ROW]
    return pa.schema([*(pa.field(n, pa.string()) for n in names), (ROW, pa.int64()), (REASON, pa.string())])


def to_metadata(contract: Contract) -> bytes:
    """The whole contract as compact JSON in declaration order (same contract, same bytes)."""
    return json.dumps(dataclasses.asdict(contract), separators=(",", ":")).encode()


def from_metadata(schema: pa.Schema, where: object) -> Contract:
    """The contract a clean-format file was written under (split, train, evaluate, predict read it here)."""
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise SchemaError(f"{where}: not clean-format Parquet (no 'strata.contract' schema metadata)")
    return from_json(raw, where, "strata.contract metadata")


def from_json(raw: bytes | str, where: object, what: str) -> Contract:
    """The contract from the JSON :func:`to_metadata` wrote: a clean file's metadata, or the model card's
    ``contract``; ``what`` names that place in errors."""
    from strata.typed import build

    try:
        data: Any = json.loads(raw)
        return build(Contract, data, f"{where}: {what}")
    except (ValueError, ConfigError) as exc:
        raise SchemaError(f"{where}: unreadable {what} ({exc})") from exc


def read_contract(path: object) -> Contract:
    """The contract of a clean-format Parquet file, read from its footer only."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(str(path))
    except FileNotFoundError as exc:
        raise SchemaError(f"{path}: file not found") from exc
    return from_metadata(schema, path)

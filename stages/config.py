"""Typed, frozen views of params.yaml, one per section. Reading is explicit: nothing happens at import.

Each stage reads only its own section (dvc.yaml lists exactly those keys under ``params:``), so changing
``train.*`` never reruns ``validate``. Unknown keys are errors, not silently ignored: a typo in
params.yaml should fail loudly with the key's dotted path.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from stages.errors import ConfigError

T = TypeVar("T")

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: Path = DEFAULT_PARAMS) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: params file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def section(path: Path, name: str, cls: type[T]) -> T:
    """Read one top-level section of params.yaml into the frozen dataclass ``cls``."""
    data = load_params(path)
    if name not in data:
        raise ConfigError(f"{path}: missing section '{name}'")
    return build(cls, data[name], f"{path}:{name}")


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
        return _coerce(inner[0], value, where)
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
    if hint in (int, float, str, bool) and not (isinstance(value, hint) and not _bool_as_number(hint, value)):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _bool_as_number(hint: Any, value: Any) -> bool:
    return hint in (int, float) and isinstance(value, bool)


# --------------------------------------------------------------------------------------------- sections


@dataclasses.dataclass(frozen=True)
class SiteSpec:
    """One simulated customer site and how it delivers its daily batch."""

    name: str
    format: str  # csv | csv.gz | jsonl | jsonl.gz | parquet
    homes: int = 40
    height_unit: str = "cm"  # the unit this site reports object height in
    new_column_from_day: int = -1  # day index from which this site also sends `phone_nearby`

    def check(self, where: str) -> None:
        if self.format not in SIM_FORMATS:
            raise ConfigError(f"{where}.format: '{self.format}' is not one of {', '.join(SIM_FORMATS)}")


SIM_FORMATS = ("csv", "csv.gz", "jsonl", "jsonl.gz", "parquet")


@dataclasses.dataclass(frozen=True)
class SimulateParams:
    seed: int
    start_date: str
    days: int
    events_per_day: int
    sites: tuple[SiteSpec, ...]
    mess_rate: float = 0.03  # fraction of rows given one kind of mess


SOURCE_KINDS = ("files", "simulated", "s3", "http")
SOURCE_FORMATS = ("auto", "csv", "jsonl", "parquet")


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """A place batches are delivered to. Every delivered file (object, URL) is one batch, one datum."""

    name: str
    kind: str
    path: str = ""  # files/simulated: folder relative to ingest.landing
    glob: str = "*"
    format: str = "auto"  # auto = from the file name (.csv, .jsonl, .parquet, optionally .gz)
    url: str = ""  # s3://bucket/prefix or http(s)://host/listing
    endpoint_url: str = ""  # s3: a non-AWS endpoint (MinIO, loopback moto)
    delimiter: str = ","
    encoding: str = "utf8"

    def check(self, where: str) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ConfigError(f"{where}.kind: '{self.kind}' is not one of {', '.join(SOURCE_KINDS)}")
        if self.format not in SOURCE_FORMATS:
            raise ConfigError(f"{where}.format: '{self.format}' is not one of {', '.join(SOURCE_FORMATS)}")
        if self.kind in ("files", "simulated") and not self.path:
            raise ConfigError(f"{where}.path: a '{self.kind}' source needs a folder")
        if self.kind in ("s3", "http") and not self.url:
            raise ConfigError(f"{where}.url: a '{self.kind}' source needs a url")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ConfigError(f"{where}.name: '{self.name}' must be a plain folder name")


@dataclasses.dataclass(frozen=True)
class IngestParams:
    landing: str
    sources: tuple[SourceSpec, ...]
    chunk_rows: int = 65536

    def check(self, where: str) -> None:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"{where}.sources: source name '{dupes[0]}' is used twice")
        if not self.sources:
            raise ConfigError(f"{where}.sources: at least one source is needed")


COLUMN_TYPES = ("string", "int", "float", "bool", "timestamp", "category")


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    """One column of the data contract."""

    type: str
    required: bool = False  # required: present in every batch and never null (else quarantine)
    aliases: tuple[str, ...] = ()  # other names sources use for this column
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()  # allowed values (category/string)
    unit: str = ""  # canonical unit; sources reporting another unit are converted (contract.source_units)
    format: str = ""  # timestamp: strptime format; empty = ISO 8601
    feature: bool = True  # offered to the model (key/target/timestamp handling aside)

    def check(self, where: str) -> None:
        if self.type not in COLUMN_TYPES:
            raise ConfigError(f"{where}.type: '{self.type}' is not one of {', '.join(COLUMN_TYPES)}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ConfigError(f"{where}: min {self.min} is greater than max {self.max}")
        if self.type == "category" and not self.values:
            raise ConfigError(f"{where}.values: a category column lists its allowed values")


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

    def check(self, where: str) -> None:
        for name in (self.target, *self.key):
            if name not in self.columns:
                raise ConfigError(f"{where}: column '{name}' is named as key/target but not declared")
        for source, units in self.source_units.items():
            for column in units:
                if column not in self.columns or not self.columns[column].unit:
                    raise ConfigError(
                        f"{where}.source_units.{source}.{column}: not a contract column with a unit"
                    )


@dataclasses.dataclass(frozen=True)
class ValidateParams:
    contract: Contract
    chunk_rows: int = 65536
    workers: int = 0  # datums validated at once; 0 = one per core. Does not change any output byte.


@dataclasses.dataclass(frozen=True)
class SplitParams:
    seed: int
    test_fraction: float

    def check(self, where: str) -> None:
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"{where}.test_fraction: must be between 0 and 1, got {self.test_fraction}")


@dataclasses.dataclass(frozen=True)
class TrainParams:
    seed: int
    model: str  # hist_gradient_boosting | random_forest | logistic_regression
    hyperparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    drop_columns: tuple[str, ...] = ()
    class_weight: str = ""  # "" or "balanced"


@dataclasses.dataclass(frozen=True)
class EvaluateParams:
    false_alarm_rate: float = 0.01  # intruder recall is reported at this rate of false intruder alarms
    alarm_class: str = "intruder"
    slice_by: str = "_source"


@dataclasses.dataclass(frozen=True)
class GateParams:
    """For each metric (dotted path into eval/metrics.json), the largest drop allowed."""

    max_drop: dict[str, float] = dataclasses.field(default_factory=dict)

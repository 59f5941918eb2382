"""Typed, frozen views of params.yaml, one per section. Reading is explicit: nothing happens at import.

Each stage reads only its own section (dvc.yaml lists exactly those keys under ``params:``), so changing
``train.*`` never reruns ``validate``. Unknown keys are errors, not silently ignored: a typo in
params.yaml should fail loudly with the key's dotted path.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, TypeVar

from strata.contract.spec import Contract
from strata.errors import ConfigError
from strata.typed import build

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


@dataclasses.dataclass(frozen=True)
class ValidateParams:
    contract: Contract
    chunk_rows: int = 65536


EXECUTOR_KINDS = ("local", "dask")
MAX_WORKERS = 4096
MAX_RETRIES = 10


@dataclasses.dataclass(frozen=True)
class ExecutorParams:
    """Where per-datum work runs (top-level `executor`). Shapes no output byte: never in a fingerprint."""

    kind: str = "local"  # local: a process pool on this machine | dask: a distributed cluster
    address: str = ""  # dask: scheduler address (tcp://host:8786); empty = start a LocalCluster here
    workers: int = 0  # local pool / LocalCluster processes; 0 = one per core (small runs stay in-process)
    retries: int = 2  # a datum that fails (worker lost, crash) is tried again this many times

    def check(self, where: str) -> None:
        if self.kind not in EXECUTOR_KINDS:
            raise ConfigError(f"{where}.kind: '{self.kind}' is not one of {', '.join(EXECUTOR_KINDS)}")
        if not 0 <= self.workers <= MAX_WORKERS:
            raise ConfigError(f"{where}.workers: must be between 0 and {MAX_WORKERS}, got {self.workers}")
        if not 0 <= self.retries <= MAX_RETRIES:
            raise ConfigError(f"{where}.retries: must be between 0 and {MAX_RETRIES}, got {self.retries}")
        if self.address and self.kind != "dask":
            raise ConfigError(f"{where}.address: only a 'dask' executor connects to an address")
        if self.address and not re.fullmatch(r"([a-z]+://)?[\w.\-\[\]:]+", self.address):
            raise ConfigError(
                f"{where}.address: '{self.address}' is not a scheduler address (tcp://host:8786)"
            )


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

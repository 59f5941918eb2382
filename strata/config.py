"""Typed, frozen views of params.yaml, one per section. Reading is explicit: nothing happens at import.

Each stage reads only its own section (dvc.yaml lists exactly those keys under ``params:``), so changing
``train.*`` never reruns ``validate``. Unknown keys are errors, not silently ignored: a typo in
params.yaml should fail loudly with the key's dotted path.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path, PurePosixPath
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
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an impossible date such as 2026-13-01
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def section(path: Path, name: str, cls: type[T], optional: bool = False) -> T:
    """Read one top-level section of params.yaml into the frozen dataclass ``cls``; an ``optional`` section
    that is absent takes the class's defaults."""
    data = load_params(path)
    if name not in data and optional:
        return build(cls, {}, f"{path}:{name}")
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
FOLDER_KINDS = ("files", "simulated")
MAX_CHUNK_ROWS = (
    1 << 24
)  # rows per record batch: more only costs memory (JSON Lines holds a chunk as objects)
MAX_WORKERS = 256
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def check_chunk_rows(value: int, where: str) -> None:
    if not 1 <= value <= MAX_CHUNK_ROWS:
        raise ConfigError(f"{where}.chunk_rows: must be between 1 and {MAX_CHUNK_ROWS}, got {value}")


def _inside(value: str, where: str, rule: str) -> None:
    """A path or glob that stays inside its folder: relative, no `..` component (DVC watches only there)."""
    parts = PurePosixPath(value.replace("\\", "/")).parts
    if value.startswith(("/", "\\", "~")) or (len(value) > 1 and value[1] == ":") or ".." in parts:
        raise ConfigError(f"{where}: '{value}' points outside the source; {rule}")


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
    allow_empty: bool = False  # a source that delivers nothing is an error unless this says it may

    def check(self, where: str) -> None:
        if not self.name or self.name.startswith(".") or not set(self.name) <= NAME_CHARS:
            raise ConfigError(
                f"{where}.name: '{self.name}' must be a plain folder name (letters, digits, '_', '-', '.'; "
                "not starting with '.')"
            )
        if self.kind not in SOURCE_KINDS:
            raise ConfigError(f"{where}.kind: '{self.kind}' is not one of {', '.join(SOURCE_KINDS)}")
        if self.format not in SOURCE_FORMATS:
            raise ConfigError(f"{where}.format: '{self.format}' is not one of {', '.join(SOURCE_FORMATS)}")
        self._check_location(where)
        if not self.glob:
            raise ConfigError(f"{where}.glob: empty; use '*' for every file")
        _inside(self.glob, f"{where}.glob", "a glob is relative to the source's folder, without '..'")
        if len(self.delimiter) != 1 or not self.delimiter.isascii() or self.delimiter in '"\r\n':
            raise ConfigError(
                f"{where}.delimiter: {self.delimiter!r} must be one ASCII character other than a double "
                "quote or a line break (e.g. ',', ';', '\\t', '|')"
            )
        self._check_encoding(where)

    def _check_location(self, where: str) -> None:
        if self.kind in FOLDER_KINDS:
            if not self.path:
                raise ConfigError(f"{where}.path: a '{self.kind}' source needs a folder")
            _inside(
                self.path, f"{where}.path", "a folder inside ingest.landing is relative to it, without '..'"
            )
            for key in ("url", "endpoint_url"):
                if getattr(self, key):
                    raise ConfigError(
                        f"{where}.{key}: a '{self.kind}' source reads a folder (path), not a url"
                    )
            return
        if not self.url:
            raise ConfigError(f"{where}.url: a '{self.kind}' source needs a url")
        schemes = ("s3://",) if self.kind == "s3" else ("http://", "https://")
        if not self.url.startswith(schemes):
            raise ConfigError(f"{where}.url: '{self.url}' must start with {' or '.join(schemes)}")
        if self.path:
            raise ConfigError(f"{where}.path: a '{self.kind}' source reads its url, not a folder")
        if self.endpoint_url and self.kind != "s3":
            raise ConfigError(f"{where}.endpoint_url: only an 's3' source has an endpoint")

    def _check_encoding(self, where: str) -> None:
        import codecs

        try:
            text = codecs.lookup(self.encoding)._is_text_encoding
        except LookupError:
            text = False
        if not text:
            raise ConfigError(
                f"{where}.encoding: '{self.encoding}' is not a text encoding Python knows "
                "(e.g. utf8, latin-1, cp1252, utf-16)"
            )


@dataclasses.dataclass(frozen=True)
class IngestParams:
    landing: str
    sources: tuple[SourceSpec, ...]
    chunk_rows: int = 65536

    def check(self, where: str) -> None:
        if not self.landing:
            raise ConfigError(f"{where}.landing: empty; name the folder local sources live in")
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"{where}.sources: source name '{dupes[0]}' is used twice")
        if not self.sources:
            raise ConfigError(f"{where}.sources: at least one source is needed")
        check_chunk_rows(self.chunk_rows, where)


@dataclasses.dataclass(frozen=True)
class ValidateParams:
    contract: Contract
    chunk_rows: int = 65536

    def check(self, where: str) -> None:
        check_chunk_rows(self.chunk_rows, where)


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
    ratios: tuple[tuple[str, ...], ...] = ()  # [a, b]: the model also sees a_per_b (strata.model.features)
    bag: int = 1  # models averaged, seeded seed, seed + 1, ...
    threads: int = 1  # every thread pool while fitting: same model bytes on any machine for the same value

    def check(self, where: str) -> None:
        for name in ("bag", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{where}.{name}: must be an int >= 1, got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class EvaluateParams:
    false_alarm_rate: float = 0.01  # alarm recall is reported where this share of other events alarm
    alarm_class: str = "intruder"
    slice_by: str = "_source"

    def check(self, where: str) -> None:
        if not 0.0 <= self.false_alarm_rate < 1.0:
            raise ConfigError(f"{where}.false_alarm_rate: must be in [0, 1), got {self.false_alarm_rate}")


@dataclasses.dataclass(frozen=True)
class GateParams:
    """For each metric (dotted path into eval/metrics.json), the largest drop allowed."""

    max_drop: dict[str, float] = dataclasses.field(default_factory=dict)


REGISTRY_BUMPS = ("patch", "minor", "major")
# GTO's name grammar (gto.constants.name): artifact and stage names become parts of git tags
GTO_NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"


def _gto_name(value: str, where: str) -> None:
    import re

    if not re.fullmatch(GTO_NAME, value):
        raise ConfigError(
            f"{where}: '{value}' is not a valid GTO name (letters, digits, '-', '_', '/'; starting and "
            "ending with a letter or digit)"
        )


@dataclasses.dataclass(frozen=True)
class RegistryParams:
    """The model registry (GTO tags): which dvc.yaml artifact, its stages, which are gated, serving's poll."""

    artifact: str = "model"  # the `artifacts:` entry of dvc.yaml that is the model
    stages: tuple[str, ...] = ("staging", "prod")  # stages a version may be promoted to
    gated_stages: tuple[str, ...] = ("prod",)  # promotion runs the gate against the version now there
    poll_seconds: float = 30.0  # how often a server following a stage looks for a moved tag
    bump: str = "patch"  # the part `strata models register` bumps by default

    def check(self, where: str) -> None:
        _gto_name(self.artifact, f"{where}.artifact")
        for i, stage in enumerate(self.stages):
            _gto_name(stage, f"{where}.stages[{i}]")
        if len(set(self.stages)) != len(self.stages):
            raise ConfigError(f"{where}.stages: a stage is listed twice: {', '.join(self.stages)}")
        for stage in self.gated_stages:
            if stage not in self.stages:
                raise ConfigError(
                    f"{where}.gated_stages: '{stage}' is not one of the stages ({', '.join(self.stages)})"
                )
        if not 0.1 <= self.poll_seconds <= 86400:
            raise ConfigError(f"{where}.poll_seconds: must be between 0.1 and 86400, got {self.poll_seconds}")
        if self.bump not in REGISTRY_BUMPS:
            raise ConfigError(f"{where}.bump: '{self.bump}' is not one of {', '.join(REGISTRY_BUMPS)}")

"""Tasks for executor tests: module-level functions, so worker processes and dask workers can import them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from strata.errors import SchemaError


def square(x: int) -> int:
    return x * x


def flaky(counters: str, label: str, failures: int) -> str:
    """Fail the first ``failures`` calls for ``label`` (counted in a file: calls may run anywhere)."""
    path = Path(counters) / label
    calls = int(path.read_text()) if path.exists() else 0
    path.write_text(str(calls + 1))
    if calls < failures:
        raise RuntimeError(f"injected failure {calls + 1}\nsecond line")
    return label


def bad_data(name: str) -> None:
    raise SchemaError(f"{name}: missing required column 'w'")


def stay(pids: str, label: str) -> None:
    """Record this worker's pid, then work for a long time (a parent killed meanwhile must take us along)."""
    Path(pids, label).write_text(str(os.getpid()))
    time.sleep(600)


def pid(label: str) -> tuple[str, int]:
    return label, os.getpid()


def environ(name: str, label: str) -> str | None:
    """The worker's value of environment variable ``name``."""
    return os.environ.get(name)


def dask_config(key: str, label: str) -> object:
    """The worker's dask config value at ``key``."""
    import dask

    return dask.config.get(key)

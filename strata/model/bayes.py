"""The oracle beside a simulated feed (docs/oracle.md), joined to the test split by key: the Bayes rate.

This module owns the oracle file format, which strata.simulator.oracle writes: Parquet files whose schema
metadata (:data:`METADATA_KEY`) names their key column, their profile column, the classes and the prefix of
their ``posterior.<class>`` columns, so evaluate needs nothing from the simulator. Anything short of a
posterior for every test row is "no oracle" with the reason, never zeros.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strata.errors import SchemaError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


METADATA_KEY = b"strata.oracle"
PREFIX = "posterior."


def metadata(key: str, profile: str, classes: Sequence[str]) -> dict[bytes, str]:
    """The schema metadata of an oracle file."""
    meta = {"key": key, "profile": profile, "classes": list(classes), "prefix": PREFIX}
    return {METADATA_KEY: json.dumps(meta, sort_keys=True)}


@dataclasses.dataclass(frozen=True)
class Oracle:
    """Posteriors aligned with the test rows: ``proba[:, i]`` is P(classes[i] | x); profile per row."""

    proba: np.ndarray
    classes: list[str]
    profiles: np.ndarray
    source: str


def _meta(path: Path, schema: pa.Schema) -> dict[str, Any]:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise SchemaError(f"{path}: not an oracle file (no {METADATA_KEY.decode()} metadata)")
    meta: dict[str, Any] = json.loads(raw)
    return meta


def _read(folder: Path, keys: pa.Array) -> tuple[dict[str, Any], pa.Table | None]:
    """The oracle rows whose key is among ``keys``, and the files' common metadata."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    meta: dict[str, Any] = {}
    parts = []
    for path in sorted(folder.rglob("*.parquet")):
        table = pq.read_table(path)
        found = _meta(path, table.schema)
        if meta and found != meta:
            raise SchemaError(f"{path}: oracle metadata differs from the other files in {folder}")
        meta = found
        if meta["key"] in table.column_names:
            parts.append(table.filter(pc.is_in(table[meta["key"]], value_set=keys)))
    if not parts:
        return meta, None
    return meta, pa.concat_tables(parts)


def _unusable(folder: Path | None, test: pa.Table, key: Sequence[str]) -> str:
    if folder is None:
        return "no oracle: none given (--oracle)"
    if len(key) != 1 or key[0] not in test.column_names:
        return f"no oracle: the test split has no single-column key (key: {list(key)})"
    return ""


def load(folder: Path | None, test: pa.Table, key: Sequence[str], labels: Sequence[str]) -> Oracle | str:
    """The oracle for every test row, or the reason there is none (a one-line string)."""
    import numpy as np

    reason = _unusable(folder, test, key)
    if reason or folder is None:
        return reason
    ids = test[key[0]].combine_chunks()
    meta, table = _read(folder, ids) if folder.is_dir() else ({}, None)
    if not meta:
        return f"no oracle: {folder} holds no oracle files"
    if meta["key"] != key[0]:
        return f"no oracle: it is keyed by '{meta['key']}', the test split by '{key[0]}'"
    if not set(labels) <= set(meta["classes"]):
        return f"no oracle: its classes ({', '.join(meta['classes'])}) are not the target's"
    rows: dict[str, int] = {}
    if table is not None:
        for i, value in enumerate(table[meta["key"]].to_pylist()):
            rows.setdefault(value, i)
    wanted = ids.to_pylist()
    missing = sum(value not in rows for value in wanted)
    if missing:
        return f"no oracle: {missing} of {len(wanted)} test rows have no posterior in {folder}"
    assert table is not None  # every test row was found
    take = np.array([rows[value] for value in wanted], dtype=np.int64)
    proba = np.column_stack(
        [table[f"{meta['prefix']}{c}"].to_numpy(zero_copy_only=False)[take] for c in meta["classes"]]
    )
    profiles = np.asarray(table[meta["profile"]].to_pylist(), dtype=object)[take]
    return Oracle(proba, list(meta["classes"]), profiles, str(folder))

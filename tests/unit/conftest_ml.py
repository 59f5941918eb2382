"""Tiny clean-format frames for the ML stage tests (features, train, evaluate, predict)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from strata.contract.spec import METADATA_KEY, ColumnSpec, Contract, to_metadata

CONTRACT = Contract(
    key=("event_id",),
    target="label",
    columns={
        "event_id": ColumnSpec(type="string", feature=False),
        "ts": ColumnSpec(type="timestamp"),
        "entry_point": ColumnSpec(type="category", values=("front_door", "back_door", "window")),
        "height": ColumnSpec(type="float", unit="cm"),
        "speed": ColumnSpec(type="float", unit="m/s"),
        "code_ok": ColumnSpec(type="bool"),
        "label": ColumnSpec(type="category", feature=False, values=("resident", "intruder", "animal")),
    },
)

SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("entry_point", pa.string()),
        ("height", pa.float64()),
        ("speed", pa.float64()),
        ("code_ok", pa.bool_()),
        ("label", pa.string()),
        ("_source", pa.string()),
        ("_batch", pa.string()),
        ("_row", pa.int64()),
    ],
    metadata={METADATA_KEY: to_metadata(CONTRACT)},
)


def make_table(rows: int = 120, seed: int = 0, prefix: str = "e") -> pa.Table:
    """Labels follow the features (animals are short, intruders fail the code at night) plus noise."""
    rng = np.random.default_rng(seed)
    label = rng.choice(["resident", "intruder", "animal"], size=rows, p=[0.5, 0.25, 0.25])
    height = np.where(label == "animal", rng.normal(40, 10, rows), rng.normal(175, 10, rows))
    height[rng.random(rows) < 0.1] = np.nan
    hour = np.where(label == "intruder", rng.integers(0, 5, rows), rng.integers(7, 22, rows))
    ts = np.datetime64("2026-01-01T00:00:00", "us") + (
        rng.integers(0, 30, rows) * 86_400 + hour * 3600
    ).astype("timedelta64[s]")
    code = [None if rng.random() < 0.1 else bool(x != "intruder") for x in label]
    entry = rng.choice(["front_door", "back_door", "window"], size=rows).astype(object)
    entry[rng.random(rows) < 0.05] = None
    source = rng.choice(["acme", "birch"], size=rows)
    arrays = [
        pa.array([f"{prefix}{i:05d}" for i in range(rows)]),
        pa.array(ts, pa.timestamp("us", tz="UTC")),
        pa.array(entry, pa.string()),
        pa.array(height, pa.float64(), from_pandas=True),
        pa.array(rng.gamma(2.0, 1.0, rows)),
        pa.array(code, pa.bool_()),
        pa.array(label),
        pa.array(source),
        pa.array([f"{s}batch" for s in source]),
        pa.array(np.arange(rows), pa.int64()),
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def write_split(folder: Path, train_rows: int = 160, test_rows: int = 80) -> dict[str, Path]:
    """data/split-like files: train.parquet, test.parquet, summary.json, and a params.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "train": folder / "train.parquet",
        "test": folder / "test.parquet",
        "summary": folder / "summary.json",
        "params": folder / "params.yaml",
    }
    pq.write_table(make_table(train_rows, seed=1, prefix="a"), paths["train"])
    pq.write_table(make_table(test_rows, seed=2, prefix="b"), paths["test"])
    summary = {
        "train_rows": train_rows,
        "test_rows": test_rows,
        "partitions": ["acme/0123456789abcdef", "birch/fedcba9876543210"],
        "seed": 7,
        "test_fraction": 0.25,
    }
    paths["summary"].write_text(json.dumps(summary))
    write_params(paths["params"])
    return paths


def write_params(
    path: Path, model: str = "hist_gradient_boosting", hyperparams: str = "{max_iter: 15}"
) -> None:
    path.write_text(
        f"train:\n  seed: 42\n  model: {model}\n  hyperparams: {hyperparams}\n  class_weight: balanced\n"
        "evaluate:\n  alarm_class: intruder\n  false_alarm_rate: 0.05\n  slice_by: _source\n"
    )

"""A stand-in for the default model when there is no `make repro` output: params.yaml's contract (13
columns), its train section with 66 iterations (no early stopping: 66 x 3 = 198 tree predictors, the size
of the default model when the figures in bench/README.md were measured with it; the default trained on
today's feed stops at about 100 rounds) and its ratios, fitted by `strata train` on 4,000 synthetic clean
rows.

    .venv/bin/python bench/standin_model.py OUT          writes OUT/model.skops, card.json, test.parquet
    .venv/bin/python bench/serve_load.py --model OUT/model.skops --events OUT/test.parquet

The rows are random within the contract's ranges and values (5% of each float missing, 10% of each bool):
the scores mean nothing, the work per request is the default model's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parent.parent
ROWS = 4000


def column(spec: Any, name: str, rng: np.random.Generator) -> pa.Array:
    kind = spec.type
    if kind == "timestamp":
        micros = rng.integers(0, 30 * 86_400 * 10**6, ROWS).astype("timedelta64[us]")
        return pa.array(np.datetime64("2026-01-01T00:00:00", "us") + micros, pa.timestamp("us", tz="UTC"))
    if kind == "category":
        return pa.array(rng.choice(list(spec.values), ROWS))
    if kind == "string":
        return pa.array([f"{name}{i}" for i in range(ROWS)])
    if kind == "float":
        low, high = spec.min, spec.max
        values = rng.uniform(
            float(low if low is not None else 0), float(high if high is not None else 100), ROWS
        )
        return pa.array(np.where(rng.random(ROWS) < 0.05, np.nan, values), pa.float64(), from_pandas=True)
    if kind == "bool":
        return pa.array([None if r < 0.1 else bool(r > 0.5) for r in rng.random(ROWS)], pa.bool_())
    raise SystemExit(f"contract column '{name}': type {kind} not generated here")


def main(out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from threadpoolctl import threadpool_limits

    from stages import train
    from strata.contract.spec import clean_schema, from_json

    out.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    contract = from_json(json.dumps(params["validate"]["contract"]), "params.yaml", "validate.contract")
    rng = np.random.default_rng(1)
    columns = {name: column(spec, name, rng) for name, spec in contract.columns.items() if name != "label"}
    short = np.nan_to_num(columns["height"].to_numpy(zero_copy_only=False), nan=100.0) < 60
    columns["label"] = pa.array(
        np.where(short, "animal", rng.choice(["resident", "intruder"], ROWS, p=[0.7, 0.3]))
    )
    columns |= {"_source": pa.array(["acme"] * ROWS), "_batch": pa.array(["b"] * ROWS)}
    columns["_row"] = pa.array(np.arange(ROWS), pa.int64())
    schema = clean_schema(contract)
    table = pa.Table.from_arrays([columns[field.name] for field in schema], schema=schema)
    pq.write_table(table, out / "train.parquet")
    pq.write_table(table.slice(0, 2000), out / "test.parquet")
    (out / "summary.json").write_text(
        json.dumps({"partitions": ["acme/0123456789abcdef"], "train_rows": ROWS})
    )
    hyperparams = params["train"]["hyperparams"] | {"max_iter": 66, "early_stopping": False}
    section = {"train": params["train"] | {"hyperparams": hyperparams}, "evaluate": params["evaluate"]}
    (out / "params.yaml").write_text(yaml.safe_dump(section))
    with threadpool_limits(limits=1):
        train.command(
            train=out / "train.parquet",
            summary=out / "summary.json",
            model=out / "model.skops",
            card_path=out / "card.json",
            params=out / "params.yaml",
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="folder for model.skops, card.json and test.parquet")
    main(ap.parse_args().out)

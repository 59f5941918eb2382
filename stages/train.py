"""train: fit the Pipeline on data/split/train.parquet; write the skops model and its JSON card.

The model file is byte-stable: skops names arrays by ``id(obj)``, names raw-bytes entries with uuid4 and
stamps every zip entry with the wall clock, so :func:`stable_dumps` renumbers ids in schema order, renames
the files to match and rewrites the zip with a fixed timestamp. Same data + params -> same sha256.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stages import features
from stages.config import DEFAULT_PARAMS, TrainParams, section
from stages.errors import SchemaError
from stages.io import atomic_path, read_json, sha256_bytes, write_json

if TYPE_CHECKING:
    import pyarrow as pa

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_NAMED_FILE = re.compile(r"^(?P<stem>[^.]+)\.(?P<ext>npy|bin)$")


def _collect_ids(node: Any, order: dict[str, int]) -> None:
    """Give each skops object id and each zip file stem a sequence number in schema traversal order."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                order.setdefault(str(value), len(order))
            elif key == "file" and isinstance(value, str) and _NAMED_FILE.match(value):
                order.setdefault(value.split(".")[0], len(order))
            else:
                _collect_ids(value, order)
    elif isinstance(node, list):
        for item in node:
            _collect_ids(item, order)


def _renumber(node: Any, order: dict[str, int]) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                out[key] = order[str(value)]
            elif key == "file" and isinstance(value, str) and _NAMED_FILE.match(value):
                stem, ext = value.split(".")
                out[key] = f"{order[stem]}.{ext}"
            else:
                out[key] = _renumber(value, order)
        return out
    if isinstance(node, list):
        return [_renumber(item, order) for item in node]
    return node


def stable_dumps(model: Any) -> bytes:
    """skops bytes with ids, file names and zip timestamps made deterministic (loads like the original)."""
    import skops.io as sio

    raw = zipfile.ZipFile(io.BytesIO(sio.dumps(model)))
    schema = json.loads(raw.read("schema.json"))
    order: dict[str, int] = {}
    _collect_ids(schema, order)
    entries = {"schema.json": json.dumps(_renumber(schema, order), indent=2, sort_keys=True).encode()}
    for name in raw.namelist():
        match = _NAMED_FILE.match(name)
        if match:
            entries[f"{order[match['stem']]}.{match['ext']}"] = raw.read(name)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            out.writestr(info, entries[name], compresslevel=6)
    return buffer.getvalue()


def fit(table: pa.Table, contract: dict[str, Any], params: TrainParams) -> tuple[Any, dict[str, Any]]:
    """Pure core: fit the Pipeline on a clean table; return it with the training facts for the card."""
    import numpy as np

    columns = features.input_columns(contract, params.drop_columns)
    inputs = [(name, ctype) for name, ctype, _ in columns]
    target = contract["target"]
    if table.num_rows == 0:
        raise SchemaError(
            "train table: no rows to train on (all were quarantined or duplicates; see the reasons in "
            "data/clean/manifest.json)"
        )
    if table[target].null_count:
        raise SchemaError(f"target '{target}' has {table[target].null_count} missing values")
    frame = features.to_frame(table, inputs, "train table")
    y = np.asarray(table[target].to_pylist(), dtype=object)
    if len(set(y)) < 2:
        raise SchemaError(f"train table: target '{target}' has only the class {y[0]!r}; need at least two")
    model = features.build_pipeline(
        columns, params.model, params.hyperparams, params.seed, params.class_weight
    )
    # what Pipeline.fit does, step by step, so the matrix is built once and can be measured for the card
    matrix = model[:-1].fit_transform(frame, y)
    model[-1].fit(matrix, y)
    classes, counts = np.unique(y, return_counts=True)
    facts = {
        "rows": int(table.num_rows),
        "class_counts": {str(c): int(n) for c, n in zip(classes, counts, strict=True)},
        "matrix_bytes": int(matrix.nbytes),
        "matrix_shape": [int(matrix.shape[0]), int(matrix.shape[1])],
        "matrix_dtype": str(matrix.dtype),
        "matrix_note": "the encoded float matrix the estimator is fitted on (after derive + preprocess), "
        "dense numpy; the pandas input frame and the estimator's own copies are not counted",
    }
    facts["key"] = list(contract.get("key", []))
    facts["target"] = target
    return model, facts


def card(model: Any, params: TrainParams, facts: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """The model card: what the model is, what it reads, what it was trained on, and from which data."""
    import sklearn
    import skops

    inputs = features.model_inputs(model)
    return {
        "version": 1,
        "model": {"kind": params.model, "estimator": type(model[-1]).__name__, "format": "skops"},
        "params": dataclasses.asdict(params),
        "versions": {"sklearn": sklearn.__version__, "skops": skops.__version__},
        "key": facts.pop("key"),
        "target": facts.pop("target"),
        "input_schema": [
            {"name": name, "type": ctype, "arrow_type": str(features.arrow_type(ctype))}
            for name, ctype in inputs
        ],
        "model_features": [str(name) for name in model.named_steps["preprocess"].get_feature_names_out()],
        "classes": [str(c) for c in model.classes_],
        "training": facts,
        "lineage": {
            "partitions": sorted(summary.get("partitions", [])),
            "split": {k: summary.get(k) for k in ("train_rows", "test_rows", "seed", "test_fraction")},
        },
    }


def command(
    train: Annotated[Path, typer.Option(help="clean-format training Parquet")],
    summary: Annotated[Path, typer.Option(help="split summary.json (data lineage for the card)")],
    model: Annotated[Path, typer.Option(help="output skops model file")],
    card_path: Annotated[Path, typer.Option("--card", help="output model card JSON")],
    params: Annotated[Path, typer.Option(help="params.yaml (reads the train section)")] = DEFAULT_PARAMS,
) -> None:
    """Fit the model on the training split; write a byte-stable skops file and its model card."""
    start = time.perf_counter()
    cfg = section(params, "train", TrainParams)
    contract = features.contract_of(train)
    columns = features.input_columns(contract, cfg.drop_columns)
    table = features.read_table(train, [name for name, _, _ in columns] + [contract["target"]])
    fitted, facts = fit(table, contract, cfg)
    blob = stable_dumps(fitted)
    info = card(fitted, cfg, facts, read_json(summary, default=None) or _no_summary(summary))
    info["model"].update(file=model.name, sha256=sha256_bytes(blob), bytes=len(blob))
    with atomic_path(model, ".skops") as tmp:
        tmp.write_bytes(blob)
    write_json(card_path, info)
    typer.echo(
        f"train: {facts['rows']} rows, {len(info['classes'])} classes, {cfg.model}, "
        f"{len(info['model_features'])} model features, sha256 {info['model']['sha256'][:12]}, "
        f"{time.perf_counter() - start:.1f} s"
    )


def _no_summary(path: Path) -> dict[str, Any]:
    raise SchemaError(f"{path}: split summary not found")

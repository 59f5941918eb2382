"""Stage `train`: fit the Pipeline on the train split; write the byte-stable skops model and its card."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from strata.atomic import atomic_path, read_json, sha256_bytes, write_json
from strata.config import DEFAULT_PARAMS, TrainParams, section
from strata.contract.spec import Contract, read_contract
from strata.errors import SchemaError
from strata.model import features, pipeline
from strata.model.artifact import stable_dumps
from strata.model.card import card
from strata.model.threads import pinned

if TYPE_CHECKING:
    import pyarrow as pa


def fit(table: pa.Table, contract: Contract, params: TrainParams) -> tuple[Any, dict[str, Any]]:
    """Pure core: fit the Pipeline on a clean table; return it with the training facts for the card."""
    import numpy as np

    columns = features.input_columns(contract, params.drop_columns)
    inputs = [(name, ctype) for name, ctype, _ in columns]
    target = contract.target
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
    model = pipeline.build_pipeline(
        columns,
        params.model,
        params.hyperparams,
        params.seed,
        params.class_weight,
        ratios=params.ratios,
        bag=params.bag,
    )
    # what Pipeline.fit does, step by step, so the matrix is built once and can be measured for the card;
    # thread pools pinned to train.threads: the same bytes on any number of cores
    with pinned(params.threads):
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
    return model, facts


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
    contract = read_contract(train)
    columns = features.input_columns(contract, cfg.drop_columns)
    table = features.read_table(train, [name for name, _, _ in columns] + [contract.target])
    fitted, facts = fit(table, contract, cfg)
    blob = stable_dumps(fitted)
    info = card(fitted, contract, cfg, facts, read_json(summary, default=None) or _no_summary(summary))
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

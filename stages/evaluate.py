"""Stage `evaluate`: score the test split; write eval/metrics.json and the plots directory.

Metrics (floats rounded to 6 digits, keys sorted): accuracy, macro_f1, per_class.{cls}.{precision, recall,
f1, support}, {alarm}_recall_at_far with {alarm}_threshold_at_far and {alarm}_far_at_threshold, slices.
{value}.{rows, accuracy, macro_f1}, rows. The alarm rule is "alarm iff P(alarm class) >= threshold"; the
threshold is the lowest one whose false alarm rate among the other classes is <= evaluate.false_alarm_rate.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from strata.atomic import atomic_dir, write_json
from strata.config import DEFAULT_PARAMS, EvaluateParams, section
from strata.contract.spec import read_contract
from strata.errors import ConfigError, SchemaError
from strata.model import features
from strata.model import plots as plots_
from strata.model.artifact import load_model
from strata.model.metrics import class_metrics, recall_at_far, rounded, slice_metrics

if TYPE_CHECKING:
    import pyarrow as pa

NULL_SLICE = "(null)"


def evaluate(
    model: Any, table: pa.Table, target: str, params: EvaluateParams, where: str | Path = "test table"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pure core: (metrics, arrays for the plots) of a fitted model on a clean table."""
    import numpy as np

    classes = [str(c) for c in model.classes_]
    if params.alarm_class not in classes:
        raise ConfigError(
            f"evaluate.alarm_class: '{params.alarm_class}' is not a class of the model ({', '.join(classes)})"
        )
    if table[target].null_count:
        raise SchemaError(f"{where}: target '{target}' has {table[target].null_count} missing values")
    y_true = np.asarray(table[target].to_pylist(), dtype=object)
    proba, y_pred = features.predict(model, table, where)
    labels = sorted(set(classes) | set(y_true.tolist()))
    metrics = {**class_metrics(y_true, y_pred, labels), "rows": int(table.num_rows)}
    alarm = params.alarm_class
    recall, threshold, far = recall_at_far(
        proba[:, classes.index(alarm)], y_true == alarm, params.false_alarm_rate
    )
    metrics |= {
        f"{alarm}_recall_at_far": recall,
        f"{alarm}_threshold_at_far": threshold,
        f"{alarm}_far_at_threshold": far,
    }
    if params.slice_by:
        values = [NULL_SLICE if v is None else str(v) for v in table[params.slice_by].to_pylist()]
        metrics["slices"] = slice_metrics(y_true, y_pred, np.asarray(values, dtype=object))
    arrays = {"y_true": y_true, "y_pred": y_pred, "proba": proba, "classes": classes}
    return rounded(metrics), arrays


def command(
    model: Annotated[Path, typer.Option(help="skops model written by train")],
    test: Annotated[Path, typer.Option(help="clean-format test Parquet")],
    metrics: Annotated[Path, typer.Option(help="output metrics JSON")],
    plots: Annotated[Path, typer.Option(help="output plots directory (replaced whole)")],
    params: Annotated[Path, typer.Option(help="params.yaml (reads the evaluate section)")] = DEFAULT_PARAMS,
) -> None:
    """Score the test split; write metrics JSON and confusion/ROC/PR plots (CSV for DVC, PNG)."""
    start = time.perf_counter()
    cfg = section(params, "evaluate", EvaluateParams)
    fitted = load_model(model)
    target = read_contract(test).target
    inputs = [name for name, _ in features.model_inputs(fitted)]
    table = features.read_table(test, [*inputs, target, *([cfg.slice_by] if cfg.slice_by else [])])
    result, arrays = evaluate(fitted, table, target, cfg, test)
    with atomic_dir(plots) as folder:
        lines = plots_.write_curve_csvs(folder, arrays)
        plots_.render_pngs(folder, arrays, lines)
    write_json(metrics, result)
    alarm = cfg.alarm_class
    typer.echo(
        f"evaluate: {result['rows']} rows, {len(arrays['classes'])} classes, "
        f"accuracy {result['accuracy']:.4f}, macro_f1 {result['macro_f1']:.4f}, "
        f"{alarm}_recall_at_far {result[f'{alarm}_recall_at_far']:.4f} "
        f"(far {result[f'{alarm}_far_at_threshold']:.4f}), {time.perf_counter() - start:.1f} s"
    )

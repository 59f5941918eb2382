"""Stage `evaluate`: score the test split; write the headline metrics, the details and the plots.

eval/metrics.json (what `dvc metrics` and `dvc exp show` compare; floats rounded to 6 digits, keys sorted):
accuracy, macro_f1, alarm_class, alarm_recall_at_far with alarm_threshold_at_far and alarm_far_at_threshold,
and with an oracle (docs/oracle.md) bayes.{accuracy, macro_f1, alarm_recall_at_far} and the model's ratio
to each, <metric>_vs_bayes; without one, bayes is the reason ("no oracle: ..."). The alarm rule is "alarm
iff P(alarm class) >= threshold"; the threshold is the lowest one whose false alarm rate among the other
classes of the test split is <= evaluate.false_alarm_rate, for the model and the oracle alike.

eval/details.json (a plain output, not a metric): rows, per_class, slices by evaluate.slice_by and, with
an oracle, by generating profile (the hard cases), each with its Bayes rate and the model's ratios.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from strata.atomic import atomic_dir, write_json
from strata.config import DEFAULT_PARAMS, EvaluateParams, section
from strata.contract.spec import BATCH, COLUMN_TYPES, SOURCE, Contract, read_contract
from strata.errors import ConfigError, SchemaError
from strata.model import bayes as bayes_
from strata.model import features
from strata.model import plots as plots_
from strata.model.artifact import load_model
from strata.model.metrics import (
    class_metrics,
    ratio,
    ratio_intervals,
    recall_at_far,
    rounded,
    slice_metrics,
)
from strata.model.threads import pinned

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

NULL_SLICE = "(null)"
CONTINUOUS = ("float", "timestamp")  # a slice per distinct value would be a slice per row
SLICE_TYPES = tuple(t for t in COLUMN_TYPES if t not in CONTINUOUS)
LINEAGE_SLICES = (SOURCE, BATCH)
HEADLINE = ("accuracy", "macro_f1", "alarm_recall_at_far")


def check_slice_by(name: str, contract: Contract) -> None:
    """evaluate.slice_by names a discrete contract column or the delivering source/batch."""
    allowed = f"slice by a {', '.join(SLICE_TYPES)} column, {' or '.join(LINEAGE_SLICES)}"
    if name in LINEAGE_SLICES:
        return
    if name not in contract.columns:
        raise ConfigError(f"evaluate.slice_by: '{name}' is not a column of the test split; {allowed}")
    if contract.columns[name].type in CONTINUOUS:
        raise ConfigError(f"evaluate.slice_by: '{name}' is a {contract.columns[name].type} column; {allowed}")


def _alarm(scores: np.ndarray, y_true: np.ndarray, params: EvaluateParams) -> dict[str, Any]:
    recall, threshold, far = recall_at_far(scores, y_true == params.alarm_class, params.false_alarm_rate)
    return {"recall": recall, "threshold": threshold, "far": far, "alarmed": scores >= threshold}


def evaluate(
    model: Any,
    table: pa.Table,
    contract: Contract,
    params: EvaluateParams,
    *,
    oracle: bayes_.Oracle | str = "no oracle: none given",
    where: str | Path = "test table",
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Pure core: (metrics, details, arrays for the plots) of a fitted model on a clean table."""
    import numpy as np

    classes = [str(c) for c in model.classes_]
    alarm, target = params.alarm_class, contract.target
    if alarm not in classes:
        raise ConfigError(
            f"evaluate.alarm_class: '{alarm}' is not a class of the model ({', '.join(classes)})"
        )
    if params.slice_by:
        check_slice_by(params.slice_by, contract)
    if table[target].null_count:
        raise SchemaError(f"{where}: target '{target}' has {table[target].null_count} missing values")
    y_true = np.asarray(table[target].to_pylist(), dtype=object)
    proba, y_pred = features.predict(model, table, where)
    labels = sorted(set(classes) | set(y_true.tolist()))
    scores = class_metrics(y_true, y_pred, labels)
    mine = _alarm(proba[:, classes.index(alarm)], y_true, params)
    metrics: dict[str, Any] = {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}
    metrics |= {"alarm_class": alarm, "alarm_recall_at_far": mine["recall"]}
    metrics |= {"alarm_threshold_at_far": mine["threshold"], "alarm_far_at_threshold": mine["far"]}
    details: dict[str, Any] = {"rows": int(table.num_rows), "per_class": scores["per_class"]}
    details["alarm"] = {"class": alarm, "false_alarm_rate": params.false_alarm_rate}
    twin = None
    if isinstance(oracle, bayes_.Oracle):
        limit = class_metrics(
            y_true, np.asarray(oracle.classes, dtype=object)[oracle.proba.argmax(axis=1)], labels
        )
        best = _alarm(oracle.proba[:, oracle.classes.index(alarm)], y_true, params)
        metrics["bayes"] = {"accuracy": limit["accuracy"], "macro_f1": limit["macro_f1"]}
        metrics["bayes"]["alarm_recall_at_far"] = best["recall"]
        metrics |= {f"{k}_vs_bayes": ratio(metrics[k], metrics["bayes"][k]) for k in HEADLINE}
        details["bayes"] = {"oracle": oracle.source, "per_class": limit["per_class"]}
        details["bayes"] |= {
            "alarm_threshold_at_far": best["threshold"],
            "alarm_far_at_threshold": best["far"],
        }
        twin = (np.asarray(oracle.classes, dtype=object)[oracle.proba.argmax(axis=1)], best["alarmed"])
        details["bayes"]["ratio_ci95"] = ratio_intervals(
            y_true,
            (y_pred, proba[:, classes.index(alarm)]),
            (twin[0], oracle.proba[:, oracle.classes.index(alarm)]),
            alarm,
            params.false_alarm_rate,
        )
        details["profiles"] = slice_metrics(oracle.profiles, y_true, (y_pred, mine["alarmed"]), alarm, twin)
    else:
        metrics["bayes"] = details["bayes"] = oracle
    if params.slice_by:
        values = [NULL_SLICE if v is None else str(v) for v in table[params.slice_by].to_pylist()]
        by = np.asarray(values, dtype=object)
        details["slices"] = {
            params.slice_by: slice_metrics(by, y_true, (y_pred, mine["alarmed"]), alarm, twin)
        }
    arrays = {"y_true": y_true, "y_pred": y_pred, "proba": proba, "classes": classes}
    return rounded(metrics), rounded(details), arrays


def summary(rows: int, classes: int, result: dict[str, Any]) -> str:
    """The summary line: headline metrics, and the ratios to the Bayes rate or why there are none."""
    line = f"{rows} rows, {classes} classes, " + ", ".join(f"{k} {result[k]:.4f}" for k in HEADLINE)
    line += f" (far {result['alarm_far_at_threshold']:.4f})"
    if not isinstance(result["bayes"], dict):
        return f"{line}; {result['bayes']}"
    return (
        line + "; vs Bayes " + ", ".join(f"{result.get(f'{k}_vs_bayes', float('nan')):.3f}" for k in HEADLINE)
    )


def command(  # noqa: PLR0917 - one option per path, spelled in dvc.yaml
    model: Annotated[Path, typer.Option(help="skops model written by train")],
    test: Annotated[Path, typer.Option(help="clean-format test Parquet")],
    metrics: Annotated[Path, typer.Option(help="output headline metrics JSON (dvc metrics)")],
    details: Annotated[Path, typer.Option(help="output details JSON: per class, per slice, Bayes rates")],
    plots: Annotated[Path, typer.Option(help="output plots directory (replaced whole)")],
    oracle: Annotated[
        Path | None, typer.Option(help="oracle folder of a simulated feed (docs/oracle.md); optional")
    ] = None,
    params: Annotated[Path, typer.Option(help="params.yaml (reads the evaluate section)")] = DEFAULT_PARAMS,
) -> None:
    """Score the test split; write headline metrics, details (slices, Bayes rates) and plots (CSV, PNG)."""
    start = time.perf_counter()
    cfg = section(params, "evaluate", EvaluateParams)
    fitted = load_model(model)
    contract = read_contract(test)
    inputs = [name for name, _ in features.model_inputs(fitted)]
    if cfg.slice_by:
        check_slice_by(cfg.slice_by, contract)
    wanted = [*inputs, contract.target, *contract.key, *([cfg.slice_by] if cfg.slice_by else [])]
    table = features.read_table(test, wanted)
    labels = sorted(set(table[contract.target].drop_null().to_pylist()))
    known = bayes_.load(oracle, table, contract.key, labels)
    with pinned(1):  # scoring is per row, but BLAS blocking is not: same bits on any machine
        result, info, arrays = evaluate(fitted, table, contract, cfg, oracle=known, where=test)
    with atomic_dir(plots) as folder:
        lines = plots_.write_curve_csvs(folder, arrays)
        plots_.render_pngs(folder, arrays, lines)
    write_json(details, info)
    write_json(metrics, result)
    took = f"{time.perf_counter() - start:.1f} s"
    typer.echo(f"evaluate: {summary(info['rows'], len(arrays['classes']), result)}, {took}")

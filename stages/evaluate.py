"""evaluate: score the test split; write eval/metrics.json and the plots directory.

Metrics (floats rounded to 6 digits, keys sorted): accuracy, macro_f1, per_class.{cls}.{precision, recall,
f1, support}, {alarm}_recall_at_far with {alarm}_threshold_at_far and {alarm}_far_at_threshold, slices.
{value}.{rows, accuracy, macro_f1}, rows. The alarm rule is "alarm iff P(alarm class) >= threshold"; the
threshold is the lowest one whose false alarm rate among the other classes is <= evaluate.false_alarm_rate.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stages import features
from stages.config import DEFAULT_PARAMS, EvaluateParams, section
from stages.errors import ConfigError, SchemaError
from stages.io import atomic_dir, write_json

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

DIGITS = 6
MAX_POINTS = 200  # per class and curve: enough for a smooth line, small enough for `dvc plots diff`
NULL_SLICE = "(null)"


def _round(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _round(v) for k, v in sorted(obj.items())}
    if isinstance(obj, float):
        return round(obj, DIGITS)
    return obj


def class_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """accuracy, macro_f1 over ``labels`` and per-class precision/recall/f1/support (zero_division=0)."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    prec, rec, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(labels), zero_division=0
    )
    per_class = {
        str(c): {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(labels, prec, rec, f1, support, strict=True)
    }
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1.mean()) if len(labels) else 0.0,
        "per_class": per_class,
    }


def recall_at_far(scores: np.ndarray, positive: np.ndarray, rate: float) -> tuple[float, float, float]:
    """(recall, threshold, achieved far) for "alarm iff score >= threshold" at the lowest threshold whose
    false alarm rate among negatives is <= ``rate``. No threshold fits -> one just above every negative."""
    import numpy as np

    pos, neg = scores[positive], scores[~positive]
    if len(neg) == 0:
        threshold = float(scores.min()) if len(scores) else 1.0
    else:
        allowed = math.floor(rate * len(neg) + 1e-9)  # negatives allowed at or above the threshold
        if allowed >= len(neg):
            threshold = float(scores.min())
        else:
            cut = float(np.sort(neg)[::-1][allowed])  # the first negative that must stay below
            above = scores[scores > cut]
            threshold = float(above.min()) if len(above) else float(np.nextafter(cut, np.inf))
    recall = float((pos >= threshold).mean()) if len(pos) else 0.0
    far = float((neg >= threshold).mean()) if len(neg) else 0.0
    return recall, threshold, far


def slice_metrics(y_true: np.ndarray, y_pred: np.ndarray, slices: np.ndarray) -> dict[str, Any]:
    """rows, accuracy and macro_f1 per slice value (macro over the labels seen in that slice)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    out: dict[str, Any] = {}
    for value in sorted(set(slices.tolist())):
        mask = slices == value
        out[str(value)] = {
            "rows": int(mask.sum()),
            "accuracy": float(accuracy_score(y_true[mask], y_pred[mask])),
            "macro_f1": float(
                f1_score(y_true[mask], y_pred[mask], average="macro", zero_division=np.float64(0.0))
            ),
        }
    return out


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
    return _round(metrics), arrays


def _thin(*columns: np.ndarray) -> list[np.ndarray]:
    """At most MAX_POINTS evenly spaced points, always keeping both ends."""
    import numpy as np

    n = len(columns[0])
    if n <= MAX_POINTS:
        return list(columns)
    keep = np.unique(np.linspace(0, n - 1, MAX_POINTS).round().astype(int))
    return [c[keep] for c in columns]


def curves(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """One-vs-rest ROC (fpr, tpr) and PR (recall, precision) per class; classes absent from y are skipped."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    out: dict[str, dict[str, Any]] = {"roc": {}, "pr": {}}
    for i, cls in enumerate(classes):
        positive = y_true == cls
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, i])
        precision, recall, _ = precision_recall_curve(positive, proba[:, i])
        out["roc"][cls] = dict(zip(("fpr", "tpr"), _thin(fpr, tpr), strict=True))
        out["pr"][cls] = dict(zip(("recall", "precision"), _thin(recall[::-1], precision[::-1]), strict=True))
    return out


def safe_name(cls: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", cls)


def write_curve_csvs(folder: Path, arrays: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """confusion.csv, roc.csv / pr.csv (long format) and roc_<class>.csv / pr_<class>.csv for `dvc plots`."""
    import pandas as pd

    confusion = pd.DataFrame({"actual": arrays["y_true"], "predicted": arrays["y_pred"]})
    confusion = confusion.astype(str).sort_values(["actual", "predicted"], kind="stable")
    confusion.to_csv(folder / "confusion.csv", index=False)
    lines = curves(arrays["y_true"], arrays["proba"], arrays["classes"])
    for kind, per_class in lines.items():
        frames = []
        for cls, cols in per_class.items():
            frame = pd.DataFrame(cols)
            frame.round(DIGITS).to_csv(folder / f"{kind}_{safe_name(cls)}.csv", index=False)
            frames.append(frame.assign(**{"class": cls})[["class", *cols]])
        long = pd.concat(frames) if frames else pd.DataFrame(columns=["class"])
        long.round(DIGITS).to_csv(folder / f"{kind}.csv", index=False)
    return lines


def render_pngs(folder: Path, arrays: dict[str, Any], lines: dict[str, dict[str, Any]]) -> None:
    """confusion.png, roc.png, pr.png with matplotlib Agg; fixed dpi, hash salt and no metadata."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style: Any = {"svg.hashsalt": "strata", "figure.dpi": 100, "savefig.dpi": 100, "font.size": 9}
    with plt.rc_context(style):
        _confusion_png(plt, folder / "confusion.png", arrays)
        for kind, x, y, title in (
            ("roc", "fpr", "tpr", "ROC (one-vs-rest)"),
            ("pr", "recall", "precision", "Precision-recall (one-vs-rest)"),
        ):
            fig, ax = plt.subplots(figsize=(5, 4))
            for cls, cols in lines[kind].items():
                ax.plot(cols[x], cols[y], label=cls, linewidth=1.2)
            if kind == "roc":
                ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
            ax.set(xlabel=x, ylabel=y, title=title, xlim=(0, 1), ylim=(0, 1.02))
            ax.legend(loc="lower right" if kind == "roc" else "lower left")
            fig.tight_layout()
            fig.savefig(folder / f"{kind}.png", dpi=100, metadata={"Software": None})
            plt.close(fig)


def _confusion_png(plt: Any, path: Path, arrays: dict[str, Any]) -> None:
    from sklearn.metrics import confusion_matrix

    labels = sorted(set(arrays["classes"]) | set(arrays["y_true"].tolist()))
    matrix = confusion_matrix(arrays["y_true"], arrays["y_pred"], labels=labels)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(matrix, cmap="Blues")
    for (row, col), count in sorted(_cells(matrix)):
        colour = "white" if count > matrix.max() / 2 else "black"
        ax.text(col, row, str(count), ha="center", va="center", color=colour)
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="actual", title="Confusion matrix (test split)")
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def _cells(matrix: Any) -> list[tuple[tuple[int, int], int]]:
    return [((r, c), int(matrix[r, c])) for r in range(matrix.shape[0]) for c in range(matrix.shape[1])]


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
    fitted = features.load_model(model)
    target = features.contract_of(test)["target"]
    inputs = [name for name, _ in features.model_inputs(fitted)]
    table = features.read_table(test, [*inputs, target, *([cfg.slice_by] if cfg.slice_by else [])])
    result, arrays = evaluate(fitted, table, target, cfg, test)
    with atomic_dir(plots) as folder:
        lines = write_curve_csvs(folder, arrays)
        render_pngs(folder, arrays, lines)
    write_json(metrics, result)
    alarm = cfg.alarm_class
    typer.echo(
        f"evaluate: {result['rows']} rows, {len(arrays['classes'])} classes, "
        f"accuracy {result['accuracy']:.4f}, macro_f1 {result['macro_f1']:.4f}, "
        f"{alarm}_recall_at_far {result[f'{alarm}_recall_at_far']:.4f} "
        f"(far {result[f'{alarm}_far_at_threshold']:.4f}), {time.perf_counter() - start:.1f} s"
    )

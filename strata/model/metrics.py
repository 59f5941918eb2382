"""Classification metrics: accuracy, macro F1, per class, recall of the alarm class at a fixed false-alarm
rate, per slice; and the one-vs-rest curves the plots draw. Pure functions of labels and scores."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

DIGITS = 6
MAX_POINTS = 200
BOOTSTRAP_DRAWS, BOOTSTRAP_SEED = (
    200,
    0,
)  # per class and curve: enough for a smooth line, small enough for `dvc plots diff`


def rounded(obj: Any) -> Any:
    """Floats to DIGITS digits, keys sorted, None values dropped (a metric a slice does not have)."""
    if isinstance(obj, dict):
        return {str(k): rounded(v) for k, v in sorted(obj.items()) if v is not None}
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


def ratio(model: float | None, bayes: float | None) -> float | None:
    """model / Bayes rate, or None when either is undefined or the Bayes rate is 0."""
    return None if model is None or not bayes else model / bayes


def slice_record(y_true: np.ndarray, y_pred: np.ndarray, alarmed: np.ndarray, alarm: str) -> dict[str, Any]:
    """rows, accuracy, macro_f1 (over the classes present, only if 2 or more are), and the share of the
    alarm class alarmed (alarm_recall) and of the other rows (alarm_far), None where a slice has none."""
    from sklearn.metrics import f1_score

    positive = y_true == alarm
    present = sorted(set(y_true.tolist()))
    macro = None
    if len(present) > 1:
        macro = float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0.0))
    return {
        "rows": len(y_true),
        "accuracy": float((y_true == y_pred).mean()),
        "macro_f1": macro,
        "alarm_recall": float(alarmed[positive].mean()) if positive.any() else None,
        "alarm_far": float(alarmed[~positive].mean()) if (~positive).any() else None,
    }


def slice_metrics(
    slices: np.ndarray,
    y_true: np.ndarray,
    model: tuple[np.ndarray, np.ndarray],
    alarm: str,
    bayes: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Per slice value: the model's slice_record at its (predicted, alarmed); with the oracle's twin, its
    record under ``bayes`` and the model's ratio to it (``<metric>_vs_bayes``)."""
    out: dict[str, Any] = {}
    for value in sorted(set(slices.tolist())):
        mask = slices == value
        record = slice_record(y_true[mask], model[0][mask], model[1][mask], alarm)
        if bayes is not None:
            limit = slice_record(y_true[mask], bayes[0][mask], bayes[1][mask], alarm)
            record["bayes"] = limit
            for name in ("accuracy", "macro_f1", "alarm_recall"):
                record[f"{name}_vs_bayes"] = ratio(record[name], limit[name])
        out[str(value)] = record
    return out


def _macro_f1(truth: np.ndarray, predicted: np.ndarray, k: int) -> float:
    """Macro F1 over k classes from integer codes (a confusion matrix by bincount; 0 where undefined)."""
    import numpy as np

    matrix = np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k)
    hits = np.diag(matrix).astype(float)
    denominator = matrix.sum(axis=0) + matrix.sum(axis=1)
    return float(np.mean(np.divide(2 * hits, denominator, out=np.zeros(k), where=denominator > 0)))


def ratio_intervals(
    y_true: np.ndarray,
    model: tuple[np.ndarray, np.ndarray],
    bayes: tuple[np.ndarray, np.ndarray],
    alarm: str,
    rate: float,
    *,
    draws: int = BOOTSTRAP_DRAWS,
) -> dict[str, list[float]]:
    """95% intervals of the model's ratios to the Bayes rate: a paired bootstrap over the test rows (both
    rates recomputed on the same resample, thresholds included), so a reviewer sees how much of a gap is
    the split's noise. ``model`` and ``bayes`` are (predicted class, alarm score)."""
    import numpy as np

    labels = sorted(set(y_true.tolist()) | set(model[0].tolist()) | set(bayes[0].tolist()))
    code = {label: i for i, label in enumerate(labels)}
    truth_all = np.array([code[v] for v in y_true.tolist()])
    predicted_all = [np.array([code[v] for v in side[0].tolist()]) for side in (model, bayes)]
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    ratios: dict[str, list[float]] = {"accuracy": [], "macro_f1": [], "alarm_recall_at_far": []}
    for _ in range(draws):
        rows = rng.integers(0, len(y_true), len(y_true))
        truth = truth_all[rows]
        values = []
        for predicted, (_, scores) in zip(predicted_all, (model, bayes), strict=True):
            guess = predicted[rows]
            f1 = _macro_f1(truth, guess, len(labels))
            recall = recall_at_far(scores[rows], truth == code[alarm], rate)[0] if alarm in code else 0.0
            values.append((float((truth == guess).mean()), f1, recall))
        for i, name in enumerate(ratios):
            value = ratio(values[0][i], values[1][i])
            if value is not None:
                ratios[name].append(value)
    return {k: [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))] for k, v in ratios.items() if v}


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

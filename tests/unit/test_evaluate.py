"""evaluate: recall at a false alarm rate, slices, deterministic metrics and plots, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest_ml import write_params, write_split
from typer.testing import CliRunner

from stages import evaluate
from strata.cli import app
from strata.model import metrics as metrics_mod

SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
POSITIVE = np.array([True, True, False, True, False, False, False, False, False, False])  # 3 pos, 7 neg


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (0.0, (2 / 3, 0.8, 0.0)),  # no negative may alarm: threshold just above the top negative (0.7)
        (0.1, (2 / 3, 0.8, 0.0)),  # floor(0.7) = 0 negatives allowed
        (0.15, (1.0, 0.6, 1 / 7)),  # one negative allowed (0.7); 0.6 is the lowest score above 0.5
        (0.3, (1.0, 0.5, 2 / 7)),  # floor(2.1) = 2 allowed (0.7, 0.5); the 3rd negative 0.4 stays below
        (1.0, (1.0, 0.05, 1.0)),  # everything alarms
    ],
)
def test_recall_at_far_hand_made(rate: float, expected: tuple[float, float, float]) -> None:
    assert evaluate.recall_at_far(SCORES, POSITIVE, rate) == pytest.approx(expected)


def test_recall_at_far_when_no_threshold_separates() -> None:
    recall, threshold, far = evaluate.recall_at_far(np.array([0.1, 0.9]), np.array([True, False]), 0.0)
    assert (recall, far) == (0.0, 0.0)
    assert threshold > 0.9


def test_class_and_slice_metrics_hand_made() -> None:
    y_true = np.array(["a", "a", "b", "b", "b", "a"], dtype=object)
    y_pred = np.array(["a", "b", "b", "b", "a", "a"], dtype=object)
    sites = np.array(["x", "x", "x", "y", "y", "y"], dtype=object)
    metrics = evaluate.class_metrics(y_true, y_pred, ["a", "b"])
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["per_class"]["a"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3}
    )
    slices = evaluate.slice_metrics(y_true, y_pred, sites)
    assert slices["x"] == pytest.approx({"rows": 3, "accuracy": 2 / 3, "macro_f1": 2 / 3})
    assert slices["y"]["rows"] == 3 and slices["y"]["accuracy"] == pytest.approx(2 / 3)


def _train(paths: dict[str, Path], folder: Path) -> Path:
    model = folder / "model.skops"
    args = ["train", "--params", str(paths["params"]), "--train", str(paths["train"])]
    args += ["--summary", str(paths["summary"]), "--model", str(model), "--card", str(folder / "card.json")]
    assert CliRunner().invoke(app, args).exit_code == 0
    return model


def _evaluate(paths: dict[str, Path], model: Path, out: Path) -> tuple[int, str]:
    args = ["evaluate", "--params", str(paths["params"]), "--model", str(model), "--test", str(paths["test"])]
    args += ["--metrics", str(out / "metrics.json"), "--plots", str(out / "plots")]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def test_cli_evaluate_metrics_and_plots_are_deterministic(tmp_path: Path) -> None:
    paths = write_split(tmp_path)
    model = _train(paths, tmp_path)
    code, output = _evaluate(paths, model, tmp_path / "one")
    assert code == 0, output
    assert output.startswith("evaluate: 80 rows, 3 classes, accuracy ")
    assert "intruder_recall_at_far" in output
    assert _evaluate(paths, model, tmp_path / "two")[0] == 0
    one, two = tmp_path / "one", tmp_path / "two"
    assert (one / "metrics.json").read_bytes() == (two / "metrics.json").read_bytes()
    files = sorted(p.name for p in (one / "plots").iterdir())
    classes = ("animal", "intruder", "resident")
    expected = ["confusion.csv", "confusion.png", "pr.csv", "pr.png", "roc.csv", "roc.png"]
    expected += [f"{kind}_{cls}.csv" for kind in ("pr", "roc") for cls in classes]
    assert files == sorted(expected)
    for name in files:
        assert (one / "plots" / name).read_bytes() == (two / "plots" / name).read_bytes(), name
    metrics = json.loads((one / "metrics.json").read_text())
    assert list(metrics) == sorted(metrics)
    assert metrics["rows"] == 80 and set(metrics["slices"]) == {"acme", "birch"}
    assert sum(s["rows"] for s in metrics["slices"].values()) == 80
    assert set(metrics["per_class"]) == set(classes)
    assert metrics["intruder_far_at_threshold"] <= 0.05
    confusion = pd.read_csv(one / "plots" / "confusion.csv")
    assert list(confusion.columns) == ["actual", "predicted"] and len(confusion) == 80
    roc = pd.read_csv(one / "plots" / "roc.csv")
    assert list(roc.columns) == ["class", "fpr", "tpr"]
    assert roc.groupby("class").size().max() <= metrics_mod.MAX_POINTS


def test_cli_evaluate_unknown_alarm_class(tmp_path: Path) -> None:
    paths = write_split(tmp_path)
    model = _train(paths, tmp_path)
    write_params(paths["params"])
    paths["params"].write_text(
        paths["params"].read_text().replace("alarm_class: intruder", "alarm_class: burglar")
    )
    code, output = _evaluate(paths, model, tmp_path)
    assert code == 2
    assert output.strip() == (
        "strata evaluate: error: evaluate.alarm_class: 'burglar' is not a class of the model "
        "(animal, intruder, resident)"
    )


def test_thinning_keeps_ends_and_caps_points() -> None:
    x = np.linspace(0, 1, 1000)
    (thin,) = metrics_mod._thin(x)
    assert len(thin) == metrics_mod.MAX_POINTS and thin[0] == 0.0 and thin[-1] == 1.0

"""evaluate: recall at a false alarm rate, slices, deterministic metrics and plots, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest_ml import write_split
from typer.testing import CliRunner

from stages import evaluate
from strata.cli import app
from strata.model import bayes
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
    alarmed = np.array([True, False, True, False, False, True])  # alarm class "a"
    sites = np.array(["x", "x", "x", "y", "y", "y"], dtype=object)
    metrics = evaluate.class_metrics(y_true, y_pred, ["a", "b"])
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["per_class"]["a"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3}
    )
    slices = evaluate.slice_metrics(sites, y_true, (y_pred, alarmed), "a")
    assert slices["x"] == pytest.approx(
        {"rows": 3, "accuracy": 2 / 3, "macro_f1": 2 / 3, "alarm_recall": 1 / 2, "alarm_far": 1.0}
    )
    assert slices["y"]["rows"] == 3 and slices["y"]["accuracy"] == pytest.approx(2 / 3)
    perfect = (y_true, y_true == "a")
    twin = evaluate.slice_metrics(sites, y_true, (y_pred, alarmed), "a", bayes=perfect)
    assert twin["x"]["bayes"] == pytest.approx(
        {"rows": 3, "accuracy": 1.0, "macro_f1": 1.0, "alarm_recall": 1.0, "alarm_far": 0.0}
    )
    assert twin["x"]["accuracy_vs_bayes"] == pytest.approx(2 / 3)
    assert twin["x"]["alarm_recall_vs_bayes"] == pytest.approx(1 / 2)
    one = np.array(["a", "a", "a"], dtype=object)
    hard = evaluate.slice_metrics(np.array(["p"] * 3), one, (np.array(["a", "b", "a"]), alarmed[:3]), "a")
    assert hard["p"] == pytest.approx(  # one class: no macro F1, no false alarms to count
        {"rows": 3, "accuracy": 2 / 3, "macro_f1": None, "alarm_recall": 2 / 3, "alarm_far": None}
    )


def _train(paths: dict[str, Path], folder: Path) -> Path:
    model = folder / "model.skops"
    args = ["train", "--params", str(paths["params"]), "--train", str(paths["train"])]
    args += ["--summary", str(paths["summary"]), "--model", str(model), "--card", str(folder / "card.json")]
    assert CliRunner().invoke(app, args).exit_code == 0
    return model


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Path]:
    folder = tmp_path_factory.mktemp("trained")
    paths = write_split(folder)
    return paths, _train(paths, folder)


def _evaluate(paths: dict[str, Path], model: Path, out: Path, oracle: Path | None = None) -> tuple[int, str]:
    args = ["evaluate", "--params", str(paths["params"]), "--model", str(model), "--test", str(paths["test"])]
    args += ["--metrics", str(out / "metrics.json"), "--details", str(out / "details.json")]
    args += ["--plots", str(out / "plots"), *(["--oracle", str(oracle)] if oracle else [])]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def _oracle(folder: Path, test: Path, keep: int | None = None, key: str = "event_id") -> Path:
    """An oracle folder for the test split: a posterior that knows the label 90% of the time, two profiles."""
    table = pq.read_table(test)
    labels = np.asarray(table["label"].to_pylist())
    classes = ["animal", "intruder", "resident"]
    post = np.full((len(labels), 3), 0.05)
    post[np.arange(len(labels)), np.searchsorted(classes, labels)] = 0.9
    post[::10] = post[::10][:, ::-1]  # every tenth row confidently wrong, unless an intruder
    columns = {key: table["event_id"], "profile": pa.array(np.where(labels == "intruder", "sly", "plain"))}
    columns |= {f"posterior.{c}": pa.array(post[:, i]) for i, c in enumerate(classes)}
    oracle = pa.table(columns).replace_schema_metadata(bayes.metadata(key, "profile", classes))
    (folder / "site").mkdir(parents=True)
    pq.write_table(oracle.slice(0, keep), folder / "site" / "day.parquet")
    return folder


def test_cli_evaluate_metrics_and_plots_are_deterministic(
    trained: tuple[dict[str, Path], Path], tmp_path: Path
) -> None:
    paths, model = trained
    code, output = _evaluate(paths, model, tmp_path / "one")
    assert code == 0, output
    assert output.startswith("evaluate: 80 rows, 3 classes, accuracy ")
    assert "alarm_recall_at_far" in output and "no oracle: none given (--oracle)" in output
    assert _evaluate(paths, model, tmp_path / "two")[0] == 0
    one, two = tmp_path / "one", tmp_path / "two"
    for name in ("metrics.json", "details.json"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
    files = sorted(p.name for p in (one / "plots").iterdir())
    classes = ("animal", "intruder", "resident")
    assert files == ["confusion.csv", "confusion.png", "pr.csv", "pr.png", "roc.csv", "roc.png"]
    for name in files:
        assert (one / "plots" / name).read_bytes() == (two / "plots" / name).read_bytes(), name
    metrics = json.loads((one / "metrics.json").read_text())
    assert list(metrics) == sorted(metrics)
    assert set(metrics) == {
        "accuracy", "macro_f1", "alarm_class", "alarm_recall_at_far", "alarm_threshold_at_far",
        "alarm_far_at_threshold", "bayes",
    }  # fmt: skip  # headline only: no counts, no per-class or per-slice entries
    assert metrics["alarm_class"] == "intruder" and metrics["alarm_far_at_threshold"] <= 0.05
    assert metrics["bayes"] == "no oracle: none given (--oracle)"
    details = json.loads((one / "details.json").read_text())
    assert details["rows"] == 80 and set(details["slices"]["_source"]) == {"acme", "birch"}
    assert sum(s["rows"] for s in details["slices"]["_source"].values()) == 80
    assert set(details["per_class"]) == set(classes) and "profiles" not in details
    confusion = pd.read_csv(one / "plots" / "confusion.csv")
    assert list(confusion.columns) == ["actual", "predicted"] and len(confusion) == 80
    roc = pd.read_csv(one / "plots" / "roc.csv")
    assert list(roc.columns) == ["class", "fpr", "tpr"] and set(roc["class"]) == set(classes)
    assert roc.groupby("class").size().max() <= metrics_mod.MAX_POINTS


def test_cli_evaluate_with_an_oracle_reports_the_bayes_rate_and_ratios(
    trained: tuple[dict[str, Path], Path], tmp_path: Path
) -> None:
    paths, model = trained
    code, output = _evaluate(paths, model, tmp_path / "out", _oracle(tmp_path / "oracle", paths["test"]))
    assert code == 0, output
    assert "; vs Bayes " in output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    labels = pq.read_table(paths["test"])["label"].to_pylist()
    wrong = sum(label != "intruder" for label in labels[::10])  # reversing keeps the middle class right
    assert metrics["bayes"]["accuracy"] == pytest.approx(1 - wrong / 80)
    for name in ("accuracy", "macro_f1", "alarm_recall_at_far"):
        assert metrics[f"{name}_vs_bayes"] == pytest.approx(metrics[name] / metrics["bayes"][name], abs=2e-6)
    details = json.loads((tmp_path / "out" / "details.json").read_text())
    assert set(details["profiles"]) == {"sly", "plain"}
    sly = details["profiles"]["sly"]
    assert sly["rows"] == details["per_class"]["intruder"]["support"]
    assert "alarm_far" not in sly and "macro_f1" not in sly  # one class: neither is defined
    assert sly["alarm_recall_vs_bayes"] == pytest.approx(sly["alarm_recall"] / sly["bayes"]["alarm_recall"])
    assert set(details["slices"]["_source"]["acme"]["bayes"]) >= {"accuracy", "alarm_recall", "alarm_far"}


@pytest.mark.parametrize(
    ("keep", "key", "reason"),
    [
        (60, "event_id", "no oracle: 20 of 80 test rows have no posterior in "),
        (None, "id", "no oracle: it is keyed by 'id', the test split by 'event_id'"),
    ],
)
def test_an_oracle_that_does_not_cover_the_test_split_is_named_not_zeroed(
    trained: tuple[dict[str, Path], Path], tmp_path: Path, keep: int | None, key: str, reason: str
) -> None:
    paths, model = trained
    oracle = _oracle(tmp_path / "oracle", paths["test"], keep, key)
    assert _evaluate(paths, model, tmp_path / "out", oracle)[0] == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["bayes"].startswith(reason) and not any(k.endswith("_vs_bayes") for k in metrics)
    assert _evaluate(paths, model, tmp_path / "empty", tmp_path / "nothing")[0] == 0
    metrics = json.loads((tmp_path / "empty" / "metrics.json").read_text())
    assert metrics["bayes"] == f"no oracle: {tmp_path / 'nothing'} holds no oracle files"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "alarm_class: intruder",
            "alarm_class: burglar",
            "evaluate.alarm_class: 'burglar' is not a class of the model (animal, intruder, resident)",
        ),
        ("false_alarm_rate: 0.05", "false_alarm_rate: -1", "false_alarm_rate: must be in [0, 1), got -1.0"),
        ("false_alarm_rate: 0.05", "false_alarm_rate: 2", "false_alarm_rate: must be in [0, 1), got 2.0"),
        (
            "slice_by: _source",
            "slice_by: height",
            "evaluate.slice_by: 'height' is a float column; slice by a string, int, bool, category column, "
            "_source or _batch",
        ),
        ("slice_by: _source", "slice_by: colour", "slice_by: 'colour' is not a column of the test split"),
    ],
)
def test_cli_evaluate_refuses_bad_params_in_one_line(
    trained: tuple[dict[str, Path], Path], tmp_path: Path, old: str, new: str, message: str
) -> None:
    paths, model = trained
    params = tmp_path / "params.yaml"
    params.write_text(paths["params"].read_text().replace(old, new))
    assert new in params.read_text()
    code, output = _evaluate({**paths, "params": params}, model, tmp_path)
    assert code == 2
    assert output.startswith("strata evaluate: error: ") and message in output
    assert len(output.strip().splitlines()) == 1
    assert not (tmp_path / "metrics.json").exists()


def test_ratio_intervals_come_from_a_paired_bootstrap() -> None:
    rng = np.random.default_rng(3)
    y = rng.choice(np.array(["a", "b", "c"], dtype=object), 600)
    oracle_scores = np.where(y == "a", rng.normal(1.0, 1.0, 600), rng.normal(-1.0, 1.0, 600))
    oracle_pred = np.where(oracle_scores > 0, "a", np.where(rng.random(600) < 0.5, "b", "c")).astype(object)
    same = metrics_mod.ratio_intervals(
        y, (oracle_pred, oracle_scores), (oracle_pred, oracle_scores), "a", 0.05
    )
    assert same == {name: [1.0, 1.0] for name in ("accuracy", "macro_f1", "alarm_recall_at_far")}
    noisy = oracle_scores + rng.normal(0, 1.5, 600)
    shuffled = y[rng.permutation(600)]
    worse = metrics_mod.ratio_intervals(y, (shuffled, noisy), (oracle_pred, oracle_scores), "a", 0.05)
    point = (
        metrics_mod.recall_at_far(noisy, y == "a", 0.05)[0]
        / metrics_mod.recall_at_far(oracle_scores, y == "a", 0.05)[0]
    )
    low, high = worse["alarm_recall_at_far"]
    assert low < point < high < 1.0  # a paired interval around the observed ratio, below the limit
    assert worse["accuracy"][1] < 0.9  # a shuffled guess is well below the oracle's accuracy
    assert worse == metrics_mod.ratio_intervals(y, (shuffled, noisy), (oracle_pred, oracle_scores), "a", 0.05)


def test_thinning_keeps_ends_and_caps_points() -> None:
    x = np.linspace(0, 1, 1000)
    (thin,) = metrics_mod._thin(x)
    assert len(thin) == metrics_mod.MAX_POINTS and thin[0] == 0.0 and thin[-1] == 1.0

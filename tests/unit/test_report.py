"""The regression gate and the Markdown pieces of strata.review.report."""

from __future__ import annotations

from pathlib import Path

import pytest

from strata.errors import GateFailed
from strata.review.report import GateResult, _plots_section, _table, check_gate, enforce

GATE = {"accuracy": 0.01, "macro_f1": 0.01, "per_class.intruder.recall": 0.03}


def test_gate_passes_on_improvement_and_on_a_drop_of_exactly_the_threshold() -> None:
    base = {"accuracy": 0.92, "macro_f1": 0.80, "per_class.intruder.recall": 0.7}
    head = {"accuracy": 0.91, "macro_f1": 0.85, "per_class.intruder.recall": 0.67}
    results = check_gate(GATE, base, head)
    assert [r.ok for r in results] == [True, True, True]
    enforce(results)


def test_gate_fails_past_the_threshold_naming_metric_values_and_drop() -> None:
    results = check_gate(GATE, {"accuracy": 0.92, "macro_f1": 0.8}, {"accuracy": 0.905, "macro_f1": 0.8})
    assert [r.ok for r in results] == [False, True, True]
    with pytest.raises(GateFailed) as info:
        enforce(results)
    assert str(info.value) == (
        "gate: accuracy dropped from 0.9200 (base) to 0.9050 (head): drop 0.0150 > max_drop 0.0100"
    )
    assert info.value.exit_code == 4


def test_gate_names_every_failure_in_one_line() -> None:
    base = {"accuracy": 0.9, "macro_f1": 0.8, "per_class.intruder.recall": 0.7}
    head = {"accuracy": 0.8, "per_class.intruder.recall": 0.6}
    with pytest.raises(GateFailed) as info:
        enforce(check_gate(GATE, base, head))
    assert str(info.value) == (
        "gate: accuracy dropped from 0.9000 (base) to 0.8000 (head): drop 0.1000 > max_drop 0.0100; "
        "macro_f1 is missing at head (base 0.8000); "
        "per_class.intruder.recall dropped from 0.7000 (base) to 0.6000 (head): drop 0.1000 > max_drop 0.0300"
    )


def test_gate_ignores_a_metric_new_at_head_and_non_numbers() -> None:
    results = check_gate({"accuracy": 0.0}, {"accuracy": "n/a"}, {"accuracy": 0.5})
    assert results == [GateResult("accuracy", None, 0.5, 0.0)]
    assert results[0].ok and results[0].drop is None
    enforce(check_gate({}, {"accuracy": 1.0}, {"accuracy": 0.0}))  # no gate, nothing to fail


def test_table_rows() -> None:
    assert _table(["a", "b"], [["1", "2"]]) == ["| a | b |", "|---|---|", "| 1 | 2 |"]


def test_plots_section_links_relative_to_the_report(tmp_path: Path) -> None:
    plots = {
        "base": [tmp_path / "plots/base/roc.png"],
        "head": [tmp_path / "plots/head/roc.png", tmp_path / "plots/head/pr.png"],
    }
    assert _plots_section(plots, tmp_path) == [
        "| plot | base | head |",
        "|---|---|---|",
        "| pr.png | – | ![head pr.png](plots/head/pr.png) |",
        "| roc.png | ![base roc.png](plots/base/roc.png) | ![head roc.png](plots/head/roc.png) |",
    ]
    assert _plots_section({"base": [], "head": []}, tmp_path) == [
        "no plots (eval/plots/*.png) at either revision"
    ]

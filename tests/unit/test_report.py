"""The regression gate (a pure function) and the Markdown pieces of the report and of `snapshots diff`."""

from __future__ import annotations

from pathlib import Path

import pytest

from strata.errors import GateFailed
from strata.review.diffs import Snapshot, diff_snapshots
from strata.review.gate import GateResult, check_gate, enforce
from strata.review.render import _table, render_diff, render_snapshot
from strata.review.report import _plots_section

GATE = {"accuracy": 0.01, "macro_f1": 0.01, "alarm_recall_at_far": 0.03}


def test_gate_passes_on_improvement_and_on_a_drop_of_exactly_the_threshold() -> None:
    base = {"accuracy": 0.92, "macro_f1": 0.80, "alarm_recall_at_far": 0.7}
    head = {"accuracy": 0.91, "macro_f1": 0.85, "alarm_recall_at_far": 0.67}
    results = check_gate(GATE, base, head)
    assert [r.ok for r in results] == [True, True, True]
    enforce(results)


def test_gate_fails_past_the_threshold_naming_metric_values_and_drop() -> None:
    results = check_gate(GATE, {"accuracy": 0.92, "macro_f1": 0.8}, {"accuracy": 0.905, "macro_f1": 0.8})
    assert [r.status for r in results] == ["FAIL", "ok", "not measured"]
    with pytest.raises(GateFailed) as info:
        enforce(results)
    assert str(info.value) == (
        "gate: accuracy dropped from 0.9200 (base) to 0.9050 (head): drop 0.0150 > max_drop 0.0100"
    )
    assert info.value.exit_code == 4


def test_gate_names_every_failure_in_one_line() -> None:
    base = {"accuracy": 0.9, "macro_f1": 0.8, "alarm_recall_at_far": 0.7}
    head = {"accuracy": 0.8, "alarm_recall_at_far": 0.6}
    with pytest.raises(GateFailed) as info:
        enforce(check_gate(GATE, base, head))
    assert str(info.value) == (
        "gate: accuracy dropped from 0.9000 (base) to 0.8000 (head): drop 0.1000 > max_drop 0.0100; "
        "macro_f1 is missing at head (base 0.8000); "
        "alarm_recall_at_far dropped from 0.7000 (base) to 0.6000 (head): drop 0.1000 > max_drop 0.0300"
    )


def test_gate_for_any_target_a_metric_missing_at_both_sides_is_not_measured() -> None:
    """A BYOD target without an alarm class measures no alarm_recall_at_far at base nor head: passes."""
    results = check_gate(GATE, {"accuracy": 0.9, "macro_f1": 0.8}, {"accuracy": 0.9, "macro_f1": 0.8})
    assert results[2] == GateResult("alarm_recall_at_far", None, None, 0.03)
    assert results[2].ok and results[2].status == "not measured"
    enforce(results)
    with pytest.raises(GateFailed, match="^gate: alarm_recall_at_far is missing at head"):
        enforce(check_gate(GATE, {"alarm_recall_at_far": 0.5}, {}))  # measured at base only: fails


def test_gate_ignores_a_metric_new_at_head_and_non_numbers() -> None:
    results = check_gate({"accuracy": 0.0}, {"accuracy": "n/a"}, {"accuracy": 0.5})
    assert results == [GateResult("accuracy", None, 0.5, 0.0)]
    assert results[0].ok and results[0].drop is None and results[0].status == "new"
    enforce(check_gate({}, {"accuracy": 1.0}, {"accuracy": 0.0}))  # no gate, nothing to fail


def test_table_rows_and_right_aligned_numbers() -> None:
    assert _table(["a", "b"], [["1", "2"]]) == ["| a | b |", "|---|---|", "| 1 | 2 |"]
    assert _table(["a", "b"], [["x", "2"]], right=1)[1] == "|---|--:|"


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
        "no image plots (dvc.yaml `plots:`) at either revision"
    ]


UNREAD = {"path": "data/partitions/manifest.json", "detail": "is not in the local cache and ...: tier 'raw'"}


def test_render_shows_unknown_as_question_marks_and_says_why() -> None:
    clean = {"acme/1": {"rows_in": 4, "clean": 3, "quarantined": 1, "duplicates": 0}}
    base = Snapshot("v1", "a" * 40, "d", partitions=None, clean=clean, metrics=None, unavailable=[UNREAD])
    head = Snapshot("v2", "b" * 40, "d", partitions={}, clean=clean, metrics={"n": 1665, "accuracy": 0.9})
    text = render_diff(diff_snapshots(base, head))
    assert "| acme | ? | ? → 0 | ? → 0 | 1 → 1 (+0) |" in text
    assert "unknown (?): the metrics of a revision could not be read" in text
    assert "- base `v1`: unavailable: `data/partitions/manifest.json` is not in the local cache" in text
    shown = render_snapshot(base)
    assert "| acme | ? | ? | 4 | 3 | 1 | 0 |" in shown and "the metrics could not be read" in shown


def test_render_counts_as_counts_and_other_metrics_with_four_decimals() -> None:
    base = Snapshot("v1", "a" * 40, "d", partitions={}, clean={}, metrics={"n": 1665, "accuracy": 0.9})
    head = Snapshot("v2", "b" * 40, "d", partitions={}, clean={}, metrics={"n": 1700, "accuracy": 0.91})
    text = render_diff(diff_snapshots(base, head))
    assert "| accuracy | 0.9000 | 0.9100 | +0.0100 |" in text and "| n | 1665 | 1700 | +35 |" in text


def test_the_ci_workflow_calls_the_report_as_the_cli_defines_it() -> None:
    """pr.yml cannot run here: at least its `strata report` line must parse, and the artifact it uploads
    and the comment it posts must be the folder and file that line writes."""
    import shlex

    import yaml
    from typer.main import get_command

    from strata.cli import app

    root = Path(__file__).resolve().parents[2]
    steps = yaml.safe_load((root / ".github/workflows/pr.yml").read_text())["jobs"]["report"]["steps"]
    runs = [line.split("#")[0] for s in steps for line in s.get("run", "").splitlines()]
    words = shlex.split(next(r for r in runs if r.strip().startswith("strata report")))
    params = get_command(app).commands["report"].make_context("report", words[2:]).params  # type: ignore[attr-defined]
    assert params["base"] is None and params["head"] == "workspace"  # CI relies on both defaults
    out = Path(params["out"])
    assert out.parent == Path("$RUNNER_TEMP/report")
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"].replace("${{ runner.temp }}", "$RUNNER_TEMP").rstrip("/") == str(out.parent)
    assert any(f'body="{out}"' in r for r in runs)


def test_report_and_snapshots_do_not_import_each_other() -> None:
    """The report builds on collect/diffs/gate/render, like the snapshots verbs; neither needs the other,
    so the gate can move to a registry (GTO) without dragging either along."""
    from strata import deps

    root = Path(__file__).resolve().parents[2]
    report_closure = deps.relative(deps.closure("strata.review.report"))
    snapshots_closure = deps.relative(deps.closure("strata.review.snapshots"))
    assert "strata/review/snapshots.py" not in report_closure
    assert "strata/review/snapshot_commands.py" not in report_closure
    assert "strata/review/report.py" not in snapshots_closure
    gate_imports = deps.imported_modules(root / "strata/review/gate.py", "strata.review.gate")
    assert {m for m in gate_imports if m.startswith("strata")} <= {"strata.errors", "strata.review.diffs"}


def test_a_gate_that_could_not_see_the_metrics_does_not_pass() -> None:
    from strata.errors import RevisionError
    from strata.review.report import Report

    blocked = Report("# r\n", [], "the metrics at v1 could not be read (see Not available)")
    with pytest.raises(RevisionError, match=r"^gate: not evaluated, the metrics at v1 could not be read"):
        blocked.enforce()
    Report("# r\n", check_gate(GATE, {}, {})).enforce()  # nothing measured anywhere: nothing to fail

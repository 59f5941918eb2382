"""The model's quality against the oracle, end to end: a shrunk default feed reports its Bayes rate, per
slice and per hard case; your own data has no oracle and says so; the plots render for either target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strata.simulator.generate import PROFILES
from tests.e2e.conftest import Project, copy_project
from tests.e2e.test_pipeline_e2e import BYOD_CSV, byod_rows

pytestmark = pytest.mark.slow

HEADLINE = ("accuracy", "macro_f1", "alarm_recall_at_far")


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = copy_project(tmp_path_factory.mktemp("default") / "project")
    params = project.params()
    params["simulate"].update(days=6, events_per_day=200)
    project.write_params(params)
    project.run("dvc", "repro")
    return project


@pytest.fixture(scope="module")
def byod(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = copy_project(tmp_path_factory.mktemp("byod") / "project")
    mine = project.path / "data/landing/mine"
    mine.mkdir(parents=True)
    for day in range(2):
        (mine / f"loans-{day}.csv").write_text(BYOD_CSV.format(rows=byod_rows(300, day)))
    params = project.params()
    params["simulate"]["days"] = 0
    params["ingest"]["sources"] = [{"name": "loans", "kind": "files", "path": "mine", "glob": "*.csv"}]
    params["validate"]["contract"] = {
        "key": [],
        "target": "defaulted",
        "na_values": ["", "n/a", "??"],
        "columns": {
            "income": {"type": "float", "min": 0, "aliases": ["Applicant Income"]},
            "amount": {"type": "float", "required": True, "min": 0, "aliases": ["Loan Amt"]},
            "term": {"type": "int", "min": 1, "max": 480, "aliases": ["Term (months)"]},
            "region": {"type": "category", "values": ["north", "south", "east", "west"]},
            "applied_on": {"type": "timestamp", "aliases": ["Applied On"]},
            "defaulted": {
                "type": "category",
                "required": True,
                "values": ["yes", "no"],
                "aliases": ["Defaulted?"],
            },
        },
    }
    params["train"]["ratios"] = [["amount", "income"]]
    params["evaluate"].update(alarm_class="yes", slice_by="region")
    project.write_params(params)
    project.run("dvc", "repro")
    return project


def _read(project: Project, rel: str) -> dict:
    return json.loads((project.path / rel).read_text())


def _plots(project: Project) -> dict:
    """`dvc plots show --json`, which must render every plot of dvc.yaml without an error."""
    shown = project.run("dvc", "plots", "show", "--json")
    assert "failed" not in shown.stdout + shown.stderr.lower()
    plots = json.loads(shown.stdout)
    assert not plots.get("errors")
    return dict(plots["data"])


def _classes_drawn(plots: dict, name: str) -> set[str]:
    (entry,) = plots[name]
    assert not entry.get("errors")
    return {point["class"] for point in entry["content"]["data"]["values"]}


def test_the_default_feed_reports_its_bayes_rate_per_slice_and_hard_case(default: Project) -> None:
    metrics = _read(default, "eval/metrics.json")
    assert metrics["alarm_class"] == "intruder"
    assert set(metrics["bayes"]) == set(HEADLINE)
    for name in HEADLINE:
        assert 0 < metrics["bayes"][name] <= 1
        assert metrics[f"{name}_vs_bayes"] == pytest.approx(metrics[name] / metrics["bayes"][name], abs=1e-5)
    assert metrics["accuracy_vs_bayes"] > 0.9  # the model is close to the limit, not at chance
    shown = json.loads(default.run("dvc", "metrics", "show", "--json").stdout)
    assert "support" not in json.dumps(shown) and "rows" not in json.dumps(shown)  # counts are details
    details = _read(default, "eval/details.json")
    assert set(details["profiles"]) <= {p.name for p in PROFILES}
    assert {"intruder_costume", "resident_night"} <= set(details["profiles"])
    costumes = details["profiles"]["intruder_costume"]
    assert set(costumes["bayes"]) >= {"accuracy", "alarm_recall"} and "alarm_recall_vs_bayes" in costumes
    assert set(details["slices"]["_source"]) == {"acme", "birch", "cedar"}
    assert sum(s["rows"] for s in details["profiles"].values()) == details["rows"]
    assert set(details["bayes"]["ratio_ci95"]) == set(HEADLINE)
    plots = _plots(default)
    for name in ("eval/plots/roc.csv", "eval/plots/pr.csv"):
        assert _classes_drawn(plots, name) == {"resident", "intruder", "animal"}


def test_your_own_data_has_no_oracle_and_its_plots_render(byod: Project) -> None:
    metrics = _read(byod, "eval/metrics.json")
    assert metrics["bayes"].startswith("no oracle: ")
    assert not any(key.endswith("_vs_bayes") for key in metrics)
    assert metrics["alarm_class"] == "yes" and 0 <= metrics["alarm_recall_at_far"] <= 1
    details = _read(byod, "eval/details.json")
    assert set(details["per_class"]) == {"yes", "no"} and "profiles" not in details
    assert set(details["slices"]["region"]) <= {"north", "south", "east", "west"}
    assert list(Path(byod.path / "data/oracle/sim").rglob("*.parquet")) == []
    card = _read(byod, "models/card.json")
    assert "amount_per_income" in card["model_features"]
    plots = _plots(byod)
    for name in ("eval/plots/roc.csv", "eval/plots/pr.csv"):
        assert _classes_drawn(plots, name) == {"yes", "no"}

"""The whole pipeline from a fresh clone: real git, real `dvc repro`, offline, on the embedded default."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Project
from tests.helpers.trees import tree

pytestmark = pytest.mark.slow

OUTPUTS = ["data/oracle", "data/partitions", "data/clean", "data/quarantine", "data/split", "models", "eval"]


def snapshot(project: Project) -> dict[str, bytes]:
    return {f"{d}/{k}": v for d in OUTPUTS for k, v in tree(project.path / d).items()}


def ran_stages(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def test_fresh_clone_repro_noop_and_force_are_deterministic(project: Project) -> None:
    first = project.run("dvc", "repro")  # its time is measured by bench/, not asserted here
    assert ran_stages(first.stdout) == ["simulate", "ingest", "validate", "split", "train", "evaluate"]
    metrics = json.loads((project.path / "eval/metrics.json").read_text())
    assert 0.6 < metrics["macro_f1"] < 0.99  # learnable, not trivial
    card = json.loads((project.path / "models/card.json").read_text())
    assert (
        card["lineage"]["partitions"]
        == sorted(json.loads((project.path / "data/split/summary.json").read_text())["partitions"])
        != []
    )

    again = project.run("dvc", "repro")
    assert ran_stages(again.stdout) == []
    assert "up to date" in again.stdout

    before = snapshot(project)
    project.run("dvc", "repro", "-f")  # every stage again: the same bytes
    assert snapshot(project) == before

    shown = project.run("dvc", "metrics", "show", "--json")
    assert "macro_f1" in shown.stdout
    plots = project.run("dvc", "plots", "show", "--json")
    assert "confusion" in plots.stdout


def test_changing_one_stage_params_reruns_only_it_and_after(project: Project) -> None:
    params = project.params()
    params["simulate"].update(days=4, events_per_day=150)  # what reruns does not depend on the feed's size
    project.write_params(params)
    project.run("dvc", "repro")
    project.commit("baseline")
    params = project.params()
    params["train"]["hyperparams"]["max_iter"] = 60
    project.write_params(params)
    assert ran_stages(project.run("dvc", "repro").stdout) == ["train", "evaluate"]
    params["split"]["test_fraction"] = 0.3
    project.write_params(params)
    assert ran_stages(project.run("dvc", "repro").stdout) == ["split", "train", "evaluate"]
    project.run("git", "checkout", "params.yaml")
    project.run("dvc", "checkout")
    exp = project.run("dvc", "exp", "run", "-S", "train.hyperparams.max_iter=40")
    assert ran_stages(exp.stdout) == ["train", "evaluate"]
    table = json.loads(project.run("dvc", "exp", "show", "--json").stdout)
    assert "macro_f1" in json.dumps(table)


BYOD_CSV = """Loan Ref,Applicant Income,Loan Amt,Term (months),Region,Applied On,Defaulted?
{rows}"""


def byod_rows(n: int, seed: int) -> str:
    import random

    rng = random.Random(seed)
    lines = []
    for i in range(n):
        income = rng.gauss(50_000, 15_000)
        amount = rng.gauss(15_000, 6_000)
        risk = amount / max(income, 1) + rng.gauss(0, 0.12)
        label = "yes" if risk > 0.38 else "no"
        income_text = "n/a" if rng.random() < 0.03 else f"{income:.0f}"
        region = rng.choice(["north", "south", "east", "west"])
        applied = f"2025-0{1 + i % 9}-1{i % 10}"
        term = rng.choice([12, 24, 36])
        lines.append(f"L{seed}-{i},{income_text},{amount:.0f},{term},{region},{applied},{label}")
    lines.append(lines[3])  # a duplicate delivery of one row
    lines.append(f"L{seed}-bad,??,1000,12,mars,2025-13-01,yes")  # unknown region, missing income, bad date
    return "\n".join(lines) + "\n"


def test_bring_your_own_data_by_editing_params_only(project: Project) -> None:
    mine = project.path / "data/landing/mine"
    mine.mkdir(parents=True)
    for day in range(3):
        (mine / f"loans-{day}.csv").write_text(BYOD_CSV.format(rows=byod_rows(400, day)))
    params = project.params()
    params["ingest"]["sources"] = [{"name": "loans", "kind": "files", "path": "mine", "glob": "*.csv"}]
    params["validate"]["contract"] = {
        "key": [],  # no tidy key: rows are identified by all their values
        "target": "defaulted",
        "na_values": ["", "n/a", "??"],
        "columns": {
            "income": {"type": "float", "min": 0, "aliases": ["Applicant Income"]},
            "amount": {"type": "float", "required": True, "min": 0, "aliases": ["Loan Amt"]},
            "term": {"type": "int", "values": [], "min": 1, "max": 480, "aliases": ["Term (months)"]},
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
    params["train"]["ratios"] = []  # the default's weight_per_height names columns this data has not
    params["evaluate"]["alarm_class"] = "yes"
    project.write_params(params)
    project.run("dvc", "repro")
    manifest = json.loads((project.path / "data/clean/manifest.json").read_text())
    assert len(manifest["datums"]) == 3
    for entry in manifest["datums"].values():
        assert entry["rows_in"] == 402
        assert entry["duplicates"] == 1
        assert entry["quarantined"] >= 1
        assert entry["rows_in"] == entry["clean"] + entry["quarantined"] + entry["duplicates"]
    details = json.loads((project.path / "eval/details.json").read_text())
    assert set(details["per_class"]) == {"yes", "no"}
    metrics = json.loads((project.path / "eval/metrics.json").read_text())
    assert metrics["accuracy"] > 0.7
    assert (project.path / "models/model.skops").stat().st_size > 0


def test_missing_required_column_is_one_line_naming_file_and_column(project: Project) -> None:
    mine = project.path / "data/landing/mine"
    mine.mkdir(parents=True)
    (mine / "bad.csv").write_text("event_id,label\n1,resident\n")
    params = project.params()
    params["ingest"]["sources"].append({"name": "mine", "kind": "files", "path": "mine"})
    project.write_params(params)
    result = project.run("dvc", "repro", check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("strata validate: error:")]
    assert len(errors) == 1, result.stderr
    assert "bad.csv" in errors[0] and "missing required column 'ts'" in errors[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (project.path / "data/clean").exists() or not any(
        p.name.startswith(".") for p in (project.path / "data/clean").rglob("*")
    )

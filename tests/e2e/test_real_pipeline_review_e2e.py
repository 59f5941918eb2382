"""The real pipeline through a reviewer's and CI's eyes: tags, tiers on the loopback S3, snapshots,
lineage, checkout and the gate, all on outputs of `dvc repro` (not a stand-in project)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strata.storage import commands as storage
from tests.e2e.conftest import Project, copy_project
from tests.e2e.test_storage_e2e import adopt, assert_no_secret_tracked
from tests.helpers.trees import tree

pytestmark = pytest.mark.slow

RECORDED = ["models/model.skops", "models/card.json", "eval/metrics.json"]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, dict[str, dict[str, bytes]]]:
    """v1: 4 days; v2: +2 days; v3: other train params. Returns the repo and what each tag recorded."""
    project = copy_project(tmp_path_factory.mktemp("history") / "engineer")
    params = project.params()
    params["simulate"]["days"] = 4
    params["train"]["hyperparams"]["max_iter"] = 80
    project.write_params(params)
    recorded: dict[str, dict[str, bytes]] = {}

    def tag(name: str) -> None:
        project.run("dvc", "repro")
        project.commit(name)
        project.run("git", "tag", name)
        recorded[name] = {rel: (project.path / rel).read_bytes() for rel in RECORDED}
        recorded[name].update({f"eval/plots/{k}": v for k, v in tree(project.path / "eval/plots").items()})

    tag("v1")
    project.run("strata", "simulate", "--add-days", "2")
    tag("v2")
    params = project.params()
    params["train"]["hyperparams"]["max_iter"] = 20
    project.write_params(params)
    tag("v3")
    return project, recorded


def strata_json(project: Project, *args: str) -> object:
    return json.loads(project.run("strata", *args, "--json").stdout)


def test_snapshots_list_and_diff_count_what_landed(history) -> None:
    project, _ = history
    snaps = {s["rev"]: s for s in strata_json(project, "snapshots", "list")}
    assert {
        name: sum(src["partitions"] for src in snaps[name]["sources"].values()) for name in ("v1", "v2", "v3")
    } == {
        "v1": 12,
        "v2": 18,
        "v3": 18,
    }
    diff = strata_json(project, "snapshots", "diff", "v1", "v2")
    assert {source: len(row["added"]) for source, row in diff["sources"].items()} == {
        "acme": 2,
        "birch": 2,
        "cedar": 2,
    }
    assert all(not row["removed"] for row in diff["sources"].values())
    params = {row["key"] for row in strata_json(project, "snapshots", "diff", "v2", "v3")["params"]}
    assert params == {"train.hyperparams.max_iter"}


def test_lineage_and_checkout_of_an_old_tag(history, tmp_path: Path) -> None:
    project, recorded = history
    chain = strata_json(project, "lineage", "models/model.skops", "--rev", "v1")
    assert chain["rev"] == "v1" and len(chain["stages"]) == 5  # simulate, ingest, validate, split, train
    v1 = json.loads(project.run("git", "show", "v1:data/split/summary.json", check=False).stdout or "null")
    assert v1 is None  # DVC-tracked, not in git: lineage reads it from the cache by dvc.lock's md5
    assert len(chain["batches"]) == 12
    assert {b["source"] for b in chain["batches"]} == {"acme", "birch", "cedar"}
    project.run("strata", "snapshots", "checkout", "v1", "--to", str(tmp_path / "v1"))
    for rel in RECORDED:
        assert (tmp_path / "v1" / rel).read_bytes() == recorded["v1"][rel], rel


def test_gate_decision_matches_the_recorded_metrics(history) -> None:
    project, recorded = history
    base = json.loads(recorded["v2"]["eval/metrics.json"])
    head = json.loads(recorded["v3"]["eval/metrics.json"])
    max_drop = project.params()["gate"]["max_drop"]
    regressed = sorted(m for m, allowed in max_drop.items() if base[m] - head[m] > allowed)
    result = project.run(
        "strata", "report", "--base", "v2", "--head", "v3", "--out", "report.md", check=False
    )
    report = (project.path / "report.md").read_text()
    assert "max_iter" in report
    if regressed:
        assert result.returncode == 4
        assert all(metric in result.stderr for metric in regressed)
    else:
        assert result.returncode == 0, result.stderr
    assert project.run("strata", "report", "--base", "v3", "--head", "v3", check=False).returncode == 0


def test_tiers_reviewer_pulls_models_metrics_plots_of_a_tag(history, s3_server, tmp_path: Path) -> None:
    project, recorded = history
    adopt(project.path, s3_server, ("engineer",))
    storage.use("engineer", project.path)
    for rev in ("v1", "v3"):
        project.run("git", "checkout", "-q", rev)
        project.run("dvc", "checkout", "-q")
        storage.push("all", project.path)
    project.run("git", "checkout", "-q", "main")
    project.run("dvc", "checkout", "-q")
    project.run("git", "clone", "-q", str(project.path), str(tmp_path / "reviewer"))
    clone = Project(tmp_path / "reviewer")
    clone.run("git", "checkout", "-q", "v1")
    adopt(clone.path, s3_server, ("reviewer",))
    storage.use("reviewer", clone.path)
    storage.pull("shared", clone.path)
    for rel, data in recorded["v1"].items():
        assert (clone.path / rel).read_bytes() == data, rel
    assert not (clone.path / "data/partitions").exists() and not (clone.path / "data/quarantine").exists()
    assert_no_secret_tracked(clone, s3_server.credentials)
    assert_no_secret_tracked(project, s3_server.credentials)

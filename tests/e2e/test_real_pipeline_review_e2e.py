"""The real pipeline through a reviewer's and CI's eyes: tags, tiers on the loopback S3, snapshots,
lineage, checkout, the gate, a fresh clone without credentials, a reviewer's clone that joins the running
server, and delivered data brought in with `dvc add` — all on outputs of `dvc repro`, not a stand-in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from strata.storage import commands as storage
from tests.e2e.conftest import Project, copy_project
from tests.e2e.test_storage_e2e import adopt, assert_no_secret_tracked
from tests.helpers.trees import tree

pytestmark = pytest.mark.slow

RECORDED = ["models/model.skops", "models/card.json", "eval/metrics.json"]
NO_AWS = {
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/strata-test",
    "AWS_CONFIG_FILE": "/nonexistent/strata-test",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def scrubbed(project: Project) -> Project:
    """No AWS identity at all: no keys in the environment, no profile, no instance metadata."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        project.env.pop(name, None)
    project.env.update(NO_AWS)
    return project


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, dict[str, dict[str, bytes]]]:
    """v1: 4 days; v2: +2 days; v3: other train params. Returns the repo and what each tag recorded."""
    project = scrubbed(copy_project(tmp_path_factory.mktemp("history") / "engineer"))
    params = project.params()
    params["simulate"]["days"] = 4
    params["simulate"]["events_per_day"] = 120
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


@pytest.fixture(scope="module")
def published(history, s3_server) -> tuple[Project, dict[str, dict[str, bytes]]]:  # noqa: ANN001
    """The engineer pushed both tiers of v1 and v3 to the loopback server."""
    project, recorded = history
    adopt(project.path, s3_server, ("engineer",))
    storage.use("engineer", project.path)
    for rev in ("v1", "v3"):
        project.run("git", "checkout", "-q", rev)
        project.run("dvc", "checkout", "-q")
        storage.push("all", project.path)
    project.run("git", "checkout", "-q", "main")
    project.run("dvc", "checkout", "-q")
    return project, recorded


@pytest.fixture(scope="module")
def reviewer(published, s3_server, tmp_path_factory: pytest.TempPathFactory) -> Project:  # noqa: ANN001
    """A reviewer's clone on the same machine: joins the running server, reads the shared tier only."""
    project, _ = published
    dest = tmp_path_factory.mktemp("reviewer") / "clone"
    project.run("git", "clone", "-q", str(project.path), str(dest))
    clone = scrubbed(Project(dest))
    alone = clone.run("strata", "storage", "use", "reviewer", check=False)
    assert alone.returncode == 1 and "no server is running here" in alone.stderr and "--join" in alone.stderr
    joined = clone.run("strata", "storage", "use", "reviewer", "--join", str(s3_server.state_dir)).stdout
    assert f"joined from {s3_server.state_dir}" in joined and "role 'reviewer' (shared:read)" in joined
    return clone


def strata_json(project: Project, *args: str) -> object:
    return json.loads(project.run("strata", *args, "--json").stdout)


def partitions(snap: dict) -> int:
    return sum(src["partitions"] for src in snap["sources"].values())


def test_snapshots_list_and_diff_count_what_landed(history) -> None:
    project, _ = history
    snaps = {s["rev"]: s for s in strata_json(project, "snapshots", "list")}
    assert {name: partitions(snaps[name]) for name in ("v1", "v2", "v3")} == {"v1": 12, "v2": 18, "v3": 18}
    assert all(snaps[name]["partitions_from"] == "partitions" for name in ("v1", "v2", "v3"))
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
    assert v1 is None  # DVC-tracked, not in git: lineage reads it through DVC at that revision
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
    assert any(m in base for m in max_drop)  # the gate names metrics the pipeline writes
    regressed = sorted(m for m, allowed in max_drop.items() if m in base and base[m] - head[m] > allowed)
    result = project.run(
        "strata", "report", "--base", "v2", "--head", "v3", "--out", "report.md", check=False
    )
    report = (project.path / "report.md").read_text()
    (project.path / "report.md").unlink()
    shutil.rmtree(project.path / "report_plots")
    assert "max_iter" in report and "![head confusion.png](report_plots/head/confusion.png)" in report
    if regressed:
        assert result.returncode == 4
        assert all(metric in result.stderr for metric in regressed)
    else:
        assert result.returncode == 0, result.stderr
    assert project.run("strata", "report", "--base", "v3", "--head", "v3", check=False).returncode == 0


def test_fresh_clone_without_cache_or_credentials_says_what_it_cannot_read(history, tmp_path: Path) -> None:
    project, _ = history
    project.run("git", "clone", "-q", str(project.path), str(tmp_path / "fresh"))
    fresh = scrubbed(Project(tmp_path / "fresh"))
    fresh.env["COLUMNS"] = "80"
    result = fresh.run("strata", "snapshots", "list")
    assert result.stderr == ""  # no DVC error spam, one line per thing it could not read instead
    assert max(len(line) for line in result.stdout.splitlines()) <= 80 and "…" not in result.stdout
    rows = [line.replace("│", " ").split() for line in result.stdout.splitlines()]
    data, models = [r for r in rows if r[:1] == ["v1"]]
    assert data[3:] == ["?", "?", "?", "?"]  # source, partitions, rows, quarantined: unknown, not zero
    assert len(models) > 2 and set(models[2:]) == {"?"}  # the gated metrics: unknown, not blank
    text = " ".join(result.stdout.split())
    assert (
        "v1, v2, v3, HEAD: unavailable: 'data/clean/manifest.json' is not in the local cache and there "
        "are no credentials for remote 'shared': tier 'shared' (remote 'shared', s3://strata-shared; "
        "readable by roles engineer, ci, reviewer)"
    ) in text
    assert "tier 'raw' (remote 'raw', s3://strata-raw; readable by role engineer)" in text
    assert not (tmp_path / "fresh/.dvc/cache").exists()
    assert not (tmp_path / "fresh/data/partitions").exists() and not (tmp_path / "fresh/data/clean").exists()


def test_reviewer_sees_the_shared_tier_and_is_told_about_raw(published, reviewer, tmp_path: Path) -> None:
    before = (reviewer.path / "params.yaml").read_bytes()
    snaps = {s["rev"]: s for s in strata_json(reviewer, "snapshots", "list", "--rev", "v1", "--rev", "v3")}
    assert {name: partitions(snaps[name]) for name in ("v1", "v3")} == {"v1": 12, "v3": 18}
    assert snaps["v1"]["partitions_from"] == "clean"  # counted from the clean manifest (shared tier)
    assert snaps["v1"]["headline"] and snaps["v1"]["sources"]["acme"]["quarantined"] >= 0
    denied = snaps["v1"]["unavailable"]
    assert [u["path"] for u in denied] == ["data/partitions/manifest.json"]
    assert "remote 'raw' denied access (AccessDenied): tier 'raw'" in denied[0]["detail"]
    assert "readable by role engineer" in denied[0]["detail"]
    chain = strata_json(reviewer, "lineage", "models/model.skops", "--rev", "v1")
    assert len(chain["batches"]) == 12 and all(b["batches"] and b["source"] for b in chain["batches"])
    assert chain["notes"] == ["batches from data/clean/manifest.json"]
    assert chain["unavailable"][0]["path"] == "data/partitions/manifest.json"
    out = reviewer.run("strata", "snapshots", "checkout", "v1", "--to", str(tmp_path / "v1"))
    assert "skipped: 'data/partitions' at v1 is not in the local cache and remote 'raw' denied" in out.stderr
    assert (tmp_path / "v1/models/model.skops").read_bytes() == published[1]["v1"]["models/model.skops"]
    assert not (tmp_path / "v1/data/partitions").exists()
    report = reviewer.run("strata", "report", "--base", "v1", "--head", "v3", check=False)
    assert report.returncode in (0, 4), report.stderr
    written = (reviewer.path / ".strata/report/report.md").read_text()
    assert "**Gate:" in written and "not in the local cache and remote 'raw' denied access" in written
    assert (reviewer.path / "params.yaml").read_bytes() == before
    assert not (reviewer.path / "data/clean").exists() and not (reviewer.path / "models/model.skops").exists()
    assert reviewer.run("git", "status", "--porcelain").stdout == ""


def test_tiers_reviewer_pulls_models_metrics_plots_of_a_tag(published, reviewer) -> None:
    project, recorded = published
    reviewer.run("git", "checkout", "-q", "v1")
    storage.pull("shared", reviewer.path)
    for rel, data in recorded["v1"].items():
        assert (reviewer.path / rel).read_bytes() == data, rel
    assert (
        not (reviewer.path / "data/partitions").exists() and not (reviewer.path / "data/quarantine").exists()
    )
    assert_no_secret_tracked(reviewer, {})
    assert_no_secret_tracked(project, {})


def test_bring_your_own_files_with_dvc_add_into_the_raw_tier(published, s3_server, tmp_path: Path) -> None:
    project, _ = published
    mine = project.path / "data/landing/mine"
    mine.mkdir()
    delivered = sorted((project.path / "data/landing/sim/acme").iterdir())[0]
    shutil.copy(delivered, mine / delivered.name)
    project.run("dvc", "add", "data/landing/mine")  # what a user does first: no tier
    refused = project.run("strata", "storage", "push", check=False)
    assert refused.returncode == 2
    assert refused.stderr == (
        "strata storage push: error: output 'data/landing/mine' (data/landing/mine.dvc) names no storage "
        "tier: track it with `strata storage add data/landing/mine --tier raw` (or add `remote: raw` to its "
        "out in data/landing/mine.dvc)\n"
    )
    added = project.run("strata", "storage", "add", "data/landing/mine").stdout
    assert "-> tier 'raw' (remote 'raw') in data/landing/mine.dvc" in added
    params = project.params()
    params["ingest"]["sources"].append({"name": "mine", "kind": "files", "path": "mine", "glob": "*.csv"})
    project.write_params(params)
    project.run("dvc", "repro")
    project.commit("bring my own files")
    pushed = project.run("strata", "storage", "push").stdout
    assert "push raw (s3://strata-raw) as role 'engineer'" in pushed
    snaps = strata_json(project, "snapshots", "list", "--rev", "HEAD")
    assert snaps[0]["sources"]["mine"]["partitions"] == 1
    project.run("git", "clone", "-q", str(project.path), str(tmp_path / "second"))
    second = scrubbed(Project(tmp_path / "second"))
    second.run("strata", "storage", "use", "engineer", "--join", str(s3_server.state_dir))
    second.run("strata", "storage", "pull", "--tier", "raw")
    assert (tmp_path / "second/data/landing/mine" / delivered.name).read_bytes() == delivered.read_bytes()
    assert_no_secret_tracked(second, s3_server.credentials)

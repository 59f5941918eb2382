"""Issue 11, part 6, on the real pipeline: register two versions, promote the first to prod, follow
`model#prod` from a deployed clone, promote the second, refuse a gated promotion of a worse model, roll back,
and trace a version's lineage down to the delivered batches.

SERVING IS PENDING: :class:`Deployment` follows the stage with the registry's own pieces (resolve, fetch with
the sha256 check, StageWatcher) in a reviewer's clone. When the serving branch lands, it becomes a live
`strata serve --model model#prod` under a steady request load, and each `deployment.sync()` below becomes
"wait until /health names the new version", with the zero-failed-requests assertion at the end.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strata.registry import source
from strata.registry.watch import StageWatcher
from strata.storage import commands as storage
from tests.e2e.conftest import Project, copy_project
from tests.e2e.test_storage_e2e import adopt

pytestmark = pytest.mark.slow

GATE = {"accuracy": 0.02, "macro_f1": 0.03}  # loose enough for a retrain, not for the crippled model


def metrics(project: Project) -> dict:
    return json.loads((project.path / "eval" / "metrics.json").read_text())


def train(project: Project, message: str, **hyperparams: float) -> dict:
    params = project.params()
    params["train"]["hyperparams"].update(hyperparams)
    project.write_params(params)
    project.run("dvc", "repro")
    project.commit(message)
    return metrics(project)


def promote(project: Project, ref: str, check: bool = True):  # noqa: ANN201
    return project.run("strata", "models", "promote", ref, "--stage", "prod", check=check)


def prod(project: Project) -> str:
    return project.run("gto", "show", "model#prod", "--version").stdout.strip()


@pytest.fixture(scope="module")
def pipeline(s3_server, tmp_path_factory: pytest.TempPathFactory) -> Project:  # noqa: ANN001
    """The real pipeline on a small feed, v0.0.1 registered by the CI role (files on the shared tier)."""
    project = copy_project(tmp_path_factory.mktemp("pipeline") / "ci")
    params = project.params()
    params["simulate"].update(days=3, events_per_day=60)
    params["train"]["hyperparams"]["max_iter"] = 30
    params["gate"]["max_drop"] = GATE
    project.write_params(params)
    project.run("dvc", "repro")
    project.commit("v1: small feed")
    adopt(project.path, s3_server, ("engineer", "ci", "reviewer"))
    storage.use("ci", project.path)
    assert "register: model@v0.0.1" in project.run("strata", "models", "register").stdout
    return project


class Deployment:
    """Stands in for `strata serve --model model#prod` (pending): follows the stage from its own clone."""

    def __init__(self, project: Project, tmp: Path, server) -> None:  # noqa: ANN001
        from strata.model.artifact import load_model

        project.run("git", "clone", "-q", str(project.path), str(tmp / "deployed"))
        self.root, self.models = tmp / "deployed", tmp / "models"
        adopt(self.root, server, ("reviewer",))
        storage.use("reviewer", self.root)  # a server only reads the shared tier
        self.load = load_model
        self.fetched = source.fetch(self.root, source.resolve(self.root, "model#prod"), self.models)
        self.model = self.load(self.fetched.model)
        self.watcher = StageWatcher.from_params(
            self.root, "model#prod", self.swap, current=self.fetched.resolved
        )

    def swap(self, move) -> None:  # noqa: ANN001
        fetched = source.fetch(self.root, move.new, self.models)
        self.model, self.fetched = self.load(fetched.model), fetched

    def sync(self) -> str:
        self.watcher.poll()
        return self.fetched.resolved.version


def test_lineage_of_a_registered_version_reaches_the_delivered_batches(pipeline: Project) -> None:
    shown = json.loads(pipeline.run("strata", "models", "show", "model@v0.0.1", "--json").stdout)
    lineage = shown["lineage"]
    assert [node["stage"] for node in lineage["stages"]] == [
        "train",
        "split",
        "validate",
        "ingest",
        "simulate",
    ]
    delivered = sorted((pipeline.path / "data" / "landing" / "sim").rglob("*.*"))
    assert len(lineage["batches"]) == len(delivered) == 9  # 3 sites x 3 days
    assert {b["source"] for b in lineage["batches"]} == {"acme", "birch", "cedar"}
    assert {p["partition"] for p in lineage["batches"]} == set(shown["card"]["lineage"]["partitions"])
    assert all(b["sha256"] and b["batches"] for b in lineage["batches"])
    assert shown["snapshot"]["partitions"] == 9 and shown["unavailable"] == {}


def test_register_promote_follow_gate_and_rollback(pipeline: Project, s3_server, tmp_path: Path) -> None:  # noqa: ANN001
    first = metrics(pipeline)
    promote(pipeline, "model@v0.0.1")
    assert prod(pipeline) == "v0.0.1"
    deployment = Deployment(pipeline, tmp_path, s3_server)
    assert deployment.fetched.describe()["version"] == "v0.0.1"
    served_first = deployment.fetched.sha256

    second = train(pipeline, "v2: longer training", max_iter=45)
    assert all(first[m] - second[m] <= allowed for m, allowed in GATE.items()), (first, second)
    out = pipeline.run("strata", "models", "register", "--gate-against", "prod").stdout  # what CI runs
    assert "gate vs model@v0.0.1 (prod): passed" in out and "register: model@v0.0.2" in out
    promote(pipeline, "model@v0.0.2")
    assert prod(pipeline) == "v0.0.2"
    assert deployment.sync() == "v0.0.2"  # serving (pending): /health names v0.0.2, no request failed
    assert deployment.fetched.sha256 != served_first

    worse = train(pipeline, "v3: crippled training", max_iter=1, learning_rate=0.001)
    regressed = sorted(m for m, allowed in GATE.items() if second[m] - worse[m] > allowed)
    assert regressed, (second, worse)
    refused = pipeline.run("strata", "models", "register", "--gate-against", "prod", check=False)
    assert refused.returncode == 4 and "model@v0.0.3" not in pipeline.run("git", "tag").stdout
    pipeline.run("strata", "models", "register")  # registering is not promoting: a worse version may exist
    refused = promote(pipeline, "model@v0.0.3", check=False)
    assert refused.returncode == 4
    line = refused.stderr.strip()
    assert line.startswith(
        "strata models promote: error: model@v0.0.3 -> prod refused, gate vs model@v0.0.2 (prod): "
    )
    assert all(f"{m} dropped from {second[m]:.4f} (base) to {worse[m]:.4f} (head)" in line for m in regressed)
    assert "\n" not in line and prod(pipeline) == "v0.0.2"
    assert deployment.sync() == "v0.0.2"  # serving (pending): nothing moved, nothing reloaded

    out = promote(pipeline, "model@v0.0.1").stdout  # rollback: promoting the earlier version
    assert "replacing model@v0.0.2; rollback: v0.0.1 held 'prod' before, gate not re-run" in out
    assert prod(pipeline) == "v0.0.1"
    assert deployment.sync() == "v0.0.1"  # serving (pending): swapped back, no request failed
    assert deployment.fetched.sha256 == served_first
    rows = {
        row["version"]: row for row in json.loads(pipeline.run("strata", "models", "list", "--json").stdout)
    }
    assert list(rows) == ["v0.0.3", "v0.0.2", "v0.0.1"]
    assert rows["v0.0.1"]["stages"]["prod"]["replaced"] == "v0.0.2" and not rows["v0.0.2"]["stages"]
    assert rows["v0.0.3"]["metrics"]["accuracy"] == pytest.approx(worse["accuracy"])

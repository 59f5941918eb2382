"""Issue 11, part 6, on the real pipeline: register two versions, promote the first to prod, serve
`model#prod` from a deployed clone (a live `strata serve` with the reviewer's keys) under a steady request
load, promote the second and check the server followed with zero failed requests, refuse a gated promotion
of a worse model, roll back, and trace a version's lineage down to the delivered batches.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from strata.storage import commands as storage
from tests.e2e.conftest import Project, copy_project
from tests.e2e.test_serving_e2e import events_of
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


POLL_SECONDS = 0.5  # the deployment's own registry.poll_seconds: the swap is seen within a second
WAIT_S = 60.0  # bound on a server starting, and on it following a promotion (the machine may be busy)


class Deployment:
    """`strata serve --model model#prod --port 0` run from its own clone with the reviewer's keys (a server
    only reads the shared tier), polling the stage every POLL_SECONDS."""

    def __init__(self, project: Project, tmp: Path, server) -> None:  # noqa: ANN001
        self.project, self.server = project, server
        self.root, self.log = tmp / "deployed", tmp / "serve.log"
        self.env = project.env | {"PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> str:
        """Clone the project as it is now, start the server there; returns its "listening on" line."""
        self.project.run("git", "clone", "-q", str(self.project.path), str(self.root))
        adopt(self.root, self.server, ("reviewer",))
        storage.use("reviewer", self.root)
        params = yaml.safe_load((self.root / "params.yaml").read_text())
        params["registry"]["poll_seconds"] = POLL_SECONDS  # a local setting of this deployment, not committed
        (self.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        argv = ["strata", "serve", "--model", "model#prod", "--port", "0"]
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(argv, cwd=self.root, env=self.env, stderr=err)
        deadline = time.monotonic() + WAIT_S
        while "listening on" not in (text := self.log.read_text()):
            assert self.proc.poll() is None and time.monotonic() < deadline, text
            time.sleep(0.1)
        line = next(x for x in text.splitlines() if "listening on" in x)
        self.port = int(line.split("127.0.0.1:")[1].split(" ")[0])
        return line

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body)
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    def health(self) -> dict:
        return self.call("GET", "/health")[1]["model"]

    def wait_for(self, version: str) -> dict:
        """/health once it names ``version`` in prod (bounded by WAIT_S)."""
        deadline = time.monotonic() + WAIT_S
        while (model := self.health())["version"] != version:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"/health still names {model}\n{self.log.read_text()}"
            time.sleep(0.1)
        assert model["stage"] == "prod" and model["ref"] == "model#prod", model
        return model

    def events(self) -> list[tuple[str, str | None, str | None]]:
        """The server's follow log lines so far: (event, old, new)."""
        lines = [json.loads(x) for x in self.log.read_text().splitlines() if x.startswith("{")]
        return [(x["event"], x.get("old"), x.get("new")) for x in lines if "event" in x]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                assert self.proc.wait(timeout=60) == 0, self.log.read_text()
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()


class Load(threading.Thread):
    """A steady client: POSTs a few delivered events every PERIOD_S; notes each answer's status and model."""

    PERIOD_S = 0.03

    def __init__(self, deployment: Deployment, body: bytes, source: str) -> None:
        super().__init__(name="load", daemon=True)
        self.deployment, self.body, self.source = deployment, body, source
        self.answers: list[tuple[int, str]] = []  # (status, model version); status 0: no answer (the error)
        self.errors: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.PERIOD_S):
            try:
                status, payload = self.deployment.call("POST", f"/predict?source={self.source}", self.body)
                self.answers.append((status, payload.get("model", {}).get("version", "")))
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.answers.append((0, ""))
                self.errors.append(repr(exc))

    def stop(self) -> None:
        self.halt.set()
        self.join(30)


def some_events(project: Project, count: int = 5) -> tuple[bytes, str]:
    """The first ``count`` events of acme's first delivered file, as a sender POSTs them (JSON lines)."""
    first = sorted(p for p in (project.path / "data" / "landing" / "sim" / "acme").iterdir())[0]
    return "\n".join(json.dumps(event) for event in events_of(first)[:count]).encode(), "acme"


@pytest.fixture
def deployment(pipeline: Project, s3_server, tmp_path: Path) -> Iterator[Deployment]:  # noqa: ANN001
    deployed = Deployment(pipeline, tmp_path, s3_server)
    try:
        yield deployed
    finally:
        deployed.stop()


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


def test_register_promote_follow_gate_and_rollback(pipeline: Project, deployment: Deployment) -> None:
    first = metrics(pipeline)
    promote(pipeline, "model@v0.0.1")
    assert prod(pipeline) == "v0.0.1"
    assert " v0.0.1 from model#prod, 1 worker)" in deployment.start()
    served_first = deployment.wait_for("v0.0.1")["sha256"]

    second = train(pipeline, "v2: longer training", max_iter=45)
    assert all(first[m] - second[m] <= allowed for m, allowed in GATE.items()), (first, second)
    out = pipeline.run("strata", "models", "register", "--gate-against", "prod").stdout  # what CI runs
    assert "gate vs model@v0.0.1 (prod): passed" in out and "register: model@v0.0.2" in out
    load = Load(deployment, *some_events(pipeline))
    load.start()
    time.sleep(1.0)  # some answers from v0.0.1 first
    promote(pipeline, "model@v0.0.2")
    assert prod(pipeline) == "v0.0.2"
    swapped = deployment.wait_for("v0.0.2")  # the server followed the stage...
    time.sleep(1.0)  # ...and answers from v0.0.2 under the same load
    load.stop()
    assert swapped["sha256"] != served_first
    assert swapped["commit"] == pipeline.run("git", "rev-list", "-n1", "model@v0.0.2").stdout.strip()
    statuses = sorted({status for status, _ in load.answers})
    assert statuses == [200], (statuses, load.errors[:3])  # not one failed request across the swap
    versions = [version for _, version in load.answers]
    assert versions[0] == "v0.0.1" and versions[-1] == "v0.0.2" and len(versions) > 20, versions
    assert versions == sorted(versions), "a request answered by v0.0.1 after one answered by v0.0.2"
    assert deployment.events() == [("model swapped", "v0.0.1", "v0.0.2")]

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
    time.sleep(2 * POLL_SECONDS)
    assert deployment.health()["version"] == "v0.0.2"  # nothing moved, nothing reloaded

    out = promote(pipeline, "model@v0.0.1").stdout  # rollback: promoting the earlier version
    assert "replacing model@v0.0.2; rollback: v0.0.1 held 'prod' before, gate not re-run" in out
    assert prod(pipeline) == "v0.0.1"
    assert deployment.wait_for("v0.0.1")["sha256"] == served_first  # swapped back (fetched once: cached)
    assert deployment.events()[-1] == ("model swapped", "v0.0.2", "v0.0.1") and len(deployment.events()) == 2
    rows = {
        row["version"]: row for row in json.loads(pipeline.run("strata", "models", "list", "--json").stdout)
    }
    assert list(rows) == ["v0.0.3", "v0.0.2", "v0.0.1"]
    assert rows["v0.0.1"]["stages"]["prod"]["replaced"] == "v0.0.2" and not rows["v0.0.2"]["stages"]
    assert rows["v0.0.3"]["metrics"]["accuracy"] == pytest.approx(worse["accuracy"])

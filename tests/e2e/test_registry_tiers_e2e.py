"""The registry on real git, real DVC and the IAM-enforced loopback S3: registering publishes a version's
files to the shared tier before tagging, fresh clones list and fetch versions through DVC with their role's
keys, a reviewer cannot publish, and an unpublished tag is called what it is.

A tiny DVC project stands in for the pipeline (a `train` stage writing a model, its card and metrics from
params.yaml); the real pipeline's registry flow is tests/e2e/test_registry_pipeline_e2e.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from strata.storage import commands as storage
from tests.e2e.conftest import ROOT, Project
from tests.e2e.test_storage_e2e import adopt, assert_no_secret_tracked

pytestmark = pytest.mark.slow

GEN = """import hashlib, json, pathlib, random, yaml
p = yaml.safe_load(open("params.yaml"))["model"]
blob = random.Random(f"model:{p['seed']}").randbytes(4000)
pathlib.Path("models").mkdir(exist_ok=True); pathlib.Path("eval").mkdir(exist_ok=True)
pathlib.Path("models/model.skops").write_bytes(blob)
card = {"model": {"sha256": hashlib.sha256(blob).hexdigest(), "kind": "tiny"},
        "lineage": {"partitions": ["acme/0a", "birch/0b"], "split": {"train_rows": 8, "test_rows": 2}}}
pathlib.Path("models/card.json").write_text(json.dumps(card))
pathlib.Path("eval/metrics.json").write_text(json.dumps({"accuracy": p["accuracy"], "macro_f1": 0.5}))
"""
DVC_YAML = """stages:
  train:
    cmd: python gen.py
    deps: [gen.py]
    params: [model]
    outs:
      - models/model.skops:
          remote: shared
      - models/card.json:
          remote: shared
    metrics:
      - eval/metrics.json:
          remote: shared
artifacts:
  model:
    path: models/model.skops
    type: model
    meta: {card: models/card.json, metrics: eval/metrics.json}
"""
PARAMS = {
    "model": {"seed": 1, "accuracy": 0.9},
    "registry": {"artifact": "model", "stages": ["prod"], "gated_stages": ["prod"], "poll_seconds": 1},
    "gate": {"max_drop": {"accuracy": 0.01}},
}


def make_project(path: Path) -> Project:
    path.mkdir(parents=True)
    project = Project(path)
    project.run("git", "init", "-q", "-b", "main")
    project.run("dvc", "init", "-q")
    shutil.copy(ROOT / ".dvc" / "config", path / ".dvc" / "config")
    shutil.copy(ROOT / ".gitignore", path / ".gitignore")
    (path / "storage").mkdir()
    shutil.copy(ROOT / "storage" / "roles.yaml", path / "storage" / "roles.yaml")
    (path / "gen.py").write_text(GEN)
    (path / "dvc.yaml").write_text(DVC_YAML)
    project.write_params(PARAMS)
    project.run("dvc", "repro", "-q")
    project.commit("tiny model 1")
    return project


def new_model(project: Project, seed: int) -> None:
    params = project.params()
    params["model"]["seed"] = seed
    project.write_params(params)
    project.run("dvc", "repro", "-q")
    project.commit(f"tiny model {seed}")


def clone(project: Project, dest: Path, server, role: str | None) -> Project:  # noqa: ANN001
    project.run("git", "clone", "-q", str(project.path), str(dest))
    copy = Project(dest)
    adopt(dest, server, (role,) if role else ())
    if role:
        storage.use(role, dest)
    return copy


@pytest.fixture(scope="module")
def published(s3_server, tmp_path_factory: pytest.TempPathFactory) -> Project:  # noqa: ANN001
    """CI registered v0.0.1 (files pushed to the shared tier) and promoted it to prod."""
    project = make_project(tmp_path_factory.mktemp("registry") / "ci")
    adopt(project.path, s3_server, ("engineer", "ci", "reviewer"))
    storage.use("ci", project.path)
    out = project.run("strata", "models", "register").stdout
    assert "register: model@v0.0.1" in out and "push shared (s3://strata-shared) as role 'ci'" in out
    project.run("strata", "models", "promote", "model@v0.0.1", "--stage", "prod")
    return project


def test_register_put_the_files_on_the_shared_tier_before_the_tag(published: Project, s3_server) -> None:  # noqa: ANN001
    from strata.storage import s3server

    lock = yaml.safe_load((published.path / "dvc.lock").read_text())
    md5s = [out["md5"] for out in lock["stages"]["train"]["outs"]]
    s3 = s3server.client("s3", s3_server.endpoint, s3_server.credentials["engineer"])
    for md5 in md5s:
        s3.head_object(Bucket="strata-shared", Key=f"files/md5/{md5[:2]}/{md5[2:]}")
    shown = json.loads(published.run("gto", "show", "--json").stdout)
    assert shown["model"]["version"] == "v0.0.1" and shown["model"]["stage"]["prod"] == "v0.0.1"
    history = published.run("gto", "history", "model").stdout
    assert "model#prod#1" in history and "model@v0.0.1" in history
    assert_no_secret_tracked(published, s3_server.credentials)


def test_fresh_clone_lists_versions_reading_metrics_through_dvc(
    published: Project, s3_server, tmp_path
) -> None:  # noqa: ANN001
    reviewer = clone(published, tmp_path / "reviewer", s3_server, "reviewer")
    assert not (reviewer.path / ".dvc" / "cache").exists()
    rows = json.loads(reviewer.run("strata", "models", "list", "--json").stdout)
    first = next(row for row in rows if row["version"] == "v0.0.1")
    assert first["metrics"] == {"accuracy": 0.9} and first["unavailable"] == {}
    assert first["snapshot"] == {
        "partitions": 2,
        "sources": {"acme": 1, "birch": 1},
        "train_rows": 8,
        "test_rows": 2,
    }
    assert "prod" in first["stages"]


def test_without_credentials_the_list_says_what_it_cannot_read(
    published: Project, s3_server, tmp_path
) -> None:  # noqa: ANN001
    stranger = clone(published, tmp_path / "stranger", s3_server, None)
    storage.write_config_local(stranger.path, ["raw", "shared"], s3_server.endpoint, None)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        stranger.env.pop(name, None)
    stranger.env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    rows = json.loads(stranger.run("strata", "models", "list", "--json").stdout)
    first = next(row for row in rows if row["version"] == "v0.0.1")
    assert first["metrics"] is None and first["snapshot"] is None
    assert first["unavailable"]["eval/metrics.json"] == (
        "model@v0.0.1: no credentials to read eval/metrics.json from tier 'shared' (s3://strata-shared): run "
        "`strata storage use ROLE` or set AWS keys"
    )
    text = stranger.run("strata", "models", "list").stdout
    assert "metrics unavailable" in text and "0.0000" not in text and "prod since" in text


def test_a_reviewer_fetches_prod_verified_like_dvc_artifacts_get(
    published: Project, s3_server, tmp_path
) -> None:  # noqa: ANN001
    reviewer = clone(published, tmp_path / "reviewer", s3_server, "reviewer")
    out = reviewer.run("strata", "models", "get", "model#prod", "--out", str(tmp_path / "served")).stdout
    assert "model@v0.0.1 (prod)" in out and "matches the card" in out
    model = tmp_path / "served" / "model@v0.0.1" / "model.skops"
    card = json.loads((tmp_path / "served" / "model@v0.0.1" / "card.json").read_text())
    assert hashlib.sha256(model.read_bytes()).hexdigest() == card["model"]["sha256"]
    reviewer.run(
        "dvc", "artifacts", "get", ".", "model", "--stage", "prod", "-o", str(tmp_path / "dvc.skops")
    )
    assert (tmp_path / "dvc.skops").read_bytes() == model.read_bytes()


def test_reviewer_cannot_publish_and_an_unpublished_tag_is_named_so(
    published: Project,
    s3_server,
    tmp_path,  # noqa: ANN001
) -> None:
    new_model(published, seed=2)
    head = published.run("git", "rev-parse", "--short=8", "HEAD").stdout.strip()
    storage.use("reviewer", published.path)
    try:
        refused = published.run("strata", "models", "register", check=False)
    finally:
        storage.use("ci", published.path)
    assert refused.returncode == 3
    assert refused.stderr.strip() == (
        f"strata models register: error: cannot publish model@v0.0.2 (HEAD {head}): role 'reviewer' may "
        "not write tier 'shared' (s3://strata-shared): AccessDenied; roles that may write tier 'shared': "
        "engineer, ci"
    )
    assert "model@v0.0.2" not in published.run("git", "tag").stdout
    # a tag made around strata (plain `gto register`) points at bytes nobody published: fetching says so
    published.run("gto", "register", "model", "HEAD", "--version", "v0.0.2")
    reviewer = clone(published, tmp_path / "reviewer", s3_server, "reviewer")
    missing = reviewer.run(
        "strata", "models", "get", "model@v0.0.2", "--out", str(tmp_path / "x"), check=False
    )
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "strata models get: error: model@v0.0.2: models/card.json is neither in the local DVC cache nor on "
        "tier 'shared' (s3://strata-shared); it was never published (`strata models register` pushes a "
        "version's files)"
    )
    published.run("git", "tag", "-d", "model@v0.0.2")
    out = published.run("strata", "models", "register").stdout  # CI may write the shared tier
    assert "register: model@v0.0.2" in out and "files pushed" in out

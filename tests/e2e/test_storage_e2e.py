"""Storage tiers end to end: real git, real dvc push/pull, the loopback IAM-enforced S3 server.

A tiny DVC project stands in for the pipeline: stage `land` writes a raw-tier folder, stage `clean` a
shared-tier folder and a model file, both from `version` in params.yaml (bump it to get new bytes).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from strata.config import SourceSpec
from strata.errors import AccessDenied, StorageError
from strata.sources.s3 import S3Source
from strata.storage import commands as storage
from strata.storage import s3server
from strata.storage.roles import Credentials
from tests.e2e.conftest import ROOT, Project

pytestmark = pytest.mark.slow

GEN = """import gzip, pathlib, random, sys
import yaml
version = yaml.safe_load(open("params.yaml"))["version"]
def blob(name, size): return random.Random(f"{name}:{version}").randbytes(size)
if sys.argv[1] == "land":
    out = pathlib.Path("data/landing"); out.mkdir(parents=True, exist_ok=True)
    (out / "a.csv").write_text(f"id,v\\n1,{version}\\n2,x\\n")
    (out / "b.jsonl.gz").write_bytes(gzip.compress(b'{"id": 3}\\n', mtime=0))
    (out / "c.bin").write_bytes(blob("c", 300_000))
else:
    out = pathlib.Path("data/clean"); out.mkdir(parents=True, exist_ok=True)
    (out / "a.csv").write_text(pathlib.Path("data/landing/a.csv").read_text().upper())
    pathlib.Path("data/model.bin").write_bytes(blob("model", 1_200_000))
"""
DVC_YAML = """stages:
  land:
    cmd: python gen.py land
    deps: [gen.py]
    params: [version]
    outs:
      - data/landing:
          remote: raw
  clean:
    cmd: python gen.py clean
    deps: [gen.py, data/landing]
    outs:
      - data/clean:
          remote: shared
      - data/model.bin:
          remote: shared
"""
SHARED = ["data/clean/a.csv", "data/model.bin"]
RAW = ["data/landing/a.csv", "data/landing/b.jsonl.gz", "data/landing/c.bin"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    (path / "params.yaml").write_text("version: 1\n")
    project.run("dvc", "repro", "-q")
    project.commit("tiny project, version 1")
    project.run("git", "tag", "v1")
    return project


def adopt(repo: Path, server, roles: tuple[str, ...]) -> None:  # noqa: ANN001
    """Give a work tree what `strata storage up` writes: the state file and the keys of some roles."""
    (repo / ".strata" / "credentials").mkdir(parents=True, exist_ok=True)
    shutil.copy(server.state_dir / ".strata" / "storage.json", repo / ".strata" / "storage.json")
    for role in roles:
        shutil.copy(storage.credentials_path(server.state_dir, role), storage.credentials_path(repo, role))


def assert_no_secret_tracked(project: Project, creds: dict[str, Credentials]) -> None:
    history = project.run("git", "log", "-p", "--all").stdout
    tracked = "".join(
        (project.path / f).read_text(errors="replace") for f in project.run("git", "ls-files").stdout.split()
    )
    for c in creds.values():
        for secret in (c.access_key_id, c.secret_access_key):
            assert secret not in history and secret not in tracked
    ignored = project.run("git", "status", "--porcelain", "--ignored").stdout
    assert "!! .strata/" in ignored and "!! .dvc/config.local" in ignored


@pytest.fixture(scope="module")
def pushed(s3_server, tmp_path_factory: pytest.TempPathFactory) -> Project:  # noqa: ANN001
    """The engineer's project at tag v1, both tiers pushed."""
    project = make_project(tmp_path_factory.mktemp("tiers") / "engineer")
    adopt(project.path, s3_server, ("engineer", "reviewer"))
    storage.use("engineer", project.path)
    storage.push("all", project.path)
    return project


def reviewer_clone(project: Project, server, dest: Path) -> Project:  # noqa: ANN001
    """A second clone on this machine: joins the server the first one started, with the reviewer's keys."""
    project.run("git", "clone", "-q", str(project.path), str(dest))
    clone = Project(dest)
    clone.run("git", "checkout", "-q", "v1")
    storage.use("reviewer", dest, join=server.state_dir)
    assert [p.name for p in (dest / ".strata" / "credentials").iterdir()] == ["reviewer.env"]
    return clone


def test_engineer_push_reviewer_clone_pulls_shared_byte_identical(
    pushed: Project, s3_server, tmp_path
) -> None:  # noqa: ANN001
    engineer = s3server.client("s3", s3_server.endpoint, s3_server.credentials["engineer"])
    for bucket in ("strata-raw", "strata-shared"):
        assert engineer.list_objects_v2(Bucket=bucket, Prefix="files/md5/")["KeyCount"] >= 2
    clone = reviewer_clone(pushed, s3_server, tmp_path / "reviewer")
    storage.pull("shared", clone.path)
    for rel in SHARED:
        assert sha(clone.path / rel) == sha(pushed.path / rel)
    assert not (clone.path / "data" / "landing").exists()
    with pytest.raises(
        AccessDenied, match=r"^role 'reviewer' may not read tier 'raw' \(s3://strata-raw\): AccessDenied$"
    ):
        storage.pull("raw", clone.path)
    assert not (clone.path / "data" / "landing").exists()
    assert_no_secret_tracked(clone, s3_server.credentials)
    assert_no_secret_tracked(pushed, s3_server.credentials)
    assert f"joined from {s3_server.state_dir}" in clone.run("strata", "storage", "status").stdout
    left = clone.run("strata", "storage", "down").stdout
    assert left == f"storage down: left {s3_server.endpoint}; it keeps running for {s3_server.state_dir}\n"
    assert s3server.is_listening(s3_server.port) and not (clone.path / ".strata" / "storage.json").exists()


def test_reviewer_may_not_push_either_tier(pushed: Project, s3_server, capsys) -> None:  # noqa: ANN001
    (pushed.path / "params.yaml").write_text("version: 2\n")
    pushed.run("dvc", "repro", "-q")
    storage.use("reviewer", pushed.path)
    try:
        for tier in ("raw", "shared"):
            message = rf"^role 'reviewer' may not write tier '{tier}' \(s3://strata-{tier}\): AccessDenied$"
            with pytest.raises(AccessDenied, match=message):
                storage.push(tier, pushed.path)
        with pytest.raises(AccessDenied, match="may not write tier 'raw'"):
            storage.push("all", pushed.path)
    finally:
        storage.use("engineer", pushed.path)
    storage.push("all", pushed.path)  # the same bytes go up once the engineer pushes
    assert "push shared" in capsys.readouterr().out


@pytest.mark.parametrize("key", ["wrong", "missing"])
def test_wrong_or_missing_key_gets_nothing(
    pushed: Project, s3_server, tmp_path, monkeypatch, key: str
) -> None:  # noqa: ANN001
    clone = reviewer_clone(pushed, s3_server, tmp_path / "stranger")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bogus = Credentials("x", "STRATA0STRANGER00000", "wrong") if key == "wrong" else None
    storage.write_config_local(clone.path, ["raw", "shared"], s3_server.endpoint, bogus)
    for tier in ("shared", "raw"):
        with pytest.raises(AccessDenied, match=rf"tier '{tier}' \(s3://strata-{tier}\)"):
            storage.pull(tier, clone.path)
    assert not (clone.path / "data" / "clean").exists() and not (clone.path / "data" / "landing").exists()


def test_endpoint_down_keeps_cache_and_push_succeeds_after_restart(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    roles = project.path / "storage" / "roles.yaml"
    state, _ = storage.start(project.path, roles)
    try:
        storage.use("engineer", project.path)
        storage.push("all", project.path)
        (project.path / "params.yaml").write_text("version: 3\n")
        project.run("dvc", "repro", "-q")
        s3server.stop_server(state.pid)
        with pytest.raises(
            StorageError,
            match=rf"^endpoint {state.endpoint} is unreachable, push of tier 'raw'.*"
            r"the local DVC cache is intact",
        ):
            storage.push("raw", project.path)
        assert "Data and pipelines are up to date" in project.run("dvc", "status").stdout
        state, creds = storage.start(
            project.path, roles, port=state.port
        )  # moto keeps no state: re-bootstrap
        storage.use("engineer", project.path)
        storage.push("all", project.path)
        for remote, target in (("raw", "data/landing"), ("shared", "data/model.bin")):
            assert "in sync" in project.run("dvc", "status", "-c", "-r", remote, target).stdout
        assert_no_secret_tracked(project, creds)
        (project.path / "params.yaml").write_text("version: 4\n")
        project.run("dvc", "repro", "-q")
        shutil.rmtree(project.path / ".dvc" / "cache")  # dvc itself only warns and exits 0 here
        with pytest.raises(
            StorageError, match=r"^push of tier 'raw' \(s3://strata-raw\) is incomplete: \w+\.dir"
        ):
            storage.push("raw", project.path)
    finally:
        s3server.stop_server(state.pid)


def test_s3_source_reads_landed_objects_byte_identically(pushed: Project, s3_server, monkeypatch) -> None:  # noqa: ANN001
    engineer = s3server.client("s3", s3_server.endpoint, s3_server.credentials["engineer"])
    for rel in RAW:
        engineer.upload_file(str(pushed.path / rel), "strata-raw", f"delivered/tiny/{Path(rel).name}")
    for name, value in s3_server.env("engineer").items():
        monkeypatch.setenv(name, value)
    source = S3Source(SourceSpec(name="tiny", kind="s3", url="s3://strata-raw/delivered/tiny", glob="[ab].*"))
    batches = source.list_batches()
    assert [b.name for b in batches] == ["a.csv", "b.jsonl.gz"]
    for batch in batches:
        with source.materialize(batch) as path:
            assert sha(path) == sha(pushed.path / "data" / "landing" / batch.name)


def test_cli_up_use_push_status_down(tmp_path: Path) -> None:
    project = make_project(tmp_path / "cli")
    up = project.run("strata", "storage", "up", "--use", "reviewer")
    assert "14 bootstrap requests" in up.stdout and "role 'reviewer' (shared:read)" in up.stdout
    try:
        assert "role:     reviewer" in project.run("strata", "storage", "status").stdout
        denied = project.run("strata", "storage", "push", "--tier", "raw", check=False)
        assert denied.returncode == 3
        assert denied.stderr == (
            "strata storage push: error: role 'reviewer' may not write tier 'raw' (s3://strata-raw): "
            "AccessDenied\n"
        )
        project.run("strata", "storage", "use", "engineer")
        pushed = project.run("strata", "storage", "push").stdout
        assert "push raw (s3://strata-raw) as role 'engineer': 1 outputs, 4 files pushed" in pushed
    finally:
        project.run("strata", "storage", "down")
    assert "no loopback server" in project.run("strata", "storage", "status").stdout
    assert not list((project.path / ".strata" / "credentials").glob("*.env"))

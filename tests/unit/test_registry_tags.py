"""GTO tags in a tiny git repo: versions, stage holders (latest assignment), promotion with the gate,
force, rollback, and the stage watcher. Card and metrics are committed to git, so no DVC run is needed."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from strata.cli import app
from strata.errors import GateFailed, RegistryError
from strata.registry import lifecycle, tags
from strata.registry.source import Resolved
from strata.registry.spec import parse_ref
from strata.registry.watch import StageWatcher
from tests.helpers.registry_repo import PARAMS, commit_model, git, init

GATE = PARAMS["gate"]["max_drop"]
STAGES = ("staging", "prod")
runner = CliRunner()


@dataclasses.dataclass
class Event:
    event: str
    stage: str
    version: str
    created_at: object = None
    tag: str = ""
    message: str = ""


def test_replay_names_the_version_each_move_replaced() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        Event("assignment", "prod", "v1", at, "m#prod#1"),
        Event("assignment", "prod", "v2", at, "m#prod#2"),
        Event("assignment", "staging", "v2", at, "m#staging#3"),
        Event("assignment", "prod", "v1", at, "m#prod#4"),  # rollback
        Event("unassignment", "prod", "v1", at, "m#prod!#5"),  # v2's assignment is active again
    ]
    moves = [(m.stage, m.previous, m.version) for m in tags.replay(events)]
    assert moves == [
        ("prod", None, "v1"),
        ("prod", "v1", "v2"),
        ("staging", None, "v2"),
        ("prod", "v2", "v1"),
        ("prod", "v1", "v2"),
    ]


def test_next_tag_second_waits_only_while_the_clock_is_in_the_last_tags_second() -> None:
    ticks = iter([100.2, 100.7, 101.0])
    naps: list[float] = []
    tags.next_tag_second(tags.Registry("m", (), (), 100), clock=lambda: next(ticks), sleep=naps.append)
    assert len(naps) == 2
    tags.next_tag_second(tags.Registry("m", (), (), 100), clock=lambda: 101.0, sleep=naps.append)
    assert len(naps) == 2


def test_next_version_follows_gto_bumps() -> None:
    def reg(*versions: str) -> tags.Registry:
        return tags.Registry("m", tuple(tags.Version("m", v, "0" * 40, "", "", "") for v in versions), ())

    assert lifecycle.next_version(reg(), "patch") == "v0.0.1"
    assert lifecycle.next_version(reg("v1.2.3", "v1.0.0"), "patch") == "v1.2.4"
    assert lifecycle.next_version(reg("v1.2.3"), "minor") == "v1.3.0"
    assert lifecycle.next_version(reg("v1.2.3"), "major") == "v2.0.0"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Three registered versions: v0.0.1 (accuracy 0.90), v0.0.2 (0.905), v0.1.0 (0.80, a regression)."""
    root = init(tmp_path_factory.mktemp("registry") / "repo")
    shas = {}
    for version, accuracy, bump in (
        ("v0.0.1", 0.90, "patch"),
        ("v0.0.2", 0.905, "patch"),
        ("v0.1.0", 0.80, "minor"),
    ):
        sha = commit_model(root, version, accuracy)
        registry = tags.load(root, "model")
        made = tags.register(
            root, registry, sha, version=None, bump=bump, message=f"test {version}", push=False
        )
        assert made == version
        shas[version] = sha
    return root, shas


@pytest.fixture
def repo(built, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A private copy of the built repo (tests add tags)."""
    root, shas = built
    shutil.copytree(root, tmp_path / "repo")
    return tmp_path / "repo", shas


def promote(root: Path, ref: str, stage: str = "prod", **kwargs) -> str:
    return lifecycle.promote(root, ref, stage, stages=STAGES, gated=("prod",), max_drop=GATE, **kwargs)


def test_versions_and_resolution(repo) -> None:
    root, shas = repo
    registry = tags.load(root, "model")
    assert [v.version for v in registry.versions] == ["v0.1.0", "v0.0.2", "v0.0.1"]
    assert registry.resolve(parse_ref("model@v0.0.2"))[0].sha == shas["v0.0.2"]
    assert registry.resolve(parse_ref("model"))[0].version == "v0.1.0"
    with pytest.raises(RegistryError, match=r"^no version of model is in stage 'prod'$"):
        registry.resolve(parse_ref("model#prod"))
    with pytest.raises(
        RegistryError, match=r"^model@v9.9.9 is not registered \(versions: v0.1.0, v0.0.2, v0.0.1\)$"
    ):
        registry.resolve(parse_ref("model@v9.9.9"))


def test_promote_gate_force_and_rollback(repo) -> None:
    root, shas = repo
    line = promote(root, "model@v0.0.1")
    assert line == "promote: model@v0.0.1 -> prod (tag model#prod#1); gate: nothing in 'prod' to compare with"
    line = promote(root, "model@v0.0.2", reason="more data")
    assert "replacing model@v0.0.1; gate vs model@v0.0.1 (prod): passed (accuracy, macro_f1)" in line
    with pytest.raises(GateFailed) as refused:
        promote(root, "model@v0.1.0")
    assert str(refused.value) == (
        "model@v0.1.0 -> prod refused, gate vs model@v0.0.2 (prod): accuracy dropped from 0.9050 (base) to "
        "0.8000 (head): drop 0.1050 > max_drop 0.0100; macro_f1 dropped from 0.8050 (base) to 0.7000 (head): "
        "drop 0.1050 > max_drop 0.0200; `--force` overrides (recorded in the tag message)"
    )
    assert tags.load(root, "model").holder("prod").version == "v0.0.2"  # nothing was tagged
    assert "model#prod#3" not in git(root, "tag")
    promote(root, "model@v0.1.0", force=True)
    message = git(root, "tag", "-l", "--format=%(contents)", "model#prod#3")
    assert "FORCED past the gate (--force by" in message and "accuracy dropped from 0.9050" in message
    line = promote(root, "model@v0.0.2")  # rollback: no gate, although v0.0.2 is "better" anyway
    assert line.endswith("rollback: v0.0.2 held 'prod' before, gate not re-run")
    registry = tags.load(root, "model")
    assert registry.holder("prod").sha == shas["v0.0.2"]
    assert [(m.previous, m.version) for m in registry.moves] == [
        (None, "v0.0.1"),
        ("v0.0.1", "v0.0.2"),
        ("v0.0.2", "v0.1.0"),
        ("v0.1.0", "v0.0.2"),
    ]
    assert "reason: more data" in git(root, "tag", "-l", "--format=%(contents)", "model#prod#2")


def test_gto_itself_agrees_on_the_stage_holder(repo) -> None:
    """`gto show model#prod` (GTO's CLI, timestamp order) names the same version after a rollback."""
    import subprocess
    import sys

    root, _ = repo
    promote(root, "model@v0.0.1")
    promote(root, "model@v0.0.2")
    promote(root, "model@v0.0.1")
    gto = Path(sys.executable).with_name("gto")
    out = subprocess.run(
        [gto, "show", "model#prod", "--version"], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["v0.0.1"]


def test_promote_refusals_are_one_line(repo) -> None:
    root, _ = repo
    with pytest.raises(
        RegistryError, match=r"^stage 'qa' is not one of staging, prod \(params.yaml registry.stages\)$"
    ):
        promote(root, "model@v0.0.1", stage="qa")
    promote(root, "model@v0.0.1", stage="staging")
    with pytest.raises(RegistryError, match=r"^model@v0.0.1 is already in stage 'staging'$"):
        promote(root, "model@v0.0.1", stage="staging")
    line = promote(root, "model#staging")  # promote whatever is in staging
    assert line.startswith("promote: model@v0.0.1 -> prod")


def test_cli_promote_exit_codes_and_one_line_errors(repo) -> None:
    root, _ = repo
    args = ["models", "promote", "--repo", str(root), "--stage", "prod"]
    assert runner.invoke(app, [*args, "v0.0.2"]).exit_code == 0  # a bare version: registry.artifact
    result = runner.invoke(app, [*args, "model@v0.1.0"])
    assert result.exit_code == 4
    assert result.output.startswith("strata models promote: error: model@v0.1.0 -> prod refused, gate vs")
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["models", "list", "--repo", str(root), "--json"])
    assert result.exit_code == 0, result.output
    assert "prod since" in runner.invoke(app, ["models", "list", "--repo", str(root)]).output


def test_watcher_reports_moves_and_retries_a_failed_load(repo, tmp_path: Path) -> None:
    root, shas = repo
    promote(root, "model@v0.0.1")
    clone = tmp_path / "deployed"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    start = Resolved("model", "v0.0.1", "prod", shas["v0.0.1"])
    moves, errors = [], []
    broken = {"on": True}

    def on_move(move) -> None:  # noqa: ANN001
        if broken["on"]:
            raise RegistryError("tier unreachable")
        moves.append(move)

    watcher = StageWatcher(clone, "model#prod", 0.01, on_move, errors.append, current=start)
    assert watcher.poll() is None
    promote(root, "model@v0.0.2")  # in the origin: the clone learns of it by fetching tags
    watcher.poll()
    assert [str(e) for e in errors] == ["tier unreachable"] and watcher.current == start
    broken["on"] = False
    watcher.run(max_polls=2)
    assert [(m.old.version, m.new.version) for m in moves] == [("v0.0.1", "v0.0.2")]
    assert watcher.current == Resolved("model", "v0.0.2", "prod", shas["v0.0.2"])


def test_push_sends_the_tag_to_origin_and_a_refusal_is_one_line(repo, tmp_path: Path) -> None:
    root, _ = repo
    work = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(root), str(work))
    git(work, "config", "user.name", "ci")
    git(work, "config", "user.email", "ci@strata.local")
    promote(work, "model@v0.0.1", push=True)
    assert "model#prod#1" in git(root, "tag").split()
    hook = root / ".git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'registry tags are pushed by CI only' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(
        RegistryError, match=r"^tag model#prod#2 was created here but `git push origin model#prod#2` "
    ):
        promote(work, "model@v0.0.2", push=True)


def test_watcher_follows_stages_only() -> None:
    with pytest.raises(
        RegistryError, match=r"^'model@v1.0.0' names a version, not a stage: nothing to follow$"
    ):
        StageWatcher(Path(), "model@v1.0.0", 1, lambda move: None)


def _lock(root: Path, model_md5: str) -> None:
    outs = [
        {"path": "models/model.skops", "md5": model_md5},
        {"path": "models/card.json", "md5": "c" * 32},
        {"path": "eval/metrics.json", "md5": "e" * 32},
    ]
    (root / "dvc.lock").write_text(json.dumps({"schema": "2.0", "stages": {"train": {"outs": outs}}}))


def test_register_refuses_what_would_not_pin_bytes_and_skips_an_unchanged_model(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    commit_model(root, "a", 0.9)
    kwargs = {"bump": "patch", "version": None, "max_drop": GATE, "gate_stage": None, "push": False}
    with pytest.raises(
        RegistryError, match=r"^model@v0.0.1 \(HEAD [0-9a-f]{8}\): dvc.lock at that commit records no "
    ):
        lifecycle.register(root, "model", **kwargs)
    _lock(root, "a" * 32)
    with pytest.raises(RegistryError, match=r"^dvc.yaml or dvc.lock has uncommitted changes: commit them"):
        lifecycle.register(root, "model", **kwargs)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "lock")
    registry = tags.load(root, "model")
    tags.register(
        root,
        registry,
        git(root, "rev-parse", "HEAD"),
        version="v0.0.1",
        bump="patch",
        message="t",
        push=False,
    )
    (root / "README").write_text("docs only\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "docs")
    lines = lifecycle.register(root, "model", **kwargs)
    assert lines == [
        "register: HEAD's models/model.skops (md5 aaaaaaaa) is model@v0.0.1's; nothing new to register"
    ]
    assert git(root, "tag").split() == ["model@v0.0.1"]

"""`strata serve --model model#prod`: a file or a registry reference, the up-front checks of a reference,
and following a stage: a move swaps the model under load, none fails; a failed load keeps the old one."""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import EVENT, serving, train_model
from typer.testing import CliRunner

from strata.cli import app
from strata.errors import ConfigError, RegistryError
from strata.registry import tags
from strata.registry.source import Resolved
from strata.registry.watch import StageMove, StageWatcher
from strata.serving.app import Limits, create_app
from strata.serving.follow import Follower, names_ref
from strata.serving.model import Loaded, ModelHolder
from tests.helpers.registry_repo import commit_model, init

V1 = Resolved("model", "v1.0.0", "prod", "1" * 40)
V2 = Resolved("model", "v1.0.1", "prod", "2" * 40)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    return ModelHolder.prepare(train_model(tmp_path_factory.mktemp("follow"))["model"])


def released(loaded: Loaded, resolved: Resolved, sha256: str) -> Loaded:
    """``loaded`` as if fetched from the registry as ``resolved`` (another sha256: another model)."""
    release = {"ref": "model#prod", "name": resolved.name, "version": resolved.version}
    release |= {"stage": resolved.stage, "commit": resolved.sha}
    return dataclasses.replace(loaded, sha256=sha256, release=release)


class Moves(StageWatcher):
    """A StageWatcher whose polls report queued moves instead of reading git tags."""

    def __init__(self, follower: Follower, current: Resolved, moves: list[StageMove]) -> None:
        super().__init__(Path(), "model#prod", 0.01, follower.on_move, follower.on_error, current=current)
        self.moves = moves

    def check(self) -> StageMove | None:
        return self.moves[0] if self.moves else None


def test_model_is_a_file_or_a_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model@v1.0.0").write_text("a file named like a reference is a file")
    assert names_ref("model#prod") and names_ref("model@v1.0.1") and names_ref("model@latest")
    assert not names_ref("model@v1.0.0") and not names_ref("models/model.skops") and not names_ref("model")
    with pytest.raises(ConfigError) as err:
        names_ref("model@1.0")
    assert str(err.value) == (
        "--model model@1.0: no such file, and 'model@1.0' is not a model reference: use NAME@vX.Y.Z "
        "(a version), NAME#STAGE or NAME@latest"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--model", "model@1.0"],
            "--model model@1.0: no such file, and 'model@1.0' is not a model reference",
        ),
        (
            ["--model", "model#prod", "--workers", "2"],
            "--workers 2: a stage reference (model#prod) is followed",
        ),
        (
            ["--model", "model@v1.0.0", "--card", "c.json"],
            "--card c.json: model@v1.0.0 is a registry reference",
        ),
        (["--model", "model#prod"], "--model model#prod: {root} is not a git repository"),
    ],
)
def test_a_reference_is_checked_up_front_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)  # not a git repository
    result = CliRunner().invoke(app, ["serve", *args, "--port", "0"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"strata serve: error: {message.format(root=tmp_path.resolve())}")
    assert result.output.count("\n") == 1


def test_an_unresolvable_stage_is_one_line_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = init(tmp_path / "repo")
    sha = commit_model(root, "a", 0.9)
    tags.register(
        root, tags.load(root, "model"), sha, version="v1.0.0", bump="patch", message="t", push=False
    )
    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["serve", "--model", "model#prod", "--port", "0"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("strata serve: error: ") and "prod" in result.output
    assert "listening" not in result.output


def test_a_move_swaps_the_model_under_load_and_no_request_fails(
    loaded: Loaded, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = released(loaded, V1, "a" * 64), released(loaded, V2, "b" * 64)
    holder = ModelHolder(first)
    loads: list[Resolved] = []

    def load(root: Path, resolved: Resolved, ref: str) -> tuple[Loaded, None]:
        loads.append(resolved)
        time.sleep(0.05)  # loading takes a while; the old model answers meanwhile
        return second, None

    follower = Follower(Path(), "model#prod", holder, load)
    watcher = Moves(follower, V1, [])
    answers: list[tuple[int, str]] = []
    stop = threading.Event()
    body = json.dumps(EVENT).encode()
    with serving(create_app(holder, Limits())) as srv:

        def send() -> None:
            while not stop.is_set():
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
                conn.request("POST", "/predict", body)
                response = conn.getresponse()
                payload = json.loads(response.read())
                answers.append((response.status, payload.get("model", {}).get("version", "")))
                conn.close()

        clients = [threading.Thread(target=send) for _ in range(3)]
        for client in clients:
            client.start()
        time.sleep(0.2)
        watcher.moves.append(StageMove("model#prod", V1, V2))
        assert watcher.poll() == StageMove("model#prod", V1, V2)
        watcher.moves.clear()
        time.sleep(0.2)
        stop.set()
        for client in clients:
            client.join(30)
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        conn.request("GET", "/health")
        health = json.loads(conn.getresponse().read())["model"]
    assert loads == [V2] and watcher.current == V2 and holder.current is second
    assert {status for status, _ in answers} == {200}
    versions = [version for _, version in answers]
    assert versions[0] == "v1.0.0" and versions[-1] == "v1.0.1" and set(versions) == {"v1.0.0", "v1.0.1"}
    assert {k: health[k] for k in ("ref", "version", "stage", "commit", "sha256")} == {
        "ref": "model#prod", "version": "v1.0.1", "stage": "prod", "commit": "2" * 40, "sha256": "b" * 64,
    }  # fmt: skip
    logs = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"event"' in line]
    assert [(x["event"], x["old"], x["new"]) for x in logs] == [("model swapped", "v1.0.0", "v1.0.1")]


def test_a_failed_load_keeps_the_old_model_and_the_next_poll_retries(
    loaded: Loaded, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = released(loaded, V1, "a" * 64), released(loaded, V2, "b" * 64)
    holder = ModelHolder(first)
    outcomes: list[Any] = [RegistryError("model@v1.0.1: cannot read models/model.skops from tier 'shared'")]

    def load(root: Path, resolved: Resolved, ref: str) -> tuple[Loaded, None]:
        if outcomes:
            raise outcomes.pop()
        return second, None

    follower = Follower(Path(), "model#prod", holder, load)
    watcher = Moves(follower, V1, [StageMove("model#prod", V1, V2)])
    assert watcher.poll() is None  # the move is not taken
    assert holder.current is first and watcher.current == V1
    (line,) = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert (line["level"], line["event"], line["ref"], line["serving"]) == (
        "error", "follow failed", "model#prod", "v1.0.0",
    )  # fmt: skip
    assert line["error"] == "model@v1.0.1: cannot read models/model.skops from tier 'shared'"
    assert watcher.poll() is not None and holder.current is second and watcher.current == V2


def test_an_emptied_stage_keeps_serving_what_it_serves(
    loaded: Loaded, capsys: pytest.CaptureFixture[str]
) -> None:
    first = released(loaded, V1, "a" * 64)
    holder = ModelHolder(first)
    follower = Follower(Path(), "model#prod", holder, lambda *args: pytest.fail("nothing to load"))
    follower.on_move(StageMove("model#prod", V1, None))
    assert holder.current is first
    (line,) = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert (line["level"], line["event"], line["serving"]) == ("warning", "stage emptied", "v1.0.0")


def test_a_file_served_model_names_no_registry_version(loaded: Loaded) -> None:
    summary = loaded.summary()
    assert summary["version"] == loaded.sha256[:12] and loaded.release is None
    assert (summary["ref"], summary["stage"], summary["commit"]) == (None, None, None)


def test_a_version_that_cannot_be_loaded_is_a_registry_error_whatever_the_loader_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """skops may raise anything on a file it cannot read; the follower must get a RegistryError (a failed
    move, logged, the old version serving) rather than an exception that would end its watcher thread."""
    from strata.registry import source
    from strata.serving import follow

    class Fetched:
        model, card_path = tmp_path / "m.skops", tmp_path / "c.json"

        def describe(self) -> dict[str, str]:
            return {"name": "model", "version": "v0.0.2", "stage": "prod", "commit": "0" * 40}

    monkeypatch.setattr(source, "fetch", lambda root, resolved, dest: Fetched())

    def broken(*args: Any) -> Any:
        raise KeyError("__reduce__")  # what an unexpected file inside the zip can give

    monkeypatch.setattr(ModelHolder, "prepare", staticmethod(broken))
    resolved = Resolved("model", "v0.0.2", "prod", "0" * 40)
    with pytest.raises(RegistryError, match=r"^model@v0\.0\.2: cannot load .*m\.skops: '__reduce__'$"):
        follow.load_version(tmp_path, resolved, "model#prod")

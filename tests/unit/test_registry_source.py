"""Fetching a version's model and card at its commit, the sha256 check, and the read errors' wording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strata.errors import AccessDenied, RegistryError
from strata.registry import access, source, tags
from strata.registry.source import Resolved
from tests.helpers.registry_repo import commit_model, git, init

ROLES = """tiers:
  shared: {bucket: strata-shared, remote: shared}
roles:
  engineer: {shared: readwrite}
  reviewer: {shared: read}
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    from dvc.repo import Repo

    root = init(tmp_path_factory.mktemp("source") / "repo")
    Repo.init(str(root)).close()
    (root / "storage").mkdir()
    (root / "storage" / "roles.yaml").write_text(ROLES)
    shas = {
        "good": commit_model(root, "good", 0.9),
        "lying": commit_model(root, "lying", 0.9, card_sha="0" * 64),
    }
    card = json.loads((root / "models" / "card.json").read_text())
    del card["model"]["sha256"]
    (root / "models" / "card.json").write_text(json.dumps(card))
    git(root, "commit", "-qam", "card without sha256")
    shas["silent"] = git(root, "rev-parse", "HEAD")
    tags.register(
        root, tags.load(root, "model"), shas["good"], version="v1.0.0", bump="patch", message="t", push=False
    )
    return root, shas


def test_fetch_writes_model_and_card_per_version_and_checks_sha256(repo, tmp_path: Path) -> None:
    root, shas = repo
    fetched = source.fetch(root, Resolved("model", "v1.0.0", "prod", shas["good"]), tmp_path)
    assert fetched.model == tmp_path / "model@v1.0.0" / "model.skops"
    assert fetched.card_path.read_bytes() == source.git_show(root, shas["good"], "models/card.json")
    assert fetched.describe() == {
        "name": "model",
        "version": "v1.0.0",
        "stage": "prod",
        "commit": shas["good"],
        "sha256": fetched.card["model"]["sha256"],
    }
    again = source.fetch(root, Resolved("model", "v1.0.0", "prod", shas["good"]), tmp_path)
    assert again == fetched


def test_fetch_refuses_a_model_its_card_does_not_describe(repo, tmp_path: Path) -> None:
    root, shas = repo
    with pytest.raises(
        RegistryError,
        match=r"^model@v2.0.0: models/model.skops has sha256 [0-9a-f]{12}, but its "
        r"card models/card.json says 000000000000; refusing a model its card does not describe$",
    ):
        source.fetch(root, Resolved("model", "v2.0.0", None, shas["lying"]), tmp_path)
    assert not (tmp_path / "model@v2.0.0" / "model.skops").exists()
    with pytest.raises(
        RegistryError, match=r"^model@v3.0.0: models/card.json records no model.sha256; cannot verify"
    ):
        source.fetch(root, Resolved("model", "v3.0.0", None, shas["silent"]), tmp_path)


def test_resolve_goes_through_gto(repo) -> None:
    root, shas = repo
    assert source.resolve(root, "model@v1.0.0") == Resolved("model", "v1.0.0", None, shas["good"])


def test_read_errors_name_version_file_tier_and_role(repo, monkeypatch) -> None:
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    root, _ = repo
    monkeypatch.setenv("STRATA_ROLE", "reviewer")

    def message(exc: BaseException) -> tuple[type, str]:
        err = access.read_error(root, exc, "model@v1.0.0", "models/model.skops", "shared")
        return type(err), str(err)

    tier = "tier 'shared' (s3://strata-shared)"
    assert message(PermissionError("Forbidden")) == (
        AccessDenied,
        f"model@v1.0.0: role 'reviewer' may not read models/model.skops from {tier}: Forbidden",
    )
    assert message(NoCredentialsError()) == (
        AccessDenied,
        f"model@v1.0.0: no credentials to read models/model.skops from {tier}: run `strata storage use "
        "ROLE` or set AWS keys",
    )
    kind, text = message(FileNotFoundError("No storage files available"))
    assert kind is access.Unavailable and text == (
        f"model@v1.0.0: models/model.skops is neither in the local DVC cache nor on {tier}; it was never "
        "published (`strata models register` pushes a version's files)"
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    kind, text = message(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    assert kind is access.Unavailable and text.startswith(
        f"model@v1.0.0: {tier} is unreachable at http://127.0.0.1:9"
    )

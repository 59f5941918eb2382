"""Reading a revision through DVC's API (strata.review.revisions.View) and saying why a file is unavailable.

A tiny git + DVC repository in a temp folder: one `dvc add`-ed folder (remote `raw`) and one file (remote
`shared`), tagged v1, then changed on disk. Nothing here needs a network: the unreadable case is a remote
with no credentials, which botocore refuses before any request.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from strata.errors import DataUnavailable, RevisionError
from strata.review import access
from strata.review import revisions as rv

ROOT = Path(__file__).resolve().parents[2]
DVC = [sys.executable, "-m", "dvc"]


def sh(cwd: Path, *cmd: str) -> None:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env={**_env(), **env})


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "DVC_NO_ANALYTICS": "1"}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rev") / "p"
    root.mkdir()
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, *DVC, "init", "-q")
    shutil.copy(ROOT / ".dvc" / "config", root / ".dvc" / "config")  # remotes raw + shared, no endpoint
    (root / "storage").mkdir()
    shutil.copy(ROOT / "storage" / "roles.yaml", root / "storage" / "roles.yaml")
    (root / "data/parts/acme").mkdir(parents=True)
    (root / "data/parts/acme/1.txt").write_bytes(b"one")
    (root / "data/parts/manifest.json").write_bytes(b"{}")
    (root / "model.bin").write_bytes(b"model v1")
    sh(root, *DVC, "add", "-q", "data/parts", "model.bin")
    for dvcfile, remote in (("data/parts.dvc", "raw"), ("model.bin.dvc", "shared")):
        text = (root / dvcfile).read_text().replace("  path:", f"  remote: {remote}\n  path:")
        (root / dvcfile).write_text(text)
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "v1")
    sh(root, "git", "tag", "v1")
    (root / "model.bin").chmod(0o644)
    (root / "model.bin").write_bytes(b"model on disk")
    return root


def test_reads_a_tag_from_the_cache_and_lists_dirs_with_md5s(repo: Path) -> None:
    with rv.view(repo, "v1") as view:
        assert view.read_bytes("model.bin") == b"model v1"
        assert view.md5("model.bin") == md5(b"model v1")
        assert view.files("data/parts") == {
            "data/parts/acme/1.txt": md5(b"one"),
            "data/parts/manifest.json": md5(b"{}"),
        }
        assert view.read_json("data/parts/manifest.json") == {} and view.read_json("nope.json", 7) == 7
        assert view.recorded("data/parts/acme/1.txt") and not view.recorded("storage/roles.yaml")
        assert b"raw" in view.read_bytes("storage/roles.yaml")  # a git-tracked file at the tag
        with pytest.raises(RevisionError, match="^'data/parts/acme/2.txt' does not exist at v1$"):
            view.read_bytes("data/parts/acme/2.txt")


def test_workspace_reads_the_disk_first(repo: Path) -> None:
    with rv.view(repo, "workspace") as view:
        assert view.read_bytes("model.bin") == b"model on disk"
        assert view.md5("model.bin") == md5(b"model on disk")
        assert view.files("data/parts") == dict.fromkeys(
            ["data/parts/acme/1.txt", "data/parts/manifest.json"]
        )


def test_a_fresh_clone_without_credentials_says_which_tier_and_roles(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    sh(tmp_path, "git", "clone", "-q", str(repo), "clone")
    clone = tmp_path / "clone"
    rv.forget_failures()
    with rv.view(clone, "v1") as view:
        with pytest.raises(DataUnavailable) as info:
            view.read_bytes("data/parts/manifest.json")
        assert str(info.value) == (
            "'data/parts/manifest.json' at v1 is not in the local cache and there are no credentials for "
            "remote 'raw': tier 'raw' (remote 'raw', s3://strata-raw; readable by role engineer)"
        )
        with pytest.raises(DataUnavailable, match="tier 'shared' .*readable by roles engineer, ci, reviewer"):
            view.read_bytes("model.bin")
        with pytest.raises(DataUnavailable, match="no credentials for remote 'raw'"):
            view.files("data/parts")  # the remote is remembered as failed: not asked again
    assert not (clone / "model.bin").exists() and not (clone / ".dvc/cache").exists()


@pytest.mark.parametrize(
    ("exc", "text", "sticky"),
    [
        (OSError("Unable to locate credentials"), "there are no credentials for remote 'raw'", True),
        (
            PermissionError("An error occurred (AccessDenied) when calling"),
            "remote 'raw' denied access",
            True,
        ),
        (OSError("InvalidAccessKeyId: nope"), "remote 'raw' rejected the key (InvalidAccessKeyId)", True),
        (
            OSError('Could not connect to the endpoint URL: "http://x"'),
            "the endpoint of remote 'raw' is",
            True,
        ),
        (FileNotFoundError("files/md5/ab/cd"), "the object is not on remote 'raw' (never pushed?)", False),
        (OSError("disk\nfull"), "remote 'raw' failed: disk full", False),
    ],
)
def test_classify(exc: BaseException, text: str, sticky: bool) -> None:
    reason = access.classify(exc, "raw")
    assert reason.text.startswith(text) and reason.sticky is sticky


def test_classify_follows_the_cause_chain() -> None:
    try:
        try:
            raise OSError("Unable to locate credentials")
        except OSError as inner:
            raise RuntimeError("failed to load directory") from inner
    except RuntimeError as outer:
        assert access.classify(outer, None).text == "there are no credentials for the default remote"


def test_describe_without_roles_file_names_the_remote(tmp_path: Path) -> None:
    assert access.describe(tmp_path, "raw", "s3://b") == "remote 'raw', s3://b"


def test_resolve_unknown_revision(tmp_path: Path) -> None:
    with pytest.raises(RevisionError, match="^unknown revision 'nope'$"):
        rv.resolve(tmp_path, "nope")
    assert rv.resolve(tmp_path, "workspace") == rv.Rev(rv.WORKSPACE, None, "now")


def test_an_object_never_pushed_is_unavailable_not_a_crash(repo: Path, tmp_path: Path) -> None:
    sh(tmp_path, "git", "clone", "-q", str(repo), "clone")
    clone = tmp_path / "clone"
    for remote in ("raw", "shared"):
        sh(clone, *DVC, "remote", "modify", "--local", remote, "url", str(tmp_path / "empty"))
    rv.forget_failures()
    with rv.view(clone, "v1") as view:
        with pytest.raises(DataUnavailable) as info:
            view.read_bytes("model.bin")
        assert str(info.value).startswith(
            "'model.bin' at v1 is not in the local cache and the object is not on"
        )
        with pytest.raises(
            DataUnavailable, match=r"^'data/parts' at v1 .*not on remote 'raw' \(never pushed\?\)"
        ):
            view.files("data/parts")
        with (
            pytest.raises(DataUnavailable, match="^'model.bin' at v1 is not in the local cache"),
            view.open("model.bin"),
        ):
            pass

"""Storage tiers: roles.yaml → IAM policies, the bootstrap window, config.local, dvc error translation."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from strata.errors import AccessDenied, ConfigError, StorageError
from strata.storage import commands as storage
from strata.storage import remotes, s3server
from strata.storage.roles import Credentials, Tier, bootstrap_request_count, load_roles, policy_for

ROOT = Path(__file__).resolve().parents[2]
ROLES = load_roles(ROOT / "storage" / "roles.yaml")
RAW, SHARED = ROLES.tiers["raw"], ROLES.tiers["shared"]
ENDPOINT = "http://127.0.0.1:4566"

# stderr of real `dvc push/pull` runs (dvc 3.67.1, dvc-s3 3.3.0, moto 5.2.5), keys shortened
SAMPLES = {
    "head_forbidden": (
        "ERROR: unexpected error - Forbidden: An error occurred (403) when calling the HeadObject operation: "
        "Forbidden\n\nHaving any troubles? Hit us up at https://dvc.org/support, we are always happy to "
        "help!\n"
    ),
    "put_denied": (
        "ERROR: failed to transfer '344fd2323dd33d5c058b7cf27de029e8' - Access Denied: An error occurred "
        "(AccessDenied) when calling the PutObject operation: Access Denied\n"
        "ERROR: failed to push data to the cloud - 3 files failed to upload\n"
    ),
    "pull_forbidden": (
        "ERROR: failed to connect to s3 (strata-raw/files/md5) - Forbidden: An error occurred (403) when "
        "calling the HeadObject operation: Forbidden\n"
        "ERROR: failed to pull data from the cloud - 1 files failed to download\n"
    ),
    "down": (
        'ERROR: unexpected error - Could not connect to the endpoint URL: "http://127.0.0.1:4566/strata-shared/'
        'files/md5/e5/ac3adfa8b3548e82c6724ce1c3e869"\n'
    ),
    "bad_signature": (
        "ERROR: failed to transfer 'e5ac3a' - An error occurred (SignatureDoesNotMatch) when calling the "
        "PutObject operation: The request signature we calculated does not match the signature you "
        "provided.\n"
    ),
    "no_bucket": "ERROR: unexpected error - An error occurred (NoSuchBucket) when calling ListObjectsV2\n",
    "other": "ERROR: failed to push data to the cloud - disk quota exceeded\n",
}


def test_reviewer_policy_is_exact() -> None:
    assert policy_for(ROLES, "reviewer") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListShared",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": ["arn:aws:s3:::strata-shared"],
            },
            {
                "Sid": "ReadShared",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": ["arn:aws:s3:::strata-shared/*"],
            },
        ],
    }


@pytest.mark.parametrize(
    ("role", "sids"),
    [
        ("engineer", ["ListRaw", "ReadRaw", "WriteRaw", "ListShared", "ReadShared", "WriteShared"]),
        ("ci", ["ListShared", "ReadShared", "WriteShared"]),
        ("reviewer", ["ListShared", "ReadShared"]),
    ],
)
def test_policies_scope_list_by_bucket_and_objects_by_object_arn(role: str, sids: list[str]) -> None:
    statements = policy_for(ROLES, role)["Statement"]
    assert [s["Sid"] for s in statements] == sids
    for statement in statements:
        (resource,) = statement["Resource"]
        if "s3:ListBucket" in statement["Action"]:
            assert resource.count("/") == 0 and resource.startswith("arn:aws:s3:::strata-")
        else:
            assert resource.endswith("/*")
    if role != "engineer":
        assert "strata-raw" not in json.dumps(statements)


def test_policies_command_writes_one_file_per_role(tmp_path: Path) -> None:
    storage.policies(out=tmp_path, roles=ROOT / "storage" / "roles.yaml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ci.json", "engineer.json", "reviewer.json"]
    assert json.loads((tmp_path / "ci.json").read_text()) == policy_for(ROLES, "ci")


def test_bootstrap_request_count() -> None:
    assert bootstrap_request_count(ROLES) == 2 + 3 * 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tiers: {raw: {bucket: b}}\nroles: {x: {cold: read}}", "roles.x.cold: unknown tier (tiers: raw)"),
        (
            "tiers: {raw: {bucket: b}}\nroles: {x: {raw: admin}}",
            "roles.x.raw: 'admin' is not one of read, write",
        ),
        ("tiers: {raw: {}}\nroles: {x: {}}", "tiers.raw: needs a 'bucket'"),
        ("tiers: {raw: {bucket: b}}", "at least one role is needed"),
    ],
)
def test_roles_file_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "roles.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_roles(path)


def test_config_local_switches_keys_keeps_other_settings(tmp_path: Path) -> None:
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc" / "config.local").write_text("[cache]\n    dir = /fast/cache\n")
    first = Credentials("engineer", "AKIAENGINEER", "secret-e")
    path = storage.write_config_local(tmp_path, ["raw", "shared"], ENDPOINT, first)
    storage.write_config_local(
        tmp_path, ["raw", "shared"], ENDPOINT, Credentials("reviewer", "AKIAREV", "s-r")
    )
    text = path.read_text()
    assert "dir = /fast/cache" in text
    assert "AKIAENGINEER" not in text and "secret-e" not in text
    assert text.count("access_key_id = AKIAREV") == 2 and text.count(f"endpointurl = {ENDPOINT}") == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert storage.current_key_id(tmp_path, "shared") == "AKIAREV"
    storage.write_config_local(tmp_path, ["raw", "shared"], ENDPOINT, None)
    assert "access_key_id" not in path.read_text()


@pytest.mark.parametrize(
    ("sample", "verb", "tier", "kind", "message"),
    [
        ("head_forbidden", "push", RAW, AccessDenied,
         "role 'reviewer' may not write tier 'raw' (s3://strata-raw): AccessDenied"),
        ("put_denied", "push", SHARED, AccessDenied,
         "role 'reviewer' may not write tier 'shared' (s3://strata-shared): AccessDenied"),
        ("pull_forbidden", "pull", RAW, AccessDenied,
         "role 'reviewer' may not read tier 'raw' (s3://strata-raw): AccessDenied"),
        ("bad_signature", "push", SHARED, AccessDenied,
         f"the key of role 'reviewer' was rejected by {ENDPOINT} for tier 'shared' (s3://strata-shared): "
         "SignatureDoesNotMatch"),
        ("down", "push", SHARED, StorageError,
         f"endpoint {ENDPOINT} is unreachable, push of tier 'shared' (s3://strata-shared) did not "
         "complete; the local DVC cache is intact: start the endpoint (strata storage up --port N, then "
         "storage use ROLE) and retry `strata storage push --tier shared`"),
        ("no_bucket", "pull", SHARED, StorageError,
         f"bucket 'strata-shared' of tier 'shared' (s3://strata-shared) does not exist at {ENDPOINT}"),
        ("other", "push", RAW, StorageError,
         "dvc push -r raw failed (exit 1) for tier 'raw' (s3://strata-raw): ERROR: failed to push data "
         "to the cloud - disk quota exceeded"),
    ],
)  # fmt: skip
def test_translate_dvc_failures(sample: str, verb: str, tier: Tier, kind: type, message: str) -> None:
    error = remotes.translate(
        verb, tier, who="role 'reviewer'", endpoint=ENDPOINT, returncode=1, output=SAMPLES[sample]
    )
    assert type(error) is kind
    assert str(error) == message
    assert "\n" not in str(error)


def _start(count: int, tmp_path: Path) -> tuple[int, str]:
    port = s3server.free_port()
    return s3server.start_server(port, count, tmp_path / "moto.log"), f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("shift", [-1, 1])
def test_bootstrap_window_must_be_exact(tmp_path: Path, shift: int) -> None:
    """One request too few: the last bootstrap call is refused; one too many: a rogue key gets in."""
    pid, endpoint = _start(bootstrap_request_count(ROLES) + shift, tmp_path)
    try:
        with pytest.raises(StorageError, match="bootstrap of" if shift < 0 else "IAM is not enforced"):
            s3server.bootstrap(endpoint, ROLES)
            s3server.verify_enforced(endpoint, "strata-raw")
    finally:
        s3server.stop_server(pid)


def _code(call: object, **kwargs: object) -> str:
    try:
        call(**kwargs)  # type: ignore[operator]
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def test_iam_is_enforced_after_bootstrap(s3_server) -> None:  # noqa: ANN001
    creds = s3_server.credentials
    reviewer = s3server.client("s3", s3_server.endpoint, creds["reviewer"])
    engineer = s3server.client("s3", s3_server.endpoint, creds["engineer"])
    ci = s3server.client("s3", s3_server.endpoint, creds["ci"])
    assert _code(engineer.put_object, Bucket="strata-raw", Key="t/iam.txt", Body=b"x") == "ok"
    assert _code(engineer.put_object, Bucket="strata-shared", Key="t/iam.txt", Body=b"x") == "ok"
    assert _code(reviewer.get_object, Bucket="strata-shared", Key="t/iam.txt") == "ok"
    assert _code(reviewer.put_object, Bucket="strata-shared", Key="t/r.txt", Body=b"x") == "AccessDenied"
    assert _code(reviewer.get_object, Bucket="strata-raw", Key="t/iam.txt") == "AccessDenied"
    assert _code(reviewer.list_objects_v2, Bucket="strata-raw") == "AccessDenied"
    assert _code(ci.put_object, Bucket="strata-shared", Key="t/ci.txt", Body=b"x") == "ok"
    assert _code(ci.get_object, Bucket="strata-raw", Key="t/iam.txt") == "AccessDenied"
    wrong = Credentials("x", creds["engineer"].access_key_id, "wrong-secret")
    assert _code(s3server.client("s3", s3_server.endpoint, wrong).list_objects_v2, Bucket="strata-raw") == (
        "SignatureDoesNotMatch"
    )
    assert _code(s3server.client("s3", s3_server.endpoint).list_objects_v2, Bucket="strata-shared") == (
        "InvalidAccessKeyId"
    )


def test_cli_edge_turns_storage_errors_into_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from strata.cli import app

    result = CliRunner().invoke(app, ["storage", "use", "reviewer", "--repo", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output == (
        f"strata storage use: error: no server is running here ({tmp_path.resolve()}): start one with "
        "`strata storage up`, or join the one another clone on this machine started: "
        "`strata storage use reviewer --join /path/to/that/clone`\n"
    )
    result = CliRunner().invoke(app, ["storage", "policies", "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "reviewer.json").exists()


def test_join_needs_a_running_server_in_the_other_clone(tmp_path: Path) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    with pytest.raises(
        StorageError, match=rf"^--join {theirs}: no server state in {theirs}/.strata/storage.json$"
    ):
        storage.use("reviewer", mine, join=theirs)
    port = s3server.free_port()  # nothing listens there
    storage.State(2**22 + 1, port, f"http://127.0.0.1:{port}", 14, "roles.yaml").save(theirs)
    with pytest.raises(StorageError, match=rf"its server http://127.0.0.1:{port} is not running"):
        storage.use("reviewer", mine, join=theirs)
    assert not (mine / ".strata").exists()


@pytest.mark.parametrize(
    ("out", "dvcfile", "message"),
    [
        ("data/landing/mine", "data/landing/mine.dvc",
         "output 'data/landing/mine' (data/landing/mine.dvc) names no storage tier: track it with "
         "`strata storage add data/landing/mine --tier raw` (or add `remote: raw` to its out in "
         "data/landing/mine.dvc)"),
        ("eval/x", "dvc.yaml", "output 'eval/x' (dvc.yaml) names no storage tier: add `remote: raw|shared` "
         "to it in dvc.yaml"),
    ],
)  # fmt: skip
def test_untiered_output_says_how_to_tier_it(out: str, dvcfile: str, message: str) -> None:
    assert remotes.untiered_message(out, dvcfile) == message

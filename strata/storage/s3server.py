"""The loopback S3 server (moto) that enforces the roles' IAM policies, and its bootstrap.

The server is
started with ``INITIAL_NO_AUTH_ACTION_COUNT`` equal to the exact number of bootstrap requests (one per
bucket, four per role: user, policy, attach, access key), so everything after the bootstrap is signed and
checked against IAM. moto counts one per request it authorizes, success or not, so bootstrap requests
must never be retried: a retry would shift the window.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from strata.errors import StorageError
from strata.storage.roles import Credentials, Roles, policy_for

REGION = "us-east-1"
LOOPBACK = "127.0.0.1"


# ------------------------------------------------------------------------------------------ the server


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_server(port: int, no_auth_count: int, log_path: Path, timeout: float = 20.0) -> int:
    """Start moto_server on loopback, detached from this process; return its pid once it listens."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(no_auth_count))
    argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise StorageError(f"moto_server on port {port} exited at start ({tail[0]}); see {log_path}")
        if is_listening(port):
            return proc.pid
        time.sleep(0.05)
    stop_server(proc.pid)
    raise StorageError(
        f"moto_server did not listen on {LOOPBACK}:{port} within {timeout:.0f}s; see {log_path}"
    )


def is_listening(port: int, host: str = LOOPBACK) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_server(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the server's process group (it was started in its own session), SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our child: reap it
                    return
            except ChildProcessError:  # started by another process (`strata storage up` earlier)
                if not pid_alive(pid):
                    return
            time.sleep(0.05)


# ------------------------------------------------------------------------------------------- bootstrap


def client(service: str, endpoint: str, creds: Credentials | None = None, retries: int = 1) -> Any:
    """A boto3 client for the endpoint; without creds it signs with a dummy key (bootstrap only)."""
    import boto3
    from botocore.config import Config

    key, secret = (creds.access_key_id, creds.secret_access_key) if creds else ("bootstrap", "bootstrap")
    config = Config(retries={"max_attempts": retries, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=config,
    )


def bootstrap(endpoint: str, roles: Roles) -> dict[str, Credentials]:
    """Create buckets, one IAM user + policy + access key per role; exactly bootstrap_request_count calls."""
    from botocore.exceptions import BotoCoreError, ClientError

    s3, iam = client("s3", endpoint), client("iam", endpoint)
    creds: dict[str, Credentials] = {}
    try:
        for tier in roles.tiers.values():
            s3.create_bucket(Bucket=tier.bucket)
        for role in roles.grants:
            user = f"strata-{role}"
            iam.create_user(UserName=user)
            document = json.dumps(policy_for(roles, role))
            arn = iam.create_policy(PolicyName=user, PolicyDocument=document)["Policy"]["Arn"]
            iam.attach_user_policy(UserName=user, PolicyArn=arn)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            creds[role] = Credentials(role, key["AccessKeyId"], key["SecretAccessKey"])
    except (BotoCoreError, ClientError) as exc:
        raise StorageError(f"bootstrap of {endpoint} failed: {exc}") from exc
    return creds


def verify_enforced(endpoint: str, bucket: str) -> None:
    """After the bootstrap a request signed with an unknown key must be refused: the window is closed."""
    from botocore.exceptions import ClientError

    rogue = Credentials("rogue", "STRATA0ROGUE0KEY0000", "not-a-secret")
    try:
        client("s3", endpoint, rogue).list_objects_v2(Bucket=bucket, MaxKeys=1)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "InvalidAccessKeyId":
            return
        raise StorageError(f"{endpoint}: unexpected answer to an unknown key: {exc}") from exc
    raise StorageError(f"{endpoint}: IAM is not enforced (an unknown key could list {bucket})")

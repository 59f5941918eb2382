"""Shared fixtures. `s3_server`: one loopback moto S3 server per session, started and bootstrapped through
the same code path as `strata storage up` (strata.storage.commands.start), IAM-enforced after the
bootstrap."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from strata.storage import commands as storage
from strata.storage import s3server
from strata.storage.roles import Credentials, Roles, load_roles

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class S3Server:
    endpoint: str
    port: int
    pid: int
    state_dir: Path  # holds .strata/ (state, credentials, moto.log) of this server
    roles: Roles
    credentials: dict[str, Credentials]

    def env(self, role: str) -> dict[str, str]:
        """AWS_* variables of one role, for boto3 or a subprocess."""
        creds = self.credentials[role]
        return {
            "AWS_ACCESS_KEY_ID": creds.access_key_id,
            "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": s3server.REGION,
        }


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    home = tmp_path_factory.mktemp("s3server")
    roles_path = ROOT / "storage" / "roles.yaml"
    state, creds = storage.start(home, roles_path)
    try:
        yield S3Server(state.endpoint, state.port, state.pid, home, load_roles(roles_path), creds)
    finally:
        s3server.stop_server(state.pid)

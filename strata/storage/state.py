"""Local storage state of one clone: what `strata storage up` started (or which clone's server it joined),
the role keys, and the current identity in `.dvc/config.local`. Every file here is git-ignored and mode 600.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from strata.errors import StorageError
from strata.storage import s3server
from strata.storage.roles import Credentials

STATE_DIR = ".strata"
STATE_FILE = "storage.json"
CONFIG_LOCAL = Path(".dvc") / "config.local"


@dataclasses.dataclass
class State:
    """What `up` started; `use` records the current role. Stored in .strata/storage.json.

    ``owner``: empty when this clone started the server; else the clone whose server this one joined
    (`strata storage use ROLE --join DIR`), which alone may stop it.
    """

    pid: int
    port: int
    endpoint: str
    bootstrap_requests: int
    roles_file: str
    role: str = ""
    owner: str = ""

    @property
    def running(self) -> bool:
        return s3server.pid_alive(self.pid) and s3server.is_listening(self.port)

    @classmethod
    def load(cls, repo: Path) -> State | None:
        path = repo / STATE_DIR / STATE_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self, repo: Path) -> None:
        _write_private(repo / STATE_DIR / STATE_FILE, json.dumps(dataclasses.asdict(self), indent=2) + "\n")


def _write_private(path: Path, text: str) -> None:
    """Write a file only the owner can read, atomically (keys and endpoints live in these files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def credentials_path(repo: Path, role: str) -> Path:
    return repo / STATE_DIR / "credentials" / f"{role}.env"


def write_credentials(repo: Path, creds: Credentials, endpoint: str) -> Path:
    """KEY=VALUE lines: `set -a; . .strata/credentials/ROLE.env; set +a` exports them for boto3/dvc."""
    path = credentials_path(repo, creds.role)
    lines = [
        f"AWS_ACCESS_KEY_ID={creds.access_key_id}",
        f"AWS_SECRET_ACCESS_KEY={creds.secret_access_key}",
        f"AWS_ENDPOINT_URL={endpoint}",
        f"AWS_DEFAULT_REGION={s3server.REGION}",
    ]
    _write_private(path, "\n".join(lines) + "\n")
    return path


def read_credentials(repo: Path, role: str) -> tuple[Credentials, str]:
    path = credentials_path(repo, role)
    if not path.exists():
        raise StorageError(f"no keys for role '{role}' at {path}: start the server with `strata storage up`")
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    creds = Credentials(role, values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"])
    return creds, values.get("AWS_ENDPOINT_URL", "")


def write_config_local(repo: Path, remotes: list[str], endpoint: str, creds: Credentials | None) -> Path:
    """Point each DVC remote at the endpoint with these keys in .dvc/config.local, keeping other settings."""
    from configobj import ConfigObj

    path = repo / CONFIG_LOCAL
    config = ConfigObj(str(path) if path.exists() else None)
    for remote in remotes:
        section = config.setdefault(f'remote "{remote}"', {})
        section["endpointurl"] = endpoint
        section["region"] = s3server.REGION
        for key in ("access_key_id", "secret_access_key"):
            section.pop(key, None)
        if creds is not None:
            section["access_key_id"] = creds.access_key_id
            section["secret_access_key"] = creds.secret_access_key
    config.filename = None  # write() returns the lines instead of writing in place (non-atomic)
    _write_private(path, "\n".join(config.write()) + "\n")
    return path


def current_key_id(repo: Path, remote: str) -> str:
    from configobj import ConfigObj

    path = repo / CONFIG_LOCAL
    if not path.exists():
        return ""
    return str(ConfigObj(str(path)).get(f'remote "{remote}"', {}).get("access_key_id", ""))


def join(repo: Path, other: Path, role: str) -> State:
    """Use the loopback server another clone on this machine started: copy its state and one role's keys."""
    owner = other.resolve()
    theirs = State.load(owner)
    if theirs is None:
        raise StorageError(f"--join {other}: no server state in {owner / STATE_DIR / STATE_FILE}")
    if theirs.owner:  # that clone joined too: follow it to the one that started the server
        return join(repo, Path(theirs.owner), role)
    if not theirs.running:
        raise StorageError(
            f"--join {other}: its server {theirs.endpoint} is not running (strata storage up there)"
        )
    creds, endpoint = read_credentials(owner, role)
    write_credentials(repo, creds, endpoint or theirs.endpoint)
    mine = dataclasses.replace(theirs, role="", owner=str(owner))
    mine.save(repo)
    return mine

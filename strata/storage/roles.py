"""Storage tiers and roles: `storage/roles.yaml` parsed, and the IAM policy each role gets.

`storage/roles.yaml` is the single source of truth: the same file yields the JSON policies an admin
applies on AWS S3 or MinIO and the users `strata storage up` creates on the loopback server.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from strata.errors import ConfigError

LEVELS = {"read": ("read",), "write": ("write",), "readwrite": ("read", "write")}
READ_BUCKET_ACTIONS = ("s3:ListBucket", "s3:GetBucketLocation")
READ_OBJECT_ACTIONS = ("s3:GetObject",)
WRITE_OBJECT_ACTIONS = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
REQUESTS_PER_ROLE = 4  # CreateUser, CreatePolicy, AttachUserPolicy, CreateAccessKey
DEFAULT_ROLES = Path("storage/roles.yaml")  # relative to the project root


@dataclasses.dataclass(frozen=True)
class Tier:
    name: str
    bucket: str
    remote: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}"


@dataclasses.dataclass(frozen=True)
class Roles:
    """storage/roles.yaml: tiers by name, and per role the access level on each tier it may touch."""

    tiers: dict[str, Tier]
    grants: dict[str, dict[str, str]]

    def role(self, name: str) -> dict[str, str]:
        if name not in self.grants:
            raise ConfigError(f"unknown role '{name}' (roles: {', '.join(self.grants)})")
        return self.grants[name]


@dataclasses.dataclass(frozen=True)
class Credentials:
    role: str
    access_key_id: str
    secret_access_key: str


def load_roles(path: Path) -> Roles:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: roles file not found") from exc
    if not isinstance(data, dict) or not isinstance(data.get("tiers"), dict):
        raise ConfigError(f"{path}: expected a mapping with 'tiers' and 'roles'")
    tiers = {}
    for name, spec in data["tiers"].items():
        if not isinstance(spec, dict) or not spec.get("bucket"):
            raise ConfigError(f"{path}:tiers.{name}: needs a 'bucket'")
        tiers[name] = Tier(name, str(spec["bucket"]), str(spec.get("remote", name)))
    grants: dict[str, dict[str, str]] = {}
    for role, tier_levels in (data.get("roles") or {}).items():
        grants[role] = {}
        for tier, level in (tier_levels or {}).items():
            if tier not in tiers:
                raise ConfigError(f"{path}:roles.{role}.{tier}: unknown tier (tiers: {', '.join(tiers)})")
            if level not in LEVELS:
                raise ConfigError(f"{path}:roles.{role}.{tier}: '{level}' is not one of {', '.join(LEVELS)}")
            grants[role][tier] = level
    if not grants:
        raise ConfigError(f"{path}: at least one role is needed")
    return Roles(tiers, grants)


def policy_for(roles: Roles, role: str) -> dict[str, Any]:
    """The IAM policy of one role: ListBucket on the bucket ARN, object actions on the `bucket/*` ARN."""
    statements: list[dict[str, Any]] = []
    for tier_name, level in roles.role(role).items():
        tier = roles.tiers[tier_name]
        bucket_arn, objects_arn = f"arn:aws:s3:::{tier.bucket}", f"arn:aws:s3:::{tier.bucket}/*"
        sid = tier_name.title().replace("-", "").replace("_", "")
        for mode in LEVELS[level]:
            if mode == "read":
                statements.append(_statement(f"List{sid}", READ_BUCKET_ACTIONS, bucket_arn))
                statements.append(_statement(f"Read{sid}", READ_OBJECT_ACTIONS, objects_arn))
            else:
                statements.append(_statement(f"Write{sid}", WRITE_OBJECT_ACTIONS, objects_arn))
    return {"Version": "2012-10-17", "Statement": statements}


def _statement(sid: str, actions: tuple[str, ...], resource: str) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": [resource]}


def bootstrap_request_count(roles: Roles) -> int:
    """Exactly how many requests `bootstrap` sends: the INITIAL_NO_AUTH_ACTION_COUNT of the server."""
    return len(roles.tiers) + REQUESTS_PER_ROLE * len(roles.grants)

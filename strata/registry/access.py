"""Who is acting and on which tier: roles.yaml tiers by DVC remote, the current role, DVC's read errors.

Every message names the tier (and its bucket) and the role, so "cannot fetch the model" always says which
tier, who tried, and what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

from strata.errors import AccessDenied, ConfigError, RegistryError, StrataError
from strata.storage.roles import Roles, Tier, load_roles

ROLES_FILE = Path("storage/roles.yaml")


class Unavailable(RegistryError):
    """A version's file cannot be read: not in the local cache and not fetchable from its tier."""


def roles(root: Path) -> Roles:
    from strata.storage.commands import State

    state = State.load(root)
    return load_roles(Path(state.roles_file) if state else root / ROLES_FILE)


def tier_of(root: Path, remote: str) -> Tier:
    """The roles.yaml tier whose DVC remote is ``remote``."""
    known = roles(root).tiers
    for tier in known.values():
        if tier.remote == remote:
            return tier
    raise ConfigError(
        f"DVC remote '{remote}' is not a tier in {ROLES_FILE} (tiers: {', '.join(known)}); "
        "declare it there so access to it is governed by a role"
    )


def who(root: Path) -> str:
    """The acting identity for messages: "role 'ci'", "unknown key AKIA...", or the AWS identity."""
    from strata.storage.commands import State, current_role

    if State.load(root) is None:  # no loopback server: CI or a real bucket names its identity itself
        role = os.environ.get("STRATA_ROLE", "")
        return f"role '{role}'" if role else "the current AWS identity"
    parsed = roles(root)
    role = current_role(root, parsed)
    return f"role '{role}'" if role in parsed.grants else (role or "the current AWS identity")


def writers(root: Path, tier: Tier) -> list[str]:
    """Roles that may write ``tier`` (roles.yaml)."""
    return [role for role, grants in roles(root).grants.items() if "write" in grants.get(tier.name, "")]


def endpoint(root: Path, tier: Tier) -> str:
    from configobj import ConfigObj

    path = root / ".dvc" / "config.local"
    section = ConfigObj(str(path)).get(f'remote "{tier.remote}"', {}) if path.exists() else {}
    return str(section.get("endpointurl", "")) or os.environ.get("AWS_ENDPOINT_URL", "") or "AWS S3"


def read_error(root: Path, exc: BaseException, label: str, path: str, remote: str) -> StrataError:
    """The one-line error for a failed DVC read of ``path`` (of version ``label``) from its tier."""
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    tier = tier_of(root, remote) if remote else None
    where = f"tier '{tier.name}' ({tier.url})" if tier else "its DVC remote"
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, NoCredentialsError):
        return AccessDenied(
            f"{label}: no credentials to read {path} from {where}: run `strata storage use ROLE` or set "
            "AWS keys"
        )
    if isinstance(exc, PermissionError) or "AccessDenied" in detail or "Forbidden" in detail:
        return AccessDenied(f"{label}: {who(root)} may not read {path} from {where}: {detail}")
    if isinstance(exc, EndpointConnectionError | ConnectionError):
        endpoint_ = endpoint(root, tier) if tier else "the remote"
        return Unavailable(f"{label}: {where} is unreachable at {endpoint_}: {detail}")
    if isinstance(exc, FileNotFoundError):
        return Unavailable(
            f"{label}: {path} is neither in the local DVC cache nor on {where}; it was never published "
            "(`strata models register` pushes a version's files)"
        )
    return Unavailable(f"{label}: cannot read {path} through DVC from {where}: {detail}")

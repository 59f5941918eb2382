"""Why a DVC-tracked file could not be read, in words a reviewer can act on: which tier, which remote, why,
and which roles may read it.

DVC raises whatever its filesystem raised (botocore, s3fs, its own index errors). Those are turned here into
one reason per remote; the roles come from ``storage/roles.yaml`` of the work tree (the access of today, not
of the revision being read).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from typing import Any

from strata.storage.remotes import DENIED, NO_CREDENTIALS, REJECTED_KEY, UNREACHABLE
from strata.storage.roles import DEFAULT_ROLES, load_roles

NO_REMOTE = re.compile(r"NoRemoteError|no remote specified", re.IGNORECASE)
NOT_FOUND = re.compile(r"FileNotFoundError|NoSuchKey|\(404\)")


@functools.cache
def remote_errors() -> tuple[type[BaseException], ...]:
    """The exceptions DVC lets through when it cannot load or read an object: caught, never broader."""
    from dvc.exceptions import DvcException
    from dvc_data.index import DataIndexError

    found: list[type[BaseException]] = [DvcException, DataIndexError, OSError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # no S3 support installed: no S3 errors either
        return tuple(found)
    return (*found, BotoCoreError, ClientError)


def _chain(exc: BaseException) -> str:
    parts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return " | ".join(parts)


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why a remote could not serve an object. ``sticky``: the remote as a whole is unusable right now."""

    text: str
    sticky: bool


def classify(exc: BaseException, remote: str | None) -> Reason:
    """One short reason from whatever DVC raised."""
    text = _chain(exc)
    name = f"remote '{remote}'" if remote else "the default remote"
    rules = (
        (NO_REMOTE, "no DVC remote is configured for it", True),
        (NO_CREDENTIALS, f"there are no credentials for {name}", True),
        (REJECTED_KEY, f"{name} rejected the key ({{0}})", True),
        (DENIED, f"{name} denied access (AccessDenied)", True),
        (UNREACHABLE, f"the endpoint of {name} is unreachable", True),
        (NOT_FOUND, f"the object is not on {name} (never pushed?)", False),
    )
    for pattern, words, sticky in rules:
        if found := pattern.search(text):
            return Reason(words.format(found[0]), sticky)
    first = " ".join(str(exc).split()) or type(exc).__name__
    return Reason(f"{name} failed: {first}", False)


def readers(root: Path, remote: str | None) -> tuple[str, list[str]]:
    """(tier name, roles that may read it) for a DVC remote, from storage/roles.yaml; ('', []) if unknown."""
    from strata.errors import ConfigError

    path = root / DEFAULT_ROLES
    if remote is None or not path.is_file():
        return "", []
    try:
        roles = load_roles(path)
    except ConfigError:
        return "", []
    for tier in roles.tiers.values():
        if tier.remote == remote:
            who = [r for r, grants in roles.grants.items() if "read" in grants.get(tier.name, "")]
            return tier.name, who
    return "", []


def describe(root: Path, remote: str | None, url: str) -> str:
    """ "tier 'raw' (remote 'raw', s3://strata-raw; readable by role engineer)" or the remote alone."""
    tier, who = readers(root, remote)
    where = f"remote '{remote}'" if remote else "the default remote"
    where += f", {url}" if url else ""
    if not tier:
        return where
    roles = f"role{'s' if len(who) != 1 else ''} {', '.join(who)}" if who else "no role"
    return f"tier '{tier}' ({where}; readable by {roles})"


def remote_url(repo: Any, remote: str | None) -> str:
    """The URL DVC has for a remote (its config at that revision plus the local config), or ''."""
    try:
        section = repo.config["remote"].get(remote or "", {})
    except (KeyError, AttributeError):
        return ""
    return str(section.get("url", "")) if isinstance(section, dict) else ""

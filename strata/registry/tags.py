"""The registry as GTO keeps it in git tags: versions, who holds each stage, and every stage move.

Read once per command into :class:`Registry` (GTO parses all tags); the questions asked of it are pure.
A stage is held by the version whose assignment is the most recent active one, GTO's `--sort timestamp`
(what `gto show model#prod` prints and what `dvc artifacts get --stage` fetches). So a rollback is one more
assignment of the earlier version, and every move stays in the tag history.

GTO orders assignments by their tag's time, which git records in whole seconds: :func:`next_tag_second`
waits, when needed, so two moves of one artifact never share a second and the order is never a tie.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from strata.errors import RegistryError
from strata.registry.spec import Ref


@dataclasses.dataclass(frozen=True)
class Version:
    """A registered version: its tag's name, commit and time, and the stages it holds now."""

    name: str
    version: str
    sha: str
    registered_at: str  # ISO 8601, the registration tag's time
    author: str
    message: str
    stages: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclasses.dataclass(frozen=True)
class Move:
    """One stage change in time order: the version that took the stage and the one it replaced."""

    stage: str
    version: str | None  # None: the stage was emptied (unassigned)
    previous: str | None
    at: str
    tag: str
    message: str


@dataclasses.dataclass(frozen=True)
class Registry:
    """One artifact's versions (highest first) and stage moves (oldest first), as GTO reads the tags."""

    name: str
    versions: tuple[Version, ...]
    moves: tuple[Move, ...]
    last_tag_epoch: int = 0  # the newest registry tag of this artifact, whole seconds

    def find(self, version: str) -> Version:
        for found in self.versions:
            if found.version == version:
                return found
        known = ", ".join(v.version for v in self.versions) or "none"
        raise RegistryError(f"{self.name}@{version} is not registered (versions: {known})")

    def holder(self, stage: str) -> Version | None:
        for found in self.versions:
            if stage in found.stages:
                return found
        return None

    def held_before(self, version: str, stage: str) -> bool:
        return any(m.stage == stage and m.version == version for m in self.moves)

    def resolve(self, ref: Ref) -> tuple[Version, str | None]:
        """The version a reference names and the stage it was named by (None for a version/latest)."""
        if ref.name != self.name:
            raise RegistryError(f"'{ref}' names artifact '{ref.name}', not '{self.name}'")
        if ref.stage:
            found = self.holder(ref.stage)
            if found is None:
                raise RegistryError(f"no version of {self.name} is in stage '{ref.stage}'")
            return found, ref.stage
        if ref.version:
            return self.find(ref.version), None
        if not self.versions:
            raise RegistryError(f"{self.name} has no registered version (strata models register)")
        return self.versions[0], None


# ------------------------------------------------------------------------------------------ reading


def _iso(value: datetime) -> str:
    return value.isoformat()


@contextmanager
def _gto(root: Path, action: str) -> Iterator[None]:
    """GTO's exceptions as one-line RegistryErrors naming what was being done."""
    from gto.exceptions import GTOException

    try:
        yield
    except GTOException as exc:
        raise RegistryError(f"{action}: {' '.join(str(exc.msg).split())}") from None


def load(root: Path, name: str) -> Registry:
    """Read the artifact's tags through GTO (stages by latest assignment, as `gto show` prints them)."""
    from gto.constants import VersionSort
    from gto.registry import GitRegistry

    with _gto(root, f"reading the registry of '{name}'"), GitRegistry.from_url(str(root)) as reg:
        artifacts = reg.get_state().get_artifacts()
        if name not in artifacts:
            return Registry(name, (), ())
        artifact = artifacts[name]
        holders = {
            stage: vstages[0].version
            for stage, vstages in artifact.get_vstages(sort=VersionSort.Timestamp).items()
            if vstages
        }
        versions = tuple(
            Version(
                name=name,
                version=v.version,
                sha=v.commit_hexsha,
                registered_at=_iso(v.created_at),
                author=str(v.author or ""),
                message=str(v.message or ""),
                stages=tuple(sorted(s for s, held in holders.items() if held == v.version)),
            )
            for v in artifact.get_versions(include_non_explicit=False, include_discovered=False)
        )
        events = [e for e in artifact.get_events(ascending=True) if hasattr(e, "tag")]
        moves = replay([e for e in events if getattr(e, "stage", None)])
        last = max((int(e.created_at.timestamp()) for e in events), default=0)
    return Registry(name, versions, moves, last)


def replay(events: list[Any]) -> tuple[Move, ...]:
    """Stage events (GTO Assignment / Unassignment, oldest first) -> moves with the version replaced.

    Mirrors GTO's timestamp order: a stage is held by its most recent assignment that was not undone.
    """
    active: dict[str, dict[str, int]] = {}  # stage -> version -> order of its latest assignment
    moves = []
    for order, event in enumerate(events):
        stage, version = event.stage, event.version
        held = active.setdefault(stage, {})
        before = max(held, key=held.__getitem__) if held else None
        assigned = event.event == "assignment"  # GTO events name their kind: assignment | unassignment
        if assigned:
            held[version] = order
        else:
            held.pop(version, None)
        after = max(held, key=held.__getitem__) if held else None
        if after != before or assigned:
            moves.append(
                Move(stage, after, before, _iso(event.created_at), event.tag, str(event.message or ""))
            )
    return tuple(moves)


# ------------------------------------------------------------------------------------------ writing


def next_tag_second(registry: Registry, clock: Any = time.time, sleep: Any = time.sleep) -> None:
    """Wait until the wall clock is past the second of the artifact's newest tag (at most about 1 s)."""
    while int(clock()) <= registry.last_tag_epoch:
        sleep(0.05)


def register(
    root: Path, registry: Registry, sha: str, *, version: str | None, bump: str, message: str, push: bool
) -> str:
    """Create the registration tag (GTO picks the next version by its bump logic); return the version."""
    import gto.api

    next_tag_second(registry)
    with _gto(root, f"registering {registry.name} at {sha[:8]}"):
        event = gto.api.register(
            str(root),
            registry.name,
            sha,
            version=version,
            message=message,
            bump_major=version is None and bump == "major" and bool(registry.versions),
            bump_minor=version is None and bump == "minor" and bool(registry.versions),
            bump_patch=version is None and bump == "patch" and bool(registry.versions),
        )
    if push:
        push_tag(root, str(event.tag))
    return str(event.version)


def assign(root: Path, registry: Registry, version: str, stage: str, *, message: str, push: bool) -> str:
    """Create the stage tag `name#stage#N` for a registered version; return the tag's name."""
    import gto.api

    next_tag_second(registry)
    with _gto(root, f"promoting {registry.name}@{version} to '{stage}'"):
        # force: GTO refuses a version that held the stage before (a rollback) without it; whether the
        # move is allowed was decided by the caller (the version now in the stage is never re-assigned)
        event = gto.api.assign(str(root), registry.name, stage, version=version, message=message, force=True)
    if push:
        push_tag(root, str(event.tag))
    return str(event.tag)


def push_tag(root: Path, tag: str, remote: str = "origin") -> None:
    """`git push origin refs/tags/TAG` with git itself (CI's checkout credentials are git's)."""
    import subprocess

    proc = subprocess.run(
        ["git", "-C", str(root), "push", "--quiet", remote, f"refs/tags/{tag}:refs/tags/{tag}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        detail = " ".join((proc.stderr.strip().splitlines() or ["failed"])[-1].split())
        raise RegistryError(
            f"tag {tag} was created here but `git push {remote} {tag}` failed ({detail}); push it once the "
            "remote accepts it (only CI may push registry tags)"
        )

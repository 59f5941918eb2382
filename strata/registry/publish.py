"""Put a version's files on the tier their outputs name before the version is tagged.

A tag pointing at bytes nobody can fetch is a trap, so `register` pushes the model, its card and its
metrics first (`dvc push -r <tier> <those outputs>`). DVC uploads only what the remote lacks: files already
published need no write access; files that must be uploaded need a role that may write the tier, and the
refusal says which roles may.
"""

from __future__ import annotations

from pathlib import Path

from strata.errors import AccessDenied, StorageError
from strata.registry import access
from strata.registry.spec import ArtifactSpec


def publish(root: Path, spec: ArtifactSpec, label: str) -> list[str]:
    """Push the artifact's files (model, card, metrics) to their tiers; one summary line per tier."""
    from strata.storage import remotes

    by_remote: dict[str, list[str]] = {}
    for path in spec.files:
        by_remote.setdefault(spec.remote_of(path), []).append(path)
    lines = []
    for remote, files in sorted(by_remote.items()):
        tier = access.tier_of(root, remote)
        try:
            lines.append(
                remotes.transfer(
                    "push",
                    root,
                    tier,
                    who=access.who(root),
                    endpoint=access.endpoint(root, tier),
                    targets=files,
                )
            )
        except AccessDenied as exc:
            allowed = ", ".join(access.writers(root, tier)) or "none"
            raise AccessDenied(
                f"cannot publish {label}: {exc}; roles that may write tier '{tier.name}': {allowed}"
            ) from None
        except StorageError as exc:
            raise StorageError(f"cannot publish {label}: {exc}") from None
    return lines

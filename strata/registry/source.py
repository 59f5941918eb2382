"""A registered version's files, read through DVC at its commit: what a server, `list` and `show` use.

:func:`resolve` turns ``model#prod`` / ``model@v1.3.0`` into a commit through GTO. :class:`RevReader` reads
any file at that commit with ``DVCFileSystem(rev=...)``: git-tracked files from git, DVC outputs from the
local cache or, on a miss, from the tier their output names (with the credentials of the role in
``.dvc/config.local`` or the AWS environment). :func:`fetch` writes the model and its card into a folder
per version and checks the model's sha256 against the card before anyone may load it.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from strata.atomic import atomic_path, sha256_file
from strata.errors import RegistryError
from strata.registry import tags
from strata.registry.access import read_error
from strata.registry.spec import PROJECT_FILE, ArtifactSpec, artifact_spec, parse_ref


@dataclasses.dataclass(frozen=True)
class Resolved:
    """What a reference points at now: the version, the stage it was named by, and its commit."""

    name: str
    version: str
    stage: str | None
    sha: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclasses.dataclass(frozen=True)
class Fetched:
    """A version's model and card on local disk, the model's sha256 checked against the card."""

    resolved: Resolved
    model: Path
    card_path: Path
    card: dict[str, Any]
    sha256: str

    def describe(self) -> dict[str, Any]:
        """For /health: which version, from which stage and commit, and the model's sha256."""
        r = self.resolved
        return {
            "name": r.name,
            "version": r.version,
            "stage": r.stage,
            "commit": r.sha,
            "sha256": self.sha256,
        }


def resolve(root: Path, text: str) -> Resolved:
    """``model#prod`` -> the version now in prod; ``model@v1.3.0`` -> that version; through GTO's tags."""
    ref = parse_ref(text)
    version, stage = tags.load(root, ref.name).resolve(ref)
    return Resolved(ref.name, version.version, stage, version.sha)


def git_show(root: Path, sha: str, path: str) -> bytes | None:
    proc = subprocess.run(["git", "-C", str(root), "show", f"{sha}:{path}"], capture_output=True, check=False)
    return proc.stdout if proc.returncode == 0 else None


def spec_at(root: Path, sha: str, name: str, label: str) -> ArtifactSpec:
    """The artifact's `artifacts:` entry in dvc.yaml as committed at ``sha``."""
    import yaml

    raw = git_show(root, sha, PROJECT_FILE)
    if raw is None:
        raise RegistryError(f"{label}: no {PROJECT_FILE} at commit {sha[:8]}")
    return artifact_spec(yaml.safe_load(raw) or {}, name, f"{PROJECT_FILE}@{label}")


class RevReader:
    """Files at one commit through DVC; errors name the version, file, tier and role. Use as a context."""

    def __init__(self, root: Path, sha: str, label: str, remote_config: dict[str, Any] | None = None):
        self.root, self.sha, self.label = root, sha, label
        self._remote_config = remote_config
        self._fs: Any = None

    def __enter__(self) -> RevReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fs is not None:
            self._fs.close()

    @property
    def fs(self) -> Any:
        if self._fs is None:
            from dvc.fs import DVCFileSystem

            self._fs = DVCFileSystem(repo=str(self.root), rev=self.sha, remote_config=self._remote_config)
        return self._fs

    def read(self, path: str, spec: ArtifactSpec | None = None) -> bytes:
        data = git_show(self.root, self.sha, path)
        if data is not None:
            return data
        with self._translated(path, spec):
            return bytes(self.fs.read_bytes(path))

    def read_json(self, path: str, spec: ArtifactSpec | None = None) -> Any:
        return parse_json(self.read(path, spec), self.label, path)

    def get(self, path: str, dest: Path, spec: ArtifactSpec | None = None) -> None:
        """Download ``path`` to ``dest`` atomically."""
        with atomic_path(dest) as tmp, self._translated(path, spec):
            self.fs.get_file(path, str(tmp))

    def _translated(self, path: str, spec: ArtifactSpec | None) -> Any:
        return translated(self.root, self.label, path, spec.remote_of(path) if spec else "")


@contextmanager
def translated(root: Path, label: str, path: str, remote: str) -> Iterator[None]:
    """DVC/S3 read failures -> one-line domain errors naming version, file, tier and role."""
    from botocore.exceptions import BotoCoreError, ClientError
    from dvc.exceptions import DvcException

    try:
        yield
    except (OSError, BotoCoreError, ClientError, DvcException) as exc:
        raise read_error(root, exc, label, path, remote) from None


def fetch(root: Path, resolved: Resolved, dest: Path, remote_config: dict[str, Any] | None = None) -> Fetched:
    """Model + card of a version into ``dest/<name>@<version>/``; refuse a model the card does not describe.

    A folder already holding that version's verified files is reused (a restarted server fetches nothing).
    """
    label = resolved.ref
    folder = dest / label.replace("/", "_")
    spec = spec_at(root, resolved.sha, resolved.name, label)
    model = folder / PurePosixPath(spec.path).name
    card_path = folder / PurePosixPath(spec.card).name
    with RevReader(root, resolved.sha, label, remote_config) as reader:
        card_bytes = reader.read(spec.card, spec)
        card = parse_json(card_bytes, label, spec.card)
        expected = _card_sha256(card, label, spec.card)
        if not (model.is_file() and sha256_file(model) == expected):
            reader.get(spec.path, model, spec)
    digest = sha256_file(model)
    if digest != expected:
        model.unlink()
        raise RegistryError(
            f"{label}: {spec.path} has sha256 {digest[:12]}, but its card {spec.card} says {expected[:12]}; "
            "refusing a model its card does not describe"
        )
    with atomic_path(card_path) as tmp:
        tmp.write_bytes(card_bytes)
    return Fetched(resolved, model, card_path, card, digest)


def parse_json(data: bytes, label: str, path: str) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{label}: {path} is not valid JSON ({exc})") from None


def _card_sha256(card: Any, label: str, path: str) -> str:
    value = card.get("model", {}).get("sha256") if isinstance(card, dict) else None
    if not isinstance(value, str) or len(value) != 64:
        raise RegistryError(f"{label}: {path} records no model.sha256; cannot verify the model file")
    return value

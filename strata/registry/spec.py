"""What a registry reference names and where the artifact's files are, read from dvc.yaml.

A reference is GTO's shortcut syntax: ``model@v1.3.0`` (a version), ``model#prod`` (whatever is in a stage),
``model@latest`` or plain ``model`` (the highest registered version). The files come from the `artifacts:`
entry of dvc.yaml *at the version's commit*: ``path`` is the model, ``meta.card`` and ``meta.metrics`` name
its card and metrics; the tier of each file is the `remote:` its output names in that dvc.yaml.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from strata.config import GTO_NAME as NAME
from strata.errors import RegistryError

PROJECT_FILE = "dvc.yaml"
# GTO's own grammar (gto.constants.name / semver), repeated so parsing a reference does not import gto
# (about a second); tests/unit/test_registry_spec.py checks it agrees with gto.constants.shortcut_re.
SEMVER = r"v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?"
REF = re.compile(rf"^(?P<name>{NAME})(?:#(?P<stage>{NAME})|@(?P<version>latest|greatest|{SEMVER}))?$")


@dataclasses.dataclass(frozen=True)
class Ref:
    """A parsed reference: exactly one of version/stage, or neither for the latest version."""

    name: str
    version: str | None = None
    stage: str | None = None

    def __str__(self) -> str:
        if self.stage:
            return f"{self.name}#{self.stage}"
        return f"{self.name}@{self.version or 'latest'}"


def parse_ref(text: str) -> Ref:
    """``model@v1.3.0`` / ``model#prod`` / ``model@latest`` / ``model`` -> Ref; anything else is an error."""
    match = REF.match(text.strip())
    if not match:
        raise RegistryError(
            f"'{text}' is not a model reference: use NAME@vX.Y.Z (a version), NAME#STAGE or NAME@latest"
        )
    version = match["version"]
    return Ref(match["name"], None if version in (None, "latest", "greatest") else version, match["stage"])


def is_ref(text: str) -> bool:
    """True when ``text`` reads as a registry reference with a version or stage (not a file path)."""
    match = REF.match(text.strip())
    return bool(match and (match["version"] or match["stage"]))


@dataclasses.dataclass(frozen=True)
class ArtifactSpec:
    """One `artifacts:` entry of dvc.yaml: the model file, its card and metrics, and the tier of each."""

    name: str
    path: str
    card: str
    metrics: str
    type: str = ""
    desc: str = ""
    labels: tuple[str, ...] = ()
    remotes: tuple[tuple[str, str], ...] = ()  # (file, DVC remote its output names)

    @property
    def files(self) -> tuple[str, ...]:
        return (self.path, self.card, self.metrics)

    def remote_of(self, path: str) -> str:
        return dict(self.remotes).get(path, "")


def artifact_spec(dvc_yaml: dict[str, Any], name: str, where: str = PROJECT_FILE) -> ArtifactSpec:
    """The `artifacts.<name>` entry of a parsed dvc.yaml, checked: path, meta.card, meta.metrics, tiers."""
    entries = dvc_yaml.get("artifacts") or {}
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise RegistryError(f"{where}: no artifact '{name}' under `artifacts:` (declared: {known})")
    entry = entries[name] or {}
    meta = entry.get("meta") or {}
    raw = {"path": entry.get("path"), "meta.card": meta.get("card"), "meta.metrics": meta.get("metrics")}
    for key, value in raw.items():
        if not isinstance(value, str) or not value:
            raise RegistryError(f"{where}: artifacts.{name}.{key} must name a file")
    files: dict[str, str] = {key: str(value) for key, value in raw.items()}
    remotes = output_remotes(dvc_yaml)
    for key, value in files.items():
        if value not in remotes:
            raise RegistryError(
                f"{where}: artifacts.{name}.{key} '{value}' is not an output of any stage (a registered "
                "version's files must be DVC outputs on a storage tier)"
            )
        if not remotes[value]:
            raise RegistryError(f"{where}: output '{value}' of artifact '{name}' names no `remote:` tier")
    return ArtifactSpec(
        name=name,
        path=files["path"],
        card=files["meta.card"],
        metrics=files["meta.metrics"],
        type=str(entry.get("type") or ""),
        desc=str(entry.get("desc") or ""),
        labels=tuple(str(label) for label in entry.get("labels") or ()),
        remotes=tuple((path, remotes[path]) for path in files.values()),
    )


def output_remotes(dvc_yaml: dict[str, Any]) -> dict[str, str]:
    """Every stage output (outs, metrics, plots) -> the `remote:` it names ('' when none)."""
    found: dict[str, str] = {}
    for stage in (dvc_yaml.get("stages") or {}).values():
        for kind in ("outs", "metrics", "plots"):
            for item in (stage or {}).get(kind) or []:
                if isinstance(item, str):
                    found[item] = ""
                elif isinstance(item, dict):
                    for path, options in item.items():
                        found[str(path)] = str((options or {}).get("remote") or "")
    return found

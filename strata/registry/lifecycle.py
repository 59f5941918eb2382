"""Register and promote: what GTO lacks around its tags (publishing, the gate, a recorded reason).

- register: the current commit (HEAD) becomes the next version (GTO's semver bump). Its dvc.lock must
  record the artifact's files, the card must describe the model (sha256), and the files are pushed to their
  tier before the tag exists. With ``gate_stage`` the gate runs first against the version in that stage.
- promote: a gated stage (``registry.gated_stages``) runs `strata report`'s gate (``gate.max_drop``,
  higher is better) of the candidate against the version now in the stage and refuses a regression.
  ``force`` overrides and says so in the tag message. A rollback, promoting a version that held the
  stage before, is not re-gated: it was accepted there once, and a rollback must not be blocked by the
  very metrics that looked better on the version being rolled back.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

from strata.errors import GateFailed, RegistryError, StrataError
from strata.registry import tags
from strata.registry.access import who
from strata.registry.source import RevReader, spec_at
from strata.registry.spec import parse_ref

LOCK = "dvc.lock"


@dataclasses.dataclass(frozen=True)
class GateCheck:
    """The gate's verdict for a candidate against the version in a stage (None: nothing there)."""

    against: str | None
    failures: tuple[str, ...] = ()
    checked: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self, stage: str) -> str:
        if self.against is None:
            return f"gate: nothing in '{stage}' to compare with"
        if self.ok:
            checked = ", ".join(self.checked) or "no metrics gated"
            return f"gate vs {self.against} ({stage}): passed ({checked})"
        return f"gate vs {self.against} ({stage}): " + "; ".join(self.failures)


def metrics_at(root: Path, name: str, sha: str, label: str) -> dict[str, Any]:
    """The artifact's metrics file (dvc.yaml meta.metrics at that commit), flattened to dotted keys."""
    from strata.review.snapshots import flatten

    spec = spec_at(root, sha, name, label)
    with RevReader(root, sha, label) as reader:
        data = reader.read_json(spec.metrics, spec)
    if not isinstance(data, dict):
        raise RegistryError(f"{label}: {spec.metrics} is not a JSON object")
    return flatten(data)


def gate(
    root: Path, max_drop: dict[str, float], base: tags.Version | None, head: dict[str, Any]
) -> GateCheck:
    """`strata report`'s gate (check_gate) of ``head`` metrics against the version ``base``."""
    from strata.review.report import check_gate

    if base is None:
        return GateCheck(None)
    results = check_gate(max_drop, metrics_at(root, base.name, base.sha, base.ref), head)
    return GateCheck(
        base.ref, tuple(r.message() for r in results if not r.ok), tuple(r.metric for r in results)
    )


# ------------------------------------------------------------------------------------------ register


def head_commit(root: Path) -> str:
    """HEAD's commit, refusing a work tree whose dvc.yaml/dvc.lock differ from it (not what is tagged)."""
    proc = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--", "dvc.yaml", LOCK],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RegistryError(f"{root}: not a git work tree ({proc.stderr.strip()})")
    if proc.stdout.strip():
        raise RegistryError(
            "dvc.yaml or dvc.lock has uncommitted changes: commit them, then register (a version is a commit)"
        )
    out = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RegistryError(f"{root}: no commit to register")
    return out.stdout.strip()


def next_version(registry: tags.Registry, bump: str) -> str:
    """GTO's choice: its minimal version first, then the highest registered version bumped."""
    from gto.versions import SemVer

    if not registry.versions:
        return str(SemVer.get_minimal().version)
    flags = {"bump_major": bump == "major", "bump_minor": bump == "minor", "bump_patch": bump == "patch"}
    return str(SemVer(registry.versions[0].version).bump(**flags).version)


def check_card(root: Path, name: str, sha: str, label: str) -> str:
    """The model file's sha256 at ``sha`` must equal the card's; returns it."""
    from strata.atomic import sha256_bytes

    spec = spec_at(root, sha, name, label)
    with RevReader(root, sha, label) as reader:
        card = reader.read_json(spec.card, spec)
        digest = sha256_bytes(reader.read(spec.path, spec))
    expected = card.get("model", {}).get("sha256") if isinstance(card, dict) else None
    if digest != expected:
        raise RegistryError(
            f"{label}: {spec.card} does not describe {spec.path} (sha256 {str(expected)[:12]} in the card, "
            f"{digest[:12]} in the file)"
        )
    return digest


def register(
    root: Path,
    name: str,
    *,
    bump: str,
    version: str | None,
    max_drop: dict[str, float],
    gate_stage: str | None,
    push: bool,
) -> list[str]:
    """Make HEAD the next version of ``name``; returns the lines to print (publish, gate, tag)."""
    from strata.registry.publish import publish

    sha = head_commit(root)
    registry = tags.load(root, name)
    for found in registry.versions:
        if found.sha == sha:
            raise RegistryError(f"HEAD ({sha[:8]}) is already registered as {found.ref}")
    if version is not None:
        parse_ref(f"{name}@{version}")  # GTO's semver grammar, checked before anything is pushed
    chosen = version or next_version(registry, bump)
    label = f"{name}@{chosen} (HEAD {sha[:8]})"
    spec = spec_at(root, sha, name, label)
    md5 = check_lock(root, sha, spec.files, label)[spec.path]
    for found in registry.versions:  # a merge that did not change the model is not a new version
        if lock_md5s(root, found.sha).get(spec.path) == md5:
            return [f"register: HEAD's {spec.path} (md5 {md5[:8]}) is {found.ref}'s; nothing new to register"]
    check_card(root, name, sha, label)
    gate_line = []
    if gate_stage is not None:
        check = gate(root, max_drop, registry.holder(gate_stage), metrics_at(root, name, sha, label))
        if not check.ok:
            raise GateFailed(f"not registering {label}: {check.summary(gate_stage)}")
        gate_line.append(check.summary(gate_stage))
    lines = publish(root, spec, label)
    notes = [*gate_line, f"files published to their tiers by {who(root)}"]
    message = f"Registering artifact {name} version {chosen}; " + "; ".join(notes)
    made = tags.register(root, registry, sha, version=chosen, bump=bump, message=message, push=push)
    return [*lines, *gate_line, f"register: {name}@{made} at {sha[:8]} (tag {name}@{made})"]


def lock_md5s(root: Path, sha: str) -> dict[str, str]:
    """{out path: md5} of every output dvc.lock records at ``sha``."""
    import yaml

    from strata.registry.source import git_show

    lock = yaml.safe_load(git_show(root, sha, LOCK) or b"") or {}
    return {
        str(out["path"]): str(out["md5"])
        for stage in (lock.get("stages") or {}).values()
        for out in (stage.get("outs") or [])
        if out.get("md5")
    }


def check_lock(root: Path, sha: str, files: tuple[str, ...], label: str) -> dict[str, str]:
    """dvc.lock at ``sha`` must record every file of the version (else nothing pins its bytes)."""
    recorded = lock_md5s(root, sha)
    missing = [path for path in files if path not in recorded]
    if missing:
        raise RegistryError(
            f"{label}: {LOCK} at that commit records no {missing[0]}: run `dvc repro`, commit {LOCK}, "
            "then register"
        )
    return recorded


# ------------------------------------------------------------------------------------------- promote


def promote(
    root: Path,
    ref_text: str,
    stage: str,
    *,
    stages: tuple[str, ...],
    gated: tuple[str, ...],
    max_drop: dict[str, float],
    force: bool = False,
    reason: str = "",
    push: bool = False,
) -> str:
    """Assign ``stage`` to the version ``ref_text`` names, gated as described above; one summary line."""
    if stage not in stages:
        known = ", ".join(stages)
        raise RegistryError(f"stage '{stage}' is not one of {known} (params.yaml registry.stages)")
    ref = parse_ref(ref_text)
    registry = tags.load(root, ref.name)
    candidate, _ = registry.resolve(ref)
    current = registry.holder(stage)
    if current is not None and current.version == candidate.version:
        raise RegistryError(f"{candidate.ref} is already in stage '{stage}'")
    note = _gate_note(
        root, registry, candidate, current, stage=stage, gated=gated, max_drop=max_drop, force=force
    )
    parts = [note] + ([f"reason: {reason}"] if reason else [])
    message = (
        f"Assigning stage {stage} to artifact {ref.name} version {candidate.version}; {'; '.join(parts)}"
    )
    tag = tags.assign(root, registry, candidate.version, stage, message=message, push=push)
    replaced = f", replacing {current.ref}" if current else ""
    return f"promote: {candidate.ref} -> {stage} (tag {tag}){replaced}; {note}"


def _gate_note(
    root: Path,
    registry: tags.Registry,
    candidate: tags.Version,
    current: tags.Version | None,
    *,
    stage: str,
    gated: tuple[str, ...],
    max_drop: dict[str, float],
    force: bool,
) -> str:
    """What the gate decided, for the tag message; raises GateFailed on a regression without ``force``."""
    forced = f"--force by {who(root)}"
    if stage not in gated:
        return f"stage '{stage}' is not gated" + (f" ({forced}: nothing to override)" if force else "")
    if registry.held_before(candidate.version, stage):
        return f"rollback: {candidate.version} held '{stage}' before, gate not re-run"
    try:
        head = metrics_at(root, candidate.name, candidate.sha, candidate.ref)
        check = gate(root, max_drop, current, head)
    except StrataError as exc:  # metrics unreadable (tier, role) or not JSON: said, never read as zeros
        if not force:
            raise RegistryError(
                f"cannot run the gate for {candidate.ref} -> {stage}: {exc}; `--force` promotes without it"
            ) from None
        return f"FORCED without the gate ({forced}): {exc}"
    if check.ok:
        return check.summary(stage) + (f" ({forced}: nothing to override)" if force else "")
    if not force:
        raise GateFailed(
            f"{candidate.ref} -> {stage} refused, {check.summary(stage)}; `--force` overrides (recorded in "
            "the tag message)"
        )
    return f"FORCED past the gate ({forced}): {check.summary(stage)}"

"""Which output is which, as dvc.yaml says at a revision: partitions, clean data, quarantine, split summary,
model, card, metrics, plots. Nothing here names a path; rename an output in dvc.yaml and the tools follow.

Each stage's command passes its outputs as options (`strata ingest --out data/partitions`), so the option an
out is given to says what it is. `artifacts:` (a `type: model` artifact) names the model first, `metrics:` the
metrics files and `plots:` (top-level definitions and plot outs) the images. Only values that are outputs of
that same stage count: a dep passed as `--model` to evaluate is not the model.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from strata.datums import MANIFEST

# verb -> {option -> role}: the stage CLIs' options (stages/<verb>.py) for the paths they write
ROLES: dict[str, dict[str, str]] = {
    "ingest": {"--out": "partitions"},
    "validate": {"--clean": "clean", "--quarantine": "quarantine"},
    "split": {"--summary": "summary", "--train": "train", "--test": "test"},
    "train": {"--model": "model", "--card": "card"},
    "evaluate": {"--metrics": "metrics", "--plots": "plots"},
}
IMAGES = (".png", ".jpg", ".jpeg", ".svg", ".gif")


@dataclasses.dataclass(frozen=True)
class StageOuts:
    """What layout needs of one stage: its name, command and outputs (project-relative paths)."""

    name: str
    cmd: str
    outs: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Layout:
    """The project's outputs by role at one revision; None/empty when that revision does not have one."""

    stages: tuple[str, ...] = ()
    roles: dict[str, str] = dataclasses.field(default_factory=dict)  # role -> path
    metrics: tuple[str, ...] = ()  # declared metrics files, the main one (evaluate's) first
    plots: tuple[str, ...] = ()  # declared image plots, files or folders
    tiers: dict[str, str | None] = dataclasses.field(default_factory=dict)  # out -> DVC remote

    @property
    def has_pipeline(self) -> bool:
        return bool(self.stages)

    def path(self, role: str) -> str | None:
        return self.roles.get(role)

    def manifest(self, role: str) -> str | None:
        """The datum manifest inside a per-datum output folder (partitions, clean)."""
        top = self.roles.get(role)
        return f"{top}/{MANIFEST}" if top else None

    def checkout_paths(self) -> tuple[str, ...]:
        """What `snapshots checkout` materializes by default: data snapshot, model, card, metrics."""
        wanted = [self.path(r) for r in ("partitions", "clean", "model", "card")] + list(self.metrics[:1])
        return tuple(dict.fromkeys(p for p in wanted if p))

    def tier_of(self, path: str) -> str | None:
        p = PurePosixPath(path)
        for out, remote in self.tiers.items():
            if p == PurePosixPath(out) or PurePosixPath(out) in p.parents:
                return remote
        return None


def options(cmd: str) -> tuple[str | None, dict[str, str]]:
    """(verb, {--option: value}) of a stage command: the first word that is a known verb, then its options."""
    try:
        words = shlex.split(cmd)
    except ValueError:
        words = cmd.split()
    verb = next((w for w in words if w in ROLES), None)
    found: dict[str, str] = {}
    for i, word in enumerate(words):
        if word.startswith("--") and "=" in word:
            key, value = word.split("=", 1)
            found[key] = value
        elif word.startswith("--") and i + 1 < len(words) and not words[i + 1].startswith("--"):
            found[word] = words[i + 1]
    return verb, found


def _norm(path: str) -> str:
    return PurePosixPath(path).as_posix()


def derive(
    stages: list[StageOuts],
    *,
    model_artifacts: Sequence[str] = (),
    metrics: Sequence[str] = (),
    plots: Sequence[str] = (),
    tiers: dict[str, str | None] | None = None,
) -> Layout:
    """Pure core: the roles of outputs from stage commands + the artifacts/metrics/plots declarations."""
    roles: dict[str, str] = {}
    for stage in stages:
        verb, opts = options(stage.cmd)
        outs = {_norm(o) for o in stage.outs}
        for option, role in ROLES.get(verb or "", {}).items():
            value = opts.get(option)
            if value is not None and _norm(value) in outs:
                roles.setdefault(role, _norm(value))
    if model_artifacts:
        roles["model"] = _norm(model_artifacts[0])
    declared = [_norm(m) for m in metrics]
    main = roles.get("metrics")
    ordered = ([main] if main in declared else []) + sorted(m for m in declared if m != main)
    images = [_norm(p) for p in plots if PurePosixPath(p).suffix.lower() in IMAGES]
    outs = {_norm(o) for stage in stages for o in stage.outs}
    folders = [_norm(p) for p in plots if _norm(p) in outs and not PurePosixPath(p).suffix]
    if roles.get("plots") and not images:
        folders.append(roles["plots"])
    return Layout(
        stages=tuple(s.name for s in stages),
        roles=roles,
        metrics=tuple(dict.fromkeys(ordered)),
        plots=tuple(dict.fromkeys(images + folders)),
        tiers=dict(tiers or {}),
    )


def _join(dvcfile: str, path: str) -> str:
    """A path declared in a dvc.yaml, relative to the project root (keys look like '/sub/dvc.yaml')."""
    return _norm(str(PurePosixPath(dvcfile.lstrip("/")).parent / path))


def _plot_ids(definitions: list[Any]) -> list[str]:
    ids: list[str] = []
    for item in definitions:
        ids += [item] if isinstance(item, str) else [str(k) for k in (item or {})]
    return ids


def from_view(view: Any) -> Layout:
    """The layout of the revision a ``strata.review.revisions.View`` is open at."""
    from strata.review.revisions import rel

    index, repo = view.index, view.repo
    stages = [
        StageOuts(
            getattr(st, "name", "") or st.addressing,
            " ".join(st.cmd) if isinstance(st.cmd, list) else str(st.cmd or ""),
            tuple(rel(repo, o) for o in st.outs),
        )
        for st in index.stages
    ]
    artifacts = [
        _join(dvcfile, art.path)
        for dvcfile, found in sorted((repo.artifacts.read() or {}).items())
        for _name, art in sorted(found.items())
        if art.type == "model"
    ]
    metrics = [rel(repo, o) for o in index.metrics]
    metrics += [_join(f, m) for f, listed in sorted(index._metrics.items()) for m in listed]  # noqa: SLF001
    plots = [rel(repo, o) for o in index.plots]
    plots += [_join(f, p) for f, d in sorted(index._plots.items()) for p in _plot_ids(d)]  # noqa: SLF001
    tiers = {top: view.remote_of(out) for top, out in view.outs.items()}
    return derive(stages, model_artifacts=artifacts, metrics=metrics, plots=plots, tiers=tiers)

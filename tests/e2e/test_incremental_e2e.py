"""Incremental datums under real `dvc repro`: new, changed and removed batches, compared with a rebuild."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import Project, copy_project
from tests.helpers.trees import tree

pytestmark = pytest.mark.slow

DATA = ["data/partitions", "data/clean", "data/quarantine", "data/split", "models", "eval/metrics.json"]


def outputs(project: Project) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for rel in DATA:
        path = project.path / rel
        found.update(
            {f"{rel}/{k}": v for k, v in tree(path).items()} if path.is_dir() else {rel: path.read_bytes()}
        )
    return found


def summary(output: str, stage: str) -> tuple[int, int, int]:
    line = next(x for x in output.splitlines() if x.startswith(f"{stage}:"))
    found = re.search(r"(\d+) datums processed, (\d+) skipped, (\d+) removed", line)
    assert found, line
    return int(found[1]), int(found[2]), int(found[3])


def small(project: Project) -> None:
    params = project.params()
    params["simulate"]["days"] = 3
    params["simulate"]["events_per_day"] = 120
    params["ingest"]["sources"].append(
        {"name": "drops", "kind": "files", "path": "drops", "glob": "*.csv", "allow_empty": True}
    )
    project.write_params(params)
    (project.path / "data/landing/drops").mkdir(parents=True)


def test_incremental_steps_equal_a_rebuild_from_scratch(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "incremental")
    small(project)
    drops = project.path / "data/landing/drops"
    project.run("dvc", "repro")  # step 1: 3 days x 3 sites

    project.run("strata", "simulate", "--add-days", "2")  # step 2: two new days land
    step = project.run("dvc", "repro")
    assert summary(step.stdout, "ingest") == (6, 9, 0)
    assert summary(step.stdout, "validate") == (6, 9, 0)

    acme = sorted((project.path / "data/landing/sim/acme").glob("*.csv"))
    for path in acme[:3]:  # step 3: a second source delivers three files
        shutil.copy(path, drops / path.name)
    step = project.run("dvc", "repro")
    assert summary(step.stdout, "ingest") == (3, 15, 0)

    (drops / acme[0].name).unlink()  # step 4: one batch removed, one changed
    changed = drops / acme[1].name
    changed.write_text(changed.read_text() + changed.read_text().splitlines()[1] + "\n")
    step = project.run("dvc", "repro")
    assert summary(step.stdout, "ingest") == (1, 16, 2)
    assert summary(step.stdout, "validate") == (1, 16, 2)
    assert "duplicates across batches" in step.stdout

    nothing = project.run("dvc", "repro")
    assert "Running stage" not in nothing.stdout

    rebuilt = copy_project(tmp_path / "rebuilt")
    shutil.copytree(drops, rebuilt.path / "data/landing/drops")
    shutil.copy(project.path / "params.yaml", rebuilt.path / "params.yaml")
    rebuilt.run("dvc", "repro", "-f")
    assert outputs(rebuilt) == outputs(project)

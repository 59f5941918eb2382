"""The executor changes no byte: `dvc repro` through split with a local process pool and with a dask
LocalCluster of separate worker processes, each losing one worker mid-run, gives the same outputs; then
switching the executor reruns ingest and validate, which skip every datum, and nothing after them.

Train and evaluate do not run here: they read only split's outputs (compared here) and never the
executor, and they are the slow part of the pipeline."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from strata.executor import KILL_WORKER_ENV
from tests.e2e.conftest import Project, copy_project
from tests.helpers.trees import tree

pytestmark = pytest.mark.slow

OUTPUTS = ("data/partitions", "data/clean", "data/quarantine", "data/split")


def outputs(project: Project) -> dict[str, bytes]:
    return {f"{d}/{k}": v for d in OUTPUTS for k, v in tree(project.path / d).items()}


def small(project: Project, kind: str, workers: int = 2, **simulate: float) -> None:
    params = project.params()
    params["simulate"].update(days=2, events_per_day=200, **simulate)
    params["executor"] = {"kind": kind, "address": "", "workers": workers, "retries": 2}
    project.write_params(params)
    project.commit(f"small feed on {kind}")


def summary(output: str, stage: str) -> str:
    line = next(x for x in output.splitlines() if x.startswith(f"{stage}:"))
    found = re.search(r"\d+ datums processed, \d+ skipped, \d+ removed", line)
    assert found, line
    return found[0]


def test_local_pool_and_dask_cluster_losing_a_worker_give_the_same_bytes(tmp_path: Path) -> None:
    runs = {}
    for kind in ("local", "dask"):
        project = copy_project(tmp_path / kind)
        small(project, kind)
        marker = tmp_path / f"{kind}-worker-killed"
        project.env[KILL_WORKER_ENV] = str(marker)  # the first task kills its own worker process
        done = project.run("dvc", "repro", "split")
        assert marker.exists(), f"no {kind} worker was killed"
        assert summary(done.stdout, "validate") == "6 datums processed, 0 skipped, 0 removed"
        runs[kind] = project
    assert outputs(runs["dask"]) == outputs(runs["local"]) != {}

    project = runs["dask"]
    del project.env[KILL_WORKER_ENV]
    small(project, "local", workers=1)  # another executor: DVC reruns the two stages, they skip all
    again = project.run("dvc", "repro", "split")
    assert (
        summary(again.stdout, "ingest")
        == summary(again.stdout, "validate")
        == "0 datums processed, 6 skipped, 0 removed"
    )
    assert "Running stage 'split'" not in again.stdout
    assert outputs(project) == outputs(runs["local"])


def test_a_dataset_without_a_bad_row_completes_with_an_empty_quarantine(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "clean")
    small(project, "local", workers=0, mess_rate=0.0)
    done = project.run("dvc", "repro", "validate")
    assert "quarantined 0 + duplicates 0" in done.stdout
    quarantine = project.path / "data/quarantine"
    assert quarantine.is_dir() and list(quarantine.iterdir()) == []
    shutil.rmtree(quarantine)
    project.run("dvc", "checkout", "data/quarantine")  # DVC tracks the empty output and restores it
    assert quarantine.is_dir()
    assert "up to date" in project.run("dvc", "status", "validate").stdout

"""The executor changes no byte: `dvc repro` through split with a local process pool and with a dask
LocalCluster of separate worker processes, each losing one worker mid-run, gives the same outputs; then
switching the executor reruns ingest and validate, which skip every datum, and nothing after them.

Train and evaluate do not run here: they read only split's outputs (compared here) and never the
executor, and they are the slow part of the pipeline."""

from __future__ import annotations

import json
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


RAGGED = (  # lines the CSV parser cannot split: their text and order must not depend on threads
    "event_id,ts,home_id,entry_point,label\n"
    + "".join(f"d{i},2026-01-01T00:0{i}:00Z,h{i},window,resident\n" for i in range(5))
    + "d9,2026-01-01T00:09:00Z,h9,window,resident,EXTRA\nd10,2026-01-01\n"
)


def small(project: Project, kind: str, workers: int = 2, **simulate: float) -> None:
    params = project.params()
    params["simulate"].update(days=2, events_per_day=200, **simulate)
    params["executor"] = {"kind": kind, "address": "", "workers": workers, "retries": 2}
    project.write_params(params)
    project.commit(f"small feed on {kind}")


def with_ragged_csv(project: Project) -> None:
    params = project.params()
    params["ingest"]["sources"].append({"name": "drops", "kind": "files", "path": "drops"})
    project.write_params(params)
    (project.path / "data/landing/drops").mkdir(parents=True)
    (project.path / "data/landing/drops/ragged.csv").write_text(RAGGED)


def summary(output: str, stage: str) -> str:
    line = next(x for x in output.splitlines() if x.startswith(f"{stage}:"))
    found = re.search(r"\d+ datums processed, \d+ skipped, \d+ removed", line)
    assert found, line
    return found[0]


def test_local_pool_and_dask_cluster_losing_a_worker_give_the_same_bytes(tmp_path: Path) -> None:
    runs = {}
    for kind in ("local", "dask"):
        project = copy_project(tmp_path / kind)
        with_ragged_csv(project)
        small(project, kind)
        marker = tmp_path / f"{kind}-worker-killed"
        project.env[KILL_WORKER_ENV] = str(marker)  # the first task kills its own worker process
        done = project.run("dvc", "repro", "split")
        assert marker.exists(), f"no {kind} worker was killed"
        assert summary(done.stdout, "validate") == "7 datums processed, 0 skipped, 0 removed"
        runs[kind] = project
    assert outputs(runs["dask"]) == outputs(runs["local"]) != {}
    quarantined = json.loads((runs["dask"].path / "data/clean/manifest.json").read_text())["datums"]
    assert sum(e["reasons"].get("malformed row", 0) for e in quarantined.values()) == 2

    project = runs["dask"]
    del project.env[KILL_WORKER_ENV]
    small(project, "local", workers=1)  # another executor: DVC reruns the two stages, they skip all
    again = project.run("dvc", "repro", "split")
    skipped = "0 datums processed, 7 skipped, 0 removed"
    assert summary(again.stdout, "ingest") == summary(again.stdout, "validate") == skipped
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

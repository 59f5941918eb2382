"""Same bytes on any machine: the whole pipeline on one core with one thread
(`OMP_NUM_THREADS=1 taskset -c 0`) and with the machine's defaults writes byte-identical outputs, every one of
them (read from dvc.yaml)."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import yaml

from tests.e2e.conftest import Project, copy_project
from tests.helpers.trees import tree

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset (util-linux) is not installed"),
]

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "ARROW_NUM_THREADS")


def outputs_of(project: Project) -> list[str]:
    """Every output path dvc.yaml declares (outs and metrics), so no output can be left out of the check."""
    stages = yaml.safe_load((project.path / "dvc.yaml").read_text())["stages"]
    paths = []
    for stage in stages.values():
        for key in ("outs", "metrics", "plots"):
            for out in stage.get(key) or []:
                paths.append(next(iter(out)) if isinstance(out, dict) else out)
    return sorted(paths)


def hashes(project: Project) -> dict[str, str]:
    found = {}
    for out in outputs_of(project):
        path = project.path / out
        files = tree(path) if path.is_dir() else {"": path.read_bytes()}
        for name, data in files.items():
            found[f"{out}/{name}".rstrip("/")] = hashlib.sha256(data).hexdigest()
    return found


def shrink(project: Project) -> None:
    """Big enough that the parallel paths run (per-column threads inside a batch of over 16,384 rows, a pool
    of two datum processes), small enough for CI: 3 sites x 1 day of about 17,000 events."""
    params = project.params()
    params["simulate"].update(days=1, events_per_day=17_000)
    params["executor"]["workers"] = 2
    project.write_params(params)
    project.commit("a feed with big batches")


def test_one_core_one_thread_and_the_defaults_write_the_same_bytes(tmp_path) -> None:
    runs = {}
    for name, prefix in (("one core", ["taskset", "-c", "0"]), ("defaults", [])):
        project = copy_project(tmp_path / name.replace(" ", "-"))
        shrink(project)
        for var in THREAD_VARS:
            project.env.pop(var, None)
        if prefix:
            project.env.update(dict.fromkeys(THREAD_VARS, "1"))
        project.run(*prefix, "dvc", "repro")
        runs[name] = hashes(project)
    one, default = runs["one core"], runs["defaults"]
    assert len(one) > 10
    differ = sorted(k for k in set(one) | set(default) if one.get(k) != default.get(k))
    assert differ == []

"""Bad inputs under real `dvc repro` (issue 9): an in-place edit DVC cannot see is picked up by a forced run,
and what a stage refuses is one line on stderr, never a traceback."""

from __future__ import annotations

import json
import os
import re

import pytest

from strata.atomic import sha256_file
from tests.e2e.conftest import Project

pytestmark = pytest.mark.slow


def tiny(project: Project) -> None:
    """One simulated day of a few events plus a hand-made source: ingest costs next to nothing."""
    params = project.params()
    params["simulate"]["days"] = 1
    params["simulate"]["events_per_day"] = 20
    params["ingest"]["sources"].append({"name": "mine", "kind": "files", "path": "mine", "glob": "*.csv"})
    project.write_params(params)
    mine = project.path / "data/landing/mine"
    mine.mkdir(parents=True)
    (mine / "a.csv").write_text("event_id,label\n1,resident\n2,animal\n")
    (mine / "b.csv").write_text("event_id,label\n3,intruder\n")


def processed(stdout: str) -> int:
    found = re.search(r"^ingest: (\d+) datums processed", stdout, re.MULTILINE)
    assert found, stdout
    return int(found[1])


def test_an_edit_that_keeps_size_and_mtime_is_picked_up_by_a_forced_run(project: Project) -> None:
    tiny(project)
    project.run("dvc", "repro", "ingest")
    path = project.path / "data/landing/mine/a.csv"
    before = path.stat()
    with path.open("r+b") as handle:  # same inode, same size: 'resident' -> 'intruder'
        handle.seek(len("event_id,label\n1,"))
        handle.write(b"intruder")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    forced = project.run("dvc", "repro", "-f", "ingest")
    assert processed(forced.stdout) == 1  # the ctime moved: the hash cache does not vouch for the file
    manifest = json.loads((project.path / "data/partitions/manifest.json").read_text())
    entry = next(e for e in manifest["datums"].values() if e["batches"] == ["a.csv"])
    assert entry["sha256"] == sha256_file(path)

    project.env["STRATA_REHASH"] = "1"  # DVC passes its environment on to the stage
    again = project.run("dvc", "repro", "-f", "ingest")
    assert processed(again.stdout) == 0 and "; every batch re-hashed" in again.stdout


def test_refusals_are_one_line_on_stderr(project: Project) -> None:
    tiny(project)
    params = project.params()
    params["ingest"]["sources"][-1]["glob"] = "*.tsv"  # a typo: matches nothing
    project.write_params(params)
    result = project.run("dvc", "repro", "ingest", check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("strata ingest: error:")]
    assert errors == [
        "strata ingest: error: source 'mine': no file in data/landing/mine matches glob '*.tsv'; set "
        "allow_empty: true if it may deliver nothing (removing a source's data takes removing the source)"
    ]
    assert "Traceback" not in result.stderr + result.stdout

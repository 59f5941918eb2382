"""The registry's CI workflows: register on merge to main (gated against prod), promote by hand; tags are
created and pushed only there, one registry write at a time, and no workflow input is spliced into a shell."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def runs(workflow: dict) -> str:
    return "\n".join(step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"])


def test_register_runs_on_merge_to_main_gated_against_prod_and_pushes_the_tag() -> None:
    wf = load("register.yml")
    assert wf["on"] == {"push": {"branches": ["main"]}}
    assert wf["permissions"] == {"contents": "write"}
    script = runs(wf)
    assert "strata models register --gate-against prod --push" in script
    assert "git diff --quiet -- dvc.lock" in script  # a stale lock is never registered
    assert '"$status" -eq 4' in script  # a gate refusal is a notice, any other failure fails the job


def test_promote_is_dispatched_by_hand_with_reason_and_force_recorded() -> None:
    wf = load("promote.yml")
    assert set(wf["on"]) == {"workflow_dispatch"}
    inputs = wf["on"]["workflow_dispatch"]["inputs"]
    assert {"version", "stage", "reason", "force"} <= set(inputs)
    assert inputs["reason"]["required"] is True
    job = wf["jobs"]["promote"]
    assert job["if"] == "github.ref == 'refs/heads/main'"
    assert job["environment"] == "${{ inputs.stage }}"  # prod can require reviewers
    script = runs(wf)
    assert 'models promote "$VERSION" --stage "$STAGE" --reason' in script and "--push" in script
    assert "args+=(--force)" in script


def test_one_registry_writer_at_a_time_and_no_input_reaches_a_shell() -> None:
    for name in ("register.yml", "promote.yml"):
        wf = load(name)
        assert wf["concurrency"] == {"group": "model-registry", "cancel-in-progress": False}
        assert not re.search(r"\$\{\{\s*(inputs|github\.event)\.", runs(wf)), name
        assert "STRATA_ROLE" in next(iter(wf["jobs"].values()))["env"]

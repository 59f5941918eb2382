"""Registry references, the dvc.yaml artifact entry and the `registry` params section: pure parsing."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from strata.config import RegistryParams
from strata.errors import ConfigError, RegistryError
from strata.registry.spec import Ref, artifact_spec, is_ref, output_remotes, parse_ref
from strata.typed import build
from tests.helpers.registry_repo import DVC_YAML, PARAMS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("model@v1.3.0", Ref("model", "v1.3.0", None)),
        ("model#prod", Ref("model", None, "prod")),
        ("model@latest", Ref("model", None, None)),
        ("model", Ref("model", None, None)),
        ("team/churn-model@v0.1.0-rc.1", Ref("team/churn-model", "v0.1.0-rc.1", None)),
    ],
)
def test_parse_ref(text: str, ref: Ref) -> None:
    assert parse_ref(text) == ref


@pytest.mark.parametrize("text", ["model@1.3.0", "model#", "model@v1.3", "-model#prod", "model#prod#2", ""])
def test_parse_ref_refuses_what_gto_would_not_read(text: str) -> None:
    with pytest.raises(RegistryError, match=rf"^'{text}' is not a model reference: use NAME@vX.Y.Z"):
        parse_ref(text)


def test_grammar_agrees_with_gto() -> None:
    from gto.constants import shortcut_re

    samples = ["model@v1.3.0", "model#prod", "a/b@v0.0.1", "model@v1.3", "model@latest", "m-1#dev-2", "x#"]
    for text in samples:
        gto_match = shortcut_re.match(text)
        ours = is_ref(text)
        assert ours == bool(gto_match), text


def test_is_ref_tells_a_path_from_a_reference() -> None:
    assert is_ref("model#prod") and is_ref("model@v1.0.0")
    assert not is_ref("models/model.skops") and not is_ref("model")


def test_artifact_spec_reads_paths_and_tiers() -> None:
    spec = artifact_spec(DVC_YAML, "model")
    assert (spec.path, spec.card, spec.metrics, spec.type) == (
        "models/model.skops",
        "models/card.json",
        "eval/metrics.json",
        "model",
    )
    assert {spec.remote_of(p) for p in spec.files} == {"shared"}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d.pop("artifacts"),
            r"^dvc.yaml: no artifact 'model' under `artifacts:` \(declared: none\)$",
        ),
        (
            lambda d: d["artifacts"]["model"]["meta"].pop("card"),
            r"^dvc.yaml: artifacts.model.meta.card must name a file$",
        ),
        (
            lambda d: d["artifacts"]["model"].update(path="models/other.skops"),
            r"^dvc.yaml: artifacts.model.path 'models/other.skops' is not an output of any stage",
        ),
        (
            lambda d: d["stages"]["train"]["outs"].__setitem__(0, "models/model.skops"),
            r"^dvc.yaml: output 'models/model.skops' of artifact 'model' names no `remote:` tier$",
        ),
    ],
)
def test_artifact_spec_errors_name_the_key(edit, message: str) -> None:  # noqa: ANN001
    data = copy.deepcopy(DVC_YAML)
    edit(data)
    with pytest.raises(RegistryError, match=message):
        artifact_spec(data, "model")


def test_the_project_declares_its_model_artifact_on_the_shared_tier() -> None:
    """dvc.yaml's artifact names the outputs train and evaluate write, each on the tier `remote:` says."""
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    spec = artifact_spec(dvc_yaml, "model")
    outs = output_remotes(dvc_yaml)
    assert all(outs[path] == "shared" for path in spec.files)
    assert spec.type == "model" and spec.desc and spec.labels
    train_cmd = dvc_yaml["stages"]["train"]["cmd"]
    assert f"--model {spec.path}" in train_cmd and f"--card {spec.card}" in train_cmd
    assert f"--metrics {spec.metrics}" in dvc_yaml["stages"]["evaluate"]["cmd"]


def test_registry_params_defaults() -> None:
    cfg = build(RegistryParams, PARAMS["registry"], "p:registry")
    assert cfg.gated_stages == ("prod",) and cfg.poll_seconds == 1.0
    assert build(RegistryParams, {}, "p:registry") == RegistryParams()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"gated_stages": ["qa"]},
            r"^p:registry.gated_stages: 'qa' is not one of the stages \(staging, prod\)$",
        ),
        ({"poll_seconds": 0}, r"^p:registry.poll_seconds: must be between 0.1 and 86400, got 0.0$"),
        ({"bump": "huge"}, r"^p:registry.bump: 'huge' is not one of patch, minor, major$"),
        (
            {"stages": ["prod!"], "gated_stages": []},
            r"^p:registry.stages\[0\]: 'prod!' is not a valid GTO name",
        ),
        ({"stages": ["prod", "prod"]}, r"^p:registry.stages: a stage is listed twice: prod, prod$"),
        ({"artifact": "-m"}, r"^p:registry.artifact: '-m' is not a valid GTO name"),
        ({"poll": 3}, r"^p:registry: unknown key 'poll'"),
    ],
)
def test_registry_params_are_checked_when_read(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(RegistryParams, {**PARAMS["registry"], **change}, "p:registry")


def test_models_help_loads_neither_gto_nor_dvc() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from strata.cli import app; "
        "r = CliRunner().invoke(app, ['models', 'promote', '--help']); assert r.exit_code == 0, r.output; "
        "print(','.join(m for m in ('gto', 'dvc', 'boto3', 'scmrepo') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""

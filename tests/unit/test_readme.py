"""The README's examples cannot drift from the code: every `strata ...` command line in its code blocks names
a verb that exists and only options that verb has, and every params key its YAML examples set is a key the
params accept (checked by loading the example into the params classes)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from strata.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, flags=re.DOTALL)


def strata_lines() -> list[str]:
    lines = []
    for lang, body in BLOCKS:
        if lang not in ("bash", ""):
            continue
        for line in body.splitlines():
            code = line.split(" #")[0].strip()
            for piece in re.split(r"&&|;", code):
                part = piece.strip()
                if part.startswith("strata "):
                    lines.append(part)
    prose = re.sub(r"```.*?```", "", README, flags=re.DOTALL)
    for span in re.findall(r"`(strata [^`]+)`", prose):
        text = " ".join(span.split())
        if "..." not in text and "<" not in text and "[" not in text:
            lines.append(text)
    return lines


def resolve(argv: list[str]) -> tuple[Any, list[str]]:
    """The click command the words name, and the words after it."""
    command: Any = typer.main.get_command(app)
    rest = argv
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


LINES = strata_lines()


def test_the_readme_shows_the_main_verbs() -> None:
    verbs = {line.split()[1] for line in LINES}
    assert {"snapshots", "lineage", "report", "storage", "models", "simulate"} <= verbs, verbs
    assert len(LINES) >= 20


@pytest.mark.parametrize("line", LINES)
def test_each_strata_command_line_names_a_real_verb_and_real_options(line: str) -> None:
    words = shlex.split(line)[1:]
    command, rest = resolve(words)
    if rest == ["--help"]:
        return
    assert not hasattr(command, "commands"), (
        f"{line}: '{rest[0] if rest else ''}' is not a verb of this group"
    )
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    used = {word.split("=")[0] for word in rest if word.startswith("--")}
    assert used <= known, f"{line}: unknown options {sorted(used - known)}"


def yaml_examples() -> list[dict[str, Any]]:
    found = []
    for lang, body in BLOCKS:
        if lang == "yaml":
            loaded = yaml.safe_load(body)
            assert isinstance(loaded, dict)
            found.append(loaded)
    return found


def test_every_yaml_example_sets_only_keys_that_params_yaml_has() -> None:
    """The examples are excerpts: each key path they set must exist in the shipped params.yaml (or be an
    element of a list there), so a renamed param breaks this test instead of a user's copy-paste."""
    shipped = yaml.safe_load((ROOT / "params.yaml").read_text())

    def check(example: Any, real: Any, path: str) -> None:
        if isinstance(example, dict) and isinstance(real, dict):
            for key, value in example.items():
                if path.endswith("contract.columns") or path.endswith("source_units"):
                    continue  # the user's own column and source names
                assert key in real, f"README yaml sets '{path}.{key}', which params.yaml does not have"
                check(value, real[key], f"{path}.{key}".lstrip("."))

    examples = yaml_examples()
    assert len(examples) >= 2
    for example in examples:
        check(example, shipped, "")


def test_the_byod_example_loads_as_params(tmp_path: Path) -> None:
    """The bring-your-own-data excerpt, merged into params.yaml, passes every section's own checks."""
    from strata import config

    shipped = yaml.safe_load((ROOT / "params.yaml").read_text())
    byod = next(e for e in yaml_examples() if "validate" in e and "ingest" in e)
    merged = dict(shipped)
    for name, values in byod.items():
        merged[name] = {**shipped.get(name, {}), **values}
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(merged, sort_keys=False))
    sections = {
        "simulate": config.SimulateParams,
        "ingest": config.IngestParams,
        "validate": config.ValidateParams,
        "train": config.TrainParams,
        "evaluate": config.EvaluateParams,
    }
    loaded = {name: config.section(params, name, cls) for name, cls in sections.items()}
    assert loaded["validate"].contract.target == "defaulted" and loaded["validate"].contract.key == ()
    assert loaded["train"].ratios == () and loaded["simulate"].days == 0


def test_the_curl_example_is_an_event_the_default_contract_accepts() -> None:
    """The README's `curl .../predict -d '{...}'` body names only contract columns (or aliases) and every
    required one: the example a new user copies first must not answer 400."""
    import json

    from strata import config

    body = re.search(r"curl -s localhost:8080/predict -d '(\{.*?\})'", README, flags=re.DOTALL)
    assert body, "the README lost its curl example"
    event = json.loads(body.group(1))
    contract = config.section(ROOT / "params.yaml", "validate", config.ValidateParams).contract
    names = {alias: name for name, spec in contract.columns.items() for alias in (name, *spec.aliases)}
    assert set(event) <= set(names), sorted(set(event) - set(names))
    required = {n for n, spec in contract.columns.items() if spec.required and n != contract.target}
    assert required <= {names[k] for k, v in event.items() if v is not None}, required

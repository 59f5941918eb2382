"""Every verb has help text; errors are one line with a non-zero exit; `strata --help` stays light."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from strata.cli import app

runner = CliRunner()


def commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command and group, recursively (typer vendors click, so duck-type the groups)."""
    found = []
    for name, cmd in group.commands.items():
        found.append(((*prefix, name), cmd))
        if hasattr(cmd, "commands"):
            found += commands(cmd, (*prefix, name))
    return found


ALL = commands(typer.main.get_command(app))
assert len(ALL) > 20


def test_every_stage_and_tool_is_a_verb() -> None:
    names = {" ".join(path) for path, _ in ALL}
    expected = {
        "simulate",
        "ingest",
        "validate",
        "split",
        "train",
        "evaluate",
        "predict",
        "lineage",
        "report",
    }
    expected |= {"snapshots list", "snapshots diff", "storage up", "storage use", "storage push"}
    assert expected <= names


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[" ".join(p) for p, _ in ALL])
def test_every_command_and_option_has_help(path: tuple[str, ...], cmd: Any) -> None:
    assert (cmd.help or "").strip(), f"strata {' '.join(path)} has no help text"
    for param in cmd.params:
        if param.param_type_name == "option" and param.name != "help":
            assert (param.help or "").strip(), f"strata {' '.join(path)} {param.opts[0]} has no help text"
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output


def split_paths(tmp_path) -> list[str]:
    paths = {"--clean": "clean", "--train": "train.parquet", "--test": "test.parquet", "--summary": "s.json"}
    return [arg for option, name in paths.items() for arg in (option, str(tmp_path / name))]


def test_domain_error_is_one_line_with_nonzero_exit(tmp_path) -> None:
    result = runner.invoke(app, ["split", "--params", str(tmp_path / "nope.yaml"), *split_paths(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"strata split: error: {tmp_path / 'nope.yaml'}: params file not found"
    ]


def test_unknown_params_key_names_its_path(tmp_path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("split:\n  seed: 1\n  test_fraction: 0.2\n  test_fractoin: 0.3\n")
    result = runner.invoke(app, ["split", "--params", str(params), *split_paths(tmp_path)])
    assert result.exit_code == 2
    assert "split: unknown key 'test_fractoin'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from strata.cli import app; "
        "heavy = ('pyarrow', 'pandas', 'sklearn', 'numpy', 'boto3', 'dvc', 'matplotlib'); "
        "heavy = [m for m in heavy if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""

"""dvc.yaml deps and datum fingerprints come from the import graph (strata.deps), and the layout stays honest:
every stage lists the code it runs, nothing it does not, no import cycles, no oversized module."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

import pytest
import yaml

from strata import deps
from strata.cli import VERBS

ROOT = Path(__file__).resolve().parents[2]
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = list(DVC_YAML["stages"])
MAX_LINES = 350


def code_deps(stage: str) -> list[str]:
    return [d for d in DVC_YAML["stages"][stage]["deps"] if d.split("/")[0] in deps.PACKAGES]


def covers(dep: str, path: str) -> bool:
    return path == dep or PurePosixPath(dep) in PurePosixPath(path).parents


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_runs_its_own_module(stage: str) -> None:
    assert DVC_YAML["stages"][stage]["cmd"].split()[:2] == ["strata", stage]
    assert VERBS[stage].__module__ == f"stages.{stage}"


@pytest.mark.parametrize("stage", STAGES)
def test_dvc_yaml_deps_cover_the_import_closure_of_the_stage(stage: str) -> None:
    needed = deps.relative(deps.closure(f"stages.{stage}"))
    listed = code_deps(stage)
    gaps = [path for path in needed if not any(covers(dep, path) for dep in listed)]
    assert gaps == [], (
        f"dvc.yaml stage {stage} misses {gaps}; `python -m strata.deps {stage}` prints the list"
    )
    unused = [dep for dep in listed if not any(covers(dep, path) for path in needed)]
    assert unused == [], f"dvc.yaml stage {stage} lists code it does not import: {unused}"


def test_closure_follows_imports_inside_functions_and_package_inits() -> None:
    files = deps.relative(deps.closure("stages.split"))
    assert "strata/contract/parse.py" in files  # split -> keys.string_hash -> parse.string_buffers (lazy)
    assert "strata/config.py" in files and "strata/__init__.py" in files
    assert "strata/model/features.py" not in files


def _copy_tree(dest: Path) -> Path:
    for package in deps.PACKAGES:
        shutil.copytree(ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_fingerprint_changes_with_any_file_of_the_closure_and_only_those(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    before = deps.code_fingerprint("stages.validate", root)
    (root / "strata/review/report.py").write_text("# not imported by validate\n")
    deps.closure.cache_clear()
    assert deps.code_fingerprint("stages.validate", root) == before
    with (root / "strata/contract/units.py").open("a") as handle:
        handle.write("\n# a change in a module validate imports\n")
    deps.closure.cache_clear()
    assert deps.code_fingerprint("stages.validate", root) != before


def test_datum_fingerprints_use_the_derived_closure() -> None:
    """ingest and validate fingerprint their datums with deps.code_fingerprint of their own module."""
    for stage in ("ingest", "validate"):
        source = (ROOT / "stages" / f"{stage}.py").read_text()
        assert f'deps.code_fingerprint("stages.{stage}")' in source


def _graph() -> dict[str, set[str]]:
    graph = {}
    for package in deps.PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            graph[name] = deps.imported_modules(path, name)
    return graph


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt in graph and not state.get(nxt):
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in graph:
        if not state.get(node):
            visit(node, [node])
    assert cycles == []


def test_the_library_never_imports_a_stage() -> None:
    """Stages build on the library; only the CLI (which wires verbs to stage commands) imports them."""
    graph = _graph()
    for name, imported in graph.items():
        if name.startswith("strata") and name != "strata.cli":
            assert not any(m.startswith("stages") for m in imported), f"library {name} imports a stage"


def test_modules_stay_small() -> None:
    big = {
        path.relative_to(ROOT).as_posix(): n
        for package in deps.PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert big == {}

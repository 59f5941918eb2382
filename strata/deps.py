"""Which project files shape a stage's output: the import closure of its stage module, derived, never listed.

`dvc.yaml` must name these files (or folders holding them) as the stage's deps, so that editing any of them
reruns the stage; the datum fingerprints of the incremental stages hash exactly these files, so that editing
any of them recomputes every datum. Both come from :func:`closure`, which reads the import statements of the
stage module and of every project module it reaches (imports inside functions included, since stages import
lazily), plus the ``__init__.py`` of every package on the way (Python runs them on import). A test checks
`dvc.yaml` against it (tests/unit/test_deps.py); ``python -m strata.deps STAGE`` prints what to list.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import sys
from pathlib import Path

PACKAGES = ("stages", "strata")
ROOT = Path(__file__).resolve().parents[1]  # the folder holding both packages (the project root)


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of a project module (``a/b.py`` or ``a/b/__init__.py``), None if it is not a module."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_inits(name: str, root: Path) -> list[str]:
    """``a``, ``a.b`` for module ``a.b.c``: the packages whose __init__ runs when it is imported."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_modules(path: Path, name: str, root: Path = ROOT) -> set[str]:
    """Project modules named by any import statement in ``path`` (module ``name``), wherever it stands."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return {m for m in found if m.split(".")[0] in PACKAGES and module_file(m, root) is not None}


@functools.cache
def closure(module: str, root: Path = ROOT) -> tuple[Path, ...]:
    """Every project file that ``module`` runs when imported and called, sorted (module itself included)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_file(name, root)
        if path is None:
            raise ValueError(f"{name}: not a module of this project under {root}")
        seen.add(name)
        todo.extend(_package_inits(name, root))
        todo.extend(imported_modules(path, name, root) - seen)
    return tuple(sorted({module_file(n, root) for n in seen if module_file(n, root) is not None}))  # type: ignore[misc]


def relative(paths: tuple[Path, ...], root: Path = ROOT) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def code_fingerprint(module: str, root: Path = ROOT) -> str:
    """sha256 (16 hex) of the paths and bytes of ``closure(module)``: what a datum's code version is."""
    digest = hashlib.sha256()
    for path in closure(module, root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def covering(paths: list[str], root: Path = ROOT) -> list[str]:
    """The shortest dep list for ``paths``: a folder where every .py file under it is needed, else files."""
    needed = set(paths)
    out: list[str] = []
    folders = sorted({str(Path(p).parent) for p in needed}, key=lambda f: (f.count("/"), f))
    covered: set[str] = set()
    for folder in folders:
        if folder in PACKAGES or any(folder.startswith(f"{c}/") or folder == c for c in covered):
            continue
        files = {p.relative_to(root).as_posix() for p in (root / folder).rglob("*.py")}
        if files and files <= needed:
            out.append(folder)
            covered.add(folder)
    out += [p for p in sorted(needed) if not any(p.startswith(f"{c}/") for c in covered)]
    return sorted(out)


def main(argv: list[str]) -> int:
    """``python -m strata.deps STAGE...``: the code deps each stage must list in dvc.yaml."""
    for stage in argv or ["simulate", "ingest", "validate", "split", "train", "evaluate"]:
        print(f"{stage}:")  # noqa: T201 - a developer's tool
        for dep in covering(relative(closure(f"stages.{stage}"))):
            print(f"  - {dep}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`strata models ...`: list, show, register, promote and get model versions (GTO tags, DVC files).

Plain functions behind typer options; gto, dvc and boto3 load inside them so `strata --help` stays light.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from strata.errors import RegistryError

app = typer.Typer(
    help="Model registry: versions and stages as GTO git tags, files on the shared tier through DVC.",
    no_args_is_help=True,
)

RepoOpt = Annotated[Path, typer.Option("--repo", help="Any folder inside the project (git work tree).")]
ParamsOpt = Annotated[
    Path | None,
    typer.Option("--params", help="params.yaml with `registry` and `gate` (default: in the repo)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
PushOpt = Annotated[bool, typer.Option("--push", help="Push the new git tag to origin (CI does this).")]


def _root(repo: Path) -> Path:
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RegistryError(f"{repo.resolve()}: not inside a git repository")
    return Path(proc.stdout.strip())


def _params(root: Path, params: Path | None) -> tuple[Any, dict[str, float]]:
    from strata.config import GateParams, RegistryParams, load_params
    from strata.typed import build

    path = params or root / "params.yaml"
    data = load_params(path)
    registry = build(RegistryParams, data.get("registry"), f"{path}:registry")
    return registry, build(GateParams, data.get("gate"), f"{path}:gate").max_drop


def qualify(ref: str, artifact: str) -> str:
    """A bare version (``v1.3.0``) names that version of the registry's artifact."""
    from strata.registry.spec import SEMVER

    return f"{artifact}@{ref}" if re.fullmatch(SEMVER, ref) else ref


def _dump(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def list_command(
    name: Annotated[str | None, typer.Option("--name", help="Artifact (default: registry.artifact).")] = None,
    as_json: JsonOpt = False,
    repo: RepoOpt = Path(),
    params: ParamsOpt = None,
) -> None:
    """Versions, newest first: stages held (since when, replacing what), date, metrics, data snapshot."""
    from strata.registry import catalog

    root = _root(repo)
    cfg, max_drop = _params(root, params)
    artifact = name or cfg.artifact
    metrics = tuple(max_drop) or catalog.HEADLINE
    rows = catalog.listing(root, artifact, metrics)
    if as_json:
        _dump(rows)
    else:
        typer.echo(catalog.render_list(artifact, rows, metrics))


def show_command(
    ref: Annotated[str, typer.Argument(help="model@v1.3.0, model#prod or model@latest.")],
    as_json: JsonOpt = False,
    repo: RepoOpt = Path(),
) -> None:
    """One version: its tags and stage history, card, metrics, and lineage down to the delivered batches."""
    from strata.registry import catalog
    from strata.registry.spec import parse_ref

    root = _root(repo)
    result = catalog.details(root, parse_ref(ref).name, ref)
    if as_json:
        _dump(result)
    else:
        typer.echo(catalog.render_details(result))


def register_command(
    *,
    bump: Annotated[
        str | None, typer.Option("--bump", help="patch, minor or major (default: registry.bump).")
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="An explicit version, e.g. v1.3.0 (instead of a bump).")
    ] = None,
    gate_against: Annotated[
        str | None,
        typer.Option(
            "--gate-against", help="Refuse unless the gate passes against the version in this stage."
        ),
    ] = None,
    push: PushOpt = False,
    repo: RepoOpt = Path(),
    params: ParamsOpt = None,
) -> None:
    """Register the current commit as the next version: publish its files to their tier, then tag it."""
    from strata.config import REGISTRY_BUMPS
    from strata.registry import lifecycle

    root = _root(repo)
    cfg, max_drop = _params(root, params)
    chosen = bump or cfg.bump
    if chosen not in REGISTRY_BUMPS:
        raise RegistryError(f"--bump '{chosen}' is not one of {', '.join(REGISTRY_BUMPS)}")
    if version and bump:
        raise RegistryError("give --version or --bump, not both")
    if gate_against is not None and gate_against not in cfg.stages:
        raise RegistryError(f"--gate-against '{gate_against}' is not one of {', '.join(cfg.stages)}")
    for line in lifecycle.register(
        root,
        cfg.artifact,
        bump=chosen,
        version=version,
        max_drop=max_drop,
        gate_stage=gate_against,
        push=push,
    ):
        typer.echo(line)


def promote_command(
    ref: Annotated[
        str,
        typer.Argument(help="The version: model@v1.3.0, or v1.3.0 for registry.artifact, or model#staging."),
    ],
    *,
    stage: Annotated[str, typer.Option("--stage", help="The stage to assign (registry.stages).")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote past a failed gate; recorded in the tag message.")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why, recorded in the tag message.")] = "",
    push: PushOpt = False,
    repo: RepoOpt = Path(),
    params: ParamsOpt = None,
) -> None:
    """Assign a stage to a version; gated stages refuse a regression against the version now there."""
    from strata.registry import lifecycle

    root = _root(repo)
    cfg, max_drop = _params(root, params)
    line = lifecycle.promote(
        root,
        qualify(ref, cfg.artifact),
        stage,
        stages=cfg.stages,
        gated=cfg.gated_stages,
        max_drop=max_drop,
        force=force,
        reason=" ".join(reason.split()),
        push=push,
    )
    typer.echo(line)


def get_command(
    ref: Annotated[str, typer.Argument(help="model@v1.3.0 or model#prod.")],
    out: Annotated[Path, typer.Option("--out", help="Folder; the files go to OUT/<name>@<version>/.")],
    repo: RepoOpt = Path(),
) -> None:
    """Fetch a version's model and card through DVC from their tier and check the model's sha256."""
    from strata.registry import source

    root = _root(repo)
    fetched = source.fetch(root, source.resolve(root, ref), out)
    stage = f" ({fetched.resolved.stage})" if fetched.resolved.stage else ""
    typer.echo(
        f"get: {fetched.resolved.ref}{stage} -> {fetched.model} and {fetched.card_path}, "
        f"sha256 {fetched.sha256[:12]} matches the card"
    )


COMMANDS: dict[str, Callable[..., Any]] = {
    "list": list_command,
    "show": show_command,
    "register": register_command,
    "promote": promote_command,
    "get": get_command,
}

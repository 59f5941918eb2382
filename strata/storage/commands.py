"""`strata storage ...`: run the loopback S3 server, switch identity, push and pull one storage tier.

Secrets never reach a git-tracked file: role keys live in `.strata/credentials/<role>.env` and the
current identity in `.dvc/config.local` (both git-ignored). `.dvc/config` only names the buckets, so
`dvc repro` needs no remote and a clone points at AWS, MinIO or loopback by its local config alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from strata.errors import ConfigError, StorageError
from strata.storage import s3server
from strata.storage import state as _state
from strata.storage.roles import (
    DEFAULT_ROLES,
    Credentials,
    Roles,
    Tier,
    bootstrap_request_count,
    load_roles,
    policy_for,
)
from strata.storage.state import (
    CONFIG_LOCAL,
    STATE_DIR,
    STATE_FILE,
    State,
    credentials_path,
    current_key_id,
    read_credentials,
    write_config_local,
    write_credentials,
)

app = typer.Typer(
    help="Object storage tiers: loopback S3 server, roles, push/pull per tier.", no_args_is_help=True
)

RepoOpt = Annotated[Path, typer.Option(help="The DVC project (git work tree) to act on.")]
RolesOpt = Annotated[Path, typer.Option(help="Tiers and roles (relative to --repo).")]
TierOpt = Annotated[str, typer.Option(help="Which tier: raw, shared or all.")]
JobsOpt = Annotated[int, typer.Option(help="Parallel transfers (dvc -j).")]


def _is_moto(pid: int) -> bool:
    """Guard against a recycled pid: only ever signal a process that is our moto server."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return s3server.pid_alive(pid)  # no /proc (macOS): trust the state file
    return b"moto" in cmdline


# -------------------------------------------------------------------------------------------- commands


def start(repo: Path, roles_path: Path, port: int = 0) -> tuple[State, dict[str, Credentials]]:
    """Start and bootstrap a loopback server; write keys and state. The fixture and `up` both use this."""
    roles = load_roles(roles_path)
    previous = State.load(repo)
    if previous and s3server.pid_alive(previous.pid) and _is_moto(previous.pid):
        raise StorageError(f"a server is already running at {previous.endpoint}: `strata storage down` first")
    port = port or s3server.free_port()
    if s3server.is_listening(port):
        raise StorageError(f"port {port} on {s3server.LOOPBACK} is already in use")
    count = bootstrap_request_count(roles)
    pid = s3server.start_server(port, count, repo / STATE_DIR / "moto.log")
    endpoint = f"http://{s3server.LOOPBACK}:{port}"
    try:
        creds = s3server.bootstrap(endpoint, roles)
        s3server.verify_enforced(endpoint, next(iter(roles.tiers.values())).bucket)
    except StorageError:
        s3server.stop_server(pid)
        raise
    state = State(pid, port, endpoint, count, str(roles_path.resolve()))
    for role_creds in creds.values():
        write_credentials(repo, role_creds, endpoint)
    state.save(repo)
    return state, creds


def up(
    repo: RepoOpt = Path("."),
    roles: RolesOpt = DEFAULT_ROLES,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = 0,
    use_role: Annotated[str, typer.Option("--use", help="Switch to this role right away.")] = "",
) -> None:
    """Start a loopback S3 server (moto) with the buckets, IAM users and policies of storage/roles.yaml.

    Only the bootstrap requests run unauthenticated; every later request is signed and IAM-checked.
    Keys go to .strata/credentials/<role>.env (git-ignored). Keys change on every start.
    """
    state, creds = start(repo, repo / roles, port)
    typer.echo(
        f"storage up: {state.endpoint} (pid {state.pid}), {state.bootstrap_requests} bootstrap requests, "
        f"roles: {', '.join(creds)}"
    )
    if use_role:
        use(use_role, repo)
    else:
        typer.echo("next: strata storage use engineer|ci|reviewer")


def down(repo: RepoOpt = Path(".")) -> None:
    """Stop the loopback S3 server started by `up` (its data and keys are gone: moto keeps no state).

    In a clone that joined another clone's server, only forget it here; the server keeps running.
    """
    state = State.load(repo)
    if state is None:
        raise StorageError(f"no server state in {repo / STATE_DIR / STATE_FILE}: nothing to stop")
    if not state.owner and s3server.pid_alive(state.pid) and _is_moto(state.pid):
        s3server.stop_server(state.pid)
    (repo / STATE_DIR / STATE_FILE).unlink()
    for path in (repo / STATE_DIR / "credentials").glob("*.env"):
        path.unlink()
    if state.owner:
        typer.echo(f"storage down: left {state.endpoint}; it keeps running for {state.owner}")
    else:
        typer.echo(f"storage down: stopped {state.endpoint} (pid {state.pid})")


def use(
    role: Annotated[str, typer.Argument(help="engineer, ci, reviewer (storage/roles.yaml).")],
    repo: RepoOpt = Path("."),
    join: Annotated[
        Path | None,
        typer.Option(help="Join the loopback server that `strata storage up` started in this other clone."),
    ] = None,
) -> None:
    """Switch identity: write the role's keys and the endpoint of every tier's remote to .dvc/config.local."""
    state = _state.join(repo, join, role) if join is not None else State.load(repo)
    if state is None:
        raise StorageError(
            f"no server is running here ({repo.resolve()}): start one with `strata storage up`, or join"
            f" the one another clone on this machine started:"
            f" `strata storage use {role} --join /path/to/that/clone`"
        )
    roles = load_roles(Path(state.roles_file))
    roles.role(role)
    creds, endpoint = read_credentials(repo, role)
    path = write_config_local(
        repo, [t.remote for t in roles.tiers.values()], endpoint or state.endpoint, creds
    )
    state.role = role
    state.save(repo)
    grants = ", ".join(f"{tier}:{level}" for tier, level in roles.role(role).items())
    joined = f" (joined from {state.owner})" if state.owner else ""
    typer.echo(f"storage use: role '{role}' ({grants}) at {state.endpoint}{joined}, written to {path}")


def status(repo: RepoOpt = Path(".")) -> None:
    """Show the endpoint, whether it answers, the current role and the tiers."""
    state = State.load(repo)
    if state is None:
        typer.echo("storage: no loopback server (strata storage up); remotes as in .dvc/config(.local)")
        return
    alive = state.running
    roles = load_roles(Path(state.roles_file))
    tiers = ", ".join(f"{t.name}={t.url} (remote {t.remote})" for t in roles.tiers.values())
    role = current_role(repo, roles)
    joined = f", joined from {state.owner}" if state.owner else ""
    typer.echo(f"endpoint: {state.endpoint} pid {state.pid} {'up' if alive else 'DOWN'}{joined}")
    typer.echo(f"role:     {role or '(none: strata storage use ROLE)'}")
    typer.echo(f"tiers:    {tiers}")


def current_role(repo: Path, roles: Roles) -> str:
    """The role whose key is in .dvc/config.local (not the state file: someone may have edited the config)."""
    key_id = current_key_id(repo, next(iter(roles.tiers.values())).remote)
    for role in roles.grants:
        path = credentials_path(repo, role)
        if key_id and path.exists() and read_credentials(repo, role)[0].access_key_id == key_id:
            return role
    return f"unknown key {key_id[:8]}..." if key_id else ""


def policies(
    out: Annotated[Path, typer.Option(help="Folder for one <role>.json IAM policy per role.")],
    roles: Annotated[Path, typer.Option(help="Tiers and roles.")] = DEFAULT_ROLES,
) -> None:
    """Write the IAM policy of every role as JSON, usable as-is on AWS S3 (IAM) or MinIO (mc admin policy)."""
    parsed = load_roles(roles)
    out.mkdir(parents=True, exist_ok=True)
    for role in parsed.grants:
        (out / f"{role}.json").write_text(json.dumps(policy_for(parsed, role), indent=2) + "\n")
    typer.echo(f"policies: {len(parsed.grants)} written to {out} ({', '.join(parsed.grants)})")


def push(tier: TierOpt = "all", repo: RepoOpt = Path("."), jobs: JobsOpt = 4) -> None:
    """Push the DVC outputs of one tier (or all) to that tier's remote; errors name the tier and role."""
    _transfer("push", tier, repo, jobs)


def pull(tier: TierOpt = "shared", repo: RepoOpt = Path("."), jobs: JobsOpt = 4) -> None:
    """Pull the DVC outputs of one tier (or all) from that tier's remote into the workspace."""
    _transfer("pull", tier, repo, jobs)


def add(
    paths: Annotated[list[str], typer.Argument(help="Files or folders to track, e.g. data/landing/mine.")],
    tier: Annotated[
        str, typer.Option(help="The tier they belong to (raw: delivered customer data).")
    ] = "raw",
    repo: RepoOpt = Path("."),
) -> None:
    """Track data with DVC (`dvc add`) in a storage tier: its .dvc file names the tier's remote.

    The way to bring your own files into data/landing/: `dvc add` alone writes a .dvc file without a tier,
    and `strata storage push` refuses it. Running this on already tracked data sets the tier.
    """
    from strata.storage import remotes

    roles = _roles_for(repo)
    if tier not in roles.tiers:
        raise ConfigError(f"unknown tier '{tier}' (tiers: {', '.join(roles.tiers)})")
    remote = roles.tiers[tier].remote
    written = remotes.track(repo, paths, remote)
    typer.echo(
        f"storage add: {', '.join(paths)} -> tier '{tier}' (remote '{remote}') in {', '.join(written)}; "
        f"commit it and the .gitignore beside it with git, then `strata storage push --tier {tier}`"
    )


def _transfer(verb: str, tier: str, repo: Path, jobs: int) -> None:
    from strata.storage import remotes

    roles = _roles_for(repo)
    names = list(roles.tiers) if tier == "all" else [tier]
    for name in names:
        if name not in roles.tiers:
            raise ConfigError(f"unknown tier '{name}' (tiers: {', '.join(roles.tiers)}, all)")
    role = _role_label(repo, roles)
    for name in names:
        tier_ = roles.tiers[name]
        line = remotes.transfer(verb, repo, tier_, who=role, endpoint=_endpoint(repo, tier_), jobs=jobs)
        typer.echo(line)


def _roles_for(repo: Path) -> Roles:
    state = State.load(repo)
    return load_roles(Path(state.roles_file) if state else repo / DEFAULT_ROLES)


def _role_label(repo: Path, roles: Roles) -> str:
    """Who is pushing, for messages: "role 'reviewer'", "unknown key AKIA1234..." or the AWS identity."""
    state = State.load(repo)
    role = current_role(repo, roles) if state is not None else os.environ.get("STRATA_ROLE", "")
    if role in roles.grants:
        return f"role '{role}'"
    return role or "the current AWS identity"


def _endpoint(repo: Path, tier: Tier) -> str:
    from configobj import ConfigObj

    path = repo / CONFIG_LOCAL
    section: Any = ConfigObj(str(path)).get(f'remote "{tier.remote}"', {}) if path.exists() else {}
    return str(section.get("endpointurl", "")) or os.environ.get("AWS_ENDPOINT_URL", "") or "AWS S3"


COMMANDS: dict[str, Callable[..., Any]] = {
    "up": up,
    "down": down,
    "use": use,
    "status": status,
    "policies": policies,
    "push": push,
    "pull": pull,
    "add": add,
}

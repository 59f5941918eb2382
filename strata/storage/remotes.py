"""`dvc push/pull` of one storage tier, with DVC's failures turned into one-line domain errors.

`dvc push -r shared` alone would also send every output that names no `remote:` to `shared`, so the
tier's outputs are passed as explicit targets and an output without a tier is refused. The failure is
read from dvc's exit code and its stderr (the S3 error code it prints), never from a broad except.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from strata.errors import AccessDenied, ConfigError, StorageError, StrataError
from strata.storage.roles import Tier

DENIED = re.compile(r"AccessDenied|Access Denied|\(403\)|Forbidden|InvalidAccessKeyId|SignatureDoesNotMatch")
REJECTED_KEY = re.compile(r"InvalidAccessKeyId|SignatureDoesNotMatch")
NO_CREDENTIALS = re.compile(r"Unable to locate credentials|NoCredentialsError")
UNREACHABLE = re.compile(
    r"Could not connect to the endpoint URL|Cannot connect to host|Connection refused|Connect timeout"
)
MISSING_CACHE = re.compile(
    r"do not exist neither locally nor on remote\. Missing cache files:\s*\n(?:\S+: )?(\S+)"
)
NO_BUCKET = re.compile(r"NoSuchBucket|specified bucket does not exist")


def tier_outputs(repo: Path) -> dict[str, list[str]]:
    """Cached DVC outputs (dvc.yaml and .dvc files) by the remote they name, paths relative to the repo."""
    from dvc.repo import Repo

    by_remote: dict[str, list[str]] = {}
    untiered: list[tuple[str, str]] = []
    with Repo(str(repo)) as dvc_repo:
        for out in dvc_repo.index.outs:
            if not out.use_cache:
                continue
            rel = os.path.relpath(out.fs_path, dvc_repo.root_dir)
            if out.remote:
                by_remote.setdefault(out.remote, []).append(rel)
            else:
                untiered.append((rel, out.stage.path_in_repo))
    if untiered:
        raise ConfigError(untiered_message(*sorted(untiered)[0]))
    return {remote: sorted(paths) for remote, paths in by_remote.items()}


def untiered_message(out: str, dvcfile: str) -> str:
    if dvcfile.endswith(".dvc"):  # `dvc add`-ed data: tier it where it is
        return (
            f"output '{out}' ({dvcfile}) names no storage tier: track it with"
            f" `strata storage add {out} --tier raw` (or add `remote: raw` to its out in {dvcfile})"
        )
    return f"output '{out}' ({dvcfile}) names no storage tier: add `remote: raw|shared` to it in {dvcfile}"


def track(repo: Path, paths: list[str], remote: str) -> list[str]:
    """`dvc add` each path and record ``remote`` in its .dvc file, so push/pull send it to that tier only.

    Adding again a path that is already tracked re-hashes it and sets the remote: the fix for data that was
    `dvc add`-ed without a tier."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    written = []
    try:
        with Repo(str(repo)) as dvc_repo:
            for stage in dvc_repo.add([str(repo / p) for p in paths]):
                for out in stage.outs:
                    out.remote = remote
                stage.dump()
                written.append(stage.path_in_repo)
    except DvcException as exc:
        raise StorageError(f"dvc add {' '.join(paths)}: {' '.join(str(exc).split())}") from exc
    return written


def transfer(
    verb: str,
    repo: Path,
    tier: Tier,
    *,
    who: str,
    endpoint: str,
    jobs: int = 4,
    targets: list[str] | None = None,
) -> str:
    """Run `dvc VERB -r REMOTE <the tier's outputs>`; return a one-line summary or raise the domain error.

    ``targets`` narrows it to some of the tier's outputs (the model registry publishes one version's files).
    """
    outputs = tier_outputs(repo).get(tier.remote, [])
    if targets is not None:
        stray = sorted(set(targets) - set(outputs))
        if stray:
            raise ConfigError(f"'{stray[0]}' is not an output on tier '{tier.name}' (remote '{tier.remote}')")
    targets = outputs if targets is None else targets
    if not targets:
        return f"{verb} {tier.name}: no outputs name remote '{tier.remote}', nothing to do"
    argv = [sys.executable, "-m", "dvc", verb, "-r", tier.remote, "-j", str(jobs), *targets]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=repo, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = proc.stderr + proc.stdout
        raise translate(verb, tier, who=who, endpoint=endpoint, returncode=proc.returncode, output=output)
    if missing := MISSING_CACHE.search(proc.stderr):  # dvc only warns and exits 0
        raise StorageError(
            f"{verb} of tier '{tier.name}' ({tier.url}) is incomplete: {missing[1]} is in neither the local"
            f" cache nor the remote; rebuild it (dvc repro) or pull it with a role that may read the tier"
        )
    outcome = (proc.stdout.strip().splitlines() or ["done"])[-1]
    seconds = time.monotonic() - started
    return f"{verb} {tier.name} ({tier.url}) as {who}: {len(targets)} outputs, {outcome} in {seconds:.1f}s"


def translate(verb: str, tier: Tier, *, who: str, endpoint: str, returncode: int, output: str) -> StrataError:
    """The domain error for a failed `dvc push/pull` from its exit code and captured output.

    ``who`` names the identity for the message: "role 'reviewer'", or "unknown key AKIA1234...".
    """
    action = "write" if verb == "push" else "read"
    where = f"tier '{tier.name}' ({tier.url})"
    if UNREACHABLE.search(output):
        return StorageError(
            f"endpoint {endpoint} is unreachable, {verb} of {where} did not complete; the local DVC cache is"
            f" intact: start the endpoint (strata storage up --port N, then storage use ROLE) and retry"
            f" `strata storage {verb} --tier {tier.name}`"
        )
    if NO_CREDENTIALS.search(output):
        return AccessDenied(
            f"no credentials to {action} {where}: run `strata storage use ROLE` or set AWS keys"
        )
    if rejected := REJECTED_KEY.search(output):
        return AccessDenied(f"the key of {who} was rejected by {endpoint} for {where}: {rejected[0]}")
    if DENIED.search(output):
        return AccessDenied(f"{who} may not {action} {where}: AccessDenied")
    if NO_BUCKET.search(output):
        return StorageError(f"bucket '{tier.bucket}' of {where} does not exist at {endpoint}")
    errors = [line for line in output.splitlines() if line.startswith("ERROR")] or output.strip().splitlines()
    detail = errors[-1] if errors else "no output"
    return StorageError(f"dvc {verb} -r {tier.remote} failed (exit {returncode}) for {where}: {detail}")

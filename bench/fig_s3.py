"""S3 requests per datum, counted on a loopback S3 server (moto, every request logged): `dvc repro validate`
ingesting N objects of an `s3` source, a rerun of ingest with nothing new (listing only, thanks to the hash
cache), and `dvc push` of the outputs to the two tiers. Used by fig_paper for the cost of requests."""

from __future__ import annotations

import collections
import os
import re
from pathlib import Path

import yaml
from common import BIN, STRATA, copy_project, environment, git_project, run

LINE = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP')


def _count(log: Path, start: int) -> collections.Counter[str]:
    """Requests logged after byte ``start``, by kind: list, get, head, put (PUT or multipart POST)."""
    counts: collections.Counter[str] = collections.Counter()
    for method, path in LINE.findall(log.read_bytes()[start:].decode(errors="replace")):
        if method == "GET":
            counts["list" if "list-type" in path or path.rstrip("/").count("/") <= 1 else "get"] += 1
        else:
            counts[{"HEAD": "head", "DELETE": "delete"}.get(method, "put")] += 1
    return counts


def s3_requests(work: Path, csvs: list[Path]) -> dict[str, dict[str, float]]:
    """Requests per datum for each phase, over len(csvs) delivered objects."""
    from strata.storage import s3server

    port = s3server.free_port()
    log = work / "s3" / "moto.log"
    pid = s3server.start_server(port, no_auth_count=10**9, log_path=log)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = s3server.client("s3", endpoint)
        for bucket in ("landing", "strata-raw", "strata-shared"):
            s3.create_bucket(Bucket=bucket)
        for path in csvs:
            s3.upload_file(str(path), "landing", f"acme/{path.name}")
        dest = copy_project(work / "s3" / "project")
        env = {**environment(dest), "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
        env["AWS_DEFAULT_REGION"] = s3server.REGION
        params = yaml.safe_load((dest / "params.yaml").read_text())
        params["simulate"]["days"] = 0
        params["ingest"]["sources"] = [
            {"name": "acme", "kind": "s3", "url": "s3://landing/acme", "endpoint_url": endpoint}
        ]
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        local = "".join(f"['remote \"{r}\"']\n    endpointurl = {endpoint}\n" for r in ("raw", "shared"))
        (dest / ".dvc" / "config.local").write_text(local)
        git_project(dest, env)
        phases = {}
        start = log.stat().st_size
        run([str(BIN / "dvc"), "repro", "validate"], env, dest)
        phases["ingest+validate"], start = _count(log, start), log.stat().st_size
        cmd = ["ingest", "--params", "params.yaml", "--landing", "data/landing", "--out", "data/partitions"]
        run([STRATA, *cmd, "--hash-cache", ".strata/ingest-hashes.json"], env, dest)
        phases["ingest, nothing new"], start = _count(log, start), log.stat().st_size
        run([str(BIN / "dvc"), "push"], env, dest)
        phases["dvc push"] = _count(log, start)
    finally:
        s3server.stop_server(pid)
    n = len(csvs)
    return {phase: {k: v / n for k, v in sorted(c.items())} for phase, c in phases.items()}


if __name__ == "__main__":
    import sys

    import gen

    folder = Path(sys.argv[1])
    print(s3_requests(folder, gen.write_batches(folder / "csv", int(sys.argv[2]), 1000)), os.getpid())

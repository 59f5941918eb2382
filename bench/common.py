"""What every figure shares: running a stage as its own process (wall time, the child's peak RSS),
interleaved repetitions, the results table, and a snapshot of the project to run the stages from."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import gen
import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

BIN = Path(sys.executable).parent
STRATA = str(BIN / "strata")
MB = 1 << 20


# ------------------------------------------------------------------------------------------- processes


@dataclasses.dataclass
class Run:
    wall: float  # seconds, whole process
    rss: int  # bytes, the child's peak resident set (ru_maxrss)
    out: str


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> Run:
    """Run ``cmd`` to completion; wall time and the child's own peak RSS (not its children's)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}\n{text[-2000:]}\n{errors[-2000:]}")
    return Run(wall, usage.ru_maxrss * 1024, text)


def med(runs: list[Run]) -> float:
    return statistics.median(r.wall for r in runs)


def peak(runs: list[Run]) -> int:
    return max(r.rss for r in runs)


def interleave(reps: int, jobs: dict[str, object]) -> dict[str, list[Run]]:
    """Run each job ``reps`` times, rotating the order every repetition."""
    names = list(jobs)
    results: dict[str, list[Run]] = {n: [] for n in names}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(jobs[name](rep))  # type: ignore[operator]
    return results


# ------------------------------------------------------------------------------------------- results


@dataclasses.dataclass
class Figure:
    figure: str
    a_label: str
    a: str
    b_label: str
    b: str
    ratio: float
    goal: str
    passed: bool
    note: str = ""


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds / 1e6:.2f} M rows/s ({seconds:.1f}s)"


def mib(value: int) -> str:
    return f"{value / MB:.0f} MiB"


def table(figures: list[Figure]) -> str:
    head = ("figure", "measured A", "measured B", "ratio", "goal", "")
    rows = [head] + [
        (
            f.figure,
            f"{f.a_label}: {f.a}",
            f"{f.b_label}: {f.b}",
            f"{f.ratio:.3f}",
            f.goal,
            "PASS" if f.passed else "MISS",
        )
        for f in figures
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    notes = [f"  {f.figure}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["notes:", *notes] if notes else []))


# ------------------------------------------------------------------------------------------- setup


def project_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [f for f in out.split("\0") if f and not f.startswith(("data/", "models/", "eval/", "bench/"))]


def copy_project(dest: Path) -> Path:
    for rel in project_files():
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def environment(code: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(code),
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "strata-bench",
        "GIT_AUTHOR_EMAIL": "bench@strata.local",
        "GIT_COMMITTER_NAME": "strata-bench",
        "GIT_COMMITTER_EMAIL": "bench@strata.local",
    }


def bench_params(dest: Path, landing: str, base: Path, **executor: object) -> Path:
    """params.yaml of the project with one `files` source `acme` reading <landing>/acme (and the
    `executor` keys given, e.g. kind="dask", workers=2)."""
    params = yaml.safe_load((base / "params.yaml").read_text())
    params["ingest"]["landing"] = landing
    params["ingest"]["sources"] = [{"name": "acme", "kind": "files", "path": "acme"}]
    params["executor"] = {**params.get("executor", {}), **executor}
    dest.write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


def tree_hashes(path: Path) -> dict[str, str]:
    """Every file under ``path``: relative name -> sha256 (to compare outputs byte for byte)."""
    import hashlib

    return {
        p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def link_landing(folder: Path, files: list[Path]) -> Path:
    """A landing folder whose source `acme` holds hard links to ``files`` (no copy of the bytes)."""
    (folder / "acme").mkdir(parents=True, exist_ok=True)
    for path in files:
        target = folder / "acme" / path.name
        if not target.exists():
            os.link(path, target)
    return folder


def _gen_one(args: tuple[str, int, int]) -> str:
    folder, index, rows = args
    return str(gen.write_batches(Path(folder), 1, rows, seed=1, start=index)[0])


def generate(folder: Path, files: int, rows: int, start: int = 0) -> list[Path]:
    """CSV batches on both cores (each process bounded by one chunk)."""
    jobs = [(str(folder), i, rows) for i in range(start, start + files)]
    with ProcessPoolExecutor(2) as pool:
        return [Path(p) for p in pool.map(_gen_one, jobs)]


class Stages:
    """`strata ingest` / `strata validate` as processes, with fresh outputs under ``work``."""

    def __init__(self, work: Path, env: dict[str, str], params: Path) -> None:
        self.work, self.env, self.params = work, env, params

    def ingest(self, landing: Path, out: Path) -> Run:
        shutil.rmtree(out, ignore_errors=True)
        cache = out.with_name(out.name + ".hashes.json")
        cache.unlink(missing_ok=True)
        cmd = [STRATA, "ingest", "--params", str(self.params), "--landing", str(landing), "--out", str(out)]
        return run([*cmd, "--hash-cache", str(cache)], self.env)

    def validate(self, partitions: Path, out: Path) -> Run:
        shutil.rmtree(out, ignore_errors=True)
        cmd = [STRATA, "validate", "--params", str(self.params), "--partitions", str(partitions)]
        return run([*cmd, "--clean", str(out / "clean"), "--quarantine", str(out / "quarantine")], self.env)


def validate_counts(out: Path) -> dict[str, int]:
    entries = json.loads((out / "clean" / "manifest.json").read_text())["datums"].values()
    return {k: sum(e[k] for e in entries) for k in ("rows_in", "clean", "quarantined", "duplicates")}


def git_project(dest: Path, env: dict[str, str], ignore: str = "") -> None:
    if ignore:
        with (dest / ".gitignore").open("a") as handle:
            handle.write(f"\n{ignore}\n")
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "bench"]):
        run(cmd, env, dest)

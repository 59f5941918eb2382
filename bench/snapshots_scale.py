"""Figure: `strata snapshots list` and `strata snapshots diff` at scale (issue 8 item 6).

    .venv/bin/python bench/snapshots_scale.py                       100 vs 10,000 partitions per revision
    .venv/bin/python bench/snapshots_scale.py --large 2000 --reps 1 quick look
    bench/run.py: `from snapshots_scale import fig_snapshots; figures += fig_snapshots(work, reps, quick)`
    options: --small N --large N --reps N --keep --workdir DIR --out results.json

Two synthetic git + DVC repositories, one with ``--small`` and one with ``--large`` partitions per revision,
each with two tagged revisions (v2 adds 1% more partitions and changes the metrics). Their dvc.yaml has the
project's stage commands and paths, but nothing is run: the outputs are written here (one tiny distinct
Parquet file per partition, in data/partitions and in data/clean, plus both manifests, a model and metrics)
and recorded with `dvc commit`. Then `strata snapshots list --rev v1 --rev v2` and `strata snapshots diff
v1 v2` run as whole processes, side by side, interleaved, medians of ``--reps`` after one untimed warm-up
(DVC builds its index caches then). The figure is the ratio large/small and the seconds per 1,000
partitions; the goal is seconds at 10,000 partitions and no worse than linear growth.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent
SOURCES = ("acme", "birch", "cedar", "delta")
GOAL_SECONDS = 10.0  # each verb at the large size

DVC_YAML = """stages:
  ingest:
    cmd: strata ingest --params params.yaml --landing data/landing --out data/partitions
    outs:
      - data/partitions
  validate:
    cmd: strata validate --params params.yaml --partitions data/partitions --clean data/clean
      --quarantine data/quarantine
    deps:
      - data/partitions
    outs:
      - data/clean
      - data/quarantine
  train:
    cmd: strata train --params params.yaml --clean data/clean --model models/model.skops
      --card models/card.json
    deps:
      - data/clean
    outs:
      - models/model.skops
      - models/card.json
  evaluate:
    cmd: strata evaluate --params params.yaml --model models/model.skops --metrics eval/metrics.json
      --plots eval/plots
    deps:
      - models/model.skops
    metrics:
      - eval/metrics.json
    outs:
      - eval/plots
"""


def environment() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@strata.local",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@strata.local",
        "COLUMNS": "100",
    }


def sh(cwd: Path, *cmd: str) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=environment(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def write_partitions(root: Path, start: int, count: int) -> None:
    """``count`` more datums: a raw partition and its clean file each, distinct bytes, both manifests."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifests = {}
    for folder in ("partitions", "clean"):
        path = root / "data" / folder / "manifest.json"
        manifests[folder] = json.loads(path.read_text())["datums"] if path.exists() else {}
    for i in range(start, start + count):
        source = SOURCES[i % len(SOURCES)]
        datum = f"{source}/{i:016x}"
        rows = 20 + i % 7
        raw = pa.table(
            {"event_id": [f"e{i}-{r}" for r in range(rows)], "weight": [str(r) for r in range(rows)]}
        )
        clean = pa.table({"event_id": raw["event_id"], "weight": pa.array(range(rows), pa.float64())})
        for folder, table in (("partitions", raw), ("clean", clean)):
            target = root / "data" / folder / f"{datum}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, target)
        manifests["partitions"][datum] = {
            "source": source,
            "batches": [f"{i}.csv"],
            "sha256": f"{i:064x}",
            "rows": rows,
            "columns": ["event_id", "weight"],
        }
        manifests["clean"][datum] = {
            "source": source,
            "batches": [f"{i}.csv"],
            "input": f"{i:064x}",
            "rows_in": rows,
            "clean": rows - 1,
            "quarantined": 1,
            "duplicates": 0,
            "reasons": {"out of range in 'weight'": 1},
        }
    for folder, entries in manifests.items():
        text = json.dumps({"version": 1, "datums": dict(sorted(entries.items()))})
        (root / "data" / folder / "manifest.json").write_text(text)


def release(root: Path, tag: str, accuracy: float) -> None:
    (root / "models").mkdir(exist_ok=True)
    (root / "models/model.skops").write_text(f"model {tag}")
    (root / "models/card.json").write_text(json.dumps({"tag": tag}))
    (root / "eval/plots").mkdir(parents=True, exist_ok=True)
    (root / "eval/plots/roc.csv").write_text(f"fpr,tpr\n0,{accuracy}\n")
    (root / "eval/metrics.json").write_text(json.dumps({"accuracy": accuracy, "macro_f1": accuracy - 0.05}))
    (root / "params.yaml").write_text(f"gate:\n  max_drop: {{accuracy: 0.01}}\ntrain: {{tag: {tag}}}\n")
    sh(root, "dvc", "commit", "-f", "-q")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", tag)
    sh(root, "git", "tag", tag)


def build(root: Path, partitions: int) -> None:
    """A git + DVC repo with v1 (``partitions`` datums) and v2 (1% more, new metrics)."""
    root.mkdir(parents=True)
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "dvc", "init", "-q")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "data/quarantine").mkdir(parents=True)
    (root / "data/quarantine/.keep").write_text("")
    write_partitions(root, 0, partitions)
    release(root, "v1", 0.90)
    write_partitions(root, partitions, max(1, partitions // 100))
    release(root, "v2", 0.91)


def timed(root: Path, args: list[str]) -> float:
    started = time.perf_counter()
    sh(root, str(BIN / "strata"), *args)
    return time.perf_counter() - started


VERBS = {
    "list": ["snapshots", "list", "--rev", "v1", "--rev", "v2"],
    "diff": ["snapshots", "diff", "v1", "v2"],
}


def measure(work: Path, small: int, large: int, reps: int) -> dict[str, dict[str, float]]:
    """Median seconds of each verb at both sizes, interleaved; the ratio and seconds per 1,000 partitions."""
    repos = {small: work / f"p{small}", large: work / f"p{large}"}
    for size, root in repos.items():
        started = time.perf_counter()
        build(root, size)
        print(f"built {size} partitions x 2 revisions in {time.perf_counter() - started:.0f} s", flush=True)
    times: dict[tuple[str, int], list[float]] = {(v, s): [] for v in VERBS for s in repos}
    for args in VERBS.values():
        for root in repos.values():
            timed(root, args)  # warm-up: DVC builds its index caches (site cache dir) on the first read
    for rep in range(reps):
        order = list(repos.items()) if rep % 2 == 0 else list(reversed(repos.items()))
        for verb, args in VERBS.items():
            for size, root in order:
                times[(verb, size)].append(timed(root, args))
    result = {}
    for verb in VERBS:
        a, b = statistics.median(times[(verb, small)]), statistics.median(times[(verb, large)])
        result[verb] = {
            f"seconds_{small}": round(a, 2),
            f"seconds_{large}": round(b, 2),
            "ratio": round(b / a, 2),
            "seconds_per_1000_partitions": round((b - a) / (large - small) * 1000, 3),
        }
    return result


def report(result: dict[str, dict[str, float]], small: int, large: int) -> str:
    lines = [
        f"| verb | {small:,} partitions | {large:,} partitions | ratio ({large // small}x data) "
        f"| s per 1,000 partitions | goal: <= {GOAL_SECONDS:.0f} s and <= {large // small}x |",
        "|---|---|---|---|---|---|",
    ]
    for verb, r in result.items():
        big = r[f"seconds_{large}"]
        verdict = "PASS" if big <= GOAL_SECONDS and r["ratio"] <= large / small else "MISS"
        lines.append(
            f"| `strata snapshots {verb}` | {r[f'seconds_{small}']:.2f} s | {big:.2f} s | {r['ratio']:.2f}x "
            f"| {r['seconds_per_1000_partitions']:.3f} | {verdict} |"
        )
    return "\n".join(lines)


def fig_snapshots(work: Path, reps: int, quick: bool) -> list[Any]:
    """The figure for bench/run.py (common.Figure rows): list and diff, large vs small."""
    sys.path.insert(0, str(BENCH))
    from common import Figure

    small, large = (100, 2_000) if quick else (100, 10_000)
    folder = work / "f10-snapshots"
    folder.mkdir(parents=True, exist_ok=True)
    result = measure(folder, small, large, reps)
    figures = []
    for letter, (verb, r) in zip("ab", result.items(), strict=True):
        a, b = r[f"seconds_{large}"], r[f"seconds_{small}"]
        figures.append(
            Figure(
                f"10{letter} snapshots {verb}: {large:,} vs {small:,} partitions per revision",
                f"{large:,}",
                f"{a:.2f}s",
                f"{small:,}",
                f"{b:.2f}s",
                r["ratio"],
                f"<= {large // small} and <= {GOAL_SECONDS:.0f}s",
                r["ratio"] <= large / small and a <= GOAL_SECONDS,
                f"{r['seconds_per_1000_partitions']:.3f}s per 1,000 partitions; 2 revisions, +1% at head; "
                f"median of {reps} interleaved after a warm-up",
            )
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100, help="partitions per revision, small repo")
    parser.add_argument("--large", type=int, default=10_000, help="partitions per revision, large repo")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions per verb and size")
    parser.add_argument("--workdir", type=Path, help="where to build the repos (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the repos")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="strata-snapshots-", dir=opts.workdir))
    try:
        result = measure(work, opts.small, opts.large, opts.reps)
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(report(result, opts.small, opts.large))
    if opts.out:
        opts.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

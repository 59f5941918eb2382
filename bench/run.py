"""strata benchmark: incremental datums, bounded memory (issue 3), scale-out on the executor (issue 12)
and reviewer verbs at 10,000 partitions (issue 8), as ratios measured side by side.
One module per figure (bench/fig_*.py); this is the runner.

    .venv/bin/python bench/run.py            full run (~20 min on 2 cores); `make bench`
    .venv/bin/python bench/run.py --quick    smoke run, a few minutes
    options: --rows-per-file N --files-small K --files-big N --dvc-batches N --dvc-batch-rows N --reps N
             --tiny-datums N --s3-batches N --no-single --only 1,2,...,10 --out results.json --keep
             --workdir DIR

Every stage runs as its own process through the real CLI (`.venv/bin/strata ...`), on a snapshot of the
project taken at start (PYTHONPATH points at it), so a tree being edited meanwhile does not change the
code under test half-way. Peak memory is the child's own ru_maxrss (os.wait4), so implementations never
pollute each other. Pairs are interleaved (order alternates each repetition) and medians compared. See
bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import gen
from common import Figure, Stages, bench_params, copy_project, environment, generate, link_landing, table
from fig_executor import fig_executor
from fig_incremental import fig_incremental
from fig_ingest import fig_ingest
from fig_memory import fig_scale
from fig_noop import fig_noop
from fig_overhead import fig_overhead
from fig_paper import table as paper_table
from fig_s3 import s3_requests
from snapshots_scale import fig_snapshots

QUICK = {
    "rows_per_file": 100_000,
    "files_small": 2,
    "files_big": 5,
    "dvc_batches": 11,
    "dvc_batch_rows": 5_000,
    "reps": 1,
    "tiny_datums": 1_000,
    "s3_batches": 5,
}
FULL = {
    "rows_per_file": 1_000_000,
    "files_small": 4,
    "files_big": 20,
    "dvc_batches": 51,
    "dvc_batch_rows": 100_000,
    "reps": 3,
    "tiny_datums": 10_000,
    "s3_batches": 20,
}


def options() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument(
        "--rows-per-file", type=int, help="rows per CSV batch, figures 1-4 and 7 (default 1,000,000)"
    )
    ap.add_argument("--files-small", type=int, help="batches used by figures 1-3 (default 4)")
    ap.add_argument(
        "--files-big", type=int, help="batches of the large history, figures 4 and 7 (default 20)"
    )
    ap.add_argument("--no-single", action="store_true", help="skip figure 4b (one big batch)")
    ap.add_argument("--dvc-batches", type=int, help="batches of figure 5 (default 51)")
    ap.add_argument("--dvc-batch-rows", type=int, help="rows per batch of figure 5 (default 100,000)")
    ap.add_argument("--reps", type=int, help="repetitions of each interleaved pair (default 3)")
    ap.add_argument("--tiny-datums", type=int, help="datums of figure 8 (default 10,000)")
    ap.add_argument("--s3-batches", type=int, help="objects of the S3 request count, figure 9 (default 20)")
    ap.add_argument("--only", default="1,2,3,4,5,6,7,8,9,10", help="figures to run, e.g. 1,2,5")
    ap.add_argument("--out", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--workdir", type=Path, help="parent of the temp dir (default /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.quick:
        args.no_single = True
    return args


def batch_figures(
    args: argparse.Namespace, only: set[int], st: Stages, snap: Path, measured: dict
) -> list[Figure]:
    """Figures 1-4 and 7, on generated CSV batches of --rows-per-file rows."""
    figures: list[Figure] = []
    work, rpf = st.work, args.rows_per_file
    t = time.perf_counter()
    need = args.files_big if only & {4, 7} else args.files_small
    csvs = generate(work / "csv", need, rpf)
    print(f"generated {need} CSV batches x {rpf:,} rows in {time.perf_counter() - t:.0f}s", flush=True)
    small = link_landing(work / "landing-small", csvs[: args.files_small])
    parts = work / "parts-small"
    if only & {1, 2, 3}:
        figures += fig_ingest(st, small, csvs[: args.files_small], rpf * args.files_small, args.reps, parts)
        if 3 not in only:
            figures.pop()
        print(table(figures), flush=True)
    if only & {1, 2}:
        from fig_validate import fig_validate

        figures += fig_validate(st, parts, rpf * args.files_small, args.reps)
        print(table(figures), flush=True)
    if 4 in only:
        one = link_landing(work / "landing-one", csvs[:1])
        many = link_landing(work / "landing-many", csvs[: args.files_big])
        single = None
        if not args.no_single:
            single = work / "landing-single"
            (single / "acme").mkdir(parents=True)
            gen.concat_csv(csvs[: args.files_big], single / "acme" / "all.csv")
        figures += fig_scale(st, one, many, single, rpf, rpf * args.files_big)
        print(table(figures), flush=True)
        shutil.rmtree(work / "landing-single", ignore_errors=True)
    if 7 in only:
        found, measured["executor"] = fig_executor(
            st, snap, csvs[: args.files_big], rpf * args.files_big, args.reps
        )
        figures += found
        print(table(figures), flush=True)
    shutil.rmtree(work / "csv", ignore_errors=True)
    return figures


def main() -> None:
    args = options()
    only = {int(x) for x in args.only.split(",")}
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="strata-bench-", dir=args.workdir))
    figures: list[Figure] = []
    measured: dict = {}
    try:
        snap = copy_project(work / "snapshot")
        env = environment(snap)
        st = Stages(work, env, bench_params(work / "params.yaml", "landing", snap))
        if only & {1, 2, 3, 4, 7}:
            figures += batch_figures(args, only, st, snap, measured)
        if 5 in only:
            batches = generate(work / "dvc-csv", args.dvc_batches, args.dvc_batch_rows)
            figures += fig_incremental(work, snap, batches, args.reps)
            print(table(figures), flush=True)
        if 6 in only:
            figures += fig_noop(work, 3 if args.quick else 7, args.quick)
        if 8 in only:
            found, measured["overhead"] = fig_overhead(env, args.tiny_datums)
            figures += found
            print(table(figures), flush=True)
        if 9 in only:
            os.environ["PYTHONPATH"] = str(snap)  # s3_requests imports strata.storage from the snapshot
            measured["s3"] = s3_requests(work, gen.write_batches(work / "s3-csv", args.s3_batches, 10_000))
        if 10 in only:
            figures += fig_snapshots(work, args.reps, args.quick)
            print(table(figures), flush=True)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - started
    kind = "quick" if args.quick else "full"
    print(f"\nstrata bench ({kind}), {total / 60:.1f} min on {os.cpu_count()} cores\n")
    print(table(figures))
    if "s3" in measured:
        print("\nS3 requests per datum:", json.dumps(measured["s3"]))
    if {"executor", "overhead", "s3"} <= set(measured):
        print("\nscale on paper (bench/fig_paper.py):\n")
        print(paper_table({**measured["executor"], **measured["overhead"]}, measured["s3"]))
    if args.out:
        payload = {
            "seconds": round(total, 1),
            "quick": args.quick,
            "figures": [dataclasses.asdict(f) for f in figures],
            "measured": measured,
        }
        args.out.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()

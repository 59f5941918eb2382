"""strata benchmark (issue 3): incremental datums and bounded memory, as ratios measured side by side.

    .venv/bin/python bench/run.py            full run (~10 min on 2 cores); `make bench`
    .venv/bin/python bench/run.py --quick    smoke run, < 1 minute
    options: --rows-per-file N --files-small K --files-big N --dvc-batches N --dvc-batch-rows N --reps N
             --no-single --only 1,2,3,4,5,6 --out results.json --keep --workdir DIR

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
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import gen  # noqa: E402

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


def bench_params(dest: Path, landing: str, base: Path) -> Path:
    """params.yaml of the project with one `files` source `acme` reading <landing>/acme."""
    params = yaml.safe_load((base / "params.yaml").read_text())
    params["ingest"]["landing"] = landing
    params["ingest"]["sources"] = [{"name": "acme", "kind": "files", "path": "acme"}]
    dest.write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


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


# ------------------------------------------------------------------------------------------- figures 1-4


def fig_ingest(
    st: Stages, landing: Path, csvs: list[Path], rows: int, reps: int, parts: Path
) -> list[Figure]:
    jobs = {
        "ingest": lambda rep: st.ingest(landing, parts),
        "read_csv": lambda rep: run(
            [sys.executable, str(BENCH / "floors.py"), "read_csv", *map(str, csvs)], st.env
        ),
    }
    res = interleave(reps, jobs)
    a, b = med(res["ingest"]), med(res["read_csv"])
    return [
        Figure(
            "3 ingest CSV vs pandas.read_csv",
            "ingest",
            rate(rows, a),
            "read_csv",
            rate(rows, b),
            b / a,
            ">= 1",
            b / a >= 1,
            f"{len(csvs)} CSV files x {rows // len(csvs):,} rows; peak RSS ingest "
            f"{mib(peak(res['ingest']))}, read_csv {mib(peak(res['read_csv']))} (read_csv holds a whole "
            f"file; ingest streams 8 MiB blocks: figure 4 shows it does not grow)",
        )
    ]


def fig_validate(st: Stages, parts: Path, rows: int, reps: int) -> list[Figure]:
    files = sorted(str(p) for p in parts.rglob("*.parquet"))
    params = str(st.params)
    jobs = {
        "scan": lambda rep: run([sys.executable, str(BENCH / "floors.py"), "scan", *files], st.env),
        "validate": lambda rep: st.validate(parts, st.work / "validate-out"),
        "pandas": lambda rep: run(
            [
                sys.executable,
                str(BENCH / "pandas_baseline.py"),
                params,
                str(parts),
                str(st.work / "pandas-out"),
            ],
            st.env,
        ),
    }
    res = interleave(reps, jobs)
    scan, val, pdt = med(res["scan"]), med(res["validate"]), med(res["pandas"])
    ours, theirs = validate_counts(st.work / "validate-out"), json.loads(res["pandas"][-1].out.strip())
    same = "same" if ours == theirs else f"DIFFERENT: validate {ours} vs pandas {theirs}"
    v_rss, p_rss, s_rss = peak(res["validate"]), peak(res["pandas"]), peak(res["scan"])
    where = f"{len(files)} partitions, {rows:,} rows"
    return [
        Figure(
            "1 validate vs raw pyarrow scan",
            "validate",
            rate(rows, val),
            "scan",
            rate(rows, scan),
            scan / val,
            ">= 0.5",
            scan / val >= 0.5,
            f"{where}; scan peak RSS {mib(s_rss)}",
        ),
        Figure(
            "2a validate vs pandas read-all (speed)",
            "validate",
            rate(rows, val),
            "pandas",
            rate(rows, pdt),
            pdt / val,
            ">= 1",
            pdt / val >= 1,
            f"{where}; row accounting of the two: {same} ({ours})",
        ),
        Figure(
            "2b validate vs pandas read-all (peak RSS)",
            "validate",
            mib(v_rss),
            "pandas",
            mib(p_rss),
            v_rss / p_rss,
            "<= 0.25",
            v_rss / p_rss <= 0.25,
            "peak RSS of each process, measured alone",
        ),
    ]


def fig_scale(
    st: Stages, small: Path, big: Path, single: Path | None, rows_small: int, rows_big: int
) -> list[Figure]:
    def both(landing: Path, tag: str) -> tuple[Run, Run]:
        ing = st.ingest(landing, st.work / f"scale-{tag}-parts")
        val = st.validate(st.work / f"scale-{tag}-parts", st.work / f"scale-{tag}-out")
        shutil.rmtree(st.work / f"scale-{tag}-out", ignore_errors=True)
        shutil.rmtree(st.work / f"scale-{tag}-parts", ignore_errors=True)
        return ing, val

    i1, v1 = both(small, "small")
    i20, v20 = both(big, "big")
    base, grown = max(i1.rss, v1.rss), max(i20.rss, v20.rss)
    nb = len(list((big / "acme").glob("*.csv")))
    figures = [
        Figure(
            "4 peak RSS ingest+validate, many batches",
            f"{rows_big / 1e6:g}M rows",
            mib(grown),
            f"{rows_small / 1e6:g}M rows",
            mib(base),
            grown / base,
            "<= 1.5",
            grown / base <= 1.5,
            f"layout: {nb} CSV batches x {rows_big // nb:,} rows vs 1 batch; ingest {mib(i20.rss)} vs "
            f"{mib(i1.rss)}, validate {mib(v20.rss)} vs {mib(v1.rss)}; wall ingest {i20.wall:.0f}s, "
            f"validate {v20.wall:.0f}s",
        )
    ]
    if single is not None:
        i_s, v_s = both(single, "single")
        one = max(i_s.rss, v_s.rss)
        figures.append(
            Figure(
                "4b peak RSS ingest+validate, one big batch",
                f"{rows_big / 1e6:g}M rows",
                mib(one),
                f"{rows_small / 1e6:g}M rows",
                mib(base),
                one / base,
                "<= 1.5 (info)",
                one / base <= 1.5,
                f"layout: one {rows_big:,}-row CSV; ingest {mib(i_s.rss)}, validate {mib(v_s.rss)} "
                f"(KeyDeduper keeps 8 B per distinct key of the datum: {rows_big * 8 / MB:.0f} MiB + a merge "
                f"copy); wall ingest {i_s.wall:.0f}s, validate {v_s.wall:.0f}s",
            )
        )
    return figures


# ------------------------------------------------------------------------------------------- figures 5-6


def git_project(dest: Path, env: dict[str, str], ignore: str = "") -> None:
    if ignore:
        with (dest / ".gitignore").open("a") as handle:
            handle.write(f"\n{ignore}\n")
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "bench"]):
        run(cmd, env, dest)


def fig_incremental(work: Path, snap: Path, batches: list[Path], reps: int) -> list[Figure]:
    """`dvc repro validate` after adding 1 batch to N-1 processed, vs all N from scratch."""

    def project(name: str, files: list[Path]) -> tuple[Path, dict[str, str]]:
        dest = copy_project(work / name)
        env = environment(dest)
        bench_params(dest / "params.yaml", "feed", dest)
        link_landing(dest / "feed", files)
        git_project(dest, env, "/feed/")
        return dest, env

    dvc = [str(BIN / "dvc"), "repro", "validate"]
    inc, inc_env = project("f5-incremental", batches[:-1])
    run(dvc, inc_env, inc)  # the N-1 batches already processed (untimed)
    noop = [run(dvc, inc_env, inc) for _ in range(2)]
    new = inc / "feed" / "acme" / batches[-1].name

    def scratch(rep: int) -> Run:
        dest, env = project(f"f5-scratch-{rep}", batches)
        try:
            return run(dvc, env, dest)
        finally:
            shutil.rmtree(dest, ignore_errors=True)

    def incremental(rep: int) -> Run:
        os.link(batches[-1], new)
        timed = run(dvc, inc_env, inc)
        new.unlink()
        run(dvc, inc_env, inc)  # back to N-1 batches (untimed)
        return timed

    res = interleave(reps, {"scratch": scratch, "incremental": incremental})
    a, b = med(res["incremental"]), med(res["scratch"])
    rows = sum(1 for _ in batches[0].open()) - 1
    return [
        Figure(
            "5 dvc repro: +1 batch vs all from scratch",
            "incremental",
            f"{a:.1f}s",
            "scratch",
            f"{b:.1f}s",
            a / b,
            "<= 0.15",
            a / b <= 0.15,
            f"`dvc repro validate` (ingest+validate) in a temp git+dvc copy; {len(batches)} CSV batches x "
            f"{rows:,} rows, 1 added to {len(batches) - 1} processed; no-op repro in the same state "
            f"{statistics.median(r.wall for r in noop):.1f}s (the fixed cost an added batch cannot avoid)",
        )
    ]


FLOOR_STAGE = "  s{i}:\n    cmd: echo {i} > out{i}.txt\n    deps: [{dep}]\n    outs: [out{i}.txt]\n"


def fig_noop(work: Path, reps: int, quick: bool) -> list[Figure]:
    dest = copy_project(work / "f6-pipeline")
    env = environment(dest)
    if quick:  # a smaller default feed and model: the no-op cost does not depend on their size
        params = yaml.safe_load((dest / "params.yaml").read_text())
        params["simulate"]["days"] = 3
        params["train"]["hyperparams"]["max_iter"] = 20
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git_project(dest, env)
    run([str(BIN / "dvc"), "repro"], env, dest)  # the whole pipeline once (untimed)
    stages = len(yaml.safe_load((dest / "dvc.yaml").read_text())["stages"])
    floor = work / "f6-floor"
    floor.mkdir()
    (floor / "in.txt").write_text("x\n")
    body = "".join(
        FLOOR_STAGE.format(i=i, dep="in.txt" if i == 0 else f"out{i - 1}.txt") for i in range(stages)
    )
    (floor / "dvc.yaml").write_text("stages:\n" + body)
    git_init = [["git", "init", "-q", "-b", "main"], [str(BIN / "dvc"), "init", "-q"]]
    for cmd in [
        *git_init,
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "floor"],
        [str(BIN / "dvc"), "repro"],
    ]:
        run(cmd, env, floor)
    repro = [str(BIN / "dvc"), "repro"]
    res = interleave(
        reps, {"pipeline": lambda r: run(repro, env, dest), "floor": lambda r: run(repro, env, floor)}
    )
    ran = [line for line in res["pipeline"][-1].out.splitlines() if line.startswith("Running stage")]
    a, b = med(res["pipeline"]), med(res["floor"])
    return [
        Figure(
            "6 no-op dvc repro vs DVC floor",
            "pipeline",
            f"{a:.2f}s",
            "floor",
            f"{b:.2f}s",
            a / b,
            "<= 1.5",
            a / b <= 1.5,
            f"whole pipeline ({stages} stages, default simulated feed) vs {stages} `echo` stages with one "
            f"small dep/out each; median of {reps} interleaved; "
            + (f"STAGES RAN: {ran}" if ran else "nothing ran"),
        )
    ]


# ------------------------------------------------------------------------------------------- main


def options() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run (< 1 minute)")
    ap.add_argument(
        "--rows-per-file", type=int, help="rows per CSV batch for figures 1-4 (default 1,000,000)"
    )
    ap.add_argument("--files-small", type=int, help="batches used by figures 1-3 (default 4)")
    ap.add_argument("--files-big", type=int, help="batches of the large history, figure 4 (default 20)")
    ap.add_argument("--no-single", action="store_true", help="skip figure 4b (one big batch)")
    ap.add_argument("--dvc-batches", type=int, help="batches of figure 5 (default 51)")
    ap.add_argument("--dvc-batch-rows", type=int, help="rows per batch of figure 5 (default 100,000)")
    ap.add_argument("--reps", type=int, help="repetitions of each interleaved pair (default 3)")
    ap.add_argument("--only", default="1,2,3,4,5,6", help="figures to run, e.g. 1,2,5")
    ap.add_argument("--out", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--workdir", type=Path, help="parent of the temp dir (default /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    quick = {
        "rows_per_file": 100_000,
        "files_small": 2,
        "files_big": 5,
        "dvc_batches": 11,
        "dvc_batch_rows": 5_000,
        "reps": 1,
    }
    full = {
        "rows_per_file": 1_000_000,
        "files_small": 4,
        "files_big": 20,
        "dvc_batches": 51,
        "dvc_batch_rows": 100_000,
        "reps": 3,
    }
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.quick:
        args.no_single = True
    return args


def main() -> None:
    args = options()
    only = {int(x) for x in args.only.split(",")}
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="strata-bench-", dir=args.workdir))
    figures: list[Figure] = []
    try:
        snap = copy_project(work / "snapshot")
        env = environment(snap)
        st = Stages(work, env, bench_params(work / "params.yaml", "landing", snap))
        rpf = args.rows_per_file
        if only & {1, 2, 3, 4}:
            t = time.perf_counter()
            need = args.files_big if 4 in only else args.files_small
            csvs = generate(work / "csv", need, rpf)
            print(
                f"generated {need} CSV batches x {rpf:,} rows in {time.perf_counter() - t:.0f}s", flush=True
            )
            small = link_landing(work / "landing-small", csvs[: args.files_small])
            parts = work / "parts-small"
            if 3 in only or only & {1, 2}:
                figures += fig_ingest(
                    st, small, csvs[: args.files_small], rpf * args.files_small, args.reps, parts
                )
                if 3 not in only:
                    figures.pop()
                print(table(figures), flush=True)
            if only & {1, 2}:
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
            shutil.rmtree(work / "csv", ignore_errors=True)
            shutil.rmtree(work / "landing-single", ignore_errors=True)
        if 5 in only:
            batches = generate(work / "dvc-csv", args.dvc_batches, args.dvc_batch_rows)
            figures += fig_incremental(work, snap, batches, args.reps)
            print(table(figures), flush=True)
        if 6 in only:
            figures += fig_noop(work, 3 if args.quick else 7, args.quick)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - started
    kind = "quick" if args.quick else "full"
    print(f"\nstrata bench ({kind}), {total / 60:.1f} min on {os.cpu_count()} cores\n")
    print(table(figures))
    if args.out:
        payload = {
            "seconds": round(total, 1),
            "quick": args.quick,
            "figures": [dataclasses.asdict(f) for f in figures],
        }
        args.out.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Reviewer tools on a real git + DVC history: snapshots, checkout, lineage, report and the gate.

A tiny synthetic project (stages are a few lines of Python writing our exact formats) gets four tagged
commits: v1 one batch; v2 more batches and a second source; v3 a new column and better params; v4 a
regression. The work tree then sits at an uncommitted, improved run. Every verb must read old revisions
without changing one byte of the work tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from strata.errors import GateFailed, RevisionError
from strata.review import layout, lineage, report, snapshot_commands, snapshots
from strata.review import revisions as rv

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
PIPELINE = r"""
import hashlib, json, struct, sys, zlib
from pathlib import Path
import pyarrow as pa, pyarrow.parquet as pq, yaml

VERB, ARGS = sys.argv[1], dict(zip(sys.argv[2::2], sys.argv[3::2]))

def write(path, table):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")

def ingest():
    parts, out = {}, Path(ARGS["--out"])
    for f in sorted(Path("inbox").glob("*/*.csv")):
        raw = f.read_bytes()
        sha = hashlib.sha256(raw).hexdigest()
        pid = f"{f.parent.name}/{sha[:16]}"
        header, *lines = raw.decode().splitlines()
        cols = header.split(",")
        rows = [line.split(",") for line in lines]
        data = {c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(cols)}
        data["_row"] = pa.array(range(len(rows)), pa.int64())
        write(out / f"{pid}.parquet", pa.table(data))
        parts[pid] = {"source": f.parent.name, "batches": [f.name], "sha256": sha, "bytes": len(raw),
                      "rows": len(rows), "format": "csv", "file": f"{pid}.parquet", "columns": cols}
    (out / "manifest.json").write_text(json.dumps({"version": 1, "datums": parts}))

def validate():
    src, clean, bad = Path(ARGS["--partitions"]), Path(ARGS["--clean"]), Path(ARGS["--quarantine"])
    parts = json.loads((src / "manifest.json").read_text())["datums"]
    datums = {}
    for pid in sorted(parts):
        t = pq.read_table(src / f"{pid}.parquet").to_pylist()
        good = [r for r in t if r["weight"] != "bad"]
        rejected = [r for r in t if r["weight"] == "bad"]
        table = {"event_id": pa.array([r["event_id"] for r in good], pa.string()),
                 "weight": pa.array([float(r["weight"]) for r in good], pa.float64())}
        if "phone_nearby" in parts[pid]["columns"]:
            table["phone_nearby"] = pa.array([r["phone_nearby"] == "true" for r in good], pa.bool_())
        table["_source"] = pa.array([parts[pid]["source"]] * len(good), pa.string())
        write(clean / f"{pid}.parquet", pa.table(table))
        if rejected:
            write(bad / f"{pid}.parquet", pa.Table.from_pylist(rejected))
        reasons = {"unparseable float in 'weight': 'bad'": len(rejected)} if rejected else {}
        datums[pid] = {"source": parts[pid]["source"], "batches": parts[pid]["batches"],
                       "input": parts[pid]["sha256"], "rows_in": len(t), "clean": len(good),
                       "quarantined": len(rejected), "duplicates": 0, "reasons": reasons}
    bad.mkdir(parents=True, exist_ok=True)
    (clean / "manifest.json").write_text(json.dumps({"version": 1, "datums": datums}))

def train():
    params = yaml.safe_load(Path("params.yaml").read_text())["train"]
    manifest = (Path(ARGS["--clean"]) / "manifest.json").read_text()
    model, card = Path(ARGS["--model"]), Path(ARGS["--card"])
    model.parent.mkdir(exist_ok=True)
    model.write_text(json.dumps({"acc": params["acc"], "data": manifest}))
    card.write_text(json.dumps({"partitions": sorted(json.loads(manifest)["datums"])}))

def png(shade):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = zlib.compress(bytes([0, shade, 0, 255 - shade]))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))

def evaluate():
    acc = json.loads(Path(ARGS["--model"]).read_text())["acc"]
    plots, metrics = Path(ARGS["--plots"]), Path(ARGS["--metrics"])
    plots.mkdir(parents=True, exist_ok=True)
    values = {"accuracy": acc, "macro_f1": round(acc - 0.05, 4), "alarm_recall_at_far": round(acc - 0.1, 4),
              "alarm_recall_at_far_vs_bayes": round(acc / 0.95, 4), "test_rows": 1665}
    metrics.write_text(json.dumps(values))
    for name in ("confusion", "roc"):
        (plots / f"{name}.png").write_bytes(png(int(acc * 200)))

globals()[VERB]()
"""

# Every output has a name the tools have never seen: they must learn them from dvc.yaml.
DVC_YAML = """
stages:
  ingest:
    cmd: {py} pipeline.py ingest --out data/parts
    deps: [pipeline.py, inbox]
    outs: [data/parts]
  validate:
    cmd: {py} pipeline.py validate --partitions data/parts --clean data/tidy --quarantine data/bad
    deps: [pipeline.py, data/parts]
    outs: [data/tidy, data/bad]
  train:
    cmd: {py} pipeline.py train --clean data/tidy --model models/clf.bin --card models/clf.json
    deps: [pipeline.py, data/tidy]
    params: [train]
    outs: [models/clf.bin, models/clf.json]
  evaluate:
    cmd: {py} pipeline.py evaluate --model models/clf.bin --metrics eval/scores.json --plots eval/figs
    deps: [pipeline.py, models/clf.bin]
    metrics: [eval/scores.json]
    outs: [eval/figs]
artifacts:
  clf:
    path: models/clf.bin
    type: model
"""
MODEL, METRICS, CLEAN = "models/clf.bin", "eval/scores.json", "data/tidy"

PARAMS = """
train: {{acc: {acc}, seed: {seed}}}
gate:
  max_drop: {{accuracy: 0.01, macro_f1: 0.01, alarm_recall_at_far: 0.03, not_measured_here: 0.01}}
"""


def run(root: Path, *cmd: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "DVC_NO_ANALYTICS": "1",
    }
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


def dvc(root: Path, *args: str) -> str:
    return run(root, str(BIN / "dvc"), *args)


def land(root: Path, name: str, text: str) -> None:
    (root / "inbox" / name).parent.mkdir(parents=True, exist_ok=True)
    (root / "inbox" / name).write_text(text)


def release(root: Path, tag: str, acc: float, seed: int = 1) -> None:
    (root / "params.yaml").write_text(PARAMS.format(acc=acc, seed=seed))
    dvc(root, "repro", "-q")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-qm", tag)
    run(root, "git", "tag", tag)
    dvc(root, "push", "-q")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("proj")
    run(root, "git", "init", "-q", "-b", "main")
    (root / "README").write_text("before the pipeline\n")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-qm", "v0")
    run(root, "git", "tag", "v0")  # a revision before the pipeline existed
    dvc(root, "init", "-q")
    dvc(root, "remote", "add", "-d", "store", str(tmp_path_factory.mktemp("remote")))
    (root / "pipeline.py").write_text(PIPELINE)
    (root / "dvc.yaml").write_text(DVC_YAML.format(py=sys.executable))
    land(root, "acme/d1.csv", "event_id,weight\ne1,1.0\ne2,2.0\ne3,bad\ne4,4.0\n")
    release(root, "v1", 0.90)
    land(root, "acme/d2.csv", "event_id,weight\ne5,5.0\ne6,6.0\ne7,7.0\n")
    land(root, "birch/d1.csv", "event_id,weight\nb1,bad\nb2,2.5\n")
    release(root, "v2", 0.90)
    land(root, "birch/d2.csv", "event_id,weight,phone_nearby\nb3,3.0,true\nb4,4.0,false\nb5,5.0,true\n")
    release(root, "v3", 0.92, seed=2)
    release(root, "v4", 0.85, seed=2)  # a regression past every threshold
    (root / "params.yaml").write_text(PARAMS.format(acc=0.95, seed=2))  # uncommitted improvement
    dvc(root, "repro", "-q")
    return root


def tree_state(root: Path) -> dict[str, str]:
    """md5 of every work-tree file (not .git, not DVC's cache/tmp): the 'untouched' yardstick."""
    skip = (".git", ".dvc/cache", ".dvc/tmp")
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not str(p.relative_to(root)).startswith(skip)
    }


def lock_md5(root: Path, tag: str, out: str) -> str:
    with rv.view(root, tag) as view:
        md5 = view.md5(out)
    assert md5
    return md5


def pid(source: str, text: str) -> str:
    return f"{source}/{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def cli(*args: str):  # noqa: ANN201 - click Result
    from typer.testing import CliRunner

    from strata.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})


def test_layout_comes_from_dvc_yaml(project: Path) -> None:
    with rv.view(project, "v1") as view:
        found = layout.from_view(view)
    assert found.manifest("partitions") == "data/parts/manifest.json"
    assert (found.path("clean"), found.path("quarantine")) == (CLEAN, "data/bad")
    assert (found.path("model"), found.path("card")) == (MODEL, "models/clf.json")
    assert (found.metrics, found.plots) == ((METRICS,), ("eval/figs",))
    assert found.checkout_paths() == ("data/parts", CLEAN, MODEL, "models/clf.json", METRICS)


def test_list_counts_per_tag(project: Path) -> None:
    snaps = {s.rev: s for s in snapshot_commands.list_snapshots(project)}
    assert list(snaps) == ["v0", "v1", "v2", "v3", "v4", "HEAD"]
    assert not snaps["v0"].pipeline and snaps["v0"].sources() == {}
    assert snaps["v1"].sources() == {
        "acme": {"partitions": 1, "rows": 4, "rows_in": 4, "clean": 3, "quarantined": 1, "duplicates": 0}
    }
    v3 = snaps["v3"].sources()
    assert (v3["acme"]["partitions"], v3["acme"]["rows"], v3["acme"]["quarantined"]) == (2, 7, 1)
    assert (v3["birch"]["partitions"], v3["birch"]["rows"], v3["birch"]["quarantined"]) == (2, 5, 1)
    assert snaps["v1"].model_md5 == lock_md5(project, "v1", MODEL)
    assert snaps["v1"].model_md5 != snaps["v2"].model_md5
    assert snaps["v3"].headline() == {"accuracy": 0.92, "macro_f1": 0.87, "alarm_recall_at_far": 0.82}
    assert snaps["HEAD"].sha == snaps["v4"].sha
    assert snaps["v1"].unavailable == [] and snaps["v1"].partitions_from == "partitions"


def test_list_json_and_table_at_80_columns(project: Path) -> None:
    result = cli("snapshots", "list", "--rev", "v1", "--rev", "v3", "--json", "--repo", str(project))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["rev"] for r in rows] == ["v1", "v3"]
    assert rows[1]["sources"]["birch"]["rows"] == 5
    table = cli("snapshots", "list", "--repo", str(project))
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in table.output
    cells = [line.replace("│", " ").split() for line in lines]
    assert ["v0", "no", "pipeline", "-", "-", "-"] in [c[:1] + c[3:] for c in cells if c[:1] == ["v0"]]
    assert "0.8500" in table.output and "alarm_recall_at_far" in table.output.replace("\n", "")


def test_diff_data_schema_params_metrics(project: Path) -> None:
    d = snapshots.diff(project, "v2", "v3")
    birch_d2 = pid("birch", "event_id,weight,phone_nearby\nb3,3.0,true\nb4,4.0,false\nb5,5.0,true\n")
    assert d["sources"]["birch"]["added"] == [birch_d2]
    assert d["sources"]["birch"]["rows"] == {"base": 2, "head": 5, "delta": 3}
    assert d["sources"]["acme"]["added"] == [] and d["sources"]["acme"]["rows"]["delta"] == 0
    assert d["schema"]["partitions"] == {"birch": {"added": ["phone_nearby"], "removed": [], "retyped": {}}}
    assert d["schema"]["clean"] == {"birch": {"added": ["phone_nearby"], "removed": [], "retyped": {}}}
    assert {r["key"]: (r["base"], r["head"]) for r in d["params"]} == {
        "train.acc": (0.9, 0.92),
        "train.seed": (1, 2),
    }
    assert [r["metric"] for r in d["metrics"]][:3] == ["accuracy", "macro_f1", "alarm_recall_at_far"]
    accuracy = next(r for r in d["metrics"] if r["metric"] == "accuracy")
    assert accuracy["delta"] == pytest.approx(0.02)
    first = snapshots.diff(project, "v1", "v2")
    assert first["sources"]["acme"]["quarantined"] == {"base": 1, "head": 1, "delta": 0}
    assert first["sources"]["birch"]["quarantined"] == {"base": 0, "head": 1, "delta": 1}
    text = report.render_diff(d)
    assert "schema (clean) `birch`: +phone_nearby" in text and "| `train.acc` | 0.9000 | 0.9200 |" in text
    assert "| test_rows | 1665 | 1665 | +0 |" in text
    assert "| alarm_recall_at_far_vs_bayes | 0.9474 | 0.9684 | +0.0210 |" in text


def test_diff_terminal_at_80_columns(project: Path) -> None:
    result = cli("snapshots", "diff", "v2", "v3", "--repo", str(project))
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "1665.0000" not in result.output and "…" not in result.output
    assert "+phone_nearby" in result.output
    markdown = cli("snapshots", "diff", "v2", "v3", "--markdown", "--repo", str(project))
    assert "| test_rows | 1665 | 1665 | +0 |" in markdown.output


def test_diff_from_before_the_pipeline(project: Path) -> None:
    d = snapshots.diff(project, "v0", "v1")
    assert d["base"]["pipeline"] is False  # nothing existed yet: zero is a fact here, not a guess
    assert d["sources"]["acme"]["partitions"] == {"base": 0, "head": 1, "delta": 1}
    assert d["schema"]["clean"] == {
        "acme": {"added": ["event_id", "weight", "_source"], "removed": [], "retyped": {}}
    }
    assert any("no pipeline at v0" in n for n in d["notes"]["base"])


def test_show_names_reasons(project: Path) -> None:
    result = cli("snapshots", "show", "v2", "--markdown", "--repo", str(project))
    assert result.exit_code == 0, result.output
    assert "| unparseable float in 'weight': 'bad' | 2 |" in result.output
    assert "| birch | 1 | 2 | 2 | 1 | 1 | 0 |" in result.output


def test_checkout_old_tag_is_byte_identical(project: Path, tmp_path: Path) -> None:
    written, skipped = snapshots.checkout(project, "v1", tmp_path / "v1")
    assert skipped == []
    model = (tmp_path / "v1" / MODEL).read_bytes()
    assert hashlib.md5(model).hexdigest() == lock_md5(project, "v1", MODEL)
    assert hashlib.md5(model).hexdigest() != hashlib.md5((project / MODEL).read_bytes()).hexdigest()
    metrics = tmp_path / "v1" / METRICS
    assert hashlib.md5(metrics.read_bytes()).hexdigest() == lock_md5(project, "v1", METRICS)
    assert json.loads(metrics.read_text())["accuracy"] == 0.9
    parts = json.loads((tmp_path / "v1/data/parts/manifest.json").read_text())["datums"]
    assert list(parts) == [pid("acme", "event_id,weight\ne1,1.0\ne2,2.0\ne3,bad\ne4,4.0\n")]
    # partitions: parquet + manifest; clean: parquet + manifest; model, card, metrics
    assert len(written) == 7


def test_checkout_streams_from_the_remote_in_a_fresh_clone(project: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(project), str(clone))
    assert not (clone / ".dvc/cache").exists()
    snapshots.checkout(clone, "v2", tmp_path / "out", (MODEL, CLEAN))
    model = (tmp_path / "out" / MODEL).read_bytes()
    assert hashlib.md5(model).hexdigest() == lock_md5(project, "v2", MODEL)
    assert len(list((tmp_path / "out" / CLEAN).rglob("*.parquet"))) == 3
    assert not (clone / MODEL).exists() and not (clone / CLEAN).exists()  # the clone's work tree untouched


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "{project}/old"], "inside the work tree"),
        (["--to", "{full}"], "exists and is not an empty folder"),
        (["--to", "{tmp}/new", "--path", "data/nope"], "'data/nope' does not exist at v1"),
    ],
)
def test_checkout_refusals(project: Path, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    fill = {"project": str(project), "full": str(tmp_path / "full"), "tmp": str(tmp_path)}
    result = cli("snapshots", "checkout", "v1", *(a.format(**fill) for a in args), "--repo", str(project))
    assert result.exit_code == 1
    assert result.output.startswith("strata snapshots checkout: error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (project / "old").exists() and not (tmp_path / "new").exists()
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_unknown_revision_is_one_line(project: Path) -> None:
    for args in (["snapshots", "diff", "v1", "nope"], ["snapshots", "list", "--rev", "nope"]):
        result = cli(*args, "--repo", str(project))
        assert result.exit_code == 1
        assert result.output.strip() == f"strata {' '.join(args[:2])}: error: unknown revision 'nope'"


def test_lineage_of_model_at_old_tag(project: Path) -> None:
    result = lineage.lineage(project, MODEL, "v1")
    assert [s["stage"] for s in result["stages"]] == ["train", "validate", "ingest"]
    assert result["stages"][0]["params"] == {"params.yaml": {"train": {"acc": 0.9, "seed": 1}}}
    d1 = "event_id,weight\ne1,1.0\ne2,2.0\ne3,bad\ne4,4.0\n"
    assert result["batches"] == [
        {
            "partition": pid("acme", d1),
            "source": "acme",
            "batches": ["d1.csv"],
            "sha256": hashlib.sha256(d1.encode()).hexdigest(),
            "rows": 4,
        }
    ]
    later = lineage.lineage(project, METRICS, "v3")
    assert [s["stage"] for s in later["stages"]] == ["evaluate", "train", "validate", "ingest"]
    assert len(later["batches"]) == 4


def test_lineage_of_one_partition_and_errors(project: Path) -> None:
    birch_d1 = pid("birch", "event_id,weight\nb1,bad\nb2,2.5\n")
    one = lineage.lineage(project, f"{CLEAN}/{birch_d1}.parquet", "v3")
    assert [b["partition"] for b in one["batches"]] == [birch_d1]
    source = lineage.lineage(project, f"{CLEAN}/birch", "v3")
    assert [b["source"] for b in source["batches"]] == ["birch", "birch"]
    with pytest.raises(RevisionError, match=f"'{CLEAN}/{birch_d1}.parquet' did not exist at v1"):
        lineage.lineage(project, f"{CLEAN}/{birch_d1}.parquet", "v1")
    with pytest.raises(RevisionError, match="'pipeline.py' is not an output of any stage at v1$"):
        lineage.lineage(project, "pipeline.py", "v1")
    with pytest.raises(RevisionError, match="is not an output of any stage at v0 \\(dvc.yaml has no stages"):
        lineage.lineage(project, MODEL, "v0")
    result = cli("lineage", MODEL, "--rev", "nope", "--repo", str(project))
    assert result.exit_code == 1
    assert result.output.strip() == "strata lineage: error: unknown revision 'nope'"


def test_report_passes_on_improvement_with_plots(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    result = report.report(project, "v2", "v3", out, tmp_path / "plots")
    result.enforce()
    assert [r.status for r in result.gate] == ["ok", "ok", "ok", "not measured"]
    markdown = result.markdown
    assert "**Gate: passed**" in markdown
    assert "| accuracy | 0.9000 | 0.9200 | +0.0200 |" in markdown
    assert "| alarm_recall_at_far_vs_bayes | 0.9474 | 0.9684 | +0.0210 |" in markdown
    assert "![head roc.png](plots/head/roc.png)" in markdown
    base_png, head_png = (
        (tmp_path / "plots/base/roc.png").read_bytes(),
        (tmp_path / "plots/head/roc.png").read_bytes(),
    )
    assert base_png.startswith(b"\x89PNG") and base_png != head_png


def test_report_head_defaults_to_workspace(project: Path) -> None:
    result = report.report(project, "v4")
    assert {r.metric: r.head for r in result.gate}["accuracy"] == 0.95
    assert "`v4` → `workspace`" in result.markdown
    assert "> base `v4` is HEAD itself" in result.markdown


def test_report_gate_fails_on_regression(project: Path, tmp_path: Path) -> None:
    with pytest.raises(GateFailed, match=r"^gate: accuracy dropped from 0\.9200 \(base\)"):
        report.report(project, "v3", "v4").enforce()
    out = tmp_path / "r.md"
    result = cli("report", "--base", "v3", "--head", "v4", "--out", str(out), "--repo", str(project))
    assert result.exit_code == 4
    error = result.output.strip().splitlines()[-1]
    assert error.startswith(
        "strata report: error: gate: accuracy dropped from 0.9200 (base) to 0.8500 (head): "
        "drop 0.0700 > max_drop 0.0100;"
    )
    assert "alarm_recall_at_far dropped from 0.8200 (base) to 0.7500 (head)" in error
    assert "not_measured_here" not in error
    assert "**Gate: FAILED**" in out.read_text()
    assert (tmp_path / "r_plots/base/confusion.png").exists()


def test_report_defaults_to_the_previous_commit_on_main_under_an_ignored_folder(project: Path) -> None:
    before, tracked = (run(project, "git", "status", "--porcelain", *a) for a in (["--ignored"], []))
    result = cli("report", "--repo", str(project))
    assert result.exit_code == 0, result.output
    assert "report: base HEAD~1 (the previous commit: HEAD is on main)" in result.output
    written = project / ".strata/report/report.md"
    assert "# strata report: `HEAD~1` → `workspace`" in written.read_text()
    assert (project / ".strata/report/report_plots/head/roc.png").exists()
    assert run(project, "git", "status", "--porcelain") == tracked
    after = run(project, "git", "status", "--porcelain", "--ignored")
    assert after == before or set(after.splitlines()) - set(before.splitlines()) <= {"!! .strata/"}


def test_verbs_leave_the_work_tree_untouched(project: Path, tmp_path: Path) -> None:
    before, status = tree_state(project), run(project, "git", "status", "--porcelain")
    repo = ["--repo", str(project)]
    for args in (
        ["snapshots", "list", *repo],
        ["snapshots", "show", "v1", *repo],
        ["snapshots", "diff", "v1", "v4", *repo],
        ["snapshots", "checkout", "v1", "--to", str(tmp_path / "co"), *repo],
        ["lineage", CLEAN, "--rev", "v2", "--json", *repo],
        ["report", "--base", "v1", "--head", "v3", "--out", str(tmp_path / "r.md"), *repo],
    ):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
    assert tree_state(project) == before
    assert run(project, "git", "status", "--porcelain") == status

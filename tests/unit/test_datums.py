import json
import os
import signal
import subprocess
import sys

import pytest

from strata import datums
from strata.errors import ManifestError


def entry(token="1", fp="f", files=None):
    return {"input": token, "fingerprint": fp, "files": files or {}}


def test_plan_sorts_new_changed_unchanged_and_removed(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.parquet").write_text("x")
    (tmp_path / "s" / "c.parquet").write_text("x")
    done = {
        "s/a": [entry(files={"out": "s/a.parquet"})],
        "s/b": [entry(files={"out": "s/b.parquet"})],  # file lost
        "s/c": [entry(fp="old", files={"out": "s/c.parquet"})],  # code changed
        "s/gone": [entry(files={"out": "s/gone.parquet"})],
    }
    wanted = {"s/a": ("1", "f"), "s/b": ("1", "f"), "s/c": ("1", "f"), "s/new": ("2", "f")}
    plan = datums.plan(wanted, done, {"out": tmp_path})
    assert plan == datums.Plan(todo=("s/b", "s/c", "s/new"), keep=("s/a",), remove=("s/gone",))
    assert plan.kept == {"s/a": done["s/a"][0]}
    assert plan.summary() == "3 datums processed, 1 skipped, 1 removed"


def test_plan_reuses_any_finished_result_that_matches(tmp_path):
    """A killed run's journaled result is reused when it matches; the manifest's when *it* matches."""
    for name in ("a-old.parquet", "a-new.parquet"):
        (tmp_path / "s").mkdir(exist_ok=True)
        (tmp_path / "s" / name).write_text("x")
    done = {
        "s/a": [
            entry(fp="old", files={"out": "s/a-old.parquet"}),
            entry(fp="new", files={"out": "s/a-new.parquet"}),
        ]
    }
    for fp in ("old", "new"):
        plan = datums.plan({"s/a": ("1", fp)}, done, {"out": tmp_path})
        assert plan.keep == ("s/a",) and plan.kept["s/a"]["files"]["out"] == f"s/a-{fp}.parquet"
    assert datums.plan({"s/a": ("1", "other")}, done, {"out": tmp_path}).todo == ("s/a",)


def test_prune_removes_unnamed_files_and_empty_folders(tmp_path):
    for rel in ["s/a.parquet", "s/.a.parquet.x.tmp", "t/old.parquet", "manifest.json"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    entries = {"s/a": {"files": {"out": "s/a.parquet"}}}
    assert datums.prune({"out": tmp_path}, entries) == 2
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "manifest.json",
        "s",
        "s/a.parquet",
    ]


def test_manifest_roundtrip_is_sorted_and_versioned(tmp_path):
    datums.save_entries(tmp_path, {"b/2": {"x": 1}, "a/1": {"x": 2}})
    text = (tmp_path / "manifest.json").read_text()
    assert text.index('"a/1"') < text.index('"b/2"')
    assert datums.load_entries(tmp_path) == {"a/1": {"x": 2}, "b/2": {"x": 1}}
    (tmp_path / "manifest.json").write_text('{"version": 0, "datums": {"a/1": {}}}')
    assert datums.load_entries(tmp_path) == {}


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        (
            '{"version": 1, "datums": {',
            "Expecting property name enclosed in double quotes: line 1 column 27 (char 26)",
        ),
        ("\udcff", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
        ('{"version": 2, "datums": [1]}', "'datums' is not a mapping of entries"),
        ("[]", "not a JSON object"),
        ('{"version": 2, "datums": {"a/1": 3}}', "'datums' is not a mapping of entries"),
    ],
)
def test_a_corrupt_manifest_is_one_line_naming_the_file_and_the_fix(tmp_path, text, detail):
    (tmp_path / datums.MANIFEST).write_text(text, errors="surrogateescape")
    with pytest.raises(ManifestError) as err:
        datums.load_entries(tmp_path)
    assert str(err.value) == (
        f"{tmp_path / datums.MANIFEST}: corrupt manifest ({detail}); "
        f"restore it with `dvc checkout {tmp_path}`, or delete {tmp_path} to rebuild it"
    )


def test_the_cli_reports_a_corrupt_manifest_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from strata.cli import app

    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / datums.MANIFEST).write_text('{"version": 1, "datums": {"a/1": {"files":')
    (tmp_path / "params.yaml").write_text("split: {seed: 1, test_fraction: 0.2}\n")
    args = ["split", "--params", str(tmp_path / "params.yaml"), "--clean", str(tmp_path / "clean")]
    args += [arg for o in ("train", "test", "summary") for arg in (f"--{o}", str(tmp_path / o))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"strata split: error: {tmp_path / 'clean' / datums.MANIFEST}: corrupt manifest (Expecting value: "
        f"line 1 column 43 (char 42)); restore it with `dvc checkout {tmp_path / 'clean'}`, or delete "
        f"{tmp_path / 'clean'} to rebuild it"
    ]
    (tmp_path / "manifest.json").write_text('{"version": 1, "datums": {"a/1": {}}}')
    assert datums.load_entries(tmp_path) == {}  # version 1 named files without their output key


def test_output_file_names_carry_the_key_of_what_shaped_them():
    key = datums.output_key("sha", "fp")
    assert key == datums.output_key("sha", "fp") != datums.output_key("sha", "fp2")
    assert datums.datum_file("acme/0123456789abcdef", key) == f"acme/0123456789abcdef-{key}.parquet"


def test_ledger_writes_files_journal_then_manifest_and_prunes(tmp_path):
    clean, quarantine = tmp_path / "clean", tmp_path / "quarantine"
    dirs = {"clean": clean, "quarantine": quarantine}
    (clean / "s").mkdir(parents=True)
    (clean / "s" / ".x.parquet.tmp").write_text("leftover of a killed run")
    ledger = datums.Ledger("validate", dirs, {})
    done = ledger.commit("s/a", "k1", {"clean": b"rows", "quarantine": None}, entry())
    assert done["files"] == {"clean": "s/a-k1.parquet"}
    assert (clean / "s/a-k1.parquet").read_bytes() == b"rows"
    journal = (clean / datums.JOURNAL).read_text().splitlines()
    assert [json.loads(line)["datum"] for line in journal] == ["s/a"]
    assert datums.load_candidates(clean) == {"s/a": [done]}  # a rerun after a kill here reuses it
    assert not (clean / datums.MANIFEST).exists()
    assert ledger.finish() == 1
    assert datums.load_entries(clean) == {"s/a": done}
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "clean/manifest.json",
        "clean/s/a-k1.parquet",
    ]
    assert quarantine.is_dir()  # an output with no file still exists: DVC needs it


def test_a_torn_journal_line_is_ignored(tmp_path):
    record = {"version": datums.MANIFEST_VERSION, "datum": "s/a", "entry": entry()}
    line = json.dumps(record)
    (tmp_path / datums.JOURNAL).write_text(f"{line}\n{line[:20]}")
    assert datums.load_candidates(tmp_path) == {"s/a": [entry()]}


def test_killed_run_with_other_params_never_shadows_the_manifest(tmp_path):
    """The reproduced bug: params changed, run killed after some datums, params reverted. The killed run's
    files have other names, so the manifest's entries still point at their own bytes."""
    out = tmp_path / "out"
    dirs = {"out": out}
    first = datums.Ledger("t", dirs, {})
    for d in ("s/a", "s/b"):
        first.commit(d, datums.output_key(d, "A"), {"out": f"{d} by A".encode()}, entry(fp="A"))
    first.finish()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    killed = datums.Ledger("t", dirs, {})
    killed.commit("s/a", datums.output_key("s/a", "B"), {"out": b"s/a by B"}, entry(fp="B"))
    killed.close()  # then SIGKILL: no manifest, journal left behind
    plan = datums.plan({"s/a": ("1", "A"), "s/b": ("1", "A")}, datums.load_candidates(out), dirs)
    assert plan.keep == ("s/a", "s/b")
    again = datums.Ledger("t", dirs, plan.kept)
    again.finish()
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_crash_point_is_inert_unless_asked(tmp_path, monkeypatch):
    monkeypatch.delenv(datums.CRASH_ENV, raising=False)
    datums.crash_point("validate", "written")  # nothing happens
    code = "from strata import datums\nfor _ in range(3): datums.crash_point('validate', 'written')\n"
    env = {**os.environ, datums.CRASH_ENV: "validate:written:2"}
    killed = subprocess.run([sys.executable, "-c", code], env=env, check=False)
    assert killed.returncode == -signal.SIGKILL
    env[datums.CRASH_ENV] = "ingest:written:2"
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0


@pytest.mark.parametrize("spec", ["validate:saved:1", "validate:recorded:1"])
def test_crash_point_only_matches_its_point(spec, monkeypatch):
    monkeypatch.setenv(datums.CRASH_ENV, spec)
    datums.crash_point("validate", "written")  # another point: nothing happens

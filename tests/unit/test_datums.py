import pytest

from strata import datums
from strata.errors import ManifestError


def test_plan_sorts_new_changed_unchanged_and_removed(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.parquet").write_text("x")
    (tmp_path / "s" / "c.parquet").write_text("x")
    done = {
        "s/a": {"input": "1", "fingerprint": "f", "files": {"out": "s/a.parquet"}},
        "s/b": {"input": "1", "fingerprint": "f", "files": {"out": "s/b.parquet"}},  # file lost
        "s/c": {"input": "1", "fingerprint": "old", "files": {"out": "s/c.parquet"}},  # code changed
        "s/gone": {"input": "1", "fingerprint": "f", "files": {"out": "s/gone.parquet"}},
    }
    wanted = {"s/a": ("1", "f"), "s/b": ("1", "f"), "s/c": ("1", "f"), "s/new": ("2", "f")}
    plan = datums.plan(wanted, done, {"out": tmp_path})
    assert plan == datums.Plan(todo=("s/b", "s/c", "s/new"), keep=("s/a",), remove=("s/gone",))
    assert plan.summary() == "3 datums processed, 1 skipped, 1 removed"


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
        ('{"version": 1, "datums": [1]}', "'datums' is not a mapping of entries"),
        ("[]", "not a JSON object"),
        ('{"version": 1, "datums": {"a/1": 3}}', "'datums' is not a mapping of entries"),
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

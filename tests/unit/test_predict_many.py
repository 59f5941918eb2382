"""`strata predict --out-dir`: many files as datums on the executor give, file by file, the bytes of the
one-file `strata predict`, whatever runs them (inline, a local pool, dask); data errors stop at once with
the one-file message, other failures are retried then named; option errors are one line."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from serve_helpers import train_model
from test_predict import delivered_rows, write_delivered
from typer.testing import CliRunner

from strata import executor as ex
from strata.cli import app
from strata.config import ExecutorParams
from strata.serving import predict, predict_command
from strata.serving.model import load

EXECUTORS = {
    "inline": "executor: {kind: local, workers: 1}\n",
    "local": "executor: {kind: local, workers: 2, retries: 1}\n",
    "dask": "executor: {kind: dask, workers: 2}\n",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return train_model(tmp_path_factory.mktemp("predict_many"))


@pytest.fixture(scope="module")
def inputs(trained: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four small deliveries of three formats (one with the clean test split), and a file to skip."""
    folder = tmp_path_factory.mktemp("inputs")
    write_delivered(folder / "acme.csv", delivered_rows(30))
    write_delivered(folder / "birch.jsonl.gz", delivered_rows(14))
    write_delivered(folder / "cedar.parquet", delivered_rows(20))
    shutil.copy(trained["test"], folder / "split.parquet")
    (folder / "notes.txt").write_text("not a delivery\n")
    return folder


@pytest.fixture(scope="module")
def single(trained: dict[str, Path], inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the one-file form writes for each input: the reference bytes."""
    out = tmp_path_factory.mktemp("single")
    for path in sorted(p for p in inputs.iterdir() if predict_command.supported(p)):  # not notes.txt
        code, output = invoke(
            trained, "--input", str(path), "--out", str(out / f"{predict_command.stem(path)}.parquet")
        )
        assert code == 0, output
    return out


def invoke(trained: dict[str, Path], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["predict", "--model", str(trained["model"]), *args])
    return result.exit_code, result.output


def params(folder: Path, kind: str) -> str:
    (folder / "params.yaml").write_text(EXECUTORS[kind])
    return str(folder / "params.yaml")


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    "kind",
    # dask: a LocalCluster of 2 worker processes, no shared disk (blobs travel as bytes, the model once)
    ["inline", "local", pytest.param("dask", marks=pytest.mark.slow)],
)
def test_many_files_give_the_bytes_of_the_one_file_form(
    trained: dict[str, Path], inputs: Path, single: Path, tmp_path: Path, kind: str
) -> None:
    code, output = invoke(
        trained,
        "--input",
        str(inputs),
        "--out-dir",
        str(tmp_path / "out"),
        "--params",
        params(tmp_path, kind),
    )
    assert code == 0, output
    assert files(tmp_path / "out") == files(single)
    assert len(files(single)) == 8  # 4 inputs x (scores, rejects); notes.txt skipped
    assert output.startswith(
        "predict: 4 files, rows in 106 = scored 80 + rejected 23 + duplicates 3; predicted: animal 28, "
        "intruder 20, resident 32; outputs in "
    )  # the sums of the four one-file runs (31 = 22 + 8 + 1, 15 = 6 + 8 + 1, 20 = 12 + 7 + 1, 40 = 40)
    assert f"; outputs in {tmp_path / 'out'} (" in output


def test_repeated_inputs_are_scored_in_the_order_given(
    trained: dict[str, Path], inputs: Path, single: Path, tmp_path: Path
) -> None:
    given = [inputs / "split.parquet", inputs / "acme.csv"]
    code, output = invoke(
        trained, *(a for p in given for a in ("--input", str(p))), "--out-dir", str(tmp_path)
    )
    assert code == 0, output
    assert output.startswith("predict: 2 files, rows in 71 = scored 62 + rejected 8 + duplicates 1;")
    assert files(tmp_path) == {k: v for k, v in files(single).items() if k.startswith(("acme.", "split."))}


def test_a_worker_lost_mid_run_loses_no_file(
    trained: dict[str, Path], inputs: Path, single: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ex.KILL_WORKER_ENV, str(tmp_path / "killed"))  # the first task kills its worker
    out = tmp_path / "out"
    code, output = invoke(
        trained, "--input", str(inputs), "--out-dir", str(out), "--params", params(tmp_path, "local")
    )
    assert code == 0, output
    assert (tmp_path / "killed").exists() and files(out) == files(single)


@pytest.mark.parametrize("kind", ["inline", "local"])
def test_a_corrupt_file_stops_at_once_with_the_one_file_message(
    trained: dict[str, Path], inputs: Path, tmp_path: Path, kind: str
) -> None:
    """A file that cannot be read is a verdict on the data (as in ingest): no retry, the one-file error."""
    folder = tmp_path / "in"
    shutil.copytree(inputs, folder)
    (folder / "broken.parquet").write_bytes(b"PAR1 not parquet PAR1")
    one = invoke(trained, "--input", str(folder / "broken.parquet"), "--out", str(tmp_path / "one.parquet"))
    assert one[0] == 1 and one[1].startswith(
        f"strata predict: error: {folder / 'broken.parquet'}: cannot read"
    )
    many = invoke(
        trained,
        "--input",
        str(folder),
        "--out-dir",
        str(tmp_path / "out"),
        "--params",
        params(tmp_path, kind),
    )
    assert many == one
    assert not list(tmp_path.glob("out/broken*"))


def test_a_datum_failing_on_every_try_is_named_with_its_last_error(
    trained: dict[str, Path], inputs: Path, tmp_path: Path
) -> None:
    """The model file vanishes after the client loaded it: every worker's read fails (an I/O error, not
    the data's fault), is tried again `retries` times, then the run stops naming the datum."""
    for name in ("model.skops", "card.json"):
        shutil.copy(trained[name.split(".")[0]], tmp_path / name)
    loaded = load(tmp_path / "model.skops")
    (tmp_path / "model.skops").unlink()
    planned = predict_command.outputs([inputs / "acme.csv", inputs / "cedar.parquet"], tmp_path / "out")
    with pytest.raises(
        ex.DatumFailed,
        match=r"^datum \S+/(acme.csv|cedar.parquet): failed 2 times; last error: FileNotFoundError: "
        r"\[Errno 2\] No such file or directory: '\S+/model.skops'$",
    ):
        predict_command.run_many(
            loaded, tmp_path / "card.json", planned, "", ExecutorParams(workers=2, retries=1)
        )
    assert not (tmp_path / "out").exists()


def test_a_worker_keeps_one_model_per_bytes_and_card(trained: dict[str, Path], tmp_path: Path) -> None:
    """Loaded once per process; a long-lived (dask) worker given another card for the same bytes reloads."""
    loaded = load(trained["model"])
    predict.remember(loaded)
    ref = predict.ModelRef(ex.Blob(path=str(tmp_path / "gone.skops")), loaded.sha256, loaded.card, "m", "c")
    assert predict.worker_model(ref) is loaded  # the blob is never read
    with pytest.raises(FileNotFoundError):
        predict.worker_model(dataclasses.replace(ref, card={**loaded.card, "note": "another card"}))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "{inputs}"],
         "give --out FILE (one input file) or --out-dir DIR (many files, or a folder)"),
        (["--input", "{inputs}", "--out", "{tmp}/o.parquet", "--out-dir", "{tmp}"],
         "give --out FILE (one input file) or --out-dir DIR (many files, or a folder)"),
        (["--input", "{inputs}", "--out", "{tmp}/o.parquet"],
         "--out {tmp}/o.parquet: one output for one --input file; use --out-dir for many or a folder"),
        (["--input", "{inputs}/acme.csv", "--out", "{tmp}/o.parquet", "--params", "{tmp}/p.yaml"],
         "--params {tmp}/p.yaml: only --out-dir runs on the executor; --out scores here"),
        (["--input", "{inputs}", "--out-dir", "{tmp}", "--rejects", "{tmp}/r.parquet"],
         "--rejects {tmp}/r.parquet: with --out-dir each input's are <stem>.rejects.parquet"),
        (["--input", "{tmp}/empty", "--out-dir", "{tmp}"],
         "--input {tmp}/empty: no file to score in this folder (csv, jsonl, parquet; optionally .gz)"),
        (["--input", "{tmp}/nope.csv", "--out-dir", "{tmp}"], "--input {tmp}/nope.csv: file not found"),
        (["--input", "{inputs}/notes.txt", "--out-dir", "{tmp}"],
         "--input {inputs}/notes.txt: unsupported file type (csv, jsonl, parquet; optionally .gz)"),
        (["--input", "{inputs}", "--input", "{tmp}/other/acme.jsonl", "--out-dir", "{tmp}"],
         "--out-dir {tmp}: {inputs}/acme.csv and {tmp}/other/acme.jsonl would both write acme.parquet"),
        (["--input", "{inputs}", "--input", "{inputs}/acme.csv", "--out-dir", "{tmp}"],
         "--input {inputs}/acme.csv: given twice"),
        (["--input", "{inputs}/split.parquet", "--out-dir", "{inputs}"],
         "--out-dir {inputs}: {inputs}/split.parquet would overwrite an input"),
        (["--input", "{inputs}", "--out-dir", "{inputs}/acme.csv"],
         "--out-dir {inputs}/acme.csv: is a file, not a folder"),
        (["--input", "{inputs}", "--out-dir", "{tmp}", "--params", "{tmp}/bad.yaml"],
         "{tmp}/bad.yaml:executor.kind: 'spark' is not one of local, dask"),
    ],
)  # fmt: skip
def test_options_are_checked_with_one_line_errors(
    trained: dict[str, Path], inputs: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "acme.jsonl.txt").write_text("{}\n")  # not a scorable name: skipped in a folder
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "acme.jsonl").write_text("{}\n")
    (tmp_path / "bad.yaml").write_text("executor: {kind: spark}\n")
    code, output = invoke(trained, *(a.format(inputs=inputs, tmp=tmp_path) for a in args))
    assert (code, output) == (2, f"strata predict: error: {message.format(inputs=inputs, tmp=tmp_path)}\n")
    assert not list(tmp_path.glob("*.parquet"))

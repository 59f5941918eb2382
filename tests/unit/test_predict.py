"""predict: the pure scoring core, input formats, missing-column errors, CLI."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest_ml import CONTRACT, make_table, write_split
from typer.testing import CliRunner

from stages import train
from strata.cli import app
from strata.config import TrainParams
from strata.model.artifact import load_model
from strata.serving import predict

PARAMS = TrainParams(seed=42, model="hist_gradient_boosting", hyperparams={"max_iter": 20})


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("predict")
    paths = write_split(folder)
    args = ["train", "--params", str(paths["params"]), "--train", str(paths["train"])]
    args += ["--summary", str(paths["summary"]), "--model", str(folder / "model.skops")]
    args += ["--card", str(folder / "card.json")]
    assert CliRunner().invoke(app, args).exit_code == 0
    return {**paths, "model": folder / "model.skops", "folder": folder}


def test_score_output_schema() -> None:
    model, _ = train.fit(make_table(90), CONTRACT, PARAMS)
    out = predict.score(model, make_table(7, seed=3), key=["event_id"])
    assert out.schema == pa.schema(
        [
            ("event_id", pa.string()),
            ("predicted", pa.string()),
            ("proba_animal", pa.float64()),
            ("proba_intruder", pa.float64()),
            ("proba_resident", pa.float64()),
        ]
    )
    assert out["event_id"].to_pylist() == [f"e{i:05d}" for i in range(7)]  # input order kept


def _predict(trained: dict[str, Path], source: Path, out: Path) -> tuple[int, str]:
    args = ["predict", "--model", str(trained["model"]), "--input", str(source), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_cli_predict_each_format_gives_the_same_scores(trained: dict[str, Path], fmt: str) -> None:
    folder = trained["folder"]
    frame = pq.read_table(trained["test"]).to_pandas()
    source = {"parquet": trained["test"], "csv": folder / "in.csv", "jsonl": folder / "in.jsonl"}[fmt]
    frame.to_csv(folder / "in.csv", index=False)
    frame.to_json(folder / "in.jsonl", orient="records", lines=True, date_format="iso")
    code, output = _predict(trained, source, folder / f"{fmt}.parquet")
    assert code == 0, output
    assert output.startswith("predict: 80 rows, 3 classes (predicted: animal ")
    reference = predict.score(load_model(trained["model"]), pq.read_table(trained["test"]), ["event_id"])
    scored = pq.read_table(folder / f"{fmt}.parquet")
    assert scored.column_names[:2] == ["event_id", "predicted"]
    assert scored["predicted"].to_pylist() == reference["predicted"].to_pylist()
    for name in ("proba_animal", "proba_intruder", "proba_resident"):
        assert scored[name].to_pylist() == pytest.approx(reference[name].to_pylist())


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_cli_predict_missing_feature_column(trained: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    table = make_table(5).drop_columns(["height"])
    source = tmp_path / f"in.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, source)
    else:
        table.to_pandas().to_csv(source, index=False)
    code, output = _predict(trained, source, tmp_path / "out.parquet")
    assert code == 1
    assert output.strip() == f"strata predict: error: {source}: missing feature column 'height'"
    assert not (tmp_path / "out.parquet").exists()


def test_cli_predict_parquet_without_contract_is_refused(trained: dict[str, Path], tmp_path: Path) -> None:
    source = tmp_path / "raw.parquet"
    pq.write_table(make_table(3).replace_schema_metadata(None), source)
    code, output = _predict(trained, source, tmp_path / "out.parquet")
    assert code == 1
    assert "not clean-format Parquet" in output


def test_cli_predict_uncastable_value_names_file_and_column(trained: dict[str, Path], tmp_path: Path) -> None:
    frame = make_table(3).to_pandas()
    frame["speed"] = ["fast", "1.0", "2.0"]
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    code, output = _predict(trained, source, tmp_path / "out.parquet")
    assert code == 1
    assert output.startswith(f"strata predict: error: {source}: column 'speed' is not float: ")

"""train: fit core, byte-stable skops file, trusted-types loading, card, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import skops.io as sio
from conftest_ml import CONTRACT, make_table, write_params, write_split
from typer.testing import CliRunner

from stages import train
from strata.cli import app
from strata.config import TrainParams
from strata.errors import ConfigError, StrataError
from strata.model import features, pipeline
from strata.model.artifact import ZIP_EPOCH, load_model, stable_dumps

PARAMS = TrainParams(seed=42, model="hist_gradient_boosting", hyperparams={"max_iter": 20})


def test_fit_reports_training_facts() -> None:
    model, facts = train.fit(make_table(90), CONTRACT, PARAMS)
    assert facts["rows"] == 90
    assert sum(facts["class_counts"].values()) == 90
    assert facts["matrix_shape"] == [90, 8]  # entry_point + ts x4 + height + speed + code_ok
    assert facts["matrix_bytes"] == 90 * 8 * 8
    assert list(model.classes_) == ["animal", "intruder", "resident"]


@pytest.mark.parametrize(("kind", "bag"), [(kind, 1) for kind in pipeline.MODELS] + [(pipeline.MODELS[0], 2)])
def test_model_bytes_identical_across_fits(kind: str, bag: int) -> None:
    small = {"hist_gradient_boosting": {"max_iter": 10}, "random_forest": {"n_estimators": 10}}
    params = TrainParams(
        seed=1, model=kind, hyperparams=small.get(kind, {}), bag=bag, ratios=(("height", "speed"),)
    )
    first = stable_dumps(train.fit(make_table(90), CONTRACT, params)[0])
    second = stable_dumps(train.fit(make_table(90), CONTRACT, params)[0])
    assert first == second


@pytest.mark.parametrize("bag", [1, 3])
def test_stable_bytes_load_and_predict_like_the_fitted_model(tmp_path: Path, bag: int) -> None:
    params = TrainParams(seed=42, model="hist_gradient_boosting", hyperparams={"max_iter": 20}, bag=bag)
    model, _ = train.fit(make_table(90), CONTRACT, params)
    path = tmp_path / "m.skops"
    path.write_bytes(stable_dumps(model))
    loaded = load_model(path)
    test = make_table(20, seed=4)
    np.testing.assert_array_equal(
        features.predict(loaded, test, "t")[0], features.predict(model, test, "t")[0]
    )


def test_load_refuses_types_outside_the_trusted_list(tmp_path: Path) -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "evil.skops"
    sio.dump(Pipeline([("f", FunctionTransformer(json.loads))]), path)
    with pytest.raises(
        StrataError, match=r"evil\.skops: model holds types outside the trusted list: json\.loads$"
    ):
        load_model(path)


def test_cli_train_writes_model_and_card(tmp_path: Path) -> None:
    paths = write_split(tmp_path)
    model, card = tmp_path / "models" / "model.skops", tmp_path / "models" / "card.json"
    args = ["train", "--params", str(paths["params"]), "--train", str(paths["train"])]
    args += ["--summary", str(paths["summary"]), "--model", str(model), "--card", str(card)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("train: 160 rows, 3 classes, hist_gradient_boosting, ")
    info = json.loads(card.read_text())
    assert info["params"]["threads"] == 1  # the default; the thread count shapes the bytes
    assert info["model"]["sha256"] == train.sha256_bytes(model.read_bytes())
    assert info["lineage"]["partitions"] == ["acme/0123456789abcdef", "birch/fedcba9876543210"]
    assert [c["name"] for c in info["input_schema"]] == ["ts", "entry_point", "height", "speed", "code_ok"]
    assert info["input_schema"][0]["arrow_type"] == "timestamp[us, tz=UTC]"
    labels = pq.read_table(paths["train"], columns=["label"])["label"].to_pylist()
    assert info["training"]["class_counts"] == {
        c: labels.count(c) for c in ("animal", "intruder", "resident")
    }
    first = model.read_bytes()
    assert CliRunner().invoke(app, args).exit_code == 0
    assert model.read_bytes() == first


def test_cli_train_unknown_hyperparam_is_one_line_exit_2(tmp_path: Path) -> None:
    paths = write_split(tmp_path)
    write_params(paths["params"], "random_forest", "{n_trees: 3}")
    args = ["train", "--params", str(paths["params"]), "--train", str(paths["train"])]
    args += [
        "--summary",
        str(paths["summary"]),
        "--model",
        str(tmp_path / "m"),
        "--card",
        str(tmp_path / "c"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert (
        "strata train: error: train.hyperparams.n_trees: unknown hyperparam for random_forest"
        in result.output
    )
    assert not (tmp_path / "m").exists()


def test_stable_zip_has_fixed_timestamps_and_renumbered_files() -> None:
    import io
    import zipfile

    model, _ = train.fit(make_table(60), CONTRACT, PARAMS)
    archive = zipfile.ZipFile(io.BytesIO(stable_dumps(model)))
    assert {info.date_time for info in archive.infolist()} == {ZIP_EPOCH}
    names = archive.namelist()
    assert names == sorted(names) and "schema.json" in names
    stems = [int(name.split(".")[0]) for name in names if name != "schema.json"]
    assert all(stem < 10_000 for stem in stems)  # sequence numbers, not id() addresses


def test_no_rows_or_one_class_is_a_clear_error() -> None:
    table = make_table(90)
    with pytest.raises(StrataError, match=r"^train table: no rows to train on \(all were quarantined"):
        train.fit(table.slice(0, 0), CONTRACT, PARAMS)
    one = table.filter(np.asarray(table["label"].to_pylist()) == "animal")
    with pytest.raises(
        StrataError, match=r"^train table: target 'label' has only the class 'animal'; need at"
    ):
        train.fit(one, CONTRACT, PARAMS)


THREADS_SCRIPT = """
import hashlib, sys
sys.path.insert(0, {tests!r})
from conftest_ml import CONTRACT, make_table
from stages import train
from strata.config import TrainParams
from strata.model.artifact import stable_dumps
params = TrainParams(
    seed=1, model="hist_gradient_boosting", hyperparams={{"max_iter": 30}}, threads={threads}
)
print(hashlib.sha256(stable_dumps(train.fit(make_table(4000), CONTRACT, params)[0])).hexdigest())
"""


def _fit_elsewhere(threads: int, env: dict[str, str], prefix: tuple[str, ...] = ()) -> str:
    import os
    import subprocess
    import sys

    code = THREADS_SCRIPT.format(tests=str(Path(__file__).parent), threads=threads)
    out = subprocess.run(
        [*prefix, sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_model_bytes_do_not_depend_on_the_machines_cores() -> None:
    """train.threads pins every thread pool: the same bytes under any OMP_NUM_THREADS and on one core;
    the thread count itself does shape the bytes (so it is a param, recorded in the card)."""
    import shutil

    pinned = _fit_elsewhere(2, {"OMP_NUM_THREADS": "1"})
    assert _fit_elsewhere(2, {"OMP_NUM_THREADS": "4"}) == pinned
    if shutil.which("taskset"):
        assert _fit_elsewhere(2, {}, ("taskset", "-c", "0")) == pinned
    assert _fit_elsewhere(1, {"OMP_NUM_THREADS": "2"}) != pinned


@pytest.mark.parametrize(
    ("hyperparams", "message"),
    [
        ({"max_iter": "abc"}, "train.hyperparams.max_iter: must be an int in the range [1, inf), got 'abc'"),
        (
            {"learning_rate": -1},
            "train.hyperparams.learning_rate: must be a float in the range (0.0, inf), got -1",
        ),
        (
            {"max_leaf_nodes": 1},
            "train.hyperparams.max_leaf_nodes: must be an int in the range [2, inf) or None, got 1",
        ),
    ],
)
def test_hyperparams_are_checked_against_sklearns_constraints(hyperparams: dict, message: str) -> None:
    params = TrainParams(seed=1, model="hist_gradient_boosting", hyperparams=hyperparams)
    with pytest.raises(ConfigError) as info:
        train.fit(make_table(30), CONTRACT, params)
    assert str(info.value) == message


def test_cli_train_refuses_bad_params_in_one_line(tmp_path: Path) -> None:
    paths = write_split(tmp_path)
    args = ["train", "--params", str(paths["params"]), "--train", str(paths["train"])]
    args += [
        "--summary",
        str(paths["summary"]),
        "--model",
        str(tmp_path / "m"),
        "--card",
        str(tmp_path / "c"),
    ]
    for old, new, message in (
        ("{max_iter: 15}", "{max_iter: abc}", "train.hyperparams.max_iter: must be an int in the range"),
        ("class_weight", "drop_columns: [ts, entry_point, height, speed, code_ok]\n  class_weight",
         "train.drop_columns: drops every feature (ts, entry_point, height, speed, code_ok); keep at least"),
        ("class_weight", "threads: 0\n  class_weight", ":train.threads: must be an int >= 1, got 0"),
    ):  # fmt: skip
        write_params(paths["params"])
        paths["params"].write_text(paths["params"].read_text().replace(old, new, 1))
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.output.startswith("strata train: error: ") and message in result.output
        assert len(result.output.strip().splitlines()) == 1
        assert not (tmp_path / "m").exists()

"""`strata predict`: delivered files go through validate's own contract code; parity with the validate
stage on the same file, the rejects file, clean-format input, and one-line errors for every option."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from serve_helpers import CONTRACT, clean_table, train_model
from typer.testing import CliRunner

from stages import validate
from strata.atomic import parquet_writer
from strata.cli import app
from strata.contract import spec
from strata.contract.spec import METADATA_KEY, ROW, ColumnSpec, Contract, to_metadata
from strata.serving import predict, scoring
from strata.serving.model import Loaded, load
from strata.sources.readers import read_raw

# Delivered rows as sites send them: aliases, text, NA markers, boolean words, and what validate quarantines.
MESS: dict[int, dict[str, Any]] = {
    2: {"code_ok": "yes"},
    3: {"code_ok": "-", "height": "?"},
    4: {"height": "12,5"},
    5: {"ts": "yesterday"},
    6: {"entry_point": "chimney"},
    7: {"speed": "-1", "height": "2600"},
    8: {"event_id": ""},
    9: {"label": ""},
    10: {"event_id": "b00001"},  # a duplicate of row 1: dropped as validate drops it
    11: {"ts": "2026-02-30T10:00:00Z"},
}
ALIASES = {"event_id": "eventId", "entry_point": "entryPoint", "height": "objectHeight", "code_ok": "codeOk"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return train_model(tmp_path_factory.mktemp("predict"))


@pytest.fixture(scope="module")
def loaded(trained: dict[str, Path]) -> Loaded:
    return load(trained["model"])


def delivered_rows(rows: int = 30, inches: bool = False) -> list[dict[str, Any]]:
    """Clean rows rendered as text the way a site delivers them, with MESS applied, under alias names."""
    out = []
    for i, row in enumerate(
        clean_table(rows, 5, "b").drop_columns(["_source", "_batch", "_row"]).to_pylist()
    ):
        text = {
            k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in row.items()
        }
        text["ts"] = row["ts"].isoformat() if row["ts"] else ""
        if inches and row["height"] is not None:
            text["height"] = repr(row["height"] / 2.54)
        text |= MESS.get(i, {})
        out.append({ALIASES.get(k, k): v for k, v in text.items()})
    return out


def write_delivered(path: Path, rows: list[dict[str, Any]]) -> Path:
    if path.name.endswith(".csv"):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path.write_text(buffer.getvalue() + "ragged,line\n")  # malformed: quarantined by validate
    elif path.name.endswith(".jsonl.gz"):
        lines = [json.dumps({k: v for k, v in r.items() if v != ""}) for r in rows] + ["not json"]
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def validated(path: Path, fmt: str, gz: bool, source: str, folder: Path) -> tuple[pa.Table, pa.Table]:
    """(clean, quarantine) of the validate stage for this delivered file, through ingest's reader."""
    part = folder / "partition.parquet"
    writer = None
    for chunk in read_raw(path, fmt, gz, 1000, "file"):
        writer = writer or parquet_writer(part, chunk.schema)
        writer.write_batch(chunk)
    assert writer is not None
    writer.close()
    parquet = pq.ParquetFile(part)
    delivered = tuple(n for n in parquet.schema_arrow.names if n not in (ROW, "_malformed"))
    datum = validate.Datum(f"{source}/x", source, "file", delivered, parquet.metadata.num_rows)
    clean, quarantine = Sink(), Sink()
    validate.validate_datum(datum, parquet, CONTRACT, 1000, clean=clean, quarantine=quarantine)
    return clean.table(spec.clean_schema(CONTRACT)), quarantine.table(spec.quarantine_schema(delivered))


class Sink:
    def __init__(self) -> None:
        self.parts: list[pa.Table] = []

    def write(self, table: pa.Table | pa.RecordBatch) -> None:
        self.parts.append(pa.Table.from_batches([table]) if isinstance(table, pa.RecordBatch) else table)

    def table(self, schema: pa.Schema) -> pa.Table:
        parts = [part.cast(schema) for part in self.parts if part.num_rows]
        return pa.concat_tables(parts) if parts else schema.empty_table()


@pytest.mark.parametrize(
    ("name", "source"), [("acme.csv", "acme"), ("birch.jsonl.gz", "birch"), ("cedar.parquet", "cedar")]
)
def test_predict_scores_what_validate_keeps_and_rejects_what_it_quarantines(
    trained: dict[str, Path], loaded: Loaded, tmp_path: Path, name: str, source: str
) -> None:
    path = write_delivered(tmp_path / name, delivered_rows(inches=source == "cedar"))
    fmt, gz = predict.input_format(path)
    clean, quarantine = validated(path, fmt, gz, source, tmp_path)
    counts = predict.run(loaded, path, source, tmp_path / "s.parquet", tmp_path / "r.parquet")
    scores, rejects = pq.read_table(tmp_path / "s.parquet"), pq.read_table(tmp_path / "r.parquet")

    reference = scoring.score_table(loaded, clean, clean.column(ROW))
    assert scores.equals(reference)  # same rows, same probabilities, bit for bit
    assert sorted(zip(rejects[ROW].to_pylist(), rejects["reason"].to_pylist(), strict=True)) == sorted(
        zip(quarantine[ROW].to_pylist(), quarantine["reason"].to_pylist(), strict=True)
    )
    assert rejects.schema == quarantine.schema
    assert (counts.rows_in, counts.duplicates) == (31 if fmt != "parquet" else 30, 1)
    assert counts.rejected == quarantine.num_rows >= len(MESS) - 3


def _predict(trained: dict[str, Path], source: Path, out: Path, *extra: str) -> tuple[int, str]:
    args = ["predict", "--model", str(trained["model"]), "--input", str(source), "--out", str(out), *extra]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def test_cli_writes_scores_and_a_rejects_file_beside_them(trained: dict[str, Path], tmp_path: Path) -> None:
    path = write_delivered(tmp_path / "in.csv", delivered_rows())
    code, output = _predict(trained, path, tmp_path / "out.parquet")
    assert code == 0, output
    assert output.startswith(
        "predict: rows in 31 = scored 22 + rejected 8 + duplicates 1; predicted: animal "
    )
    assert f"rejects in {tmp_path / 'out.rejects.parquet'} (" in output
    rejects = pq.read_table(tmp_path / "out.rejects.parquet")
    assert "unparseable float in 'height': '12,5'" in rejects["reason"].to_pylist()
    assert rejects.column_names[-2:] == ["_row", "reason"] and "objectHeight" in rejects.column_names
    code, output = _predict(trained, path, tmp_path / "b.parquet", "--rejects", str(tmp_path / "bad.parquet"))
    assert code == 0 and (tmp_path / "bad.parquet").exists() and not (tmp_path / "b.rejects.parquet").exists()


def test_clean_parquet_is_scored_as_it_is(trained: dict[str, Path], loaded: Loaded, tmp_path: Path) -> None:
    code, output = _predict(trained, trained["test"], tmp_path / "out.parquet")
    assert code == 0, output
    assert output.startswith("predict: rows in 40 = scored 40 + rejected 0 + duplicates 0;")
    test = pq.read_table(trained["test"])
    assert pq.read_table(tmp_path / "out.parquet").equals(
        scoring.score_table(loaded, test, pa.array(range(40)))
    )
    assert pq.read_table(tmp_path / "out.rejects.parquet").num_rows == 0


def test_clean_parquet_of_another_contract_is_refused(trained: dict[str, Path], tmp_path: Path) -> None:
    other = Contract(target="label", columns={**CONTRACT.columns, "extra": ColumnSpec(type="int")})
    table = clean_table(3, 1, "a").replace_schema_metadata({METADATA_KEY: to_metadata(other)})
    pq.write_table(table, tmp_path / "in.parquet")
    code, output = _predict(trained, tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert (code, output) == (
        1,
        f"strata predict: error: {tmp_path / 'in.parquet'}: written under another contract than the model's "
        "(score the delivered file instead)\n",
    )


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_required_column_missing_from_the_file_is_one_line(
    trained: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    rows = [{k: v for k, v in row.items() if k != "timestamp" and k != "ts"} for row in delivered_rows(3)]
    path = tmp_path / f"in.{fmt}"
    if fmt == "csv":
        write_delivered(path, rows)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, output = _predict(trained, path, tmp_path / "out.parquet")
    assert code == 1
    assert output == (
        f"strata predict: error: {path}: missing required column 'ts' (delivered: eventId, entryPoint, "
        "objectHeight, speed, codeOk, label)\n"
    )
    assert list(tmp_path.glob("out*")) == []  # nothing half-written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "nope.csv"], "--input nope.csv: file not found"),
        (["--input", "{folder}/model.skops"],
         "--input {folder}/model.skops: unsupported file type (csv, jsonl, parquet; optionally .gz)"),
        (["--out", "{folder}/out.csv"], "--out {folder}/out.csv: must end in .parquet"),
        (["--out", "{folder}/test.parquet"], "--out {folder}/test.parquet: would overwrite the input"),
        (["--rejects", "{folder}/o.parquet"], "--rejects {folder}/o.parquet: same file as --out"),
        (["--out", "{folder}/card.json/o.parquet"],
         "--out {folder}/card.json/o.parquet: {folder}/card.json is a file, not a folder"),
        (["--card", "{folder}/nope.json"],
         "{folder}/nope.json: model card not found (scoring reads the data contract from it)"),
    ],
)  # fmt: skip
def test_options_are_checked_with_one_line_errors(
    trained: dict[str, Path], args: list[str], message: str
) -> None:
    folder = str(trained["folder"])
    base = {"--model": str(trained["model"]), "--input": str(trained["test"]), "--out": f"{folder}/o.parquet"}
    given = dict(zip(args[::2], [a.format(folder=folder) for a in args[1::2]], strict=True))
    argv = ["predict", *(x for pair in (base | given).items() for x in pair)]
    result = CliRunner().invoke(app, argv)
    assert (result.exit_code, result.output) != (0, "")
    assert result.output == f"strata predict: error: {message.format(folder=folder)}\n"


def test_a_card_without_the_contract_is_refused(trained: dict[str, Path], tmp_path: Path) -> None:
    card = json.loads(trained["card"].read_text())
    del card["contract"]
    (tmp_path / "card.json").write_text(json.dumps(card))
    code, output = _predict(
        trained, trained["test"], tmp_path / "o.parquet", "--card", str(tmp_path / "card.json")
    )
    assert (code, output) == (
        1,
        f"strata predict: error: {tmp_path / 'card.json'}: card has no contract (written by an older "
        "`strata train`; retrain)\n",
    )

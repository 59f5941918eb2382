"""predict: batch scoring of a file with a trained model.

The scoring core :func:`score` is pure (model + arrow table in, arrow table out) so a near-real-time server
can reuse it unchanged. The model itself carries its input columns and their contract types (the same
input schema the card records), so csv/jsonl input is cast to exactly what the model was trained on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from strata.atomic import read_json, sha256_file, write_table
from strata.contract.spec import read_contract
from strata.errors import SchemaError
from strata.model import features
from strata.model.artifact import load_model

if TYPE_CHECKING:
    import pyarrow as pa

PREDICTED = "predicted"
PROBA_PREFIX = "proba_"
TEXT_FORMATS = (".csv", ".jsonl", ".json")


def score(model: Any, table: pa.Table, key: Sequence[str] = (), where: str | Path = "input") -> pa.Table:
    """Key columns (those present) + predicted class + one probability column per class, in input order.

    Input columns are cast to the model's contract types; one that cannot be is a SchemaError naming it.
    """
    import pyarrow as pa

    proba, predicted = features.predict(model, table, where)
    columns = {name: table[name] for name in key if name in table.column_names}
    columns[PREDICTED] = pa.array(predicted.tolist(), pa.string())
    for i, cls in enumerate(model.classes_):
        columns[f"{PROBA_PREFIX}{cls}"] = pa.array(proba[:, i], pa.float64())
    return pa.table(columns)


def read_input(
    path: Path, inputs: Sequence[tuple[str, str]], key: Sequence[str]
) -> tuple[pa.Table, list[str]]:
    """(table with key + input columns, key) from clean Parquet, or csv/jsonl text to be cast later."""
    import pyarrow.parquet as pq

    if not path.exists():
        raise SchemaError(f"{path}: input file not found")
    if path.suffix == ".parquet":
        contract = read_contract(path)
        key = list(contract.key)
        names = pq.read_schema(path).names
    elif path.suffix in TEXT_FORMATS:
        table = read_text(path, path.suffix, [name for name, _ in inputs], path)
        names = table.column_names
    else:
        raise SchemaError(f"{path}: unsupported input format '{path.suffix}' (parquet, csv, jsonl)")
    missing = [name for name, _ in inputs if name not in names]
    if missing:
        raise SchemaError(f"{path}: missing feature column '{missing[0]}'")
    wanted = [name for name in key if name in names] + [name for name, _ in inputs]
    if path.suffix == ".parquet":
        return features.read_table(path, wanted), list(key)
    return table.select(list(dict.fromkeys(wanted))), list(key)


def read_text(source: Path | IO[bytes], fmt: str, names: Sequence[str], where: str | Path) -> pa.Table:
    """csv: every feature column read as text (cast to the model's types later); jsonl: as parsed.

    ``source`` is a file or a byte stream (the server feeds its events here), so both parse alike.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson

    try:
        if fmt == ".csv":
            options = pcsv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=True
            )
            return pcsv.read_csv(source, convert_options=options)
        return pjson.read_json(source)
    except pa.ArrowInvalid as exc:
        raise SchemaError(f"{where}: cannot parse ({str(exc).splitlines()[0]})") from exc


@dataclass(frozen=True)
class Loaded:
    """A verified model: the fitted Pipeline, its card ({} if there is none), event key and file sha256."""

    model: Any
    card: dict[str, Any]
    key: list[str]
    sha256: str


def load(model: Path, card: Path | None = None) -> Loaded:
    """Load the model (trusted types only) and its card; the card must describe this very model file.

    The card defaults to card.json beside the model and may be absent; one named explicitly must exist.
    """
    fitted = load_model(model)
    digest = sha256_file(model)
    path = card or model.with_name("card.json")
    info = read_json(path, default=None)
    if info is None and card is not None:
        raise SchemaError(f"{path}: model card not found")
    info = info or {}
    if info.get("model", {}).get("sha256") not in (None, digest):
        raise SchemaError(f"{path}: card does not describe {model} (sha256 differs)")
    return Loaded(fitted, info, list(info.get("key", [])), digest)


def command(
    model: Annotated[Path, typer.Option(help="skops model written by train")],
    input_path: Annotated[
        Path, typer.Option("--input", help="rows to score: clean-format .parquet, or .csv / .jsonl")
    ],
    out: Annotated[Path, typer.Option(help="output Parquet: key, predicted, proba_<class>")],
    card: Annotated[
        Path | None,
        typer.Option(help="model card (event key for csv/jsonl); default: card.json beside --model"),
    ] = None,
) -> None:
    """Score a file with a trained model; write the key, predicted class and class probabilities."""
    start = time.perf_counter()
    loaded = load(model, card)
    fitted = loaded.model
    inputs = features.model_inputs(fitted)
    table, key = read_input(input_path, inputs, loaded.key)
    result = score(fitted, table, key, where=input_path)
    write_table(out, result)
    counts = result[PREDICTED].value_counts().to_pylist()
    shares = ", ".join(f"{c['values']} {c['counts']}" for c in sorted(counts, key=lambda c: str(c["values"])))
    typer.echo(
        f"predict: {result.num_rows} rows, {len(fitted.classes_)} classes "
        f"(predicted: {shares or 'none'}), {time.perf_counter() - start:.1f} s"
    )

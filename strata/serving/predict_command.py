"""The `strata predict` command: one file scored here (``--out``), or many files (``--out-dir``) scored as
datums on strata.executor, wherever the `executor` section of ``--params`` says (default: local).

With ``--out-dir`` every input file is one datum: :func:`strata.serving.predict.score_task` gets the file's
bytes and the model's as blobs (a path for workers on this machine, the bytes for a cluster, the model sent
to each dask worker once) and returns the two files :func:`strata.serving.predict.run` would write; this
process writes them atomically as `<out-dir>/<stem>.parquet` and `<out-dir>/<stem>.rejects.parquet`, in
input order. Workers never touch the work tree, so the executor changes no output byte (tested).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from strata.config import ExecutorParams, section
from strata.errors import ConfigError, StrataError
from strata.serving import predict
from strata.serving.model import Loaded, load
from strata.serving.predict import SUFFIXES, Counts

TYPES = "csv, jsonl, parquet; optionally .gz"


def supported(path: Path) -> bool:
    return path.name.lower().removesuffix(".gz").endswith(SUFFIXES)


def stem(path: Path) -> str:
    """`acme.csv.gz` -> `acme`: the name of an input's outputs in ``--out-dir``."""
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    return Path(name).stem


def expand(inputs: list[Path]) -> list[Path]:
    """The files to score: each ``--input`` file, and each folder's files of a scorable type (by name)."""
    files: list[Path] = []
    for given in inputs:
        if given.is_dir():
            found = [p for p in sorted(given.iterdir()) if p.is_file() and not p.name.startswith(".")]
            if not (found := [p for p in found if supported(p)]):
                raise ConfigError(f"--input {given}: no file to score in this folder ({TYPES})")
            files += found
        elif given.is_file():
            predict.input_format(given)
            files.append(given)
        else:
            raise ConfigError(f"--input {given}: file not found")
    return files


def outputs(files: list[Path], out_dir: Path) -> dict[str, tuple[Path, Path]]:
    """input -> (scores, rejects) in ``out_dir``; two inputs writing one name is an error, not a race."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out-dir {out_dir}: is a file, not a folder")
    inputs: set[Path] = set()
    for path in files:
        if path.resolve() in inputs:
            raise ConfigError(f"--input {path}: given twice")
        inputs.add(path.resolve())
    owner: dict[str, Path] = {}
    planned = {}
    for path in files:
        pair = (out_dir / f"{stem(path)}.parquet", out_dir / f"{stem(path)}.rejects.parquet")
        for out in pair:
            first = owner.setdefault(out.name.casefold(), path)  # casefold: macOS and Windows disks
            if first != path:
                raise ConfigError(f"--out-dir {out_dir}: {first} and {path} would both write {out.name}")
            if out.resolve() in inputs:
                raise ConfigError(f"--out-dir {out_dir}: {out} would overwrite an input")
        planned[str(path)] = pair
    return planned


def run_many(
    loaded: Loaded,
    card: Path,
    planned: dict[str, tuple[Path, Path]],
    source: str,
    executor: ExecutorParams,
) -> Counts:
    """Score every planned input as a datum on the executor; write each result as it comes, in order."""
    from strata import executor as ex
    from strata.atomic import write_bytes

    jobs = [
        ex.Job(where, (ex.Blob(path=str(Path(where).absolute()), size=size), where, source), size)
        for where in planned
        for size in [Path(where).stat().st_size]
    ]
    backend = ex.open_backend(executor, jobs)
    finished = False
    total = Counts()
    try:
        model = ex.Blob(path=str(Path(loaded.path).absolute())).resolve(backend.shares_disk)
        ref = predict.ModelRef(model, loaded.sha256, loaded.card, loaded.path, str(card))
        predict.remember(loaded)  # inline: the task finds the model this process loaded
        shared = backend.share(ref)
        jobs = [dataclasses.replace(job, args=(*job.args, shared)) for job in jobs]
        for job, result in ex.run(predict.score_task, jobs, executor, "predict", backend=backend):
            scores, rejects = planned[job.label]
            write_bytes(rejects, result.rejects)
            write_bytes(scores, result.scores)
            total.merge(result.counts)
        finished = True
    finally:
        backend.close(abort=not finished)
    return total


def _predicted(counts: Counts) -> str:
    return ", ".join(f"{cls} {n}" for cls, n in sorted(counts.predicted.items())) or "none"


def _rows(counts: Counts) -> str:
    return (
        f"rows in {counts.rows_in} = scored {counts.scored} + rejected {counts.rejected} "
        f"+ duplicates {counts.duplicates}; predicted: {_predicted(counts)}"
    )


def command(
    *,
    model: Annotated[Path, typer.Option(help="skops model written by train (its card.json beside it)")],
    input_path: Annotated[
        list[Path],
        typer.Option(
            "--input",
            help="file to score: as delivered (.csv, .jsonl, .parquet, optionally .gz), or clean Parquet; "
            "with --out-dir repeat it, or give a folder (its files of those types)",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="output Parquet of one --input file: key, _row, predicted, proba_<class>"),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            help="output folder for many inputs, scored on the executor: <stem>.parquet and "
            "<stem>.rejects.parquet per input file"
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="output Parquet of rejected rows (delivered text, _row, reason); "
            "default: <out>.rejects.parquet"
        ),
    ] = None,
    source: Annotated[
        str, typer.Option(help="source the file comes from: its contract.source_units apply (e.g. cedar)")
    ] = "",
    card: Annotated[
        Path | None, typer.Option(help="model card with the data contract; default: card.json beside --model")
    ] = None,
    params: Annotated[
        Path | None,
        typer.Option(
            help="params.yaml whose `executor` section runs --out-dir (default: local, one per core)"
        ),
    ] = None,
) -> None:
    """Score a file through the data contract: scores for the rows it accepts, a rejects file for the rest.

    With --out-dir, score many files (repeat --input, or give a folder) on the executor: one datum each.
    """
    start = time.perf_counter()
    if (out is None) == (out_dir is None):
        raise ConfigError("give --out FILE (one input file) or --out-dir DIR (many files, or a folder)")
    if out_dir is not None:
        if rejects is not None:
            raise ConfigError(f"--rejects {rejects}: with --out-dir each input's are <stem>.rejects.parquet")
        executor = section(params, "executor", ExecutorParams, optional=True) if params else ExecutorParams()
        planned = outputs(expand(input_path), out_dir)
        loaded = load(model, card)
        card_path = card or model.with_name("card.json")
        counts = _write(out_dir, lambda: run_many(loaded, card_path, planned, source, executor))
        seconds = time.perf_counter() - start
        typer.echo(f"predict: {len(planned)} files, {_rows(counts)}; outputs in {out_dir} ({seconds:.1f} s)")
        return
    assert out is not None
    if len(input_path) != 1 or input_path[0].is_dir():
        raise ConfigError(f"--out {out}: one output for one --input file; use --out-dir for many or a folder")
    if params is not None:
        raise ConfigError(f"--params {params}: only --out-dir runs on the executor; --out scores here")
    rejects_path = rejects or predict.default_rejects(out)
    predict.check_paths(input_path[0], out, rejects_path)
    loaded = load(model, card)
    counts = _write(out, lambda: predict.run(loaded, input_path[0], source, out, rejects_path))
    typer.echo(f"predict: {_rows(counts)}; rejects in {rejects_path} ({time.perf_counter() - start:.1f} s)")


def _write(out: Path, scoring: Callable[[], Counts]) -> Counts:
    try:
        return scoring()
    except OSError as exc:  # a full disk, a folder without write permission: one line, nothing half-written
        where = exc.filename or out
        raise StrataError(f"{where}: cannot write ({exc.strerror or exc})") from None

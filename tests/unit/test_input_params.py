"""Bad ingest / validate / split params are one line naming the key path and what is allowed, before any
file is read (issue 9): nothing reaches Python's codecs, pyarrow or Path.glob to fail there with a trace."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from strata.cli import app
from strata.config import IngestParams, SplitParams, ValidateParams, section
from strata.errors import ConfigError

runner = CliRunner()
SOURCE = {"name": "a", "kind": "files", "path": "a"}
CONTRACT = {"target": "id", "columns": {"id": {"type": "string"}}}


def write(tmp_path: Path, name: str, body: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({name: body}))
    return path


def ingest_error(tmp_path: Path, **source: object) -> str:
    params = write(tmp_path, "ingest", {"landing": "landing", "sources": [{**SOURCE, **source}]})
    with pytest.raises(ConfigError) as err:
        section(params, "ingest", IngestParams)
    return str(err.value).removeprefix(f"{params}:")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"encoding": "foo"},
            "ingest.sources[0].encoding: 'foo' is not a text encoding Python knows "
            "(e.g. utf8, latin-1, cp1252, utf-16)",
        ),
        ({"encoding": "rot13"}, "ingest.sources[0].encoding: 'rot13' is not a text encoding Python knows"),
        (
            {"delimiter": ""},
            "ingest.sources[0].delimiter: '' must be one ASCII character other than a double",
        ),
        ({"delimiter": ";;"}, "ingest.sources[0].delimiter: ';;' must be one ASCII character"),
        ({"delimiter": '"'}, "ingest.sources[0].delimiter: '\"' must be one ASCII character"),
        ({"delimiter": "\u00a7"}, "ingest.sources[0].delimiter: '\u00a7' must be one ASCII character"),
        ({"glob": ""}, "ingest.sources[0].glob: empty; use '*' for every file"),
        (
            {"glob": "/etc/passwd"},
            "ingest.sources[0].glob: '/etc/passwd' points outside the source; a glob is",
        ),
        ({"glob": "../*.csv"}, "ingest.sources[0].glob: '../*.csv' points outside the source"),
        (
            {"path": "../../outside"},
            "ingest.sources[0].path: '../../outside' points outside the source; a folder",
        ),
        ({"path": "/etc"}, "ingest.sources[0].path: '/etc' points outside the source"),
        ({"path": "~/x"}, "ingest.sources[0].path: '~/x' points outside the source"),
        ({"url": "s3://b/p"}, "ingest.sources[0].url: a 'files' source reads a folder (path), not a url"),
        ({"kind": "s3", "path": "", "url": "b/p"}, "ingest.sources[0].url: 'b/p' must start with s3://"),
        (
            {"kind": "http", "path": "", "url": "ftp://h/"},
            "ingest.sources[0].url: 'ftp://h/' must start with http",
        ),
        (
            {"kind": "s3", "url": "s3://b/p"},
            "ingest.sources[0].path: a 's3' source reads its url, not a folder",
        ),
        ({"name": "a b"}, "ingest.sources[0].name: 'a b' must be a plain folder name"),
        ({"allow_empty": "yes"}, "ingest.sources[0].allow_empty: expected bool, got 'yes'"),
    ],
)
def test_bad_source_params_name_the_key_and_the_rule(tmp_path, source, message):
    assert ingest_error(tmp_path, **source).startswith(message)


@pytest.mark.parametrize(
    ("name", "cls", "body", "message"),
    [
        ("ingest", IngestParams, {"landing": "l", "sources": [SOURCE], "chunk_rows": 0}, "ingest.chunk_rows"),
        ("validate", ValidateParams, {"contract": CONTRACT, "chunk_rows": 0}, "validate.chunk_rows"),
        ("validate", ValidateParams, {"contract": CONTRACT, "chunk_rows": 1 << 30}, "validate.chunk_rows"),
    ],
)
def test_chunk_rows_has_a_range(tmp_path, name, cls, body, message):
    with pytest.raises(ConfigError, match=rf"{message}: must be between 1 and 16777216, got"):
        section(write(tmp_path, name, body), name, cls)


def test_validate_workers_moved_to_the_executor_section(tmp_path):
    params = write(tmp_path, "validate", {"contract": CONTRACT, "workers": 2})
    message = r"validate: unknown key 'workers' \(allowed: chunk_rows, contract\)"
    with pytest.raises(ConfigError, match=message):
        section(params, "validate", ValidateParams)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5])
def test_split_fraction_is_strictly_between_0_and_1(tmp_path, fraction):
    params = write(tmp_path, "split", {"seed": 1, "test_fraction": fraction})
    with pytest.raises(ConfigError, match=r"split.test_fraction: must be between 0 and 1, got"):
        section(params, "split", SplitParams)


@pytest.mark.parametrize(
    ("verb", "body", "message"),
    [
        ("ingest", {"landing": "l", "sources": [{**SOURCE, "encoding": "utf-17"}]}, "encoding: 'utf-17'"),
        ("validate", {"contract": CONTRACT, "chunk_rows": 0}, "validate.chunk_rows: must be between"),
    ],
)
def test_the_cli_says_it_in_one_line(tmp_path, verb, body, message):
    params = write(tmp_path, verb, body)
    opts = {
        "ingest": {"--landing": "l", "--out": "o", "--hash-cache": "c.json"},
        "validate": {"--partitions": "p", "--clean": "c", "--quarantine": "q"},
    }[verb]
    args = [arg for option, value in opts.items() for arg in (option, str(tmp_path / value))]
    result = runner.invoke(app, [verb, "--params", str(params), *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith(f"strata {verb}: error: {params}:{verb}.")
        and message in lines[0]
    )

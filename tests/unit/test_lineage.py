"""Walking a dvc.lock from an output back to its source stages."""

from __future__ import annotations

from typing import Any

import pytest

from strata.review.lineage import chain, datum_of, producers, stage_node

LOCK: dict[str, Any] = {
    "schema": "2.0",
    "stages": {
        "simulate": {"cmd": "sim", "deps": [], "outs": [{"path": "data/landing/sim", "md5": "s.dir"}]},
        "ingest": {
            "cmd": "ing",
            "deps": [{"path": "stages/ingest.py", "md5": "c1"}, {"path": "data/landing", "md5": "l.dir"}],
            "params": {"params.yaml": {"ingest": {"chunk_rows": 10}}},
            "outs": [{"path": "data/partitions", "md5": "p.dir"}],
        },
        "validate": {
            "cmd": "val",
            "deps": [{"path": "data/partitions", "md5": "p.dir"}],
            "outs": [{"path": "data/clean", "md5": "c.dir"}, {"path": "data/quarantine", "md5": "q.dir"}],
        },
        "train": {
            "cmd": "train",
            "deps": [{"path": "data/clean", "md5": "c.dir"}],
            "outs": [{"path": "models/model.skops", "md5": "m"}, {"path": "models/card.json", "md5": "k"}],
        },
        "evaluate": {
            "cmd": "eval",
            "deps": [{"path": "models/model.skops", "md5": "m"}],
            "outs": [{"path": "eval/metrics.json", "md5": "e"}],
        },
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("models/model.skops", ["train"]),
        ("data/clean/acme/0123.parquet", ["validate"]),
        ("models", ["train"]),
        ("data/landing", ["simulate"]),  # a dep folder holding another stage's out
        ("stages/ingest.py", []),
    ],
)
def test_producers(path: str, expected: list[str]) -> None:
    assert producers(LOCK, path) == expected


def test_chain_walks_back_to_the_first_stage() -> None:
    assert chain(LOCK, "eval/metrics.json") == ["evaluate", "train", "validate", "ingest", "simulate"]
    assert chain(LOCK, "data/quarantine") == ["validate", "ingest", "simulate"]
    assert chain(LOCK, "README.md") == []


def test_stage_node_keeps_cmd_params_and_md5s() -> None:
    node = stage_node(LOCK, "ingest")
    assert node == {
        "stage": "ingest",
        "cmd": "ing",
        "params": {"params.yaml": {"ingest": {"chunk_rows": 10}}},
        "deps": [{"path": "stages/ingest.py", "md5": "c1"}, {"path": "data/landing", "md5": "l.dir"}],
        "outs": [{"path": "data/partitions", "md5": "p.dir"}],
    }


@pytest.mark.parametrize(
    "path",
    [
        "data/clean/acme/0123abcd4567ef89.parquet",
        "data/clean/acme/0123abcd4567ef89-9f8e7d6c5b4a3210.parquet",  # named by its output key
        "data/partitions/acme/0123abcd4567ef89-00ff.parquet",
    ],
)
def test_datum_of_a_per_datum_file(path: str) -> None:
    assert datum_of(path) == "acme/0123abcd4567ef89"

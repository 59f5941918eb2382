"""Scoring on the default feed from a fresh clone: `strata predict` on every delivered batch scores exactly
the rows validate keeps, with the probabilities of the clean partition, and rejects exactly the rows validate
quarantines, with the same reasons; `strata serve` answers the same events the same way."""

from __future__ import annotations

import csv
import gzip
import http.client
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from strata.atomic import read_json
from strata.serving import predict, scoring
from strata.serving.model import Loaded, load
from tests.e2e.conftest import Project, copy_project

pytestmark = pytest.mark.slow

DAYS = 12


@pytest.fixture(scope="module")
def repro(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = copy_project(tmp_path_factory.mktemp("serving") / "project")
    params = project.params()  # 12 days: every delivery style, birch's new column from day 6
    params["simulate"]["days"] = DAYS
    next(s for s in params["simulate"]["sites"] if s["name"] == "birch")["new_column_from_day"] = 6
    project.write_params(params)
    project.run("dvc", "repro")
    return project


def delivered(project: Project) -> Iterator[tuple[str, dict[str, Any], Path]]:
    """(datum, its validate manifest entry, the delivered file) for every batch of the default feed."""
    params = project.params()
    folders = {
        s["name"]: project.path / params["ingest"]["landing"] / s["path"] for s in params["ingest"]["sources"]
    }
    for ident, entry in sorted(read_json(project.path / "data/clean/manifest.json")["datums"].items()):
        yield ident, entry, folders[entry["source"]] / entry["batches"][0]


def pairs(table: Any) -> list[tuple[int, str]]:
    return sorted(zip(table["_row"].to_pylist(), table["reason"].to_pylist(), strict=True))


def test_predict_on_every_delivered_batch_matches_validate(repro: Project, tmp_path: Path) -> None:
    loaded = load(repro.path / "models/model.skops")
    batches = list(delivered(repro))
    assert len(batches) == 3 * DAYS
    for ident, entry, path in batches:
        out, rejects = tmp_path / "scores.parquet", tmp_path / "rejects.parquet"
        counts = predict.run(loaded, path, entry["source"], out, rejects)
        clean = pq.read_table(repro.path / "data/clean" / entry["files"]["clean"])
        assert pq.read_table(out).equals(scoring.score_table(loaded, clean, clean["_row"])), ident
        quarantined = entry["files"].get("quarantine")
        expected = pairs(pq.read_table(repro.path / "data/quarantine" / quarantined)) if quarantined else []
        assert pairs(pq.read_table(rejects)) == expected, ident
        assert (counts.rows_in, counts.scored, counts.rejected, counts.duplicates) == (
            entry["rows_in"], entry["clean"], entry["quarantined"], entry["duplicates"],
        ), ident  # fmt: skip


def test_the_forest_walk_gives_sklearns_probabilities_on_the_whole_test_split(repro: Project) -> None:
    import numpy as np
    import sklearn

    from strata.serving import fast, forest

    loaded = load(repro.path / "models/model.skops")
    compiled = loaded.compiled
    assert compiled is not None and compiled.forest is not None  # the default model takes the few-rows path
    test = pq.read_table(repro.path / "data/split/test.parquet")
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        expected = fast.features.predict(loaded.model, test, "test")[0]  # through the Pipeline
        X = compiled.estimator._preprocess_X(fast.model_input(compiled, test, "test"), reset=False)
    got = np.vstack([compiled.forest.predict_proba(X[i : i + 4096]) for i in range(0, len(X), 4096)])
    assert got.tobytes() == expected.tobytes() and test.num_rows > 1000
    few = np.vstack(
        [compiled.forest.predict_proba(X[i : i + forest.ROWS]) for i in range(0, 2048, forest.ROWS)]
    )
    assert few.tobytes() == expected[:2048].tobytes()


def events_of(path: Path) -> list[Any]:
    """The events of a delivered csv or jsonl.gz file as a sender would POST them (CSV values as text)."""
    if path.name.endswith(".csv"):
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def post(port: int, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, body)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.fixture
def served(repro: Project, tmp_path: Path) -> Iterator[int]:
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            ["strata", "serve", "--model", "models/model.skops", "--port", "0"],
            cwd=repro.path, env=repro.env | {"PYTHONUNBUFFERED": "1"}, stderr=err,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while "listening on" not in (text := log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, text
            time.sleep(0.1)
        yield int(text.split("127.0.0.1:")[1].split(" ")[0])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_answers_delivered_events_as_predict_scores_them(
    repro: Project, served: int, tmp_path: Path
) -> None:
    loaded: Loaded = load(repro.path / "models/model.skops")
    checked = singles = 0
    for ident, entry, path in delivered(repro):
        if entry["source"] == "cedar" or "malformed row" in entry["reasons"] or int(ident[-1], 16) % 4:
            continue  # a sample of the csv and jsonl batches whose rows are all events (a ragged CSV line
            # is not); cedar's Parquet is not what a sender writes as JSON
        counts = predict.run(loaded, path, entry["source"], tmp_path / "s.parquet", tmp_path / "r.parquet")
        scores = {r["_row"]: r for r in pq.read_table(tmp_path / "s.parquet").to_pylist()}
        rejects = dict(pairs(pq.read_table(tmp_path / "r.parquet")))
        events = events_of(path)
        body = "\n".join(json.dumps(e) for e in events).encode()
        status, payload = post(served, f"/predict?source={entry['source']}", body)
        assert status == 200, payload
        answers = payload["predictions"]
        assert len(answers) == len(events), ident
        for row, answer in enumerate(answers):
            if row in scores:
                assert answer["predicted"] == scores[row]["predicted"], (ident, row)
                assert answer["proba"] == {c: scores[row][f"proba_{c}"] for c in loaded.classes}, (ident, row)
            elif row in rejects:
                assert answer["error"] == rejects[row], (ident, row)
        for row, event in list(enumerate(events))[:: max(1, len(events) // 25)]:  # one event a request: the
            status, one = post(served, f"/predict?source={entry['source']}", json.dumps(event).encode())
            if row in scores:  # few-rows path (strata.serving.plain, strata.serving.forest)
                assert status == 200, (ident, row, one)
                [answer] = one["predictions"]
                assert answer["proba"] == {c: scores[row][f"proba_{c}"] for c in loaded.classes}, (ident, row)
                singles += 1
            elif row in rejects:
                assert (status, one) == (400, {"error": rejects[row]}), (ident, row)
        checked += counts.rows_in
    assert checked > 1000 and singles > 100

"""Source kind `http`: a listing URL or one file, served by a real HTTP server on loopback."""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from stages import ingest
from strata.atomic import sha256_file
from strata.config import IngestParams, SourceSpec
from strata.errors import SourceError
from strata.sources import open_source, refresh


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    (root / "feed").mkdir(parents=True)
    (root / "feed" / "2026-01-01.csv").write_text("id,w\n1,2\n")
    (root / "feed" / "2026-01-02.jsonl.gz").write_bytes(gzip.compress(b'{"id": 2}\n', mtime=0))
    (root / "feed" / "notes.txt").write_text("not a batch")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def spec(url: str, glob: str = "*") -> SourceSpec:
    return SourceSpec(name="web", kind="http", url=url, glob=glob)


def test_listing_batches_and_bytes_match_the_files(served) -> None:
    base, root = served
    source = open_source(spec(f"{base}/feed/", glob="2026-*"), Path("."))
    batches = source.list_batches()
    assert [(b.name, b.format, b.gzip) for b in batches] == [
        ("2026-01-01.csv", "csv", False),
        ("2026-01-02.jsonl.gz", "jsonl", True),
    ]
    for batch in batches:
        with source.materialize(batch) as local:
            assert sha256_file(local) == sha256_file(root / "feed" / batch.name)
        assert not local.exists()  # the temp download is gone after the block


def test_ingest_from_http_equals_ingest_from_the_folder(served, tmp_path: Path) -> None:
    base, root = served
    web = IngestParams(landing="unused", sources=(spec(f"{base}/feed/", glob="2026-*"),))
    _, from_web = ingest.run(web, tmp_path, tmp_path / "web", tmp_path / "c1.json")
    local = SourceSpec(name="web", kind="files", path="feed", glob="2026-*")
    _, from_files = ingest.run(
        IngestParams(landing="www", sources=(local,)), root, tmp_path / "f", tmp_path / "c2.json"
    )
    assert sorted(from_web) == sorted(from_files)
    assert (tmp_path / "web").joinpath(from_web[sorted(from_web)[0]]["files"]["partition"]).read_bytes() == (
        tmp_path / "f"
    ).joinpath(from_files[sorted(from_files)[0]]["files"]["partition"]).read_bytes()


def test_one_file_url_and_unreachable_host(served) -> None:
    base, _ = served
    source = open_source(spec(f"{base}/feed/2026-01-01.csv"), Path("."))
    assert [b.name for b in source.list_batches()] == ["2026-01-01.csv"]
    gone = open_source(spec("http://127.0.0.1:9/feed/"), Path("."))
    with pytest.raises(SourceError, match=r"^source 'web': cannot fetch http://127.0.0.1:9/feed/: "):
        gone.list_batches()


def test_refresh_lists_remote_sources_so_dvc_sees_them_change(served, tmp_path: Path) -> None:
    base, root = served
    landing = tmp_path / "landing"
    local = SourceSpec(name="mine", kind="files", path="mine")
    params = IngestParams(landing="landing", sources=(local, spec(f"{base}/feed/", glob="2026-*")))
    (landing / ".listings").mkdir(parents=True)
    (landing / ".listings" / "gone.json").write_text("{}")  # a source no longer configured
    assert refresh.refresh(params, landing) == {"web": 2}
    listing = landing / ".listings" / "web.json"
    first = listing.read_bytes()
    assert [b["name"] for b in json.loads(first)["batches"]] == ["2026-01-01.csv", "2026-01-02.jsonl.gz"]
    assert sorted(p.name for p in (landing / ".listings").iterdir()) == ["web.json"]
    refresh.refresh(params, landing)
    assert listing.read_bytes() == first  # nothing changed: same bytes, DVC sees no change
    (root / "feed" / "2026-01-03.csv").write_text("id,w\n3,4\n")
    assert refresh.refresh(params, landing) == {"web": 3}
    assert listing.read_bytes() != first


def test_a_listing_yields_only_files_under_its_own_url(served) -> None:
    base, root = served
    host = base.removeprefix("http://")
    elsewhere = f"http://{'e' * len(host)}/list/2026-01-09.csv"  # as long as the listing's own url
    links = ["2026-01-01.csv", "../feed/2026-01-02.jsonl.gz", elsewhere, "/list/sub/2026-01-03.csv"]
    (root / "list").mkdir()
    (root / "list" / "index.html").write_text("".join(f'<a href="{link}">x</a>' for link in links))
    (root / "list" / "2026-01-01.csv").write_text("id\n1\n")
    listed = open_source(spec(f"{base}/list/", glob="2026-*"), Path(".")).list_batches()
    assert [b.name for b in listed] == ["2026-01-01.csv"]

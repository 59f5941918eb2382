"""Source kind `s3` against the loopback server: listing, glob, versions, streaming, one-line errors."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from strata.config import SourceSpec
from strata.errors import SourceError
from strata.sources import open_source
from strata.sources.s3 import S3Source, parse_s3_url
from strata.storage import s3server

OBJECTS = {
    "landing/acme/2026-01-02.csv": b"a,b\n1,2\n",
    "landing/acme/2026-01-01.csv": b"a,b\n0,1\n",
    "landing/acme/notes.txt": b"not a batch",
    "landing/acme/sub/2026-01-03.jsonl.gz": gzip.compress(b'{"a": 1}\n', mtime=0),
    "landing/acmeother/2026-01-01.csv": b"other prefix",
}


@pytest.fixture(scope="module")
def landed(s3_server) -> str:  # noqa: ANN001
    engineer = s3server.client("s3", s3_server.endpoint, s3_server.credentials["engineer"])
    for key, body in OBJECTS.items():
        engineer.put_object(Bucket="strata-raw", Key=key, Body=body)
    return s3_server.endpoint


@pytest.fixture
def as_role(s3_server, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    def apply(role: str) -> None:
        for name, value in s3_server.env(role).items():
            monkeypatch.setenv(name, value)

    return apply


def spec(url: str = "s3://strata-raw/landing/acme", glob: str = "*.csv", endpoint: str = "") -> SourceSpec:
    return SourceSpec(name="acme", kind="s3", url=url, glob=glob, endpoint_url=endpoint)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://b", ("b", "")),
        ("s3://b/", ("b", "")),
        ("s3://b/x/y", ("b", "x/y/")),
        ("s3://b/x/", ("b", "x/")),
    ],
)
def test_parse_s3_url(url: str, expected: tuple[str, str]) -> None:
    assert parse_s3_url(url) == expected


def test_lists_sorted_matching_keys_under_the_prefix_only(landed: str, as_role) -> None:  # noqa: ANN001
    as_role("engineer")
    batches = open_source(spec(), Path("unused")).list_batches()
    assert [b.name for b in batches] == ["2026-01-01.csv", "2026-01-02.csv"]
    first = batches[0]
    assert (first.format, first.gzip, first.size) == ("csv", False, 8)
    assert first.version == f"{hashlib.md5(OBJECTS['landing/acme/2026-01-01.csv']).hexdigest()}:8"  # noqa: S324
    nested = S3Source(spec(glob="*.jsonl.gz")).list_batches()
    assert [(b.name, b.format, b.gzip) for b in nested] == [("sub/2026-01-03.jsonl.gz", "jsonl", True)]


def test_materialize_streams_exact_bytes_and_cleans_up(landed: str, as_role) -> None:  # noqa: ANN001
    as_role("engineer")
    source = S3Source(spec(glob="*2026-*"))
    seen = []
    for batch in source.list_batches():
        with source.materialize(batch) as path:
            assert path.read_bytes() == OBJECTS[f"landing/acme/{batch.name}"]
            assert path.name.endswith(".csv") or path.name.endswith(".jsonl.gz")
            seen.append(path)
    assert len(seen) == 3 and not any(p.exists() for p in seen)


def test_endpoint_from_spec_wins_over_environment(landed: str, as_role, monkeypatch) -> None:  # noqa: ANN001
    as_role("engineer")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert len(S3Source(spec(endpoint=landed)).list_batches()) == 2
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("STRATA_S3_ENDPOINT", landed)
    assert len(S3Source(spec()).list_batches()) == 2


def test_errors_are_one_line_source_errors(landed: str, as_role, monkeypatch) -> None:  # noqa: ANN001
    as_role("reviewer")
    with pytest.raises(
        SourceError, match=r"^source 'acme': cannot list s3://strata-raw/landing/acme: AccessDenied"
    ):
        S3Source(spec()).list_batches()
    as_role("engineer")
    with pytest.raises(SourceError, match=r"^source 'acme': cannot list s3://nope/x: AccessDenied"):
        S3Source(spec(url="s3://nope/x")).list_batches()  # outside the engineer's policy, as on AWS
    down = f"http://127.0.0.1:{s3server.free_port()}"
    with pytest.raises(SourceError, match=rf"cannot list s3://strata-raw/landing/acme \(endpoint {down}\)"):
        S3Source(spec(endpoint=down)).list_batches()
    with pytest.raises(SourceError, match="is not an s3://bucket/prefix url"):
        S3Source(spec(url="strata-raw/landing"))


def test_missing_bucket_or_credentials_is_a_source_error(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    port = s3server.free_port()
    pid = s3server.start_server(port, 10**9, tmp_path / "moto.log")  # no IAM: only the bucket is missing
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no 2 s instance-metadata probe
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    try:
        with pytest.raises(SourceError, match="cannot list s3://nope/x .*: Unable to locate credentials"):
            S3Source(spec(url="s3://nope/x", endpoint=f"http://127.0.0.1:{port}")).list_batches()
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "any")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "any")
        with pytest.raises(SourceError, match=r"^source 'acme': cannot list s3://nope/x: NoSuchBucket"):
            S3Source(spec(url="s3://nope/x", endpoint=f"http://127.0.0.1:{port}")).list_batches()
    finally:
        s3server.stop_server(pid)

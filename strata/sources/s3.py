"""Source kind `s3`: every object under s3://bucket/prefix whose key (relative to the prefix) matches `glob`.

The endpoint comes from the spec (MinIO, loopback) or AWS_ENDPOINT_URL / STRATA_S3_ENDPOINT; credentials
only from the standard AWS chain (environment, ~/.aws, instance role), never from params.yaml. Objects
are streamed to a temp file in 1 MiB chunks, so memory stays flat whatever the object size.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from strata.config import SourceSpec
from strata.errors import SourceError
from strata.sources.base import Batch, detect_format

CHUNK = 1 << 20
ENDPOINT_ENV = ("AWS_ENDPOINT_URL", "STRATA_S3_ENDPOINT")


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of s3://bucket/some/prefix; the prefix is '' or ends with '/'."""
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise SourceError(f"'{url}' is not an s3://bucket/prefix url")
    bucket, _, prefix = url[5:].partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


class S3Source:
    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        self.bucket, self.prefix = parse_s3_url(spec.url)
        self._client: Any = None

    @property
    def endpoint(self) -> str | None:
        configured = self.spec.endpoint_url or next(
            (os.environ[v] for v in ENDPOINT_ENV if os.environ.get(v)), ""
        )
        return configured or None

    def _s3(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60
            )
            session = boto3.session.Session()  # not the default one: it caches the first credentials
            self._client = session.client("s3", endpoint_url=self.endpoint, config=config)
        return self._client

    def list_batches(self) -> list[Batch]:
        batches = []
        with self._errors("list"):
            pages = (
                self._s3().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    batch = self._batch(obj)
                    if batch is not None:
                        batches.append(batch)
        return sorted(batches, key=lambda b: b.name)

    def _batch(self, obj: dict[str, Any]) -> Batch | None:
        name = obj["Key"][len(self.prefix) :]
        if not name or name.endswith("/") or not fnmatch.fnmatchcase(name, self.spec.glob):
            return None
        fmt, gz = detect_format(name, self.spec.format, self.spec.name)
        version = f"{obj['ETag'].strip(chr(34))}:{obj['Size']}"
        return Batch(self.spec.name, name, fmt, gz, int(obj["Size"]), version)

    @contextlib.contextmanager
    def materialize(self, batch: Batch) -> Iterator[Path]:
        """Stream the object to a temp file (same suffix as the key), yield it, delete it afterwards."""
        suffix = "".join(Path(batch.name).suffixes[-2:])
        fd, tmp_name = tempfile.mkstemp(prefix="strata-s3-", suffix=suffix)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle, self._errors(f"read '{batch.name}' from"):
                body = self._s3().get_object(Bucket=self.bucket, Key=self.prefix + batch.name)["Body"]
                for block in body.iter_chunks(CHUNK):
                    handle.write(block)
            if tmp.stat().st_size != batch.size:
                raise SourceError(
                    f"source '{self.spec.name}' ({self.spec.url}): '{batch.name}' changed while reading "
                    f"({tmp.stat().st_size} bytes, listed {batch.size})"
                )
            yield tmp
        finally:
            tmp.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """S3 and connection failures as one-line SourceErrors naming the source and its url."""
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"source '{self.spec.name}': cannot {action} {self.spec.url}"
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "?"), error.get("Message", "")
            raise SourceError(f"{where}: {code}{f' ({message})' if message else ''}") from exc
        except BotoCoreError as exc:  # endpoint unreachable, no credentials, read timeout
            raise SourceError(f"{where} (endpoint {self.endpoint or 'AWS'}): {exc}") from exc

"""Source kind `http`: batches published at HTTP(S) URLs.

`url` is either one file (the whole source is one batch) or a listing: a URL ending in `/` whose
response is a plain-text or HTML index; every link matching `glob` is a batch. Downloads stream to a
temp file in 1 MiB chunks, so memory stays flat whatever the size.
"""

from __future__ import annotations

import contextlib
import fnmatch
import html.parser
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from strata.config import SourceSpec
from strata.errors import SourceError
from strata.sources.base import Batch, detect_format

CHUNK = 1 << 20
TIMEOUT_S = 30


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links += [v for k, v in attrs if k == "href" and v]


class HttpSource:
    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec

    def _get(self, url: str, method: str = "GET") -> urllib.response.addinfourl:
        request = urllib.request.Request(url, method=method)
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 - user-configured URL
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SourceError(f"source '{self.spec.name}': cannot fetch {url}: {reason}") from exc

    def _names(self) -> list[str]:
        base = self.spec.url
        if not base.endswith("/"):
            return [base.rsplit("/", 1)[-1]]
        with self._get(base) as response:
            body = response.read().decode("utf-8", "replace")
        parser = _Links()
        parser.feed(body)
        links = parser.links or [line.strip() for line in body.splitlines() if line.strip()]
        urls = (urllib.parse.urljoin(base, link) for link in links)
        names = {url[len(base) :] for url in urls if url.startswith(base)}  # files of this listing only
        return sorted(n for n in names if n and "/" not in n and fnmatch.fnmatch(n, self.spec.glob))

    def _url(self, name: str) -> str:
        return self.spec.url if not self.spec.url.endswith("/") else self.spec.url + name

    def list_batches(self) -> list[Batch]:
        batches = []
        for name in self._names():
            with self._get(self._url(name), method="HEAD") as head:
                size = int(head.headers.get("Content-Length") or 0)
                token = head.headers.get("ETag") or head.headers.get("Last-Modified") or ""
            fmt, gz = detect_format(name, self.spec.format, self.spec.name)
            # no validator: an empty token means "always re-hash", never "unchanged"
            batches.append(Batch(self.spec.name, name, fmt, gz, size, f"{size}:{token}" if token else ""))
        return batches

    @contextlib.contextmanager
    def materialize(self, batch: Batch) -> Iterator[Path]:
        fd, tmp = tempfile.mkstemp(prefix="strata-http-", suffix=Path(batch.name).suffix)
        try:
            with os.fdopen(fd, "wb") as out, self._get(self._url(batch.name)) as response:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
            yield Path(tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)

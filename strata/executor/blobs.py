"""A task's input bytes, wherever a worker can get them: a local file (workers on this machine), the bytes
themselves (shipped to any worker), or a URL the worker reads itself (``s3://`` through fsspec/s3fs).

The client decides: it hands a worker that shares its disk a path, any other worker the bytes (read on the
client, just before the task is submitted, so memory is bounded by the executor's window), and a worker
that can reach the store a URL. A task never learns which it got.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

COPY_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Blob:
    """Input bytes of one datum task. ``fetch`` (client side only) produces the bytes on demand, e.g. a
    download from a source the workers cannot reach; :meth:`resolve` replaces it before submission."""

    path: str = ""  # a file on the client's disk
    data: bytes | None = None  # the bytes themselves
    url: str = ""  # a URL every worker can read (fsspec), e.g. s3://bucket/key
    options: tuple[tuple[str, str], ...] = ()  # fsspec storage options for ``url`` (never credentials)
    size: int = 0  # bytes, for the executor's window and the choice of a pool
    fetch: Callable[[], bytes] | None = dataclasses.field(default=None, compare=False, repr=False)

    def resolve(self, shares_disk: bool) -> Blob:
        """What a worker gets: a path only if it shares this disk, else the bytes (or the URL)."""
        if self.fetch is not None:
            data = self.fetch()
            return Blob(data=data, size=len(data))
        if self.path and not shares_disk:
            data = Path(self.path).read_bytes()
            return Blob(data=data, size=len(data))
        return self

    def open(self) -> Any:
        """Something pyarrow reads from: the path, a buffer over the bytes, or an fsspec file."""
        import pyarrow as pa

        if self.path:
            return self.path
        if self.data is not None:
            return pa.BufferReader(self.data)
        return _open_url(self.url, dict(self.options))

    @contextlib.contextmanager
    def local(self, suffix: str = "") -> Iterator[Path]:
        """A local file holding the bytes for the duration of the block (a worker's own temp file)."""
        if self.path:
            yield Path(self.path)
            return
        fd, name = tempfile.mkstemp(prefix="strata-blob-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as out:
                if self.data is not None:
                    out.write(self.data)
                else:
                    with _open_url(self.url, dict(self.options)) as remote:
                        while block := remote.read(COPY_CHUNK):
                            out.write(block)
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)


def _open_url(url: str, options: dict[str, str]) -> IO[bytes]:
    import fsspec

    return fsspec.open(url, "rb", **options).open()

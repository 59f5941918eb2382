"""Atomic writes, hashing and Parquet helpers shared by every stage.

Every output goes through a temp file in the same directory followed by ``os.replace`` so that a stage
killed half-way never leaves a partial file behind, and a directory output is swapped in whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # pyarrow is heavy; stages import it inside commands
    import pyarrow as pa
    import pyarrow.parquet as pq

HASH_CHUNK = 1 << 20
PARQUET_COMPRESSION = "zstd"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (params, code versions) for invalidating cached work."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it over ``path`` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    with atomic_path(path) as tmp, tmp.open(mode) as handle:
        yield handle


def write_text(path: Path, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a task's output bytes, written by the client)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: Path, obj: Any) -> None:
    """Deterministic JSON: sorted keys, fixed indent, trailing newline, no timestamps added."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path, default: Any = None) -> Any:
    if not path.exists():
        return default
    return json.loads(path.read_text())


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Build a directory in a temp sibling and swap it in whole when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp.chmod(0o755)  # mkdtemp makes 0700; an output folder should look like any other
    try:
        yield tmp
        old = path.with_name(f".{path.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def parquet_writer(path: Path | pa.NativeFile, schema: pa.Schema) -> pq.ParquetWriter:
    """A ParquetWriter with the project's fixed options (deterministic bytes for the same rows)."""
    import pyarrow.parquet as pq

    return pq.ParquetWriter(
        path,
        schema,
        compression=PARQUET_COMPRESSION,
        write_statistics=True,
        use_dictionary=True,
    )


def write_table(path: Path, table: pa.Table) -> None:
    """Write one Parquet file atomically with the project's fixed options."""
    with atomic_path(path, ".parquet") as tmp:
        writer = parquet_writer(tmp, table.schema)
        try:
            writer.write_table(table)
        finally:
            writer.close()


class AtomicParquetWriter:
    """Stream tables into a Parquet file that appears under its name only on ``commit()``.

    With ``lazy=True`` no file is created unless a non-empty table was written (a datum with no bad rows
    has no quarantine file). ``abort()`` (or leaving the ``with`` block by an exception) removes the temp
    file, so a failed or killed stage never leaves a partial output.
    """

    def __init__(self, path: Path, schema: pa.Schema, lazy: bool = False) -> None:
        self.path, self.schema, self.lazy = path, schema, lazy
        self.rows = 0
        self._tmp: Path | None = None
        self._writer: pq.ParquetWriter | None = None

    def _open(self) -> pq.ParquetWriter:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            os.close(fd)
            self._tmp = Path(name)
            self._writer = parquet_writer(self._tmp, self.schema)
        return self._writer

    def write(self, table: pa.Table | pa.RecordBatch) -> None:
        if table.num_rows == 0 and self.lazy:
            return
        writer = self._open()
        if table.num_rows:
            writer.write(table.cast(self.schema) if table.schema != self.schema else table)
            self.rows += table.num_rows

    def commit(self) -> bool:
        """Close and rename into place; returns whether a file was written."""
        if self._writer is None and self.lazy:
            return False
        writer = self._open()
        writer.close()
        assert self._tmp is not None
        os.replace(self._tmp, self.path)
        self._writer = self._tmp = None
        return True

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        self._writer = self._tmp = None

    def __enter__(self) -> AtomicParquetWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if self._writer is not None or self._tmp is not None:
            self.abort()


class ParquetBuffer:
    """Stream tables into Parquet bytes in memory, with the project's fixed options: a datum task's output,
    which travels back to the client (possibly from another machine) and is written there atomically.

    The bytes are those :class:`AtomicParquetWriter` would write to a file. With ``lazy=True``, no bytes
    (``None``) unless a non-empty table was written.
    """

    def __init__(self, schema: pa.Schema, lazy: bool = False) -> None:
        self.schema, self.lazy = schema, lazy
        self.rows = 0
        self._sink: pa.BufferOutputStream | None = None
        self._writer: pq.ParquetWriter | None = None

    def _open(self) -> pq.ParquetWriter:
        if self._writer is None:
            import pyarrow as pa

            self._sink = pa.BufferOutputStream()
            self._writer = parquet_writer(self._sink, self.schema)
        return self._writer

    def write(self, table: pa.Table | pa.RecordBatch) -> None:
        if table.num_rows == 0 and self.lazy:
            return
        writer = self._open()
        if table.num_rows:
            writer.write(table.cast(self.schema) if table.schema != self.schema else table)
            self.rows += table.num_rows

    def getvalue(self) -> bytes | None:
        """Close and return the file's bytes (``None`` if lazy and nothing was written)."""
        if self._writer is None and self.lazy:
            return None
        self._open().close()
        assert self._sink is not None
        data = self._sink.getvalue().to_pybytes()
        self._writer = self._sink = None
        return data

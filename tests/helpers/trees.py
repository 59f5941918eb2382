"""Small helpers shared by tests: compare folders byte for byte."""

from pathlib import Path


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (relative name -> bytes); hidden temp files would show up too."""
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}

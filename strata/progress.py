"""Progress bars for long stages: on an interactive terminal only, never in DVC logs or CI output."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def progress(items: list[Any], description: str) -> Iterator[Any]:
    """Iterate with a progress bar on an interactive terminal (stderr); plainly under DVC logs or CI."""
    import sys

    if len(items) < 2 or not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import track

    yield from track(items, description=description, console=Console(stderr=True), transient=True)

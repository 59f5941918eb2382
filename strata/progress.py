"""Progress bars for long stages: on an interactive terminal only, never in DVC logs or CI output."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def counter(total: int, description: str) -> Iterator[Callable[[], None]]:
    """A progress bar of ``total`` units, advanced by calling what it yields (e.g. once per datum done,
    whichever worker did it). On an interactive terminal (stderr) only."""
    import sys

    if total < 2 or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)

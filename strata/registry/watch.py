"""Follow a stage: poll GTO's tags and report when `model#prod` moves to another version.

A server started with ``--model model#prod`` holds the version it resolved at start. Every
``registry.poll_seconds`` the watcher fetches tags from the git remote (a deployed clone learns of a
promotion made elsewhere), resolves the stage again and, when the holder changed, calls ``on_move``. The
move counts as taken only when ``on_move`` returns: if loading the new version fails (say its tier is
unreachable), ``on_error`` hears why and the next poll tries again while the old version keeps serving.
"""

from __future__ import annotations

import dataclasses
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from strata.errors import RegistryError, StrataError
from strata.registry import tags
from strata.registry.source import Resolved
from strata.registry.spec import parse_ref


@dataclasses.dataclass(frozen=True)
class StageMove:
    """The stage's holder changed from ``old`` to ``new`` (None: the stage was empty / was emptied)."""

    ref: str  # "model#prod"
    old: Resolved | None
    new: Resolved | None


class StageWatcher:
    """Polls ``name#stage``; :meth:`check` is one poll, :meth:`start` runs it on a daemon thread."""

    def __init__(
        self,
        root: Path,
        ref_text: str,
        interval: float,
        on_move: Callable[[StageMove], None],
        on_error: Callable[[StrataError], None] = lambda exc: None,
        *,
        current: Resolved | None = None,
        remote: str | None = "origin",
    ) -> None:
        ref = parse_ref(ref_text)
        if ref.stage is None:
            raise RegistryError(f"'{ref_text}' names a version, not a stage: nothing to follow")
        if not interval > 0:
            raise RegistryError(f"poll interval must be positive, got {interval}")
        self.root, self.name, self.stage, self.interval = root, ref.name, ref.stage, interval
        self.on_move, self.on_error, self.remote = on_move, on_error, remote
        self.current = current
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_params(
        cls,
        root: Path,
        ref_text: str,
        on_move: Callable[[StageMove], None],
        on_error: Callable[[StrataError], None] = lambda exc: None,
        *,
        current: Resolved | None = None,
        params: Path | None = None,
    ) -> StageWatcher:
        """A watcher polling every ``registry.poll_seconds`` of params.yaml."""
        from strata.config import RegistryParams, section

        cfg = section(params or root / "params.yaml", "registry", RegistryParams)
        return cls(root, ref_text, cfg.poll_seconds, on_move, on_error, current=current)

    @property
    def ref(self) -> str:
        return f"{self.name}#{self.stage}"

    def fetch_tags(self) -> None:
        """`git fetch --tags` from the remote, when the repo has that remote (a deployed clone does)."""
        if self.remote is None:
            return
        remotes = subprocess.run(
            ["git", "-C", str(self.root), "remote"], capture_output=True, text=True, check=False
        ).stdout.split()
        if self.remote not in remotes:
            return
        proc = subprocess.run(
            ["git", "-C", str(self.root), "fetch", "--quiet", "--tags", self.remote],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            raise RegistryError(f"following {self.ref}: git fetch --tags {self.remote}: {detail}")

    def check(self) -> StageMove | None:
        """One poll: the move since :attr:`current`, or None when the stage still names the same version."""
        self.fetch_tags()
        holder = tags.load(self.root, self.name).holder(self.stage)
        now = None if holder is None else Resolved(self.name, holder.version, self.stage, holder.sha)
        if now == self.current:
            return None
        return StageMove(self.ref, self.current, now)

    def poll(self) -> StageMove | None:
        """:meth:`check`, then hand a move to ``on_move``; it is taken only if ``on_move`` succeeds."""
        try:
            move = self.check()
            if move is not None:
                self.on_move(move)
                self.current = move.new
            return move
        except StrataError as exc:
            self.on_error(exc)
            return None

    def run(self, max_polls: int | None = None) -> None:
        """Poll every ``interval`` seconds until :meth:`stop` (or ``max_polls`` polls)."""
        polls = 0
        while not self._stop.wait(self.interval):
            self.poll()
            polls += 1
            if max_polls is not None and polls >= max_polls:
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"watch {self.ref}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

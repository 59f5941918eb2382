"""`strata serve --model model#prod`: a registry reference resolved by GTO, fetched through DVC, followed.

``--model`` names a file or, when no such file exists and the text reads as one, a registry reference
(``model@v1.3.0``, ``model#prod``, ``model@latest``). The project is the current directory (a clone of the
project: git brings the tags, ``.dvc/config.local`` the role's credentials). At start the reference is
resolved and the version's model and card are fetched into ``.strata/serving/<name>@<version>/`` with the
sha256 checked against the card (strata.registry.source), then loaded and warmed up like a file.

A stage reference is followed (:class:`Follower`): every ``registry.poll_seconds`` a
:class:`~strata.registry.watch.StageWatcher` looks at the stage's tags; when it moves, the new version is
fetched, loaded and warmed up off to the side, then swapped in with one assignment. Requests already
checked against the old model are scored by it (one model per micro-batch, strata.serving.scoring), so a
swap fails no request. A version that cannot be fetched or loaded is logged as one JSON line and the old one
keeps serving; the next poll tries again. One process follows a stage: ``--workers`` above 1 is refused for
a stage reference (a version reference is fetched once and loaded by every worker).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strata.errors import ConfigError, RegistryError, StrataError
from strata.registry.spec import is_ref, parse_ref

if TYPE_CHECKING:
    from strata.registry.source import Fetched, Resolved
    from strata.registry.watch import StageMove, StageWatcher
    from strata.serving.model import Loaded, ModelHolder

CACHE = Path(".strata") / "serving"  # under the project root: fetched versions, one folder each


def names_ref(model: str) -> bool:
    """True when ``--model`` is a registry reference: it reads as one and names no existing file."""
    if Path(model).exists():
        return False
    if is_ref(model):
        return True
    if "@" in model or "#" in model:  # meant as a reference, but not one: say why, not "file not found"
        try:
            parse_ref(model)
        except RegistryError as exc:
            raise ConfigError(f"--model {model}: no such file, and {exc}") from None
    return False


def check_ref(model: str, card: str | None, workers: int, root: Path) -> None:
    """Up-front checks of a reference: no --card, one worker for a stage, a git clone with registry params."""
    ref = parse_ref(model)
    if card is not None:
        raise ConfigError(f"--card {card}: {model} is a registry reference; the version's own card is used")
    if ref.stage is not None and workers > 1:
        raise ConfigError(
            f"--workers {workers}: a stage reference ({model}) is followed by one process; "
            f"use --workers 1, or a version reference ({ref.name}@vX.Y.Z) with several workers"
        )
    inside = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    if inside.stdout.strip() != "true":
        raise ConfigError(
            f"--model {model}: {root.resolve()} is not a git repository; a registry reference is resolved "
            "through the tags of the project clone strata serve runs in"
        )
    if ref.stage is not None:
        poll_seconds(root)  # a bad registry.poll_seconds is reported now, not after the model loaded


def poll_seconds(root: Path) -> float:
    from strata.config import RegistryParams, section

    return float(section(root / "params.yaml", "registry", RegistryParams).poll_seconds)


def release_of(ref_text: str, fetched: Fetched) -> dict[str, Any]:
    """What /health, answers and logs say about a registry version (Loaded.release)."""
    info = fetched.describe()
    return {"ref": ref_text, **{key: info[key] for key in ("name", "version", "stage", "commit")}}


def load_version(root: Path, resolved: Resolved, ref_text: str) -> tuple[Loaded, Fetched]:
    """Fetch (sha256 checked) a version into the cache, then load and warm it up off to the side."""
    from strata.registry import source
    from strata.serving.model import ModelHolder

    fetched = source.fetch(root, resolved, root / CACHE)
    try:
        loaded = ModelHolder.prepare(fetched.model, fetched.card_path, release_of(ref_text, fetched))
    except StrataError:
        raise
    except Exception as exc:  # the card's file, but no model this process can load: whatever skops raises,
        # the follower must hear it as a failed move (the old version keeps serving), not lose its thread
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise RegistryError(f"{resolved.ref}: cannot load {fetched.model}: {detail}") from None
    return loaded, fetched


def open_ref(root: Path, ref_text: str) -> tuple[Loaded, Fetched]:
    """Resolve ``ref_text`` through GTO now, then :func:`load_version` (what `strata serve` does at start)."""
    from strata.registry import source

    return load_version(root, source.resolve(root, ref_text), ref_text)


def _log(**fields: Any) -> None:
    from strata.serving.app import log_line

    log_line(**fields)


class Follower:
    """Swaps the holder's model when the followed stage moves; ``on_move``/``on_error`` for a StageWatcher."""

    def __init__(
        self,
        root: Path,
        ref_text: str,
        holder: ModelHolder,
        load: Callable[[Path, Resolved, str], tuple[Loaded, Any]] = load_version,
        log: Callable[..., None] = _log,
    ) -> None:
        self.root, self.ref, self.holder, self.load, self.log = root, ref_text, holder, load, log

    def on_move(self, move: StageMove) -> None:
        """Load the new holder of the stage, then swap it in; raising leaves the old one serving."""
        current = self.holder.current
        if move.new is None:  # the stage was emptied: nothing to serve instead, keep what serves
            self.log(level="warning", event="stage emptied", ref=self.ref, serving=current.version)
            return
        loaded, _ = self.load(self.root, move.new, self.ref)
        old = self.holder.swap(loaded)
        self.log(
            event="model swapped", ref=self.ref, old=old.version, new=loaded.version, sha256=loaded.sha256
        )

    def on_error(self, exc: StrataError) -> None:
        """A failed poll or load: one JSON line; the old version keeps serving and the next poll retries."""
        current = self.holder.current
        self.log(
            level="error",
            event="follow failed",
            ref=self.ref,
            serving=current.version,
            error=" ".join(str(exc).split()),
        )

    def watcher(self, current: Resolved) -> StageWatcher:
        """The StageWatcher polling every ``registry.poll_seconds`` of the root's params.yaml."""
        from strata.registry.watch import StageWatcher

        return StageWatcher.from_params(self.root, self.ref, self.on_move, self.on_error, current=current)

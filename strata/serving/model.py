"""The model a scorer uses, checked, and the one place a server keeps it.

:func:`load` reads the skops file (trusted types only), requires the card beside it to describe that very
file (sha256) and takes the data contract from the card, so scoring needs nothing else. :class:`ModelHolder`
keeps the serving model behind one reference: a new model is loaded and checked off to the side
(:meth:`ModelHolder.prepare`) and swapped in with one assignment (:meth:`ModelHolder.swap`). Each request is
scored by exactly one model, the one it was checked against, and answers with that model's version.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from strata.atomic import read_json, sha256_file
from strata.contract.spec import Contract, from_json
from strata.errors import SchemaError
from strata.model import features
from strata.model.artifact import load_model
from strata.serving import door, fast


@dataclasses.dataclass(frozen=True)
class Loaded:
    """A verified model: the fitted Pipeline, its card and contract, and what identifies it."""

    model: Any
    card: dict[str, Any]
    contract: Contract
    relaxed: Contract  # the contract without a required target: inputs that carry no labels
    sha256: str
    path: str
    inputs: tuple[tuple[str, str], ...]
    classes: tuple[str, ...]
    # (request column names, source, where) -> door.for_input's answer or its error (strata.serving.scoring)
    columns_cache: dict[Any, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)
    # served from the registry: ref (as asked, e.g. model#prod), name, version, stage, commit; None for a file
    release: dict[str, Any] | None = None
    # the fitted steps, called directly by scoring (strata.serving.fast); None: through the Pipeline
    compiled: Any = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def version(self) -> str:
        """Short name of this model in answers, logs and metrics: its registry version, else sha256[:12]."""
        return str(self.release["version"]) if self.release else self.sha256[:12]

    def summary(self) -> dict[str, Any]:
        """What /health and every answer say about the model: enough to tell which one is serving."""
        info = self.card.get("model", {})
        return {
            "version": self.version,
            "sha256": self.sha256,
            "kind": info.get("kind"),
            "estimator": info.get("estimator"),
            "path": self.path,
            "classes": list(self.classes),
            "key": list(self.contract.key),
            "inputs": [{"name": name, "type": ctype} for name, ctype in self.inputs],
            "training_rows": self.card.get("training", {}).get("rows"),
            **{key: (self.release or {}).get(key) for key in ("ref", "stage", "commit")},
        }


def load(model: Path, card: Path | None = None, release: dict[str, Any] | None = None) -> Loaded:
    """Load the model and its card (default: card.json beside the model); both must exist and agree.

    ``release`` names the registry version it was fetched as (strata.serving.follow), if any."""
    fitted = load_model(model)
    digest = sha256_file(model)
    path = card or model.with_name("card.json")
    info = read_json(path, default=None)
    if not isinstance(info, dict):
        raise SchemaError(f"{path}: model card not found (scoring reads the data contract from it)")
    return checked(fitted, info, digest, model, path, release=release)


def checked(
    fitted: Any,
    info: dict[str, Any],
    digest: str,
    model: Path,
    path: Path,
    *,
    release: dict[str, Any] | None = None,
) -> Loaded:
    """A model and its card (read by the caller: a worker gets them as bytes) checked against each other;
    ``model`` and ``path`` (the card) name them in errors and answers."""
    if info.get("model", {}).get("sha256") != digest:
        raise SchemaError(f"{path}: card does not describe {model} (sha256 differs)")
    if "contract" not in info:
        raise SchemaError(f"{path}: card has no contract (written by an older `strata train`; retrain)")
    contract = from_json(info["contract"], path, "contract")
    inputs = tuple(features.model_inputs(fitted))
    for name, ctype in inputs:
        spec = contract.columns.get(name)
        if spec is None or spec.type != ctype:
            raise SchemaError(f"{path}: model input '{name}' is not a {ctype} column of the card's contract")
    classes = tuple(str(c) for c in fitted.classes_)
    relaxed = door.without_target(contract)
    return Loaded(
        fitted, info, contract, relaxed, digest, str(model), inputs, classes, release=release,
        compiled=fast.compile_model(fitted),
    )  # fmt: skip


def warm_up(loaded: Loaded) -> None:
    """One throwaway prediction (a row of nulls): pays the lazy imports and proves the model runs here."""
    import pyarrow as pa

    from strata.contract.spec import arrow_type

    row = pa.table({name: pa.nulls(1, arrow_type(ctype)) for name, ctype in loaded.inputs})
    fast.score(loaded.model, loaded.compiled, row, loaded.path)


class ModelHolder:
    """The serving model behind one reference; ``current`` is read once per request and once per batch."""

    def __init__(self, loaded: Loaded) -> None:
        self._current = loaded
        self._lock = threading.Lock()  # one swap at a time; readers never wait
        self.watchers: list[Callable[[Loaded], None]] = []  # told of each new model (metrics, logs)

    @property
    def current(self) -> Loaded:
        return self._current

    @staticmethod
    def prepare(model: Path, card: Path | None = None, release: dict[str, Any] | None = None) -> Loaded:
        """Load and check a model without touching the serving one: a failure leaves it serving."""
        loaded = load(model, card, release)
        warm_up(loaded)
        return loaded

    def swap(self, loaded: Loaded) -> Loaded:
        """Serve ``loaded`` from now on (one assignment); returns the model it replaces."""
        with self._lock:
            old, self._current = self._current, loaded
            for watcher in self.watchers:
                watcher(loaded)
        return old

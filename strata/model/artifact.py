"""The model file: a byte-stable skops archive, loaded trusting an explicit list of types only.

skops names arrays by ``id(obj)``, names raw-bytes entries with uuid4 and stamps every zip entry with the
wall clock, so :func:`stable_dumps` renumbers ids in schema order, renames the files to match and rewrites
the zip with a fixed timestamp: same data + params -> same sha256.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strata.errors import SchemaError, StrataError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# Types beyond skops' own default-safe set (sklearn estimators, numpy arrays, builtins) that a strata model
# file holds; loading trusts exactly these and refuses a file that needs anything else (no blind trust).
# functools.partial wraps check_array inside HistGradientBoosting; skops checks the wrapped function too.
# Bunch (a dict) holds a bagged model's members by name (VotingClassifier.named_estimators_).
TRUSTED_TYPES = (
    "functools.partial",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",
    "sklearn.utils.validation.check_array",
    "strata.model.features.derive",
)

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_NAMED_FILE = re.compile(r"^(?P<stem>[^.]+)\.(?P<ext>npy|bin)$")


def _collect_ids(node: Any, order: dict[str, int]) -> None:
    """Give each skops object id and each zip file stem a sequence number in schema traversal order."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                order.setdefault(str(value), len(order))
            elif key == "file" and isinstance(value, str) and _NAMED_FILE.match(value):
                order.setdefault(value.split(".")[0], len(order))
            else:
                _collect_ids(value, order)
    elif isinstance(node, list):
        for item in node:
            _collect_ids(item, order)


def _renumber(node: Any, order: dict[str, int]) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                out[key] = order[str(value)]
            elif key == "file" and isinstance(value, str) and _NAMED_FILE.match(value):
                stem, ext = value.split(".")
                out[key] = f"{order[stem]}.{ext}"
            else:
                out[key] = _renumber(value, order)
        return out
    if isinstance(node, list):
        return [_renumber(item, order) for item in node]
    return node


def stable_dumps(model: Any) -> bytes:
    """skops bytes with ids, file names and zip timestamps made deterministic (loads like the original)."""
    import skops.io as sio

    raw = zipfile.ZipFile(io.BytesIO(sio.dumps(model)))
    schema = json.loads(raw.read("schema.json"))
    order: dict[str, int] = {}
    _collect_ids(schema, order)
    entries = {"schema.json": json.dumps(_renumber(schema, order), indent=2, sort_keys=True).encode()}
    for name in raw.namelist():
        match = _NAMED_FILE.match(name)
        if match:
            entries[f"{order[match['stem']]}.{match['ext']}"] = raw.read(name)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            out.writestr(info, entries[name], compresslevel=6)
    return buffer.getvalue()


def load_model(path: Path) -> Pipeline:
    """Load a skops model trusting only :data:`TRUSTED_TYPES`; anything else is refused, not executed."""
    import skops.io as sio

    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise SchemaError(f"{path}: model file not found") from exc
    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise StrataError(f"{path}: model holds types outside the trusted list: {', '.join(untrusted)}")
    model: Pipeline = sio.loads(data, trusted=list(TRUSTED_TYPES))
    return model

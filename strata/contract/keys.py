"""Duplicate rows by key for the data contract: ``KeyDeduper`` and the 64-bit row hashes it keeps.

Every key is hashed the same way: its canonical text (``key_text``: a single string key as is, anything else
as length-prefixed, value-only text per column) through ``string_hash``, read straight from the Arrow string
buffers with numpy. The hash is a pure function of the key's values: stable across processes, runs, machines
and versions of this code's dependencies (no Python ``hash()``, no per-process seed, no pandas internals);
tests pin its values, so no upgrade can move a row between train and test (``on_test_side``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from strata.contract.spec import ROW

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from strata.contract.spec import Contract

_NOT_STRING = ("int", "float", "bool", "timestamp")  # contract types whose column is not pa.string()

# XXH64's primes; each 8-byte word goes through XXH64's round and merge, then its avalanche.
_P1, _P2, _P3, _P4, _P5 = (
    0x9E3779B185EBCA87,
    0xC2B2AE3D27D4EB4F,
    0x165667B19E3779F9,
    0x85EBCA77C2B2AE63,
    0x27D4EB2F165667C5,
)


class KeyDeduper:
    """Drops rows whose key was already seen, in this chunk or an earlier one (first occurrence wins).

    Keeps only a 64-bit hash per distinct key (see ``row_hashes``; 8 bytes a key, in sorted numpy blocks
    merged like an LSM tree). Two distinct keys collide with probability about n**2 / 2**65 for n keys
    (3e-6 at 10 million); a collision would drop a distinct row as a duplicate. With an empty
    ``contract.key`` the hash covers every contract column's cleaned value, so only exact duplicates go.
    Rows with a null in a key column are never treated as duplicates.
    """

    def __init__(self) -> None:
        self._blocks: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(len(b) for b in self._blocks)

    def drop_seen(self, clean: pa.Table, contract: Contract) -> tuple[pa.Table, int]:
        import numpy as np

        if clean.num_rows == 0:
            return clean, 0
        hashes, hashed = row_hashes(clean, contract)
        order = np.flatnonzero(hashed)
        rows = clean.column(ROW).to_numpy()[order]
        if len(rows) > 1 and not (rows[1:] > rows[:-1]).all():  # already in processing order: skip the sort
            order = order[np.argsort(rows, kind="stable")]
        distinct, first = _first_of_each(hashes[order])
        new = ~self._contains(distinct)
        self._add(distinct[new])
        keep = np.sort(np.concatenate([order[first[new]], np.flatnonzero(~hashed)]))
        if len(keep) == clean.num_rows:
            return clean, 0
        return clean.take(keep), clean.num_rows - len(keep)

    def _contains(self, values: np.ndarray) -> np.ndarray:
        import numpy as np

        found = np.zeros(len(values), bool)
        for block in self._blocks:
            at = np.minimum(np.searchsorted(block, values), len(block) - 1)
            found |= block[at] == values
        return found

    def _add(self, values: np.ndarray) -> None:
        import numpy as np

        if len(values):
            self._blocks.append(values)
        while len(self._blocks) > 1 and len(self._blocks[-2]) <= 2 * len(self._blocks[-1]):
            merged = np.concatenate(self._blocks[-2:])
            merged.sort(kind="stable")  # two sorted runs: a linear merge
            self._blocks[-2:] = [merged]


def _first_of_each(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_index=True)``: the sorted distinct values and the lowest index of each,
    with an unstable (much faster) sort and the lowest index per run of equal values taken afterwards."""
    import numpy as np

    if not len(values):
        return values, np.zeros(0, np.intp)
    at = np.argsort(values)
    ordered = values[at]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    return ordered[starts], np.minimum.reduceat(at, starts)


def row_hashes(clean: pa.Table, contract: Contract) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash per row, rows that take part: no null key column). The one key hash of strata.

    The hash is :func:`string_hash` of each row's canonical key text (:func:`key_text`), so it depends on
    the key's values alone: validate's and split's dedupe and split's train/test side all use it.
    """
    import numpy as np
    import pyarrow.compute as pc

    hashed = np.ones(clean.num_rows, bool)
    for column in contract.key:
        hashed &= pc.is_valid(clean.column(column)).to_numpy(zero_copy_only=False)
    return string_hash(key_text(clean, contract)), hashed


def key_text(clean: pa.Table, contract: Contract) -> pa.Array:
    """The canonical text of each row's key (all contract columns when ``contract.key`` is empty).

    A single string or category key is its value as is (the common case costs nothing). Otherwise each
    column's value is written as text that depends on the value only (ints in decimal, floats as the decimal
    of their IEEE-754 bits, bools as 1/0, timestamps as UTC microseconds, null as an empty field marked
    ``~``) and prefixed with its byte length, and the columns are concatenated: no two keys share a text.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = list(contract.key or contract.columns)
    if len(columns) == 1 and contract.columns[columns[0]].type not in _NOT_STRING:
        values = clean.column(columns[0])
        return (values.cast(pa.string()) if values.type != pa.string() else values).combine_chunks()
    parts = []
    for name in columns:
        text = _canonical(clean.column(name).combine_chunks(), contract.columns[name].type)
        length = pc.cast(pc.binary_length(text), pa.string())
        marked = pc.binary_join_element_wise(length, pa.scalar(":"), text, "")
        parts.append(pc.fill_null(marked, "~"))
    return pc.binary_join_element_wise(*parts, "")


def _canonical(values: pa.Array, kind: str) -> pa.Array:
    """Value-only text of one typed column (null stays null)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == "float":
        floats = pc.fill_null(values, 0.0).to_numpy(zero_copy_only=False).astype(np.float64)
        floats = np.where(floats == 0.0, 0.0, floats)  # -0.0 and 0.0 are the same value
        bits = pa.array(
            floats.view(np.uint64), pa.uint64(), mask=~values.is_valid().to_numpy(zero_copy_only=False)
        )
        return pc.cast(bits, pa.string())
    if kind == "bool":
        return pc.if_else(values, "1", "0")
    if kind == "timestamp":
        return pc.cast(pc.cast(values, pa.int64()), pa.string())
    return pc.cast(values, pa.string())


def identity_hashes(clean: pa.Table, contract: Contract) -> np.ndarray:
    """The key hash of each row; a row whose key has a null is identified by all its contract columns."""
    import dataclasses

    import numpy as np

    hashes, complete = row_hashes(clean, contract)
    if not complete.all():
        every = dataclasses.replace(contract, key=())
        hashes = np.where(complete, hashes, string_hash(key_text(clean, every)))
    return hashes


def on_test_side(hashes: np.ndarray, seed: int, test_fraction: float, buckets: int = 10_000) -> np.ndarray:
    """Rows on the test side: the key hash, salted with ``seed`` and mixed again, falls in the first
    ``round(test_fraction * buckets)`` of ``buckets`` buckets. Depends on the key and the seed only."""
    import numpy as np

    salt = np.uint64((seed * _P1 + _P4) % (1 << 64))
    mixed = _avalanche(hashes ^ salt)
    return (mixed % np.uint64(buckets)) < np.uint64(round(test_fraction * buckets))


def string_hash(s: pa.Array) -> np.ndarray:
    """A 64-bit hash of every value of a ``pa.string()`` array from its bytes (uint64; nulls hash their slot's
    bytes, usually empty, so callers mask them).

    The value is read as little-endian 8-byte words (the last one zero-filled); the state starts at
    ``P5 + byte length`` and takes each word with XXH64's round and merge, then XXH64's avalanche. It is
    XXH64-like, not XXH64 (no 32-byte stripes), and fixed: the bytes alone decide it, on any machine.
    Vectorized across values: one pass per word position, each over the values that are still that long.
    """
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    from strata.contract.parse import string_buffers

    offsets, data = string_buffers(s)
    starts, lengths = offsets[:-1].astype(np.int64), np.diff(offsets).astype(np.int64)
    words = sliding_window_view(np.concatenate([data, np.zeros(8, np.uint8)]), 8)
    tail = np.array([(1 << (8 * r)) - 1 for r in range(8)] + [(1 << 64) - 1], np.uint64)
    p1, p4 = np.uint64(_P1), np.uint64(_P4)
    state = lengths.astype(np.uint64) + np.uint64(_P5)
    rows, at, left = np.arange(len(s)), starts, lengths  # the values still that long, and where they are
    while len(rows):
        word = words[at].view("<u8").ravel() & tail[np.minimum(left, 8)]
        state[rows] = _rotl(state[rows] ^ _rotl(word * np.uint64(_P2), 31) * p1, 27) * p1 + p4
        more = left > 8
        rows, at, left = rows[more], at[more] + 8, left[more] - 8
    return _avalanche(state)


def _rotl(x: np.ndarray, bits: int) -> np.ndarray:
    import numpy as np

    return (x << np.uint64(bits)) | (x >> np.uint64(64 - bits))


def _avalanche(h: np.ndarray) -> np.ndarray:
    import numpy as np

    h ^= h >> np.uint64(33)
    h *= np.uint64(_P2)
    h ^= h >> np.uint64(29)
    h *= np.uint64(_P3)
    h ^= h >> np.uint64(32)
    return h

"""Duplicate rows by key for the data contract: ``KeyDeduper`` and the 64-bit row hashes it keeps.

A single string key (the common case, e.g. ``event_id``) is hashed straight from the Arrow string buffers
with numpy (``string_hash``); any other key (several columns, a typed column, or every contract column when
``contract.key`` is empty) goes through pandas' ``hash_pandas_object``. Which one is used depends only on the
contract, so one deduper never mixes the two. Both are pure functions of the values: stable across processes,
runs, machines and versions of this code's dependencies (no Python ``hash()``, no per-process seed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from stages.config import Contract

ROW = "_row"
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
    """(uint64 hash per row, rows that take part: no null key column)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    hashed = np.ones(clean.num_rows, bool)
    for column in contract.key:
        hashed &= pc.is_valid(clean.column(column)).to_numpy(zero_copy_only=False)
    if len(contract.key) == 1 and contract.columns[contract.key[0]].type not in _NOT_STRING:
        values = clean.column(contract.key[0])
        values = (values.cast(pa.string()) if values.type != pa.string() else values).combine_chunks()
        return string_hash(values), hashed
    import pandas as pd  # only composite or typed keys pay for importing pandas

    columns = list(contract.key or contract.columns)
    frame = clean.select(columns).to_pandas()
    return pd.util.hash_pandas_object(frame, index=False).to_numpy(np.uint64), hashed


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

    from stages.parse import string_buffers

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

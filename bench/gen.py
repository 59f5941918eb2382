"""Synthetic delivered batches that follow the default contract (params.yaml `validate.contract`).

Rows are generated with numpy + pyarrow.compute in chunks and streamed to CSV, so generation is bounded in
memory (one chunk) and fast. Twelve delivered columns: the contract's columns minus the optional
`phone_nearby` (absent optional columns are part of the contract too). A small share of values is bad in
the ways the simulator spoils rows, so validation does real work: unparseable numbers (`12,5`, `abc`),
out-of-range values, missing markers in required columns, impossible timestamps, categories outside the
allowed values, bool garbage, and repeated event ids (duplicates by key).

Event ids are unique across files (``first_id`` offsets them), so 20 files of 1M rows hold exactly the rows
of one 20M-row file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

COLUMNS = (
    "event_id",
    "ts",
    "home_id",
    "entry_point",
    "height",
    "weight",
    "speed",
    "dwell",
    "vibration",
    "animal_score",
    "code_ok",
    "label",
)
ENTRY_POINTS = ("front_door", "back_door", "garage", "window", "pet_flap")
LABELS = ("resident", "intruder", "animal")
FLOATS = {  # column: (low, high) of good values, inside the contract's range
    "height": (20.0, 200.0),
    "weight": (0.5, 120.0),
    "speed": (0.0, 6.0),
    "dwell": (0.0, 900.0),
    "vibration": (0.0, 20.0),
    "animal_score": (0.0, 1.0),
}
BAD = {  # column: (share of rows, bad tokens)
    "ts": (0.004, ("2026-02-30T10:00:00Z", "yesterday", "NA", "2026-01-05 25:61:00")),
    "home_id": (0.002, ("", "NA", "-")),
    "entry_point": (0.003, ("chimney", "Front Door", "?")),
    "height": (0.004, ("12,5", "abc", "999", "-3")),
    "weight": (0.004, ("7,25", "n/a kg", "400", "")),
    "speed": (0.002, ("fast", "99")),
    "dwell": (0.002, ("1e9", "NaN")),
    "vibration": (0.002, ("inf", "x")),
    "animal_score": (0.002, ("1.5", "?")),
    "code_ok": (0.002, ("maybe", "2")),
    "label": (0.002, ("alien", "")),
}
DUPLICATE_SHARE = 0.005
EPOCH_2026 = 1_767_225_600  # 2026-01-01T00:00:00Z
SCHEMA = pa.schema([(c, pa.string()) for c in COLUMNS])


def chunk(rng: np.random.Generator, first_id: int, n: int) -> pa.Table:
    """``n`` rows with event ids from ``first_id`` (a few repeat an earlier id of the same chunk)."""
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    dup = np.flatnonzero(rng.random(n) < DUPLICATE_SHARE)
    dup = dup[dup > 0]
    ids[dup] = ids[np.maximum(dup - rng.integers(1, 500, len(dup)), 0)]
    cols: dict[str, pa.Array] = {
        "event_id": pc.binary_join_element_wise(
            "E", pc.utf8_lpad(pa.array(ids).cast(pa.string()), 12, "0"), ""
        ),
    }
    seconds = EPOCH_2026 + np.sort(rng.integers(0, 90 * 86400, n))
    stamps = pa.array(seconds, pa.timestamp("s", tz="UTC"))
    cols["ts"] = pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%SZ")
    homes = pa.array(rng.integers(0, 20_000, n)).cast(pa.string())
    cols["home_id"] = pc.binary_join_element_wise("H", pc.utf8_lpad(homes, 5, "0"), "")
    cols["entry_point"] = pa.array(ENTRY_POINTS).take(pa.array(rng.integers(0, len(ENTRY_POINTS), n)))
    for name, (low, high) in FLOATS.items():
        digits = 3 if name == "animal_score" else 2
        cols[name] = pa.array(np.round(rng.uniform(low, high, n), digits)).cast(pa.string())
    cols["code_ok"] = pa.array(np.where(rng.random(n) < 0.7, "true", "false"))
    cols["label"] = pa.array(LABELS).take(pa.array(rng.choice(3, n, p=[0.8, 0.12, 0.08])))
    for name, (share, tokens) in BAD.items():
        hit = rng.random(n) < share
        if hit.any():
            bad = pa.array(tokens).take(pa.array(rng.integers(0, len(tokens), n)))
            cols[name] = pc.if_else(pa.array(hit), bad, cols[name])
    return pa.table([cols[c] for c in COLUMNS], schema=SCHEMA)


def csv_bytes(table: pa.Table) -> bytes:
    """The rows as CSV text, quoting only values that need it (a comma or a quote), like most exporters."""
    cols = []
    for col in table.columns:
        text = col.combine_chunks()
        needs = pc.match_substring_regex(text, '[,"]')
        if pc.any(needs).as_py():
            quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
            text = pc.if_else(needs, quoted, text)
        cols.append(text)
    cols[-1] = pc.binary_join_element_wise(cols[-1], "\n", "")
    lines = pc.binary_join_element_wise(*cols, ",")
    _, offsets, data = lines.buffers()
    first, last = np.frombuffer(offsets, np.int32, len(lines) + 1, lines.offset * 4)[[0, -1]]
    return data.to_pybytes()[first:last]


def write_csv(path: Path, rows: int, first_id: int, seed: int, chunk_rows: int = 250_000) -> int:
    """Write one CSV batch of ``rows`` rows; returns its size in bytes."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")  # a dot-file: sources skip it while it is written
    with tmp.open("wb") as out:
        out.write((",".join(COLUMNS) + "\n").encode())
        done = 0
        while done < rows:
            n = min(chunk_rows, rows - done)
            out.write(csv_bytes(chunk(rng, first_id + done, n)))
            done += n
    tmp.rename(path)
    return path.stat().st_size


def write_batches(folder: Path, files: int, rows: int, seed: int = 1, start: int = 0) -> list[Path]:
    """``files`` CSV batches of ``rows`` rows each named batch-00000.csv, ...; ids unique across files."""
    paths = []
    for i in range(start, start + files):
        path = folder / f"batch-{i:05d}.csv"
        write_csv(path, rows, first_id=i * rows, seed=seed * 1_000_003 + i)
        paths.append(path)
    return paths


def concat_csv(parts: list[Path], dest: Path) -> int:
    """One big CSV holding the rows of ``parts`` in order (headers after the first dropped)."""
    with dest.open("wb") as out:
        for i, part in enumerate(parts):
            with part.open("rb") as handle:
                header = handle.readline()
                if i == 0:
                    out.write(header)
                while block := handle.read(8 << 20):
                    out.write(block)
    return dest.stat().st_size

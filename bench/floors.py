"""Reference readers the stages are compared with, each run as its own process by bench/run.py.

    python bench/floors.py scan FILE.parquet...   raw pyarrow scan, all columns (validate's floor)
    python bench/floors.py read_csv FILE.csv...   pandas.read_csv of each file, text as delivered (ingest's)

Each prints one JSON line: {"rows": N}.
"""

from __future__ import annotations

import json
import sys


def scan(paths: list[str]) -> int:
    import pyarrow.parquet as pq

    rows = 0
    for path in paths:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65536):
            rows += batch.num_rows
    return rows


def read_csv(paths: list[str]) -> int:
    import pandas as pd

    rows = 0
    for path in paths:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        rows += len(frame)
        del frame
    return rows


if __name__ == "__main__":
    kind, files = sys.argv[1], sys.argv[2:]
    print(json.dumps({"rows": {"scan": scan, "read_csv": read_csv}[kind](files)}))

"""The same contract as `strata validate`, the way a careful data scientist writes it with pandas.

Read everything at once (`pd.read_parquet` of every partition, concatenated), then vectorized column ops:
`pd.to_numeric(errors="coerce")`, `pd.to_datetime(errors="coerce", utc=True, format="ISO8601")`, boolean
masks for na markers, range, allowed values and required, `duplicated(keep="first")` on (datum, key), reasons
built only for the failing rows. No row-wise apply. Writes one clean and one quarantine Parquet file and
prints a JSON summary (rows_in, clean, quarantined, duplicates) that bench/run.py compares with validate's.

Usage: python bench/pandas_baseline.py PARAMS PARTITIONS_DIR OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def load_all(partitions: Path) -> pd.DataFrame:
    manifest = json.loads((partitions / "manifest.json").read_text())["datums"]
    frames = []
    for ident, entry in sorted(manifest.items()):
        frame = pd.read_parquet(partitions / entry["files"]["partition"])
        frame["_source"], frame["_batch"] = entry["source"], ident.split("/", 1)[1]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def resolve(columns: list[str], contract: dict) -> dict[str, str | None]:
    names = {n: c for c, spec in contract["columns"].items() for n in (c, *spec.get("aliases", []))}
    mapping: dict[str, str | None] = dict.fromkeys(contract["columns"])
    for name in columns:
        if name in names:
            mapping[names[name]] = name
    return mapping


def check_column(raw: pd.Series, spec: dict, na: list[str], flags: dict) -> tuple[pd.Series, dict]:
    """(typed values, {rule: row mask}) for one contract column."""
    text = raw.str.strip()
    missing = text.isna() | text.isin(na)
    kind = spec["type"]
    if kind in ("int", "float"):
        values = pd.to_numeric(text.where(~missing), errors="coerce")
        ok = ~missing & np.isfinite(values.fillna(0)) & values.notna()
    elif kind == "timestamp":
        values = pd.to_datetime(text.where(~missing), errors="coerce", utc=True, format="ISO8601")
        ok = ~missing & values.notna()
    elif kind == "bool":
        truth, false = text.isin(flags["true"]), text.isin(flags["false"])
        values = truth.astype("boolean").where(truth | false)
        ok = ~missing & (truth | false)
    else:
        values = text.where(~missing)
        ok = ~missing
    rules = {"missing": missing} if spec.get("required") else {}
    rules["unparseable"] = ~missing & ~ok
    if kind in ("int", "float"):
        if spec.get("min") is not None:
            rules["low"] = ok & (values < spec["min"])
        if spec.get("max") is not None:
            rules["high"] = ok & (values > spec["max"])
    elif spec.get("values"):
        rules["not_allowed"] = ok & ~text.isin(spec["values"])
    return values.where(ok), rules


def message(rule: str, column: str, spec: dict, raw: pd.Series, values: pd.Series) -> pd.Series:
    if rule == "missing":
        return pd.Series(f"missing required '{column}'", index=raw.index)
    if rule == "unparseable":
        return f"unparseable {spec['type']} in '{column}': '" + raw.fillna("") + "'"
    if rule == "not_allowed":
        return f"not allowed in '{column}': '" + raw.fillna("") + "'"
    limit = f" > max {spec['max']:g}" if rule == "high" else f" < min {spec['min']:g}"
    return f"out of range in '{column}': " + values.astype(str) + limit


def main(params: Path, partitions: Path, out: Path) -> None:
    contract = yaml.safe_load(params.read_text())["validate"]["contract"]
    na = [v.strip() for v in contract.get("na_values", [])]
    flags = {
        "true": ["true", "True", "TRUE", "1", "yes", "y", "t"],
        "false": ["false", "False", "FALSE", "0", "no", "n", "f"],
    }
    df = load_all(partitions)
    delivered = [c for c in df.columns if c not in ("_row", "_malformed", "_source", "_batch")]
    mapping = resolve(delivered, contract)
    clean = pd.DataFrame(index=df.index)
    bad = pd.Series(False, index=df.index)
    checked = {}
    for column, spec in contract["columns"].items():
        source = mapping[column]
        if source is None:
            clean[column] = pd.Series(pd.NA, index=df.index, dtype="object")
            continue
        values, rules = check_column(df[source], spec, na, flags)
        clean[column] = values
        checked[column] = (source, spec, values, rules)
        for mask in rules.values():
            bad |= mask
    bad |= df["_malformed"].notna()
    reason = pd.Series("", index=df.index[bad])
    for column, (source, spec, values, rules) in checked.items():
        for rule, mask in rules.items():
            hit = mask[bad]
            if hit.any():
                text = message(rule, column, spec, df.loc[bad, source], values[bad])
                reason = reason.where(~hit, np.where(reason == "", text, reason + "; " + text))
    quarantine = df.loc[bad, [*delivered, "_row"]].assign(reason=reason)
    good = clean.loc[~bad].assign(_source=df["_source"], _batch=df["_batch"], _row=df["_row"])
    key = list(contract.get("key") or contract["columns"])
    dup = good.duplicated(subset=["_source", "_batch", *key], keep="first")
    good = good.loc[~dup]
    out.mkdir(parents=True, exist_ok=True)
    good.to_parquet(out / "clean.parquet", index=False)
    quarantine.to_parquet(out / "quarantine.parquet", index=False)
    summary = {
        "rows_in": len(df),
        "clean": len(good),
        "quarantined": int(bad.sum()),
        "duplicates": int(dup.sum()),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))

"""Figures 4, 4b: peak RSS of ingest + validate as the history grows (many batches; one big batch)."""

from __future__ import annotations

import shutil
from pathlib import Path

from common import MB, Figure, Run, Stages, mib


def fig_scale(
    st: Stages, small: Path, big: Path, single: Path | None, rows_small: int, rows_big: int
) -> list[Figure]:
    def both(landing: Path, tag: str) -> tuple[Run, Run]:
        ing = st.ingest(landing, st.work / f"scale-{tag}-parts")
        val = st.validate(st.work / f"scale-{tag}-parts", st.work / f"scale-{tag}-out")
        shutil.rmtree(st.work / f"scale-{tag}-out", ignore_errors=True)
        shutil.rmtree(st.work / f"scale-{tag}-parts", ignore_errors=True)
        return ing, val

    i1, v1 = both(small, "small")
    i20, v20 = both(big, "big")
    base, grown = max(i1.rss, v1.rss), max(i20.rss, v20.rss)
    nb = len(list((big / "acme").glob("*.csv")))
    figures = [
        Figure(
            "4 peak RSS ingest+validate, many batches",
            f"{rows_big / 1e6:g}M rows",
            mib(grown),
            f"{rows_small / 1e6:g}M rows",
            mib(base),
            grown / base,
            "<= 1.5",
            grown / base <= 1.5,
            f"layout: {nb} CSV batches x {rows_big // nb:,} rows vs 1 batch; ingest {mib(i20.rss)} vs "
            f"{mib(i1.rss)}, validate {mib(v20.rss)} vs {mib(v1.rss)}; wall ingest {i20.wall:.0f}s, "
            f"validate {v20.wall:.0f}s",
        )
    ]
    if single is not None:
        i_s, v_s = both(single, "single")
        one = max(i_s.rss, v_s.rss)
        figures.append(
            Figure(
                "4b peak RSS ingest+validate, one big batch",
                f"{rows_big / 1e6:g}M rows",
                mib(one),
                f"{rows_small / 1e6:g}M rows",
                mib(base),
                one / base,
                "<= 1.5 (info)",
                one / base <= 1.5,
                f"layout: one {rows_big:,}-row CSV; ingest {mib(i_s.rss)}, validate {mib(v_s.rss)} "
                f"(KeyDeduper keeps 8 B per distinct key of the datum: {rows_big * 8 / MB:.0f} MiB + a merge "
                f"copy); wall ingest {i_s.wall:.0f}s, validate {v_s.wall:.0f}s",
            )
        )
    return figures

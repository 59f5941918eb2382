"""The oracle: exact posteriors from the generating process, checked against Monte-Carlo draws of that
process (each likelihood factor, and the calibration of the whole posterior), and kept out of the feed."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from stages import simulate
from strata.config import SimulateParams, SiteSpec
from strata.simulator import delivery, generate, oracle

Z = 4.5  # |z| bound for Monte-Carlo comparisons: a correct oracle fails one of them about once in 10^4 runs


def params(sites: tuple[SiteSpec, ...], events: int, days: int = 1, mess_rate: float = 0.0) -> SimulateParams:
    return SimulateParams(
        seed=5, start_date="2026-01-01", days=days, events_per_day=events, sites=sites, mess_rate=mess_rate
    )


@pytest.fixture(scope="module")
def draws() -> dict[str, Any]:
    """~60k clean events from the generator's own code path at an inch site, with their profiles."""
    site = SiteSpec("inch", "parquet", homes=3, height_unit="in")
    cfg = params((site,), 20_000, days=3)
    rows: list[dict[str, Any]] = []
    profiles: list[int] = []
    for day in range(cfg.days):
        got, prof = generate.events(cfg, site, day, generate.day_rng(cfg.seed, site.name, day, "rows"))
        rows += got
        profiles += prof
    return {"rows": rows, "profiles": np.array(profiles), "obs": oracle._observed(rows, True), "site": site}


def _z(observed: float, expected: float, n: int) -> float:
    return (observed - expected) / math.sqrt(max(expected * (1 - expected), 1e-12) / n)


def grid(low: int, high: int, decimals: int) -> tuple[float, ...]:
    """Delivered values low..high (in units of the last decimal), as np.round renders them."""
    return tuple(np.round(np.arange(low, high + 1) / 10**decimals, decimals).tolist())


@pytest.mark.parametrize(
    ("profile", "column", "values"),
    [
        ("animal_small", "weight", (0.5,)),  # clipped at the scale's lowest reading: the normal's lower tail
        ("animal_small", "weight", (math.nan,)),  # lost by the scale, no scale under the flap, or dropout
        ("resident", "height", (67.3,)),  # inches: every 0.1 cm bin that rounds to 67.3 in
        ("intruder_costume", "height", grid(270, 280, 1)),
        ("resident", "dwell", (10.0,)),  # lognormal bin
        ("intruder", "vibration", grid(90, 110, 2)),
        ("resident", "speed", (1.2,)),
        ("resident", "animal_score", grid(50, 150, 3)),  # beta by day, (B + U) / 2 in the dark
        ("animal_small", "animal_score", grid(550, 650, 3)),
        ("resident_night", "code_ok", (0.0,)),
        ("resident_night", "code_ok", (math.nan,)),
        ("intruder", "phone_nearby", (1.0,)),
        ("animal_large", "height", (math.nan,)),
    ],
)
def test_each_likelihood_factor_matches_monte_carlo(
    draws: dict[str, Any], profile: str, column: str, values: tuple[float, ...]
) -> None:
    """P(delivered value in values | profile, entry point, hour) from the oracle vs its frequency among
    draws of that profile (split by dark hours for the camera's score)."""
    j = next(i for i, p in enumerate(generate.PROFILES) if p.name == profile)
    mine = draws["profiles"] == j
    obs = {k: v[mine] if isinstance(v, np.ndarray) else v for k, v in draws["obs"].items()}
    seen = obs[column]
    hit = np.isnan(seen) if math.isnan(values[0]) else np.isin(seen, values)
    expected = np.zeros(seen.shape)
    for value in values:
        fixed = dict(obs, **{column: np.full(seen.shape, value)})
        if column in generate.READINGS:
            unit = generate.HEIGHT_UNITS["in"] if column == "height" else 1.0
            expected += oracle.reading_factor(generate.PROFILES[j], column, fixed[column], obs, unit)
        else:
            expected += oracle._factors(generate.PROFILES[j], fixed, generate.HEIGHT_UNITS["in"])[column]
    for part in (obs["dark"], ~obs["dark"]) if column == "animal_score" else (np.ones_like(hit),):
        assert expected[part].mean() * part.sum() > 30  # enough expected hits to measure
        assert abs(_z(float(hit[part].mean()), float(expected[part].mean()), int(part.sum()))) < Z


def test_hour_and_entry_factors_match_monte_carlo(draws: dict[str, Any]) -> None:
    for j, p in enumerate(generate.PROFILES):
        mine = draws["profiles"] == j
        factors = oracle._factors(p, {k: v[mine] if isinstance(v, np.ndarray) else v
                                      for k, v in draws["obs"].items()}, 2.54)  # fmt: skip
        for column, code in (("ts", draws["obs"]["hour"]), ("entry_point", draws["obs"]["entry"])):
            for value in np.unique(code[mine]):
                hit = code[mine] == value
                assert abs(_z(hit.mean(), factors[column][hit][0], int(mine.sum()))) < Z, (p.name, value)


@functools.cache
def _clean_sample(mess_rate: float) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Posteriors, labels and observed values of the rows that stay clean, at a cm and an inch site."""
    sites = (SiteSpec("cm", "parquet"), SiteSpec("inch", "parquet", height_unit="in"))
    cfg = params(sites, 12_000, days=2, mess_rate=mess_rate)
    post, labels, obs = [], [], []
    for site in sites:
        for day in range(cfg.days):
            once = delivery.delivered_once(cfg, site, day)
            clean = [r == s and all(r[c] is not None for c in ("ts", "entry_point"))
                     for r, s in zip(once.rows, once.seen, strict=True)]  # fmt: skip
            seen = [s for s, ok in zip(once.seen, clean, strict=True) if ok]
            post.append(oracle.posteriors(oracle.likelihoods(cfg, site, day, seen)))
            labels += [generate.PROFILES[j].label for j, ok in zip(once.profiles, clean, strict=True) if ok]
            obs.append(oracle._observed(seen, True))
    merged = {k: np.concatenate([o[k] for o in obs]) for k in obs[0] if k != "phone_sent"}
    return np.vstack(post), np.array(labels), merged


@pytest.mark.parametrize("mess_rate", [0.0, 1.0])
def test_posterior_is_calibrated_against_monte_carlo(mess_rate: float) -> None:
    """E[1{class = k} - P(k | x)] = 0 in any cell of x: by posterior decile, and in the cells each
    mechanism shapes (dark camera, missing weight per entry point, fumbled code, blanked readings)."""
    post, labels, obs = _clean_sample(mess_rate)
    assert np.allclose(post.sum(axis=1), 1.0) and not np.isnan(post).any()
    cells: dict[str, np.ndarray] = {
        "dark": obs["dark"],
        "daylight": ~obs["dark"],
        "weight missing at a window": np.isnan(obs["weight"]) & (obs["entry"] == 3),
        "weight missing at a front door": np.isnan(obs["weight"]) & (obs["entry"] == 0),
        "code fumbled": obs["code_ok"] == 0,
        "code not tried": np.isnan(obs["code_ok"]),
        "some reading missing": np.isnan(np.column_stack([obs[c] for c in generate.READINGS])).any(axis=1),
        "high animal score in the dark": obs["dark"] & (obs["animal_score"] > 0.6),
    }
    checked = 0
    for i, cls in enumerate(oracle.CLASSES):
        for q in range(10):
            low, high = np.quantile(post[:, i], [q / 10, (q + 1) / 10])
            cells[f"{cls} decile {q}"] = (post[:, i] >= low) & (post[:, i] <= high)
        for name, cell in cells.items():
            expected = float(post[cell, i].sum())
            if min(expected, cell.sum() - expected) < 20:
                continue  # too few expected members (or non-members) for a normal approximation
            gap = float((labels[cell] == cls).sum()) - expected
            assert abs(gap) < Z * math.sqrt(float((post[cell, i] * (1 - post[cell, i])).sum())), (cls, name)
            checked += 1
    assert checked > 40


def test_oracle_beats_a_fitted_model_in_log_loss() -> None:
    """No model can beat the Bayes posterior in expectation; a boosted model on 12k draws is well behind."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    post, labels, obs = _clean_sample(0.0)
    x = np.column_stack([obs["hour"], obs["entry"], *(obs[c] for c in (*generate.READINGS, *generate.FLAGS))])
    half = len(labels) // 2
    with threadpool_limits(1):
        model = HistGradientBoostingClassifier(max_iter=100, categorical_features=[1], random_state=0)
        fitted = model.fit(x[:half], labels[:half]).predict_proba(x[half:])
    rows = np.arange(len(labels) - half)
    truth = np.searchsorted(oracle.CLASSES, labels[half:])
    assert list(model.classes_) == list(oracle.CLASSES)
    ours = -np.log(post[half:][rows, truth]).mean()
    theirs = -np.log(fitted[rows, truth]).mean()
    assert ours < theirs - 0.005


def test_oracle_files_sit_beside_the_landing_folder_keyed_by_event_id(tmp_path: Path) -> None:
    sites = (SiteSpec("acme", "csv", homes=4), SiteSpec("cedar", "parquet", height_unit="in"))
    cfg = params(sites, 60, days=2, mess_rate=0.1)
    simulate.write_landing(cfg, tmp_path / "landing")
    assert simulate.write_oracle(cfg, tmp_path / "oracle") > 200
    for site in sites:
        for day in range(2):
            table = pq.read_table(tmp_path / "oracle" / site.name / f"2026-01-0{day + 1}.parquet")
            delivered = {r["event_id"] for r in delivery.delivered_once(cfg, site, day).seen}
            assert set(table["event_id"].to_pylist()) == delivered
            assert table.column_names == ["event_id", "profile", *(f"posterior.{c}" for c in oracle.CLASSES)]
            post = np.column_stack([table[f"posterior.{c}"] for c in oracle.CLASSES])
            assert np.allclose(post.sum(axis=1), 1.0)
            assert set(table["profile"].to_pylist()) <= {p.name for p in generate.PROFILES}
    landed = b"".join(p.read_bytes() for p in sorted((tmp_path / "landing").rglob("*")) if p.is_file())
    assert b"posterior" not in landed and b"intruder_costume" not in landed and b"profile" not in landed
    again = tmp_path / "again"
    simulate.write_oracle(params(sites, 60, days=3, mess_rate=0.1), again)
    for path in (tmp_path / "oracle").rglob("*.parquet"):  # adding a day keeps earlier files identical
        assert path.read_bytes() == (again / path.relative_to(tmp_path / "oracle")).read_bytes()


def test_a_reading_the_mess_may_have_blanked_weighs_in_by_hand() -> None:
    """Only code_ok missing: L(mess r) / L(no mess) = A + B / P(code not tried | profile), with A = 1 - r +
    r * 2/5 (no mess, or a copy kind) and B = r / 5 / 13 ("missing" picked code_ok) at a Parquet site."""
    site = SiteSpec("p", "parquet")
    rows, _ = generate.events(params((site,), 400), site, 0, generate.day_rng(5, "p", 0, "rows"))
    row = next(r for r in rows if r["code_ok"] is None and all(r[c] is not None for c in generate.READINGS)
               and r["phone_nearby"] is not None)  # fmt: skip
    r = 0.3
    messy = oracle.likelihoods(params((site,), 400, mess_rate=r), site, 0, [row])[0]
    clean = oracle.likelihoods(params((site,), 400), site, 0, [row])[0]
    for j, p in enumerate(generate.PROFILES):
        if clean[j] > 0:
            assert messy[j] / clean[j] == pytest.approx(1 - r + r * 2 / 5 + r / 5 / 13 / (1 - p.code[0]))


def test_cli_simulate_writes_the_oracle_only_when_asked(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from strata.cli import app

    params = tmp_path / "params.yaml"
    params.write_text(
        'simulate:\n  seed: 3\n  start_date: "2026-01-01"\n  days: 2\n  events_per_day: 30\n'
        "  sites:\n    - {name: acme, format: csv, homes: 3}\n"
    )
    args = ["simulate", "--params", str(params), "--out", str(tmp_path / "landing")]
    result = CliRunner().invoke(app, [*args, "--oracle", str(tmp_path / "oracle")])
    assert result.exit_code == 0, result.output
    events = sum(pq.read_table(p).num_rows for p in (tmp_path / "oracle").rglob("*.parquet"))
    assert f", oracle for {events} events (" in result.output and events > 20
    assert sorted(p.name for p in (tmp_path / "oracle" / "acme").iterdir()) == [
        "2026-01-01.parquet",
        "2026-01-02.parquet",
    ]
    result = CliRunner().invoke(app, [*args])
    assert result.exit_code == 0 and "oracle" not in result.output

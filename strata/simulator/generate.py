"""The generating process of the default feed: entry-point events (resident, intruder, animal) at homes.

Each event comes from one of :data:`PROFILES` (a kind of event with its own distributions); every
(seed, site, day, purpose) owns an RNG seeded from a sha256, so growing ``days`` leaves earlier days
unchanged. This module knows what an event *is*; strata.simulator.delivery knows how a site sends it.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from strata.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from strata.config import SimulateParams, SiteSpec

Row = dict[str, Any]

COLUMNS = ("event_id", "ts", "home_id", "entry_point", "height", "weight", "speed", "dwell", "vibration",
           "animal_score", "code_ok", "phone_nearby", "label")  # fmt: skip
ENTRY_POINTS = ("front_door", "back_door", "garage", "window", "pet_flap")
FLAGS = ("code_ok", "phone_nearby")
NEW_COLUMN = FLAGS[1]  # sent only from a site's new_column_from_day on
CAMEL = {"event_id": "eventId", "home_id": "homeId", "entry_point": "entryPoint", "height": "objectHeight",
         "dwell": "dwellSeconds", "animal_score": "animalScore", "code_ok": "codeOk",
         "phone_nearby": "phoneNearby"}  # fmt: skip  # JSON sites' keys: aliases in validate.contract
# name: (lowest, highest, decimals) of a clean reading in cm, kg, m/s, s, g, score
READINGS = {"height": (10.0, 230.0, 1), "weight": (0.5, 200.0, 1), "speed": (0.05, 12.0, 2),
            "dwell": (0.5, 3000.0, 1), "vibration": (0.01, 40.0, 2),
            "animal_score": (0.0, 1.0, 3)}  # fmt: skip
DROPOUT = {"height": 0.05, "weight": 0.1, "speed": 0.03, "dwell": 0.02, "vibration": 0.06,
           "animal_score": 0.12, "phone_nearby": 0.05}  # fmt: skip  # sensor silence per reading
NO_SCALE = {"window": 0.7, "pet_flap": 0.8}  # P(no floor scale under this kind of entry point)
HEIGHT_UNITS = {"cm": 1.0, "in": 2.54}  # cm per unit
DAWN, DUSK = 6, 21  # the camera sees in daylight from DAWN to DUSK (UTC hours)
HOURS = {  # relative frequency per hour of day (UTC), 0..23
    "home": (1, .5, .3, .3, .3, 1, 4, 8, 9, 6, 4, 4, 5, 4, 4, 5, 7, 9, 9, 8, 6, 4, 3, 2),
    "night": (5, 8, 9, 8, 5, 1, *[0] * 17, 2),
    "prowl": (5, 6, 6, 5, 4, 3, 2, 2, 3, 4, 5, 5, 5, 5, 4, 3, 3, 2, 2, 2, 3, 3, 4, 4),
    "animal": (3, 3, 3, 3, 4, 6, 7, 6, 4, 3, 3, 3, 3, 3, 3, 3, 4, 5, 7, 7, 6, 5, 4, 3),
}  # fmt: skip


class Profile(NamedTuple):
    """One kind of event; overlapping profiles make the classes learnable but not trivially."""

    name: str  # the oracle's slice name (strata.simulator.oracle); never delivered
    label: str
    share: float
    hours: str
    entry: tuple[float, float, float, float, float]  # in ENTRY_POINTS order
    height: tuple[float, float]  # cm: mean, sd
    weight: tuple[float, float]  # kg: mean, sd
    speed: tuple[float, float]  # m/s: mean, sd
    dwell: tuple[float, float]  # s: median, log-sd
    vibration: tuple[float, float]  # g: median, log-sd
    animal_score: tuple[float, float]  # beta a, b
    code: tuple[float, float]  # P(code tried), P(correct | tried)
    phone: float  # P(resident's phone seen)
    weight_lost: float = 0.0  # P(scale misses the body)


PROFILES = (
    Profile("resident", "resident", .46, "home", (.45, .15, .32, .04, .04), (170, 14), (75, 18), (1.2, .45),
            (10, .8), (.45, .9), (1.5, 6), (.65, .92), .8),
    Profile("resident_child", "resident", .07, "home", (.55, .25, .12, .04, .04), (125, 22), (33, 13),
            (1.5, .6), (7, .8), (.5, .9), (2, 3.5), (.5, .75), .5),
    Profile("resident_night", "resident", .07, "night", (.5, .22, .2, .05, .03), (170, 15), (77, 18),
            (1.0, .45), (25, .8), (.8, .9), (1.8, 5), (.8, .45), .45),  # 3 a.m.: fumbled code, phone flat
    Profile("intruder", "intruder", .11, "prowl", (.15, .35, .1, .33, .07), (172, 14), (80, 18), (1.3, .6),
            (16, .9), (1.0, .9), (1.8, 5.5), (.35, .2), .2),
    Profile("intruder_costume", "intruder", .04, "prowl", (.05, .3, .05, .25, .35), (70, 20), (78, 18),
            (.8, .35), (25, .8), (1.2, .9), (5, 2.5), (.05, .05), .12, .6),  # crawls, fools the camera
    Profile("animal_small", "animal", .17, "animal", (.05, .15, .05, .15, .6), (35, 18), (6, 4), (1.5, .8),
            (4, .9), (.3, .9), (3, 2.2), (.01, .2), .35, .3),
    Profile("animal_large", "animal", .08, "animal", (.1, .3, .15, .1, .35), (80, 22), (32, 14), (1.8, 1.0),
            (7, .9), (.6, .9), (2.2, 2.2), (0, 0), .35),
)  # fmt: skip


def is_dark(hour: np.ndarray) -> np.ndarray:
    """Hours (UTC) when the camera's animal_score is mixed half-and-half with noise: (B + U) / 2."""
    return (hour < DAWN) | (hour >= DUSK)


def day_rng(seed: int, site: str, day: int, purpose: str) -> np.random.Generator:
    """An RNG owned by one (seed, site, day, purpose): a stable sha256, never Python's salted hash()."""
    import numpy as np

    digest = hashlib.sha256(f"{seed}/{site}/{day}/{purpose}".encode()).digest()
    return np.random.default_rng(np.random.SeedSequence(int.from_bytes(digest[:16], "big")))


def _sample(rng: np.random.Generator, p: Profile, k: int) -> dict[str, np.ndarray]:
    import numpy as np

    tried, correct = rng.random(k) < p.code[0], rng.random(k) < p.code[1]
    hours = np.array(HOURS[p.hours], dtype=float)
    return {
        "hour": rng.choice(24, size=k, p=hours / hours.sum()),
        "second": rng.integers(0, 3600, size=k),
        "entry": rng.choice(len(ENTRY_POINTS), size=k, p=p.entry),
        "height": rng.normal(*p.height, size=k),
        "weight": np.where(rng.random(k) < p.weight_lost, np.nan, rng.normal(*p.weight, size=k)),
        "speed": rng.normal(*p.speed, size=k),
        "dwell": p.dwell[0] * np.exp(rng.normal(0, p.dwell[1], size=k)),
        "vibration": p.vibration[0] * np.exp(rng.normal(0, p.vibration[1], size=k)),
        "animal_score": rng.beta(*p.animal_score, size=k),
        "code_ok": np.where(tried, correct, np.nan),
        "phone_nearby": (rng.random(k) < p.phone).astype(float),
    }


def _draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Profiles and raw readings of n events; NaN is a reading the sensors did not deliver."""
    import numpy as np

    shares = np.array([p.share for p in PROFILES])
    prof = rng.choice(len(PROFILES), size=n, p=shares / shares.sum())
    cols: dict[str, np.ndarray] = {}
    for j, p in enumerate(PROFILES):
        idx = np.flatnonzero(prof == j)
        for name, values in _sample(rng, p, idx.size).items():
            cols.setdefault(name, np.full(n, np.nan))[idx] = values
    dark = is_dark(cols["hour"])  # the night camera is half guessing
    cols["animal_score"] = np.where(dark, (cols["animal_score"] + rng.random(n)) / 2, cols["animal_score"])
    for name, (low, high, decimals) in READINGS.items():
        cols[name] = np.round(np.clip(cols[name], low, high), decimals)
    for entry, rate in NO_SCALE.items():
        cols["weight"][(cols["entry"] == ENTRY_POINTS.index(entry)) & (rng.random(n) < rate)] = np.nan
    for name, rate in DROPOUT.items():
        cols[name][rng.random(n) < rate] = np.nan
    return prof, cols


def events(
    params: SimulateParams, site: SiteSpec, day: int, rng: np.random.Generator
) -> tuple[list[Row], list[int]]:
    """The clean events of one site-day in canonical names, time order, heights in the site's unit; and
    the index into PROFILES each was drawn from (for the oracle only: never delivered)."""
    import numpy as np

    n = max(1, int(rng.poisson(params.events_per_day)))
    prof, cols = _draw(rng, n)
    homes = rng.integers(0, site.homes, size=n)
    midnight = datetime.combine(start_date(params) + timedelta(days=day), datetime.min.time(), UTC)
    seconds = cols["hour"].astype(int) * 3600 + cols["second"].astype(int)
    stamp = midnight.strftime("%Y%m%d")
    cols["height"] = np.round(cols["height"] / HEIGHT_UNITS[site.height_unit], READINGS["height"][2])
    values = {c: [None if math.isnan(x) else bool(x) if c in FLAGS else x for x in cols[c].tolist()]
              for c in (*READINGS, *FLAGS)}  # fmt: skip  # NaN: nothing delivered
    rows, profiles = [], []
    for rank, i in enumerate(np.argsort(seconds, kind="stable")):
        row: Row = {"event_id": f"{site.name}-{stamp}-{rank:05d}",
                    "ts": midnight + timedelta(seconds=int(seconds[i])),
                    "home_id": f"{site.name}-h{int(homes[i]):03d}",
                    "entry_point": ENTRY_POINTS[int(cols["entry"][i])]}  # fmt: skip
        row.update({c: v[i] for c, v in values.items()}, label=PROFILES[int(prof[i])].label)
        rows.append(row)
        profiles.append(int(prof[i]))
    return rows, profiles


def start_date(params: SimulateParams) -> date:
    try:
        return date.fromisoformat(params.start_date)
    except ValueError as exc:
        raise ConfigError(f"simulate.start_date: '{params.start_date}' is not a YYYY-MM-DD date") from exc

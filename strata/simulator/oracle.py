"""The oracle: for every simulated event, the exact posterior probability of each class given the values it
reaches the model with, computed from the generating process (strata.simulator.generate), never from data.

P(class | x) is the sum over the PROFILES of that class of share * L(x | profile), normalised, where
L is a product of exact factors: the hour's weight, the entry point's, for each reading the density's mass
over the bin of values that clip and round (and, at inch sites, convert) to the delivered value times
P(delivered), or P(not delivered) for a missing one; the code and phone outcomes; and the mess that can
blank one value of a row that stays clean. Derivation and checks: docs/oracle.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strata.model.bayes import PREFIX, metadata
from strata.simulator.delivery import COLUMNS, delivered_once, mess_kinds, site_columns
from strata.simulator.generate import (
    DROPOUT,
    ENTRY_POINTS,
    FLAGS,
    HEIGHT_UNITS,
    HOURS,
    NEW_COLUMN,
    NO_SCALE,
    PROFILES,
    READINGS,
    Profile,
    Row,
    is_dark,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from strata.config import SimulateParams, SiteSpec

KEY = "event_id"  # the simulator's event id column: the oracle is joined on it, never trained on
PROFILE = "profile"
CLASSES = tuple(sorted({p.label for p in PROFILES}))
COPY_KINDS = ("duplicate", "redelivered")  # the row itself reaches the clean data unchanged
LOGNORMAL = ("dwell", "vibration")  # (median, log-sd); animal_score is a beta; the rest are normal


def _normal_mass(z_low: np.ndarray, z_high: np.ndarray) -> np.ndarray:
    """P(z_low < Z <= z_high) for a standard normal, computed on the side that keeps the digits."""
    import numpy as np
    from scipy.special import ndtr

    return np.where(z_low > 0, ndtr(-z_low) - ndtr(-z_high), ndtr(z_high) - ndtr(z_low))


def _beta_cdf(a: float, b: float, x: np.ndarray) -> np.ndarray:
    import numpy as np
    from scipy.special import betainc

    return np.asarray(betainc(a, b, np.clip(x, 0.0, 1.0)), dtype=float)


def _dark_cdf(a: float, b: float, z: np.ndarray) -> np.ndarray:
    """CDF of (B + U) / 2, B ~ Beta(a, b), U ~ U(0, 1): J(2z) - J(2z - 1), J(x) = integral of F_B up to x."""
    import numpy as np

    mean = a / (a + b)

    def integral(x: np.ndarray) -> np.ndarray:
        inside = x * _beta_cdf(a, b, x) - mean * _beta_cdf(a + 1, b, x)
        return np.where(x <= 0, 0.0, np.where(x >= 1, x - mean, inside))

    z = np.clip(z, 0.0, 1.0)  # the support of (B + U) / 2; bins reach -inf/+inf at the clipped ends
    return integral(2 * z) - integral(2 * z - 1)


def _mass(p: Profile, name: str, low: np.ndarray, high: np.ndarray, dark: np.ndarray) -> np.ndarray:
    """P(low < raw reading <= high | profile) in the generating unit, before clipping and rounding."""
    import numpy as np

    if name == "animal_score":
        a, b = p.animal_score
        day = _beta_cdf(a, b, high) - _beta_cdf(a, b, low)
        return np.where(dark, _dark_cdf(a, b, high) - _dark_cdf(a, b, low), day)
    centre, spread = getattr(p, name)
    if name in LOGNORMAL:
        with np.errstate(divide="ignore"):
            logs = [np.log(np.where(x > 0, x, 0.0)) for x in (low, high)]
        return _normal_mass((logs[0] - np.log(centre)) / spread, (logs[1] - np.log(centre)) / spread)
    return _normal_mass((low - centre) / spread, (high - centre) / spread)


def _bins(name: str, values: np.ndarray, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """(low, high] of the raw readings that clip and round to each delivered value (NaN: none delivered).

    Rounding is monotone, so the preimage is one interval; at a site reporting in another unit the value
    was rounded twice (in the generating unit, then in the site's), so the grid points that round to the
    delivered value are found by repeating the generator's own arithmetic on a small window around it.
    """
    import numpy as np

    lo, hi, decimals = READINGS[name]
    scale = 10.0**decimals
    if unit == 1.0:
        first = last = values
    else:
        start = np.floor((np.nan_to_num(values) - 0.5 / scale) * unit * scale) - 1
        grid = (start[:, None] + np.arange(8)[None, :]) / scale  # what np.round(x, decimals) returns
        grid = np.where((grid >= lo) & (grid <= hi), grid, np.nan)
        match = np.round(grid / unit, decimals) == values[:, None]
        first = np.where(match, grid, np.inf).min(axis=1)
        last = np.where(match, grid, -np.inf).max(axis=1)
    low = np.where(first <= lo, -np.inf, first - 0.5 / scale)
    high = np.where(last >= hi, np.inf, last + 0.5 / scale)
    return low, high


def _present(p: Profile, name: str, entry: np.ndarray) -> np.ndarray:
    """P(the sensor delivers this reading | profile, entry point)."""
    import numpy as np

    keep = np.full(entry.shape, 1.0 - DROPOUT.get(name, 0.0))
    if name == "weight":
        no_scale = np.array([NO_SCALE.get(point, 0.0) for point in ENTRY_POINTS])[entry]
        keep *= (1.0 - p.weight_lost) * (1.0 - no_scale)
    return keep


def reading_factor(p: Profile, name: str, values: np.ndarray, obs: dict[str, Any], unit: float) -> np.ndarray:
    """P(this delivered reading | profile, entry point, hour): P(delivered) * the bin's mass, or
    P(not delivered) for NaN."""
    import numpy as np

    keep = _present(p, name, obs["entry"])
    low, high = _bins(name, values, unit)
    with np.errstate(invalid="ignore"):
        mass = np.nan_to_num(_mass(p, name, low, high, obs["dark"]))
    return np.where(np.isnan(values), 1.0 - keep, keep * mass)


def _factors(p: Profile, obs: dict[str, Any], unit: float) -> dict[str, np.ndarray]:
    """Per column, P(that column's delivered value | profile) for each event; readings are independent
    given the profile except weight's scale (entry point) and the camera (dark hours)."""
    import numpy as np

    hours = np.asarray(HOURS[p.hours], dtype=float)
    out = {"ts": (hours / hours.sum())[obs["hour"]], "entry_point": np.asarray(p.entry)[obs["entry"]]}
    for name in READINGS:
        out[name] = reading_factor(p, name, obs[name], obs, unit if name == "height" else 1.0)
    tried, correct = p.code
    code = obs["code_ok"]
    out["code_ok"] = np.where(
        np.isnan(code), 1 - tried, np.where(code == 1, tried * correct, tried - tried * correct)
    )
    seen = 1.0 - DROPOUT[NEW_COLUMN]
    phone = obs[NEW_COLUMN]
    both = np.where(phone == 1, seen * p.phone, seen * (1 - p.phone))
    out[NEW_COLUMN] = np.where(obs["phone_sent"], np.where(np.isnan(phone), 1 - seen, both), 1.0)
    return out


def _observed(rows: list[Row], sends_phone: bool) -> dict[str, Any]:
    import numpy as np

    def column(name: str) -> np.ndarray:
        return np.array([np.nan if r[name] is None else float(r[name]) for r in rows], dtype=float)

    hour = np.array([r["ts"].hour for r in rows], dtype=int)
    obs: dict[str, Any] = {name: column(name) for name in (*READINGS, *FLAGS)}
    obs |= {"hour": hour, "dark": is_dark(hour), "phone_sent": sends_phone}
    obs["entry"] = np.array([ENTRY_POINTS.index(r["entry_point"]) for r in rows], dtype=int)
    return obs


def likelihoods(params: SimulateParams, site: SiteSpec, day: int, rows: list[Row]) -> np.ndarray:
    """(events, profiles): P(x delivered and clean | profile), x as the model receives it.

    A row with one kind of mess either is quarantined (never scored) or reaches the clean data whole
    (a copy) or with one value blanked ("missing"): L = A * prod_j f_j + B * sum over the blank columns c of
    prod_(j != c) f_j, A = P(no mess) + P(copy kind), B = P("missing" picks c). Class independent, so the
    constants only matter through B / A.
    """
    import numpy as np

    kinds = mess_kinds(site)
    whole = 1 - params.mess_rate + params.mess_rate * sum(k in COPY_KINDS for k in kinds) / len(kinds)
    blank = params.mess_rate / len(kinds) / len(COLUMNS)
    sends = any(name == NEW_COLUMN for name, _ in site_columns(site, day))
    obs = _observed(rows, sends)
    unit = HEIGHT_UNITS[site.height_unit]
    nullable = (*READINGS, *FLAGS)
    out = np.empty((len(rows), len(PROFILES)))
    for j, p in enumerate(PROFILES):
        factors = _factors(p, obs, unit)
        matrix = np.column_stack(list(factors.values()))
        total = whole * matrix.prod(axis=1)
        for i, name in enumerate(factors):
            if name in nullable:
                rest = np.delete(matrix, i, axis=1).prod(axis=1)
                total = total + blank * np.where(np.isnan(obs[name]), rest, 0.0)
        out[:, j] = total
    return out


def posteriors(likelihood: np.ndarray) -> np.ndarray:
    """(events, classes in CLASSES order) from (events, profiles) likelihoods and the profiles' shares."""
    import numpy as np

    shares = np.array([p.share for p in PROFILES])
    joint = likelihood * (shares / shares.sum())
    by_class = np.column_stack([joint[:, [p.label == c for p in PROFILES]].sum(axis=1) for c in CLASSES])
    return by_class / by_class.sum(axis=1, keepdims=True)


def oracle_day(params: SimulateParams, site: SiteSpec, day: int) -> pa.Table:
    """event id, generating profile and the class posteriors of every event generated at one site-day
    (copies carry the same event id; a quarantined row's entry is simply never joined)."""
    import pyarrow as pa

    once = delivered_once(params, site, day)
    post = posteriors(likelihoods(params, site, day, once.seen))
    columns = {
        KEY: pa.array([r[KEY] for r in once.seen], pa.string()),
        PROFILE: pa.array([PROFILES[j].name for j in once.profiles], pa.string()),
    }
    columns |= {f"{PREFIX}{c}": pa.array(post[:, i], pa.float64()) for i, c in enumerate(CLASSES)}
    return pa.table(columns).replace_schema_metadata(metadata(KEY, PROFILE, CLASSES))

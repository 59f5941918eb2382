"""Unit conversion for the data contract: ``canonical = delivered * scale + offset``.

A source that reports a column in another unit than the contract's (``contract.source_units``) is converted
while cleaning, before the range check. Only pairs within one dimension convert; anything else is a
``SchemaError`` raised before any row is read, so a typo in params.yaml never half-converts a batch.
"""

from __future__ import annotations

from strata.errors import SchemaError

# unit -> (dimension, factor to the dimension's base unit)
_LINEAR: dict[str, tuple[str, float]] = {
    "mm": ("length", 0.001),
    "cm": ("length", 0.01),
    "m": ("length", 1.0),
    "in": ("length", 0.0254),
    "ft": ("length", 0.3048),
    "g": ("mass", 0.001),
    "kg": ("mass", 1.0),
    "lb": ("mass", 0.45359237),
    "ms": ("duration", 0.001),
    "s": ("duration", 1.0),
    "min": ("duration", 60.0),
    "h": ("duration", 3600.0),
    "m/s": ("speed", 1.0),
    "km/h": ("speed", 1000.0 / 3600.0),
    "mph": ("speed", 0.44704),
}
# temperature: kelvin = value * scale + offset
_TEMPERATURE: dict[str, tuple[float, float]] = {
    "K": (1.0, 0.0),
    "C": (1.0, 273.15),
    "F": (5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0),
}

UNITS = (*_LINEAR, *_TEMPERATURE)


def conversion(source_unit: str, unit: str, what: str) -> tuple[float, float]:
    """(scale, offset) turning ``source_unit`` values into ``unit``; ``what`` names the column for errors."""
    if source_unit == unit:
        return 1.0, 0.0
    if source_unit in _TEMPERATURE and unit in _TEMPERATURE:
        s_scale, s_off = _TEMPERATURE[source_unit]
        t_scale, t_off = _TEMPERATURE[unit]
        return s_scale / t_scale, (s_off - t_off) / t_scale
    src, dst = _LINEAR.get(source_unit), _LINEAR.get(unit)
    if src is None or dst is None or src[0] != dst[0]:
        raise SchemaError(
            f"{what}: cannot convert unit '{source_unit}' to '{unit}' (known: {', '.join(UNITS)})"
        )
    return src[1] / dst[1], 0.0

"""The regression gate: a pure function of the allowed drops and two sets of metrics.

`check_gate(max_drop, base_metrics, head_metrics)` is all there is; `strata report` and anything else that
must decide "may this model replace that one" (a registry promotion, say) call it the same way. Every gated
metric counts as higher-is-better. A metric missing at both revisions is not measured for this target (a
gate shared across targets): nothing to compare, so it passes. New at head: nothing to drop from, passes.
Missing at head only: the head stopped measuring it, which fails.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from strata.errors import GateFailed
from strata.review.diffs import number

EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class GateResult:
    metric: str
    base: float | None
    head: float | None
    max_drop: float

    @property
    def drop(self) -> float | None:
        return None if self.base is None or self.head is None else self.base - self.head

    @property
    def ok(self) -> bool:
        if self.base is None:  # new at head, or measured at neither revision
            return True
        return self.drop is not None and self.drop <= self.max_drop + EPS

    @property
    def status(self) -> str:
        if self.base is None:
            return "not measured" if self.head is None else "new"
        return "ok" if self.ok else "FAIL"

    def message(self) -> str:
        if self.head is None:
            return f"{self.metric} is missing at head (base {self.base:.4f})"
        return (
            f"{self.metric} dropped from {self.base:.4f} (base) to {self.head:.4f} (head): "
            f"drop {self.drop:.4f} > max_drop {self.max_drop:.4f}"
        )


def check_gate(
    max_drop: Mapping[str, float], base: Mapping[str, Any], head: Mapping[str, Any]
) -> list[GateResult]:
    """One result per gated metric (dotted path into the flattened metrics), in the gate's order."""
    return [
        GateResult(name, _float(base.get(name)), _float(head.get(name)), float(limit))
        for name, limit in max_drop.items()
    ]


def _float(value: Any) -> float | None:
    found = number(value)
    return None if found is None else float(found)


def enforce(results: list[GateResult]) -> None:
    """Raise GateFailed naming every metric that regressed past its threshold or vanished at head."""
    failed = [r.message() for r in results if not r.ok]
    if failed:
        raise GateFailed("gate: " + "; ".join(failed))

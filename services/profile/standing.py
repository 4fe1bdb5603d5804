"""RFM scores, RFM groups and lifecycle stages: computed traits that move with time.

They are functions of the event-derived counters and of `now`, never stored
inputs, so a profile can be re-derived at any moment (on every write and by the
scheduled sweep) and a recompute from events gives the same answer as the
incremental path at the same `now`.

Defaults (per workspace, changeable through UpdateProfileSettings):
- recency: days since the last order < 30 -> 5, < 60 -> 4, < 90 -> 3, < 180 -> 2, else 1;
- frequency: orders >= 8 -> 5, >= 5 -> 4, >= 3 -> 3, >= 2 -> 2, else 1;
- monetary: LTV (revenue net of refunds) >= 3000 -> 5, >= 1000 -> 4, >= 500 -> 3, >= 200 -> 2, else 1;
- a score >= 3 counts as "high" for the eight RFM groups;
- lifecycle: churned after 180 days without any event, silent after 30; otherwise
  loyal from 5 orders, growing from 2, new below that.
RFM values exist only for persons with at least one order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from services.kit.catalog import COMPUTED
from services.kit.errors import InvalidInput

# Code -> Chinese name, from the catalog; the code is what profile.changed and the rfm_group tag carry.
RFM_GROUPS = {c.code: c.zh for c in COMPUTED["rfm_group"].values}
LIFECYCLE_STAGES = COMPUTED["lifecycle_stage"].codes


@dataclass
class Thresholds:
    recency_days: list[float] = field(default_factory=lambda: [30, 60, 90, 180])
    frequency_orders: list[float] = field(default_factory=lambda: [2, 3, 5, 8])
    monetary: list[float] = field(default_factory=lambda: [200, 500, 1000, 3000])
    high_score: int = 3
    silent_days: float = 30
    churned_days: float = 180
    growing_orders: int = 2
    loyal_orders: int = 5

    @classmethod
    def of(cls, doc: dict | None) -> "Thresholds":
        return cls(**{k: v for k, v in (doc or {}).items() if k in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self) -> "Thresholds":
        for name in ("recency_days", "frequency_orders", "monetary"):
            values = getattr(self, name)
            if len(values) != 4 or any(b <= a for a, b in zip(values, values[1:], strict=False)) or values[0] < 0:
                raise InvalidInput(f"{name} must be 4 increasing non-negative numbers", name)
        if not 1 <= self.high_score <= 5:
            raise InvalidInput("high_score must be between 1 and 5", "high_score")
        if not 0 < self.silent_days < self.churned_days:
            raise InvalidInput("silent_days must be positive and below churned_days", "silent_days")
        if not 0 < self.growing_orders < self.loyal_orders:
            raise InvalidInput("growing_orders must be positive and below loyal_orders", "growing_orders")
        return self


def _days(delta: dt.timedelta) -> float:
    return max(delta.total_seconds(), 0.0) / 86400


def recency_score(last_order_at: dt.datetime, now: dt.datetime, t: Thresholds) -> int:
    days = _days(now - last_order_at)
    for score, bound in zip((5, 4, 3, 2), t.recency_days, strict=True):
        if days < bound:
            return score
    return 1


def _rising_score(value: float, bounds: list[float]) -> int:
    return 1 + sum(1 for bound in bounds if value >= bound)


def rfm_group(r: int, f: int, m: int, t: Thresholds) -> str:
    high = [score >= t.high_score for score in (r, f, m)]
    kind = "important" if high[2] else "general"
    name = {(True, True): "value", (True, False): "develop", (False, True): "keep", (False, False): "retain"}
    return f"{kind}_{name[(high[0], high[1])]}"


def lifecycle_stage(computed: dict, now: dt.datetime, t: Thresholds) -> str | None:
    last_active = computed.get("last_active_at")
    if last_active is None:
        return None
    idle = _days(now - last_active)
    if idle >= t.churned_days:
        return "churned"
    if idle >= t.silent_days:
        return "silent"
    orders = computed.get("order_count", 0)
    if orders >= t.loyal_orders:
        return "loyal"
    if orders >= t.growing_orders:
        return "growing"
    return "new"


def standing(computed: dict, now: dt.datetime, t: Thresholds) -> dict[str, Any]:
    """The time-dependent computed traits: {name: value} (None: absent)."""
    out: dict[str, Any] = dict.fromkeys(("rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_group"))
    out["lifecycle_stage"] = lifecycle_stage(computed, now, t)
    last_order = computed.get("last_order_at")
    if computed.get("order_count", 0) > 0 and last_order is not None:
        r = recency_score(last_order, now, t)
        f = _rising_score(computed.get("order_count", 0), t.frequency_orders)
        m = _rising_score(computed.get("ltv", computed.get("revenue", 0.0)), t.monetary)
        out.update(rfm_recency=r, rfm_frequency=f, rfm_monetary=m, rfm_group=rfm_group(r, f, m, t))
    return out


def next_change(computed: dict, now: dt.datetime, t: Thresholds) -> dt.datetime | None:
    """The earliest moment after `now` at which `standing` gives another answer with no new event."""
    moments = []
    last_active = computed.get("last_active_at")
    if last_active is not None:
        for days in (t.silent_days, t.churned_days):
            moments.append(last_active + dt.timedelta(days=days))
    last_order = computed.get("last_order_at")
    if computed.get("order_count", 0) > 0 and last_order is not None:
        moments += [last_order + dt.timedelta(days=days) for days in t.recency_days]
    future = [m for m in moments if m > now]
    return min(future) if future else None

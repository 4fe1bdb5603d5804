"""Profile documents as API values (shared by gRPC and GraphQL)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass
class ComputedView:
    order_count: int = 0
    revenue: float = 0.0
    average_order_value: float = 0.0
    first_order_at: dt.datetime | None = None
    last_order_at: dt.datetime | None = None
    last_active_at: dt.datetime | None = None
    event_count: int = 0
    refund_count: int = 0
    refunded_amount: float = 0.0
    categories: list[str] = field(default_factory=list)
    acquisition_channel: str | None = None
    rfm_recency: int | None = None
    rfm_frequency: int | None = None
    rfm_monetary: int | None = None
    rfm_group: str | None = None
    lifecycle_stage: str | None = None
    ltv: float = 0.0
    first_seen_at: dt.datetime | None = None
    coupon_order_count: int = 0

    @classmethod
    def of(cls, profile: dict | None) -> "ComputedView":
        computed = (profile or {}).get("computed") or {}
        return cls(**{k: v for k, v in computed.items() if k in cls.__dataclass_fields__ and v is not None})


@dataclass
class TagView:
    name: str
    value: str
    source: str
    confidence: float
    assigned_at: dt.datetime
    expires_at: dt.datetime | None

    @classmethod
    def all_of(cls, profile: dict | None) -> list["TagView"]:
        tags = (profile or {}).get("tags") or {}
        return [
            cls(
                name=name,
                value=t["value"],
                source=t["source"],
                confidence=t["confidence"],
                assigned_at=t["assigned_at"],
                expires_at=t.get("expires_at"),
            )
            for name, t in sorted(tags.items())
        ]

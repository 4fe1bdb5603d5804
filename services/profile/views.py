"""Profile documents as API values (shared by gRPC and GraphQL)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass
class ComputedView:
    order_count: int = 0
    revenue: float = 0.0
    average_order_value: float = 0.0
    first_order_at: dt.datetime | None = None
    last_order_at: dt.datetime | None = None
    last_active_at: dt.datetime | None = None
    event_count: int = 0

    @classmethod
    def of(cls, profile: dict | None) -> "ComputedView":
        computed = (profile or {}).get("computed") or {}
        return cls(**{k: v for k, v in computed.items() if k in cls.__dataclass_fields__ and v is not None})

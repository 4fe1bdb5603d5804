"""How events and trait writes change a profile: pure functions, no I/O.

A profile document is {traits: {...}, computed: {...}}. Each function returns
the `$set`/`$unset` paths to write and the list of (path, before, after)
changes to announce on profile.changed, so the store and the announcement can
never disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

ORDER_COMPLETED = "Order Completed"
_MISSING = object()


@dataclass
class Update:
    set: dict[str, Any] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)

    def put(self, path: str, before: Any, after: Any) -> None:
        if before == after:
            return
        self.set[path] = after
        self.changes.append((path, before, after))

    def drop(self, path: str, before: Any) -> None:
        if before is _MISSING or before is None:
            return
        self.unset.append(path)
        self.changes.append((path, before, None))


def order_revenue(properties: dict[str, Any]) -> float:
    """Segment e-commerce spec: `revenue`, else `total`; strings of digits accepted."""
    for key in ("revenue", "total"):
        value = properties.get(key)
        if isinstance(value, bool) or value is None:
            continue
        try:
            return round(float(value), 2)
        except (TypeError, ValueError):
            continue
    return 0.0


def apply_traits(
    profile: dict,
    set_: dict[str, Any] | None = None,
    set_once: dict[str, Any] | None = None,
    unset: list[str] | None = None,
    update: Update | None = None,
) -> Update:
    update = update or Update()
    traits = profile.get("traits") or {}
    for key, value in (set_ or {}).items():
        update.put(f"traits.{key}", traits.get(key), value)
    for key, value in (set_once or {}).items():
        if key not in traits:
            update.put(f"traits.{key}", None, value)
    for key in unset or []:
        update.drop(f"traits.{key}", traits.get(key, _MISSING))
    return update


def apply_event(profile: dict, event: dict) -> Update:
    """Apply one resolved event: identify traits, activity and order counters."""
    update = Update()
    computed = profile.get("computed") or {}
    at: dt.datetime = event["timestamp"]

    if event["type"] == "identify":
        apply_traits(profile, set_=event.get("traits") or {}, update=update)

    update.put("computed.event_count", computed.get("event_count", 0), computed.get("event_count", 0) + 1)
    last_active = computed.get("last_active_at")
    if last_active is None or at > last_active:
        update.put("computed.last_active_at", last_active, at)

    if event["type"] == "track" and event.get("event") == ORDER_COMPLETED:
        count = computed.get("order_count", 0) + 1
        revenue = round(computed.get("revenue", 0.0) + order_revenue(event.get("properties") or {}), 2)
        update.put("computed.order_count", computed.get("order_count", 0), count)
        update.put("computed.revenue", computed.get("revenue", 0.0), revenue)
        update.put("computed.average_order_value", computed.get("average_order_value"), round(revenue / count, 2))
        first, last = computed.get("first_order_at"), computed.get("last_order_at")
        if first is None or at < first:
            update.put("computed.first_order_at", first, at)
        if last is None or at > last:
            update.put("computed.last_order_at", last, at)
    return update

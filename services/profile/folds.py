"""How each computed trait follows from events: one function per catalog entry (pure, no I/O).

The catalog (proto/cdp/profile/v1/computed_traits.yaml) says which traits
exist and how a merge combines them; this module says how they move:
- `@event(name)`: fn(before, event) -> the new value, or KEEP. `before` is the
  computed section as it was before this event, so the functions do not
  depend on each other's order.
- `@derived(name)`: fn(computed, order_history) -> the value (None: absent), from
  the other traits and the per-category order history (reorder.py) after the
  event folds or a merge combined them.
Standing traits (RFM, lifecycle) move with time and live in standing.py.
tests/test_vocabulary.py checks that every catalog entry has its function here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from services.kit.ecommerce import ORDER_COMPLETED, ORDER_REFUNDED, acquisition_channel, order_revenue
from services.profile import reorder

MAX_CATEGORIES = 200
KEEP = object()


class Seen:
    """One resolved event, as the folds read it."""

    __slots__ = ("raw", "at", "properties", "is_order", "is_refund")

    def __init__(self, event: dict) -> None:
        self.raw = event
        self.at: dt.datetime = event["timestamp"]
        self.properties: dict[str, Any] = event.get("properties") or {}
        track = event["type"] == "track"
        self.is_order = track and event.get("event") == ORDER_COMPLETED
        self.is_refund = track and event.get("event") == ORDER_REFUNDED


Fold = Callable[[dict, Seen], Any]
EVENT_FOLDS: dict[str, Fold] = {}
Derive = Callable[[dict, reorder.History], Any]
DERIVED: dict[str, Derive] = {}


def event(name: str) -> Callable[[Fold], Fold]:
    def register(fn: Fold) -> Fold:
        EVENT_FOLDS[name] = fn
        return fn

    return register


def derived(name: str) -> Callable[[Derive], Derive]:
    def register(fn):
        DERIVED[name] = fn
        return fn

    return register


# -- reading an event (Segment e-commerce spec; revenue and channel in services/kit/ecommerce.py) --
def order_categories(properties: dict[str, Any]) -> set[str]:
    """Categories of an order: products[].category and a top-level category (Segment e-commerce spec)."""
    out = set()
    products = properties.get("products")
    for product in products if isinstance(products, list) else []:
        if isinstance(product, dict) and isinstance(product.get("category"), str):
            out.add(product["category"].strip()[:128])
    if isinstance(properties.get("category"), str):
        out.add(properties["category"].strip()[:128])
    out.discard("")
    return out


def _earlier(before: dict, name: str, at: dt.datetime) -> bool:
    return before.get(name) is None or at < before[name]


def _later(before: dict, name: str, at: dt.datetime) -> bool:
    return before.get(name) is None or at > before[name]


# -- the event folds -----------------------------------------------------------------
@event("event_count")
def _event_count(before: dict, e: Seen):
    return before.get("event_count", 0) + 1


@event("last_active_at")
def _last_active_at(before: dict, e: Seen):
    return e.at if _later(before, "last_active_at", e.at) else KEEP


@event("first_seen_at")
def _first_seen_at(before: dict, e: Seen):
    return e.at if _earlier(before, "first_seen_at", e.at) else KEEP


@event("acquisition_channel")
def _acquisition_channel(before: dict, e: Seen):
    # First touch: the channel of the earliest event (a tie keeps the one applied first).
    return acquisition_channel(e.raw) if _earlier(before, "first_seen_at", e.at) else KEEP


@event("order_count")
def _order_count(before: dict, e: Seen):
    return before.get("order_count", 0) + 1 if e.is_order else KEEP


@event("revenue")
def _revenue(before: dict, e: Seen):
    return round(before.get("revenue", 0.0) + order_revenue(e.properties), 2) if e.is_order else KEEP


@event("first_order_at")
def _first_order_at(before: dict, e: Seen):
    return e.at if e.is_order and _earlier(before, "first_order_at", e.at) else KEEP


@event("last_order_at")
def _last_order_at(before: dict, e: Seen):
    return e.at if e.is_order and _later(before, "last_order_at", e.at) else KEEP


@event("categories")
def _categories(before: dict, e: Seen):
    if not e.is_order:
        return KEEP
    merged = sorted(set(before.get("categories") or []) | order_categories(e.properties))[:MAX_CATEGORIES]
    return merged or KEEP


@event("coupon_order_count")
def _coupon_order_count(before: dict, e: Seen):
    return before.get("coupon_order_count", 0) + 1 if e.is_order and e.properties.get("coupon") else KEEP


@event("refund_count")
def _refund_count(before: dict, e: Seen):
    return before.get("refund_count", 0) + 1 if e.is_refund else KEEP


@event("refunded_amount")
def _refunded_amount(before: dict, e: Seen):
    return round(before.get("refunded_amount", 0.0) + order_revenue(e.properties), 2) if e.is_refund else KEEP


# -- derived from the others -----------------------------------------------------------
@derived("average_order_value")
def _average_order_value(c: dict, _history: reorder.History):
    return round(c.get("revenue", 0.0) / c["order_count"], 2) if c.get("order_count") else None


@derived("ltv")
def _ltv(c: dict, _history: reorder.History):
    if not (c.get("order_count") or c.get("refund_count")):
        return None
    return round(c.get("revenue", 0.0) - c.get("refunded_amount", 0.0), 2)


# The three describe one forecast: the category expected to be ordered next, its usual interval, and when.
@derived("reorder_interval_days")
def _reorder_interval_days(c: dict, history: reorder.History):
    return f.interval_days if (f := reorder.forecast(history)) else None


@derived("next_order_at")
def _next_order_at(c: dict, history: reorder.History):
    return f.next_at if (f := reorder.forecast(history)) else None


@derived("next_order_category")
def _next_order_category(c: dict, history: reorder.History):
    return f.category if (f := reorder.forecast(history)) else None

"""How an event of the Segment e-commerce spec is read: declared once, for profile's computed
traits (folds.py) and analytics' models alike, so a person's revenue and channel mean the same in both."""

from __future__ import annotations

from typing import Any

ORDER_COMPLETED = "Order Completed"
ORDER_REFUNDED = "Order Refunded"
# An order's amount: the first of these properties that holds a number (digits in a string count).
REVENUE_KEYS = ("revenue", "total")
DIRECT = "direct"


def order_revenue(properties: dict[str, Any]) -> float:
    """Segment e-commerce spec: `revenue`, else `total`; strings of digits accepted."""
    for key in REVENUE_KEYS:
        value = properties.get(key)
        if isinstance(value, bool) or value is None:
            continue
        try:
            return round(float(value), 2)
        except (TypeError, ValueError):
            continue
    return 0.0


def acquisition_channel(event: dict) -> str:
    """Where the person came from: the utm source of the event (Segment puts it in context.campaign)."""
    campaign = (event.get("context") or {}).get("campaign") or {}
    for value in (campaign.get("source"), (event.get("properties") or {}).get("utm_source")):
        if isinstance(value, str) and value.strip():
            return value.strip()[:128]
    return DIRECT

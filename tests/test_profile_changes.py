"""Pure profile logic: trait semantics and computed order traits."""

from __future__ import annotations

import datetime as dt

from services.profile.changes import apply_event, apply_traits
from services.profile.folds import order_revenue

T0 = dt.datetime(2026, 6, 18, 10, tzinfo=dt.UTC)


def event(kind="track", name="Order Completed", at=T0, **fields):
    return {"type": kind, "event": name, "timestamp": at, **fields}


def test_set_set_once_and_unset():
    profile = {"traits": {"name": "Li", "city": "上海", "vip": True}}
    update = apply_traits(
        profile, set_={"name": "Li Na", "city": "上海"}, set_once={"vip": False, "gender": "f"}, unset=["vip", "absent"]
    )
    assert update.set == {"traits.name": "Li Na", "traits.gender": "f"}
    assert update.unset == ["traits.vip"]
    assert ("traits.name", "Li", "Li Na") in update.changes
    assert ("traits.vip", True, None) in update.changes
    # Unchanged values and unsetting what is absent announce nothing.
    assert all(path not in ("traits.city", "traits.absent") for path, _, _ in update.changes)


def test_orders_count_revenue_average_and_first_last():
    profile: dict = {}
    for at, props in [
        (T0, {"revenue": 100}),
        (T0 - dt.timedelta(days=2), {"total": "50.5"}),
        (T0 + dt.timedelta(days=1), {}),
    ]:
        update = apply_event(profile, event(at=at, properties=props))
        for path, value in update.set.items():
            section, key = path.split(".")
            profile.setdefault(section, {})[key] = value
    computed = profile["computed"]
    assert computed["order_count"] == 3
    assert computed["revenue"] == 150.5
    assert computed["average_order_value"] == round(150.5 / 3, 2)
    assert computed["first_order_at"] == T0 - dt.timedelta(days=2)
    assert computed["last_order_at"] == T0 + dt.timedelta(days=1)
    assert computed["event_count"] == 3


def test_identify_sets_traits_and_other_events_do_not_count_orders():
    update = apply_event({}, event(kind="identify", name="", traits={"gender": "female"}))
    assert update.set["traits.gender"] == "female"
    assert "computed.order_count" not in update.set
    update = apply_event({}, event(name="Product Viewed", properties={"revenue": 10}))
    assert "computed.order_count" not in update.set and update.set["computed.event_count"] == 1


def test_order_revenue_reads_revenue_then_total_and_ignores_junk():
    assert order_revenue({"revenue": 12.345}) == 12.35
    assert order_revenue({"total": "99"}) == 99.0
    assert order_revenue({"revenue": "lots", "total": 5}) == 5.0
    assert order_revenue({"revenue": True}) == 0.0

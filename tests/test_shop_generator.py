"""The demo shop generator: deterministic, the asked size, and the behaviour segments and journeys need."""

from __future__ import annotations

import collections
import datetime as dt
import json

from services.identity import tracking
from tools import shop

NOW = dt.datetime(2026, 6, 18, tzinfo=dt.UTC)


def test_same_seed_same_events_and_another_seed_differs():
    one = shop.events(300, 1500, seed=7, prefix="t", now=NOW)
    assert json.dumps(one) == json.dumps(shop.events(300, 1500, seed=7, prefix="t", now=NOW))
    assert json.dumps(one) != json.dumps(shop.events(300, 1500, seed=8, prefix="t", now=NOW))


def test_size_ids_and_time_window():
    events = shop.events(500, 2500, seed=1, prefix="t", now=NOW)
    assert len(events) == 2500
    assert len({e["messageId"] for e in events}) == 2500
    users = {e["userId"] for e in events if e["type"] == "identify"}
    assert len(users) == 500  # every shopper says who they are
    times = [dt.datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in events]
    assert min(times) >= NOW - dt.timedelta(days=shop.DAYS) and max(times) < NOW
    # Each shopper's history is in time order.
    by_device: dict[str, list] = collections.defaultdict(list)
    for e, at in zip(events, times, strict=True):
        by_device[e["messageId"].rsplit("-", 1)[0]].append(at)  # t-u00012-3: shopper u00012
    assert all(ts == sorted(ts) for ts in by_device.values())


def test_the_behaviour_a_shop_has():
    events = shop.events(2000, 10000, seed=3, prefix="t", now=NOW)
    kinds = collections.Counter(e.get("event") or e["type"] for e in events)
    for kind in (
        "identify",
        "page",
        "screen",
        "Product Viewed",
        "Product Added",
        "Checkout Started",
        "Order Completed",
        "Order Refunded",
    ):
        assert kinds[kind] > 0, kind
    orders = [e for e in events if e.get("event") == "Order Completed"]
    assert any("coupon" in e["properties"] for e in orders)
    assert all(e["properties"]["products"] and e["properties"]["revenue"] > 0 for e in orders)
    assert {e["context"]["channel"] for e in events} == {"app", "web", "mini_program"}
    assert {e["context"]["campaign"]["source"] for e in events if "campaign" in e["context"]} >= {"douyin", "wechat"}
    assert any("wechat_openid" in e.get("traits", {}) for e in events)
    # Stitched: one user id seen with two devices.
    devices = collections.defaultdict(set)
    for e in events:
        if e.get("userId"):
            devices[e["userId"]].add(e["anonymousId"])
    assert sum(1 for d in devices.values() if len(d) > 1) > 50


def test_every_event_passes_the_collection_api_checks():
    events = shop.events(200, 1000, seed=5, prefix="t", now=NOW)
    for i in range(0, len(events), 100):
        parsed = tracking.parse_batch({"batch": events[i : i + 100]}, NOW, "ws")
        assert len(parsed) == 100

"""Lifetime value by acquisition channel on a known dataset: the channel of the first event (from
context.campaign or a utm_source property, "direct" without), orders by revenue else total, refunds
subtracted, each horizon over the persons old enough for it, merges and other workspaces applied."""

from __future__ import annotations

import datetime as dt

import pytest
import pytest_asyncio

from services.kit.clock import FixedClock
from services.kit.errors import InvalidInput
from tests.analytics_support import loaded, track

pytestmark = pytest.mark.asyncio(loop_scope="module")
RANGE = {"date_from": "2025-03-01", "date_to": "2025-03-07"}


def ev(ws, person, event, day, props=None, source=None):
    context = {"campaign": {"source": source, "medium": "cpc"}} if source else None
    return track(ws, person, event, dt.datetime.fromisoformat(day).replace(hour=10, tzinfo=dt.UTC), props, context)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def analytics(tmp_path_factory):
    events = [
        ev("a", "p1", "Product Viewed", "2025-03-01", source="baidu"),
        ev("a", "p1", "Order Completed", "2025-03-03", {"revenue": 100}),
        ev("a", "p1", "Order Completed", "2025-03-20", {"total": "50"}),  # day 19: in d30, not d7
        ev("a", "p1", "Order Refunded", "2025-03-25", {"total": 30}),
        ev("a", "p2", "Order Completed", "2025-03-02", {"revenue": 10, "utm_source": "baidu"}),
        ev("a", "p3", "Product Viewed", "2025-03-05"),  # direct, never bought
        ev("a", "p4", "Product Viewed", "2025-02-20", source="baidu"),  # acquired before the range
        ev("a", "p4", "Order Completed", "2025-03-03", {"revenue": 500}),
        ev("a", "p5", "Order Completed", "2025-03-06", {"revenue": 70}, source="wechat"),
        ev("a", "p6", "Product Viewed", "2025-02-27"),  # p6 is p5: p5 was acquired in February
        ev("a", "p7", "Order Completed", "2025-03-07", {"revenue": 40, "total": 999}, source="wechat"),
        ev("b", "q1", "Order Completed", "2025-03-02", {"revenue": 1000}, source="baidu"),
    ]
    analytics = await loaded(tmp_path_factory.mktemp("chdb-ltv"), events, [("a", "p5", "p6")],
                             dt.datetime(2025, 4, 10, tzinfo=dt.UTC))  # fmt: skip
    yield analytics
    analytics.engine.close()


def horizon(mature, net, per):
    return {"mature_persons": mature, "net_revenue": net, "per_person": per}


async def test_value_by_channel_at_each_horizon(analytics):
    assert await analytics.ltv("a", RANGE) == [
        {"channel": "baidu", "persons": 2, "d7": horizon(2, 110.0, 55.0), "d30": horizon(2, 130.0, 65.0),
         "d90": horizon(0, 0.0, None)},
        {"channel": "direct", "persons": 1, "d7": horizon(1, 0.0, 0.0), "d30": horizon(1, 0.0, 0.0),
         "d90": horizon(0, 0.0, None)},
        {"channel": "wechat", "persons": 1, "d7": horizon(1, 40.0, 40.0), "d30": horizon(1, 40.0, 40.0),
         "d90": horizon(0, 0.0, None)},
    ]  # fmt: skip


async def test_only_persons_old_enough_count_for_a_horizon(analytics):
    clock = analytics.clock
    analytics.clock = FixedClock(dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC))
    try:
        rows = {r["channel"]: r for r in await analytics.ltv("a", RANGE)}
    finally:
        analytics.clock = clock
    # Acquired on the 1st and 2nd: seven days have passed; on the 5th and 7th: not yet.
    assert rows["baidu"]["d7"] == horizon(2, 110.0, 55.0)
    assert rows["direct"]["d7"] == horizon(0, 0.0, None) and rows["wechat"]["d7"] == horizon(0, 0.0, None)


async def test_bad_input_names_the_field(analytics):
    with pytest.raises(InvalidInput) as refused:
        await analytics.ltv("a", {**RANGE, "limit": 0})
    assert refused.value.field == "limit"

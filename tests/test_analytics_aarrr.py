"""The AARRR overview on a known dataset: each figure of the range and of the period before it,
with a merge that moves a person's first event into the earlier period, a refund, a revenue sent
as text, an activation after the range (not seen) and another workspace (not counted)."""

from __future__ import annotations

import datetime as dt

import pytest
import pytest_asyncio

from services.kit.errors import InvalidInput
from tests.analytics_support import loaded, track

pytestmark = pytest.mark.asyncio(loop_scope="module")


def ev(ws: str, person: str, event: str, day: str, props: dict | None = None, hour: int = 10):
    return track(ws, person, event, dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC), props)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def analytics(tmp_path_factory):
    events = [
        ev("a", "p1", "Product Viewed", "2025-02-25"),
        ev("a", "p1", "Order Completed", "2025-03-03", {"revenue": 100}),
        ev("a", "p1", "Order Completed", "2025-03-09", {"revenue": 50}),
        ev("a", "p1", "Order Refunded", "2025-03-10", {"total": 20}),
        ev("a", "p1", "Product Shared", "2025-03-11"),
        ev("a", "p1", "Product Shared", "2025-03-11", hour=11),
        ev("a", "p2", "Product Viewed", "2025-03-02"),
        ev("a", "p2", "Product Added", "2025-03-04"),
        ev("a", "p3", "Product Viewed", "2025-03-08"),
        ev("a", "p3", "Product Added", "2025-03-20"),  # after the range: not seen
        ev("a", "p4", "Product Added", "2025-03-09"),
        ev("a", "p4", "Order Completed", "2025-03-10", {"revenue": "30"}),
        ev("a", "p5", "Product Viewed", "2025-02-01"),
        ev("a", "p5", "Product Viewed", "2025-03-12"),
        ev("a", "p7", "Product Viewed", "2025-03-05"),
        ev("b", "p6", "Order Completed", "2025-03-10", {"revenue": 999}),
    ]
    # p7 is p4: p4's first event is now 2025-03-05, in the previous period.
    analytics = await loaded(tmp_path_factory.mktemp("chdb-aarrr"), events, [("a", "p4", "p7")],
                             dt.datetime(2025, 4, 1, tzinfo=dt.UTC))  # fmt: skip
    yield analytics
    analytics.engine.close()


async def test_each_figure_of_the_range_and_of_the_period_before(analytics):
    out = await analytics.aarrr("a", {"date_from": "2025-03-08", "date_to": "2025-03-14"})
    assert out["previous"] == {
        "date_from": "2025-03-01", "date_to": "2025-03-07",
        "new_persons": 2, "activated": 2, "activation_rate": 1.0,  # p2 in 2 days, p4 (first as p7) in 4
        "active_persons": 3, "retained": 1, "retention_rate": 1.0,  # p1 was active the week before too
        "orders": 1, "gmv": 100.0, "refunds": 0.0, "net_revenue": 100.0, "paying_persons": 1, "arppu": 100.0,
        "referrers": 0, "referrals": 0,
    }  # fmt: skip
    assert out["current"] == {
        "date_from": "2025-03-08", "date_to": "2025-03-14",
        "new_persons": 1, "activated": 0, "activation_rate": 0.0,  # p3 added to cart only after the range
        "active_persons": 4, "retained": 2, "retention_rate": 0.6667,  # p1 and p4 of the previous 3
        "orders": 2, "gmv": 80.0, "refunds": 20.0, "net_revenue": 60.0, "paying_persons": 2, "arppu": 40.0,
        "referrers": 1, "referrals": 2,
    }  # fmt: skip


async def test_a_shorter_activation_window_and_other_event_names(analytics):
    out = await analytics.aarrr(
        "a", {"date_from": "2025-03-01", "date_to": "2025-03-07", "activation_days": 3, "order_event": "Product Viewed"}
    )
    assert out["current"]["activated"] == 1  # p2 within 3 days; p4 took 4
    assert out["current"]["orders"] == 2 and out["current"]["gmv"] == 0.0  # p2 and p4 (as p7) viewed; no revenue


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"date_to": "2025-03-07"}, "dateFrom"),
        ({"date_from": "2025-03-01", "date_to": "2025-03-07", "activation_days": 0}, "activationDays"),
        ({"date_from": "2025-03-01", "date_to": "2025-03-07", "revenue_property": "a..b"}, "revenueProperty"),
        ({"date_from": "2025-03-01", "date_to": "2025-03-07", "timezone": "Mars/Base"}, "timezone"),
    ],
)
async def test_bad_input_names_the_field(analytics, doc, field):
    with pytest.raises(InvalidInput) as refused:
        await analytics.aarrr("a", doc)
    assert refused.value.field == field

"""A campaign's referral spread and returning buyers on a known dataset: shares within the window,
new persons only, the same-device guard, a second level, a launch's messages, and repurchases."""

from __future__ import annotations

import datetime as dt

import pytest
import pytest_asyncio

from services.kit.errors import InvalidInput
from tests.analytics_support import loaded, page, sent, track

pytestmark = pytest.mark.asyncio(loop_scope="module")


def at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


def ev(person, event, day, hour=10, props=None, device=None):
    return track("a", person, event, at(day, hour), props, {"device": {"id": device}} if device else None)


def share(person, sid, day, hour=10, device=None):
    return ev(person, "Product Shared", day, hour, {"share_id": sid}, device)


def arrive(person, sid, day, hour=12, device=None):
    return ev(person, "Page Viewed", day, hour, {"share_id": sid}, device)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def analytics(tmp_path_factory):
    events = [
        ev("r1", "Order Completed", "2025-02-20", props={"revenue": 50}),
        ev("r1", "Order Completed", "2025-03-04", props={"revenue": 80}),  # back 12 days after the last order
        ev("r2", "Order Completed", "2025-02-25", props={"total": 30}),
        ev("r2", "Order Completed", "2025-03-20", props={"total": 30}),  # after the window
        ev("r3", "Order Completed", "2025-03-02", props={"revenue": 5}),  # a first order: not a returning buyer
        share("r1", "s1", "2025-03-02"),
        share("r1", "s2", "2025-03-20"),  # after r1's window: its arrivals do not count
        share("r2", "s3", "2025-03-03", device="d-r2"),
        arrive("n1", "s1", "2025-03-02", device="d-n1"),
        arrive("n2", "s1", "2025-03-04"),
        ev("e1", "Page Viewed", "2025-01-10"),
        arrive("e1", "s3", "2025-03-03"),  # was there before
        arrive("n3", "s3", "2025-03-03", device="d-r2"),  # r2's own device
        arrive("n4", "s2", "2025-03-21"),
        share("n1", "s4", "2025-03-05"),
        arrive("n5", "s4", "2025-03-06"),
        track("b", "x1", "Product Shared", at("2025-03-02"), {"share_id": "s1"}),  # another workspace
        page("a", "r1", "Home", at("2025-03-02", 9)),  # visited
        page("a", "r2", "Home", at("2025-02-27")),  # before the message: not a response
        page("a", "r4", "Home", at("2025-03-02")),  # r4's message failed: not a recipient
        ev("r2", "Signed Up", "2025-03-01", hour=12),  # joined
    ]
    statuses = [
        sent("a", "r1", "c1", at("2025-03-01")),
        sent("a", "r2", "c1", at("2025-03-01")),
        sent("a", "r3", "c1@2025-03-01", at("2025-03-01")),  # a launch of the campaign
        sent("a", "r4", "c1", at("2025-03-01"), status="failed"),
        sent("a", "r5", "c2", at("2025-03-01")),
    ]
    analytics = await loaded(tmp_path_factory.mktemp("chdb-spread"), events, [], at("2025-04-01"), statuses)
    yield analytics
    analytics.engine.close()


async def test_referral_levels_new_persons_only_and_the_same_device_guard(analytics):
    out = await analytics.campaign_spread("a", {"campaign_id": "c1"})
    assert out["referral"] == {
        "recipients": 3, "sharers": 2, "shares": 2, "invited": 2, "k_factor": 0.6667, "invited_all_levels": 3,
        "depth": 2,
        "levels": [{"level": 1, "sharers": 2, "shares": 2, "invited": 2},  # r1 and r2; n1 and n2
                   {"level": 2, "sharers": 1, "shares": 1, "invited": 1}],  # n1; n5
        "existing": 1, "same_device": 1,  # e1; n3
    }  # fmt: skip


async def test_returning_buyers_of_the_campaign(analytics):
    out = await analytics.campaign_spread("a", {"campaign_id": "c1"})
    assert out["returning"] == {
        "buyers_before": 2, "returned": 1, "orders": 1, "gmv": 80.0, "aov": 80.0, "repurchase_days": 12.0,
    }  # fmt: skip


async def test_the_response_funnel_counts_visits_joins_and_orders_after_the_message(analytics):
    out = await analytics.campaign_funnel("a", {"campaign_id": "c1"})
    assert (out["visited"], out["joined"], out["converted_persons"], out["conversions"]) == (1, 1, 1, 1)
    assert out["revenue"] == 80.0  # r1's order in the window (r3's launch messages are under another id here)


async def test_a_one_level_walk_and_an_unknown_campaign(analytics):
    out = await analytics.campaign_spread("a", {"campaign_id": "c1", "max_depth": 1})
    assert out["referral"]["invited_all_levels"] == 2 and out["referral"]["depth"] == 1
    none = await analytics.campaign_spread("a", {"campaign_id": "nobody"})
    assert none["referral"]["recipients"] == 0 and none["referral"]["levels"] == []
    assert none["returning"]["buyers_before"] == 0 and none["returning"]["repurchase_days"] is None


@pytest.mark.parametrize(
    ("doc", "field"),
    [({}, "campaignId"), ({"campaign_id": "c1", "window_days": 0}, "windowDays"),
     ({"campaign_id": "c1", "share_property": "a..b"}, "shareProperty")],
)  # fmt: skip
async def test_bad_input_names_the_field(analytics, doc, field):
    with pytest.raises(InvalidInput) as refused:
        await analytics.campaign_spread("a", doc)
    assert refused.value.field == field

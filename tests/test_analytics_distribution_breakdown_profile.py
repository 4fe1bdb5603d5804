"""Distribution and interval by what profile computes, on the chDB engine and data of
tests/test_analytics_breakdown_profile.py: a person's value is their latest computed trait or tag
(top N, the rest "$other"), persons without one under ''."""

from __future__ import annotations

import pytest

from tests.test_analytics_breakdown_profile import RANGE, analytics  # noqa: F401 (the module fixture)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_distribution_breaks_down_by_a_computed_trait(analytics):  # noqa: F811
    doc = {"event": "View", "max_times": 2, "breakdown": {"computed": "order_count", "limit": 2}, **RANGE}
    got = await analytics.distribution("w", doc)
    # Views: p1 2 and p2 1 ("2"), p5 1 (''), p3 4 ("1") and p4 1 ("5") past the limit.
    assert [(b["breakdown_value"], b["persons"], [k["persons"] for k in b["buckets"]]) for b in got["breakdowns"]] == [
        ("2", 2, [1, 1]),
        ("", 1, [1, 0]),
        ("$other", 2, [1, 1]),
    ]
    assert [k["persons"] for k in got["buckets"]] == [3, 2]


async def test_an_interval_breaks_down_by_a_tag(analytics):  # noqa: F811
    doc = {"from_event": "View", "to_event": "Order", "breakdown": {"tag": "vip"}, **RANGE}
    got = await analytics.interval("w", doc)
    # Everyone first views at minute 1; p1, p3 and p4 order at minute 30.
    assert [(b["breakdown_value"], b["persons"], b["converted"], b["avg_seconds"]) for b in got["breakdowns"]] == [
        ("", 2, 1, 1740.0),  # p3 (tag removed, ordered), p5 (never tagged)
        ("true", 2, 1, 1740.0),  # p1 (ordered), p2
        ("gold", 1, 1, 1740.0),  # p4
    ]

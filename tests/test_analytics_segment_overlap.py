"""A person in two of the listed segments counts in both groups of a breakdown by segments
(common.Breakdown: "each person counts in every listed segment they are in"): trends, retention and
funnels on the same two-event log, the members written into segment_members as
segment_members.SegmentMembers.load writes them."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest

from services.analytics import sql
from services.analytics.engine import ChdbDriver, Engine
from services.analytics.models import funnels, retention, trends
from services.analytics.store import AnalyticsStore

AT = dt.datetime(2025, 6, 1, 10, tzinfo=dt.UTC)
DAY = {"date_from": "2025-06-01", "date_to": "2025-06-01"}
BY_SEGMENTS = {"segments": ["seg_one", "seg_two"]}
MEMBERS = "SELECT person_id AS person, segment FROM cdp.segment_members WHERE query = 'q' AND workspace = 'w'"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = Engine(ChdbDriver(tmp_path_factory.mktemp("overlap")))
    store = AnalyticsStore(engine)

    async def load():
        await store.create_tables()
        # p does A then B; q does A only. p is in both segments, q in "two" only.
        events = [("p", "A", 0), ("p", "B", 1), ("q", "A", 2)]
        await store.insert("events", [
            {"workspace": "w", "message_id": f"m{i}", "person_id": who, "type": "track", "event": ev, "name": "",
             "ts": sql.stamp(AT + dt.timedelta(minutes=m)), "properties": "{}", "products": [], "version": 1}
            for i, (who, ev, m) in enumerate(events)
        ])  # fmt: skip
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
        members = [("one", "p"), ("two", "p"), ("two", "q")]
        await store.insert("segment_members", [
            {"workspace": "w", "query": "q", "segment": g, "person_id": who, "at": now} for g, who in members
        ])  # fmt: skip

    asyncio.run(load())
    yield engine
    engine.close()


def loaded(query):
    return dataclasses.replace(query, breakdown=dataclasses.replace(query.breakdown, members=MEMBERS))


def test_trends_count_a_person_in_each_of_their_segments(engine):
    q = loaded(trends.parse({"series": [{"event": "A", "math": "persons"}], "breakdown": BY_SEGMENTS, **DAY}))
    out = asyncio.run(trends.run(engine, "cdp", "w", q))
    assert sorted((s["breakdown_value"], s["values"]) for s in out["series"]) == [("one", [1]), ("two", [2])]


def test_retention_counts_a_person_in_each_of_their_segments(engine):
    q = loaded(retention.parse({"start_event": "A", "return_event": "B", "periods": 1, "breakdown": BY_SEGMENTS,
                                **DAY}))  # fmt: skip
    out = asyncio.run(retention.run(engine, "cdp", "w", q))
    assert [(r["breakdown_value"], r["size"], r["counts"]) for r in out["rows"]] == [("one", 1, [1]), ("two", 2, [1])]


def test_a_funnel_counts_a_person_in_each_of_their_segments(engine):
    q = loaded(funnels.parse({"steps": [{"event": "A"}, {"event": "B"}], "breakdown": BY_SEGMENTS, **DAY}))
    out = asyncio.run(funnels.run(engine, "cdp", "w", q, AT + dt.timedelta(days=30)))
    assert [(r["breakdown_value"], r["entered"], [s["count"] for s in r["steps"]]) for r in out["results"]] == [
        ("two", 2, [2, 1]),
        ("one", 1, [1, 1]),
    ]

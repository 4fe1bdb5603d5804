"""Lifecycle and stickiness against a pure-Python oracle, on the generated logs of
test_analytics_oracle (persons, minutes across the Berlin DST change, redeliveries, merges); and broken
down by an event property with a small limit (so "$other" shows) on oracle_log's logs, in its zones.
The oracle is tests/lifecycle_oracle.py."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.analytics import sql
from services.analytics.analysis import Analytics
from services.analytics.models import lifecycle as model
from services.kit.clock import FixedClock
from tests import lifecycle_oracle, oracle_log
from tests.test_analytics_oracle import (  # noqa: F401 (the module fixture)
    BASE,
    DAYS,
    RANGE,
    _counter,
    current,
    load,
    local_day,
    log_st,
    merges_st,
    runner,
)


def oracle(log, mapping):
    events = [(current(mapping, p), e, BASE + dt.timedelta(minutes=m), "") for p, e, m in log]
    lifecycle = lifecycle_oracle.lifecycle(events, DAYS[0], DAYS[3], RANGE["timezone"])
    sticky = lifecycle_oracle.stickiness(events, DAYS[0], DAYS[3], RANGE["timezone"])
    return {s: lifecycle[s] for s in lifecycle_oracle.STATUSES}, sticky["persons"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log=log_st, duplicates=st.lists(st.integers(0, 29), max_size=5), merges=merges_st)
def test_lifecycle_and_stickiness_equal_the_oracle(runner, log, duplicates, merges):  # noqa: F811
    store, loop = runner
    ws = f"lc{next(_counter)}"
    mapping = loop.run_until_complete(load(store, ws, log, duplicates, merges))
    analytics = Analytics(store, FixedClock(BASE + dt.timedelta(days=30)), None)
    query = {"event": "A", "interval": "day", **RANGE}
    lifecycle = loop.run_until_complete(analytics.lifecycle(ws, query))
    sticky = loop.run_until_complete(analytics.stickiness(ws, query))
    expected, expected_sticky = oracle(log, mapping)
    assert lifecycle["buckets"] == [d.isoformat() for d in DAYS[:4]]
    assert {k: lifecycle[k] for k in expected} == expected
    assert sticky["persons"] == expected_sticky


# 7: a number's digits are its text; {}: no plan, the value ''.
plan_st = st.sampled_from([{"plan": "free"}, {"plan": "pro"}, {"plan": "team"}, {"plan": 7}, {}])
event_st = st.builds(
    oracle_log.Event,
    st.sampled_from(oracle_log.PERSONS),
    st.sampled_from(["A", "A", "B"]),
    oracle_log.minute_st,
    st.just(""),
    plan_st,
)


def _text(properties: dict) -> str:
    value = properties.get("plan", "")
    return value if isinstance(value, str) else str(value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    log=st.lists(event_st, min_size=6, max_size=40),
    duplicates=oracle_log.duplicates_st,
    merges=oracle_log.merges_st,
    timezone=st.sampled_from(oracle_log.ZONES),
    limit=st.integers(1, 2),
)
def test_lifecycle_and_stickiness_by_property_equal_the_oracle(runner, log, duplicates, merges, timezone, limit):  # noqa: F811
    store, loop = runner
    ws = oracle_log.workspace("lcb")
    mapping = loop.run_until_complete(oracle_log.load(store, ws, log, duplicates, merges))
    analytics = Analytics(store, FixedClock(oracle_log.NOW), None)
    query = {
        "event": "A",
        "interval": "day",
        "breakdown": {"property": "plan", "limit": limit},
        **oracle_log.range_doc(timezone),
    }
    lifecycle = loop.run_until_complete(analytics.lifecycle(ws, query))
    sticky = loop.run_until_complete(analytics.stickiness(ws, query))
    events = [(oracle_log.current(mapping, e.person), e.event, e.at, _text(e.properties)) for e in log]
    dates = (oracle_log.DATE_FROM, oracle_log.DATE_TO, timezone)
    # (--hypothesis-show-statistics tells how many examples fold values into $other.)
    event(f"$other shown: {any(g['breakdown_value'] == '$other' for g in lifecycle['breakdowns'])}")
    assert lifecycle == lifecycle_oracle.lifecycle(events, *dates, limit)
    assert sticky == lifecycle_oracle.stickiness(events, *dates, limit)
    # The groups add up to the figures over every person (each person has one value).
    for status in lifecycle_oracle.STATUSES:
        sums = [sum(col) for col in zip(*(g[status] for g in lifecycle["breakdowns"]), strict=True)]
        assert sums == lifecycle[status] or not lifecycle["breakdowns"]
    sums = [sum(col) for col in zip(*(g["persons"] for g in sticky["breakdowns"]), strict=True)]
    assert sums == sticky["persons"] or not sticky["breakdowns"]


SEGMENTS = ("vip", "wechat fans")
members_st = st.fixed_dictionaries({s: st.sets(st.sampled_from(oracle_log.PERSONS), min_size=2) for s in SEGMENTS})


def _with_members(query: model.LifecycleQuery, db: str, ws: str) -> model.LifecycleQuery:
    """The query as Analytics._with_members hands it on: members read from segment_members (as
    segment_members.SegmentMembers.load writes them, under the request's label, here the workspace)."""
    members = (
        f"SELECT person_id AS person, segment FROM {db}.segment_members "
        f"WHERE query = {sql.string(ws)} AND workspace = {sql.string(ws)}"
    )
    return dataclasses.replace(query, breakdown=dataclasses.replace(query.breakdown, members=members))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    log=st.lists(event_st, min_size=4, max_size=40),
    duplicates=oracle_log.duplicates_st,
    merges=oracle_log.merges_st,
    members=members_st,
    timezone=st.sampled_from(oracle_log.ZONES),
)
def test_lifecycle_and_stickiness_by_segment_equal_the_oracle(runner, log, duplicates, merges, members, timezone):  # noqa: F811
    """A person in both segments counts in both groups, one in neither in no group."""
    store, loop = runner
    ws = oracle_log.workspace("lcs")
    mapping = loop.run_until_complete(oracle_log.load(store, ws, log, duplicates, merges))
    # As SegmentMembers.load stamps them: now (the table's TTL drops rows an hour old, at insert already).
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    rows = [{"workspace": ws, "query": ws, "segment": s, "person_id": p, "at": now}
            for s, who in members.items() for p in sorted(who)]  # fmt: skip
    loop.run_until_complete(store.insert("segment_members", rows))
    doc = {"event": "A", "breakdown": {"segments": ["seg_vip", "seg_fans"]}, **oracle_log.range_doc(timezone)}
    query = _with_members(model.parse(doc), store.db, ws)
    lifecycle = loop.run_until_complete(model.run(store.engine, store.db, ws, query))
    sticky = loop.run_until_complete(model.run_stickiness(store.engine, store.db, ws, query))
    events = [(oracle_log.current(mapping, e.person), e.event, e.at, "") for e in log]
    dates = (oracle_log.DATE_FROM, oracle_log.DATE_TO, timezone, query.breakdown.limit)
    both = {p for p in members["vip"] & members["wechat fans"] if any(e[0] == p for e in events)}
    event(f"a person of the log in both segments: {bool(both)}")
    assert lifecycle == lifecycle_oracle.lifecycle(events, *dates, segments=members)
    assert sticky == lifecycle_oracle.stickiness(events, *dates, segments=members)

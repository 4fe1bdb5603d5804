"""Lifecycle and stickiness against a pure-Python oracle, on the generated logs of
test_analytics_oracle (persons, minutes across the Berlin DST change, redeliveries, merges); and broken
down by an event property with a small limit (so "$other" shows) on oracle_log's logs, in its zones.
The oracle is tests/lifecycle_oracle.py."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics.analysis import Analytics
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


PLANS = ["free", "pro", "team", 7]  # 7: a number's digits are its text
plan_st = st.one_of(st.just({}), st.sampled_from(PLANS).map(lambda v: {"plan": v}))
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
    log=st.lists(event_st, min_size=1, max_size=40),
    duplicates=oracle_log.duplicates_st,
    merges=oracle_log.merges_st,
    timezone=st.sampled_from(oracle_log.ZONES),
    limit=st.integers(1, 3),
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
    assert lifecycle == lifecycle_oracle.lifecycle(events, *dates, limit)
    assert sticky == lifecycle_oracle.stickiness(events, *dates, limit)
    # The groups add up to the figures over every person (each person has one value).
    for status in lifecycle_oracle.STATUSES:
        sums = [sum(col) for col in zip(*(g[status] for g in lifecycle["breakdowns"]), strict=True)]
        assert sums == lifecycle[status] or not lifecycle["breakdowns"]
    sums = [sum(col) for col in zip(*(g["persons"] for g in sticky["breakdowns"]), strict=True)]
    assert sums == sticky["persons"] or not sticky["breakdowns"]

"""Lifecycle and stickiness against a pure-Python oracle, on the generated logs of
test_analytics_oracle (persons, minutes across the Berlin DST change, redeliveries, merges)."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics.analysis import Analytics
from services.kit.clock import FixedClock
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
    events = [(current(mapping, p), e, BASE + dt.timedelta(minutes=m)) for p, e, m in log]
    active: dict[dt.date, set[str]] = {}
    first: dict[str, dt.date] = {}
    for p, e, at in events:
        if e == "A":
            day = local_day(at)
            active.setdefault(day, set()).add(p)
            first[p] = min(first.get(p, day), day)
    days = DAYS[:4]
    lifecycle = {"new": [], "returning": [], "resurrecting": [], "dormant": []}
    for d in days:
        now, before = active.get(d, set()), active.get(d - dt.timedelta(days=1), set())
        lifecycle["new"].append(sum(first[p] == d for p in now))
        lifecycle["returning"].append(sum(first[p] != d and p in before for p in now))
        lifecycle["resurrecting"].append(sum(first[p] != d and p not in before for p in now))
        lifecycle["dormant"].append(len(before - now))
    periods: dict[str, int] = {}
    for d in days:
        for p in active.get(d, set()):
            periods[p] = periods.get(p, 0) + 1
    sticky = [sum(n == k for n in periods.values()) for k in range(1, len(days) + 1)]
    return lifecycle, sticky


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

"""Event interval against the pure-Python oracle (tests/interval_oracle.py) on generated logs: a few
persons doing A, B and another event at minutes (and some at a quarter or half second past) around a range
in three time zones (one with the Berlin DST change), B up to the window after the range, redelivered
records and merges; the window drawn so that B exactly at its end happens."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics.analysis import Analytics
from services.kit.clock import FixedClock
from tests import interval_oracle
from tests.oracle_log import (  # noqa: F401 (the module fixture)
    NOW,
    PERSONS,
    ZONES,
    Event,
    duplicates_st,
    load,
    merges_st,
    minute_st,
    range_doc,
    runner,
    workspace,
)

event_st = st.builds(
    lambda person, event, minute, ms: Event(person, event, minute, ms=ms),
    st.sampled_from(PERSONS[:3]),
    st.sampled_from(["A", "B", "B", "C"]),
    minute_st,
    st.sampled_from([0, 0, 250, 500]),
)
# A then B by one person a gap later: gaps at, just under and just over the windows drawn below.
pair_st = st.builds(
    lambda person, minute, gap, ms, ms2: [Event(person, "A", minute, ms=ms), Event(person, "B", minute + gap, ms=ms2)],
    st.sampled_from(PERSONS[:3]),
    minute_st,
    st.sampled_from([0, 1, 9, 10, 60, 61, 360, 1440, 4320, 4321]),
    st.sampled_from([0, 500]),
    st.sampled_from([0, 0, 250, 500]),
)
log_st = st.lists(st.one_of(event_st.map(lambda e: [e]), pair_st), min_size=4, max_size=25).map(
    lambda parts: [e for part in parts for e in part]
)
query_st = st.fixed_dictionaries(
    {
        "window": st.sampled_from([60, 600, 3600, 6 * 3600, 86400, 3 * 86400, 30 * 86400]),
        "timezone": st.sampled_from(ZONES),
    }
)


# With a breakdown: A events carry a plan (or none), so a person's first A has a value.
plan_st = st.sampled_from([{}, {"plan": "a"}, {"plan": "b"}, {"plan": "c"}, {"plan": 1}])
by_event_st = st.builds(
    lambda person, event, minute, ms, props: Event(person, event, minute, properties=props, ms=ms),
    st.sampled_from(PERSONS),
    st.sampled_from(["A", "A", "B", "C"]),
    minute_st,
    st.sampled_from([0, 0, 250, 500]),
    plan_st,
)
by_pair_st = st.builds(
    lambda pair, props: [Event(pair[0].person, "A", pair[0].minute, properties=props, ms=pair[0].ms), pair[1]],
    pair_st,
    plan_st,
)
by_log_st = st.lists(st.one_of(by_event_st.map(lambda e: [e]), by_pair_st), min_size=4, max_size=25).map(
    lambda parts: [e for part in parts for e in part]
)


def close(value):
    return None if value is None else pytest.approx(value, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log=log_st, duplicates=duplicates_st, merges=merges_st, q=query_st)
def test_interval_equals_the_oracle(runner, log, duplicates, merges, q):  # noqa: F811
    store, loop = runner
    ws = workspace("iv")
    mapping = loop.run_until_complete(load(store, ws, log, duplicates, merges))
    doc = {"from_event": "A", "to_event": "B", "window_seconds": q["window"], **range_doc(q["timezone"])}
    analytics = Analytics(store, FixedClock(NOW), None)
    got = loop.run_until_complete(analytics.interval(ws, doc))
    expected = interval_oracle.interval(log, mapping, q["timezone"], "A", "B", q["window"])
    assert {k: close(v) for k, v in got.items()} == expected


def test_the_next_b_counts_after_the_range_up_to_the_window_end_and_an_even_count_has_a_mean_median(runner):  # noqa: F811
    store, loop = runner
    ws = workspace("ik")
    # UTC range 2025-03-28..2025-03-31 is minutes 0 to 5760 of the log.
    log = [
        Event("p0", "B", 10),  # before p0's first A: not theirs to count
        Event("p0", "A", 20),
        Event("p0", "A", 25),  # a later A does not restart p0's clock
        Event("p0", "B", 30),  # 600 s after the first A
        Event("p1", "A", 5752),
        Event("p1", "B", 5760),  # after the range, within the window: 480 s
        Event("p2", "A", 100),
        Event("p2", "B", 160),  # exactly at the window's end: 3600 s
        Event("p3", "A", 200),
        Event("p3", "B", 261),  # past the window
        Event("p4", "A", 300, ms=500),
        Event("p4", "B", 301),  # 59.5 s
    ]
    loop.run_until_complete(load(store, ws, log, [], []))
    analytics = Analytics(store, FixedClock(NOW), None)
    doc = {"from_event": "A", "to_event": "B", "window_seconds": 3600, **range_doc("UTC")}
    got = loop.run_until_complete(analytics.interval(ws, doc))
    # Gaps 59.5, 480, 600, 3600: the median is the mean of the middle two, p90 linear between the last two.
    assert got == {
        "persons": 5,
        "converted": 4,
        "avg_seconds": (59.5 + 480 + 600 + 3600) / 4,
        "median_seconds": 540.0,
        "p90_seconds": pytest.approx(600 + 0.7 * 3000),
        "min_seconds": 59.5,
        "max_seconds": 3600.0,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log=by_log_st, duplicates=duplicates_st, merges=merges_st, q=query_st, limit=st.integers(1, 3))
def test_interval_by_a_property_equals_the_oracle(runner, log, duplicates, merges, q, limit):  # noqa: F811
    store, loop = runner
    ws = workspace("ib")
    mapping = loop.run_until_complete(load(store, ws, log, duplicates, merges))
    doc = {
        "from_event": "A",
        "to_event": "B",
        "window_seconds": q["window"],
        "breakdown": {"property": "plan", "limit": limit},
        **range_doc(q["timezone"]),
    }
    analytics = Analytics(store, FixedClock(NOW), None)
    got = loop.run_until_complete(analytics.interval(ws, doc))
    whole = interval_oracle.interval(log, mapping, q["timezone"], "A", "B", q["window"])
    by_value = interval_oracle.interval_by(log, mapping, q["timezone"], "A", "B", q["window"], "plan", limit)
    assert {k: close(v) for k, v in got.items() if k != "breakdowns"} == whole
    assert [{k: close(v) if isinstance(v, float) else v for k, v in b.items()} for b in got["breakdowns"]] == by_value
    # A person has one value: persons and conversions add up to the whole.
    assert sum(b["persons"] for b in got["breakdowns"]) == got["persons"]
    assert sum(b["converted"] for b in got["breakdowns"]) == got["converted"]

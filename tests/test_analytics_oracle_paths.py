"""Paths against the pure-Python oracle (tests/path_oracle.py) on generated logs: a few persons, track
events and named pages at distinct minutes around a range in three time zones (one with the Berlin DST
change), redelivered records and merges; every option of the model drawn (start and/or end event, the
same event as both, depth, limit, excluded events)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics.analysis import Analytics
from services.kit.clock import FixedClock
from tests import path_oracle
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
    resolved,
    runner,
    workspace,
)

# (event, page name): track events, and pages that show as "$page Home" and "$page Cart".
KINDS = [("A", ""), ("B", ""), ("C", ""), ("X", ""), ("$page", "Home"), ("$page", "Cart")]

event_st = st.builds(
    lambda person, kind, minute: Event(person, kind[0], minute, kind[1]),
    st.sampled_from(PERSONS[:4]),
    st.sampled_from(KINDS),
    minute_st,
)
# Minutes drawn from a narrow span too, so one person often has two events at the same instant.
log_st = st.lists(
    st.one_of(event_st, event_st.map(lambda e: Event(e.person, e.event, e.minute % 8, e.name))),
    min_size=6,
    max_size=40,
)
query_st = st.fixed_dictionaries(
    {
        "start": st.sampled_from(["", "", "A", "B", "$page Home"]),
        "end": st.sampled_from(["", "", "A", "B", "C", "$page Cart"]),
        "depth": st.sampled_from([2, 3, 4, 30]),
        "limit": st.integers(1, 4),
        "exclude": st.lists(st.sampled_from(["X", "C", "$page"]), unique=True, max_size=2),
        "timezone": st.sampled_from(ZONES),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log=log_st, duplicates=duplicates_st, merges=merges_st, q=query_st)
def test_paths_equal_the_oracle(runner, log, duplicates, merges, q):  # noqa: F811
    store, loop = runner
    ws = workspace("pa")
    mapping = loop.run_until_complete(load(store, ws, log, duplicates, merges))
    exclude = tuple(e for e in q["exclude"] if e not in (q["start"], q["end"]))
    doc = {"depth": q["depth"], "limit": q["limit"], "exclude": list(exclude), **range_doc(q["timezone"])}
    if q["start"]:
        doc["start_event"] = q["start"]
    if q["end"]:
        doc["end_event"] = q["end"]
    analytics = Analytics(store, FixedClock(NOW), None)
    got = loop.run_until_complete(analytics.paths(ws, doc))
    expected = path_oracle.paths(
        resolved(log, mapping, q["timezone"]), q["start"], q["end"], q["depth"], q["limit"], exclude
    )
    assert got == expected


def test_a_start_that_is_also_the_end_gives_the_loop_to_its_next_visit(runner):  # noqa: F811
    store, loop = runner
    ws = workspace("pl")
    # p0 comes back to A through B; p1 never comes back, so has no path from A to A.
    log = [Event("p0", "A", 100), Event("p0", "B", 200), Event("p0", "A", 300), Event("p1", "A", 400)]
    loop.run_until_complete(load(store, ws, log, [], []))
    analytics = Analytics(store, FixedClock(NOW), None)
    got = loop.run_until_complete(analytics.paths(ws, {"start_event": "A", "end_event": "A", **range_doc("UTC")}))
    assert (got["total_persons"], got["paths"]) == (1, [{"steps": ["A", "B", "A"], "persons": 1, "share": 1.0}])


# A plan on most events (text, a number, or none), so persons fall into groups and "$other".
valued_st = st.builds(
    lambda e, plan: Event(e.person, e.event, e.minute, e.name, {} if plan is None else {"plan": plan}),
    event_st,
    st.sampled_from(["gold", "gold", "free", 3, None]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    log=st.lists(valued_st, min_size=6, max_size=40),
    duplicates=duplicates_st,
    merges=merges_st,
    q=query_st,
    groups=st.integers(1, 2),
)
def test_paths_by_a_property_equal_the_oracle(runner, log, duplicates, merges, q, groups):  # noqa: F811
    store, loop = runner
    ws = workspace("pb")
    mapping = loop.run_until_complete(load(store, ws, log, duplicates, merges))
    exclude = tuple(e for e in q["exclude"] if e not in (q["start"], q["end"]))
    doc = {
        "depth": q["depth"],
        "limit": q["limit"],
        "exclude": list(exclude),
        "breakdown": {"property": "plan", "limit": groups},
        **range_doc(q["timezone"]),
    }
    if q["start"]:
        doc["start_event"] = q["start"]
    if q["end"]:
        doc["end_event"] = q["end"]
    got = loop.run_until_complete(Analytics(store, FixedClock(NOW), None).paths(ws, doc))
    events = resolved(log, mapping, q["timezone"])
    args = (q["start"], q["end"], q["depth"], q["limit"], exclude)
    assert got["breakdowns"] == path_oracle.paths_by(events, "plan", groups, *args)
    # The whole is the query without a breakdown, and the groups add up to it.
    assert {k: v for k, v in got.items() if k != "breakdowns"} == path_oracle.paths(events, *args)
    assert sum(b["total_persons"] for b in got["breakdowns"]) == got["total_persons"]

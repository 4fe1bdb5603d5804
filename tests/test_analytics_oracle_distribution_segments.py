"""Distribution and interval broken down by segment against the pure-Python oracles.

By segments a person counts in every listed segment they are in, in no group when in none
(common.Breakdown), so a segment's figures are the oracle's over its members alone. The members are
written into segment_members as segment_members.SegmentMembers.load writes what the segment service
streams (the retention segment test does the same); logs are oracle_log's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics import sql
from services.analytics.models import distribution
from tests import distribution_oracle, interval_oracle
from tests.oracle_log import (  # noqa: F401 (the module fixture)
    PERSONS,
    ZONES,
    Event,
    load,
    merges_st,
    minute_st,
    range_doc,
    resolved,
    runner,
    workspace,
)

SEGMENTS = ("vip", "wechat fans")
event_st = st.builds(Event, st.sampled_from(PERSONS), st.sampled_from(["A", "A", "B"]), minute_st)
members_st = st.fixed_dictionaries({s: st.sets(st.sampled_from(PERSONS), min_size=1) for s in SEGMENTS})


def with_members(store, loop, ws: str, members: dict[str, set[str]], query):
    """The query with its segment breakdown's members loaded as SegmentMembers.load loads them."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    rows = [{"workspace": ws, "query": ws, "segment": s, "person_id": p, "at": now}
            for s, who in members.items() for p in sorted(who)]  # fmt: skip
    loop.run_until_complete(store.insert("segment_members", rows))
    sql_members = (
        f"SELECT person_id AS person, segment FROM {store.db}.segment_members "
        f"WHERE query = {sql.string(ws)} AND workspace = {sql.string(ws)}"
    )
    return dataclasses.replace(query, breakdown=dataclasses.replace(query.breakdown, members=sql_members))


def close(value):
    return pytest.approx(value, rel=1e-9, abs=1e-9) if isinstance(value, float) else value


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    log=st.lists(event_st, min_size=6, max_size=30),
    merges=merges_st,
    members=members_st,
    timezone=st.sampled_from(ZONES),
    window=st.sampled_from([600, 86400]),
)
def test_distribution_and_interval_by_segment_count_a_person_in_every_segment(
    runner,  # noqa: F811
    log,
    merges,
    members,
    timezone,
    window,
):
    store, loop = runner
    ws = workspace("ds")
    mapping = loop.run_until_complete(load(store, ws, log, [], merges))
    query = distribution.parse_distribution(
        {"event": "A", "max_times": 3, "breakdown": {"segments": ["s1", "s2"]}, **range_doc(timezone)}
    )
    got = loop.run_until_complete(
        distribution.run_distribution(store.engine, store.db, ws, with_members(store, loop, ws, members, query))
    )
    events = resolved(log, mapping, timezone)
    expected = []
    for segment, who in members.items():
        found = distribution_oracle.distribution([e for e in events if e.person in who], "A", [], 3)
        if found["persons"]:
            expected.append({"breakdown_value": segment, **found})
    assert got == {**distribution_oracle.distribution(events, "A", [], 3),
                   "breakdowns": distribution_oracle.ordered(expected)}  # fmt: skip

    query = distribution.parse_interval(
        {
            "from_event": "A",
            "to_event": "B",
            "window_seconds": window,
            "breakdown": {"segments": ["s1", "s2"]},
            **range_doc(timezone),
        }  # fmt: skip
    )
    got = loop.run_until_complete(
        distribution.run_interval(store.engine, store.db, ws, with_members(store, loop, ws, members, query))
    )
    firsts = interval_oracle.firsts_of(log, mapping, timezone, "A")
    gaps = interval_oracle.gaps_of(log, mapping, firsts, "B", window)
    expected = []
    for segment, who in members.items():
        persons = [p for p in firsts if p in who]
        if persons:
            figures = interval_oracle.figures(len(persons), [gaps[p] for p in persons if p in gaps])
            expected.append({"breakdown_value": segment, **figures})
    assert [{k: close(v) for k, v in b.items()} for b in got["breakdowns"]] == distribution_oracle.ordered(expected)
    assert {k: close(v) for k, v in got.items() if k != "breakdowns"} == interval_oracle.interval(
        log, mapping, timezone, "A", "B", window
    )

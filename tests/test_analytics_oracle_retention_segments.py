"""Retention broken down by segment against a pure-Python oracle.

A breakdown by segments counts each person in every listed segment they are in (and in no group when
in none: common.Breakdown). The members are written into segment_members exactly as
segment_members.SegmentMembers.load writes what the segment service streams, and the query reads
them as that load's result does; the logs are oracle_log's (minutes around the zones' range edges
and the Berlin clock change, redeliveries, merges). Both kinds (first time, recurring), every cell
and the persons of each cell (what saveRetentionCell saves) must equal the oracle's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics import sql
from services.analytics.models import retention
from tests.oracle_log import (  # noqa: F401 (the module fixture)
    DATE_FROM,
    DATE_TO,
    PERSONS,
    ZONES,
    Event,
    bounds,
    current,
    load,
    merges_st,
    minute_st,
    range_doc,
    runner,
    workspace,
)

PERIODS = 3
SEGMENTS = ("vip", "wechat fans")
event_st = st.builds(Event, st.sampled_from(PERSONS), st.sampled_from(["S", "R"]), minute_st)
members_st = st.fixed_dictionaries({s: st.sets(st.sampled_from(PERSONS), min_size=2) for s in SEGMENTS})


def oracle(log: list[Event], mapping: dict, members: dict[str, set[str]], kind: str, timezone: str) -> dict:
    """(cohort, segment) -> (persons of the cohort, [persons who returned k days later, k < PERIODS])."""
    zone = zoneinfo.ZoneInfo(timezone)
    start, end = bounds(timezone)
    later = end + dt.timedelta(days=PERIODS + 1)
    day = lambda at: at.astimezone(zone).date()  # noqa: E731
    events = [(current(mapping, e.person), e.event, e.at) for e in log]
    cohorts: dict[str, set[dt.date]] = {}
    if kind == "first_time":
        first: dict[str, dt.datetime] = {}
        for p, e, at in events:
            if e == "S" and at < end and (p not in first or at < first[p]):
                first[p] = at
        cohorts = {p: {day(at)} for p, at in first.items() if at >= start}
    else:
        for p, e, at in events:
            if e == "S" and start <= at < end and DATE_FROM <= day(at) <= DATE_TO:
                cohorts.setdefault(p, set()).add(day(at))
    returns = {(p, day(at)) for p, e, at in events if e == "R" and start <= at < later}
    out: dict[tuple[str, str], tuple[set, list[set]]] = {}
    for p, days in cohorts.items():
        for segment, who in members.items():
            if p not in who:
                continue
            for d in days:
                size, cells = out.setdefault((d.isoformat(), segment), (set(), [set() for _ in range(PERIODS)]))
                size.add(p)
                for k in range(PERIODS):
                    if (p, d + dt.timedelta(days=k)) in returns:
                        cells[k].add(p)
    return out


def with_members(query: retention.RetentionQuery, db: str, ws: str, label: str) -> retention.RetentionQuery:
    members = (
        f"SELECT person_id AS person, segment FROM {db}.segment_members "
        f"WHERE query = {sql.string(label)} AND workspace = {sql.string(ws)}"
    )
    return dataclasses.replace(query, breakdown=dataclasses.replace(query.breakdown, members=members))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    log=st.lists(event_st, min_size=8, max_size=30),
    duplicates=st.lists(st.integers(0, 39), max_size=5),
    merges=merges_st,
    members=members_st,
    kind=st.sampled_from(["first_time", "recurring"]),
    timezone=st.sampled_from(ZONES),
)
def test_retention_by_segment_equals_the_oracle(runner, log, duplicates, merges, members, kind, timezone):  # noqa: F811
    store, loop = runner
    ws = workspace("rs")
    mapping = loop.run_until_complete(load(store, ws, log, duplicates, merges))
    # As load stamps them: now (the table's TTL drops rows an hour old, at insert already).
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    rows = [{"workspace": ws, "query": ws, "segment": s, "person_id": p, "at": now}
            for s, who in members.items() for p in sorted(who)]  # fmt: skip
    loop.run_until_complete(store.insert("segment_members", rows))
    doc = {"start_event": "S", "return_event": "R", "kind": kind, "periods": PERIODS, **range_doc(timezone),
           "breakdown": {"segments": ["seg_vip", "seg_fans"]}}  # fmt: skip
    query = with_members(retention.parse(doc), store.db, ws, ws)
    got = loop.run_until_complete(retention.run(store.engine, store.db, ws, query))
    expected = oracle(log, mapping, members, kind, timezone)
    assert [(r["cohort"], r["breakdown_value"], r["size"], r["counts"]) for r in got["rows"]] == [
        (cohort, segment, len(size), [len(c) for c in cells])
        for (cohort, segment), (size, cells) in sorted(expected.items())
    ]
    # A cell's persons: with a segment breakdown the query still names no segment, so a cell holds
    # the cohort's persons in any listed segment.
    for cohort in sorted({c for c, _ in expected}):
        for period in range(-1, PERIODS):
            want = set()
            for (c, _), (size, cells) in expected.items():
                if c == cohort:
                    want |= size if period < 0 else cells[period]
            people = loop.run_until_complete(
                retention.cell_people(store.engine, store.db, ws, query, dt.date.fromisoformat(cohort), period)
            )
            assert people == sorted(want), (cohort, period)

"""Analytics models against a pure-Python oracle on generated event logs.

Hypothesis generates small logs (a few persons, two events, minutes that cross the
Europe/Berlin DST change, redelivered records, merges) that are written into an
in-process chDB store exactly as ingest writes them; trends, retention and an ordered
funnel must equal what the oracle computes from the same log.
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics import sql
from services.analytics.analysis import Analytics
from services.analytics.store import AnalyticsStore
from services.kit.clock import FixedClock
from tests.oracle_log import runner  # noqa: F401 (the module fixture, shared with the other oracles)

TZ = "Europe/Berlin"
ZONE = zoneinfo.ZoneInfo(TZ)
# Clocks go forward in Berlin at 01:00 UTC on 2025-03-30; the log spans 2025-03-28 to 2025-04-01.
BASE = dt.datetime(2025, 3, 28, tzinfo=dt.UTC)
MINUTES = 4 * 24 * 60
PERSONS = [f"p{i}" for i in range(5)]
DAYS = [dt.date(2025, 3, 28) + dt.timedelta(days=i) for i in range(5)]
RANGE = {"date_from": "2025-03-28", "date_to": "2025-03-31", "timezone": TZ}
WINDOW = 6 * 3600

event_st = st.tuples(st.sampled_from(PERSONS), st.sampled_from(["A", "B"]), st.integers(0, MINUTES))
log_st = st.lists(event_st, min_size=1, max_size=30)
merges_st = st.lists(st.tuples(st.sampled_from(PERSONS), st.sampled_from(PERSONS)), max_size=3)

_counter = itertools.count()


def current(mapping: dict[str, str], person: str) -> str:
    while person in mapping:
        person = mapping[person]
    return person


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(ZONE).date()


async def load(store: AnalyticsStore, ws: str, log, duplicates: list[int], merges) -> dict[str, str]:
    rows = []
    for i, (person, event, minute) in enumerate(log):
        at = BASE + dt.timedelta(minutes=minute)
        row = {
            "workspace": ws,
            "message_id": f"m{i}",
            "person_id": person,
            "type": "track",
            "event": event,
            "name": "",
            "ts": sql.stamp(at),
            "properties": "{}",
            "products": [],
            "version": 1,
        }
        rows.append(row)
    # Redelivered records (the same message id again, in a later insert) must count once.
    await store.insert("events", rows)
    await store.insert("events", [rows[i % len(rows)] for i in duplicates])
    mapping: dict[str, str] = {}
    for version, (loser, winner) in enumerate(merges, start=1):
        loser, winner = current(mapping, loser), current(mapping, winner)
        if loser != winner:
            await store.merged(ws, winner, loser, version)
            mapping[loser] = winner
    return mapping


def oracle(log, mapping):
    events = [(current(mapping, p), e, BASE + dt.timedelta(minutes=m)) for p, e, m in log]
    days = DAYS[:4]
    totals = [sum(1 for _, e, at in events if e == "A" and local_day(at) == d) for d in days]
    persons = [len({p for p, e, at in events if e == "A" and local_day(at) == d}) for d in days]
    first = {}
    for p, e, at in sorted(events, key=lambda x: x[2]):
        if e == "A":
            first.setdefault(p, local_day(at))
    returns = {(p, local_day(at)) for p, e, at in events if e == "B"}
    retention = []
    for cohort in days:
        members = [p for p, d in first.items() if d == cohort]
        if members:
            counts = [sum((p, cohort + dt.timedelta(days=k)) in returns for p in members) for k in range(3)]
            retention.append((cohort.isoformat(), len(members), counts))
    start = dt.datetime.combine(days[0], dt.time(), ZONE)
    end = dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time(), ZONE)
    entered, converted = set(), set()
    for p, e, at in events:
        if e == "A" and start <= at < end:
            entered.add(p)
            if any(q == p and f == "B" and at <= t <= at + dt.timedelta(seconds=WINDOW) for q, f, t in events):
                converted.add(p)
    return totals, persons, retention, (len(entered), len(converted))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log=log_st, duplicates=st.lists(st.integers(0, 29), max_size=5), merges=merges_st)
def test_trends_retention_and_funnels_equal_the_oracle(runner, log, duplicates, merges):  # noqa: F811
    store, loop = runner
    ws = f"w{next(_counter)}"
    mapping = loop.run_until_complete(load(store, ws, log, duplicates, merges))
    analytics = Analytics(store, FixedClock(BASE + dt.timedelta(days=30)), None)
    trend = loop.run_until_complete(
        analytics.trends(ws, {"series": [{"event": "A"}, {"event": "A", "math": "persons"}], **RANGE})
    )
    retention = loop.run_until_complete(
        analytics.retention(ws, {"start_event": "A", "return_event": "B", "periods": 3, **RANGE})
    )
    funnel = loop.run_until_complete(
        analytics.funnel(ws, {"steps": [{"event": "A"}, {"event": "B"}], "window_seconds": WINDOW, **RANGE})
    )
    totals, persons, cohorts, (entered, converted) = oracle(log, mapping)
    assert trend["buckets"] == [d.isoformat() for d in DAYS[:4]]
    assert [int(v) for v in trend["series"][0]["values"]] == totals
    assert [int(v) for v in trend["series"][1]["values"]] == persons
    assert [(r["cohort"], r["size"], r["counts"]) for r in retention["rows"]] == cohorts
    found = funnel["results"][0] if funnel["results"] else {"entered": 0, "steps": [{}, {"count": 0}]}
    assert (found["entered"], found["steps"][1]["count"]) == (entered, converted)

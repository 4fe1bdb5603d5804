"""Generated event logs for the paths, distribution and interval oracles, written into an in-process
chDB store exactly as ingest writes them (redelivered records, merges), plus the date range of a
query computed independently of services/analytics/models/common.py.

A log spans 2025-03-27 14:00 UTC to 2025-04-01 09:00 UTC, so the range 2025-03-28..2025-03-31 has
events before and after it in each zone drawn (Berlin changes clocks at 01:00 UTC on 2025-03-30;
Kolkata is +05:30; Los Angeles is -07:00).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import zoneinfo
from dataclasses import dataclass, field

import pytest
from hypothesis import strategies as st

from services.analytics import sql
from services.analytics.engine import ChdbDriver, Engine
from services.analytics.store import AnalyticsStore

BASE = dt.datetime(2025, 3, 28, tzinfo=dt.UTC)
FIRST_MINUTE, LAST_MINUTE = -600, 4 * 24 * 60 + 540
PERSONS = [f"p{i}" for i in range(5)]
DATE_FROM, DATE_TO = dt.date(2025, 3, 28), dt.date(2025, 3, 31)
ZONES = ["Europe/Berlin", "Asia/Kolkata", "America/Los_Angeles"]
NOW = BASE + dt.timedelta(days=30)

# Minutes near where answers change: each zone's range start and end (Berlin -60 and 5640, Kolkata -330
# and 5430, Los Angeles 420 and 6180) and the Berlin clock change (2940), so that events close together
# (within a window, in one person's path) fall on both sides of them.
EDGES = [-330, -60, 420, 2940, 5430, 5640, 6180]
minute_st = st.one_of(
    st.integers(FIRST_MINUTE, LAST_MINUTE),
    st.builds(lambda edge, offset: edge + offset, st.sampled_from(EDGES), st.integers(-70, 70)),
)
merges_st = st.lists(st.tuples(st.sampled_from(PERSONS), st.sampled_from(PERSONS)), max_size=3)
duplicates_st = st.lists(st.integers(0, 39), max_size=5)

_workspaces = itertools.count()


@dataclass
class Event:
    person: str
    event: str
    minute: int
    name: str = ""  # a page's name (type page), '' for a track
    properties: dict = field(default_factory=dict)
    # Milliseconds added to the minute: lets a log put two events in the same minute apart.
    ms: int = 0

    @property
    def at(self) -> dt.datetime:
        return BASE + dt.timedelta(minutes=self.minute, milliseconds=self.ms)


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    engine = Engine(ChdbDriver(tmp_path_factory.mktemp("oracle")))
    store = AnalyticsStore(engine)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(store.create_tables())
    yield store, loop
    loop.close()
    engine.close()


def workspace(prefix: str) -> str:
    return f"{prefix}{next(_workspaces)}"


def current(mapping: dict[str, str], person: str) -> str:
    while person in mapping:
        person = mapping[person]
    return person


def bounds(timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The instants the local dates DATE_FROM..DATE_TO (inclusive) span in the zone: [start, end)."""
    zone = zoneinfo.ZoneInfo(timezone)
    start = dt.datetime.combine(DATE_FROM, dt.time(), zone)
    end = dt.datetime.combine(DATE_TO + dt.timedelta(days=1), dt.time(), zone)
    return start, end


def range_doc(timezone: str) -> dict:
    return {"date_from": DATE_FROM.isoformat(), "date_to": DATE_TO.isoformat(), "timezone": timezone}


async def load(store: AnalyticsStore, ws: str, log: list[Event], duplicates: list[int], merges) -> dict[str, str]:
    """The log as ingest writes it; returns loser -> winner of the merges applied."""
    rows = [
        {
            "workspace": ws,
            "message_id": f"m{i}",
            "person_id": e.person,
            "type": "page" if e.name else "track",
            "event": e.event,
            "name": e.name,
            "ts": sql.stamp(e.at),
            "properties": json.dumps(e.properties),
            "products": [],
            "version": 1,
        }
        for i, e in enumerate(log)
    ]
    return await insert_and_merge(store, ws, rows, duplicates, merges)


async def insert_and_merge(store: AnalyticsStore, ws: str, rows: list[dict], duplicates, merges) -> dict[str, str]:
    """Event rows inserted, some again (`duplicates`), then the merges; returns loser -> winner."""
    await store.insert("events", rows)
    if rows and duplicates:
        # Redelivered records (the same message id again, in a later insert) must count once.
        await store.insert("events", [rows[i % len(rows)] for i in duplicates])
    mapping: dict[str, str] = {}
    for version, (loser, winner) in enumerate(merges, start=1):
        loser, winner = current(mapping, loser), current(mapping, winner)
        if loser != winner:
            await store.merged(ws, winner, loser, version)
            mapping[loser] = winner
    return mapping


def resolved(log: list[Event], mapping: dict[str, str], timezone: str) -> list[Event]:
    """The log's events inside the query's range, each under its current person."""
    start, end = bounds(timezone)
    out = []
    for e in log:
        if start <= e.at < end:
            out.append(Event(current(mapping, e.person), e.event, e.minute, e.name, e.properties, e.ms))
    return out

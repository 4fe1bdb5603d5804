"""Lifecycle and stickiness of one event.

Lifecycle: in each period, the persons who did the event are new (their first time ever),
returning (they did it the period before too) or resurrecting (not the period before, but
earlier); dormant are those who did it the period before and not in this one.
Stickiness: how many persons did the event in 1, 2, ... distinct periods of the range.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.analytics import sql
from services.analytics.models import common, trends
from services.analytics.models.common import EPOCH, DateRange, Filter

STATUSES = ("new", "returning", "resurrecting", "dormant")
INTERVALS = ("hour", "day", "week", "month")

_BUCKET = {
    "hour": "toStartOfHour(s.ts, {tz})",
    "day": "toDate(s.ts, {tz})",
    "week": "toMonday(s.ts, {tz})",
    "month": "toStartOfMonth(s.ts, {tz})",
}
_UNIT = {"hour": "Hours", "day": "Days", "week": "Weeks", "month": "Months"}


@dataclass(frozen=True)
class LifecycleQuery:
    event: str
    filters: tuple[Filter, ...]
    interval: str
    range: DateRange

    def as_trends(self) -> trends.TrendsQuery:
        return trends.TrendsQuery((), self.interval, self.range, None)


def parse(doc: dict, intervals: tuple[str, ...] = INTERVALS) -> LifecycleQuery:
    query = LifecycleQuery(
        common.text(doc, "event", "event"),
        tuple(common.filters(doc.get("filters"), "filters")),
        common.choice(doc, "interval", "interval", intervals, "day"),
        common.date_range(doc),
    )
    if len(trends.buckets(query.as_trends())) > trends.MAX_BUCKETS:
        raise common.InvalidInput(f"more than {trends.MAX_BUCKETS} {query.interval}s in the date range", "interval")
    return query


def _previous_start(query: LifecycleQuery) -> dt.datetime:
    """Activity is read from one period before the range (to tell returning from resurrecting)."""
    back = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1), "week": dt.timedelta(days=7)}
    return query.range.start - back.get(query.interval, dt.timedelta(days=31))


def render(db: str, workspace: str, query: LifecycleQuery) -> str:
    """Rows of (bucket label, status, persons)."""
    rng, tz = query.range, sql.string(query.range.timezone)
    bucket = _BUCKET[query.interval].format(tz=tz)
    unit = _UNIT[query.interval]
    cond = common.all_of([f.sql("s.properties") for f in query.filters])
    active = common.events_source(db, workspace, _previous_start(query), rng.end, [query.event])
    history = common.events_source(db, workspace, EPOCH, rng.end, [query.event])
    lo, hi = f"{bucket.replace('s.ts', sql.instant(rng.start))}", f"{bucket.replace('s.ts', sql.instant(rng.end))}"
    statuses = (
        f"arrayConcat(arrayMap(x -> (x, multiIf(x = f.first, 'new', has(a.bs, subtract{unit}(x, 1)), "
        "'returning', 'resurrecting')), a.bs), "
        f"arrayMap(x -> (add{unit}(x, 1), 'dormant'), arrayFilter(x -> NOT has(a.bs, add{unit}(x, 1)), a.bs)))"
    )
    return (
        f"SELECT toString(t.1) AS bucket, t.2 AS status, count() AS persons FROM ("
        f"SELECT arrayJoin({statuses}) AS t FROM ("
        f"SELECT s.person AS person, groupUniqArray({bucket}) AS bs FROM ({active}) AS s WHERE {cond} "
        "GROUP BY s.person) AS a "
        f"INNER JOIN (SELECT s.person AS person, min({bucket}) AS first FROM ({history}) AS s WHERE {cond} "
        "GROUP BY s.person) AS f ON f.person = a.person) "
        f"WHERE t.1 >= {lo} AND t.1 < {hi} GROUP BY bucket, status ORDER BY bucket, status"
    )


def shape(query: LifecycleQuery, rows: list[list]) -> dict:
    labels = trends.buckets(query.as_trends())
    index = {label: i for i, label in enumerate(labels)}
    out = {status: [0] * len(labels) for status in STATUSES}
    for bucket, status, persons in rows:
        if bucket in index:
            out[status][index[bucket]] = int(persons)
    return {"buckets": labels, **out}


def render_stickiness(db: str, workspace: str, query: LifecycleQuery) -> str:
    """Rows of (periods active, persons)."""
    rng, tz = query.range, sql.string(query.range.timezone)
    bucket = _BUCKET[query.interval].format(tz=tz)
    cond = common.all_of([f.sql("s.properties") for f in query.filters])
    source = common.events_source(db, workspace, rng.start, rng.end, [query.event])
    return (
        f"SELECT n, count() AS persons FROM (SELECT s.person, uniqExact({bucket}) AS n FROM ({source}) AS s "
        f"WHERE {cond} GROUP BY s.person) GROUP BY n ORDER BY n"
    )


def shape_stickiness(query: LifecycleQuery, rows: list[list]) -> dict:
    periods = len(trends.buckets(query.as_trends()))
    counts = dict.fromkeys(range(1, periods + 1), 0)
    for n, persons in rows:
        counts[int(n)] = int(persons)
    return {"interval": query.interval, "persons": [counts[k] for k in sorted(counts)]}


async def run(engine, db: str, workspace: str, query: LifecycleQuery) -> dict:
    return shape(query, await engine.rows(render(db, workspace, query)))


async def run_stickiness(engine, db: str, workspace: str, query: LifecycleQuery) -> dict:
    return shape_stickiness(query, await engine.rows(render_stickiness(db, workspace, query)))

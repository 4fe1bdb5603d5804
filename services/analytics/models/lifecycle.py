"""Lifecycle and stickiness of one event.

Lifecycle: in each period, the persons who did the event are new (their first time ever),
returning (they did it the period before too) or resurrecting (not the period before, but
earlier); dormant are those who did it the period before and not in this one.
Stickiness: how many persons did the event in 1, 2, ... distinct periods of the range.

A breakdown groups persons, not events: a person's value is their trait, computed trait, tag or
segments, or for an event property the property on their first matching event read (for lifecycle
from one period before the range, so a person dormant in its first period has one too). Each person
has one value (segments: one group per listed segment they are in), so a status keeps its meaning
within a group; the top `limit` values by persons stay, the rest fold into "$other".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.analytics import sql
from services.analytics.models import common, trends
from services.analytics.models.common import EPOCH, Breakdown, DateRange, Filter
from services.kit.errors import InvalidInput

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
    breakdown: Breakdown | None = None

    def as_trends(self) -> trends.TrendsQuery:
        return trends.TrendsQuery((), self.interval, self.range, None)


def parse(doc: dict, intervals: tuple[str, ...] = INTERVALS) -> LifecycleQuery:
    breakdown = common.breakdown(doc.get("breakdown"))
    if breakdown and breakdown.kind == "product":
        # An item of products[] is a value of an event, not of a person: it has no one status.
        raise InvalidInput(
            "lifecycle and stickiness break down by a property, trait, computed trait, tag or segments",
            "breakdown.product",
        )
    query = LifecycleQuery(
        common.text(doc, "event", "event"),
        tuple(common.filters(doc.get("filters"), "filters")),
        common.choice(doc, "interval", "interval", intervals, "day"),
        common.date_range(doc),
        breakdown,
    )
    if len(trends.buckets(query.as_trends())) > trends.MAX_BUCKETS:
        raise common.InvalidInput(f"more than {trends.MAX_BUCKETS} {query.interval}s in the date range", "interval")
    return query


def _previous_start(query: LifecycleQuery) -> dt.datetime:
    """Activity is read from one period before the range (to tell returning from resurrecting)."""
    back = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1), "week": dt.timedelta(days=7)}
    return query.range.start - back.get(query.interval, dt.timedelta(days=31))


def _status_rows(db: str, workspace: str, query: LifecycleQuery) -> str:
    """Rows of (person, bucket, status) in the range: a person's statuses in each period."""
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
        "SELECT person, t.1 AS b, t.2 AS status FROM ("
        f"SELECT a.person AS person, arrayJoin({statuses}) AS t FROM ("
        f"SELECT s.person AS person, groupUniqArray({bucket}) AS bs FROM ({active}) AS s WHERE {cond} "
        "GROUP BY s.person) AS a "
        f"INNER JOIN (SELECT s.person AS person, min({bucket}) AS first FROM ({history}) AS s WHERE {cond} "
        f"GROUP BY s.person) AS f ON f.person = a.person) WHERE t.1 >= {lo} AND t.1 < {hi}"
    )


def render(db: str, workspace: str, query: LifecycleQuery) -> str:
    """Rows of (bucket label, status, persons), over every person (whatever the breakdown)."""
    return (
        f"SELECT toString(b) AS bucket, status, count() AS persons FROM ({_status_rows(db, workspace, query)}) "
        "GROUP BY bucket, status ORDER BY bucket, status"
    )


def _values(db: str, workspace: str, query: LifecycleQuery, source: str, more: str = "") -> str:
    """(person, bv[, more]) from the rows of `source`: each person's breakdown value. A property is read
    from the person's first matching event (the smallest value among events of the same instant, so the
    answer does not hang on the order rows are read in); segments give a row per listed segment the
    person is in. `more` is one more aggregate over the person's rows (of one segment)."""
    bd = query.breakdown
    value, joins = bd.value_sql(), bd.joins(db, workspace)
    cond = common.all_of([f.sql("s.properties") for f in query.filters])
    extra = f", {more}" if more else ""
    if bd.kind == "segment":
        return (
            f"SELECT s.person AS person, {value} AS bv{extra} FROM ({source}) AS s{joins} WHERE {cond} "
            "GROUP BY person, bv"
        )
    return (
        f"SELECT s.person AS person, argMin({value}, (s.ts, {value})) AS bv{extra} FROM ({source}) AS s{joins} "
        f"WHERE {cond} GROUP BY person"
    )


def _top(grouped: str, keys: str, total: str, limit: int) -> str:
    """Rows of (keys, value, persons, rank) from `grouped` rows of (keys, bv, n[, st]): the top `limit`
    values by `total` persons over the whole range, ranked as trends ranks them (persons, then value),
    the rest summed into "$other" (each person has one value, so their counts add up; segments, whose
    persons may be in several, are never folded: at most 10 are listed and the limit is 10)."""
    return (
        f"SELECT {keys}, if(rank <= {limit}, bv, {sql.string(common.OTHER)}) AS v, sum(n) AS persons, "
        f"min(rank) AS r FROM (SELECT {keys}, bv, n, dense_rank() OVER (ORDER BY total DESC, bv) AS rank "
        f"FROM (SELECT {keys}, bv, n, {total} AS total FROM ({grouped}))) GROUP BY {keys}, v ORDER BY r, {keys}"
    )


def render_breakdown(db: str, workspace: str, query: LifecycleQuery) -> str:
    """Rows of (bucket label, status, breakdown value, persons, rank)."""
    active = common.events_source(db, workspace, _previous_start(query), query.range.end, [query.event])
    rows = _status_rows(db, workspace, query)
    tagged = (
        f"SELECT r.person AS person, r.b AS b, r.status AS status, v.bv AS bv FROM ({rows}) "
        f"AS r INNER JOIN ({_values(db, workspace, query, active)}) AS v ON v.person = r.person"
    )
    # A value's persons over the range: the partial unique counts of its groups merged (a window).
    grouped = (
        "SELECT toString(b) AS bucket, status, bv, count() AS n, uniqExactState(person) AS st "
        f"FROM ({tagged}) GROUP BY bucket, status, bv"
    )
    return _top(grouped, "bucket, status", "uniqExactMerge(st) OVER (PARTITION BY bv)", query.breakdown.limit)


def _statuses(labels: list[str], rows) -> dict[str, list[int]]:
    index = {label: i for i, label in enumerate(labels)}
    out = {status: [0] * len(labels) for status in STATUSES}
    for bucket, status, persons in rows:
        if bucket in index:
            out[status][index[bucket]] = int(persons)
    return out


def shape(query: LifecycleQuery, rows: list[list], by_value: list[list] | None = None) -> dict:
    """Without a breakdown the result is what it always was; with one, `breakdowns` adds each value's
    statuses (by rank), while the top-level figures stay over every person."""
    labels = trends.buckets(query.as_trends())
    out = {"buckets": labels, **_statuses(labels, rows)}
    if query.breakdown is not None:
        groups: dict[str, list] = {}
        for bucket, status, value, persons, _rank in by_value or []:
            groups.setdefault(value, []).append((bucket, status, persons))
        out["breakdowns"] = [{"breakdown_value": v, **_statuses(labels, g)} for v, g in groups.items()]
    return out


def render_stickiness(db: str, workspace: str, query: LifecycleQuery) -> str:
    """Rows of (periods active, persons), over every person (whatever the breakdown)."""
    rng, tz = query.range, sql.string(query.range.timezone)
    bucket = _BUCKET[query.interval].format(tz=tz)
    cond = common.all_of([f.sql("s.properties") for f in query.filters])
    source = common.events_source(db, workspace, rng.start, rng.end, [query.event])
    return (
        f"SELECT n, count() AS persons FROM (SELECT s.person, uniqExact({bucket}) AS n FROM ({source}) AS s "
        f"WHERE {cond} GROUP BY s.person) GROUP BY n ORDER BY n"
    )


def render_stickiness_breakdown(db: str, workspace: str, query: LifecycleQuery) -> str:
    """Rows of (periods active, breakdown value, persons, rank)."""
    rng = query.range
    bucket = _BUCKET[query.interval].format(tz=sql.string(rng.timezone))
    source = common.events_source(db, workspace, rng.start, rng.end, [query.event])
    per = _values(db, workspace, query, source, f"uniqExact({bucket}) AS periods")
    grouped = f"SELECT periods, bv, count() AS n FROM ({per}) GROUP BY periods, bv"
    return _top(grouped, "periods", "sum(n) OVER (PARTITION BY bv)", query.breakdown.limit)


def _periods(query: LifecycleQuery, rows) -> list[int]:
    periods = len(trends.buckets(query.as_trends()))
    counts = dict.fromkeys(range(1, periods + 1), 0)
    for n, persons in rows:
        counts[int(n)] = int(persons)
    return [counts[k] for k in sorted(counts)]


def shape_stickiness(query: LifecycleQuery, rows: list[list], by_value: list[list] | None = None) -> dict:
    out = {"interval": query.interval, "persons": _periods(query, rows)}
    if query.breakdown is not None:
        groups: dict[str, list] = {}
        for n, value, persons, _rank in by_value or []:
            groups.setdefault(value, []).append((n, persons))
        out["breakdowns"] = [{"breakdown_value": v, "persons": _periods(query, g)} for v, g in groups.items()]
    return out


async def run(engine, db: str, workspace: str, query: LifecycleQuery) -> dict:
    rows = await engine.rows(render(db, workspace, query))
    by_value = await engine.rows(render_breakdown(db, workspace, query)) if query.breakdown else None
    return shape(query, rows, by_value)


async def run_stickiness(engine, db: str, workspace: str, query: LifecycleQuery) -> dict:
    rows = await engine.rows(render_stickiness(db, workspace, query))
    by_value = await engine.rows(render_stickiness_breakdown(db, workspace, query)) if query.breakdown else None
    return shape_stickiness(query, rows, by_value)

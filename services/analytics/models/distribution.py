"""Distribution (how many times each person did an event in the range) and interval (how long
from a person's first event A in the range to their next event B)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.analytics.models import common, distribution_by
from services.analytics.models.common import Breakdown, DateRange, Filter
from services.kit.errors import InvalidInput

MAX_TIMES = 100
MAX_WINDOW = 366 * 86400


@dataclass(frozen=True)
class DistributionQuery:
    event: str
    filters: tuple[Filter, ...]
    range: DateRange
    # Persons who did it this many times or more share the last bucket.
    max_times: int
    breakdown: Breakdown | None = None


def _breakdown(doc: dict) -> Breakdown | None:
    found = common.breakdown(doc.get("breakdown"))
    if found and found.kind == "product":
        # A person's count is of events, not of items: an item value would split one event's count.
        raise InvalidInput(
            "distribution and interval break down by a property, a trait or segments", "breakdown.product"
        )
    return found


def parse_distribution(doc: dict) -> DistributionQuery:
    return DistributionQuery(
        common.text(doc, "event", "event"),
        tuple(common.filters(doc.get("filters"), "filters")),
        common.date_range(doc),
        common.integer(doc, "max_times", "maxTimes", 20, 2, MAX_TIMES),
        _breakdown(doc),
    )


def render_distribution(db: str, workspace: str, query: DistributionQuery) -> str:
    """Rows of (times, persons), times capped at max_times."""
    rng = query.range
    source = common.events_source(db, workspace, rng.start, rng.end, [query.event])
    cond = common.all_of([f.sql("s.properties") for f in query.filters])
    return (
        f"SELECT least(n, {query.max_times}) AS times, count() AS persons FROM ("
        f"SELECT s.person, count() AS n FROM ({source}) AS s WHERE {cond} GROUP BY s.person) "
        "GROUP BY times ORDER BY times"
    )


def shape_distribution(query: DistributionQuery, rows: list[list]) -> dict:
    counts = dict.fromkeys(range(1, query.max_times + 1), 0)
    for times, persons in rows:
        counts[int(times)] = int(persons)
    return {
        "persons": sum(counts.values()),
        "buckets": [
            {"times": k, "or_more": k == query.max_times, "persons": counts[k]} for k in range(1, query.max_times + 1)
        ],
    }


@dataclass(frozen=True)
class IntervalQuery:
    from_event: str
    to_event: str
    range: DateRange
    window_seconds: int
    breakdown: Breakdown | None = None


def parse_interval(doc: dict) -> IntervalQuery:
    query = IntervalQuery(
        common.text(doc, "from_event", "fromEvent"),
        common.text(doc, "to_event", "toEvent"),
        common.date_range(doc),
        common.integer(doc, "window_seconds", "windowSeconds", 30 * 86400, 1, MAX_WINDOW),
        _breakdown(doc),
    )
    if query.from_event == query.to_event:
        raise InvalidInput("toEvent must differ from fromEvent", "toEvent")
    return query


def _interval_sources(db: str, workspace: str, query: IntervalQuery) -> tuple[str, str]:
    """The A events of the range, and the B events up to a window after it."""
    rng = query.range
    starts = common.events_source(db, workspace, rng.start, rng.end, [query.from_event])
    ends = common.events_source(
        db, workspace, rng.start, rng.end + dt.timedelta(seconds=query.window_seconds), [query.to_event]
    )
    return starts, ends


def render_interval(db: str, workspace: str, query: IntervalQuery) -> str:
    """One row: (persons who did A, persons who then did B, avg, median, p90, min, max seconds)."""
    starts, ends = _interval_sources(db, workspace, query)
    firsts = f"SELECT s.person AS person, min(s.ts) AS first FROM ({starts}) AS s GROUP BY s.person"
    gaps = (
        "SELECT f.person, dateDiff('millisecond', f.first, min(e.ts)) / 1000 AS seconds "
        f"FROM ({firsts}) AS f INNER JOIN ({ends}) AS e ON e.person = f.person "
        f"WHERE e.ts >= f.first AND e.ts <= f.first + toIntervalSecond({query.window_seconds}) "
        "GROUP BY f.person, f.first"
    )
    # Inclusive (linear) quantiles, as the funnel's medians: quantileExact takes the upper middle value of
    # an even count, which is no median.
    return (
        f"SELECT (SELECT count() FROM ({firsts})), count(), avg(seconds), quantileExactInclusive(0.5)(seconds), "
        f"quantileExactInclusive(0.9)(seconds), min(seconds), max(seconds) FROM ({gaps})"
    )


def shape_interval(rows: list[list]) -> dict:
    return _interval_figures(rows[0])


def _interval_figures(row: list) -> dict:
    started, done, avg, median, p90, low, high = row
    some = int(done) > 0
    return {
        "persons": int(started),
        "converted": int(done),
        "avg_seconds": float(avg) if some else None,
        "median_seconds": float(median) if some else None,
        "p90_seconds": float(p90) if some else None,
        "min_seconds": float(low) if some else None,
        "max_seconds": float(high) if some else None,
    }


def shape_interval_by(rows: list[list]) -> list[dict]:
    return distribution_by.order([{"breakdown_value": row[0], **_interval_figures(row[1:])} for row in rows])


# With a breakdown the figures of the whole stay as they are and `breakdowns` adds those per value: by
# segments the values do not add up to the whole (a person in two segments counts in both, in none in none).
async def run_distribution(engine, db: str, workspace: str, query: DistributionQuery) -> dict:
    found = shape_distribution(query, await engine.rows(render_distribution(db, workspace, query)))
    if query.breakdown:
        rows = await engine.rows(distribution_by.render_distribution(db, workspace, query))
        found["breakdowns"] = distribution_by.shape_distribution(query, rows)
    return found


async def run_interval(engine, db: str, workspace: str, query: IntervalQuery) -> dict:
    found = shape_interval(await engine.rows(render_interval(db, workspace, query)))
    if query.breakdown:
        by = distribution_by.render_interval(db, workspace, query, *_interval_sources(db, workspace, query))
        found["breakdowns"] = shape_interval_by(await engine.rows(by))
    return found

"""Distribution and interval by a breakdown: per value the same figures as without one.

A person's value is read once per person, so that summed over the values (segments aside) the figures are
those of the whole: distribution, the value of the person's first counted event in the range; interval, the
value on their first A (a trait, computed trait or tag is the person's latest, as everywhere). By segments a
person counts in every listed segment they are in (common.Breakdown). Values are ranked by persons (then by
value, as trends and funnels rank them); those past the limit fold into "$other"."""

from __future__ import annotations

from services.analytics import sql
from services.analytics.models import common
from services.analytics.models.common import Breakdown


def person_value(bd: Breakdown) -> tuple[str, str]:
    """The SELECT of a person's value over their rows, and what the GROUP BY adds to the person.

    argMin over (ts, value), not ts alone: events of one instant would otherwise give whichever the engine
    read first, and the oracle (and a rerun) another."""
    value = bd.value_sql()
    if bd.kind == "segment":
        return value, f", {value}"
    return f"argMin({value}, (s.ts, {value}))", ""


def grouped(rows: str, columns: str, limit: int) -> str:
    """`rows` (one per person and value, in a column `value`) with `grp`: the value if among the top `limit`
    by persons, else "$other"; `columns` are the other columns kept."""
    ranked = (
        "SELECT *, dense_rank() OVER (ORDER BY by_value DESC, value) AS rank FROM ("
        f"SELECT *, count() OVER (PARTITION BY value) AS by_value FROM ({rows}))"
    )
    return f"SELECT {columns}, if(rank <= {limit}, value, {sql.string(common.OTHER)}) AS grp FROM ({ranked})"


def order(items: list[dict]) -> list[dict]:
    """Most persons first, "$other" last (as the funnel's results)."""
    return sorted(items, key=lambda r: (r["breakdown_value"] == common.OTHER, -r["persons"], r["breakdown_value"]))


def render_distribution(db: str, workspace: str, query) -> str:
    """Rows of (value, times, persons), times capped at max_times."""
    bd, rng = query.breakdown, query.range
    source = common.events_source(db, workspace, rng.start, rng.end, [query.event])
    cond = common.all_of([f.sql("s.properties") for f in query.filters])
    picked, also = person_value(bd)
    per_person = (
        f"SELECT s.person AS person, count() AS n, {picked} AS value FROM ({source}) AS s{bd.joins(db, workspace)} "
        f"WHERE {cond} GROUP BY s.person{also}"
    )
    return (
        f"SELECT grp, least(n, {query.max_times}) AS times, count() FROM ({grouped(per_person, 'n', bd.limit)}) "
        "GROUP BY grp, times"
    )


def shape_distribution(query, rows: list[list]) -> list[dict]:
    counts: dict[str, dict[int, int]] = {}
    for value, times, persons in rows:
        counts.setdefault(value, dict.fromkeys(range(1, query.max_times + 1), 0))[int(times)] = int(persons)
    return order(
        [
            {
                "breakdown_value": value,
                "persons": sum(by_times.values()),
                "buckets": [{"times": k, "or_more": k == query.max_times, "persons": n} for k, n in by_times.items()],
            }
            for value, by_times in counts.items()
        ]
    )


def render_interval(db: str, workspace: str, query, starts: str, ends: str) -> str:
    """Rows of (value, persons who did A, persons who then did B, avg, median, p90, min, max seconds)."""
    bd = query.breakdown
    picked, also = person_value(bd)
    firsts = (
        f"SELECT s.person AS person, min(s.ts) AS first, {picked} AS value FROM ({starts}) AS s"
        f"{bd.joins(db, workspace)} GROUP BY s.person{also}"
    )
    # A LEFT JOIN so that persons without a B keep their row (and count in `persons`); a missing B reads as
    # the epoch, before any first A, so it is never inside the window.
    inside = f"e.ts >= f.first AND e.ts <= f.first + toIntervalSecond({query.window_seconds})"
    per_person = (
        f"SELECT f.grp AS grp, countIf({inside}) > 0 AS done, "
        f"dateDiff('millisecond', f.first, minIf(e.ts, {inside})) / 1000 AS seconds "
        f"FROM ({grouped(firsts, 'person, first', bd.limit)}) AS f LEFT JOIN ({ends}) AS e ON e.person = f.person "
        "GROUP BY f.person, f.first, f.grp"
    )
    return (
        "SELECT grp, count(), countIf(done), avgIf(seconds, done), quantileExactInclusiveIf(0.5)(seconds, done), "
        "quantileExactInclusiveIf(0.9)(seconds, done), minIf(seconds, done), maxIf(seconds, done) "
        f"FROM ({per_person}) GROUP BY grp"
    )

"""Retention: of the persons who did the start event in a period (for the first time ever, or
in each period they did it), how many did the return event N periods later.

Custom brackets group the periods (e.g. days 1-3, 4-7, 8-14: `brackets` [1, 4, 8, 15], each the
first period of its bracket, the last one running to `periods` - 1); a person counts in a bracket
once, whichever of its periods they came back in. With a value property, each cell also sums that
property over the return events (revenue retention)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from services.analytics import sql
from services.analytics.models import common
from services.analytics.models.common import EPOCH, Breakdown, DateRange, Filter
from services.kit.errors import InvalidInput

PERIODS = ("day", "week", "month")
KINDS = ("first_time", "recurring")
MAX_PERIODS = 120

_BUCKET = {"day": "toDate(s.ts, {tz})", "week": "toMonday(s.ts, {tz})", "month": "toStartOfMonth(s.ts, {tz})"}
_DIFF = {
    "day": "dateDiff('day', c.cohort, r.period)",
    "week": "intDiv(dateDiff('day', c.cohort, r.period), 7)",
    "month": "dateDiff('month', c.cohort, r.period)",
}


@dataclass(frozen=True)
class RetentionQuery:
    start_event: str
    start_filters: tuple[Filter, ...]
    return_event: str
    return_filters: tuple[Filter, ...]
    kind: str
    period: str
    periods: int
    range: DateRange
    breakdown: Breakdown | None
    brackets: tuple[int, ...] = ()
    value_property: str = ""

    @property
    def columns(self) -> int:
        return len(self.brackets) if self.brackets else self.periods


def _brackets(value, periods: int) -> tuple[int, ...]:
    if not value:
        return ()
    where = "brackets"
    if (
        not isinstance(value, list)
        or len(value) > MAX_PERIODS
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise InvalidInput("brackets lists the first period of each bracket (whole numbers)", where)
    if any(b >= a for a, b in zip(value[1:], value, strict=False)) or value[0] < 0:
        raise InvalidInput("brackets must rise from 0 or more, each bracket's first period once", where)
    if value[-1] >= periods:
        raise InvalidInput(f"the last bracket starts at or after periods ({periods}): raise periods", where)
    return tuple(value)


def parse(doc: dict) -> RetentionQuery:
    breakdown = common.breakdown(doc.get("breakdown"))
    if breakdown and breakdown.kind == "product":
        raise InvalidInput("retention breaks down by a property or a trait", "breakdown.product")
    query = RetentionQuery(
        common.text(doc, "start_event", "startEvent"),
        tuple(common.filters(doc.get("start_filters"), "startFilters")),
        common.text(doc, "return_event", "returnEvent"),
        tuple(common.filters(doc.get("return_filters"), "returnFilters")),
        common.choice(doc, "kind", "kind", KINDS, "first_time"),
        common.choice(doc, "period", "period", PERIODS, "day"),
        common.integer(doc, "periods", "periods", 8, 1, MAX_PERIODS),
        common.date_range(doc),
        breakdown,
    )
    value = common.text(doc, "value_property", "valueProperty", required=False, default="")
    return dataclasses.replace(
        query,
        brackets=_brackets(doc.get("brackets"), query.periods),
        value_property=common.path(value, "valueProperty") if value else "",
    )


def _later(query: RetentionQuery) -> dt.datetime:
    """Returns are read up to `periods` periods after the range."""
    days = {"day": 1, "week": 7, "month": 31}[query.period] * query.periods
    return query.range.end + dt.timedelta(days=days + 1)


def _cohorts(db: str, workspace: str, query: RetentionQuery) -> str:
    """(person, cohort, value): the start periods that fall in the range."""
    rng, tz = query.range, sql.string(query.range.timezone)
    bucket = _BUCKET[query.period].format(tz=tz)
    cond = common.all_of([f.sql("s.properties") for f in query.start_filters])
    bd = query.breakdown
    value = bd.value_sql() if bd else "''"
    joins = bd.joins(db, workspace) if bd else ""
    # A person counts in every listed segment they are in (common.Breakdown): a segment is a group of
    # its own, not a value of the person's first event. argMin over the join's rows (one per segment)
    # kept a person in one of their segments only.
    by_segment = bd is not None and bd.kind == "segment"
    picked = value if by_segment else f"argMin({value}, s.ts)"
    also = f", {value}" if by_segment else ""
    lo, hi = sql.string(rng.date_from.isoformat()), sql.string(rng.date_to.isoformat())
    if query.kind == "first_time":
        source = common.events_source(db, workspace, EPOCH, rng.end, [query.start_event])
        return (
            f"SELECT person, cohort, value FROM (SELECT s.person AS person, argMin({bucket}, s.ts) AS cohort, "
            f"{picked} AS value, min(s.ts) AS first FROM ({source}) AS s{joins} WHERE {cond} "
            f"GROUP BY s.person{also}) WHERE first >= {sql.instant(rng.start)}"
        )
    source = common.events_source(db, workspace, rng.start, rng.end, [query.start_event])
    return (
        f"SELECT s.person AS person, {bucket} AS cohort, {picked} AS value "
        f"FROM ({source}) AS s{joins} WHERE {cond} AND cohort >= toDate({lo}) AND cohort <= toDate({hi}) "
        f"GROUP BY person, cohort{also}"
    )


def _returns(db: str, workspace: str, query: RetentionQuery) -> str:
    """(person, period, value): the periods a person came back in, and what the value property summed to."""
    rng, tz = query.range, sql.string(query.range.timezone)
    bucket = _BUCKET[query.period].format(tz=tz)
    cond = common.all_of([f.sql("s.properties") for f in query.return_filters])
    source = common.events_source(db, workspace, rng.start, _later(query), [query.return_event])
    value = f"sum(ifNull({sql.json_number('s.properties', query.value_property)}, 0))" if query.value_property else "0"
    return (
        f"SELECT s.person AS person, {bucket} AS period, {value} AS value FROM ({source}) AS s WHERE {cond} "
        "GROUP BY person, period"
    )


def _column(query: RetentionQuery) -> str:
    """The result column of a return: its period offset, or the bracket holding that offset."""
    offset = _DIFF[query.period]
    if not query.brackets:
        return offset
    return f"arrayCount(b -> b <= {offset}, [{', '.join(str(b) for b in query.brackets)}]) - 1"


def render(db: str, workspace: str, query: RetentionQuery) -> str:
    """Rows of (cohort, value, column, persons, summed value); column -1 holds the cohort's size."""
    cohorts, returns = _cohorts(db, workspace, query), _returns(db, workspace, query)
    offset = _DIFF[query.period]
    return (
        f"WITH c AS ({cohorts}) "
        "SELECT toString(cohort) AS cohort, value, toInt64(-1) AS k, uniqExact(person) AS n, toFloat64(0) AS v "
        "FROM c GROUP BY cohort, value "
        "UNION ALL "
        f"SELECT toString(c.cohort) AS cohort, c.value AS value, toInt64({_column(query)}) AS k, "
        "uniqExact(c.person) AS n, toFloat64(sum(r.value)) AS v "
        f"FROM c INNER JOIN ({returns}) AS r ON r.person = c.person "
        f"WHERE r.period >= c.cohort AND {offset} < {query.periods} AND k >= 0 GROUP BY cohort, value, k"
    )


def render_cell(db: str, workspace: str, query: RetentionQuery, cohort: dt.date, period: int) -> str:
    """The persons of one cell (column -1: the whole cohort; with brackets, a column is a bracket)."""
    cohorts, returns = _cohorts(db, workspace, query), _returns(db, workspace, query)
    at = sql.string(cohort.isoformat())
    if period < 0:
        return f"SELECT DISTINCT person FROM ({cohorts}) WHERE cohort = toDate({at}) ORDER BY person"
    return (
        f"SELECT DISTINCT c.person FROM ({cohorts}) AS c INNER JOIN ({returns}) AS r ON r.person = c.person "
        f"WHERE c.cohort = toDate({at}) AND r.period >= c.cohort AND {_DIFF[query.period]} < {query.periods} "
        f"AND {_column(query)} = {int(period)} ORDER BY c.person"
    )


def shape(query: RetentionQuery, rows: list[list]) -> dict:
    cells: dict[tuple[str, str], dict[int, tuple[int, float]]] = {}
    for cohort, value, k, n, v in rows:
        cells.setdefault((cohort, value if query.breakdown else ""), {})[int(k)] = (int(n), float(v))
    out = []
    for (cohort, value), by_k in sorted(cells.items()):
        size = by_k.get(-1, (0, 0.0))[0]
        counts = [by_k.get(k, (0, 0.0))[0] for k in range(query.columns)]
        out.append(
            {
                "cohort": cohort,
                "breakdown_value": value if query.breakdown else None,
                "size": size,
                "counts": counts,
                "shares": [c / size if size else 0.0 for c in counts],
                "values": [round(by_k.get(k, (0, 0.0))[1], 2) for k in range(query.columns)]
                if query.value_property
                else None,
            }
        )
    return {"period": query.period, "brackets": list(query.brackets) or None, "rows": out}


async def run(engine, db: str, workspace: str, query: RetentionQuery) -> dict:
    return shape(query, await engine.rows(render(db, workspace, query)))


async def cell_people(
    engine, db: str, workspace: str, query: RetentionQuery, cohort: dt.date, period: int
) -> list[str]:
    if not -1 <= period < query.columns:
        raise InvalidInput(f"period must be from -1 (the whole cohort) to {query.columns - 1}", "period")
    return [r[0] for r in await engine.rows(render_cell(db, workspace, query, cohort, period))]

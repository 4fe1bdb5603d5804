"""Trends: events, unique persons, or the sum/average of a property per hour, day, week or month
in the workspace's time zone (DST-safe: buckets are computed by the engine in that zone)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.analytics import sql
from services.analytics.models import common, formulas
from services.analytics.models.common import Breakdown, DateRange, Filter
from services.kit.errors import InvalidInput

INTERVALS = ("hour", "day", "week", "month")
MATHS = ("total", "persons", "sum", "avg")
MAX_SERIES = 10
MAX_BUCKETS = 5000

# The bucket of `ts` in `tz`, as the text the result labels use.
_BUCKET = {
    "hour": "toString(toStartOfHour(ts, {tz}))",
    "day": "toString(toDate(ts, {tz}))",
    "week": "toString(toMonday(ts, {tz}))",
    "month": "toString(toStartOfMonth(ts, {tz}))",
}


@dataclass(frozen=True)
class Series:
    event: str
    math: str
    property: str
    filters: tuple[Filter, ...]

    @property
    def per_item(self) -> bool:
        return self.property.startswith("product.")


@dataclass(frozen=True)
class TrendsQuery:
    series: tuple[Series, ...]
    interval: str
    range: DateRange
    breakdown: Breakdown | None
    # Formulas over the series by letter ("B / A"), each shown as one more line.
    formulas: tuple[str, ...] = ()


def parse(doc: dict) -> TrendsQuery:
    items = doc.get("series") or []
    if not items:
        raise InvalidInput("series needs at least one entry", "series")
    if len(items) > MAX_SERIES:
        raise InvalidInput(f"series has more than {MAX_SERIES} entries", "series")
    series = []
    for i, item in enumerate(items):
        at = f"series[{i}]"
        math = common.choice(item, "math", f"{at}.math", MATHS, "total")
        prop = common.text(item, "property", f"{at}.property", required=math in ("sum", "avg"))
        if prop:
            common.path(prop, f"{at}.property")
        series.append(
            Series(
                common.text(item, "event", f"{at}.event"),
                math,
                prop,
                tuple(common.filters(item.get("filters"), f"{at}.filters")),
            )
        )
    given = doc.get("formulas") or []
    if not isinstance(given, list) or len(given) > MAX_SERIES:
        raise InvalidInput(f"formulas is a list of at most {MAX_SERIES} formulas", "formulas")
    for i, text in enumerate(given):
        formulas.parse(text if isinstance(text, str) else "", len(series), f"formulas[{i}]")
    query = TrendsQuery(
        tuple(series),
        common.choice(doc, "interval", "interval", INTERVALS, "day"),
        common.date_range(doc),
        common.breakdown(doc.get("breakdown")),
        tuple(given),
    )
    if len(buckets(query)) > MAX_BUCKETS:
        raise InvalidInput(f"more than {MAX_BUCKETS} {query.interval}s in the date range", "interval")
    return query


def buckets(query: TrendsQuery) -> list[str]:
    """Every bucket label of the range, in order (so empty buckets show as zeros)."""
    rng = query.range
    if query.interval == "hour":
        out, seen = [], set()
        at = rng.start
        while at < rng.end:
            label = at.astimezone(rng.zone).strftime("%Y-%m-%d %H:00:00")
            if label not in seen:  # the repeated hour when clocks go back is one bucket
                seen.add(label)
                out.append(label)
            at += dt.timedelta(hours=1)
            if len(out) > MAX_BUCKETS:
                break
        return out
    day = rng.date_from
    if query.interval == "week":
        day -= dt.timedelta(days=day.weekday())
    elif query.interval == "month":
        day = day.replace(day=1)
    out = []
    while day <= rng.date_to and len(out) <= MAX_BUCKETS:
        out.append(day.isoformat())
        if query.interval == "day":
            day += dt.timedelta(days=1)
        elif query.interval == "week":
            day += dt.timedelta(days=7)
        else:
            day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def _measure(series: Series) -> tuple[str, str]:
    """The series' measure as a partial aggregate of its rows, and how partials become the figure: a
    template whose {} is the merge of partials (of one group, or a window over several)."""
    if series.math == "total":
        return "countState()", "toFloat64(countMerge(st){})"
    if series.math == "persons":
        return "uniqExactState(person)", "toFloat64(uniqExactMerge(st){})"
    fn = "sum" if series.math == "sum" else "avg"
    return f"{fn}State(x)", f"toFloat64(ifNull({fn}Merge(st){{}}, 0))"


def render(db: str, workspace: str, query: TrendsQuery, series: Series) -> str:
    """One series: rows of (bucket, breakdown value, measure)."""
    rng, bd = query.range, query.breakdown
    per_item = series.per_item or (bd is not None and bd.kind == "product")
    joins = bd.joins(db, workspace) if bd else ""
    if series.per_item:
        x = sql.json_number("s.item", series.property.removeprefix("product."))
    elif series.property:
        x = sql.json_number("s.properties", series.property)
    else:
        x = "NULL"
    value = bd.value_sql() if bd else "''"
    where = common.all_of([f.sql("s.properties") for f in series.filters])
    bucket = _BUCKET[query.interval].format(tz=sql.string(rng.timezone))
    source = common.events_source(db, workspace, rng.start, rng.end, [series.event])
    if per_item:
        # One row per item of products[]; arrayJoin in a subquery rather than an ARRAY JOIN clause,
        # which ClickHouse 26.9's analyzer mishandles inside a CTE read twice (NOT_FOUND_COLUMN_IN_BLOCK).
        source = f"SELECT *, arrayJoin(products) AS item FROM ({source})"
    state, merge = _measure(series)
    rows = f"SELECT s.person AS person, s.ts AS ts, {value} AS bv, {x} AS x FROM ({source}) AS s{joins} WHERE {where}"
    # Top N by the series' own measure over the whole range, the rest folded into "$other" by the
    # engine (unique persons cannot be added up afterwards). The events are read once: each (bucket,
    # value) keeps a partial aggregate, a value's total over the range merges its partials (a window
    # over the few grouped rows), and "$other" merges those of the values past the limit. (A CTE read
    # by both the ranking and the grouping was computed twice: 1.1 s at 10,000,000 events, half of it
    # the JSON extraction of the breakdown value, done twice.)
    limit = bd.limit if bd else 1
    grouped = f"SELECT {bucket} AS bucket, bv, {state} AS st FROM ({rows}) GROUP BY bucket, bv"
    totals = f"SELECT bucket, bv, st, {merge.format(' OVER (PARTITION BY bv)')} AS total FROM ({grouped})"
    ranked = f"SELECT bucket, bv, st, dense_rank() OVER (ORDER BY total DESC, bv) AS rank FROM ({totals})"
    return (
        f"SELECT bucket, if(rank <= {limit}, bv, {sql.string(common.OTHER)}) AS v, {merge.format('')} AS m "
        f"FROM ({ranked}) GROUP BY bucket, v ORDER BY bucket, v"
    )


def shape(query: TrendsQuery, per_series: list[list[list]]) -> dict:
    labels = buckets(query)
    index = {label: i for i, label in enumerate(labels)}
    out = []
    for series, rows in zip(query.series, per_series, strict=True):
        by_value: dict[str, list[float]] = {}
        for bucket, value, measure in rows:
            values = by_value.setdefault(value, [0.0] * len(labels))
            if bucket in index:
                values[index[bucket]] = float(measure)
        if not by_value:
            by_value[""] = [0.0] * len(labels)
        for value in sorted(by_value, key=lambda v: (v == common.OTHER, -sum(by_value[v]), v)):
            out.append(
                {
                    "event": series.event,
                    "math": series.math,
                    "breakdown_value": value if query.breakdown else None,
                    "values": by_value[value],
                    "total": sum(by_value[value]) if series.math in ("total", "sum") else None,
                    "series": series,
                }
            )
    # Per breakdown value: each series' line of that value by letter (zeros where a series has none).
    lines: dict[str | None, dict[str, list[float]]] = {}
    for line in out:
        letter = chr(ord("A") + next(k for k, s in enumerate(query.series) if s is line["series"]))
        lines.setdefault(line["breakdown_value"], {})[letter] = line["values"]
    for i, text in enumerate(query.formulas):
        formula = formulas.parse(text, len(query.series), f"formulas[{i}]")
        for value, values in lines.items():
            out.append(
                {
                    "event": text,
                    "math": "formula",
                    "breakdown_value": value,
                    "values": formula(values, len(labels)),
                    "total": None,
                    "series": None,
                }
            )
    for line in out:
        line.pop("series")
    return {"buckets": labels, "series": out}


async def run(engine, db: str, workspace: str, query: TrendsQuery) -> dict:
    results = [await engine.rows(render(db, workspace, query, s)) for s in query.series]
    return shape(query, results)

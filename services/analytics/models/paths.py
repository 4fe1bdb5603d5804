"""Paths: what persons did after a start event and/or before an end event, repeats collapsed,
each path's share of all persons with a path (the hidden ones included).

With a breakdown, each group's paths the same way, among the group's persons. A person's value is
person-level: their trait, computed trait, tag or segments (a person in two listed segments walks
in both), or an event property as their first event of the range carries it (excluded events not
counted; at one instant, the smallest value). Groups are ranked by persons with a path (top N plus
"$other"), as the other models rank them."""

from __future__ import annotations

from dataclasses import dataclass

from services.analytics import sql
from services.analytics.models import common
from services.analytics.models.common import Breakdown, DateRange
from services.kit.errors import InvalidInput

MAX_DEPTH = 30
MAX_PATHS = 200


@dataclass(frozen=True)
class PathsQuery:
    start_event: str
    end_event: str
    depth: int
    limit: int
    exclude: tuple[str, ...]
    range: DateRange
    breakdown: Breakdown | None = None


def parse(doc: dict) -> PathsQuery:
    start = common.text(doc, "start_event", "startEvent", required=False)
    end = common.text(doc, "end_event", "endEvent", required=False)
    exclude = doc.get("exclude") or []
    if not isinstance(exclude, list) or any(not isinstance(e, str) or not e for e in exclude):
        raise InvalidInput("exclude is a list of event names", "exclude")
    if start in exclude or end in exclude:
        raise InvalidInput("exclude names the start or end event", "exclude")
    return PathsQuery(
        start,
        end,
        common.integer(doc, "depth", "depth", 10, 2, MAX_DEPTH),
        common.integer(doc, "limit", "limit", 20, 1, MAX_PATHS),
        tuple(exclude),
        common.date_range(doc),
        _breakdown(doc.get("breakdown")),
    )


def _breakdown(doc) -> Breakdown | None:
    found = common.breakdown(doc)
    if found and found.kind == "product":
        raise InvalidInput("paths break down by a person's value, not by a product", "breakdown.product")
    return found


def render(db: str, workspace: str, query: PathsQuery) -> str:
    """Rows of (path as an array of nodes, persons), every path of the range (the caller keeps the top ones)."""
    persons = _persons(db, workspace, query, False)
    return f"SELECT path AS p, count() AS persons FROM ({persons}) GROUP BY p ORDER BY persons DESC, p"


def render_groups(db: str, workspace: str, query: PathsQuery) -> str:
    """Rows of (group, path, persons): the breakdown's top N values, then "$other"."""
    bd = query.breakdown
    rows = _persons(db, workspace, query, True)
    if bd.kind == "segment":
        rows = (
            f"SELECT w.path AS path, sg.segment AS value FROM ({rows}) AS w "
            f"INNER JOIN ({bd.members}) AS sg ON sg.person = w.person"
        )
    ranked = (
        "SELECT *, dense_rank() OVER (ORDER BY total DESC, value) AS rank FROM ("
        f"SELECT *, count() OVER (PARTITION BY value) AS total FROM ({rows}))"
    )
    group = f"if(rank <= {bd.limit}, value, {sql.string(common.OTHER)})"
    return (
        f"SELECT {group} AS grp, path AS p, count() AS persons FROM ({ranked}) "
        "GROUP BY grp, p ORDER BY grp, persons DESC, p"
    )


def _persons(db: str, workspace: str, query: PathsQuery, valued: bool) -> str:
    """Rows of (person, value, path) of every person with a path; `value` only when `valued`."""
    rng = query.range
    source = common.events_source(db, workspace, rng.start, rng.end, None)
    # A page or screen shows as its name ("$page Home"), so paths tell pages apart.
    node = "if(s.name != '', concat(s.event, ' ', s.name), s.event)"
    skip = f" WHERE s.event NOT IN {sql.strings(query.exclude)}" if query.exclude else ""
    # Events at the same instant go by node name: sorting by time alone left them in the order rows
    # happened to arrive, so one query could answer differently twice.
    seq = "arrayMap(x -> x.2, arraySort(groupArray((s.ts, node))))"
    # Repeats collapsed: an element equal to the one before it is dropped. The one before comes from
    # the array shifted by one (a NUL, never a node, in front), not from `raw[i - 1]` inside the
    # lambda: a lambda that reads a captured array copies it once per element, which for a person
    # with tens of thousands of events is billions of elements.
    collapsed = "arrayFilter((x, before) -> x != before, raw, arrayPushFront(arrayPopBack(raw), char(0)))"
    step = "collapsed"
    if query.start_event:
        step = f"arraySlice(collapsed, indexOf(collapsed, {sql.string(query.start_event)}))"
    ended = "started"
    if query.end_event:
        # Up to the first end after the start, and the `depth` nodes that lead to it. The search starts
        # past the start node, so a start that is also the end finds the next visit (a loop), not itself.
        end = sql.string(query.end_event)
        past = 1 if query.start_event else 0
        at = f"indexOf(arraySlice(started, {past + 1}), {end})"
        ended = f"if({at} = 0, [], arraySlice(started, 1, {at} + {past}))"
        cut = f"arraySlice(ended, greatest(1, length(ended) - {query.depth} + 1), {query.depth})"
    else:
        cut = f"arraySlice(ended, 1, {query.depth})"
    has_start = f"has(collapsed, {sql.string(query.start_event)})" if query.start_event else "1"
    bd = query.breakdown if valued else None
    value, joins = "''", ""
    if bd is not None and bd.kind == "property":
        v = bd.value_sql()
        value = f"argMin({v}, (s.ts, {v}))"
    elif bd is not None and bd.kind != "segment":
        value, joins = "any(tr.value)", bd.joins(db, workspace)
    return (
        f"SELECT person, value, {cut} AS path FROM ("
        f"SELECT person, value, {step} AS started, {ended} AS ended FROM ("
        f"SELECT person, value, raw, {collapsed} AS collapsed FROM ("
        f"SELECT s.person AS person, {value} AS value, {seq} AS raw "
        f"FROM (SELECT *, {node} AS node FROM ({source}) AS s) AS s{joins}{skip} "
        f"GROUP BY s.person)) WHERE {has_start}) WHERE length(path) > 0"
    )


def shape(query: PathsQuery, rows: list[list]) -> dict:
    total = sum(int(n) for _, n in rows)
    shown = rows[: query.limit]
    hidden = sum(int(n) for _, n in rows[query.limit :])
    return {
        "total_persons": total,
        "paths": [{"steps": list(p), "persons": int(n), "share": int(n) / total if total else 0.0} for p, n in shown],
        "hidden_paths": len(rows) - len(shown),
        "hidden_persons": hidden,
        "hidden_share": hidden / total if total else 0.0,
    }


async def run(engine, db: str, workspace: str, query: PathsQuery) -> dict:
    found = shape(query, await engine.rows(render(db, workspace, query)))
    if query.breakdown is None:
        return found
    groups: dict[str, list[list]] = {}
    for group, path, persons in await engine.rows(render_groups(db, workspace, query)):
        groups.setdefault(group, []).append([path, persons])
    # The whole stays the whole query's: by segments, a person in two counts in both groups.
    found["breakdowns"] = sorted(
        ({"breakdown_value": g, **shape(query, rows)} for g, rows in groups.items()),
        key=lambda b: (b["breakdown_value"] == common.OTHER, -b["total_persons"], b["breakdown_value"]),
    )
    return found

"""Paths: what persons did after a start event and/or before an end event, repeats collapsed,
each path's share of all persons with a path (the hidden ones included)."""

from __future__ import annotations

from dataclasses import dataclass

from services.analytics import sql
from services.analytics.models import common
from services.analytics.models.common import DateRange
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
    )


def render(db: str, workspace: str, query: PathsQuery) -> str:
    """Rows of (path as an array of nodes, persons), every path of the range (the caller keeps the top ones)."""
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
    return (
        f"SELECT path AS p, count() AS persons FROM ("
        f"SELECT {cut} AS path FROM ("
        f"SELECT {step} AS started, {ended} AS ended FROM ("
        f"SELECT raw, {collapsed} AS collapsed FROM ("
        f"SELECT s.person, {seq} AS raw FROM (SELECT *, {node} AS node FROM ({source}) AS s) AS s{skip} "
        f"GROUP BY s.person)) WHERE {has_start}) WHERE length(path) > 0) GROUP BY p ORDER BY persons DESC, p"
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
    return shape(query, await engine.rows(render(db, workspace, query)))

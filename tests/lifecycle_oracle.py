"""Lifecycle and stickiness by day, computed in plain Python from resolved events (each under its
current person), with or without a breakdown by an event property.

An event is (person, event, at, value): value is the breakdown property as text ('' when absent).
Only event "A" counts. A person's value is the one on their first "A" event read: from one day
before the range for lifecycle (a person dormant on its first day has one too), in the range for
stickiness; of events at the same instant, the smallest value. The top `limit` values by persons
stay, ties broken by the value, and the rest fold into "$other". Broken down by segments instead, a
person counts in every segment they are in (by their current id) and in no group when in none."""

from __future__ import annotations

import datetime as dt
import zoneinfo

STATUSES = ("new", "returning", "resurrecting", "dormant")
OTHER = "$other"
DAY = dt.timedelta(days=1)


def _statuses(events, days: list[dt.date], zone, start: dt.datetime, end: dt.datetime) -> dict:
    """(day, status) -> the persons in that status on that day."""
    active: dict[dt.date, set[str]] = {}
    first: dict[str, dt.date] = {}
    for p, e, at, _ in events:
        if e != "A" or at >= end:
            continue
        day = at.astimezone(zone).date()
        first[p] = min(first.get(p, day), day)
        if at >= start - DAY:
            active.setdefault(day, set()).add(p)
    out: dict[tuple[dt.date, str], set[str]] = {}
    for d in days:
        now, before = active.get(d, set()), active.get(d - DAY, set())
        for p in now:
            status = "new" if first[p] == d else "returning" if p in before else "resurrecting"
            out.setdefault((d, status), set()).add(p)
        out.setdefault((d, "dormant"), set()).update(before - now)
    return out


def _first_values(events, start: dt.datetime, end: dt.datetime) -> dict[str, str]:
    found: dict[str, tuple[dt.datetime, str]] = {}
    for p, e, at, value in events:
        if e == "A" and start <= at < end:
            found[p] = min(found.get(p, (at, value)), (at, value))
    return {p: v for p, (_, v) in found.items()}


def _groups(persons: set[str], values: dict[str, list[str]], limit: int) -> tuple[list[str], dict[str, set[str]]]:
    """The groups in rank order, and each person's groups (one, or for segments every one they are in)."""
    by_value: dict[str, set[str]] = {}
    for p in persons:
        for v in values.get(p, []):
            by_value.setdefault(v, set()).add(p)
    ranked = sorted(by_value, key=lambda v: (-len(by_value[v]), v))
    kept = ranked[:limit]
    groups = {p: {v if v in kept else OTHER for v in values.get(p, [])} for p in persons}
    return kept + ([OTHER] if len(ranked) > limit else []), groups


def _values(events, start: dt.datetime, end: dt.datetime, segments: dict[str, set[str]] | None):
    """person -> their values: the segments they are in, or the property of their first event."""
    if segments is not None:
        return {p: [s for s, who in segments.items() if p in who] for p, *_ in events}
    return {p: [v] for p, v in _first_values(events, start, end).items()}


def lifecycle(
    events, date_from: dt.date, date_to: dt.date, timezone: str, limit: int | None = None, segments=None
) -> dict:
    zone = zoneinfo.ZoneInfo(timezone)
    start = dt.datetime.combine(date_from, dt.time(), zone)
    end = dt.datetime.combine(date_to + DAY, dt.time(), zone)
    days = [date_from + DAY * i for i in range((date_to - date_from).days + 1)]
    cells = _statuses(events, days, zone, start, end)

    def counts(keep) -> dict[str, list[int]]:
        return {s: [sum(1 for p in cells.get((d, s), ()) if keep(p)) for d in days] for s in STATUSES}

    out = {"buckets": [d.isoformat() for d in days], **counts(lambda p: True)}
    if limit is not None:
        values = _values(events, start - DAY, end, segments)
        order, groups = _groups(set().union(*cells.values()) if cells else set(), values, limit)
        out["breakdowns"] = [{"breakdown_value": g, **counts(lambda p, g=g: g in groups[p])} for g in order]
    return out


def stickiness(
    events, date_from: dt.date, date_to: dt.date, timezone: str, limit: int | None = None, segments=None
) -> dict:
    zone = zoneinfo.ZoneInfo(timezone)
    start = dt.datetime.combine(date_from, dt.time(), zone)
    end = dt.datetime.combine(date_to + DAY, dt.time(), zone)
    periods: dict[str, set[dt.date]] = {}
    for p, e, at, _ in events:
        if e == "A" and start <= at < end:
            periods.setdefault(p, set()).add(at.astimezone(zone).date())
    n_days = (date_to - date_from).days + 1

    def counts(keep) -> list[int]:
        return [sum(1 for p, ds in periods.items() if len(ds) == k and keep(p)) for k in range(1, n_days + 1)]

    out = {"interval": "day", "persons": counts(lambda p: True)}
    if limit is not None:
        order, groups = _groups(set(periods), _values(events, start, end, segments), limit)
        out["breakdowns"] = [{"breakdown_value": g, "persons": counts(lambda p, g=g: g in groups[p])} for g in order]
    return out

"""Event interval in plain Python, from the documented semantics (README "Analytics",
models/distribution.py): for each person (merges applied) who did A in the range, their first A there;
the time to their next B (any B at or after that first A, up to window_seconds after it, the B itself
may fall after the range) in seconds, to the millisecond. Reported: persons with an A, persons with such
a B, and over their times the average, median (the middle one, or the mean of the middle two), the 90th
percentile (linear between the closest ranks, the definition the median is a case of), minimum and
maximum; None for each when nobody converted.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics

from tests.distribution_oracle import as_text, ordered, top
from tests.oracle_log import Event, bounds, current


def percentile(values: list[float], q: float) -> float:
    xs = sorted(values)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def firsts_of(log: list[Event], mapping: dict[str, str], timezone: str, a: str) -> dict[str, dt.datetime]:
    """person -> the instant of their first A in the range."""
    start, end = bounds(timezone)
    firsts: dict[str, dt.datetime] = {}
    for e in log:
        if e.event == a and start <= e.at < end:
            person = current(mapping, e.person)
            firsts[person] = min(firsts.get(person, e.at), e.at)
    return firsts


def gaps_of(log, mapping, firsts: dict[str, dt.datetime], b: str, window: int) -> dict[str, float]:
    """person -> seconds from their first A to their next B, for those who did one within the window."""
    gaps = {}
    for person, first in firsts.items():
        later = [
            e.at
            for e in log
            if e.event == b
            and current(mapping, e.person) == person
            and first <= e.at <= first + dt.timedelta(seconds=window)
        ]
        if later:
            gaps[person] = (min(later) - first) / dt.timedelta(milliseconds=1) / 1000
    return gaps


def figures(persons: int, gaps: list[float]) -> dict:
    some = bool(gaps)
    return {
        "persons": persons,
        "converted": len(gaps),
        "avg_seconds": statistics.fmean(gaps) if some else None,
        "median_seconds": statistics.median(gaps) if some else None,
        "p90_seconds": percentile(gaps, 0.9) if some else None,
        "min_seconds": min(gaps) if some else None,
        "max_seconds": max(gaps) if some else None,
    }


def interval(log: list[Event], mapping: dict[str, str], timezone: str, a: str, b: str, window: int) -> dict:
    firsts = firsts_of(log, mapping, timezone, a)
    return figures(len(firsts), list(gaps_of(log, mapping, firsts, b, window).values()))


def interval_by(log, mapping, timezone: str, a: str, b: str, window: int, key: str, limit: int) -> list[dict]:
    """By an event property: a person's value is that of their first A (of several at that instant, the
    smallest value); per value (top `limit` by persons plus "$other") the figures of interval()."""
    firsts = firsts_of(log, mapping, timezone, a)
    gaps = gaps_of(log, mapping, firsts, b, window)
    # The smallest value among the A events at the person's first instant (the engine's tie-break).
    value: dict[str, str] = {}
    for e in log:
        person = current(mapping, e.person)
        if e.event == a and person in firsts and e.at == firsts[person]:
            text = as_text(e.properties, key)
            value[person] = min(value.get(person, text), text)
    persons_by_value: dict[str, set[str]] = {}
    for person, v in value.items():
        persons_by_value.setdefault(v, set()).add(person)
    group = top(persons_by_value, limit)
    members: dict[str, list[str]] = {}
    for person, v in value.items():
        members.setdefault(group[v], []).append(person)
    return ordered(
        [{"breakdown_value": g, **figures(len(ps), [gaps[p] for p in ps if p in gaps])} for g, ps in members.items()]
    )

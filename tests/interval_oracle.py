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

from tests.oracle_log import Event, bounds, current


def percentile(values: list[float], q: float) -> float:
    xs = sorted(values)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def interval(log: list[Event], mapping: dict[str, str], timezone: str, a: str, b: str, window: int) -> dict:
    start, end = bounds(timezone)
    firsts: dict[str, dt.datetime] = {}
    for e in log:
        if e.event == a and start <= e.at < end:
            person = current(mapping, e.person)
            firsts[person] = min(firsts.get(person, e.at), e.at)
    gaps = []
    for person, first in firsts.items():
        later = [
            e.at
            for e in log
            if e.event == b
            and current(mapping, e.person) == person
            and first <= e.at <= first + dt.timedelta(seconds=window)
        ]
        if later:
            gaps.append((min(later) - first) / dt.timedelta(milliseconds=1) / 1000)
    some = bool(gaps)
    return {
        "persons": len(firsts),
        "converted": len(gaps),
        "avg_seconds": statistics.fmean(gaps) if some else None,
        "median_seconds": statistics.median(gaps) if some else None,
        "p90_seconds": percentile(gaps, 0.9) if some else None,
        "min_seconds": min(gaps) if some else None,
        "max_seconds": max(gaps) if some else None,
    }

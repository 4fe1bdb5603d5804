"""When a person usually orders a category again (pure, no I/O).

A profile keeps `order_history`: per category, the times of the person's last
ORDERS_KEPT orders containing it ([{category, at: [times, ascending]}], sorted by
category; a list, not a map, because category names are shop input and may hold
`.` or start with `$`). The history is a function of the set of (category, order
time) pairs seen: times are deduplicated, so a replayed order (even under a new
messageId) adds nothing, and keeping the newest N of a union does not depend on
the order the pairs came in, so imported history that arrives unordered gives
what in-order delivery gives, and a merge is a union. The one exception is the
bound on categories: a category pushed out (MAX_CATEGORIES newer ones) and later
ordered again restarts from that order.

The forecast reads the history: a category's usual interval is the median gap
between its kept shopping occasions (orders less than a day after the previous
occasion belong to it; the median resists one odd gap), its expected next order
its last order plus that interval, for categories ordered on at least two occasions.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

ORDERS_KEPT = 10
MAX_CATEGORIES = 20
DAY_SECONDS = 86400.0
# Orders this close are one shopping occasion (a basket split in two), not a reorder interval.
SAME_OCCASION = dt.timedelta(hours=24)

History = list[dict]


def _canonical(times_by_category: dict[str, set[dt.datetime]]) -> History:
    """The bounded, sorted form: newest ORDERS_KEPT times per category, the MAX_CATEGORIES most recent categories."""
    kept = {c: sorted(times)[-ORDERS_KEPT:] for c, times in times_by_category.items() if times}
    recent = sorted(kept, key=lambda c: (kept[c][-1], c), reverse=True)[:MAX_CATEGORIES]
    return [{"category": c, "at": kept[c]} for c in sorted(recent)]


def _as_sets(histories: Iterable[History | None]) -> dict[str, set[dt.datetime]]:
    out: dict[str, set[dt.datetime]] = {}
    for history in histories:
        for entry in history or []:
            out.setdefault(entry["category"], set()).update(entry["at"])
    return out


def record(history: History | None, categories: Iterable[str], at: dt.datetime) -> History:
    """The history after an order at `at` containing these categories."""
    times = _as_sets([history])
    for category in categories:
        times.setdefault(category, set()).add(at)
    return _canonical(times)


def union(histories: Iterable[History | None]) -> History:
    """Several persons' (or archives') histories as one."""
    return _canonical(_as_sets(histories))


@dataclass(frozen=True)
class Forecast:
    category: str
    interval_days: float
    next_at: dt.datetime


def _occasions(times: list[dt.datetime]) -> list[dt.datetime]:
    """The sorted times with those within SAME_OCCASION of the occasion's first order left out."""
    out: list[dt.datetime] = []
    for at in times:
        if not out or at - out[-1] >= SAME_OCCASION:
            out.append(at)
    return out


def _median_gap(times: list[dt.datetime]) -> dt.timedelta:
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    # Whole milliseconds: MongoDB stores datetimes to the millisecond, so stored and fresh values agree.
    return dt.timedelta(milliseconds=round(statistics.median(gaps) * 1000))


def forecast(history: History | None) -> Forecast | None:
    """The category the person is expected to order next, its usual interval and when.

    Among categories ordered on two or more occasions, the earliest expected next order,
    skipping categories already overdue at the person's latest order of any
    kept category: one the person stopped buying while still ordering other things
    would otherwise hold the forecast in the past for ever. Ties go to the
    category name, so the answer is a function of the history alone.
    """
    entries = history or []
    if not entries:
        return None
    latest = max(e["at"][-1] for e in entries)
    best: Forecast | None = None
    for entry in entries:
        times = entry["at"]
        occasions = _occasions(times)
        if len(occasions) < 2:
            continue
        gap = _median_gap(occasions)
        next_at = times[-1] + gap
        if next_at < latest:
            continue
        candidate = Forecast(entry["category"], round(gap.total_seconds() / DAY_SECONDS, 2), next_at)
        if best is None or (candidate.next_at, candidate.category) < (best.next_at, best.category):
            best = candidate
    return best

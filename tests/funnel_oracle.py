"""The pure-Python funnel walker: the oracle the engine's funnel SQL (services/analytics/models/funnels.py)
is compared with. It reads one sorted sequence per person of (ms, step mask, exclusion mask, breakdown
value, held value or values) rows, the shape the service computed in Python before the funnel moved into the engine.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from services.analytics.models import common
from services.analytics.models.funnels import FunnelQuery


def held_sequences(query: FunnelQuery, seq: list) -> list[list]:
    """One sequence per value of the held property: its steps, plus every row that is no step (exclusions,
    and in a strict funnel the other events), which count whatever value they carry."""
    if not query.hold_constant:
        return [seq]
    values = sorted({v for row in seq if row[1] for v in _held(row[4])})
    return [[row for row in seq if v in _held(row[4]) or not row[1]] for v in values]


def _held(value) -> tuple:
    """A row's held values: one text (a property), or a tuple of them (an order's items)."""
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(value)


@dataclass
class Attempt:
    level: int  # steps reached (0: none)
    times: list[int]  # ms of each reached step
    values: list[str]  # the breakdown value of each step reached
    value: str = ""  # the one the attribution picks


def walk(query: FunnelQuery, seq: list, entry_from: int, entry_to: int) -> Attempt:
    """The best attempt of one sequence: most steps reached (earliest on a tie), exclusions honoured."""
    best = Attempt(0, [], [])
    n = len(query.steps)
    window = query.window_seconds * 1000
    for i, (ms, mask, _excl, _value, _held) in enumerate(seq):
        if not entry_from <= ms < entry_to:
            continue
        if query.order == "any":
            if not mask:
                continue
            attempt = _any_order(query, seq, i, window)
        else:
            if not mask & 1:
                continue
            attempt = _in_order(query, seq, i, window)
        if attempt is None:
            continue
        attempt.value = _attributed(query, attempt)
        if attempt.level > best.level:
            best = attempt
        if best.level == n:
            break
    return best


def _in_order(query: FunnelQuery, seq: list, start: int, window: int) -> Attempt | None:
    n = len(query.steps)
    t0 = seq[start][0]
    times, level, values = [t0], 1, [seq[start][3]]
    for ms, mask, excl, value, _ in seq[start + 1 :]:
        if ms > t0 + window or level == n:
            break
        if excl and any(excl & (1 << j) and e.from_step < level <= e.to_step for j, e in enumerate(query.exclusions)):
            return None  # an exclusion between the steps it names: this attempt does not count
        step = query.steps[level]
        if mask & (1 << level):
            gap = ms - times[-1]
            if step.max_seconds is not None and gap > step.max_seconds * 1000:
                break  # later events are later still: this attempt stops here
            if gap >= step.min_seconds * 1000:
                times.append(ms)
                values.append(value)
                level += 1
                continue
        if query.order == "strict" and not mask & (1 << (level - 1)):
            break  # any other event breaks a strict funnel (a repeat of the current step does not)
    return Attempt(level, times, values)


def _any_order(query: FunnelQuery, seq: list, start: int, window: int) -> Attempt | None:
    n = len(query.steps)
    t0 = seq[start][0]
    done: set[int] = set()
    times: list[int] = []
    values: list[str] = []
    for ms, mask, excl, value, _ in seq[start:]:
        if ms > t0 + window or len(done) == n:
            break
        if excl and any(
            excl & (1 << j) and e.from_step < len(done) + 1 <= e.to_step for j, e in enumerate(query.exclusions)
        ):
            return None
        for k in range(n):
            if mask & (1 << k) and k not in done:
                done.add(k)
                times.append(ms)
                values.append(value)
                break
    return Attempt(len(done), times, values)


def _attributed(query: FunnelQuery, attempt: Attempt) -> str:
    if query.attribution == "last":
        return attempt.values[-1]
    if query.attribution == "step":
        # Persons who did not reach the step have no value there.
        return attempt.values[query.attribution_step] if attempt.level > query.attribution_step else ""
    return attempt.values[0]


def outcomes(query: FunnelQuery, rows: list[list], now: dt.datetime) -> dict[str, Attempt]:
    """person -> their best attempt (over held values); persons with no entry are left out."""
    entry_from = int(query.range.start.timestamp() * 1000)
    entry_to = int(query.range.end.timestamp() * 1000)
    best: dict[str, Attempt] = {}
    for person, seq in rows:
        for held in held_sequences(query, [tuple(x) for x in seq]):
            attempt = walk(query, held, entry_from, entry_to)
            if attempt.level == 0:
                continue
            known = best.get(person)
            if known is None or attempt.level > known.level:
                best[person] = attempt
    return best


def shape(query: FunnelQuery, best: dict[str, Attempt], now: dt.datetime) -> dict:
    immature_after = int(now.timestamp() * 1000) - query.window_seconds * 1000
    groups: dict[str | None, list[Attempt]] = {}
    for attempt in best.values():
        groups.setdefault(attempt.value if query.breakdown else None, []).append(attempt)
    if query.breakdown:
        ranked = sorted(groups, key=lambda v: (-len(groups[v]), v))
        keep = set(ranked[: query.breakdown.limit])
        folded: dict[str | None, list[Attempt]] = {}
        for value, attempts in groups.items():
            folded.setdefault(value if value in keep else common.OTHER, []).extend(attempts)
        groups = folded
    results = []
    for value in sorted(groups, key=lambda v: (v == common.OTHER, -len(groups[v]), v or "")):
        attempts = groups[value]
        entered = len(attempts)
        steps = []
        for k, step in enumerate(query.steps):
            reached = [a for a in attempts if a.level > k]
            gaps = [(a.times[k] - a.times[k - 1]) / 1000 for a in reached] if k else []
            previous = len([a for a in attempts if a.level > k - 1]) if k else entered
            steps.append(
                {
                    "event": step.event,
                    "count": len(reached),
                    "conversion": len(reached) / entered if entered else 0.0,
                    "from_previous": len(reached) / previous if previous else 0.0,
                    "avg_seconds_from_previous": statistics.fmean(gaps) if gaps else None,
                    "median_seconds_from_previous": statistics.median(gaps) if gaps else None,
                }
            )
        converted = [(a.times[-1] - a.times[0]) / 1000 for a in attempts if a.level == len(query.steps)]
        by_day: dict[str, list[int]] = {}
        for a in attempts:
            day = dt.datetime.fromtimestamp(a.times[0] / 1000, query.range.zone).date().isoformat()
            counts = by_day.setdefault(day, [0, 0])
            counts[0] += 1
            counts[1] += a.level == len(query.steps)
        results.append(
            {
                "breakdown_value": value,
                "entered": entered,
                "steps": steps,
                "avg_seconds_to_convert": statistics.fmean(converted) if converted else None,
                "median_seconds_to_convert": statistics.median(converted) if converted else None,
                # Entered less than a window ago and not converted yet: may still complete.
                "immature": sum(1 for a in attempts if a.times[0] > immature_after and a.level < len(query.steps)),
                # Conversion over time: entries and full conversions by the local day of entry.
                "by_day": [{"day": d, "entered": e, "converted": c} for d, (e, c) in sorted(by_day.items())],
            }
        )
    return {"results": results}


def dropped_at(best: dict[str, Attempt], step: int) -> list[str]:
    """Persons who reached the step before `step` but not `step` itself (0-based)."""
    return sorted(p for p, a in best.items() if a.level == step)

"""Durations and wall-clock times in a person's zone, DST-safe: what waits, schedules and date entries compute.

A wall-clock time that does not exist (02:30 on a spring-forward day) moves
to the next valid instant (03:00, when the clocks jump); one that happens
twice (01:30 on a fall-back day) is its first occurrence. So "wait until
02:30" never fires twice, never stalls, and never fires an hour early.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.UTC
_DURATION = re.compile(r"(\d+)([wdhms])")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_duration(text: object, signed: bool = False) -> dt.timedelta | None:
    """ "24h", "1d12h", "90m", "3s", "2w" (and "-3d" when signed) -> timedelta; None when malformed."""
    if not isinstance(text, str):
        return None
    body, sign = text.strip(), 1
    if signed and body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if not body or _DURATION.sub("", body) or len(body) > 32:
        return None
    seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(body))
    return dt.timedelta(seconds=sign * seconds)


def format_duration(delta: dt.timedelta) -> str:
    """The canonical text of a duration: its largest exact unit ("1d", "90m", "-3d")."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{sign}{seconds // _UNITS[unit]}{unit}"
    return f"{sign}{seconds}s"


def parse_time_of_day(text: object) -> dt.time | None:
    if not isinstance(text, str):
        return None
    m = _TIME.match(text.strip())
    return dt.time(int(m.group(1)), int(m.group(2))) if m else None


@lru_cache(maxsize=512)
def zone(name: str) -> dt.tzinfo:
    """An IANA zone; an unknown or empty name is UTC (a person's bad trait must not stop their run)."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def resolve(local: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A naive wall-clock time in `tz` -> the aware UTC instant (gap: the next valid instant; fold: the first)."""
    first = local.replace(tzinfo=tz, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == local:
        return instant
    # In a gap: find when the clocks jumped. fold=1 reads the wall time with the offset after the
    # jump (earlier instant), fold=0 with the offset before it (later instant); the jump is between.
    low = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = instant
    if low > high:
        low, high = high, low
    while high - low > dt.timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= local:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0) if high.microsecond else high


def next_time_of_day(
    now: dt.datetime, at: dt.time, tz: dt.tzinfo, weekdays: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
) -> dt.datetime:
    """The first instant at or after `now` when the wall clock in `tz` reads `at` on one of `weekdays` (ISO)."""
    today = now.astimezone(tz).date()
    for days in range(0, 9):
        day = today + dt.timedelta(days=days)
        if day.isoweekday() not in weekdays:
            continue
        candidate = resolve(dt.datetime.combine(day, at), tz)
        if candidate >= now:
            return candidate
    raise ValueError("no weekday given")  # unreachable with a non-empty weekday set


def aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)

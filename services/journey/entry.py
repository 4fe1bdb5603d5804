"""Who enters a journey, and when: pure decisions over the definition's entry and a person's history.

- `match_event` / `on_event`: does an event enter (name, property filter), and under which key;
- `admit`: the entry policy (once, again after exit, cooldown, keyed with at most N active) over the
  person's entries document (what the store keeps per journey and person, `history` builds it from runs);
- `debounced`: a segment change that comes within the debounce window of the previous one enters nobody;
- `next_fire` / `fire_times`: a schedule's fire times (one-shot or recurring; local wall time across DST);
- `date_trait_fire`: when a date-trait entry fires for a person (trait value + offset, at a local time).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.journey import definition as d
from services.journey.localtime import aware, resolve, zone
from services.journey.model import ENDED, RunState

# The zone whose clocks are ahead of every other (UTC+14): a schedule in each person's local time
# starts when this zone reaches it, and each person's own instant comes later (next_fire with their zone).
EARLIEST_ZONE = "Etc/GMT-14"


@dataclass(frozen=True)
class EntryMatch:
    matched: bool
    key: str = ""
    reason: str = ""


def match_event(entry: d.Entry, name: str, properties: Mapping[str, Any]) -> EntryMatch:
    if not isinstance(entry, d.EventEntry):
        return EntryMatch(False, reason=f"the journey enters on {entry.kind}, not on events")
    if name != entry.name:
        return EntryMatch(False, reason=f"enters on {entry.name!r}, not {name!r}")
    if entry.where is not None and not entry.where.matches(dict(properties)):
        return EntryMatch(False, reason="the event's properties do not pass the entry filter")
    if entry.policy.mode != "keyed":
        return EntryMatch(True)
    key = d.key_text(properties.get(entry.policy.key))
    if key is None:
        return EntryMatch(False, reason=f"the event has no {entry.policy.key} to key the run by")
    return EntryMatch(True, key)


def on_event(entry: d.Entry, name: str, properties: Mapping[str, Any]) -> tuple[str, dict] | None:
    """(entry key, the properties the run keeps) when the event enters, else None."""
    m = match_event(entry, name, properties)
    return (m.key, dict(properties)) if m.matched else None


# -- the entry policy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    admitted: bool
    reason: str = ""


def key_field(key: str) -> str:
    """An entry key as a document field name (the entries document's `active`): never an operator or a path."""
    return key.replace("$", "\uff04").replace(".", "\uff0e") or "_"


def history(runs: Iterable[RunState]) -> dict[str, Any]:
    """The entries document `admit` reads, from a person's runs of one journey."""
    runs = list(runs)
    active = {key_field(r.key): r.run_id for r in runs if r.status not in ENDED}
    entered = [r.entered_at for r in runs]
    exited = [r.ended_at for r in runs if r.ended_at is not None]
    return {
        "runs": len(runs),
        "active": active,
        "last_entered_at": max(entered) if entered else None,
        "last_exit_at": max(exited) if exited else None,
    }


def admit(policy: d.Policy, doc: Mapping[str, Any] | None, key: str, now: dt.datetime) -> Decision:
    """May the person enter now? `doc`: {runs, active: {key field: run id}, last_entered_at, last_exit_at}.

    once: never again after a first entry. again_after_exit: not while a run is active.
    cooldown: not while active, nor within `cooldown` of the last entry. keyed: one active run
    per key value, and at most `max_active` at once (a key may enter again after its run ended).
    """
    doc = doc or {}
    active = doc.get("active") or {}
    if policy.mode == "keyed":
        if not key:
            return Decision(False, f"no {policy.key} to key the run by")
        if key_field(key) in active:
            return Decision(False, f"already in the journey for {policy.key} {key}")
        if len(active) >= policy.max_active:
            return Decision(False, f"already {len(active)} active runs (max_active {policy.max_active})")
        return Decision(True)
    if active:
        return Decision(False, "already in the journey")
    if policy.mode == "once" and int(doc.get("runs") or 0) > 0:
        return Decision(False, "entered before (entry policy: once)")
    if policy.mode == "cooldown" and doc.get("last_entered_at") is not None:
        until = aware(doc["last_entered_at"]) + policy.cooldown  # type: ignore[operator]
        if now < until:
            return Decision(False, f"cooling down until {until.isoformat()}")
    return Decision(True)


def debounced(entry: d.SegmentEntry, last_change: dt.datetime | None, at: dt.datetime) -> bool:
    """True when a membership change at `at` may enter: the previous change is at least `debounce` older.

    A segment that flaps (in, out, in within minutes) enters nobody until it has been quiet for the
    window; a change older than the last one seen (out of order) enters nobody.
    """
    if last_change is None:
        return True
    return at - aware(last_change) >= entry.debounce


# -- schedules --------------------------------------------------------------------------------------


def _local_days(s: d.Schedule) -> bool:
    return s.every is not None and s.every % dt.timedelta(days=1) == dt.timedelta(0)


def _occurrence(s: d.Schedule, tz: dt.tzinfo, k: int) -> dt.datetime:
    if _local_days(s):
        local = s.at.astimezone(tz).replace(tzinfo=None) if s.at.tzinfo else s.at
        return resolve(local + k * s.every, tz)  # type: ignore[operator]
    first = aware(s.at) if s.at.tzinfo else resolve(s.at, tz)
    return first + k * s.every if k else first  # type: ignore[operator]


def _last_index(s: d.Schedule, tz: dt.tzinfo, t: dt.datetime) -> int:
    """The index of the last occurrence at or before t (-1: none yet)."""
    first = _occurrence(s, tz, 0)
    if t < first:
        return -1
    if s.every is None:
        return 0
    k = math.floor((t - first) / s.every)
    while _occurrence(s, tz, k + 1) <= t:
        k += 1
    while k >= 0 and _occurrence(s, tz, k) > t:
        k -= 1
    return k


def next_fire(
    entry: d.ScheduleEntry, last: dt.datetime | None, now: dt.datetime, timezone: str = "UTC"
) -> dt.datetime | None:
    """The schedule's next fire time after `last` (the last fire time launched; None: never).

    A fire time already past is returned (launch it now); when several were missed (the service
    was down), only the latest of them, so a weekly campaign is not sent three times in a row.
    None: a one-shot schedule that fired. `timezone` is the workspace's zone (or, for a schedule in
    each person's time, that person's, or EARLIEST_ZONE for the first of them).
    """
    s, tz = entry.schedule, zone(timezone)
    if last is None:
        k = 0
    elif s.every is None:
        return None
    else:
        k = _last_index(s, tz, aware(last)) + 1
    latest = _last_index(s, tz, now)
    return _occurrence(s, tz, max(k, latest))


def fire_times(entry: d.ScheduleEntry, timezone: str, after: dt.datetime | None, count: int) -> list[dt.datetime]:
    """Up to `count` fire times strictly after `after` (None: from the first)."""
    s, tz = entry.schedule, zone(timezone)
    k = 0 if after is None else _last_index(s, tz, aware(after)) + 1
    if s.every is None:
        return [_occurrence(s, tz, 0)] if k == 0 and count > 0 else []
    return [_occurrence(s, tz, k + i) for i in range(count)]


# -- date traits ------------------------------------------------------------------------------------


def trait_time(value: Any, tz: dt.tzinfo) -> dt.datetime | None:
    """A profile's time value as an aware instant.

    A datetime without a zone is UTC (what MongoDB gives back); ISO text without an offset ("2026-06-18")
    is a local date or time in `tz`; numbers are epoch seconds (milliseconds past 1e11).
    """
    if isinstance(value, dt.datetime):
        return aware(value)
    if isinstance(value, dt.date):
        return resolve(dt.datetime.combine(value, dt.time()), tz)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else resolve(parsed, tz)
    return None


def date_trait_fire(
    entry: d.DateTraitEntry, value: Any, timezone: str, now: dt.datetime | None = None
) -> dt.datetime | None:
    """When the entry fires for a person whose trait holds `value`: value + offset, at `at` local time.

    None when the value is not a time, or (given `now`) when that moment is already past.
    A local time that does not exist that day moves to the next valid instant.
    """
    tz = zone(timezone)
    instant = trait_time(value, tz)
    if instant is None:
        return None
    try:
        instant = instant + entry.offset
    except OverflowError:
        return None
    if entry.at is not None:
        instant = resolve(dt.datetime.combine(instant.astimezone(tz).date(), entry.at), tz)
    if now is not None and instant < now:
        return None
    return instant

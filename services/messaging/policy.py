"""Workspace delivery policy: quiet hours, frequency caps, conversions. Pure, no I/O.

Everything here is computed in the person's time zone: quiet hours 22:00-08:00
mean the person's night, and a cap "2 a day" counts the person's calendar day,
not UTC's. Quiet hours and caps bind marketing messages only; a password reset
at midnight goes out at once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.kit.errors import InvalidInput

DEFAULT_QUIET = ("22:00", "08:00")
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_CONVERSION_EVENT = "Order Completed"
DEFAULT_ATTRIBUTION_HOURS = 72
MAX_CAPS = 50
MAX_CAP_DAYS = 31
HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Cap:
    channel: str = ""
    category: str = ""
    limit: int = 1
    days: int = 1

    def applies(self, channel: str, category: str) -> bool:
        return self.channel in ("", channel) and self.category in ("", category)

    def describe(self) -> str:
        what = " ".join(x for x in (self.category, self.channel) if x) or "any"
        return f"{what} at most {self.limit} per {self.days} day(s)"


@dataclass(frozen=True)
class Policy:
    quiet_start: str = DEFAULT_QUIET[0]
    quiet_end: str = DEFAULT_QUIET[1]
    default_timezone: str = DEFAULT_TIMEZONE
    caps: tuple[Cap, ...] = field(default_factory=tuple)
    conversion_event: str = DEFAULT_CONVERSION_EVENT
    attribution_hours: int = DEFAULT_ATTRIBUTION_HOURS

    def as_doc(self) -> dict:
        return {
            "quiet_start": self.quiet_start,
            "quiet_end": self.quiet_end,
            "default_timezone": self.default_timezone,
            "caps": [vars(c) for c in self.caps],
            "conversion_event": self.conversion_event,
            "attribution_hours": self.attribution_hours,
        }

    @classmethod
    def of(cls, doc: dict | None) -> Policy:
        if not doc:
            return cls()
        return cls(
            quiet_start=doc.get("quiet_start", DEFAULT_QUIET[0]),
            quiet_end=doc.get("quiet_end", DEFAULT_QUIET[1]),
            default_timezone=doc.get("default_timezone", DEFAULT_TIMEZONE),
            caps=tuple(Cap(**c) for c in doc.get("caps", [])),
            conversion_event=doc.get("conversion_event", DEFAULT_CONVERSION_EVENT),
            attribution_hours=int(doc.get("attribution_hours", DEFAULT_ATTRIBUTION_HOURS)),
        )

    def caps_for(self, channel: str, category: str) -> list[Cap]:
        return [c for c in self.caps if c.applies(channel, category)]


def zone(name: str, field_name: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidInput(f"{name!r} is not an IANA time zone (e.g. Asia/Shanghai)", field_name) from None


def safe_zone(name: str, fallback: str) -> ZoneInfo:
    """A stored zone that no longer parses falls back instead of blocking delivery."""
    try:
        return ZoneInfo(name) if name else ZoneInfo(fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


def validate_policy(policy: Policy) -> Policy:
    for name in ("quiet_start", "quiet_end"):
        value = getattr(policy, name)
        if not HHMM.match(value):
            raise InvalidInput(f"{name} must be HH:MM (24-hour), got {value!r}", name)
    zone(policy.default_timezone, "default_timezone")
    if len(policy.caps) > MAX_CAPS:
        raise InvalidInput(f"at most {MAX_CAPS} caps", "caps")
    for i, cap in enumerate(policy.caps):
        if cap.limit < 0:
            raise InvalidInput("cap limit may not be negative", f"caps[{i}].limit")
        if not 1 <= cap.days <= MAX_CAP_DAYS:
            raise InvalidInput(f"cap days must be between 1 and {MAX_CAP_DAYS}", f"caps[{i}].days")
        if cap.category and cap.category not in ("marketing", "transactional"):
            raise InvalidInput("cap category must be marketing, transactional or empty", f"caps[{i}].category")
    if not policy.conversion_event.strip():
        raise InvalidInput("conversion_event is required", "conversion_event")
    if not 1 <= policy.attribution_hours <= 24 * 90:
        raise InvalidInput("attribution_hours must be between 1 and 2160", "attribution_hours")
    return policy


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def quiet_until(now: dt.datetime, tz: ZoneInfo, start: str, end: str) -> dt.datetime | None:
    """End of the quiet window `now` falls in (UTC), or None when it is not quiet.

    The window may wrap midnight (22:00-08:00). The end is computed as a local
    wall time and converted back, so a DST change inside the night still ends
    the window at 08:00 on the person's clock.
    """
    s, e = _minutes(start), _minutes(end)
    if s == e:
        return None
    local = now.astimezone(tz)
    m = local.hour * 60 + local.minute
    if s < e:
        inside = s <= m < e
        end_day = local.date()
    else:
        inside = m >= s or m < e
        end_day = local.date() + dt.timedelta(days=1) if m >= s else local.date()
    if not inside:
        return None
    wall = dt.datetime.combine(end_day, dt.time(e // 60, e % 60), tzinfo=tz)
    return wall.astimezone(dt.UTC)


def local_days(now: dt.datetime, tz: ZoneInfo, days: int) -> list[str]:
    """The person's calendar days a cap of `days` days looks at, today first (ISO dates)."""
    today = now.astimezone(tz).date()
    return [(today - dt.timedelta(days=i)).isoformat() for i in range(days)]

"""What every model shares: checked inputs (errors name the field), the date range in the
workspace's time zone, the event source with merges applied, filters and breakdowns."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from services.analytics import sql
from services.analytics.store import mappings_sql, overrides_sql
from services.kit.catalog import COMPUTED
from services.kit.ecommerce import REVENUE_KEYS
from services.kit.errors import InvalidInput

MAX_NAME = 200
# The bounds of "all of a person's history": the first-ever event is looked for from EPOCH, and
# responses to a campaign up to FOREVER (imported history of any age counts).
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FOREVER = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
MAX_RANGE_DAYS = 366 * 20
OTHER = "$other"
# A property path: dotted keys of the event's properties (a.b reads {"a": {"b": ...}}).
_PATH = re.compile(r"^[^\s.][^.]{0,99}(\.[^\s.][^.]{0,99}){0,4}$")
FILTER_OPS = ("=", "!=", ">", ">=", "<", "<=", "contains")


def text(doc: dict, key: str, where: str, required: bool = True, default: str = "") -> str:
    value = doc.get(key)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{where} is required", where)
        return default
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise InvalidInput(f"{where} must be text of at most {MAX_NAME} characters", where)
    return value


def integer(doc: dict, key: str, where: str, default: int, low: int, high: int) -> int:
    value = doc.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{where} must be a whole number from {low} to {high}", where)
    return value


def choice(doc: dict, key: str, where: str, options: tuple[str, ...], default: str) -> str:
    value = doc.get(key) or default
    if isinstance(value, str):
        value = value.lower()
    if value not in options:
        raise InvalidInput(f"{where} must be one of {', '.join(options)}", where)
    return value


def path(value: str, where: str) -> str:
    if not _PATH.match(value):
        raise InvalidInput(f"{where} is not a property path (dotted keys, up to 5 levels)", where)
    return value


@dataclass(frozen=True)
class DateRange:
    """Local dates (inclusive) in a time zone, and the UTC instants they span."""

    date_from: dt.date
    date_to: dt.date
    timezone: str

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.date_from, dt.time(), self.zone).astimezone(dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time(), self.zone).astimezone(dt.UTC)


def _date(value, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise InvalidInput(f"{where} must be a date (YYYY-MM-DD)", where)


def date_range(doc: dict) -> DateRange:
    """date_from, date_to (local dates, inclusive) and timezone (IANA, default UTC). Any age is accepted."""
    if doc.get("date_from") in (None, ""):
        raise InvalidInput("dateFrom is required", "dateFrom")
    if doc.get("date_to") in (None, ""):
        raise InvalidInput("dateTo is required", "dateTo")
    start, end = _date(doc["date_from"], "dateFrom"), _date(doc["date_to"], "dateTo")
    if end < start:
        raise InvalidInput("dateTo is before dateFrom", "dateTo")
    if (end - start).days > MAX_RANGE_DAYS:
        raise InvalidInput("the date range spans more than 20 years", "dateTo")
    tz = doc.get("timezone") or "UTC"
    try:
        if not isinstance(tz, str) or len(tz) > 64:
            raise ValueError(tz)
        zoneinfo.ZoneInfo(tz)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise InvalidInput(
            f"unknown time zone {str(tz)[:64]!r} (use an IANA name such as Asia/Shanghai)", "timezone"
        ) from None
    return DateRange(start, end, tz)


def events_source(db: str, workspace: str, start: dt.datetime, end: dt.datetime, events: list[str] | None) -> str:
    """The workspace's events in [start, end) with each row's current person (merges applied now)."""
    names = f" AND e.event IN {sql.strings(sorted(set(events)))}" if events else ""
    return (
        "SELECT if(o.person_id = '', e.person_id, o.person_id) AS person, e.ts AS ts, e.event AS event, "
        "e.name AS name, e.properties AS properties, e.products AS products, e.channel AS channel, "
        "e.device AS device "
        f"FROM {db}.events AS e FINAL "
        f"LEFT JOIN ({overrides_sql(db, workspace)}) AS o ON o.old_person_id = e.person_id "
        f"WHERE e.workspace = {sql.string(workspace)} AND e.ts >= {sql.instant(start)} "
        f"AND e.ts < {sql.instant(end)}{names}"
    )


def order_amount(column: str = "s.properties") -> str:
    """kit/ecommerce.order_revenue in SQL: the first of its REVENUE_KEYS that holds a number, else 0."""
    return f"coalesce({', '.join(sql.json_number(column, k) for k in REVENUE_KEYS)}, 0)"


def traits_source(db: str, workspace: str, key: str) -> str:
    """person -> the latest value of one trait (over every id merged into the person; trait rows are
    never squashed, so every merge is joined). Latest is by time, then by the order ingest read
    announcements of the same time in (schema.py, person_traits.seq)."""
    return (
        "SELECT person, argMax(value, (ts, seq)) AS value FROM ("
        "SELECT if(o.person_id = '', t.person_id, o.person_id) AS person, t.value AS value, t.ts AS ts, "
        "t.seq AS seq "
        f"FROM {db}.person_traits AS t FINAL "
        f"LEFT JOIN ({mappings_sql(db, workspace)}) AS o ON o.old_person_id = t.person_id "
        f"WHERE t.workspace = {sql.string(workspace)} AND t.key = {sql.string(key)}) GROUP BY person"
    )


@dataclass(frozen=True)
class Filter:
    path: str
    op: str
    value: str

    def sql(self, column: str = "properties") -> str:
        if self.op == "contains":
            return f"positionUTF8({sql.json_text(column, self.path)}, {sql.string(self.value)}) > 0"
        if self.op in ("=", "!="):
            return f"{sql.json_text(column, self.path)} {self.op} {sql.string(self.value)}"
        try:
            number = float(self.value)
        except ValueError:
            raise InvalidInput(f"{self.op} compares numbers: {self.value!r} is not one", "value") from None
        return f"{sql.json_number(column, self.path)} {self.op} {sql.number(number)}"


def filters(items, where: str) -> list[Filter]:
    out = []
    for i, item in enumerate(items or []):
        at = f"{where}[{i}]"
        prop = path(text(item, "property", f"{at}.property"), f"{at}.property")
        op = item.get("op") or "="
        if op not in FILTER_OPS:
            raise InvalidInput(f"{at}.op must be one of {' '.join(FILTER_OPS)}", f"{at}.op")
        value = item.get("value")
        if not isinstance(value, str):
            raise InvalidInput(f"{at}.value is required (text)", f"{at}.value")
        if op not in ("=", "!=", "contains"):
            try:
                float(value)
            except ValueError:
                raise InvalidInput(f"{at}.value must be a number for {op}", f"{at}.value") from None
        out.append(Filter(prop, op, value))
    return out


def all_of(conditions: list[str]) -> str:
    return " AND ".join(f"({c})" for c in conditions) if conditions else "1"


MAX_SEGMENTS = 10
# A tag's name as profile accepts it (services/profile/tags.py NAME). Tags are operator-defined, so the
# form is all analytics can check; analytics reads profile only through Kafka, not its modules.
TAG_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The input keys that name one key to group by (each is also the breakdown's kind).
_KEYED = ("property", "trait", "computed", "tag", "product")


@dataclass(frozen=True)
class Breakdown:
    """Group by an event property, a person trait, a computed trait, a tag, an item of products[] (top N
    plus "$other"), or by segments: each person counts in every listed segment they are in (and in no
    group when in none)."""

    kind: str  # property, trait, computed, tag, product, segment
    key: str
    limit: int
    segments: tuple[str, ...] = ()
    # segment: SQL of (person, segment) rows, set once the members are loaded (segment_members.py).
    members: str = ""

    @property
    def trait_key(self) -> str:
        """The person_traits key this breakdown reads: computed traits and tags are stored under their
        profile.changed path (rows.profile_rows), identify traits under their own name."""
        if self.kind == "computed":
            return f"computed.{self.key}"
        if self.kind == "tag":
            return f"tags.{self.key}"
        return self.key

    def value_sql(self) -> str:
        if self.kind == "property":
            return sql.json_text("s.properties", self.key)
        if self.kind in PERSON_KINDS:
            return "tr.value"
        if self.kind == "segment":
            return "sg.segment"
        return sql.json_text("s.item", self.key)

    def joins(self, db: str, workspace: str) -> str:
        if self.kind in PERSON_KINDS:
            return f" LEFT JOIN ({traits_source(db, workspace, self.trait_key)}) AS tr ON tr.person = s.person"
        if self.kind == "segment":
            if not self.members:
                raise RuntimeError("a segment breakdown is rendered before its members were loaded")
            return f" INNER JOIN ({self.members}) AS sg ON sg.person = s.person"
        return ""  # products: the source itself has a row per item (see trends.render)


# Kinds whose value is a person's latest person_traits row (joined per person, not read from the event).
PERSON_KINDS = ("trait", "computed", "tag")


def _computed(name: str, where: str) -> str:
    if name not in COMPUTED:
        raise InvalidInput(f"{where}: {name!r} is not a computed trait (one of {', '.join(COMPUTED)})", where)
    return name


def _tag(name: str, where: str) -> str:
    if not TAG_NAME.match(name):
        raise InvalidInput(f"{where} is not a tag name (a-z, 0-9 and _, starting with a letter)", where)
    return name


def breakdown(doc: dict | None, where: str = "breakdown") -> Breakdown | None:
    if not doc:
        return None
    given = [k for k in (*_KEYED, "segments") if doc.get(k)]
    if len(given) != 1:
        raise InvalidInput(f"{where} names exactly one of property, trait, computed, tag, product or segments", where)
    kind = given[0]
    if kind == "segments":
        ids = doc["segments"]
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_SEGMENTS:
            raise InvalidInput(f"{where}.segments lists 1 to {MAX_SEGMENTS} segment ids", f"{where}.segments")
        for i, sid in enumerate(ids):
            if not isinstance(sid, str) or not sid or len(sid) > MAX_NAME:
                raise InvalidInput(f"{where}.segments[{i}] must be a segment id", f"{where}.segments[{i}]")
        return Breakdown("segment", "", MAX_SEGMENTS, tuple(dict.fromkeys(ids)))
    at = f"{where}.{kind}"
    name = text(doc, kind, at)
    check = {"computed": _computed, "tag": _tag}.get(kind, path)
    return Breakdown(kind, check(name, at), integer(doc, "limit", f"{where}.limit", 10, 1, 100))

"""One journey version's definition: parsed and validated all or nothing, errors naming the JSON path.

Pure: `parse(raw)` returns a frozen `Definition` or raises InvalidInput whose
message starts with the failing path (`nodes.wait1.duration: expected a
duration such as "24h"`) and whose `field` is that path. `canonical(d)` is the
stored form (defaults filled in, rules as canonical text, durations in their
largest exact unit) and `parse(canonical(d)) == d`; `digest(d)` hashes it.

The shape (every key not listed is refused, so a typo is an error, not a no-op):

    {"entry": ENTRY,
     "exit": [{"event": NAME, "match": [PROP, ...], "where": FILTER}   # ends a run at once
              | {"segment_exit": SEGMENT_ID}, ...],                    # at most 20
     "goal": {"event": NAME, "within": "7d", "match": [PROP], "where": FILTER},   # optional, within <= 365d
     "holdout_pct": 0..50,                     # this journey's holdout (default 0)
     "category": "marketing" | "transactional",  # default marketing: the workspace holdout applies
     "start": NODE_ID,
     "nodes": {NODE_ID: NODE, ...}}            # 1..200 nodes

    ENTRY (exactly one of event / segment / date_trait / schedule, plus an optional "policy"):
      {"event": {"name": NAME, "where": FILTER}}
      {"segment": SEGMENT_ID, "on": "enter" | "exit", "debounce_seconds": 0..604800 (default 300)}
      {"date_trait": "computed.<time trait>" | "traits.<name>", "offset": "-3d" (default "0d"),
       "at": "10:00" (optional: that local time of the day reached by value + offset)}
      {"schedule": {"at": ISO time (naive = local in the zone below; with an offset = that instant),
                    "every": "7d" | null (whole days recur at the same local time across DST;
                                          shorter intervals are absolute), "timezone": "workspace" | "person"},
       "segment": SEGMENT_ID | null}             # the audience
      "policy": {"mode": "once" | "again_after_exit" | "cooldown" | "keyed",
                 "cooldown": "7d" (cooldown mode), "key": PROP and "max_active": 1..100 (keyed mode,
                 event entries only; max_active default 1)}
      Default policy mode: "once" for event entries, "again_after_exit" for the others (a date or a
      recurring schedule comes back; a segment is re-entered after the run ended).

    NODE ("next" of send / wait / update_profile / webhook is optional: without it the run is done there):
      {"type": "send", "template": TEMPLATE_ID, "channel": CHANNEL, "next": NODE_ID, "category": optional}
      {"type": "send", "template": ..., "channel": "best", "channels": [CHANNEL, ...] (2..10), "next": ...,
       "templates": {CHANNEL: TEMPLATE_ID, ...} (optional: a channel's own template where its type differs)}
      {"type": "wait", "duration": "24h", "next": ...}                         # 1s .. 365d
      {"type": "wait", "until": {"time": "10:00", "weekdays": [1..7] (ISO, default all)}, "next": ...}
      {"type": "wait_event", "event": NAME, "match": [PROP, ...], "where": FILTER, "timeout": "1h",
       "on_event": NODE_ID, "on_timeout": NODE_ID}
      {"type": "branch", "rule": RULE (text or JSON form of services.kit.rules), "yes": NODE_ID, "no": NODE_ID}
      {"type": "split", "paths": [{"weight": >0, "next": NODE_ID}, ...]}       # 1..20 paths
      {"type": "experiment", "key": EXPERIMENT_KEY (default "<journey id>:<node id>"),
       "variants": [{"name": NAME, "weight": >0 (default 1), "next": NODE_ID}, ...],
       "control": {"weight": >0 (default 1), "next": NODE_ID}}               # optional; its arm is "control"
      {"type": "update_profile", "traits": {...}, "tags": [{"name": TAG, "value": "..."}], "next": ...}
      {"type": "webhook", "channel": WEBHOOK_CHANNEL, "body": {...}, "next": ...}
      {"type": "exit"}
      Every node may carry a "label" (display text, up to 200 characters).

    "match" (exit, goal, wait_event): the event must carry the same values as the run's entry
    properties of those names ("A-1", 1001 and 1001.0 compare as keys); a run whose entry lacks one
    is never matched by it (a wait_event then takes its timeout).

    FILTER (event properties; the rule language reads profiles, not event properties, so this is a
    small form of its own): {PROP: VALUE | [VALUE, ...] (any of) | {OP: VALUE, ...}} with OP one of
    = != < <= > >= in not_in exists; all properties must hold. "=" on a list property means it holds
    the value. A missing property fails every test except {"exists": false} and "!=" / "not_in".

Graph checks: every target exists, the start exists, every node is reachable
from the start, and no cycle is made only of instant steps (send, branch,
split, experiment, update_profile, webhook): such a cycle would spin. Node ids,
trait names and webhook body keys become MongoDB keys, so they never start with
`$` or contain `.`; node ids are [A-Za-z0-9_-], up to 64, and "stay" is
reserved (a migration dry run counts runs that stay on their version under it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from services.journey.localtime import format_duration, known_zone, parse_duration, parse_time_of_day
from services.kit import rules
from services.kit.catalog import COMPUTED, TIME
from services.kit.documents import check_keys
from services.kit.errors import InvalidInput

MAX_NODES = 200
MAX_WAIT = dt.timedelta(days=365)
MAX_EXITS = 20
MAX_PATHS = 20
MAX_CHANNELS = 10
MAX_NAME = 200
MAX_ID = 256
MAX_BODY_BYTES = 16 * 1024
MAX_ACTIVE = 100
MAX_DEBOUNCE = 7 * 86400
MAX_HOLDOUT = 50.0
DEFAULT_DEBOUNCE = 300
NODE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
PROPERTY = re.compile(r"^[^\x00-\x1f$.][^\x00-\x1f.]{0,127}$")
ARM_NAME = re.compile(r"^[^\x00-\x1f$.][^\x00-\x1f.]{0,63}$")
EXPERIMENT_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_:-]{0,127}$")
RESERVED_NODES = ("stay",)
RESERVED_ARMS = ("control", "holdout")
CONTROL = "control"
POLICIES = ("once", "again_after_exit", "cooldown", "keyed")
FILTER_OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "not_in", "exists")
# What a branch rule may read: traits, computed traits, tags, segment membership, recent events.
BRANCH_SCHEMA = rules.Schema(context="a journey branch")


def _fail(path: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{path}: {problem}", path)


# -- event property filters ---------------------------------------------------------------------


@dataclass(frozen=True)
class PropertyTest:
    op: str
    value: Any


@dataclass(frozen=True)
class PropertyFilter:
    """All of (property, tests) must hold on an event's properties."""

    tests: tuple[tuple[str, tuple[PropertyTest, ...]], ...]

    def matches(self, properties: dict[str, Any]) -> bool:
        return all(_holds(t, properties.get(name), name in properties) for name, ts in self.tests for t in ts)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, tests in self.tests:
            out[name] = {t.op: list(t.value) if isinstance(t.value, tuple) else t.value for t in tests}
        return out


def same_value(a: Any, b: Any) -> bool:
    """Equality of JSON values as users mean it: 1 == 1.0, true is not 1, "1" is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def key_text(value: Any) -> str | None:
    """A property as an entry key or a match value: "A-1", 1001 and 1001.0 are keys; the rest is none."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip() and len(value) <= MAX_ID:
        return value.strip()
    return None


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _holds(test: PropertyTest, value: Any, present: bool) -> bool:
    if test.op == "exists":
        return (present and value is not None) == test.value
    if not present or value is None:
        return test.op in ("!=", "not_in")
    items = value if isinstance(value, list) else [value]
    if test.op == "=":
        return any(same_value(i, test.value) for i in items)
    if test.op == "!=":
        return not any(same_value(i, test.value) for i in items)
    if test.op == "in":
        return any(same_value(i, w) for i in items for w in test.value)
    if test.op == "not_in":
        return not any(same_value(i, w) for i in items for w in test.value)
    a, b = _number(value), _number(test.value)
    if a is None or b is None:
        if isinstance(value, str) and isinstance(test.value, str):  # ISO times and codes compare as text
            a, b = value, test.value  # type: ignore[assignment]
        else:
            return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[test.op]  # type: ignore[operator]


# MongoDB stores integers in 64 bits: a larger one would fail at the write, after validation said yes.
INT64 = 2**63


def _scalar(value: Any, path: str) -> Any:
    if value is None or isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value)):
        if isinstance(value, str) and len(value) > 1000:
            raise _fail(path, "is longer than 1000 characters")
        if isinstance(value, int) and not -INT64 <= value < INT64:
            raise _fail(path, "is too large a number")
        return value
    raise _fail(path, "expected a string, number, boolean or null")


def _storable(value: Any, path: str) -> None:
    """JSON that MongoDB can store as given: finite numbers, 64-bit integers (keys are checked apart)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            _storable(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _storable(inner, f"{path}[{i}]")
    elif not isinstance(value, str):
        _scalar(value, path)


def _filter(raw: Any, path: str) -> PropertyFilter | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _fail(path, 'expected an object of event properties such as {"category": "fruit"}')
    if len(raw) > 20:
        raise _fail(path, "at most 20 properties")
    tests = []
    for name, spec in raw.items():
        here = f"{path}.{name}"
        _property(name, path)
        if isinstance(spec, list):
            spec = {"in": spec}
        elif not isinstance(spec, dict):
            spec = {"=": spec}
        if not spec:
            raise _fail(here, "expected a value, a list of values or {operator: value}")
        ts = []
        for op, value in spec.items():
            if op not in FILTER_OPS:
                raise _fail(f"{here}.{op}", f"unknown operator; use one of {' '.join(FILTER_OPS)}")
            if op in ("in", "not_in"):
                if not isinstance(value, list) or not value or len(value) > 100:
                    raise _fail(f"{here}.{op}", "expected a list of 1 to 100 values")
                value = tuple(_scalar(v, f"{here}.{op}[{i}]") for i, v in enumerate(value))
            elif op == "exists":
                if not isinstance(value, bool):
                    raise _fail(f"{here}.exists", "expected true or false")
            elif op in ("<", "<=", ">", ">="):
                number = _number(value)
                if (number is None or not math.isfinite(number)) and not isinstance(value, str):
                    raise _fail(f"{here}.{op}", "expected a number or an ISO time")
                value = _scalar(value, f"{here}.{op}")
            else:
                value = _scalar(value, f"{here}.{op}")
            ts.append(PropertyTest(op, value))
        tests.append((name, tuple(ts)))
    return PropertyFilter(tuple(tests))


# -- small readers ------------------------------------------------------------------------------


def _obj(raw: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail(path or "definition", "expected an object")
    for key in raw:
        if key not in allowed:
            raise _fail(f"{path}.{key}" if path else str(key), f"unknown field; expected one of {', '.join(allowed)}")
    for key in required:
        if raw.get(key) is None:
            raise _fail(f"{path}.{key}" if path else key, "is required")
    return raw


def _text(raw: Any, path: str, max_length: int = MAX_ID) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _fail(path, "expected a non-empty string")
    if len(raw) > max_length or any(ord(c) < 32 for c in raw):
        raise _fail(path, f"expected at most {max_length} printable characters")
    return raw.strip()


def _property(name: Any, path: str) -> str:
    if not isinstance(name, str) or not PROPERTY.match(name):
        raise _fail(path, f"{name!r} is not a property name (no '$' at the start, no '.', 1-128 characters)")
    return name


def _properties(raw: Any, path: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > 10:
        raise _fail(path, 'expected a list of up to 10 property names such as ["order_id"]')
    names = tuple(_property(p, f"{path}[{i}]") for i, p in enumerate(raw))
    if len(set(names)) != len(names):
        raise _fail(path, "names a property twice")
    return names


def _duration(raw: Any, path: str, low: dt.timedelta = dt.timedelta(seconds=1), signed: bool = False) -> dt.timedelta:
    value = parse_duration(raw, signed)
    if value is None:
        example = '"-3d"' if signed else '"24h"'
        raise _fail(path, f"expected a duration such as {example} (units w d h m s)")
    if abs(value) > MAX_WAIT or (not signed and value < low):
        raise _fail(path, f"must be between {format_duration(low)} and 365d")
    return value


def _whole(raw: Any, path: str, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise _fail(path, f"expected a whole number from {low} to {high}")
    return raw


def _weight(raw: Any, path: str) -> float:
    if raw is None:
        return 1.0
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw <= 0 or raw > 1e6:
        raise _fail(path, "expected a positive number")
    return float(raw)


def _node_id(raw: Any, path: str) -> str:
    if not isinstance(raw, str) or not NODE_ID.match(raw):
        raise _fail(path, f"{raw!r} is not a node id (letters, digits, _ and -, up to 64)")
    return raw


# -- entry ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    mode: str
    cooldown: dt.timedelta | None = None
    key: str | None = None
    max_active: int = 1


@dataclass(frozen=True)
class EventEntry:
    kind: ClassVar[str] = "event"
    name: str
    where: PropertyFilter | None
    policy: Policy


@dataclass(frozen=True)
class SegmentEntry:
    kind: ClassVar[str] = "segment"
    segment: str
    on: str  # enter | exit
    debounce: dt.timedelta
    policy: Policy


@dataclass(frozen=True)
class DateTraitEntry:
    kind: ClassVar[str] = "date_trait"
    trait: str  # "computed.next_order_at" / "traits.birthday": the profile.changed path
    offset: dt.timedelta
    at: dt.time | None
    policy: Policy


@dataclass(frozen=True)
class Schedule:
    at: dt.datetime  # naive: wall time in the zone; aware: that instant
    every: dt.timedelta | None
    timezone: str  # workspace | person


@dataclass(frozen=True)
class ScheduleEntry:
    kind: ClassVar[str] = "schedule"
    schedule: Schedule
    segment: str | None
    policy: Policy


Entry = EventEntry | SegmentEntry | DateTraitEntry | ScheduleEntry


def _policy(raw: Any, kind: str, path: str) -> Policy:
    default = "once" if kind == "event" else "again_after_exit"
    if raw is None:
        return Policy(default)
    doc = _obj(raw, path, ("mode", "cooldown", "key", "max_active"))
    mode = doc.get("mode", default)
    if mode not in POLICIES:
        raise _fail(f"{path}.mode", f"expected one of {', '.join(POLICIES)}")
    if mode == "cooldown":
        if doc.get("key") is not None or doc.get("max_active") is not None:
            raise _fail(path, "key and max_active belong to the keyed mode")
        return Policy(mode, cooldown=_duration(doc.get("cooldown"), f"{path}.cooldown"))
    if mode == "keyed":
        if kind != "event":
            raise _fail(f"{path}.mode", "keyed entries need an event entry (the key is one of its properties)")
        if doc.get("cooldown") is not None:
            raise _fail(f"{path}.cooldown", "belongs to the cooldown mode")
        key = _property(doc.get("key"), f"{path}.key")
        max_active = (
            1 if doc.get("max_active") is None else _whole(doc["max_active"], f"{path}.max_active", 1, MAX_ACTIVE)
        )
        return Policy(mode, key=key, max_active=max_active)
    for extra in ("cooldown", "key", "max_active"):
        if doc.get(extra) is not None:
            raise _fail(f"{path}.{extra}", f"does not apply to the {mode} mode")
    return Policy(mode)


def _date_trait(raw: Any, path: str) -> str:
    text = _text(raw, path)
    source, _, name = text.partition(".")
    if source not in ("computed", "traits") or not name or not PROPERTY.match(name):
        raise _fail(path, "expected computed.<time trait> or traits.<name>")
    if source == "computed":
        trait = COMPUTED.get(name)
        if trait is None:
            raise _fail(path, f"unknown computed trait {name!r}")
        if trait.kind != TIME:
            raise _fail(path, f"computed.{name} is not a time")
    return text


def _schedule_time(raw: Any, path: str) -> dt.datetime:
    if not isinstance(raw, str):
        raise _fail(path, 'expected an ISO time such as "2026-06-18T10:00:00"')
    try:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(path, 'expected an ISO time such as "2026-06-18T10:00:00"') from None


def _entry(raw: Any) -> Entry:
    kinds = ("event", "segment", "date_trait", "schedule")
    doc = _obj(raw, "entry", (*kinds, "on", "debounce_seconds", "offset", "at", "policy"))
    given = [k for k in ("event", "date_trait", "schedule") if doc.get(k) is not None]
    if not given and doc.get("segment") is not None:
        given = ["segment"]
    if len(given) != 1:
        raise _fail("entry", "expected exactly one of event, segment, date_trait, schedule")
    kind = given[0]
    extras = {
        "event": (),
        "segment": ("on", "debounce_seconds"),
        "date_trait": ("offset", "at"),
        "schedule": ("segment",),
    }
    for key in ("on", "debounce_seconds", "offset", "at", "segment"):
        if doc.get(key) is not None and key != kind and key not in extras[kind]:
            raise _fail(f"entry.{key}", f"does not apply to this entry ({kind})")
    policy = _policy(doc.get("policy"), kind, "entry.policy")
    if kind == "event":
        ev = _obj(doc["event"], "entry.event", ("name", "where"), ("name",))
        return EventEntry(
            _text(ev["name"], "entry.event.name", MAX_NAME), _filter(ev.get("where"), "entry.event.where"), policy
        )
    if kind == "segment":
        on = doc.get("on", "enter")
        if on not in ("enter", "exit"):
            raise _fail("entry.on", "expected enter or exit")
        debounce = doc.get("debounce_seconds")
        seconds = DEFAULT_DEBOUNCE if debounce is None else _whole(debounce, "entry.debounce_seconds", 0, MAX_DEBOUNCE)
        return SegmentEntry(_text(doc["segment"], "entry.segment"), on, dt.timedelta(seconds=seconds), policy)
    if kind == "date_trait":
        at = None
        if doc.get("at") is not None:
            at = parse_time_of_day(doc["at"])
            if at is None:
                raise _fail("entry.at", 'expected a time of day such as "10:00"')
        offset = _duration(doc.get("offset", "0d"), "entry.offset", signed=True)
        return DateTraitEntry(_date_trait(doc["date_trait"], "entry.date_trait"), offset, at, policy)
    sc = _obj(doc["schedule"], "entry.schedule", ("at", "every", "timezone"), ("at",))
    zone = sc.get("timezone", "workspace")
    if zone not in ("workspace", "person"):
        raise _fail("entry.schedule.timezone", "expected workspace or person")
    at = _schedule_time(sc["at"], "entry.schedule.at")
    if at.tzinfo is not None and zone == "person":
        raise _fail("entry.schedule.at", "a time in each person's zone is a local time: give it without an offset")
    every = None
    if sc.get("every") not in (None, ""):
        every = _duration(sc["every"], "entry.schedule.every", low=dt.timedelta(hours=1))
    segment = None if doc.get("segment") is None else _text(doc["segment"], "entry.segment")
    return ScheduleEntry(Schedule(at, every, zone), segment, policy)


# -- exits and goal -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExitOnEvent:
    event: str
    match: tuple[str, ...] = ()
    where: PropertyFilter | None = None


@dataclass(frozen=True)
class ExitOnSegment:
    segment: str


@dataclass(frozen=True)
class Goal:
    event: str
    within: dt.timedelta
    match: tuple[str, ...] = ()
    where: PropertyFilter | None = None


def _exits(raw: Any) -> tuple[ExitOnEvent | ExitOnSegment, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_EXITS:
        raise _fail("exit", f"expected a list of up to {MAX_EXITS} exit criteria")
    out: list[ExitOnEvent | ExitOnSegment] = []
    for i, item in enumerate(raw):
        path = f"exit[{i}]"
        doc = _obj(item, path, ("event", "match", "where", "segment_exit"))
        if (doc.get("event") is None) == (doc.get("segment_exit") is None):
            raise _fail(path, "expected either event or segment_exit")
        if doc.get("segment_exit") is not None:
            if doc.get("match") is not None or doc.get("where") is not None:
                raise _fail(path, "match and where apply to event exits")
            out.append(ExitOnSegment(_text(doc["segment_exit"], f"{path}.segment_exit")))
        else:
            out.append(ExitOnEvent(
                _text(doc["event"], f"{path}.event", MAX_NAME), _properties(doc.get("match"), f"{path}.match"),
                _filter(doc.get("where"), f"{path}.where"),
            ))  # fmt: skip
    return tuple(out)


def _goal(raw: Any) -> Goal | None:
    if raw is None:
        return None
    doc = _obj(raw, "goal", ("event", "within", "match", "where"), ("event", "within"))
    return Goal(
        _text(doc["event"], "goal.event", MAX_NAME), _duration(doc["within"], "goal.within"),
        _properties(doc.get("match"), "goal.match"), _filter(doc.get("where"), "goal.where"),
    )  # fmt: skip


# -- nodes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendNode:
    type: ClassVar[str] = "send"
    instant: ClassVar[bool] = True
    id: str
    template: str
    channel: str  # a channel name, or "best"
    channels: tuple[str, ...] = ()  # for "best": the candidates, in fallback order
    category: str | None = None
    next: str | None = None
    label: str = ""
    # For "best": a template per channel where they differ (a channel's template must be of its
    # type: an SMS cannot go out on a push template); the others take `template`.
    templates: tuple[tuple[str, str], ...] = ()

    def targets(self) -> tuple[str, ...]:
        return (self.next,) if self.next else ()


@dataclass(frozen=True)
class TimeOfDay:
    time: dt.time
    weekdays: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)


@dataclass(frozen=True)
class WaitNode:
    type: ClassVar[str] = "wait"
    instant: ClassVar[bool] = False
    id: str
    duration: dt.timedelta | None = None
    until: TimeOfDay | None = None
    next: str | None = None
    label: str = ""

    def targets(self) -> tuple[str, ...]:
        return (self.next,) if self.next else ()


@dataclass(frozen=True)
class WaitEventNode:
    type: ClassVar[str] = "wait_event"
    instant: ClassVar[bool] = False
    id: str
    event: str
    timeout: dt.timedelta
    on_event: str
    on_timeout: str
    match: tuple[str, ...] = ()
    where: PropertyFilter | None = None
    label: str = ""

    def targets(self) -> tuple[str, ...]:
        return (self.on_event, self.on_timeout)


@dataclass(frozen=True)
class BranchNode:
    type: ClassVar[str] = "branch"
    instant: ClassVar[bool] = True
    id: str
    rule: rules.Node
    yes: str
    no: str
    label: str = ""

    def targets(self) -> tuple[str, ...]:
        return (self.yes, self.no)


@dataclass(frozen=True)
class Path:
    weight: float
    next: str


@dataclass(frozen=True)
class SplitNode:
    type: ClassVar[str] = "split"
    instant: ClassVar[bool] = True
    id: str
    paths: tuple[Path, ...]
    label: str = ""

    def targets(self) -> tuple[str, ...]:
        return tuple(p.next for p in self.paths)


@dataclass(frozen=True)
class Arm:
    name: str
    weight: float
    next: str


@dataclass(frozen=True)
class ExperimentNode:
    type: ClassVar[str] = "experiment"
    instant: ClassVar[bool] = True
    id: str
    key: str | None
    variants: tuple[Arm, ...]
    control: Arm | None = None
    label: str = ""

    def arms(self) -> tuple[Arm, ...]:
        """Variants then the control: the order buckets are given out in."""
        return (*self.variants, self.control) if self.control else self.variants

    def experiment_key(self, journey_id: str) -> str:
        return self.key or f"{journey_id}:{self.id}"

    def targets(self) -> tuple[str, ...]:
        return tuple(a.next for a in self.arms())


@dataclass(frozen=True)
class UpdateProfileNode:
    type: ClassVar[str] = "update_profile"
    instant: ClassVar[bool] = True
    id: str
    traits: dict[str, Any] = field(default_factory=dict)
    tags: tuple[tuple[str, str], ...] = ()
    next: str | None = None
    label: str = ""

    def targets(self) -> tuple[str, ...]:
        return (self.next,) if self.next else ()


@dataclass(frozen=True)
class WebhookNode:
    type: ClassVar[str] = "webhook"
    instant: ClassVar[bool] = True
    id: str
    channel: str
    body: dict[str, Any] = field(default_factory=dict)
    next: str | None = None
    label: str = ""

    def targets(self) -> tuple[str, ...]:
        return (self.next,) if self.next else ()


@dataclass(frozen=True)
class ExitNode:
    type: ClassVar[str] = "exit"
    instant: ClassVar[bool] = False
    id: str
    label: str = ""

    def targets(self) -> tuple[str, ...]:
        return ()


JourneyNode = (
    SendNode
    | WaitNode
    | WaitEventNode
    | BranchNode
    | SplitNode
    | ExperimentNode
    | UpdateProfileNode
    | WebhookNode
    | ExitNode
)
WAITING_TYPES = ("wait", "wait_event")


def _next(doc: dict, path: str, required: bool = False) -> str | None:
    if doc.get("next") is None and not required:
        return None
    return _node_id(doc.get("next"), f"{path}.next")


def _send(nid: str, doc: dict, path: str, schema: rules.Schema) -> SendNode:
    allowed = ("type", "label", "template", "templates", "channel", "channels", "category", "next")
    _obj(doc, path, allowed, ("template", "channel"))
    channel = _text(doc["channel"], f"{path}.channel", 128)
    channels: tuple[str, ...] = ()
    if channel == "best":
        raw = doc.get("channels")
        if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_CHANNELS:
            raise _fail(
                f"{path}.channels", f'"best" chooses among 2 to {MAX_CHANNELS} channels: give them in fallback order'
            )
        channels = tuple(_text(c, f"{path}.channels[{i}]", 128) for i, c in enumerate(raw))
        if "best" in channels or len(set(channels)) != len(channels):
            raise _fail(f"{path}.channels", 'expected distinct channel names (not "best")')
    elif doc.get("channels") is not None:
        raise _fail(f"{path}.channels", 'applies to channel "best" only')
    templates: tuple[tuple[str, str], ...] = ()
    if doc.get("templates") is not None:
        raw_templates = doc["templates"]
        if channel != "best":
            raise _fail(f"{path}.templates", 'applies to channel "best" only')
        if not isinstance(raw_templates, dict) or not raw_templates:
            raise _fail(f"{path}.templates", "expected an object of channel name -> template id")
        for name in raw_templates:
            if name not in channels:
                raise _fail(f"{path}.templates.{name}", "is not one of this send's channels")
        templates = tuple(
            (name, _text(raw_templates[name], f"{path}.templates.{name}")) for name in channels if name in raw_templates
        )
    category = doc.get("category")
    if category is not None and category not in ("marketing", "transactional"):
        raise _fail(f"{path}.category", "expected marketing or transactional")
    return SendNode(
        nid,
        _text(doc["template"], f"{path}.template"),
        channel,
        channels,
        category,
        _next(doc, path),
        _label(doc, path),
        templates,
    )


def _wait(nid: str, doc: dict, path: str, schema: rules.Schema) -> WaitNode:
    _obj(doc, path, ("type", "label", "duration", "until", "next"))
    if (doc.get("duration") is None) == (doc.get("until") is None):
        raise _fail(path, "expected either duration or until")
    if doc.get("duration") is not None:
        return WaitNode(
            nid, duration=_duration(doc["duration"], f"{path}.duration"), next=_next(doc, path), label=_label(doc, path)
        )
    until = _obj(doc["until"], f"{path}.until", ("time", "weekdays"), ("time",))
    at = parse_time_of_day(until["time"])
    if at is None:
        raise _fail(f"{path}.until.time", 'expected a time of day such as "10:00"')
    weekdays: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    if until.get("weekdays") is not None:
        raw = until["weekdays"]
        if not isinstance(raw, list) or not raw:
            raise _fail(
                f"{path}.until.weekdays", "expected a non-empty list of ISO weekdays (1 = Monday .. 7 = Sunday)"
            )
        weekdays = tuple(sorted({_whole(d, f"{path}.until.weekdays[{i}]", 1, 7) for i, d in enumerate(raw)}))
    return WaitNode(nid, until=TimeOfDay(at, weekdays), next=_next(doc, path), label=_label(doc, path))


def _wait_event(nid: str, doc: dict, path: str, schema: rules.Schema) -> WaitEventNode:
    _obj(doc, path, ("type", "label", "event", "match", "where", "timeout", "on_event", "on_timeout"),
         ("event", "timeout", "on_event", "on_timeout"))  # fmt: skip
    return WaitEventNode(
        nid, _text(doc["event"], f"{path}.event", MAX_NAME), _duration(doc["timeout"], f"{path}.timeout"),
        _node_id(doc["on_event"], f"{path}.on_event"), _node_id(doc["on_timeout"], f"{path}.on_timeout"),
        _properties(doc.get("match"), f"{path}.match"), _filter(doc.get("where"), f"{path}.where"), _label(doc, path),
    )  # fmt: skip


def _branch(nid: str, doc: dict, path: str, schema: rules.Schema) -> BranchNode:
    _obj(doc, path, ("type", "label", "rule", "yes", "no"), ("rule", "yes", "no"))
    try:
        rule = rules.parse(doc["rule"], schema)
    except InvalidInput as exc:
        raise _fail(f"{path}.rule", exc.message) from None
    return BranchNode(
        nid, rule, _node_id(doc["yes"], f"{path}.yes"), _node_id(doc["no"], f"{path}.no"), _label(doc, path)
    )


def _split(nid: str, doc: dict, path: str, schema: rules.Schema) -> SplitNode:
    _obj(doc, path, ("type", "label", "paths"), ("paths",))
    raw = doc["paths"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_PATHS:
        raise _fail(f"{path}.paths", f"expected 1 to {MAX_PATHS} paths")
    paths = []
    for i, p in enumerate(raw):
        here = f"{path}.paths[{i}]"
        p = _obj(p, here, ("weight", "next"), ("weight", "next"))
        paths.append(Path(_weight(p["weight"], f"{here}.weight"), _node_id(p["next"], f"{here}.next")))
    return SplitNode(nid, tuple(paths), _label(doc, path))


def _experiment(nid: str, doc: dict, path: str, schema: rules.Schema) -> ExperimentNode:
    _obj(doc, path, ("type", "label", "key", "variants", "control"), ("variants",))
    key = doc.get("key")
    if key is not None and (not isinstance(key, str) or not EXPERIMENT_KEY.match(key)):
        raise _fail(f"{path}.key", "expected letters, digits, _ - and :, up to 128")
    raw = doc["variants"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_PATHS:
        raise _fail(f"{path}.variants", f"expected 1 to {MAX_PATHS} variants")
    variants = []
    for i, v in enumerate(raw):
        here = f"{path}.variants[{i}]"
        v = _obj(v, here, ("name", "weight", "next"), ("name", "next"))
        name = v["name"]
        if not isinstance(name, str) or not ARM_NAME.match(name):
            raise _fail(f"{here}.name", "expected 1-64 printable characters, no '.' and no '$' first")
        if name in RESERVED_ARMS:
            raise _fail(f"{here}.name", f"{name!r} is reserved")
        if any(a.name == name for a in variants):
            raise _fail(f"{here}.name", f"variant {name!r} is named twice")
        variants.append(Arm(name, _weight(v.get("weight"), f"{here}.weight"), _node_id(v["next"], f"{here}.next")))
    control = None
    if doc.get("control") is not None:
        c = _obj(doc["control"], f"{path}.control", ("weight", "next"), ("next",))
        control = Arm(
            CONTROL, _weight(c.get("weight"), f"{path}.control.weight"), _node_id(c["next"], f"{path}.control.next")
        )
    if len(variants) + (control is not None) < 2:
        raise _fail(f"{path}.variants", "an experiment needs at least two arms (variants, or a variant and a control)")
    return ExperimentNode(nid, key, tuple(variants), control, _label(doc, path))


def _update_profile(nid: str, doc: dict, path: str, schema: rules.Schema) -> UpdateProfileNode:
    _obj(doc, path, ("type", "label", "traits", "tags", "next"))
    traits = doc.get("traits") or {}
    if not isinstance(traits, dict):
        raise _fail(f"{path}.traits", "expected an object")
    _checked_keys(traits, f"{path}.traits")
    raw_tags = doc.get("tags") or []
    if not isinstance(raw_tags, list) or len(raw_tags) > 50:
        raise _fail(f"{path}.tags", "expected a list of up to 50 tags")
    tags = []
    for i, t in enumerate(raw_tags):
        here = f"{path}.tags[{i}]"
        t = _obj(t, here, ("name", "value"), ("name",))
        name = _property(t["name"], f"{here}.name")
        value = t.get("value", "true")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(int(value)) if float(value).is_integer() else str(value)
        tags.append((name, _text(value, f"{here}.value", 200)))
    if not traits and not tags:
        raise _fail(path, "expected traits or tags to set")
    return UpdateProfileNode(nid, dict(traits), tuple(tags), _next(doc, path), _label(doc, path))


def _webhook(nid: str, doc: dict, path: str, schema: rules.Schema) -> WebhookNode:
    _obj(doc, path, ("type", "label", "channel", "body", "next"), ("channel",))
    body = doc.get("body") or {}
    if not isinstance(body, dict):
        raise _fail(f"{path}.body", "expected an object")
    _checked_keys(body, f"{path}.body")
    if len(json.dumps(body, ensure_ascii=False, default=str)) > MAX_BODY_BYTES:
        raise _fail(f"{path}.body", f"is larger than {MAX_BODY_BYTES} bytes")
    return WebhookNode(
        nid, _text(doc["channel"], f"{path}.channel", 128), dict(body), _next(doc, path), _label(doc, path)
    )


def _exit(nid: str, doc: dict, path: str, schema: rules.Schema) -> ExitNode:
    _obj(doc, path, ("type", "label"))
    return ExitNode(nid, _label(doc, path))


def _label(doc: dict, path: str) -> str:
    return "" if doc.get("label") is None else _text(doc["label"], f"{path}.label", MAX_NAME)


def _checked_keys(value: dict, path: str) -> None:
    try:
        check_keys(value, path)
    except InvalidInput as exc:
        raise _fail(exc.field or path, exc.message) from None
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise _fail(path, "holds a value that is not JSON") from None
    _storable(value, path)


NODE_PARSERS = {
    "send": _send,
    "wait": _wait,
    "wait_event": _wait_event,
    "branch": _branch,
    "split": _split,
    "experiment": _experiment,
    "update_profile": _update_profile,
    "webhook": _webhook,
    "exit": _exit,
}


# -- the definition -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Needs:
    """What a definition reads of a person before a run advances (the caller fetches only that)."""

    profile: bool = False
    segments: tuple[str, ...] = ()
    behaviour: bool = False
    channel_history: bool = False

    @property
    def anything(self) -> bool:
        return self.profile or bool(self.segments) or self.behaviour or self.channel_history


@dataclass(frozen=True)
class Definition:
    entry: Entry
    start: str
    nodes: dict[str, JourneyNode]
    exits: tuple[ExitOnEvent | ExitOnSegment, ...] = ()
    goal: Goal | None = None
    holdout_pct: float = 0.0
    category: str = "marketing"

    @property
    def entry_kind(self) -> str:
        return self.entry.kind

    @property
    def marketing(self) -> bool:
        return self.category == "marketing"

    def node(self, node_id: str) -> JourneyNode:
        return self.nodes[node_id]

    def of_type(self, cls: type) -> list:
        return [n for n in self.nodes.values() if isinstance(n, cls)]

    def event_names(self) -> frozenset[str]:
        """Every event this journey listens to: entry, wait_event, exit criteria, goal."""
        names = {n.event for n in self.of_type(WaitEventNode)}
        names |= {e.event for e in self.exits if isinstance(e, ExitOnEvent)}
        if isinstance(self.entry, EventEntry):
            names.add(self.entry.name)
        if self.goal is not None:
            names.add(self.goal.event)
        return frozenset(names)

    def branch_segments(self) -> tuple[str, ...]:
        found: set[str] = set()
        for n in self.of_type(BranchNode):
            found |= rules.segments_referenced(n.rule)
        return tuple(sorted(found))

    def segments(self) -> frozenset[str]:
        """Every segment referenced: the entry's, exit criteria, an audience, IN SEGMENT in branches."""
        found = set(self.branch_segments())
        found |= {e.segment for e in self.exits if isinstance(e, ExitOnSegment)}
        if isinstance(self.entry, (SegmentEntry, ScheduleEntry)) and self.entry.segment:
            found.add(self.entry.segment)
        return frozenset(found)

    @property
    def has_branches_needing_profile(self) -> bool:
        return bool(self.of_type(BranchNode))

    def needs(self) -> Needs:
        branches = self.of_type(BranchNode)
        timed = any(n.until is not None for n in self.of_type(WaitNode))
        person_zone = isinstance(self.entry, ScheduleEntry) and self.entry.schedule.timezone == "person"
        return Needs(
            profile=bool(branches) or timed or person_zone,
            segments=self.branch_segments(),
            behaviour=any(rules.windowed(n.rule) for n in branches),
            channel_history=any(n.channel == "best" for n in self.of_type(SendNode)),
        )

    def experiments(self) -> dict[str, dict[str, float]]:
        """Experiment node id -> {arm name: weight} (variants in order, then "control")."""
        return {n.id: {a.name: a.weight for a in n.arms()} for n in self.of_type(ExperimentNode)}

    def experiment_keys(self, journey_id: str) -> list[str]:
        return [n.experiment_key(journey_id) for n in self.of_type(ExperimentNode)]

    def wait_nodes(self) -> list[str]:
        """Nodes where runs stay between advances (what a migration's node map must cover)."""
        return [n.id for n in self.nodes.values() if n.type in WAITING_TYPES]


def parse(raw: Any, schema: rules.Schema = BRANCH_SCHEMA) -> Definition:
    """A definition as JSON (a dict, or its text) -> Definition; InvalidInput names the first failing path.

    `schema` checks branch rules (traits and tags seen, segment names -> ids);
    the default checks computed traits against the catalog and leaves the rest open.
    """
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            raise _fail("definition", "is not valid JSON") from None
    doc = _obj(
        raw, "", ("entry", "exit", "goal", "holdout_pct", "category", "start", "nodes"), ("entry", "start", "nodes")
    )
    entry = _entry(doc["entry"])
    exits = _exits(doc.get("exit"))
    goal = _goal(doc.get("goal"))
    holdout = doc.get("holdout_pct", 0)
    if holdout is None:
        holdout = 0
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 <= holdout <= MAX_HOLDOUT:
        raise _fail("holdout_pct", f"expected a percentage from 0 to {MAX_HOLDOUT:g}")
    category = doc.get("category", "marketing")
    if category not in ("marketing", "transactional"):
        raise _fail("category", "expected marketing or transactional")
    raw_nodes = doc["nodes"]
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise _fail("nodes", "expected an object of nodes by id")
    if len(raw_nodes) > MAX_NODES:
        raise _fail("nodes", f"a journey has at most {MAX_NODES} nodes")
    nodes: dict[str, JourneyNode] = {}
    for nid, spec in raw_nodes.items():
        path = f"nodes.{nid}"
        _node_id(nid, path)
        if nid in RESERVED_NODES:
            raise _fail(path, f"{nid!r} is a reserved node id")
        if not isinstance(spec, dict):
            raise _fail(path, "expected an object")
        kind = spec.get("type")
        parser = NODE_PARSERS.get(kind) if isinstance(kind, str) else None
        if parser is None:
            raise _fail(f"{path}.type", f"expected one of {', '.join(NODE_PARSERS)}")
        nodes[nid] = parser(nid, spec, path, schema)
    start = _node_id(doc["start"], "start")
    definition = Definition(entry, start, nodes, exits, goal, float(holdout), category)
    _check_graph(definition)
    return definition


def _target_fields(node: JourneyNode) -> list[tuple[str, str]]:
    """(JSON path under the node, target) for every edge, to name a missing target where it is written."""
    if isinstance(node, WaitEventNode):
        return [("on_event", node.on_event), ("on_timeout", node.on_timeout)]
    if isinstance(node, BranchNode):
        return [("yes", node.yes), ("no", node.no)]
    if isinstance(node, SplitNode):
        return [(f"paths[{i}].next", p.next) for i, p in enumerate(node.paths)]
    if isinstance(node, ExperimentNode):
        out = [(f"variants[{i}].next", a.next) for i, a in enumerate(node.variants)]
        return out + ([("control.next", node.control.next)] if node.control else [])
    return [("next", t) for t in node.targets()]


def _check_graph(d: Definition) -> None:
    if d.start not in d.nodes:
        raise _fail("start", f"no node {d.start!r}")
    for node in d.nodes.values():
        for where, target in _target_fields(node):
            if target not in d.nodes:
                raise _fail(f"nodes.{node.id}.{where}", f"no node {target!r}")
    seen, stack = {d.start}, [d.start]
    while stack:
        for target in d.nodes[stack.pop()].targets():
            if target not in seen:
                seen.add(target)
                stack.append(target)
    for nid in d.nodes:
        if nid not in seen:
            raise _fail(f"nodes.{nid}", "is not reachable from start")
    keys: dict[str, str] = {}
    for node in d.of_type(ExperimentNode):
        if node.key is not None:
            if node.key in keys:
                raise _fail(f"nodes.{node.id}.key", f"experiment key {node.key!r} is also used by {keys[node.key]!r}")
            keys[node.key] = node.id
    # A cycle of instant steps would advance forever within one step: refuse it (iterative DFS, colours).
    colour: dict[str, int] = {}
    for root in d.nodes:
        if colour.get(root) or not d.nodes[root].instant:
            continue
        colour[root] = 1
        path, frames = [root], [iter(d.nodes[root].targets())]
        while frames:
            target = next(frames[-1], None)
            if target is None:
                colour[path.pop()] = 2
                frames.pop()
                continue
            if not d.nodes[target].instant or colour.get(target) == 2:
                continue
            if colour.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                raise _fail(f"nodes.{target}", f"the cycle {' -> '.join(cycle)} has no wait and would never stop")
            colour[target] = 1
            path.append(target)
            frames.append(iter(d.nodes[target].targets()))


# -- canonical form -------------------------------------------------------------------------------


def _policy_json(p: Policy) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": p.mode}
    if p.cooldown is not None:
        out["cooldown"] = format_duration(p.cooldown)
    if p.key is not None:
        out["key"] = p.key
        out["max_active"] = p.max_active
    return out


def _entry_json(e: Entry) -> dict[str, Any]:
    if isinstance(e, EventEntry):
        event: dict[str, Any] = {"name": e.name}
        if e.where is not None:
            event["where"] = e.where.to_json()
        out: dict[str, Any] = {"event": event}
    elif isinstance(e, SegmentEntry):
        out = {"segment": e.segment, "on": e.on, "debounce_seconds": int(e.debounce.total_seconds())}
    elif isinstance(e, DateTraitEntry):
        out = {"date_trait": e.trait, "offset": format_duration(e.offset)}
        if e.at is not None:
            out["at"] = e.at.strftime("%H:%M")
    else:
        s = e.schedule
        out = {"schedule": {"at": s.at.isoformat(), "every": format_duration(s.every) if s.every else None,
                            "timezone": s.timezone}, "segment": e.segment}  # fmt: skip
    out["policy"] = _policy_json(e.policy)
    return out


def _node_json(n: JourneyNode) -> dict[str, Any]:
    out: dict[str, Any] = {"type": n.type}
    if isinstance(n, SendNode):
        out.update(template=n.template, channel=n.channel)
        if n.channels:
            out["channels"] = list(n.channels)
        if n.templates:
            out["templates"] = dict(n.templates)
        if n.category:
            out["category"] = n.category
    elif isinstance(n, WaitNode):
        if n.duration is not None:
            out["duration"] = format_duration(n.duration)
        else:
            out["until"] = {"time": n.until.time.strftime("%H:%M"), "weekdays": list(n.until.weekdays)}  # type: ignore[union-attr]
    elif isinstance(n, WaitEventNode):
        out.update(event=n.event, match=list(n.match), timeout=format_duration(n.timeout), on_event=n.on_event,
                   on_timeout=n.on_timeout)  # fmt: skip
        if n.where is not None:
            out["where"] = n.where.to_json()
    elif isinstance(n, BranchNode):
        out.update(rule=rules.to_text(n.rule), yes=n.yes, no=n.no)
    elif isinstance(n, SplitNode):
        out["paths"] = [{"weight": p.weight, "next": p.next} for p in n.paths]
    elif isinstance(n, ExperimentNode):
        if n.key is not None:
            out["key"] = n.key
        out["variants"] = [{"name": a.name, "weight": a.weight, "next": a.next} for a in n.variants]
        if n.control is not None:
            out["control"] = {"weight": n.control.weight, "next": n.control.next}
    elif isinstance(n, UpdateProfileNode):
        out.update(traits=dict(n.traits), tags=[{"name": k, "value": v} for k, v in n.tags])
    elif isinstance(n, WebhookNode):
        out.update(channel=n.channel, body=dict(n.body))
    nxt = getattr(n, "next", None)
    if nxt is not None:
        out["next"] = nxt
    if n.label:
        out["label"] = n.label
    return out


def canonical(d: Definition) -> dict[str, Any]:
    """The stored form: defaults explicit, rules as canonical text; `parse(canonical(d)) == d`."""
    out: dict[str, Any] = {"entry": _entry_json(d.entry)}
    out["exit"] = [
        {"segment_exit": e.segment} if isinstance(e, ExitOnSegment)
        else {"event": e.event, "match": list(e.match), **({"where": e.where.to_json()} if e.where else {})}
        for e in d.exits
    ]  # fmt: skip
    if d.goal is not None:
        g = d.goal
        out["goal"] = {"event": g.event, "within": format_duration(g.within), "match": list(g.match)}
        if g.where is not None:
            out["goal"]["where"] = g.where.to_json()
    out["holdout_pct"] = d.holdout_pct
    out["category"] = d.category
    out["start"] = d.start
    out["nodes"] = {nid: _node_json(n) for nid, n in d.nodes.items()}
    return out


def canonical_json(d: Definition) -> str:
    """One text per meaning (sorted keys, no spaces): what a version's hash is taken of."""
    return json.dumps(canonical(d), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(d: Definition) -> str:
    return hashlib.sha256(canonical_json(d).encode()).hexdigest()


def known_timezone(name: str) -> bool:
    """For callers validating a zone next to a definition (a workspace setting)."""
    return known_zone(name)

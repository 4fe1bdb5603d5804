"""How a person's attributes and behaviour become bitmap keys (no I/O).

One function per kind of attribute says which bitmaps a value sets; the
real-time writer (bitmaps.py), the rebuild from MongoDB and the benchmark
loader (bulk.py) all call these, which is what makes a rebuild give the same
bits as the real-time path.

Key suffixes inside a shard (prefix `cdp:{<ws>:<shard>}:`):

    alive                                  the person exists
    x:<path>                               the attribute has a value (path: traits.age, computed.revenue, tags.vip)
    v:<path>:<json value>                  text/bool value (each element for lists); numbers 0..200 with no decimals
    s:<path>:<t>                           whole number 0..200 is >= t, for t = 0, 5, 10 ... 200 (range steps)
    n:<path>:<i>, n:<path>:neg             bit-sliced index of |value| * scale, and the sign
    r:<path>:<t>                           value * scale >= t, for the round thresholds in LADDER
    gv:<tag>:<json value>                  tag value; g:<tag>:<b> tag confidence in [b/10, (b+1)/10)
    e:<event key>:d:<yyyymmdd>:<k>         did the event at least k times that day (k = 1..COUNT_CAP)
    e:<event key>:w:<yyyymmdd>:<k>         ... that ISO week (key named by its Monday): the roll-up
    m:<segment id>                         saved segment's announced membership
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from services.kit.catalog import COMPUTED, TIME
from services.kit.rules import CONFIDENCE_STEPS, INDEXED_PROPERTIES

SHARD_BITS = 20
SHARD_MASK = (1 << SHARD_BITS) - 1
SMALL_INT_MAX = 200  # integers 0..200 also get value bitmaps: a range of ages is one OR
# Whole numbers 0..200 also set "value >= t" bitmaps every STEP, so that "age BETWEEN 25 AND 34"
# reads two bitmaps (>= 25 and not >= 35) instead of an OR of ten value bitmaps.
STEP = 5
COUNT_CAP = 8  # "at least k times" bitmaps per period, k = 1..COUNT_CAP
RETENTION_DAYS = 120  # behaviour bitmaps expire after this
# Round thresholds (1, 2, 5 x 10^k in scaled units: 0.01, 0.02, 0.05 ... 5 billion) get a
# "value >= t" bitmap of their own, so "revenue >= 1000" is one bitmap instead of a
# bit-sliced comparison over ~25 slices. Other thresholds use the slices.
LADDER = tuple(m * 10**k for k in range(12) for m in (1, 2, 5))


def shard_of(uid: int) -> tuple[int, int]:
    return uid >> SHARD_BITS, uid & SHARD_MASK


def tag_prefix(workspace: str, shard: int) -> str:
    return f"cdp:{{{workspace}:{shard}}}:"


def normalise(value: Any) -> str | None:
    """Canonical text of an indexable scalar; None for objects and null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return None


def _is_time(source: str, name: str) -> bool:
    trait = COMPUTED.get(name) if source == "computed" else None
    return trait is not None and trait.kind == TIME


def scale(path: str) -> int:
    """Numbers are indexed as integers: two decimals, times as whole epoch seconds."""
    source, _, name = path.partition(".")
    return 1 if _is_time(source, name) else 100


def as_number(path: str, value: Any) -> int | None:
    """The integer a numeric (or time) attribute is indexed as; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return round(value * scale(path))
    source, _, name = path.partition(".")
    if isinstance(value, str) and _is_time(source, name):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return int(parsed.timestamp())
    return None


def small_int(path: str, scaled: int) -> int | None:
    """The small whole number that also gets a value bitmap, if the value is one."""
    factor = scale(path)
    if factor != 100 or scaled < 0 or scaled % 100 or scaled > SMALL_INT_MAX * 100:
        return None
    return scaled // 100


def value_key(path: str, value: Any) -> str | None:
    text = normalise(value)
    return None if text is None else f"v:{path}:{text}"


def step_key(path: str, threshold: int) -> str:
    return f"s:{path}:{threshold}"


def exists_key(path: str) -> str:
    return f"x:{path}"


def slice_key(path: str, i: int) -> str:
    return f"n:{path}:{i}"


def neg_key(path: str) -> str:
    return f"n:{path}:neg"


def ladder_key(path: str, threshold: int) -> str:
    return f"r:{path}:{threshold}"


def bucket(confidence: float) -> int:
    return max(0, min(CONFIDENCE_STEPS - 1, int(confidence * CONFIDENCE_STEPS + 1e-9)))


def tag_bucket_key(name: str, b: int) -> str:
    return f"g:{name}:{b}"


def tag_value_key(name: str, value: str) -> str:
    return f"gv:{name}:{json.dumps(value, ensure_ascii=False)}"


def membership_key(segment_id: str) -> str:
    return f"m:{segment_id}"


class Encoded:
    """What one attribute value sets: value keys, and the number for the bit slices."""

    __slots__ = ("values", "number", "exists")

    def __init__(self, values: list[str], number: int | None, exists: bool) -> None:
        self.values = values
        self.number = number
        self.exists = exists


def encode(path: str, value: Any, wide: bool = False) -> Encoded:
    """Bitmaps for `path` = `value` (a profile.changed `after`).

    `wide`: the attribute has held numbers other than whole 0..200 (money, say); then
    whole numbers get no value bitmap (the compiler uses the slices for it), which
    saves up to 201 bitmaps per shard for such an attribute.
    """
    if value is None:
        return Encoded([], None, False)
    if path.startswith("tags."):
        name = path[5:]
        if not isinstance(value, dict):
            value = {"value": value}
        text = value.get("value")
        text = "true" if text is None else str(text)
        confidence = value.get("confidence")
        confidence = 1.0 if not isinstance(confidence, (int, float)) or isinstance(confidence, bool) else confidence
        return Encoded([tag_value_key(name, text), tag_bucket_key(name, bucket(confidence))], None, True)
    number = as_number(path, value)
    if number is not None:
        small = small_int(path, number)
        keys = [value_key(path, small)] if small is not None and not wide else []
        if keys:
            keys += [step_key(path, t) for t in range(0, small + 1, STEP)]
        return Encoded(keys, number, True)
    if isinstance(value, list):
        keys = sorted({k for v in value if (k := value_key(path, v))})
        return Encoded(keys, None, True)
    key = value_key(path, value)
    return Encoded([key] if key else [], None, True)


# -- behaviour ---------------------------------------------------------------------
def event_key(event: str, prop: str | None = None, prop_value: Any = None) -> str:
    base = json.dumps(event, ensure_ascii=False)
    return base if prop is None else f"{base}|{prop}={normalise(prop_value)}"


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def day_key(ekey: str, day: dt.date, k: int) -> str:
    return f"e:{ekey}:d:{day:%Y%m%d}:{k}"


def week_key(ekey: str, week: dt.date, k: int) -> str:
    return f"e:{ekey}:w:{week:%Y%m%d}:{k}"


def expires_at(last_day: dt.date) -> int:
    """Epoch seconds when a period's behaviour bitmaps expire."""
    end = dt.datetime.combine(last_day + dt.timedelta(days=RETENTION_DAYS + 1), dt.time(), dt.UTC)
    return int(end.timestamp())


def periods(start: dt.date, end: dt.date) -> list[tuple[str, dt.date]]:
    """[start, end] as whole ISO weeks (the roll-ups) and the days around them."""
    out, day = [], start
    while day <= end:
        if day.weekday() == 0 and day + dt.timedelta(days=6) <= end:
            out.append(("w", day))
            day += dt.timedelta(days=7)
        else:
            out.append(("d", day))
            day += dt.timedelta(days=1)
    return out


def period_key(ekey: str, kind: str, day: dt.date, k: int) -> str:
    return day_key(ekey, day, k) if kind == "d" else week_key(ekey, day, k)


def event_keys_of(event: str, properties: dict) -> list[str]:
    """The event's own key and one per indexed property value it carries (products' values too)."""
    keys = {event_key(event)}
    products = properties.get("products") if isinstance(properties.get("products"), list) else []
    for prop in INDEXED_PROPERTIES:
        values = [properties.get(prop)] + [p.get(prop) for p in products if isinstance(p, dict)]
        for v in values:
            if isinstance(v, (str, int, float, bool)) and not isinstance(v, dict):
                keys.add(event_key(event, prop, v))
    return sorted(keys)

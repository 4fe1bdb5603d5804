"""Trait keys, values and the optional per-workspace trait schema (pure, no I/O).

A trait value is one of five types: string, number, boolean, datetime (an
ISO-8601 string, stored normalised to UTC) and list (of strings, numbers or
booleans). Keys and values are checked at the API edge, before anything is
written: a bad key or value fails the whole call with the key named.

Limits (documented in the README):
- key: 1..128 characters, not starting with `$`, without `.` or NUL;
- at most 200 traits in one write;
- a string value at most 4,096 characters, a list at most 100 items.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from services.kit.documents import check_key
from services.kit.errors import InvalidInput

MAX_TRAITS_PER_WRITE = 200
MAX_STRING_LENGTH = 4096
MAX_LIST_ITEMS = 100

STRING, NUMBER, BOOLEAN, DATETIME, LIST = "string", "number", "boolean", "datetime", "list"
TYPES = (STRING, NUMBER, BOOLEAN, DATETIME, LIST)


def type_of(value: Any) -> str | None:
    """The trait type a value has, without a schema (ISO strings stay strings)."""
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, list):
        return LIST
    return None


def parse_datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def normalise(key: str, value: Any, schema: dict[str, str] | None, field: str) -> Any:
    """The value to store for trait `key`, or InvalidInput naming `field.key`.

    With a schema entry the value must have that type (a datetime: an ISO-8601
    string, stored in UTC); without one, any of the five types is accepted.
    """
    where = f"{field}.{key}"
    kind = type_of(value)
    if kind is None:
        raise InvalidInput(f"trait {key!r} must be a string, number, boolean, datetime or list", where)
    if kind == NUMBER and not math.isfinite(value):
        raise InvalidInput(f"trait {key!r} must be a finite number", where)
    if kind == STRING and len(value) > MAX_STRING_LENGTH:
        raise InvalidInput(f"trait {key!r} is longer than {MAX_STRING_LENGTH} characters", where)
    if kind == LIST:
        if len(value) > MAX_LIST_ITEMS:
            raise InvalidInput(f"trait {key!r} has more than {MAX_LIST_ITEMS} items", where)
        for item in value:
            if type_of(item) not in (STRING, NUMBER, BOOLEAN):
                raise InvalidInput(f"trait {key!r} may hold only strings, numbers and booleans", where)
            if isinstance(item, str) and len(item) > MAX_STRING_LENGTH:
                raise InvalidInput(f"an item of trait {key!r} is too long", where)
    expected = (schema or {}).get(key)
    if expected is None:
        return value
    if expected == DATETIME:
        parsed = parse_datetime(value)
        if parsed is None:
            raise InvalidInput(f"trait {key!r} must be an ISO-8601 datetime, got {kind}", where)
        return iso(parsed)
    if kind != expected:
        raise InvalidInput(f"trait {key!r} must be a {expected}, got {kind}", where)
    return value


def check_write(
    set_: dict[str, Any] | None,
    set_once: dict[str, Any] | None,
    unset: list[str] | None,
    schema: dict[str, str] | None,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Validate one UpsertTraits call as a whole; returns the normalised values."""
    count = len(set_ or {}) + len(set_once or {}) + len(unset or [])
    if count > MAX_TRAITS_PER_WRITE:
        raise InvalidInput(f"at most {MAX_TRAITS_PER_WRITE} traits in one write", "set")
    out = []
    for field, values in (("set", set_ or {}), ("set_once", set_once or {})):
        checked = {}
        for key, value in values.items():
            check_key(key, field)
            if value is None:
                raise InvalidInput(f"trait {key!r} is null; use unset to remove a trait", f"{field}.{key}")
            checked[key] = normalise(key, value, schema, field)
        out.append(checked)
    for key in unset or []:
        check_key(key, "unset")
    return out[0], out[1], list(unset or [])


def clean_event_traits(traits: dict[str, Any], schema: dict[str, str] | None) -> tuple[dict[str, Any], list[str]]:
    """Identify traits from an SDK: keep the valid ones, drop (and report) the others.

    An event was already accepted by the collection API; refusing it here would
    lose its valid traits and its activity, so only the offending traits go.
    Nulls are kept: on an identify a null unsets the trait.
    """
    kept, dropped = {}, []
    for key, value in traits.items():
        try:
            check_key(key, "traits")
            kept[key] = None if value is None else normalise(key, value, schema, "traits")
        except InvalidInput:
            dropped.append(str(key)[:64])
    return kept, dropped


def check_schema(schema: dict[str, str]) -> dict[str, str]:
    for key, kind in schema.items():
        check_key(key, "trait_schema")
        if kind not in TYPES:
            raise InvalidInput(f"trait type must be one of {', '.join(TYPES)}, got {kind!r}", f"trait_schema.{key}")
    return dict(schema)

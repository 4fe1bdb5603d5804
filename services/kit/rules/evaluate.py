"""A rule evaluated on one person's profile: computed tags now, journey branches next.

The answers match segment's bitmap index for the same profile: numbers are
compared as the index stores them (two decimals; computed times as whole epoch
seconds), "=" on a list means the list holds the value, "!=" and NOT hold for
a person without the field, and a tag matches at or above the asked confidence.
DID and IN SEGMENT need the person's behaviour or memberships, which the
caller passes as functions; a context without them refuses such rules at
parse time (Schema.allowed), so they are never met here unanswered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from services.kit.catalog import COMPUTED, TIME
from services.kit.rules.ast import And, Between, Compare, Did, Exists, HasTag, InSegment, Node, Not, Or


class Person:
    """What a rule can read of one person: the profile document, and optional behaviour and memberships."""

    def __init__(
        self,
        profile: dict,
        did: Callable[[Did], bool] | None = None,
        in_segment: Callable[[str], bool] | None = None,
    ) -> None:
        self.profile = profile
        self.did = did
        self.in_segment = in_segment

    def field(self, path: str) -> Any:
        section, _, name = path.partition(".")
        return (self.profile.get(section) or {}).get(name)


def _is_time(path: str) -> bool:
    source, _, name = path.partition(".")
    trait = COMPUTED.get(name) if source == "computed" else None
    return trait is not None and trait.kind == TIME


def number(path: str, value: Any) -> int | None:
    """The integer the index compares (segment encoding.as_number); None for what is not a number there."""
    if isinstance(value, bool):
        return None
    timed = _is_time(path)
    if isinstance(value, dt.datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()) if timed else None
    if isinstance(value, (int, float)):
        return round(value * (1 if timed else 100))
    if isinstance(value, str) and timed:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp())
    return None


def _same(path: str, value: Any, wanted: Any) -> bool:
    if isinstance(value, bool) or isinstance(wanted, bool):
        return isinstance(value, bool) and isinstance(wanted, bool) and value == wanted
    a, b = number(path, value), number(path, wanted)
    if a is not None or b is not None:
        return a is not None and a == b
    return isinstance(value, str) and isinstance(wanted, str) and value == wanted


_ORDER = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def holds(node: Node, person: Person) -> bool:
    if isinstance(node, And):
        return all(holds(item, person) for item in node.items)
    if isinstance(node, Or):
        return any(holds(item, person) for item in node.items)
    if isinstance(node, Not):
        return not holds(node.item, person)
    if isinstance(node, Exists):
        return person.field(node.path) is not None
    if isinstance(node, Compare):
        value = person.field(node.path)
        if value is None:
            return False
        if node.op == "=":
            items = value if isinstance(value, list) else [value]
            return any(_same(node.path, item, node.value) for item in items)
        a, b = number(node.path, value), number(node.path, node.value)
        return a is not None and b is not None and _ORDER[node.op](a, b)
    if isinstance(node, Between):
        a = number(node.path, person.field(node.path))
        low, high = number(node.path, node.low), number(node.path, node.high)
        return None not in (a, low, high) and low <= a <= high
    if isinstance(node, HasTag):
        tag = (person.profile.get("tags") or {}).get(node.name)
        if not tag:
            return False
        if node.value is not None and tag.get("value") != node.value:
            return False
        return tag.get("confidence", 1.0) + 1e-9 >= node.min_confidence
    if isinstance(node, Did):
        if person.did is None:
            raise LookupError("this evaluation has no behaviour to answer DID")
        return person.did(node)
    if isinstance(node, InSegment):
        if person.in_segment is None:
            raise LookupError("this evaluation has no memberships to answer IN SEGMENT")
        return person.in_segment(node.segment_id)
    raise TypeError(f"not a rule node: {node!r}")

"""Brute-force truth of a rule for one person, straight from the AST (no bitmaps), for the segment tests."""

from __future__ import annotations

import datetime as dt

from services.kit.rules import And, Between, Compare, Did, Exists, HasTag, Not, Or
from services.segment import encoding as enc


def holds(node, person: dict, today: dt.date) -> bool:
    """person: {"attrs": {path: value}, "events": {(event key, date): count}}."""
    attrs = person.get("attrs", {})
    if isinstance(node, Not):
        return not holds(node.item, person, today)
    if isinstance(node, And):
        return all(holds(i, person, today) for i in node.items)
    if isinstance(node, Or):
        return any(holds(i, person, today) for i in node.items)
    if isinstance(node, Exists):
        return attrs.get(node.path) is not None
    if isinstance(node, (Compare, Between)):
        value = attrs.get(node.path)
        if value is None:
            return False
        values = value if isinstance(value, list) else [value]
        number = enc.as_number(node.path, value)
        if isinstance(node, Between):
            return number is not None and enc.as_number(node.path, node.low) <= number <= enc.as_number(
                node.path, node.high
            )
        if node.op == "=":
            if number is not None and not isinstance(node.value, bool):
                target = enc.as_number(node.path, node.value)
                return target is not None and number == target
            return any(enc.normalise(v) == enc.normalise(node.value) for v in values)
        target = enc.as_number(node.path, node.value)
        if number is None or target is None:
            return False
        return {
            "<": number < target,
            "<=": number <= target,
            ">": number > target,
            ">=": number >= target,
        }[node.op]
    if isinstance(node, HasTag):
        tag = attrs.get(f"tags.{node.name}")
        if tag is None:
            return False
        if node.value is not None and str(tag.get("value", "true")) != node.value:
            return False
        return enc.bucket(tag.get("confidence", 1.0)) >= round(node.min_confidence * 10)
    if isinstance(node, Did):
        key = enc.event_key(node.event, node.prop, node.prop_value)
        start = today - dt.timedelta(days=node.days - 1)
        total = sum(c for (k, day), c in person.get("events", {}).items() if k == key and start <= day <= today)
        return total >= node.times
    raise TypeError(node)

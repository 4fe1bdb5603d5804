"""The canonical text form of a tree: what saved rules are stored as, and what `parse` reads back."""

from __future__ import annotations

import json

from services.kit.rules.ast import And, Between, Compare, Did, Exists, HasTag, InSegment, Node, Not, Or


def literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value) if isinstance(value, float) else str(value)


def to_text(node: Node) -> str:
    if isinstance(node, Compare):
        return f"{node.path} {node.op} {literal(node.value)}"
    if isinstance(node, Between):
        return f"{node.path} BETWEEN {literal(node.low)} AND {literal(node.high)}"
    if isinstance(node, Exists):
        return f"{node.path} EXISTS"
    if isinstance(node, HasTag):
        text = f"tags.{node.name}"
        if node.value is not None:
            text += f" = {literal(node.value)}"
        if node.min_confidence:
            text += f" WITH CONFIDENCE >= {node.min_confidence}"
        return text
    if isinstance(node, Did):
        text = f"DID {literal(node.event)}"
        if node.prop:
            text += f" WHERE {node.prop} = {literal(node.prop_value)}"
        if node.times > 1:
            text += f" AT LEAST {node.times} TIMES"
        return f"{text} IN LAST {node.days} DAYS"
    if isinstance(node, InSegment):
        return f"IN SEGMENT {literal(node.segment_id)}"
    if isinstance(node, Not):
        if isinstance(node.item, Did):
            return "DID NOT" + to_text(node.item)[3:]
        inner = to_text(node.item)
        return f"NOT ({inner})" if isinstance(node.item, (And, Or)) else f"NOT {inner}"
    joiner = " AND " if isinstance(node, And) else " OR "
    return joiner.join(f"({to_text(i)})" if isinstance(i, (And, Or)) else to_text(i) for i in node.items)

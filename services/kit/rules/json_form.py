"""The JSON form of a rule (what a rule builder sends) -> the same tree. Errors name the JSON path.

{"and": [...]}, {"or": [...]}, {"not": {...}}
{"trait": "age", "op": ">=", "value": 25}     ops: = != < <= > >= between in not_in contains exists
{"computed": "revenue", "op": "between", "value": [100, 500]}
{"tag": "fitness", "value": "true", "min_confidence": 0.8}
{"did": "Order Completed", "at_least": 2, "days": 30, "where": {"category": "fruit"}}
{"did_not": "App Opened", "days": 7}
{"segment": "seg_0123"}
"""

from __future__ import annotations

import re

from services.kit.rules import schema as sc
from services.kit.rules.ast import And, Between, Compare, Did, Exists, HasTag, Node, Not, Or
from services.kit.rules.limits import INDEXED_PROPERTIES, MAX_DAYS, MAX_TIMES
from services.kit.rules.text_form import segment_ref

OPS = ("=", "!=", "<", "<=", ">", ">=", "between", "in", "not_in", "contains", "exists")


class Parser:
    def __init__(self, schema: sc.Schema) -> None:
        self.schema = schema
        self.budget = sc.Budget()

    def node(self, doc, where: str) -> Node:
        self.budget.enter(where)
        try:
            return self._node(doc, where)
        finally:
            self.budget.leave()

    def _node(self, doc, where: str) -> Node:
        if not isinstance(doc, dict) or not doc:
            raise sc.error("expected an object", where)
        for key in ("and", "or"):
            if key in doc:
                items = doc[key]
                if not isinstance(items, list) or not items:
                    raise sc.error(f"'{key}' needs a non-empty list", f"{where}.{key}")
                nodes = tuple(self.node(item, f"{where}.{key}[{i}]") for i, item in enumerate(items))
                if len(nodes) == 1:
                    return nodes[0]
                return And(nodes) if key == "and" else Or(nodes)
        if "not" in doc:
            return Not(self.node(doc["not"], f"{where}.not"))
        if "trait" in doc or "computed" in doc:
            self.schema.allow(sc.FIELDS, "trait and computed conditions", where)
            return self.field(doc, where)
        if "tag" in doc:
            self.schema.allow(sc.TAGS, "tag conditions", where)
            return self.tag(doc, where)
        if "did" in doc or "did_not" in doc:
            self.schema.allow(sc.BEHAVIOUR, "did / did_not", where)
            return self.did(doc, where)
        if "segment" in doc:
            self.schema.allow(sc.SEGMENTS, "segment conditions", where)
            ref = doc["segment"]
            if not isinstance(ref, str) or not ref:
                raise sc.error("'segment' needs an id or name", f"{where}.segment")
            return self.budget.leaf(segment_ref(self.schema, ref, f"{where}.segment"))
        raise sc.error(
            f"unknown condition with keys {sorted(doc)}: use and/or/not/trait/computed/tag/did/did_not/segment", where
        )

    def field(self, doc: dict, where: str) -> Node:
        source = "trait" if "trait" in doc else "computed"
        name = doc[source]
        if not isinstance(name, str) or not re.fullmatch(r"[^\W\d]\w*", name):
            raise sc.error("field name must be a plain name", f"{where}.{source}")
        path = f"{'traits' if source == 'trait' else 'computed'}.{name}"
        op = doc.get("op", "=")
        if op not in OPS:
            raise sc.error(f"unknown op {op!r} (use {', '.join(OPS)})", f"{where}.op")
        value = doc.get("value")
        at = f"{where}.{source}"
        if op == "exists":
            sc.check_field(self.schema, path, op, None, at)
            return self.budget.leaf(Exists(path))
        if op in ("in", "not_in", "between") and (
            not isinstance(value, list) or not value or (op == "between" and len(value) != 2)
        ):
            need = "[low, high]" if op == "between" else "a non-empty list"
            raise sc.error(f"{op!r} needs {need}", f"{where}.value")
        for v in value if isinstance(value, list) else [value]:
            if not isinstance(v, (str, int, float, bool)):
                raise sc.error("values must be strings, numbers or booleans", f"{where}.value")
        sc.check_field(self.schema, path, op, value, at)
        checked = f"{where}.value"
        if op == "between":
            low, high = (sc.normalise(path, v, checked) for v in value)
            return self.budget.leaf(Between(path, low, high))
        if op in ("in", "not_in"):
            leaves = tuple(self.budget.leaf(Compare(path, "=", sc.normalise(path, v, checked))) for v in value)
            node = leaves[0] if len(leaves) == 1 else Or(leaves)
            return Not(node) if op == "not_in" else node
        value = sc.normalise(path, value, checked)
        if op == "!=":
            return Not(self.budget.leaf(Compare(path, "=", value)))
        return self.budget.leaf(Compare(path, "=" if op == "contains" else op, value))

    def tag(self, doc: dict, where: str) -> Node:
        name = doc["tag"]
        if not isinstance(name, str) or not name:
            raise sc.error("'tag' needs a name", f"{where}.tag")
        if self.schema.tags is not None and name not in self.schema.tags:
            raise sc.error(f"unknown tag {name!r}", f"{where}.tag")
        value = doc.get("value")
        if value is not None:
            value = sc.tag_value(name, value)
        confidence = sc.confidence(doc.get("min_confidence", 0.0), f"{where}.min_confidence")
        return self.budget.leaf(HasTag(name, value, confidence))

    def did(self, doc: dict, where: str) -> Node:
        negate = "did_not" in doc
        event = doc["did_not" if negate else "did"]
        if not isinstance(event, str) or not 0 < len(event) <= 200:
            raise sc.error("event name must be 1-200 characters", where)
        days = sc.whole(doc.get("days"), "days", 1, MAX_DAYS, f"{where}.days")
        times = sc.whole(doc.get("at_least", 1), "at_least", 1, MAX_TIMES, f"{where}.at_least")
        if negate and times != 1:
            raise sc.error("did_not takes no at_least", f"{where}.at_least")
        prop = prop_value = None
        filters = doc.get("where") or {}
        if not isinstance(filters, dict) or len(filters) > 1:
            raise sc.error("'where' holds at most one property", f"{where}.where")
        for prop, prop_value in filters.items():  # noqa: B007 (both kept after the loop)
            if prop not in INDEXED_PROPERTIES:
                raise sc.error(
                    f"property {prop!r} is not indexed (indexed: {', '.join(INDEXED_PROPERTIES)})", f"{where}.where"
                )
        node = self.budget.leaf(Did(event, days, times, prop, prop_value))
        return Not(node) if negate else node

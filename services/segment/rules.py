"""The segment rule language: text or JSON -> one AST. Parsed, never evaluated as code.

Text grammar (keywords are case-insensitive):

    rule      := or
    or        := and ("OR" and)*
    and       := unary ("AND" unary)*
    unary     := "NOT" unary | "(" rule ")" | condition
    condition := field cmp literal                      traits.age >= 25, computed.revenue > 1000
               | field "BETWEEN" literal "AND" literal  traits.age BETWEEN 25 AND 34 (both ends included)
               | field ["NOT"] "IN" "[" literal ("," literal)* "]"
               | field "EXISTS"
               | "tags." NAME [("=" | "!=") literal] ["WITH" "CONFIDENCE" ">=" number]
               | "DID" ["NOT"] event ["WHERE" NAME "=" literal] ["AT" "LEAST" int "TIMES"] "IN" "LAST" int "DAYS"
               | "IN" "SEGMENT" string                  a saved segment, by id or name
    field     := ("traits" | "computed") "." NAME
    cmp       := "=" | "!=" | "<" | "<=" | ">" | ">="
    event     := string | NAME
    literal   := string | number | true | false

JSON form (what a rule builder sends; same AST):

    {"and": [...]}, {"or": [...]}, {"not": {...}}
    {"trait": "age", "op": ">=", "value": 25}          ops: = != < <= > >= between in not_in exists
    {"computed": "revenue", "op": "between", "value": [100, 500]}
    {"tag": "fitness", "value": "true", "min_confidence": 0.8}
    {"did": "Order Completed", "at_least": 2, "days": 30, "where": {"category": "fruit"}}
    {"did_not": "App Opened", "days": 7}
    {"segment": "seg_0123"}

Errors name the position (text: column; JSON: path) and the problem.
Which traits exist is decided by `Schema`: computed traits are fixed by the
profile contract, traits and tags are the ones seen in the workspace so far.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from services.kit.errors import InvalidInput

MAX_RULE_LENGTH = 8000
MAX_LEAVES = 64
MAX_TIMES = 8  # "at least N times": N is exact up to here (see bitmaps.COUNT_CAP)
MAX_DAYS = 120  # behaviour bitmaps are kept this long
CONFIDENCE_STEPS = 10  # tag confidence is bucketed by tenths

# Event properties with their own behaviour bitmaps (WHERE filters).
INDEXED_PROPERTIES = ("category", "brand", "channel", "payment_method")

NUMBER, TEXT, BOOL, LIST, TIME = "number", "text", "bool", "list", "time"

# The profile.changed contract's computed traits and their kinds.
COMPUTED = {
    "order_count": NUMBER,
    "revenue": NUMBER,
    "average_order_value": NUMBER,
    "first_order_at": TIME,
    "last_order_at": TIME,
    "last_active_at": TIME,
    "event_count": NUMBER,
    "refund_count": NUMBER,
    "refunded_amount": NUMBER,
    "categories": LIST,
    "acquisition_channel": TEXT,
    "rfm_recency": NUMBER,
    "rfm_frequency": NUMBER,
    "rfm_monetary": NUMBER,
    "rfm_group": TEXT,
    "lifecycle_stage": TEXT,
    "ltv": NUMBER,
}

RFM_GROUPS = {
    "重要价值": "important_value",
    "重要发展": "important_develop",
    "重要保持": "important_keep",
    "重要挽留": "important_retain",
    "一般价值": "general_value",
    "一般发展": "general_develop",
    "一般保持": "general_keep",
    "一般挽留": "general_retain",
}
LIFECYCLE_STAGES = ("new", "growing", "loyal", "silent", "churned")

Value = str | int | float | bool


# -- AST ----------------------------------------------------------------------
@dataclass(frozen=True)
class Compare:
    path: str  # "traits.age" / "computed.revenue"
    op: str  # = < <= > >=  ("!=" is Not(Compare "="))
    value: Value


@dataclass(frozen=True)
class Between:
    path: str
    low: int | float
    high: int | float


@dataclass(frozen=True)
class Exists:
    path: str


@dataclass(frozen=True)
class HasTag:
    name: str
    value: str | None = None
    min_confidence: float = 0.0


@dataclass(frozen=True)
class Did:
    """Did `event` (optionally with property = value) at least `times` times in the last `days` days."""

    event: str
    days: int
    times: int = 1
    prop: str | None = None
    prop_value: Value | None = None


@dataclass(frozen=True)
class InSegment:
    segment_id: str


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Leaf = Compare | Between | Exists | HasTag | Did | InSegment
Node = Leaf | And | Or | Not


# -- what a rule may name -------------------------------------------------------
class Schema:
    """The fields a workspace's rules may use.

    `traits` and `tags` map a name to the kinds of value seen for it (a trait
    seen as both text and number has both). `segment` resolves an id or name
    to (id, rule text) or None.
    """

    def __init__(
        self,
        traits: dict[str, set[str]] | None = None,
        tags: set[str] | None = None,
        segment: Callable[[str], tuple[str, str] | None] | None = None,
    ) -> None:
        self.traits = traits
        self.tags = tags
        self.segment = segment

    def kinds(self, path: str) -> set[str] | None:
        source, _, name = path.partition(".")
        if source == "computed":
            kind = COMPUTED.get(name)
            return {kind} if kind else None
        if self.traits is None:  # unchecked (e.g. parsing a stored rule again)
            return {NUMBER, TEXT, BOOL, LIST, TIME}
        return self.traits.get(name)


UNCHECKED = Schema()


def _error(problem: str, where: str) -> InvalidInput:
    return InvalidInput(f"{problem} at {where}", "rule")


def _check_field(schema: Schema, path: str, op: str, value, where: str) -> None:
    source, _, name = path.partition(".")
    kinds = schema.kinds(path)
    if kinds is None:
        what = "computed trait" if source == "computed" else "trait"
        raise _error(f"unknown {what} {name!r}", where)
    ordered = op in ("<", "<=", ">", ">=", "between")
    if ordered and not kinds & {NUMBER, TIME}:
        raise _error(f"{path} is not a number or time, so {op!r} cannot compare it", where)
    values = value if isinstance(value, (list, tuple)) else [value]
    if ordered:
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                raise _error(f"{op!r} needs a number or an ISO time", where)
            if isinstance(v, str) and TIME not in kinds:
                raise _error(f"{op!r} on {path} needs a number", where)
    if path == "computed.lifecycle_stage" and op in ("=", "!=", "in", "not_in"):
        for v in values:
            if v not in LIFECYCLE_STAGES:
                raise _error(f"lifecycle_stage is one of {', '.join(LIFECYCLE_STAGES)}, not {v!r}", where)


def _rfm(path: str, value):
    if path == "computed.rfm_group" and isinstance(value, str):
        value = RFM_GROUPS.get(value, value)
        if value not in RFM_GROUPS.values():
            raise InvalidInput(f"unknown RFM group {value!r}", "rule")
    return value


def _time_to_number(path: str, value, schema: Schema):
    """Times are compared as epoch seconds (encoding.as_number); here the ISO string is only checked."""
    import datetime as dt

    source, _, name = path.partition(".")
    if isinstance(value, str) and source == "computed" and COMPUTED.get(name) == TIME:
        try:
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{value!r} is not an ISO-8601 time", "rule") from None
    return value


class _Budget:
    def __init__(self) -> None:
        self.leaves = 0

    def leaf(self, node: Leaf) -> Leaf:
        self.leaves += 1
        if self.leaves > MAX_LEAVES:
            raise InvalidInput(f"a rule may hold at most {MAX_LEAVES} conditions", "rule")
        return node


# -- text form ------------------------------------------------------------------
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>!=|<=|>=|=|<|>|\(|\)|\[|\]|,)
  | (?P<path>[^\W\d]\w*(?:\.[^\W\d]\w*)*)
    """,
    re.VERBOSE | re.UNICODE,
)

KEYWORDS = {"AND", "OR", "NOT", "IN", "BETWEEN", "EXISTS", "DID", "WHERE", "AT", "LEAST", "TIMES", "LAST", "DAYS"}


@dataclass
class _Token:
    kind: str
    text: str
    column: int


def _tokens(text: str) -> list[_Token]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise InvalidInput(f"unexpected character {text[pos]!r} at column {pos + 1}", "rule")
        if m.lastgroup != "ws":
            out.append(_Token(m.lastgroup, m.group(), pos + 1))
        pos = m.end()
    out.append(_Token("end", "", len(text) + 1))
    return out


def _found(tok: _Token) -> str:
    return repr(tok.text) if tok.text else "end of rule"


class _Parser:
    def __init__(self, text: str, schema: Schema) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.schema = schema
        self.budget = _Budget()

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        tok = self.peek()
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok.kind == "path" and tok.text.upper() == word:
            self.i += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        tok = self.peek()
        if not self.keyword(word):
            raise InvalidInput(f"expected {word} at column {tok.column}, found {_found(tok)}", "rule")

    def expect(self, text: str, what: str) -> _Token:
        tok = self.peek()
        if tok.text != text:
            raise InvalidInput(f"expected {what} at column {tok.column}, found {_found(tok)}", "rule")
        self.i += 1
        return tok

    def rule(self) -> Node:
        items = [self.conj()]
        while self.keyword("OR"):
            items.append(self.conj())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conj(self) -> Node:
        items = [self.unary()]
        while self.keyword("AND"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        if self.keyword("NOT"):
            return Not(self.unary())
        if self.peek().text == "(":
            self.i += 1
            node = self.rule()
            self.expect(")", "')'")
            return node
        return self.condition()

    def condition(self) -> Node:
        tok = self.peek()
        if tok.kind == "path" and tok.text.upper() == "DID":
            return self.did()
        if tok.kind == "path" and tok.text.upper() == "IN" and self.peek(1).text.upper() == "SEGMENT":
            return self.in_segment()
        if tok.kind != "path" or tok.text.upper() in KEYWORDS:
            raise InvalidInput(f"expected a condition at column {tok.column}, found {_found(tok)}", "rule")
        source, _, name = tok.text.partition(".")
        if source not in ("traits", "computed", "tags") or not name or "." in name:
            raise InvalidInput(
                f"unknown field {tok.text!r} at column {tok.column}: use traits.<name>, computed.<name> or tags.<name>",
                "rule",
            )
        self.i += 1
        if source == "tags":
            return self.tag(name, tok)
        return self.field(f"{source}.{name}", tok)

    def field(self, path: str, at: _Token) -> Node:
        where = f"column {at.column}"
        op = self.peek()
        if op.text in ("=", "!=", "<", "<=", ">", ">="):
            self.i += 1
            value = self.literal(op)
            _check_field(self.schema, path, op.text, value, where)
            value = _time_to_number(path, _rfm(path, value), self.schema)
            if op.text == "!=":
                return Not(self.budget.leaf(Compare(path, "=", value)))
            return self.budget.leaf(Compare(path, op.text, value))
        if self.keyword("BETWEEN"):
            low = self.literal(op)
            self.expect_keyword("AND")
            high = self.literal(op)
            _check_field(self.schema, path, "between", [low, high], where)
            low, high = (_time_to_number(path, v, self.schema) for v in (low, high))
            return self.budget.leaf(Between(path, low, high))
        negate = self.keyword("NOT")
        if self.keyword("IN"):
            self.expect("[", "'['")
            values = [self.literal(op)]
            while self.peek().text == ",":
                self.i += 1
                values.append(self.literal(op))
            self.expect("]", "']'")
            _check_field(self.schema, path, "in", values, where)
            leaves = tuple(self.budget.leaf(Compare(path, "=", _rfm(path, v))) for v in values)
            node = leaves[0] if len(leaves) == 1 else Or(leaves)
            return Not(node) if negate else node
        if negate:
            raise InvalidInput(f"expected IN after NOT at column {self.peek().column}", "rule")
        if self.keyword("EXISTS"):
            _check_field(self.schema, path, "exists", None, where)
            return self.budget.leaf(Exists(path))
        raise InvalidInput(
            f"expected a comparison, BETWEEN, IN or EXISTS at column {op.column}, found {_found(op)}", "rule"
        )

    def tag(self, name: str, at: _Token) -> Node:
        if self.schema.tags is not None and name not in self.schema.tags:
            raise _error(f"unknown tag {name!r}", f"column {at.column}")
        value, negate = None, False
        op = self.peek()
        if op.text in ("=", "!="):
            self.i += 1
            value = _rfm("computed.rfm_group", self.literal(op)) if name == "rfm_group" else self.literal(op)
            value = _tag_value(value)
            negate = op.text == "!="
        confidence = 0.0
        if self.keyword("WITH"):
            self.expect_keyword("CONFIDENCE")
            self.expect(">=", "'>='")
            tok = self.peek()
            confidence = _confidence(self.literal(tok), f"column {tok.column}")
        node = self.budget.leaf(HasTag(name, value, confidence))
        return Not(node) if negate else node

    def did(self) -> Node:
        self.take()
        negate = self.keyword("NOT")
        tok = self.take()
        if tok.kind == "string":
            event = _unquote(tok.text)
        elif tok.kind == "path" and tok.text.upper() not in KEYWORDS:
            event = tok.text
        else:
            raise InvalidInput(f"expected an event name at column {tok.column}, found {_found(tok)}", "rule")
        if not event or len(event) > 200:
            raise InvalidInput(f"event name must be 1-200 characters at column {tok.column}", "rule")
        prop = prop_value = None
        if self.keyword("WHERE"):
            ptok = self.take()
            if ptok.kind != "path" or ptok.text not in INDEXED_PROPERTIES:
                raise _error(
                    f"property {ptok.text!r} is not indexed (indexed: {', '.join(INDEXED_PROPERTIES)})",
                    f"column {ptok.column}",
                )
            op = self.expect("=", "'='")
            prop, prop_value = ptok.text, self.literal(op)
        times = 1
        if self.keyword("AT"):
            self.expect_keyword("LEAST")
            ntok = self.peek()
            times = _whole(self.literal(ntok), "times", 1, MAX_TIMES, f"column {ntok.column}")
            self.expect_keyword("TIMES")
        self.expect_keyword("IN")
        self.expect_keyword("LAST")
        dtok = self.peek()
        days = _whole(self.literal(dtok), "days", 1, MAX_DAYS, f"column {dtok.column}")
        if not (self.keyword("DAYS") or self.keyword("DAY")):
            raise InvalidInput(f"expected DAYS at column {self.peek().column}, found {_found(self.peek())}", "rule")
        if negate and times != 1:
            raise _error("DID NOT takes no AT LEAST", f"column {tok.column}")
        node = self.budget.leaf(Did(event, days, times, prop, prop_value))
        return Not(node) if negate else node

    def in_segment(self) -> Node:
        self.take()
        self.take()
        tok = self.take()
        if tok.kind != "string":
            raise InvalidInput(f"expected a segment id or name in quotes at column {tok.column}", "rule")
        return self.budget.leaf(_segment_ref(self.schema, _unquote(tok.text), f"column {tok.column}"))

    def literal(self, after: _Token):
        tok = self.take()
        if tok.kind == "string":
            return _unquote(tok.text)
        if tok.kind == "number":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "path" and tok.text in ("true", "false"):
            return tok.text == "true"
        raise InvalidInput(
            f"expected a value after {after.text or 'the condition'!r} at column {tok.column}, found {_found(tok)}",
            "rule",
        )


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _tag_value(value) -> str:
    # Tag values are strings on the wire ("true" for flags); accept true / 3 in rules.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _confidence(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise _error("confidence must be a number from 0 to 1", where)
    if abs(value * CONFIDENCE_STEPS - round(value * CONFIDENCE_STEPS)) > 1e-9:
        raise _error("confidence must be a multiple of 0.1 (tags are indexed by tenths)", where)
    return round(value * CONFIDENCE_STEPS) / CONFIDENCE_STEPS


def _whole(value, what: str, low: int, high: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _error(f"{what} must be a whole number from {low} to {high}", where)
    return value


def _segment_ref(schema: Schema, ref: str, where: str) -> InSegment:
    if schema.segment is None:
        return InSegment(ref)
    found = schema.segment(ref)
    if found is None:
        raise _error(f"unknown segment {ref!r}", where)
    return InSegment(found[0])


# -- JSON form ------------------------------------------------------------------
_JSON_OPS = ("=", "!=", "<", "<=", ">", ">=", "between", "in", "not_in", "exists")


class _JsonParser:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.budget = _Budget()

    def node(self, doc, where: str, depth: int = 0) -> Node:
        if depth > 32:
            raise _error("rule is nested too deeply", where)
        if not isinstance(doc, dict) or not doc:
            raise _error("expected an object", where)
        for key in ("and", "or"):
            if key in doc:
                items = doc[key]
                if not isinstance(items, list) or not items:
                    raise _error(f"'{key}' needs a non-empty list", f"{where}.{key}")
                nodes = tuple(self.node(item, f"{where}.{key}[{i}]", depth + 1) for i, item in enumerate(items))
                if len(nodes) == 1:
                    return nodes[0]
                return And(nodes) if key == "and" else Or(nodes)
        if "not" in doc:
            return Not(self.node(doc["not"], f"{where}.not", depth + 1))
        if "trait" in doc or "computed" in doc:
            return self.field(doc, where)
        if "tag" in doc:
            return self.tag(doc, where)
        if "did" in doc or "did_not" in doc:
            return self.did(doc, where)
        if "segment" in doc:
            ref = doc["segment"]
            if not isinstance(ref, str) or not ref:
                raise _error("'segment' needs an id or name", f"{where}.segment")
            return self.budget.leaf(_segment_ref(self.schema, ref, f"{where}.segment"))
        raise _error(
            f"unknown condition with keys {sorted(doc)}: use and/or/not/trait/computed/tag/did/did_not/segment", where
        )

    def field(self, doc: dict, where: str) -> Node:
        source = "trait" if "trait" in doc else "computed"
        name = doc[source]
        if not isinstance(name, str) or not re.fullmatch(r"[^\W\d]\w*", name):
            raise _error("field name must be a plain name", f"{where}.{source}")
        path = f"{'traits' if source == 'trait' else 'computed'}.{name}"
        op = doc.get("op", "=")
        if op not in _JSON_OPS:
            raise _error(f"unknown op {op!r} (use {', '.join(_JSON_OPS)})", f"{where}.op")
        value = doc.get("value")
        at = f"{where}.{source}"
        if op == "exists":
            _check_field(self.schema, path, op, None, at)
            return self.budget.leaf(Exists(path))
        if op in ("in", "not_in", "between") and (
            not isinstance(value, list) or not value or (op == "between" and len(value) != 2)
        ):
            need = "[low, high]" if op == "between" else "a non-empty list"
            raise _error(f"{op!r} needs {need}", f"{where}.value")
        for v in value if isinstance(value, list) else [value]:
            if not isinstance(v, (str, int, float, bool)):
                raise _error("values must be strings, numbers or booleans", f"{where}.value")
        _check_field(self.schema, path, op, value, at)
        if op == "between":
            low, high = (_time_to_number(path, v, self.schema) for v in value)
            return self.budget.leaf(Between(path, low, high))
        if op in ("in", "not_in"):
            leaves = tuple(self.budget.leaf(Compare(path, "=", _rfm(path, v))) for v in value)
            node = leaves[0] if len(leaves) == 1 else Or(leaves)
            return Not(node) if op == "not_in" else node
        value = _time_to_number(path, _rfm(path, value), self.schema)
        if op == "!=":
            return Not(self.budget.leaf(Compare(path, "=", value)))
        return self.budget.leaf(Compare(path, op, value))

    def tag(self, doc: dict, where: str) -> Node:
        name = doc["tag"]
        if not isinstance(name, str) or not name:
            raise _error("'tag' needs a name", f"{where}.tag")
        if self.schema.tags is not None and name not in self.schema.tags:
            raise _error(f"unknown tag {name!r}", f"{where}.tag")
        value = doc.get("value")
        if value is not None:
            value = _tag_value(_rfm("computed.rfm_group", value) if name == "rfm_group" else value)
        confidence = _confidence(doc.get("min_confidence", 0.0), f"{where}.min_confidence")
        return self.budget.leaf(HasTag(name, value, confidence))

    def did(self, doc: dict, where: str) -> Node:
        negate = "did_not" in doc
        event = doc["did_not" if negate else "did"]
        if not isinstance(event, str) or not 0 < len(event) <= 200:
            raise _error("event name must be 1-200 characters", where)
        days = _whole(doc.get("days"), "days", 1, MAX_DAYS, f"{where}.days")
        times = _whole(doc.get("at_least", 1), "at_least", 1, MAX_TIMES, f"{where}.at_least")
        if negate and times != 1:
            raise _error("did_not takes no at_least", f"{where}.at_least")
        prop = prop_value = None
        filters = doc.get("where") or {}
        if not isinstance(filters, dict) or len(filters) > 1:
            raise _error("'where' holds at most one property", f"{where}.where")
        for prop, prop_value in filters.items():  # noqa: B007 (both kept after the loop)
            if prop not in INDEXED_PROPERTIES:
                raise _error(
                    f"property {prop!r} is not indexed (indexed: {', '.join(INDEXED_PROPERTIES)})", f"{where}.where"
                )
        node = self.budget.leaf(Did(event, days, times, prop, prop_value))
        return Not(node) if negate else node


# -- entry points -----------------------------------------------------------------
def parse(rule: str | dict, schema: Schema = UNCHECKED) -> Node:
    """Text or JSON form (a dict, or a string starting with '{') -> AST."""
    if isinstance(rule, dict):
        return _JsonParser(schema).node(rule, "$")
    if not isinstance(rule, str) or not rule.strip():
        raise InvalidInput("rule is empty", "rule")
    if len(rule) > MAX_RULE_LENGTH:
        raise InvalidInput(f"rule is longer than {MAX_RULE_LENGTH} characters", "rule")
    if rule.lstrip().startswith("{"):
        try:
            doc = json.loads(rule)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"rule is not valid JSON: {exc.msg} at column {exc.colno}", "rule") from None
        return _JsonParser(schema).node(doc, "$")
    parser = _Parser(rule, schema)
    node = parser.rule()
    end = parser.peek()
    if end.kind != "end":
        raise InvalidInput(f"unexpected {end.text!r} at column {end.column}", "rule")
    return node


def _literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value) if isinstance(value, float) else str(value)


def to_text(node: Node) -> str:
    """The canonical text form (what a rule saved from JSON is stored as)."""
    if isinstance(node, Compare):
        return f"{node.path} {node.op} {_literal(node.value)}"
    if isinstance(node, Between):
        return f"{node.path} BETWEEN {_literal(node.low)} AND {_literal(node.high)}"
    if isinstance(node, Exists):
        return f"{node.path} EXISTS"
    if isinstance(node, HasTag):
        text = f"tags.{node.name}"
        if node.value is not None:
            text += f" = {_literal(node.value)}"
        if node.min_confidence:
            text += f" WITH CONFIDENCE >= {node.min_confidence}"
        return text
    if isinstance(node, Did):
        text = f"DID {_literal(node.event)}"
        if node.prop:
            text += f" WHERE {node.prop} = {_literal(node.prop_value)}"
        if node.times > 1:
            text += f" AT LEAST {node.times} TIMES"
        return f"{text} IN LAST {node.days} DAYS"
    if isinstance(node, InSegment):
        return f"IN SEGMENT {_literal(node.segment_id)}"
    if isinstance(node, Not):
        if isinstance(node.item, Did):
            return "DID NOT" + to_text(node.item)[3:]
        inner = to_text(node.item)
        return f"NOT ({inner})" if isinstance(node.item, (And, Or)) else f"NOT {inner}"
    joiner = " AND " if isinstance(node, And) else " OR "
    return joiner.join(f"({to_text(i)})" if isinstance(i, (And, Or)) else to_text(i) for i in node.items)


def leaves(node: Node) -> list[Leaf]:
    if isinstance(node, Not):
        return leaves(node.item)
    if isinstance(node, (And, Or)):
        return [leaf for item in node.items for leaf in leaves(item)]
    return [node]


def uses(leaf: Leaf) -> str:
    """What a leaf reads, in the vocabulary of profile.changed paths ("event:<name>" for behaviour)."""
    if isinstance(leaf, (Compare, Between, Exists)):
        return leaf.path
    if isinstance(leaf, HasTag):
        return f"tags.{leaf.name}"
    if isinstance(leaf, Did):
        return f"event:{leaf.event}"
    return f"segment:{leaf.segment_id}"


def segments_referenced(node: Node) -> set[str]:
    return {leaf.segment_id for leaf in leaves(node) if isinstance(leaf, InSegment)}


def windowed(node: Node) -> bool:
    return any(isinstance(leaf, Did) for leaf in leaves(node))

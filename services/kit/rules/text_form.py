"""The text form of a rule -> the tree. Errors name the column.

    rule      := or
    or        := and ("OR" and)*
    and       := unary ("AND" unary)*
    unary     := "NOT" unary | "(" rule ")" | condition
    condition := field cmp literal                      traits.age >= 25, computed.revenue > 1000
               | field "BETWEEN" literal "AND" literal  traits.age BETWEEN 25 AND 34 (both ends included)
               | field ["NOT"] "IN" "[" literal ("," literal)* "]"
               | field "CONTAINS" literal               computed.categories CONTAINS "fruit" (a list holds it)
               | field "EXISTS"
               | "tags." NAME [("=" | "!=") literal] ["WITH" "CONFIDENCE" ">=" number]
               | "DID" ["NOT"] event ["WHERE" NAME "=" literal] ["AT" "LEAST" int "TIMES"] "IN" "LAST" int "DAYS"
               | "IN" "SEGMENT" string                  a saved segment, by id or name
    field     := ("traits" | "computed") "." NAME
    cmp       := "=" | "!=" | "<" | "<=" | ">" | ">="
    event     := string | NAME
    literal   := string | number | true | false

Keywords are case-insensitive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.kit.errors import InvalidInput
from services.kit.rules import schema as sc
from services.kit.rules.ast import And, Between, Compare, Did, Exists, HasTag, InSegment, Node, Not, Or
from services.kit.rules.limits import INDEXED_PROPERTIES, MAX_DAYS, MAX_TIMES

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

KEYWORDS = {
    "AND", "OR", "NOT", "IN", "BETWEEN", "EXISTS", "CONTAINS", "DID", "WHERE", "AT", "LEAST", "TIMES", "LAST", "DAYS",
}  # fmt: skip


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


def unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def segment_ref(schema: sc.Schema, ref: str, where: str) -> InSegment:
    if schema.segment is None:
        return InSegment(ref)
    found = schema.segment(ref)
    if found is None:
        raise sc.error(f"unknown segment {ref!r}", where)
    return InSegment(found[0])


class Parser:
    def __init__(self, text: str, schema: sc.Schema) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.schema = schema
        self.budget = sc.Budget()

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

    def whole_rule(self) -> Node:
        node = self.rule()
        end = self.peek()
        if end.kind != "end":
            raise InvalidInput(f"unexpected {end.text!r} at column {end.column}", "rule")
        return node

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
        tok = self.peek()
        if self.keyword("NOT"):
            self.budget.enter(f"column {tok.column}")
            node = Not(self.unary())
            self.budget.leave()
            return node
        if tok.text == "(":
            self.budget.enter(f"column {tok.column}")
            self.i += 1
            node = self.rule()
            self.expect(")", "')'")
            self.budget.leave()
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
        self.schema.allow(sc.FIELDS, f"{source}.<name>", f"column {tok.column}")
        return self.field(f"{source}.{name}", tok)

    def field(self, path: str, at: _Token) -> Node:
        where = f"column {at.column}"
        op = self.peek()
        if op.text in ("=", "!=", "<", "<=", ">", ">="):
            self.i += 1
            value = self.literal(op)
            sc.check_field(self.schema, path, op.text, value, where)
            value = sc.normalise(path, value, where)
            if op.text == "!=":
                return Not(self.budget.leaf(Compare(path, "=", value)))
            return self.budget.leaf(Compare(path, op.text, value))
        if self.keyword("BETWEEN"):
            low = self.literal(op)
            self.expect_keyword("AND")
            high = self.literal(op)
            sc.check_field(self.schema, path, "between", [low, high], where)
            low, high = (sc.normalise(path, v, where) for v in (low, high))
            return self.budget.leaf(Between(path, low, high))
        if self.keyword("CONTAINS"):
            value = self.literal(op)
            sc.check_field(self.schema, path, "contains", value, where)
            return self.budget.leaf(Compare(path, "=", sc.normalise(path, value, where)))
        negate = self.keyword("NOT")
        if self.keyword("IN"):
            self.expect("[", "'['")
            values = [self.literal(op)]
            while self.peek().text == ",":
                self.i += 1
                values.append(self.literal(op))
            self.expect("]", "']'")
            sc.check_field(self.schema, path, "in", values, where)
            leaves = tuple(self.budget.leaf(Compare(path, "=", sc.normalise(path, v, where))) for v in values)
            node = leaves[0] if len(leaves) == 1 else Or(leaves)
            return Not(node) if negate else node
        if negate:
            raise InvalidInput(f"expected IN after NOT at column {self.peek().column}", "rule")
        if self.keyword("EXISTS"):
            sc.check_field(self.schema, path, "exists", None, where)
            return self.budget.leaf(Exists(path))
        raise InvalidInput(
            f"expected a comparison, BETWEEN, IN, CONTAINS or EXISTS at column {op.column}, found {_found(op)}", "rule"
        )

    def tag(self, name: str, at: _Token) -> Node:
        self.schema.allow(sc.TAGS, "tags.<name>", f"column {at.column}")
        if self.schema.tags is not None and name not in self.schema.tags:
            raise sc.error(f"unknown tag {name!r}", f"column {at.column}")
        value, negate = None, False
        op = self.peek()
        if op.text in ("=", "!="):
            self.i += 1
            value = sc.tag_value(name, self.literal(op))
            negate = op.text == "!="
        confidence = 0.0
        if self.keyword("WITH"):
            self.expect_keyword("CONFIDENCE")
            self.expect(">=", "'>='")
            tok = self.peek()
            confidence = sc.confidence(self.literal(tok), f"column {tok.column}")
        node = self.budget.leaf(HasTag(name, value, confidence))
        return Not(node) if negate else node

    def did(self) -> Node:
        first = self.take()
        self.schema.allow(sc.BEHAVIOUR, "DID", f"column {first.column}")
        negate = self.keyword("NOT")
        tok = self.take()
        if tok.kind == "string":
            event = unquote(tok.text)
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
                raise sc.error(
                    f"property {ptok.text!r} is not indexed (indexed: {', '.join(INDEXED_PROPERTIES)})",
                    f"column {ptok.column}",
                )
            op = self.expect("=", "'='")
            prop, prop_value = ptok.text, self.literal(op)
        times = 1
        if self.keyword("AT"):
            self.expect_keyword("LEAST")
            ntok = self.peek()
            times = sc.whole(self.literal(ntok), "times", 1, MAX_TIMES, f"column {ntok.column}")
            self.expect_keyword("TIMES")
        self.expect_keyword("IN")
        self.expect_keyword("LAST")
        dtok = self.peek()
        days = sc.whole(self.literal(dtok), "days", 1, MAX_DAYS, f"column {dtok.column}")
        if not (self.keyword("DAYS") or self.keyword("DAY")):
            raise InvalidInput(f"expected DAYS at column {self.peek().column}, found {_found(self.peek())}", "rule")
        if negate and times != 1:
            raise sc.error("DID NOT takes no AT LEAST", f"column {tok.column}")
        node = self.budget.leaf(Did(event, days, times, prop, prop_value))
        return Not(node) if negate else node

    def in_segment(self) -> Node:
        first = self.take()
        self.schema.allow(sc.SEGMENTS, "IN SEGMENT", f"column {first.column}")
        self.take()
        tok = self.take()
        if tok.kind != "string":
            raise InvalidInput(f"expected a segment id or name in quotes at column {tok.column}", "rule")
        return self.budget.leaf(segment_ref(self.schema, unquote(tok.text), f"column {tok.column}"))

    def literal(self, after: _Token):
        tok = self.take()
        if tok.kind == "string":
            return unquote(tok.text)
        if tok.kind == "number":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "path" and tok.text in ("true", "false"):
            return tok.text == "true"
        raise InvalidInput(
            f"expected a value after {after.text or 'the condition'!r} at column {tok.column}, found {_found(tok)}",
            "rule",
        )


def field_path(text: str, schema: sc.Schema) -> str:
    """One field named alone (`computed.rfm_group`): what an enumerated or score tag takes its value from."""
    tokens = _tokens(text.strip())
    tok = tokens[0]
    source, _, name = tok.text.partition(".")
    if tok.kind != "path" or source not in ("traits", "computed") or not name or "." in name or len(tokens) != 2:
        raise InvalidInput("expected one field: traits.<name> or computed.<name>", "rule")
    path = f"{source}.{name}"
    sc.check_field(schema, path, "exists", None, "column 1")
    return path

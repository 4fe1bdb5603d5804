"""The segment rule language: text -> AST. Parsed, never evaluated as code.

Grammar (foundation subset; case-insensitive keywords):

    rule      := or
    or        := and ("OR" and)*
    and       := not ("AND" not)*
    not       := "NOT" not | "(" rule ")" | condition
    condition := "traits." NAME ("=" | "!=") literal
               | "traits." NAME "IN" "[" literal ("," literal)* "]"
    literal   := "string" | number | true | false

Errors name the column: "expected a value after '=' at column 17".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.kit.errors import InvalidInput

MAX_RULE_LENGTH = 4000
MAX_LEAVES = 64


@dataclass(frozen=True)
class TraitEquals:
    trait: str
    value: str | int | float | bool


@dataclass(frozen=True)
class And:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Not:
    item: "Node"


Node = TraitEquals | And | Or | Not

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>!=|=|\(|\)|\[|\]|,)
  | (?P<path>[^\W\d]\w*(?:\.[^\W\d]\w*)*)
    """,
    re.VERBOSE | re.UNICODE,
)


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


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.leaves = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok.kind == "path" and tok.text.upper() == word:
            self.i += 1
            return True
        return False

    def expect(self, text: str, what: str) -> _Token:
        tok = self.peek()
        if tok.text != text:
            raise InvalidInput(f"expected {what} at column {tok.column}, found {tok.text or 'end of rule'!r}", "rule")
        self.i += 1
        return tok

    def rule(self) -> Node:
        items = [self.conj()]
        while self.keyword("OR"):
            items.append(self.conj())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conj(self) -> Node:
        items = [self.neg()]
        while self.keyword("AND"):
            items.append(self.neg())
        return items[0] if len(items) == 1 else And(tuple(items))

    def neg(self) -> Node:
        if self.keyword("NOT"):
            return Not(self.neg())
        if self.peek().text == "(":
            self.i += 1
            node = self.rule()
            self.expect(")", "')'")
            return node
        return self.condition()

    def condition(self) -> Node:
        tok = self.peek()
        if tok.kind != "path" or tok.text.upper() in ("AND", "OR", "NOT"):
            raise InvalidInput(
                f"expected a condition at column {tok.column}, found {tok.text or 'end of rule'!r}", "rule"
            )
        source, _, name = tok.text.partition(".")
        if source != "traits" or not name or "." in name:
            raise InvalidInput(f"unknown field {tok.text!r} at column {tok.column}: use traits.<name>", "rule")
        self.i += 1
        op = self.peek()
        if op.text in ("=", "!="):
            self.i += 1
            leaf = self.leaf(name, self.literal(op))
            return Not(leaf) if op.text == "!=" else leaf
        if self.keyword("IN"):
            self.expect("[", "'['")
            values = [self.literal(op)]
            while self.peek().text == ",":
                self.i += 1
                values.append(self.literal(op))
            self.expect("]", "']'")
            leaves = tuple(self.leaf(name, v) for v in values)
            return leaves[0] if len(leaves) == 1 else Or(leaves)
        raise InvalidInput(
            f"expected '=', '!=' or IN at column {op.column}, found {op.text or 'end of rule'!r}", "rule"
        )

    def leaf(self, name: str, value) -> TraitEquals:
        self.leaves += 1
        if self.leaves > MAX_LEAVES:
            raise InvalidInput(f"a rule may hold at most {MAX_LEAVES} conditions", "rule")
        return TraitEquals(name, value)

    def literal(self, after: _Token):
        tok = self.peek()
        self.i += 1
        if tok.kind == "string":
            return re.sub(r"\\(.)", r"\1", tok.text[1:-1])
        if tok.kind == "number":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "path" and tok.text in ("true", "false"):
            return tok.text == "true"
        raise InvalidInput(
            f"expected a value after {after.text!r} at column {tok.column}, found {tok.text or 'end of rule'!r}", "rule"
        )


def parse(text: str) -> Node:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("rule is empty", "rule")
    if len(text) > MAX_RULE_LENGTH:
        raise InvalidInput(f"rule is longer than {MAX_RULE_LENGTH} characters", "rule")
    parser = _Parser(text)
    node = parser.rule()
    end = parser.peek()
    if end.kind != "end":
        raise InvalidInput(f"unexpected {end.text!r} at column {end.column}", "rule")
    return node


def leaves(node: Node) -> list[TraitEquals]:
    if isinstance(node, TraitEquals):
        return [node]
    if isinstance(node, Not):
        return leaves(node.item)
    return [leaf for item in node.items for leaf in leaves(item)]


def traits_used(node: Node) -> set[str]:
    return {leaf.trait for leaf in leaves(node)}

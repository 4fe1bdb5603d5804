"""Formulas over trend series ("B / A", "(A - B) / A * 100"): parsed, never evaluated as code.

Letters name the series in order (A is the first); numbers, + - * / and parentheses.
A division by zero gives 0 in that bucket (a rate of nothing is shown as none).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from services.kit.errors import InvalidInput

MAX_LENGTH = 200
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-J])|([-+*/()]))")

Vector = list[float]
Node = Callable[[dict[str, Vector], int], Vector]


def parse(text: str, series: int, where: str = "formula") -> Node:
    """A function of the series' values (by letter) and the bucket count; errors name `where`."""
    if not text or len(text) > MAX_LENGTH:
        raise InvalidInput(f"{where} must be 1 to {MAX_LENGTH} characters", where)
    tokens: list[str] = []
    at = 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        found = _TOKEN.match(text, at)
        if not found:
            raise InvalidInput(f"{where}: unexpected {text[at:].strip()[:10]!r} at column {at + 1}", where)
        tokens.append(found.group(1) or found.group(2) or found.group(3))
        at = found.end()
    letters = {t for t in tokens if t.isalpha()}
    allowed = {chr(ord("A") + i) for i in range(series)}
    if not letters <= allowed:
        raise InvalidInput(f"{where} names {', '.join(sorted(letters - allowed))}: there are {series} series", where)
    parser = _Parser(tokens, where)
    node = parser.expression()
    if parser.pos != len(tokens):
        raise InvalidInput(f"{where}: unexpected {tokens[parser.pos]!r}", where)
    return node


class _Parser:
    def __init__(self, tokens: list[str], where: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.where = where

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise InvalidInput(f"{self.where} ends too soon", self.where)
        self.pos += 1
        return token

    def expression(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            node = _combine(node, self.take(), self.term())
        return node

    def term(self) -> Node:
        node = self.factor()
        while self.peek() in ("*", "/"):
            node = _combine(node, self.take(), self.factor())
        return node

    def factor(self) -> Node:
        token = self.take()
        if token == "-":
            inner = self.factor()
            return lambda values, n: [-v for v in inner(values, n)]
        if token == "(":
            node = self.expression()
            if self.take() != ")":
                raise InvalidInput(f"{self.where}: a parenthesis is not closed", self.where)
            return node
        if token.isalpha():
            return lambda values, n, t=token: values.get(t, [0.0] * n)
        if token[0].isdigit():
            return lambda values, n, v=float(token): [v] * n
        raise InvalidInput(f"{self.where}: unexpected {token!r}", self.where)


def _combine(left: Node, op: str, right: Node) -> Node:
    def apply(values: dict[str, Vector], n: int) -> Vector:
        a, b = left(values, n), right(values, n)
        if op == "+":
            return [x + y for x, y in zip(a, b, strict=True)]
        if op == "-":
            return [x - y for x, y in zip(a, b, strict=True)]
        if op == "*":
            return [x * y for x, y in zip(a, b, strict=True)]
        return [x / y if y else 0.0 for x, y in zip(a, b, strict=True)]

    return apply

"""The rule language's syntax tree, and what a tree reads.

One tree for every use: segment compiles it to a bitmap program, profile's
computed tags and journey branches evaluate it on one person.
"""

from __future__ import annotations

from dataclasses import dataclass

Value = str | int | float | bool


@dataclass(frozen=True)
class Compare:
    path: str  # "traits.age" / "computed.revenue"
    op: str  # = < <= > >=  ("!=" is Not(Compare "=")); "=" on a list means "holds the value"
    value: Value


@dataclass(frozen=True)
class Between:
    path: str
    low: int | float | str
    high: int | float | str


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


def leaves(node: Node) -> list[Leaf]:
    # Iterative: trees are depth-limited by the parsers, but a tree built in code need not be.
    out, stack = [], [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Not):
            stack.append(item.item)
        elif isinstance(item, (And, Or)):
            stack.extend(reversed(item.items))
        else:
            out.append(item)
    return out


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

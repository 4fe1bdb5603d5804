"""What a rule may name, and the checks and value normalisation shared by both parsers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from services.kit.catalog import BOOL, COMPUTED, LIST, NUMBER, TEXT, TIME
from services.kit.errors import InvalidInput
from services.kit.rules.ast import Leaf
from services.kit.rules.limits import CONFIDENCE_STEPS, MAX_DEPTH, MAX_LEAVES

ALL_KINDS = frozenset({NUMBER, TEXT, BOOL, LIST, TIME})
# The kinds of leaf a context may allow.
FIELDS, TAGS, BEHAVIOUR, SEGMENTS = "fields", "tags", "behaviour", "segments"


class Schema:
    """The fields a workspace's rules may use, in one context (a segment, a tag rule, a branch).

    `traits` and `tags` map a name to the kinds of value seen for it (a trait
    seen as both text and number has both); None leaves them unchecked.
    Computed traits always come from the catalog. `segment` resolves an id or
    name to (id, rule text) or None. `allowed` names the kinds of leaf this
    context can evaluate, and `context` says what it is in errors.
    """

    def __init__(
        self,
        traits: dict[str, set[str]] | None = None,
        tags: set[str] | None = None,
        segment: Callable[[str], tuple[str, str] | None] | None = None,
        allowed: frozenset[str] = frozenset({FIELDS, TAGS, BEHAVIOUR, SEGMENTS}),
        context: str = "a rule",
    ) -> None:
        self.traits = traits
        self.tags = tags
        self.segment = segment
        self.allowed = allowed
        self.context = context

    def kinds(self, path: str) -> set[str] | None:
        source, _, name = path.partition(".")
        if source == "computed":
            trait = COMPUTED.get(name)
            return {trait.kind} if trait else None
        if self.traits is None:
            return set(ALL_KINDS)
        return self.traits.get(name)

    def allow(self, kind: str, what: str, where: str) -> None:
        if kind not in self.allowed:
            raise error(f"{what} cannot be used in {self.context}", where)


UNCHECKED = Schema()
# Tag rules and other one-profile evaluations that see no behaviour and no saved segments.
PROFILE_ONLY = Schema(allowed=frozenset({FIELDS}), context="a tag rule (it reads traits.* and computed.*)")


def error(problem: str, where: str) -> InvalidInput:
    return InvalidInput(f"{problem} at {where}", "rule")


def check_field(schema: Schema, path: str, op: str, value, where: str) -> None:
    source, _, name = path.partition(".")
    kinds = schema.kinds(path)
    if kinds is None:
        what = "computed trait" if source == "computed" else "trait"
        raise error(f"unknown {what} {name!r}", where)
    ordered = op in ("<", "<=", ">", ">=", "between")
    if ordered and not kinds & {NUMBER, TIME}:
        raise error(f"{path} is not a number or time, so {op!r} cannot compare it", where)
    if op == "contains" and LIST not in kinds:
        raise error(f"{path} is not a list, so CONTAINS cannot look into it (use =)", where)
    values = value if isinstance(value, (list, tuple)) else [value]
    if ordered:
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                raise error(f"{op!r} needs a number or an ISO time", where)
            if isinstance(v, str) and TIME not in kinds:
                raise error(f"{op!r} on {path} needs a number", where)
    trait = COMPUTED.get(name) if source == "computed" else None
    if trait is not None and trait.values and op in ("=", "!=", "in", "not_in", "contains"):
        for v in values:
            if trait.code_of(v) is None:
                raise error(f"{name} is one of {', '.join(trait.codes)}, not {v!r}", where)


def check_time(value: str, where: str) -> None:
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise error(f"{value!r} is not an ISO-8601 time", where) from None


def normalise(path: str, value, where: str = "rule"):
    """A value as the index holds it: an enum's label becomes its code; a computed time is checked.

    Times stay ISO strings in the tree (the canonical text keeps them readable);
    the index and the evaluator compare them as epoch seconds.
    """
    source, _, name = path.partition(".")
    trait = COMPUTED.get(name) if source == "computed" else None
    if trait is None or not isinstance(value, str):
        return value
    if trait.values:
        return trait.code_of(value) or value
    if trait.kind == TIME:
        check_time(value, where)
    return value


def tag_value(name: str, value) -> str:
    """Tag values are strings on the wire ("true" for flags); accept true / 3 in rules.

    A tag named after an enum computed trait (the template library's rfm_group
    holds computed.rfm_group) accepts that trait's labels too.
    """
    value = normalise(f"computed.{name}", value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def confidence(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise error("confidence must be a number from 0 to 1", where)
    if abs(value * CONFIDENCE_STEPS - round(value * CONFIDENCE_STEPS)) > 1e-9:
        raise error("confidence must be a multiple of 0.1 (tags are indexed by tenths)", where)
    return round(value * CONFIDENCE_STEPS) / CONFIDENCE_STEPS


def whole(value, what: str, low: int, high: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise error(f"{what} must be a whole number from {low} to {high}", where)
    return value


class Budget:
    """Counts leaves and nesting while a parser descends; past a bound the rule is refused."""

    def __init__(self) -> None:
        self.leaves = 0
        self.depth = 0

    def leaf(self, node: Leaf) -> Leaf:
        self.leaves += 1
        if self.leaves > MAX_LEAVES:
            raise InvalidInput(f"a rule may hold at most {MAX_LEAVES} conditions", "rule")
        return node

    def enter(self, where: str) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise error(f"rule is nested more than {MAX_DEPTH} levels deep", where)

    def leave(self) -> None:
        self.depth -= 1

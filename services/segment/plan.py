"""Compile a rule AST into a bitmap program (no I/O).

The program is a small stack machine over key suffixes of one shard. The same
program runs in Redis (Lua, BITOP per instruction, over whole shards) and in
Python over one person's bits (IsMember, real-time re-evaluation), so a count
and a membership check can never disagree.

    K i   push key i           A n / O n   AND / OR of the top n
    D     a AND NOT b (pops b, then a)      N   NOT within alive
    I     NOT inside an AND that has a positive term (may skip the alive mask)
    Z     push the empty set   S r / R r   pop the top into register r / push it
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from services.kit.errors import InvalidInput
from services.kit.rules import (
    And,
    Between,
    Compare,
    Did,
    Exists,
    HasTag,
    InSegment,
    Node,
    Not,
    Or,
)
from services.segment import encoding as enc

_LADDER = frozenset(enc.LADDER)
RANGE_AS_VALUES = 40  # a range over at most this many small whole numbers is one OR of value bitmaps


@dataclass
class Meta:
    """What the compiler must know about a workspace's numeric attributes (kept in Redis)."""

    slices: dict[str, int] = field(default_factory=dict)  # path -> bit slices in use
    wide: set[str] = field(default_factory=set)  # paths that hold a number other than 0..200 whole
    negative: set[str] = field(default_factory=set)  # paths that hold a negative number
    shards: list[int] = field(default_factory=list)  # shards in use (read with the rest, one round trip)
    free: set[str] = field(default_factory=set)  # text attributes with too many values to index each
    steps: set[str] = field(default_factory=set)  # whole-number paths whose step bitmaps cover everyone


@dataclass
class Program:
    keys: list[str]
    code: list[str]
    registers: int

    @property
    def temporaries(self) -> int:
        return sum(1 for op in self.code if op in ("A", "O", "D", "N", "Z", "I"))


class Compiler:
    def __init__(self, meta: Meta, today: dt.date, resolve: Callable[[str], Node] | None = None) -> None:
        self.meta = meta
        self.today = today
        self.resolve = resolve
        self.keys: list[str] = []
        self.index: dict[str, int] = {}
        self.code: list[str] = []
        self.registers = 0
        self.stack: list[str] = []  # segments being inlined (cycle guard)
        self._flat = False  # the comparison being emitted may leave its terms to the enclosing AND
        self._extra = 0

    # -- emit --------------------------------------------------------------
    def key(self, suffix: str) -> None:
        if suffix not in self.index:
            self.keys.append(suffix)
            self.index[suffix] = len(self.keys)
        self.code += ["K", str(self.index[suffix])]

    def op(self, name: str, n: int | None = None) -> None:
        if name in ("A", "O") and n == 1:
            return
        self.code += [name] if n is None else [name, str(n)]

    def zero(self) -> None:
        self.code.append("Z")

    def store(self) -> int:
        self.registers += 1
        self.code += ["S", str(self.registers)]
        return self.registers

    def load(self, r: int) -> None:
        self.code += ["R", str(r)]

    def any_of(self, suffixes: list[str]) -> None:
        if not suffixes:
            self.zero()
            return
        for s in suffixes:
            self.key(s)
        self.op("O", len(suffixes))

    # -- nodes -------------------------------------------------------------
    def node(self, node: Node) -> None:
        if isinstance(node, Not):
            self.node(node.item)
            self.op("N")
        elif isinstance(node, And):
            # Next to a positive condition (whose bits lie within alive), NOT x is just ~x:
            # one BITOP NOT instead of two operations against alive.
            positive = any(not isinstance(i, Not) for i in node.items)
            terms = 0
            for item in node.items:
                if positive and isinstance(item, Not):
                    self.node(item.item)
                    self.op("I")
                    terms += 1
                elif isinstance(item, (Compare, Between)):
                    terms += self.conjunct(item)
                else:
                    self.node(item)
                    terms += 1
            self.op("A", terms)
        elif isinstance(node, Or):
            for item in node.items:
                self.node(item)
            self.op("O", len(node.items))
        elif isinstance(node, Compare):
            self.compare(node)
        elif isinstance(node, Between):
            self.between(node.path, node.low, node.high)
        elif isinstance(node, Exists):
            self.key(enc.exists_key(node.path))
        elif isinstance(node, HasTag):
            self.tag(node)
        elif isinstance(node, Did):
            end = self.today
            start = end - dt.timedelta(days=node.days - 1)
            self.activity(enc.event_key(node.event, node.prop, node.prop_value), start, end, node.times)
        elif isinstance(node, InSegment):
            self.segment(node.segment_id)
        else:  # pragma: no cover - the parser builds nothing else
            raise TypeError(node)

    def conjunct(self, item: Node) -> int:
        """Emit a comparison whose terms join the enclosing AND; returns how many it pushed.

        A range "x AND NOT y" then leaves x and ~y for that AND: one BITOP NOT
        instead of an AND and an XOR, and one operation fewer per shard.
        """
        self._flat, self._extra = True, 0
        try:
            self.node(item)
        finally:
            self._flat = False
        return 1 + self._extra

    def minus(self) -> None:
        """The top two entries as "a AND NOT b", or as two terms of the enclosing AND (see conjunct)."""
        if self._flat:
            self._flat = False
            self.op("I")
            self._extra += 1
        else:
            self.op("D")

    def segment(self, segment_id: str) -> None:
        if self.resolve is None:
            raise InvalidInput("segment references cannot be used here", "rule")
        if segment_id in self.stack:
            cycle = " -> ".join([*self.stack, segment_id])
            raise InvalidInput(f"segment references form a cycle: {cycle}", "rule")
        self.stack.append(segment_id)
        self.node(self.resolve(segment_id))
        self.stack.pop()

    def tag(self, node: HasTag) -> None:
        first = round(node.min_confidence * 10)
        buckets = [enc.tag_bucket_key(node.name, b) for b in range(first, 10)]
        if node.value is None:
            if first == 0:
                self.key(enc.exists_key(f"tags.{node.name}"))
            else:
                self.any_of(buckets)
            return
        self.key(enc.tag_value_key(node.name, node.value))
        if first > 0:
            self.any_of(buckets)
            self.op("A", 2)

    def compare(self, node: Compare) -> None:
        number = enc.as_number(node.path, node.value)
        if node.op == "=":
            if number is None:
                if node.path in self.meta.free:
                    raise InvalidInput(
                        f"{node.path} has too many distinct values to be indexed by value; "
                        "use EXISTS, or a tag or computed trait",
                        "rule",
                    )
                key = enc.value_key(node.path, node.value)
                self.key(key) if key else self.zero()
                return
            small = enc.small_int(node.path, number)
            if small is not None and node.path not in self.meta.wide:
                self.key(enc.value_key(node.path, small))
                return
            self.number_range(node.path, number, number)
            return
        if number is None:
            raise InvalidInput(f"{node.op!r} needs a number", "rule")
        low, high = {
            ">=": (number, None),
            ">": (number + 1, None),
            "<=": (None, number),
            "<": (None, number - 1),
        }[node.op]
        self.number_range(node.path, low, high)

    def between(self, path: str, low, high) -> None:
        lo, hi = enc.as_number(path, low), enc.as_number(path, high)
        if lo is None or hi is None:
            raise InvalidInput("BETWEEN needs numbers", "rule")
        self.number_range(path, lo, hi)

    def number_range(self, path: str, low: int | None, high: int | None) -> None:
        """low <= value <= high on the scaled integers (None: open end)."""
        if low is not None and high is not None and low > high:
            self.zero()
            return
        if path not in self.meta.wide and enc.scale(path) == 100:
            # Every value of the path is a whole number 0..200: value and step bitmaps answer it.
            lo = 0 if low is None else max(0, -(-low // 100))
            hi = enc.SMALL_INT_MAX if high is None else min(enc.SMALL_INT_MAX, high // 100)
            if lo > hi:
                self.zero()
                return
            if path in self.meta.steps:
                self.small_range(path, lo, hi)
                return
            if hi - lo + 1 <= RANGE_AS_VALUES:
                self.any_of([enc.value_key(path, n) for n in range(lo, hi + 1)])
                return
        flat, self._flat = self._flat, False  # only this range's own "AND NOT" may be flattened
        if low is not None and high is not None:
            self.at_least(path, low)
            self.at_least(path, high + 1)
            self._flat = flat
            self.minus()
        elif low is not None:
            self.at_least(path, low)
        else:
            self.key(enc.exists_key(path))
            self.at_least(path, high + 1)
            self._flat = flat
            self.minus()

    def small_range(self, path: str, lo: int, hi: int) -> None:
        """lo <= value <= hi over whole numbers 0..200: the fewest bitmaps of values and steps.

        The steps cover [a, b) for the multiples of STEP a <= b inside the range
        (`>= a` and not `>= b`); the values at either edge are ORed in one by one.
        """
        step = enc.STEP
        a = -(-lo // step) * step
        b = (hi + 1) // step * step if hi < enc.SMALL_INT_MAX else enc.SMALL_INT_MAX + 1
        values = list(range(lo, hi + 1))
        if a < b:
            edges = [*range(lo, a), *range(b, hi + 1)]
            middle_cost = 1 + (0 if b > enc.SMALL_INT_MAX else 1)
            if len(edges) + middle_cost < len(values):
                self.key(enc.step_key(path, a))
                if b <= enc.SMALL_INT_MAX:
                    self.key(enc.step_key(path, b))
                    self.minus() if not edges else self.op("D")
                for n in edges:
                    self.key(enc.value_key(path, n))
                self.op("O", len(edges) + 1)
                return
        self.any_of([enc.value_key(path, n) for n in values])

    def at_least(self, path: str, c: int) -> None:
        """value >= c: one ladder bitmap for a round c > 0, else the sign bitmap and the magnitude slices."""
        if c > 0 and c in _LADDER:
            self.key(enc.ladder_key(path, c))
            return
        negative = path in self.meta.negative
        if not negative:
            self.magnitude_at_least(path, max(c, 0))
            return
        self.key(enc.exists_key(path))
        self.key(enc.neg_key(path))
        self.op("D")  # the non-negative
        if c >= 0:
            self.magnitude_at_least(path, c)
            self.op("A", 2)
        else:
            # negatives with |value| <= -c
            self.key(enc.neg_key(path))
            self.key(enc.neg_key(path))
            self.magnitude_at_least(path, -c + 1)
            self.op("D")
            self.op("A", 2)
            self.op("O", 2)

    def magnitude_at_least(self, path: str, m: int) -> None:
        """|value| >= m, by O'Neil's bit-sliced comparison from the top slice down."""
        bits = self.meta.slices.get(path, 0)
        exists = enc.exists_key(path)
        if m <= 0:
            self.key(exists)
            return
        if m >= 1 << bits:
            self.zero()
            return
        top = m.bit_length() - 1
        lowest = (m & -m).bit_length() - 1
        high = [enc.slice_key(path, i) for i in range(bits - 1, top, -1)]
        gt = None
        if high:
            self.any_of(high)
            gt = self.store()
            self.key(exists)
            self.load(gt)
            self.op("D")
        else:
            self.key(exists)
        eq = self.store()
        for i in range(top, lowest - 1, -1):
            s = enc.slice_key(path, i)
            if m >> i & 1:
                self.load(eq)
                self.key(s)
                self.op("A", 2)
                eq = self.store()
            else:
                self.load(eq)
                self.key(s)
                self.op("A", 2)
                if gt is not None:
                    self.load(gt)
                    self.op("O", 2)
                gt = self.store()
                self.load(eq)
                self.key(s)
                self.op("D")
                eq = self.store()
        self.load(eq)
        if gt is not None:
            self.load(gt)
            self.op("O", 2)

    def activity(self, ekey: str, start: dt.date, end: dt.date, times: int) -> None:
        """Did the event at least `times` times in [start, end]: week roll-ups plus days."""
        parts = enc.periods(start, end)
        if times == 1:
            self.any_of([enc.period_key(ekey, kind, day, 1) for kind, day in parts])
            return
        # acc[k] = "at least k so far"; a period adds j to those with k - j: acc[k] |= acc[k-j] & period>=j.
        acc: list[int | None] = [None] * (times + 1)
        for kind, day in parts:
            updated: dict[int, int] = {}
            for k in range(times, 0, -1):
                terms = 0
                if acc[k] is not None:
                    self.load(acc[k])
                    terms += 1
                for j in range(1, k + 1):
                    if k - j > 0 and acc[k - j] is None:
                        continue
                    self.key(enc.period_key(ekey, kind, day, j))
                    if k - j > 0:
                        self.load(acc[k - j])
                        self.op("A", 2)
                    terms += 1
                self.op("O", terms)
                updated[k] = self.store()
            for k, r in updated.items():
                acc[k] = r
        if acc[times] is None:
            self.zero()
        else:
            self.load(acc[times])


def compile_rule(node: Node, meta: Meta, today: dt.date, resolve: Callable[[str], Node] | None = None) -> Program:
    c = Compiler(meta, today, resolve)
    c.node(node)
    return Program(c.keys, c.code, c.registers)


def interpret(program: Program, get: Callable, alive, and_: Callable, or_: Callable, minus: Callable, empty):
    """Run the stack machine with the given set operations (the Lua in bitmap_scripts.py is the Redis twin).

    get(key suffix) -> a set; and_/or_ take a list of sets; minus(a, b) is a AND NOT b.
    """
    stack: list = []
    registers: dict = {}
    code, i = program.code, 0
    while i < len(code):
        op = code[i]
        if op == "K":
            stack.append(get(program.keys[int(code[i + 1]) - 1]))
            i += 2
        elif op in ("A", "O"):
            n = int(code[i + 1])
            items = stack[-n:]
            del stack[-n:]
            stack.append(and_(items) if op == "A" else or_(items))
            i += 2
        elif op == "D":
            b, a = stack.pop(), stack.pop()
            stack.append(minus(a, b))
            i += 1
        elif op in ("N", "I"):
            stack.append(minus(alive, stack.pop()))
            i += 1
        elif op == "Z":
            stack.append(empty)
            i += 1
        elif op == "S":
            registers[code[i + 1]] = stack.pop()
            i += 2
        elif op == "R":
            stack.append(registers[code[i + 1]])
            i += 2
        elif op == "P":
            stack.pop()
            i += 1
        else:  # pragma: no cover
            raise ValueError(op)
    return stack[-1]


def run_on_bits(program: Program, bits: dict[str, bool], alive: bool) -> bool:
    """The program over one person's bits (`bits[suffix]`), exactly as the Lua runs it over bitmaps."""
    found = interpret(program, lambda k: bits.get(k, False), alive, all, any, lambda a, b: a and not b, False)
    return bool(found) and alive

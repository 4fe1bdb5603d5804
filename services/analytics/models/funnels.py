"""Funnels: ordered, strict or any-order steps within a window that runs from the first step.

All of it runs in the engine. Each person's (or each person-and-held-value's) relevant
events become one sorted array of (ms, step mask, exclusion mask, breakdown value, held
values). An ordered funnel without time bounds or exclusions (the common case) follows every
entry from that array with vectorised array functions alone (`_plain_walk_sql`); the others
walk every possible entry over it with an arrayFold: the shape of
PostHog's funnel since its aggregate_funnel UDF (posthog/hogql_queries/insights/funnels/
funnel_udf.py: steps tagged per event, one sorted array per person, one pass that honours
exclusions and gives step times). windowFunnel ('strict_order', 'strict_deduplication')
cannot bound the time between two steps, drop an attempt on an exclusion between named
steps, or give each step's time, and a person's results here need all three; and chDB in
this process cannot load an external UDF binary, so the walk is ClickHouse's own arrays.
The best attempt (most steps, earliest entry on a tie) is reduced in the engine too, then
breakdown values are ranked (top N plus "$other") and every figure is aggregated there:
only one row per breakdown value comes back. tests/funnel_oracle.py is the Python walker
the tests compare this with. The date range selects entries only: completions are read up
to the window after it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from services.analytics import sql
from services.analytics.models import common
from services.analytics.models.common import Breakdown, DateRange, Filter
from services.kit.errors import InvalidInput

ORDERS = ("ordered", "strict", "any")
ATTRIBUTIONS = ("first", "last", "step")
MAX_STEPS = 20
MIN_STEPS = 2
DEFAULT_WINDOW = 14 * 86400
MAX_WINDOW = 366 * 86400


@dataclass(frozen=True)
class Step:
    event: str
    filters: tuple[Filter, ...]
    # Bounds of the time since the step before (ordered and strict funnels); None: no upper bound.
    min_seconds: int = 0
    max_seconds: int | None = None

    def condition(self) -> str:
        return common.all_of([f"s.event = {sql.string(self.event)}", *(f.sql("s.properties") for f in self.filters)])


@dataclass(frozen=True)
class Exclusion:
    event: str
    filters: tuple[Filter, ...]
    # Between these steps (0-based, from < to): doing the event there removes the attempt.
    from_step: int
    to_step: int

    def condition(self) -> str:
        return common.all_of([f"s.event = {sql.string(self.event)}", *(f.sql("s.properties") for f in self.filters)])


@dataclass(frozen=True)
class FunnelQuery:
    steps: tuple[Step, ...]
    order: str
    window_seconds: int
    range: DateRange
    exclusions: tuple[Exclusion, ...]
    hold_constant: str
    breakdown: Breakdown | None
    # Which step's value a person's breakdown takes: first (entry), last (furthest step reached), or step.
    attribution: str = "first"
    attribution_step: int = 0


def parse(doc: dict) -> FunnelQuery:
    items = doc.get("steps") or []
    if not MIN_STEPS <= len(items) <= MAX_STEPS:
        raise InvalidInput(f"a funnel has {MIN_STEPS} to {MAX_STEPS} steps, not {len(items)}", "steps")
    steps = tuple(_step(s, i) for i, s in enumerate(items))
    exclusions = []
    for i, item in enumerate(doc.get("exclusions") or []):
        at = f"exclusions[{i}]"
        low = common.integer(item, "from_step", f"{at}.fromStep", 0, 0, len(steps) - 2)
        high = common.integer(item, "to_step", f"{at}.toStep", low + 1, 1, len(steps) - 1)
        if high <= low:
            raise InvalidInput(f"{at}.toStep must come after fromStep", f"{at}.toStep")
        exclusions.append(
            Exclusion(
                common.text(item, "event", f"{at}.event"),
                tuple(common.filters(item.get("filters"), f"{at}.filters")),
                low,
                high,
            )
        )
    hold = common.text(doc, "hold_constant", "holdConstant", required=False)
    if hold:
        common.path(hold, "holdConstant")
    breakdown = common.breakdown(doc.get("breakdown"))
    if breakdown and breakdown.kind == "product":
        raise InvalidInput("a funnel breaks down by a property or a trait", "breakdown.product")
    attribution = common.choice(doc, "attribution", "attribution", ATTRIBUTIONS, "first")
    attribution_step = common.integer(doc, "attribution_step", "attributionStep", 0, 0, len(steps) - 1)
    return FunnelQuery(
        steps,
        common.choice(doc, "order", "order", ORDERS, "ordered"),
        common.integer(doc, "window_seconds", "windowSeconds", DEFAULT_WINDOW, 1, MAX_WINDOW),
        common.date_range(doc),
        tuple(exclusions),
        hold,
        breakdown,
        attribution,
        attribution_step,
    )


def _step(doc: dict, i: int) -> Step:
    at = f"steps[{i}]"
    low = common.integer(doc, "min_seconds", f"{at}.minSeconds", 0, 0, MAX_WINDOW)
    high = doc.get("max_seconds")
    if high is not None:
        high = common.integer(doc, "max_seconds", f"{at}.maxSeconds", 0, 0, MAX_WINDOW)
        if high < low:
            raise InvalidInput(f"{at}.maxSeconds is below minSeconds", f"{at}.maxSeconds")
    if i == 0 and (low or high is not None):
        raise InvalidInput("the first step has no step before it to be timed from", f"{at}.minSeconds")
    filters = tuple(common.filters(doc.get("filters"), f"{at}.filters"))
    return Step(common.text(doc, "event", f"{at}.event"), filters, low, high)


def _sequences(db: str, workspace: str, query: FunnelQuery) -> str:
    """person -> every relevant event of theirs, sorted: [(ms, mask, excl, value, [held values]), ...]."""
    rng = query.range
    end = rng.end + dt.timedelta(seconds=query.window_seconds)
    names = None if query.order == "strict" else [s.event for s in query.steps] + [e.event for e in query.exclusions]
    source = common.events_source(db, workspace, rng.start, end, names)
    mask = " + ".join(f"if({s.condition()}, {1 << i}, 0)" for i, s in enumerate(query.steps))
    excl = " + ".join(f"if({e.condition()}, {1 << i}, 0)" for i, e in enumerate(query.exclusions)) or "0"
    held = _held_values(query.hold_constant) if query.hold_constant else "CAST([], 'Array(String)')"
    bd = query.breakdown
    # A segment is the person's, not an event's: joined to the walked persons (persons_sql).
    by_event = bd if bd and bd.kind != "segment" else None
    value = by_event.value_sql() if by_event else "''"
    joins = by_event.joins(db, workspace) if by_event else ""
    # A strict funnel is broken by any other event, so it keeps every row; the others only the named ones.
    keep = "1" if query.order == "strict" else "mask != 0 OR excl != 0"
    inner = (
        f"SELECT s.person AS person, toUnixTimestamp64Milli(s.ts) AS ms, toInt64({mask}) AS mask, "
        f"toInt64({excl}) AS excl, {value} AS value, {held} AS held FROM ({source}) AS s{joins}"
    )
    # Sorted on the whole tuple so that events of the same millisecond come in one order on every run.
    # The aggregation may go two-level (it merges its buckets in parallel): the walk does not read
    # its blocks as they come (`_by_length`).
    return (
        "SELECT person, arraySort(groupArray((ms, mask, excl, value, held))) AS seq "
        f"FROM ({inner}) WHERE {keep} GROUP BY person"
    )


def _held_values(key: str) -> str:
    """The values of the held property an event carries: its own property when it has one, else
    that key of each item of its products[] (so "product_id" follows one product from Product
    Viewed, which names it, to the Order Completed whose items include it)."""
    own = sql.json_text("s.properties", key)
    items = f"arrayDistinct(arrayFilter(v -> v != '', arrayMap(i -> {sql.json_text('i', key)}, s.products)))"
    return f"if({own} != '', [{own}], {items})"


def _by_length(rows: str, columns: str, seq: str) -> str:
    """`rows` again, in blocks of sequences of about one length, for the walks' arrayFolds.

    An arrayFold works a block position by position: at each position it runs the lambda's whole
    expression once over the rows that still have an element there, and walks every row of the block
    to find them. So a block costs (positions of its longest row) x (the expression's fixed cost +
    the block's rows), whatever its other rows hold. Grouped by person, a block's rows are persons
    in hash order: a two-level aggregation hands over 256 small blocks (each paying the fixed cost up
    to its longest person: 17 s of CPU against 6 s on 3,000,000 shop events), a one-level one a few
    blocks of a quarter of the persons each, each walked up to the longest person in it. Partitioned
    by length, each of the engine's streams sorts its rows by length: a block then holds sequences of
    one length or close to it, and the streams still walk in parallel. (An ORDER BY here would be
    dropped by the planner, the result not depending on it, and with a LIMIT to keep it the walk
    would run on one stream.)"""
    return (
        f"SELECT {columns} FROM (SELECT {columns}, count() OVER (PARTITION BY length({seq})) AS same "
        f"FROM ({rows})) WHERE same > 0"
    )


def _ints(values: list[int]) -> str:
    return "[" + ", ".join(f"toInt64({v})" for v in values) + "]"


def _fold(query: FunnelQuery, seq: str, at: str, full: bool) -> str:
    """The walk of the attempt entering at `seq`[`at`], as one arrayFold.

    Its state is (level, stopped, excluded, steps done (any order), ms of the last step) and, when
    `full`, the ms and breakdown value of every step reached; once stopped the fold leaves it as
    it is, which is how a walk that `break`s reads as a fold."""
    n = len(query.steps)
    window = query.window_seconds * 1000
    carried = ", a.6, a.7" if full else ""
    stop = f"(a.1, 1, 0, a.4, a.5{carried})"
    dead = f"(a.1, 1, 1, a.4, a.5{carried})"
    pushed = ", arrayPushBack(a.6, x.1), arrayPushBack(a.7, x.4)" if full else ""
    t0 = f"{seq}[{at}].1"
    # Only the events up to the end of the window are walked (the array is sorted by time).
    reach = f"arrayCount(y -> y.1 <= {t0} + {window}, {seq})"
    if query.order == "any":
        fresh = "bitAnd(x.2, bitNot(a.4))"
        step = f"if({fresh} != 0, (a.1 + 1, 0, 0, bitOr(a.4, bitAnd({fresh}, -{fresh})), x.1{pushed}), a)"
        excluded = "EXCL[a.1 + 1]"
        level, walked = "0", f"arraySlice({seq}, {at}, {reach} - {at} + 1)"
        arrays = ", CAST([], 'Array(Int64)'), CAST([], 'Array(String)')"
    else:
        strict = f"if(NOT bitTest(x.2, a.1 - 1), {stop}, a)" if query.order == "strict" else "a"
        gap = "x.1 - a.5"
        step = (
            f"if(bitTest(x.2, a.1) AND MAXS[a.1 + 1] >= 0 AND {gap} > MAXS[a.1 + 1], {stop}, "
            f"if(bitTest(x.2, a.1) AND {gap} >= MINS[a.1 + 1], (a.1 + 1, 0, 0, 0, x.1{pushed}), {strict}))"
        )
        excluded = "EXCL[a.1]"
        level, walked = "1", f"arraySlice({seq}, {at} + 1, {reach} - {at})"
        arrays = f", [{t0}], [{seq}[{at}].4]"
    body = (
        f"if(a.2 != 0, a, if(x.1 > {t0} + {window} OR a.1 = {n}, {stop}, "
        f"if(bitAnd(x.3, {excluded}) != 0, {dead}, {step})))"
    )
    init = f"(toInt64({level}), toInt64(0), toInt64(0), toInt64(0), {t0}{arrays if full else ''})"
    return f"arrayFold((a, x) -> {body}, {walked}, {init})"


# A finished attempt as one number: more steps first, then the earlier entry (its index).
_KEY_BASE = 1 << 32


def _attempt_step(query: FunnelQuery, a: str, x: str) -> str:
    """One live attempt `a` = (t0, level, steps done (any order), ms of the last step, entry index,
    status) after the event `x` = (ms, mask, excl, index). Status 0 live, 1 finished (window over,
    a bound broken, a strict break, or every step reached), 2 removed by an exclusion: the same
    rules as `_fold`, which walks one entry alone."""
    n = len(query.steps)
    window = query.window_seconds * 1000
    stop = f"({a}.1, {a}.2, {a}.3, {a}.4, {a}.5, toInt64(1))"
    dead = f"({a}.1, {a}.2, {a}.3, {a}.4, {a}.5, toInt64(2))"
    done = f"toInt64({a}.2 + 1 = {n})"
    if query.order == "any":
        fresh = f"bitAnd({x}.2, bitNot({a}.3))"
        took = f"bitOr({a}.3, bitAnd({fresh}, -{fresh}))"  # the lowest step not done yet
        step = f"if({fresh} != 0, ({a}.1, {a}.2 + 1, {took}, {x}.1, {a}.5, {done}), {a})"
        excluded = f"EXCL[{a}.2 + 1]"
    else:
        strict = f"if(NOT bitTest({x}.2, {a}.2 - 1), {stop}, {a})" if query.order == "strict" else a
        gap = f"{x}.1 - {a}.4"
        nxt = f"bitTest({x}.2, {a}.2)"
        step = (
            f"if({nxt} AND MAXS[{a}.2 + 1] >= 0 AND {gap} > MAXS[{a}.2 + 1], {stop}, "
            f"if({nxt} AND {gap} >= MINS[{a}.2 + 1], ({a}.1, {a}.2 + 1, {a}.3, {x}.1, {a}.5, {done}), {strict}))"
        )
        excluded = f"EXCL[{a}.2]"
    return f"if({x}.1 > {a}.1 + {window}, {stop}, if(bitAnd({x}.3, {excluded}) != 0, {dead}, {step}))"


def _best_key(attempts: str, counted: str) -> str:
    """The best of `attempts` whose status passes `counted`, as a key (0: none)."""
    key = f"a.2 * {_KEY_BASE} + {_KEY_BASE - 1} - a.5"
    return f"arrayMax(arrayPushBack(arrayMap(a -> if({counted}, {key}, 0), {attempts}), toInt64(0)))"


def _attempt_keys(query: FunnelQuery, rows: str, consts: str, opens: str) -> str:
    """Rows of (person, held, hseq, k): the key of the row's best attempt (0: none), from one pass
    over its events carrying every open attempt; `opens` says when an event starts one."""
    n = len(query.steps)
    full = n * _KEY_BASE
    # A new attempt: an ordered one stands on its entry (it walks the events after it); an any-order
    # one takes its entry's first step as any later event would.
    if query.order == "any":
        fresh = _attempt_step(query, "z", "x")
        start = "[(x.1, toInt64(0), toInt64(0), x.1, x.4, toInt64(0))]"
        born = f"arrayMap(z -> {fresh}, arrayFilter(z -> {opens}, {start}))"
    else:
        born = f"arrayFilter(z -> {opens}, [(x.1, toInt64(1), toInt64(0), x.1, x.4, toInt64(0))])"
    # Once an attempt has reached the last step, only an earlier entry still open can beat it: no
    # attempt starts after that (`opens`), and open ones that entered later are dropped.
    can_win = f"(s.1 < {full} OR a.5 < {_KEY_BASE - 1} - s.1 % {_KEY_BASE})"
    moved = f"arrayMap(a -> {_attempt_step(query, 'a', 'x')}, arrayFilter(a -> a.6 = 0 AND {can_win}, s.2))"
    body = f"(greatest(s.1, {_best_key('s.2', 'a.6 = 1')}), arrayConcat({moved}, {born}))"
    init = "(toInt64(0), CAST([], 'Array(Tuple(Int64, Int64, Int64, Int64, Int64, Int64))'))"
    events = "arrayMap((x, i) -> (x.1, x.2, x.3, toInt64(i)), hseq, arrayEnumerate(hseq))"
    walked = f"{consts} SELECT person, held, hseq, arrayFold((s, x) -> {body}, {events}, {init}) AS st FROM ({rows})"
    # What is left open at the end of the row counts as finished; removed attempts never count.
    return f"SELECT person, held, hseq, greatest(st.1, {_best_key('st.2', 'a.6 != 2')}) AS k FROM ({walked})"


def _plain(query: FunnelQuery) -> bool:
    """An ordered funnel without time bounds or exclusions: its attempts can be followed without a walk."""
    return (
        query.order == "ordered"
        and not query.exclusions
        and all(s.min_seconds == 0 and s.max_seconds is None for s in query.steps)
    )


def _stage(rows: str, name: str, expr: str) -> str:
    """`rows` with one more column, computed once (a column of a subquery, not an alias expanded at each use)."""
    return f"SELECT *, {expr} AS {name} FROM ({rows})"


def _let(name: str, value: str, body: str) -> str:
    """`body` with `name` bound to `value` once (a lambda over a one-element array): a subquery per
    intermediate value makes the plan deep and slow to analyse (a 20-step funnel took seconds to
    plan), and an alias is expanded at every use."""
    return f"arrayMap({name} -> {body}, [{value}])[1]"


def _gather(values: str, at: str) -> str:
    """[`values`[i] for i in `at`] (the element type's zero for i = 0), without a lambda over `at`.

    A lambda that reads another array copies it once per element, so a lookup per element is
    quadratic. `at` here is nondecreasing with its zeros (none) at the end, as every position
    array of `_plain_walk_sql` is; so each value is repeated as many times as `at` names its
    position, counted by sorting `at` among all positions once (as plain numbers, 2q for the
    position q and 2i + 1 for a wanted i, which sort faster than pairs)."""
    # No lambda here reads anything but its own arguments: one that read gv (even its length) would
    # copy it once per element. A wanted 0 (none) becomes an odd number past every position, so it
    # is never counted: the result comes out short by the zeros at the end of `at`, padded back.
    wanted = f"arrayMap(i -> if(i = 0, toInt64({(1 << 62) + 1}), toInt64(i) * 2 + 1), {at})"
    merged = f"arraySort(arrayConcat(arrayMap(q -> toInt64(q) * 2, range(1, toUInt64(length(gv) + 2))), {wanted}))"
    before = "arrayFilter((c, m) -> m % 2 = 0, arrayCumSum(arrayMap(m -> m % 2, gm)), gm)"
    times = "arrayMap((a, b) -> b - a, arrayPopBack(gb), arrayPopFront(gb))"
    picked = f"arrayResize(arrayFlatten(arrayMap((v, c) -> arrayWithConstant(c, v), gv, {times})), length({at}))"
    return _let("gv", values, _let("gm", merged, _let("gb", before, picked)))


def _plain_walk_sql(query: FunnelQuery, rows: str) -> str:
    """`_walk_sql`'s rows for a `_plain` funnel, from arrays instead of an arrayFold.

    Without bounds or exclusions an attempt moves on at the first event of its next step after its
    last one, and stops when the window closes. So with NEXT_k[p] = the first position after p that
    is step k, the attempt entering at e stands at e, NEXT_1[e], NEXT_2[NEXT_1[e]], ... and reaches
    the steps among them that fall within its window. Every array here is computed for all entries
    at once (vectorised), where the fold pays for its lambda at every position of a sequence: a
    shopper with 80,000 funnel events cost seconds. The best attempt is the one with most steps,
    then the earliest entry, as the walk picks it."""
    n = len(query.steps)
    window = query.window_seconds * 1000
    entry_from = int(query.range.start.timestamp() * 1000)
    entry_to = int(query.range.end.timestamp() * 1000)
    entry = f"bitTest(x.2, 0) AND x.1 >= {entry_from} AND x.1 < {entry_to}"
    # Each step reached as (position, ms); the entries first.
    first = f"arrayFilter((p, x) -> {entry}, arrayMap((x, i) -> (toInt64(i), x.1), hseq, arrayEnumerate(hseq)), hseq)"
    rows = f"SELECT * FROM (SELECT person, held, hseq, {first} AS s1 FROM ({rows})) WHERE notEmpty(s1)"
    for k in range(1, n):
        # NEXT_k with its ms: the first position after each one that is step k ((0, 0): none).
        mark = f"if(bitTest(x.2, {k}), (toInt64(i), x.1), (toInt64(0), toInt64(0)))"
        marks = f"arrayMap((x, i) -> {mark}, hseq, arrayEnumerate(hseq))"
        following = f"arrayReverseFill(v -> v.1 != 0, arrayPushBack(arrayPopFront({marks}), (toInt64(0), toInt64(0))))"
        rows = _stage(rows, f"s{k + 1}", _gather(following, f"arrayMap(v -> v.1, s{k})"))
    # Steps reached by each entry: a step not found, or found past the window, ends the attempt (both
    # carry on to the later steps, which come later still).
    args = ", ".join(f"s{k}" for k in range(1, n + 1))
    names = ", ".join(f"v{k}" for k in range(1, n + 1))
    reached = " + ".join(f"(v{k}.1 != 0 AND v{k}.2 <= v1.2 + {window})" for k in range(2, n + 1))
    rows = _stage(rows, "levels", f"arrayMap(({names}) -> toInt64(1 + {reached}), {args})")
    rows = _stage(rows, "best", "indexOf(levels, arrayMax(levels))")
    level = "levels[best]"
    times = ", ".join(f"s{k}[best].2" for k in range(1, n + 1))
    values = ", ".join(f"hseq[s{k}[best].1].4" for k in range(1, n + 1))
    return (
        f"SELECT person, held, ({level}, arraySlice([{times}], 1, {level}), arraySlice([{values}], 1, {level})) AS r "
        f"FROM ({rows})"
    )


def _walk_sql(query: FunnelQuery, rows: str) -> str:
    """Each row's `hseq` walked once; rows of (person, held, best attempt as (level, [ms of each
    step reached], [their values])) of the rows with an attempt.

    One pass over the row's events carries every live attempt (one per entry whose window is still
    open) and the best finished one, as numbers. The walk per entry it replaces cost memory per
    entry and event (a lambda over entries copies the sequence it reads once per entry: 16.6
    million tuples for a shop of 760,000 step events, over the engine's limit at 10 million
    events); this one holds one sequence and the open attempts. An attempt is finished when its
    window closes, a bound or a strict order breaks it, or it reaches the last step; from then on
    only the best (most steps, then the earliest entry) is kept, and once an attempt has reached
    the last step only an open attempt that entered before it can still beat it. (Carrying the
    attempts of one level as a group, which move together when there are no time bounds, was
    tried: a few array copies per level and event cost more than an expression per open attempt,
    1.5 s against 1.0 s on the 1,000,000-event bench shop, as most persons have few attempts open.)
    The steps' times and values are gathered by walking the best entry once more (`_fold`). Each
    stage is a column of its own subquery, not a WITH alias: the analyzer expands an alias at every
    place it is named."""
    n = len(query.steps)
    entry_from = int(query.range.start.timestamp() * 1000)
    entry_to = int(query.range.end.timestamp() * 1000)
    # Exclusion bits that remove an attempt standing at level L (steps reached), L = 1..n.
    excl_at = [
        sum(1 << j for j, e in enumerate(query.exclusions) if e.from_step < level <= e.to_step)
        for level in range(1, n + 1)
    ]
    mins = [s.min_seconds * 1000 for s in query.steps]
    maxs = [-1 if s.max_seconds is None else s.max_seconds * 1000 for s in query.steps]
    consts = f"WITH {_ints(excl_at)} AS EXCL, {_ints(mins)} AS MINS, {_ints(maxs)} AS MAXS"
    entry = "x.2 != 0" if query.order == "any" else "bitTest(x.2, 0)"
    first = f"x.1 >= {entry_from} AND x.1 < {entry_to}"
    # Attempts start only while none has reached the last step (a later entry could not beat it).
    keyed = _attempt_keys(query, rows, consts, f"s.1 < {n * _KEY_BASE} AND {entry} AND {first}")
    chosen = (
        f"SELECT person, held, hseq, intDiv(k, {_KEY_BASE}) AS most, {_KEY_BASE - 1} - k % {_KEY_BASE} AS chosen "
        f"FROM ({keyed}) WHERE k > 0"
    )
    best = f"SELECT person, held, {_fold(query, 'hseq', 'chosen', True)} AS b FROM ({chosen})"
    return f"{consts} SELECT person, held, (b.1, b.6, b.7) AS r FROM ({best})"


def persons_sql(db: str, workspace: str, query: FunnelQuery) -> str:
    """Rows of (person, steps reached, [ms of each], attributed breakdown value) for persons who entered."""
    sequences = _sequences(db, workspace, query)
    if query.hold_constant:
        # One walk per value of the held property: the steps that carry it (an order may carry several,
        # one per item), plus every row that is no step (exclusions; in a strict funnel the other
        # events), which counts whatever value it carries.
        held = (
            f"SELECT person, held, arrayFilter(x -> has(x.5, held) OR x.2 = 0, seq) AS hseq FROM ({sequences}) "
            "ARRAY JOIN arrayDistinct(arrayFlatten(arrayMap(x -> if(x.2 != 0, x.5, []), seq))) AS held"
        )
    else:
        held = f"SELECT person, '' AS held, seq AS hseq FROM ({sequences})"
    if _plain(query):
        walked = _plain_walk_sql(query, held)
    else:
        walked = _walk_sql(query, _by_length(held, "person, held, hseq", "hseq"))
    # A person's best over the held values: most steps, then the first held value in order (without a
    # held property there is one row per person already).
    chosen = "argMin(r, (-r.1, held))"
    if query.attribution == "last":
        value = "r.3[r.1]"
    elif query.attribution == "step":
        k = query.attribution_step
        value = f"if(r.1 > {k}, r.3[{k + 1}], '')"
    else:
        value = "r.3[1]"
    if query.hold_constant:
        walked = f"SELECT person, {chosen} AS r FROM ({walked}) GROUP BY person"
    if query.breakdown and query.breakdown.kind == "segment":
        # A person counts in every listed segment they are in, as trends and retention count them.
        return (
            f"SELECT w.person AS person, w.r.1 AS level, w.r.2 AS times, sg.segment AS value FROM ({walked}) AS w "
            f"INNER JOIN ({query.breakdown.members}) AS sg ON sg.person = w.person"
        )
    return f"SELECT person, r.1 AS level, r.2 AS times, {value} AS value FROM ({walked})"


def render(db: str, workspace: str, query: FunnelQuery, now: dt.datetime) -> str:
    """One row per breakdown value (top N, then "$other"): entered, immature, per step the persons
    reached and the avg/median seconds from the step before, time to convert, entries and
    conversions by local day of entry."""
    n = len(query.steps)
    persons = persons_sql(db, workspace, query)
    immature_after = int(now.timestamp() * 1000) - query.window_seconds * 1000
    if query.breakdown:
        # Values ranked by persons entered (then by value); those past the limit fold into "$other".
        ranked = (
            "SELECT *, dense_rank() OVER (ORDER BY entered_by_value DESC, value) AS rank FROM ("
            f"SELECT *, count() OVER (PARTITION BY value) AS entered_by_value FROM ({persons}))"
        )
        group = f"if(rank <= {query.breakdown.limit}, value, {sql.string(common.OTHER)})"
    else:
        ranked, group = persons, "''"
    columns = ["count() AS entered", f"countIf(times[1] > {immature_after} AND level < {n}) AS immature"]
    for k in range(n):
        columns.append(f"countIf(level > {k})")
        if k:
            gap = f"times[{k + 1}] - times[{k}]"
            columns.append(f"avgIf({gap}, level > {k}) / 1000")
            columns.append(f"quantileExactInclusiveIf(0.5)({gap}, level > {k}) / 1000")
    total = f"times[{n}] - times[1]"
    columns.append(f"avgIf({total}, level = {n}) / 1000")
    columns.append(f"quantileExactInclusiveIf(0.5)({total}, level = {n}) / 1000")
    day = f"toString(toDate(fromUnixTimestamp64Milli(times[1]), {sql.string(query.range.timezone)}))"
    columns.append(f"sumMap([{day}], [toUInt64(1)], [toUInt64(level = {n})])")
    return f"SELECT {group} AS bucket, {', '.join(columns)} FROM ({ranked}) GROUP BY bucket"


def _seconds(count: int, value) -> float | None:
    return None if not count or value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def shape(query: FunnelQuery, rows: list[list]) -> dict:
    results = []
    for row in rows:
        bucket, entered, immature, *rest = row
        steps, previous = [], entered
        for k, step in enumerate(query.steps):
            count = int(rest.pop(0))
            avg = median = None
            if k:
                avg, median = _seconds(count, rest.pop(0)), _seconds(count, rest.pop(0))
            steps.append(
                {
                    "event": step.event,
                    "count": count,
                    "conversion": count / entered if entered else 0.0,
                    "from_previous": count / previous if previous else 0.0,
                    "avg_seconds_from_previous": avg,
                    "median_seconds_from_previous": median,
                }
            )
            previous = count
        converted = steps[-1]["count"]
        avg_total, median_total, (days, day_entered, day_converted) = rest
        results.append(
            {
                "breakdown_value": bucket if query.breakdown else None,
                "entered": int(entered),
                "steps": steps,
                "avg_seconds_to_convert": _seconds(converted, avg_total),
                "median_seconds_to_convert": _seconds(converted, median_total),
                # Entered less than a window ago and not converted yet: may still complete.
                "immature": int(immature),
                # Conversion over time: entries and full conversions by the local day of entry.
                "by_day": [
                    {"day": d, "entered": int(e), "converted": int(c)}
                    for d, e, c in zip(days, day_entered, day_converted, strict=True)
                ],
            }
        )
    results.sort(key=lambda r: (r["breakdown_value"] == common.OTHER, -r["entered"], r["breakdown_value"] or ""))
    return {"results": results}


def dropped_sql(db: str, workspace: str, query: FunnelQuery, step: int) -> str:
    """Persons who reached the step before `step` but not `step` itself (0-based)."""
    # An aggregate, not a WHERE on `level`: the planner pushes a filter down into every stage of the
    # vectorised walk, and with 20 steps planning it ran for minutes. Distinct: by segments, a person
    # has a row per segment they are in.
    persons = persons_sql(db, workspace, query)
    return f"SELECT arrayJoin(arraySort(groupUniqArrayIf(person, level = {step}))) FROM ({persons})"


async def run(engine, db: str, workspace: str, query: FunnelQuery, now: dt.datetime) -> dict:
    return shape(query, await engine.rows(render(db, workspace, query, now)))


async def dropped_at(engine, db: str, workspace: str, query: FunnelQuery, step: int) -> list[str]:
    return [r[0] for r in await engine.rows(dropped_sql(db, workspace, query, step))]

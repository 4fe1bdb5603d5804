"""The AARRR overview and lifetime value by channel against pure-Python oracles (tests/money_oracle.py).

Hypothesis generates logs of e-commerce events over five persons: the range's two earlier periods
and the range itself for AARRR, and orders and refunds up to 100 days later for the D7/D30/D90
horizons of LTV (some placed exactly on, just before and just after a horizon of an earlier event),
amounts as numbers, numeric strings and text that is no number, under revenue, total or both, rows
with a utm channel or none, redelivered records and merges (joined at query time, or squashed into
the rows). The models must equal the oracles exactly.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics.analysis import Analytics
from services.kit.clock import FixedClock
from tests import money_oracle as oracle
from tests.oracle_log import PERSONS, ZONES, merges_st, runner, workspace  # noqa: F401 (the module fixture)

BASE = dt.datetime(2025, 3, 28, tzinfo=dt.UTC)
DAY = 1440
SQUASH_ALL = 10**15  # squash every merge (their versions are 1, 2, 3)
NAMES = [oracle.VIEWED, oracle.ADDED, oracle.ORDER, oracle.REFUND, oracle.SHARED]
amount_st = st.one_of(
    st.integers(-20, 300),
    st.sampled_from([0.25, 12.5, 99.75, 0.5]),
    st.integers(0, 300).map(str),
    st.sampled_from(["abc", "12.5", ""]),
)
props_st = st.fixed_dictionaries({}, optional={"revenue": amount_st, "total": amount_st})
channel_st = st.sampled_from(["", "baidu", "wechat", "direct"])
# (person, event, minute, properties, channel); minutes from 9 days before the range (its two earlier
# periods) to 100 days after its start.
base_st = st.tuples(
    st.sampled_from(PERSONS),
    st.sampled_from(NAMES),
    st.one_of(st.integers(-9 * DAY, 5 * DAY), st.integers(-9 * DAY, 100 * DAY)),
    props_st,
    channel_st,
)
# AARRR's logs: most minutes near the range (its first day, and the two days before it: the earlier
# periods when the range is one day long), the rest anywhere from 12 days before it to after it.
# More persons (some first seen in the range: acquisition, activation) and more orders and cart adds.
aarrr_st = st.tuples(
    st.sampled_from([f"a{i}" for i in range(8)]),
    st.sampled_from([*NAMES, oracle.ADDED, oracle.ORDER, oracle.REFUND]),
    st.one_of(st.integers(-2 * DAY, DAY), st.integers(-12 * DAY, 5 * DAY)),
    props_st,
    channel_st,
)
# (index of an earlier event, horizon, minutes off it, order or refund, properties): the same
# person's order at the horizon's edge.
echo_st = st.tuples(
    st.integers(0, 24), st.sampled_from(oracle.HORIZONS), st.sampled_from([-1, 0, 1]),
    st.sampled_from([oracle.ORDER, oracle.REFUND]), props_st,
)  # fmt: skip


def build(base, echoes) -> list[oracle.MoneyEvent]:
    # Each base event gets its own millisecond, so no two persons' events tie for "first"; an echo
    # keeps its source's, so it lands exactly on a horizon when its offset is 0.
    log = [
        oracle.MoneyEvent(p, e, BASE + dt.timedelta(minutes=m, milliseconds=i), props, ch)
        for i, (p, e, m, props, ch) in enumerate(base)
    ]
    for src, days, off, name, props in echoes:
        if base:
            s = log[src % len(base)]
            log.append(oracle.MoneyEvent(s.person, name, s.at + dt.timedelta(days=days, minutes=off), props, "x"))
    return log


def analytics(store, now: dt.datetime) -> Analytics:
    return Analytics(store, FixedClock(now), None)


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    base=st.lists(aarrr_st, min_size=8, max_size=30),
    duplicates=st.lists(st.integers(0, 39), max_size=5),
    merges=st.lists(st.tuples(st.sampled_from(["a0", "a1", "a2"]), st.sampled_from(["a0", "a1", "a2"])), max_size=3),
    timezone=st.sampled_from(ZONES),
    last_day=st.integers(0, 3),
    activation_days=st.integers(1, 3),
    # Cart adds exactly the activation window after an earlier event of the same person, a minute
    # before or a minute after it: on the window's edge when that event was the person's first.
    adds=st.lists(st.tuples(st.integers(0, 29), st.sampled_from([-1, 0, 1])), max_size=4),
    squash=st.sampled_from([False, False, False, True]),  # a squash costs a few mutations: one example in 4
)
def test_aarrr_equals_the_oracle(runner, base, duplicates, merges, timezone, last_day, activation_days, adds, squash):  # noqa: F811
    store, loop = runner
    ws = workspace("aarrr")
    log = build(base, [(src, activation_days, off, oracle.ADDED, {}) for src, off in adds])
    mapping = loop.run_until_complete(oracle.load(store, ws, log, duplicates, merges))
    if squash:  # the merges written into the rows themselves, as the background squash does
        loop.run_until_complete(store.squash(ws, SQUASH_ALL))
    date_from, date_to = dt.date(2025, 3, 28), dt.date(2025, 3, 28 + last_day)
    doc = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat(), "timezone": timezone,
           "activation_days": activation_days}  # fmt: skip
    got = loop.run_until_complete(analytics(store, BASE + dt.timedelta(days=200)).aarrr(ws, doc))
    assert got == oracle.aarrr(log, mapping, date_from, date_to, timezone, activation_days)


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    base=st.lists(base_st, min_size=1, max_size=25),
    echoes=st.lists(echo_st, max_size=8),
    duplicates=st.lists(st.integers(0, 39), max_size=5),
    merges=merges_st,
    timezone=st.sampled_from(ZONES),
    now_days=st.sampled_from([3, 8, 35, 92, 200]),
    squash=st.sampled_from([False, False, False, True]),  # a squash costs a few mutations: one example in 4
)
def test_ltv_equals_the_oracle(runner, base, echoes, duplicates, merges, timezone, now_days, squash):  # noqa: F811
    store, loop = runner
    ws = workspace("ltv")
    log = build(base, echoes)
    mapping = loop.run_until_complete(oracle.load(store, ws, log, duplicates, merges))
    if squash:
        loop.run_until_complete(store.squash(ws, SQUASH_ALL))
    now = BASE + dt.timedelta(days=now_days)
    doc = {"date_from": "2025-03-28", "date_to": "2025-03-31", "timezone": timezone}
    got = loop.run_until_complete(analytics(store, now).ltv(ws, doc))
    start, end = oracle.local_period(dt.date(2025, 3, 28), dt.date(2025, 3, 31), timezone)
    assert got == oracle.ltv(log, mapping, start, end, now)


def test_ltv_counts_d90_and_refunds_on_a_known_log(runner):  # noqa: F811
    """The generated logs reach D90 only sometimes: one log where every horizon holds money and a
    refund, checked against the oracle and against figures worked out by hand."""
    store, loop = runner
    ws = workspace("ltv90")
    at = BASE + dt.timedelta(hours=12)
    log = [
        oracle.MoneyEvent("a", oracle.VIEWED, at, {}, "baidu"),
        oracle.MoneyEvent("a", oracle.ORDER, at + dt.timedelta(days=2), {"revenue": 100}, "x"),
        oracle.MoneyEvent("a", oracle.ORDER, at + dt.timedelta(days=20), {"total": "40.5"}, "x"),
        oracle.MoneyEvent("a", oracle.REFUND, at + dt.timedelta(days=60), {"total": 30}, "x"),
        oracle.MoneyEvent("a", oracle.ORDER, at + dt.timedelta(days=90), {"revenue": 999}, "x"),  # day 90: out
        oracle.MoneyEvent("b", oracle.ORDER, at + dt.timedelta(hours=1), {"revenue": 10}, ""),
        oracle.MoneyEvent("b", oracle.REFUND, at + dt.timedelta(days=89), {"revenue": 4, "total": 10}, ""),
    ]
    mapping = loop.run_until_complete(oracle.load(store, ws, log, [1, 3], []))
    now = BASE + dt.timedelta(days=120)
    got = loop.run_until_complete(analytics(store, now).ltv(ws, {"date_from": "2025-03-28", "date_to": "2025-03-31"}))
    start, end = oracle.local_period(dt.date(2025, 3, 28), dt.date(2025, 3, 31), "UTC")
    assert got == oracle.ltv(log, mapping, start, end, now)
    assert got == [
        {"channel": "baidu", "persons": 1,
         "d7": {"mature_persons": 1, "net_revenue": 100.0, "per_person": 100.0},
         "d30": {"mature_persons": 1, "net_revenue": 140.5, "per_person": 140.5},
         "d90": {"mature_persons": 1, "net_revenue": 110.5, "per_person": 110.5}},
        {"channel": "direct", "persons": 1,
         "d7": {"mature_persons": 1, "net_revenue": 10.0, "per_person": 10.0},
         "d30": {"mature_persons": 1, "net_revenue": 10.0, "per_person": 10.0},
         "d90": {"mature_persons": 1, "net_revenue": 6.0, "per_person": 6.0}},
    ]  # fmt: skip

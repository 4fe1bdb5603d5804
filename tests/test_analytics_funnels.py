"""The engine's funnel on hand-made sequences: orders, step time bounds, exclusions, conversion by day,
breakdown attribution. Each case is written into an in-process chDB store as events and run through the
funnel SQL; the Python walker (tests/funnel_oracle.py) must agree with the engine on every one."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics import sql
from services.analytics.engine import ChdbDriver, Engine
from services.analytics.models import funnels
from services.analytics.store import AnalyticsStore
from services.kit.errors import InvalidInput
from tests import funnel_oracle

T0 = int(dt.datetime(2025, 6, 1, 22, tzinfo=dt.UTC).timestamp() * 1000)
MIN = 60_000
RANGE = {"date_from": "2025-06-01", "date_to": "2025-06-02"}
NOW = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
_workspaces = itertools.count()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = Engine(ChdbDriver(tmp_path_factory.mktemp("funnels")))
    asyncio.run(AnalyticsStore(engine).create_tables())
    yield engine
    engine.close()


def query(order: str = "ordered", **extra) -> funnels.FunnelQuery:
    steps = extra.pop("steps", [{"event": "A"}, {"event": "B"}, {"event": "C"}])
    exclusions = extra.pop("exclusions", [])
    return funnels.parse(
        {"steps": steps, "order": order, "window_seconds": 3600, "exclusions": exclusions, **RANGE, **extra}
    )


def seq(*items: tuple[int, str]) -> list[tuple]:
    """(minute, step letters or X for another event) -> rows as the oracle reads them."""
    out = []
    for minute, letters in items:
        mask = sum(1 << "ABC".index(c) for c in letters if c in "ABC")
        excl = 1 if "X" in letters else 0
        out.append((T0 + minute * MIN, mask, excl, "", ""))
    return out


def on_engine(engine: Engine, q: funnels.FunnelQuery, persons: dict[str, list[tuple]], drop_step: int = 0):
    """The rows written as events of a fresh workspace; the engine's funnel (and drop-offs at a step)."""
    ws = f"f{next(_workspaces)}"
    rows = []
    for person, items in persons.items():
        for i, (ms, mask, excl, value, held) in enumerate(items):
            names = [c for k, c in enumerate("ABC") if mask & (1 << k)] + (["X"] if excl else [])
            props = {k: v for k, v in (("channel", value), ("sku", held)) if v and isinstance(v, str)}
            # A tuple of skus is an order's products[] items.
            items = [json.dumps({"sku": v}) for v in held] if isinstance(held, tuple) else []
            for name in names or ["Other"]:
                at = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
                rows.append(
                    {
                        "workspace": ws,
                        "message_id": f"{person}-{i}-{name}",
                        "person_id": person,
                        "type": "track",
                        "event": name,
                        "name": "",
                        "ts": sql.stamp(at),
                        "properties": json.dumps(props),
                        "products": items,
                        "version": 1,
                    }
                )

    async def run():
        await AnalyticsStore(engine).insert("events", rows)
        result = await funnels.run(engine, "cdp", ws, q, NOW)
        dropped = await funnels.dropped_at(engine, "cdp", ws, q, drop_step) if drop_step else []
        return result, dropped

    return asyncio.run(run())


def level(engine: Engine, q: funnels.FunnelQuery, rows: list[tuple]) -> int:
    oracle = funnel_oracle.walk(q, rows, T0 - 10 * 24 * 3600_000, T0 + 10 * 24 * 3600_000).level
    result, _ = on_engine(engine, q, {"p": rows})
    found = sum(s["count"] for s in result["results"][0]["steps"]) if result["results"] else 0
    assert found == oracle
    return found


def test_orders(engine):
    rows = seq((0, "A"), (1, "-"), (2, "B"), (3, "C"))
    assert level(engine, query("ordered"), rows) == 3
    assert level(engine, query("strict"), rows) == 1  # another event between A and B
    assert level(engine, query("strict"), seq((0, "A"), (1, "A"), (2, "B"), (3, "C"))) == 3  # a repeat is no break
    assert level(engine, query("ordered"), seq((0, "A"), (2, "C"), (3, "B"))) == 2
    assert level(engine, query("any"), seq((0, "A"), (2, "C"), (3, "B"))) == 3
    assert level(engine, query("ordered"), seq((0, "A"), (61, "B"))) == 1  # past the one-hour window


def test_a_repeated_first_step_does_not_restart_the_window_but_a_later_entry_may_convert(engine):
    assert level(engine, query(), seq((0, "A"), (50, "A"), (70, "B"), (80, "C"))) == 3  # entry at 50 converts
    assert level(engine, query(), seq((0, "A"), (30, "B"), (70, "C"))) == 2  # C is 70 minutes after the entry


def test_of_two_attempts_that_convert_the_earlier_entry_is_the_one_shown(engine):
    # Entries at 0 and 10 both reach C at 30; the attempt shown (its step times, time to convert)
    # is the earlier one's: 30 minutes, not 20.
    rows = seq((0, "A"), (10, "A"), (20, "B"), (30, "C"))
    for order in ("ordered", "strict", "any"):
        q = query(order)
        oracle = funnel_oracle.walk(q, rows, T0 - 10 * 24 * 3600_000, T0 + 10 * 24 * 3600_000)
        assert oracle.level == 3 and oracle.times[-1] - oracle.times[0] == 30 * MIN
        result, _ = on_engine(engine, q, {"p": rows})
        assert result["results"][0]["steps"][-1]["count"] == 1
        assert result["results"][0]["avg_seconds_to_convert"] == 30 * 60, order


def test_time_bounds_between_steps(engine):
    steps = [{"event": "A"}, {"event": "B", "min_seconds": 300, "max_seconds": 600}, {"event": "C"}]
    q = query(steps=steps)
    # the first B is too soon, the second fits
    assert level(engine, q, seq((0, "A"), (2, "B"), (7, "B"), (8, "C"))) == 3
    assert level(engine, q, seq((0, "A"), (11, "B"), (12, "C"))) == 1  # too late
    with pytest.raises(InvalidInput) as err:
        query(steps=[{"event": "A", "min_seconds": 5}, {"event": "B"}])
    assert err.value.field == "steps[0].minSeconds"
    with pytest.raises(InvalidInput) as err:
        query(steps=[{"event": "A"}, {"event": "B", "min_seconds": 50, "max_seconds": 10}])
    assert err.value.field == "steps[1].maxSeconds"


def test_exclusions_only_count_between_their_steps(engine):
    q = query(exclusions=[{"event": "X", "from_step": 1, "to_step": 2}])
    assert level(engine, q, seq((0, "A"), (1, "X"), (2, "B"), (3, "C"))) == 3  # before step 1: allowed
    assert level(engine, q, seq((0, "A"), (2, "B"), (3, "X"), (4, "C"))) == 0  # between B and C: the attempt is out
    anyq = query("any", exclusions=[{"event": "X", "from_step": 1, "to_step": 2}])
    # any order: the entry at C is out (X after its first step), the later entry at A reaches two steps
    assert level(engine, anyq, seq((0, "C"), (1, "X"), (2, "A"), (4, "B"))) == 2


def test_conversion_by_local_day_of_entry(engine):
    q = query(timezone="Asia/Shanghai")
    rows = {
        "p1": seq((0, "A"), (1, "B"), (2, "C")),  # 22:00 UTC on the 1st is 06:00 on the 2nd in Shanghai
        "p2": [(T0 - 20 * 3600_000, 1, 0, "", "")],  # 02:00 UTC on the 1st: 10:00 on the 1st there
    }
    result, dropped = on_engine(engine, q, rows, drop_step=1)
    (found,) = result["results"]
    assert found["by_day"] == [
        {"day": "2025-06-01", "entered": 1, "converted": 0},
        {"day": "2025-06-02", "entered": 1, "converted": 1},
    ]
    assert dropped == ["p2"]
    best = funnel_oracle.outcomes(q, list(rows.items()), NOW)
    assert result == funnel_oracle.shape(q, best, NOW)
    assert funnel_oracle.dropped_at(best, 1) == dropped


def test_a_product_held_constant_from_its_view_to_the_order_that_includes_it(engine):
    """View (sku property) -> add (sku property) -> order (skus of its products[] items)."""
    q = query(hold_constant="sku")
    rows = {
        # Viewed 1 and 2, added 2, ordered 1 alone: 2 stops at the add, 1 was never added.
        "p1": [
            (T0, 1, 0, "", "1"),
            (T0 + MIN, 1, 0, "", "2"),
            (T0 + 2 * MIN, 2, 0, "", "2"),
            (T0 + 3 * MIN, 4, 0, "", ("1",)),
        ],
        # Viewed and added 3, ordered 4 and 3: converted on 3.
        "p2": [(T0, 1, 0, "", "3"), (T0 + MIN, 2, 0, "", "3"), (T0 + 2 * MIN, 4, 0, "", ("4", "3"))],
        # Viewed 5, added 6, ordered 5 and 6: no one product went through every step.
        "p3": [(T0, 1, 0, "", "5"), (T0 + MIN, 2, 0, "", "6"), (T0 + 2 * MIN, 4, 0, "", ("5", "6"))],
    }
    result, dropped = on_engine(engine, q, rows, drop_step=2)
    (found,) = result["results"]
    assert [s["count"] for s in found["steps"]] == [3, 2, 1]
    assert dropped == ["p1"]
    best = funnel_oracle.outcomes(q, list(rows.items()), NOW)
    assert result == funnel_oracle.shape(q, best, NOW)


@pytest.mark.parametrize(
    ("attribution", "expected"),
    [
        ({}, ["ads", "ads"]),
        ({"attribution": "last"}, ["mail", "ads"]),
        ({"attribution": "step", "attribution_step": 1}, ["mail", ""]),
    ],
)
def test_breakdown_attribution_first_last_or_a_step(engine, attribution, expected):
    q = query(breakdown={"property": "channel"}, **attribution)
    converts = [(T0, 1, 0, "ads", ""), (T0 + MIN, 2, 0, "mail", ""), (T0 + 2 * MIN, 4, 0, "mail", "")]
    stops = [(T0, 1, 0, "ads", "")]
    rows = {"p1": converts, "p2": stops}
    best = funnel_oracle.outcomes(q, list(rows.items()), NOW)
    assert [best["p1"].value, best["p2"].value] == expected
    result, _ = on_engine(engine, q, rows)
    counts: dict[str, int] = {}
    for value in expected:
        counts[value] = counts.get(value, 0) + 1
    assert {r["breakdown_value"]: r["entered"] for r in result["results"]} == counts
    assert result == funnel_oracle.shape(q, best, NOW)


BASE = dt.datetime(2025, 3, 29, tzinfo=dt.UTC)  # Berlin's clocks go forward on the 30th
STEP_EVENTS = ["A", "B", "C"]
event_st = st.tuples(
    st.sampled_from(["p1", "p2"]),
    st.sampled_from(["A", "B", "C", "X", "Other"]),
    # Whole 10 minutes over two days: ties (same instant, a gap exactly at a bound) come up often.
    st.integers(0, 2 * 24 * 6).map(lambda k: k * 10),
    st.sampled_from(["", "ads", "mail"]),
    # The held sku: an event's own property (text), or the items of its products[] (a tuple; an
    # order of two products carries both).
    st.sampled_from(["", "1", "2", ("1",), ("2", "1"), ("2", "2")]),
)
funnel_st = st.fixed_dictionaries(
    {
        "order": st.sampled_from(funnels.ORDERS),
        "window_seconds": st.sampled_from([1800, 3 * 3600, 86400]),
        "exclusions": st.sampled_from([[], [{"event": "X", "from_step": 0, "to_step": 1}], [{"event": "X"}]]),
        "hold_constant": st.sampled_from(["", "sku"]),
        "breakdown": st.sampled_from([None, {"property": "channel", "limit": 1}, {"property": "channel"}]),
        "attribution": st.sampled_from(funnels.ATTRIBUTIONS),
        "bounds": st.sampled_from(
            [{}, {"min_seconds": 600}, {"max_seconds": 3600}, {"min_seconds": 600, "max_seconds": 1800}]
        ),
        # Steps may repeat an event: one event then stands for two steps (e.g. two product views).
        "step_events": st.sampled_from([STEP_EVENTS, STEP_EVENTS, ["A", "A", "B"], ["A", "B", "A"], ["A", "B", "B"]]),
    }
)


def rounded(value):
    """Averages and medians are summed in another order by the engine: equal to the last few bits."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def held_values(held) -> tuple:
    """What the engine holds an event by: its own sku, else its items' distinct skus in order."""
    if isinstance(held, str):
        return (held,) if held else ()
    return tuple(dict.fromkeys(held))


# CDP_TEST_FUNNEL_EXAMPLES=1000 for a longer search (about 2.5 minutes).
EXAMPLES = int(os.environ.get("CDP_TEST_FUNNEL_EXAMPLES", "150"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log=st.lists(event_st, min_size=8, max_size=40), doc=funnel_st)
def test_every_feature_equals_the_python_walker_on_generated_logs(engine, log, doc):
    equals_the_walker(engine, log, doc)


# Ordered funnels without bounds or exclusions take their own path (funnels._plain_walk_sql, arrays
# instead of a walk): searched on their own, so that every example reaches it.
plain_st = funnel_st.map(lambda d: {**d, "order": "ordered", "exclusions": [], "bounds": {}})


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log=st.lists(event_st, min_size=8, max_size=60), doc=plain_st)
def test_ordered_funnels_without_bounds_or_exclusions_equal_the_python_walker(engine, log, doc):
    assert funnels._plain(funnels.parse({**doc, "steps": [{"event": "A"}, {"event": "B"}], **RANGE}))
    equals_the_walker(engine, log, doc)


def equals_the_walker(engine, log, doc):
    doc = dict(doc)
    bounds = doc.pop("bounds")
    names = doc.pop("step_events")
    exclusions = [{**e, "to_step": e.get("to_step", 2), "from_step": e.get("from_step", 1)} for e in doc["exclusions"]]
    q = funnels.parse(
        {
            **doc,
            "exclusions": exclusions,
            "steps": [{"event": names[0]}, {"event": names[1], **bounds}, {"event": names[2]}],
            "date_from": "2025-03-29",
            "date_to": "2025-03-30",
            "timezone": "Europe/Berlin",
            "attribution_step": 1,
        }
    )
    now = BASE + dt.timedelta(days=1, hours=12)  # some entries are younger than a window: immature
    persons: dict[str, list[tuple]] = {}
    for person, event, minute, value, held in log:
        ms = int((BASE + dt.timedelta(minutes=minute)).timestamp() * 1000)
        mask = sum(1 << k for k, s in enumerate(names) if s == event)
        excl = 1 if event == "X" and q.exclusions else 0
        persons.setdefault(person, []).append(
            (ms, mask, excl, value if q.breakdown else "", held_values(held) if q.hold_constant else ())
        )
    # Events of the same millisecond: the engine orders them by the whole row, so does the oracle.
    ordered = {p: sorted(rows) for p, rows in persons.items()}
    best = funnel_oracle.outcomes(q, list(ordered.items()), now)
    expected = funnel_oracle.shape(q, best, now)

    ws = f"f{next(_workspaces)}"
    rows = []
    for i, (person, event, minute, value, held) in enumerate(log):
        props = {k: v for k, v in (("channel", value), ("sku", held)) if v and isinstance(v, str)}
        items = [json.dumps({"sku": v, "price": 1}) for v in held] if isinstance(held, tuple) else []
        at = BASE + dt.timedelta(minutes=minute)
        rows.append(
            {
                "workspace": ws,
                "message_id": f"m{i}",
                "person_id": person,
                "type": "track",
                "event": event,
                "name": "",
                "ts": sql.stamp(at),
                "properties": json.dumps(props),
                "products": items,
                "version": 1,
            }
        )

    async def run():
        await AnalyticsStore(engine).insert("events", rows)
        return await funnels.run(engine, "cdp", ws, q, now), await funnels.dropped_at(engine, "cdp", ws, q, 1)

    result, dropped = asyncio.run(run())
    assert rounded(result) == rounded(expected)
    assert dropped == funnel_oracle.dropped_at(best, 1)

"""A funnel of the most steps a funnel may have (funnels.MAX_STEPS, 20) against the Python walker
(tests/funnel_oracle.py) on generated logs: each person walks some prefix of the steps with gaps,
skips and stray events (other steps, an exclusion, unrelated events) mixed in, so that persons stop
at every depth and some reach the last step; the step masks use all 20 bits. Every order, windows,
an exclusion over the middle steps, a time bound on a late step, a breakdown with each attribution
and a step event used twice are drawn. The engine's whole answer and its drop-offs must equal the
oracle's."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics import sql
from services.analytics.engine import ChdbDriver, Engine
from services.analytics.models import funnels
from services.analytics.store import AnalyticsStore
from services.kit.errors import InvalidInput
from tests import funnel_oracle
from tests.test_analytics_funnels import rounded

N = funnels.MAX_STEPS
BASE = dt.datetime(2025, 3, 29, 20, tzinfo=dt.UTC)  # Berlin's clocks go forward on the 30th
NOW = BASE + dt.timedelta(days=1)
STEPS = [f"S{i}" for i in range(N)]
_workspaces = itertools.count()

# One person's walk: how many steps they go through in order, the minutes between them, and stray
# events (a step's event, the exclusion, or another) at any minute.
walk_st = st.tuples(
    st.integers(0, N),
    st.lists(st.sampled_from([0, 1, 2, 7, 30]), min_size=N, max_size=N),
    st.lists(st.tuples(st.sampled_from([*STEPS, "X", "Other"]), st.integers(0, 300)), max_size=6),
    st.sampled_from(["", "ads", "mail"]),
)
doc_st = st.fixed_dictionaries(
    {
        "order": st.sampled_from(funnels.ORDERS),
        "window_seconds": st.sampled_from([1800, 3 * 3600, 86400]),
        "exclusions": st.sampled_from([[], [{"event": "X", "from_step": 3, "to_step": 12}]]),
        "breakdown": st.sampled_from([None, {"property": "channel"}, {"property": "channel", "limit": 1}]),
        "attribution": st.sampled_from(funnels.ATTRIBUTIONS),
        "bound": st.sampled_from([{}, {"min_seconds": 120}, {"max_seconds": 600}]),
        # S3 again as step 15: one event stands for two steps.
        "names": st.sampled_from([STEPS, [*STEPS[:15], "S3", *STEPS[16:]]]),
    }
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = Engine(ChdbDriver(tmp_path_factory.mktemp("funnel20")))
    asyncio.run(AnalyticsStore(engine).create_tables())
    yield engine
    engine.close()


def log_of(walks, names) -> list[tuple[str, str, int, str]]:
    """(person, event, minute after BASE, channel)."""
    log = []
    for p, (depth, gaps, strays, channel) in enumerate(walks):
        person, minute = f"p{p}", 0
        for k in range(depth):
            minute += gaps[k]
            log.append((person, names[k], minute, channel))
        log += [(person, event, m, "mail" if channel else "") for event, m in strays]
    return log


def on_engine(engine, q, log) -> tuple[dict, list[str]]:
    ws = f"f{next(_workspaces)}"
    rows = [
        {"workspace": ws, "message_id": f"m{i}", "person_id": person, "type": "track", "event": event, "name": "",
         "ts": sql.stamp(BASE + dt.timedelta(minutes=minute)), "properties": json.dumps({"channel": ch} if ch else {}),
         "products": [], "version": 1}
        for i, (person, event, minute, ch) in enumerate(log)
    ]  # fmt: skip

    async def run():
        await AnalyticsStore(engine).insert("events", rows)
        return await funnels.run(engine, "cdp", ws, q, NOW), await funnels.dropped_at(engine, "cdp", ws, q, 10)

    return asyncio.run(run())


def oracle(q, log, names) -> tuple[dict, list[str]]:
    persons: dict[str, list[tuple]] = {}
    for person, event, minute, ch in log:
        ms = int((BASE + dt.timedelta(minutes=minute)).timestamp() * 1000)
        mask = sum(1 << k for k, s in enumerate(names) if s == event)
        excl = 1 if event == "X" and q.exclusions else 0
        persons.setdefault(person, []).append((ms, mask, excl, ch if q.breakdown else "", ""))
    # Events of the same millisecond: the engine orders them by the whole row, so does the oracle.
    best = funnel_oracle.outcomes(q, [(p, sorted(r)) for p, r in persons.items()], NOW)
    return funnel_oracle.shape(q, best, NOW), funnel_oracle.dropped_at(best, 10)


def parse(doc: dict, names: list[str], bound: dict) -> funnels.FunnelQuery:
    steps = [{"event": e, **(bound if k == 17 else {})} for k, e in enumerate(names)]
    return funnels.parse({**doc, "steps": steps, "attribution_step": 12, "date_from": "2025-03-29",
                          "date_to": "2025-03-30", "timezone": "Europe/Berlin"})  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(walks=st.lists(walk_st, min_size=1, max_size=5), doc=doc_st)
def test_a_twenty_step_funnel_equals_the_python_walker(engine, walks, doc):
    names, bound = doc.pop("names"), doc.pop("bound")
    q = parse(doc, names, bound)
    assert len(q.steps) == N
    log = log_of(walks, names)
    result, dropped = on_engine(engine, q, log)
    expected, expected_dropped = oracle(q, log, names)
    assert rounded(result) == rounded(expected)
    assert dropped == expected_dropped


def test_every_step_of_twenty_counts_and_a_twenty_first_is_refused(engine):
    # p0 walks all 20 steps a minute apart; p1 stops after 10; p2 does step 19 only (never enters).
    walks = [(N, [1] * N, [], ""), (10, [1] * N, [], ""), (0, [1] * N, [("S19", 5)], "")]
    q = parse({"window_seconds": 3600}, STEPS, {})
    log = log_of(walks, STEPS)
    result, dropped = on_engine(engine, q, log)
    assert result == oracle(q, log, STEPS)[0]
    (found,) = result["results"]
    assert found["entered"] == 2
    assert [s["count"] for s in found["steps"]] == [2] * 10 + [1] * 10
    assert found["avg_seconds_to_convert"] == (N - 1) * 60
    assert dropped == ["p1"]
    with pytest.raises(InvalidInput) as err:
        parse({}, [*STEPS, "S20"], {})
    assert err.value.field == "steps"

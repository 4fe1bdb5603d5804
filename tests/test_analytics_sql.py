"""SQL analysis: an operator's SELECT sees only its workspace's virtual tables, with merges applied;
everything that would reach past them is refused with the reason, and nothing is changed."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import pytest_asyncio

from services.analytics import sql_analysis
from services.kit.errors import InvalidInput
from tests.analytics_support import loaded, track

DAY = dt.datetime(2025, 3, 8, 9, tzinfo=dt.UTC)
pytestmark = pytest.mark.asyncio(loop_scope="module")


def resolved(ws: str, person: str, event: str, hours: float, props: dict | None = None):
    return track(ws, person, event, DAY + dt.timedelta(hours=hours), props)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def analytics(tmp_path_factory):
    events = [
        resolved("a", "p1", "Order", 1, {"revenue": 30}),
        resolved("a", "p1", "Order", 2, {"revenue": 20}),
        resolved("a", "p2", "Order", 3, {"revenue": 5}),
        resolved("a", "p3", "View", 4),
        resolved("b", "q1", "Order", 1, {"revenue": 999}),
    ]
    path, now = tmp_path_factory.mktemp("chdb-sql"), DAY + dt.timedelta(days=1)
    analytics = await loaded(path, events, [("a", "p1", "p2")], now)
    yield analytics
    analytics.engine.close()


async def test_a_select_sees_its_workspace_only_with_merges_applied(analytics):
    out = await analytics.sql_query(
        "a",
        "SELECT person, count() AS orders, sum(JSONExtractFloat(properties, 'revenue')) AS revenue "
        "FROM events WHERE event = 'Order' GROUP BY person ORDER BY person;",
    )
    assert [c["name"] for c in out["columns"]] == ["person", "orders", "revenue"]
    assert out["rows"] == [["p1", 3, 55]]  # p2 merged into p1; workspace b's 999 is not there
    assert out["truncated"] is False
    other = await analytics.sql_query("b", "SELECT count() FROM events")
    assert other["rows"] == [[1]]


async def test_the_querys_own_with_and_joins_of_virtual_tables_work(analytics):
    out = await analytics.sql_query(
        "a",
        "WITH buyers AS (SELECT DISTINCT person FROM events WHERE event = 'Order') "
        "SELECT count() FROM events AS e INNER JOIN buyers AS b ON b.person = e.person -- a comment\n",
    )
    assert out["rows"] == [[3]]


async def test_rows_past_the_cap_are_cut_and_said(analytics, monkeypatch):
    monkeypatch.setattr(sql_analysis, "MAX_ROWS", 2)
    answered = []
    table = analytics.engine.table

    async def counting(text, seconds):
        columns, rows = await table(text, seconds)
        answered.append(len(rows))
        return columns, rows

    monkeypatch.setattr(analytics.engine, "table", counting)
    out = await analytics.sql_query("a", "SELECT message_id FROM events ORDER BY message_id")
    assert len(out["rows"]) == 2 and out["truncated"] is True
    # The engine itself stops one row past the cap: a huge answer is never built and shipped.
    assert answered == [3]


async def test_a_query_past_the_time_limit_is_stopped_with_a_clear_error(analytics, monkeypatch):
    monkeypatch.setattr(sql_analysis, "SECONDS", 1)
    heavy = (
        "SELECT sum(cityHash64(a, b)) FROM (SELECT arrayJoin(range(40000)) AS a) AS x "
        "CROSS JOIN (SELECT arrayJoin(range(40000)) AS b) AS y"
    )
    started = time.monotonic()
    with pytest.raises(InvalidInput) as caught:
        await analytics.sql_query("a", heavy)
    assert caught.value.field == "sql" and "TIMEOUT_EXCEEDED" in caught.value.message, caught.value.message
    assert time.monotonic() - started < 30
    # The next query, anyone's, answers as usual: the engine kept the stopped query's partial answer
    # and handed it out in front of the next one's until the driver flushed it.
    assert (await analytics.sql_query("a", "SELECT 1 AS one"))["rows"] == [[1]]


REFUSED = [
    ("", "sql is required"),
    ("SELECT 1; SELECT 2", "one statement"),
    ("SELECT count() FROM system.tables", "unknown table 'system.tables'"),
    ("SELECT count() FROM cdp.events", "unknown table 'cdp.events'"),
    ("SELECT count() FROM message_statuses WHERE person IN cdp.person_overrides", "database 'cdp'"),
    ("SELECT count() FROM person_overrides", "unknown table 'person_overrides'"),
    ("SELECT * FROM numbers(10)", "table function 'numbers'"),
    ("SELECT * FROM events WHERE person IN (SELECT c1 FROM file('x.csv'))", "table function 'file'"),
    ("SELECT * FROM url('http://127.0.0.1:1/', CSV, 'a String')", "table function 'url'"),
    ("SELECT dictGet('d', 'v', 1) FROM events", "function 'dictget'"),
    ("SELECT joinGet('j', 'v', 1)", "function 'joinget'"),
    ("SELECT count() FROM events SETTINGS max_execution_time = 3600", "SETTINGS"),
    ("SELECT * FROM (SELECT 1 SETTINGS max_threads = 64)", "SETTINGS"),
    ("SELECT 1 FORMAT CSV", "FORMAT"),
    ("INSERT INTO events VALUES ('x')", "must be a SELECT"),
    ("ALTER TABLE cdp.events DELETE WHERE 1", "must be a SELECT"),
    ("DROP TABLE cdp.events", "must be a SELECT"),
    ("SELEC 1", "does not parse"),
    ("SELECT no_such_column FROM events", "sql failed"),
]


@pytest.mark.parametrize(("text", "reason"), REFUSED)
async def test_what_reaches_past_the_virtual_tables_is_refused_and_changes_nothing(analytics, text, reason):
    with pytest.raises(InvalidInput) as refused:
        await analytics.sql_query("a", text)
    assert reason in str(refused.value) and refused.value.field == "sql"
    # Nothing was written or dropped: the workspace's rows are all still there.
    assert (await analytics.sql_query("a", "SELECT count() FROM events"))["rows"] == [[4]]

"""Saved insights through the gateway: saved (the query checked), computed, edited, shown on a dashboard
that follows its edits, deleted (the dashboard leaves its tile out), and never read from another workspace."""

from __future__ import annotations

import datetime as dt

from tests.conftest import eventually
from tests.helpers import new_id, produce
from tests.test_analytics import ask, data, resolved

UTC = dt.UTC
SAVE = """mutation($n: String!, $k: String!, $q: JSON!, $d: String) {
  saveInsight(name: $n, kind: $k, query: $q, description: $d) { id name description kind query result } }"""
BOARD = "query($id: ID!) { dashboard(id: $id) { tiles { title kind insightId query result } } }"


def test_a_saved_insight_is_computed_edited_shown_on_a_dashboard_and_deleted(suite, workspace_id):
    ws = workspace_id
    day = dt.datetime(2025, 2, 3, 9, tzinfo=UTC)
    produce(
        suite,
        [
            resolved(ws, "p1", "App Opened", day),
            resolved(ws, "p1", "App Opened", day + dt.timedelta(hours=1)),
            resolved(ws, "p2", "App Opened", day),
            resolved(ws, "p2", "Order Completed", day, {"revenue": 30}),
        ],
    )
    opened = {"series": [{"event": "App Opened"}], "dateFrom": "2025-02-03", "dateTo": "2025-02-03"}

    # A bad query is refused with its field named, and nothing is saved.
    bad = ask(suite, ws, SAVE, {"n": "x", "k": "trends", "q": {"series": [], "dateFrom": "2025-02-03"}})
    assert bad["errors"][0]["extensions"]["field"] == "query.series", bad
    unknown = ask(suite, ws, SAVE, {"n": "x", "k": "pie", "q": opened})
    assert unknown["errors"][0]["extensions"]["field"] == "kind", unknown
    assert data(suite, ws, "{ savedInsights { id } }", {})["savedInsights"] == []

    saved = data(suite, ws, SAVE, {"n": "opens", "k": "trends", "q": opened, "d": "daily opens"})["saveInsight"]
    assert (saved["name"], saved["description"], saved["kind"]) == ("opens", "daily opens", "trends")
    found = eventually(
        lambda: (
            (r := data(suite, ws, "query($id: ID!) { savedInsight(id: $id) { result } }", {"id": saved["id"]}))
            and r["savedInsight"]["result"]["series"][0]["total"] == 3
            and r["savedInsight"]
        ),
        timeout=30,
    )
    assert found["result"]["series"][0]["values"] == [3]

    # A dashboard shows it beside a tile of its own; an unknown insight is refused.
    tiles = [
        {"insightId": saved["id"]},
        {"title": "orders", "kind": "trends", "query": {**opened, "series": [{"event": "Order Completed"}]}},
    ]
    board = data(
        suite,
        ws,
        'mutation($t: [DashboardTileInput!]!) { createDashboard(name: "b", tiles: $t) { id } }',
        {"t": tiles},
    )["createDashboard"]
    shown = data(suite, ws, BOARD, {"id": board["id"]})["dashboard"]["tiles"]
    assert [(t["title"], t["kind"], t["insightId"]) for t in shown] == [
        ("opens", "trends", saved["id"]),
        ("orders", "trends", None),
    ]
    assert [t["result"]["series"][0]["total"] for t in shown] == [3, 1]
    missing = ask(
        suite,
        ws,
        'mutation($t: [DashboardTileInput!]!) { createDashboard(name: "c", tiles: $t) { id } }',
        {"t": [{"insightId": "ins_" + new_id()}]},
    )
    assert missing["errors"][0]["extensions"]["field"] == "tiles[0].insightId", missing

    # Edited, the insight changes on the dashboard too (persons instead of events).
    persons = {**opened, "series": [{"event": "App Opened", "math": "persons"}]}
    edited = data(
        suite,
        ws,
        'mutation($id: ID!, $q: JSON!) { updateInsight(id: $id, query: $q, name: "openers") { name kind result } }',
        {"id": saved["id"], "q": persons},
    )["updateInsight"]
    assert (edited["name"], edited["kind"], edited["result"]["series"][0]["values"]) == ("openers", "trends", [2])
    shown = data(suite, ws, BOARD, {"id": board["id"]})["dashboard"]["tiles"]
    assert (shown[0]["title"], shown[0]["result"]["series"][0]["values"]) == ("openers", [2])

    # Another workspace neither lists nor reads nor deletes it.
    other = f"ws_{new_id()}"
    assert data(suite, other, "{ savedInsights { id } }", {})["savedInsights"] == []
    foreign = ask(suite, other, "query($id: ID!) { savedInsight(id: $id) { name } }", {"id": saved["id"]})
    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND", foreign
    gone = "mutation($id: ID!) { deleteInsight(id: $id) }"
    assert data(suite, other, gone, {"id": saved["id"]})["deleteInsight"] is False

    # Deleted, it leaves the dashboard; the dashboard's own tile stays.
    assert data(suite, ws, gone, {"id": saved["id"]})["deleteInsight"] is True
    shown = data(suite, ws, BOARD, {"id": board["id"]})["dashboard"]["tiles"]
    assert [t["title"] for t in shown] == ["orders"]
    assert data(suite, ws, "{ savedInsights { id } }", {})["savedInsights"] == []

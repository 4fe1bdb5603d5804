"""The operator console end to end: built, served by the stack, driven in Debian's chromium.

A workspace of its own gets the demo shop's events (tools/shop.py, 60 shoppers) through
the collection API, an admin and a viewer operator; then the console's Vitest component
tests, and console/e2e/console.e2e.mjs (playwright-core) signing in, reading the overview,
searching a person, typing a segment rule while its count follows, saving a funnel's
drop-off as a segment, creating and revoking an API key, the admin forgetting a person
and a viewer refused. What the browser did is checked here again through GraphQL.
Screenshots and the measured figures (first load, keystroke to count) land in the test's
tmp dir (or CDP_CONSOLE_ARTEFACTS); their paths are printed.

Not the `demo` workspace itself: tests/test_credentials.py sets that one up in the same
session and counts its keys.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import secrets

from tests.conftest import eventually
from tests.console_support import (
    PERSON,
    add_operator,
    gql,
    known_user_ids,
    needs_browser,
    npm,
    settled_count,
)
from tools import demo

pytestmark = needs_browser

# A journey the console draws: a wait for an order (or three days), then the exit; people entered by hand.
JOURNEY_DEFINITION = {
    "entry": {"event": {"name": "Console Journey Entry"}},
    "start": "wait_order",
    "nodes": {
        "wait_order": {
            "type": "wait_event",
            "event": "Order Completed",
            "timeout": "3d",
            "on_event": "done",
            "on_timeout": "done",
            "label": "Wait for an order",
        },
        "done": {"type": "exit"},
    },
}


def _published_journey(stack, workspace: str, user_ids: list[str]) -> tuple[str, str, int]:
    """A published journey with these shoppers in it, once its stats count them."""
    name = f"e2e journey {secrets.token_hex(3)}"
    made = gql(
        stack,
        workspace,
        "mutation($n: String!, $d: JSON!) { createJourney(name: $n, definition: $d) { id } }",
        {"n": name, "d": JOURNEY_DEFINITION},
    )["createJourney"]["id"]
    gql(stack, workspace, "mutation($id: ID!) { publishJourney(id: $id) { version } }", {"id": made})
    for user_id in user_ids:
        person = gql(stack, workspace, PERSON, {"v": user_id})["person"]["id"]
        entered = gql(
            stack,
            workspace,
            "mutation($id: ID!, $p: ID!) { enterJourney(id: $id, personId: $p) { entered reason } }",
            {"id": made, "p": person},
        )["enterJourney"]
        assert entered["entered"], entered
    stats = "query($id: ID!) { journey(id: $id) { stats { node entered } } }"

    def counted():
        rows = gql(stack, workspace, stats, {"id": made})["journey"]["stats"]
        return any(r["node"] == "wait_order" and r["entered"] == len(user_ids) for r in rows)

    eventually(counted, timeout=30, interval=0.5)
    return made, name, len(user_ids)


def test_console_in_a_real_browser(shop_workspace, tmp_path):
    stack, workspace = shop_workspace
    admin_email, admin_password = add_operator(stack, workspace, "admin")
    viewer_email, viewer_password = add_operator(stack, workspace, "viewer")
    # The overview's trends read analytics, which takes the events from Kafka on its own.
    today = dt.date.today()
    trends = {
        "series": [{"event": "Order Completed"}],
        "dateFrom": (today - dt.timedelta(days=29)).isoformat(),
        "dateTo": (today + dt.timedelta(days=1)).isoformat(),
    }
    eventually(
        lambda: gql(
            stack, workspace, "query($i: TrendsInput!) { trends(input: $i) { series { total } } }", {"i": trends}
        )["trends"]["series"][0]["total"],
        timeout=60,
    )
    searched, forgotten, *entering = known_user_ids(stack, workspace, 5)
    journey_id, journey_name, journey_entered = _published_journey(stack, workspace, entering)
    dashboard_name = f"e2e dashboard {secrets.token_hex(3)}"
    orders_90 = {**trends, "dateFrom": (today - dt.timedelta(days=89)).isoformat(), "interval": "week"}
    gql(
        stack,
        workspace,
        "mutation($n: String!, $t: [DashboardTileInput!]!) { createDashboard(name: $n, tiles: $t) { id } }",
        {"n": dashboard_name, "t": [{"title": "Orders", "kind": "trends", "query": orders_90}]},
    )
    expected = settled_count(stack, workspace, demo.SEGMENT_RULE)
    drop_off_name = f"e2e drop-off {secrets.token_hex(3)}"
    trend_dashboard = f"e2e trend {secrets.token_hex(3)}"

    components = npm("vitest", "run", timeout=180)
    assert components.returncode == 0, components.stdout[-3000:] + components.stderr[-3000:]

    # The tmp dir by default; CDP_CONSOLE_ARTEFACTS keeps them where CI (or a person) collects them,
    # since pytest removes all but its last three tmp dirs.
    artefacts = pathlib.Path(os.environ.get("CDP_CONSOLE_ARTEFACTS") or tmp_path / "console-e2e")
    run = npm(
        "node",
        "e2e/console.e2e.mjs",
        timeout=240,
        env={
            "CONSOLE_URL": stack.console_url,
            "WORKSPACE": workspace,
            "ADMIN_EMAIL": admin_email,
            "ADMIN_PASSWORD": admin_password,
            "VIEWER_EMAIL": viewer_email,
            "VIEWER_PASSWORD": viewer_password,
            "PERSON_USER_ID": searched,
            "FORGET_USER_ID": forgotten,
            "SEGMENT_RULE": demo.SEGMENT_RULE,
            "SEGMENT_COUNT": str(expected),
            "DROP_OFF_NAME": drop_off_name,
            "DASHBOARD_NAME": dashboard_name,
            "TREND_DASHBOARD": trend_dashboard,
            "JOURNEY_NAME": journey_name,
            "JOURNEY_ENTERED": str(journey_entered),
            "ARTEFACTS": str(artefacts),
        },
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    report = json.loads((artefacts / "report.json").read_text())
    print(f"console artefacts: {artefacts}")
    print(
        f"console first load {report['firstLoadMs']} ms ({report['navigation']}); keystroke to count "
        f"{report['keystrokeToCountMs']} ms (median {sorted(report['keystrokeToCountMs'])[2]} ms)"
    )
    assert len(report["screenshots"]) >= 8 and all(os.path.getsize(p) > 5000 for p in report["screenshots"])

    # What the browser did, seen through the API.
    names = {s["name"] for s in gql(stack, workspace, "{ segments { name } }")["segments"]}
    assert {"618 VIP (console)", drop_off_name} <= names
    keys = gql(stack, workspace, "{ apiKeys { name revokedAt } }")["apiKeys"]
    assert [k["revokedAt"] is not None for k in keys if k["name"] == "e2e key"] == [True]
    assert gql(stack, workspace, PERSON, {"v": searched})["person"] is not None  # the viewer was refused
    assert gql(stack, workspace, PERSON, {"v": forgotten})["person"] is None  # the admin was not
    # The trends page's totals are the API's for the very input it sent, and the query was saved as a tile.
    asked = report["trendInput"]
    assert [s["event"] for s in asked["series"]] == ["Order Completed", "Product Viewed"]
    assert asked["formulas"] == ["A / B"]
    again = gql(stack, workspace, "query($i: TrendsInput!) { trends(input: $i) { series { total } } }", {"i": asked})
    assert [s["total"] for s in again["trends"]["series"]] == report["trendTotals"]
    boards = gql(stack, workspace, "{ dashboards { name tiles { kind query } } }")["dashboards"]
    [saved] = [b for b in boards if b["name"] == trend_dashboard]
    assert [(t["kind"], t["query"]["formulas"]) for t in saved["tiles"]] == [("trends", ["A / B"])]
    journey = "query($id: ID!) { journey(id: $id) { status } }"
    assert gql(stack, workspace, journey, {"id": journey_id})["journey"]["status"] == "paused"  # after confirming

"""The console's messaging, segment overlap and dashboard editing end to end in Debian's chromium.

On the session's shop workspace (tests/console_support.py), console/e2e/messaging.e2e.mjs signs in
as an admin, creates a webhook channel with a secret (masked after a reload, never in the page),
saves it again without typing the secret, creates a template whose live preview renders a chosen
shopper's name, sets quiet hours (a wrong value first, refused at its field), overlaps two saved
segments and turns a typed rule back into rows, and adds and removes a dashboard tile. Everything
the browser did is checked here again through GraphQL; the webhook's secret by what a message sent
through the channel afterwards carries to a real receiver. Screenshots and report.json land in the
test's tmp dir (or CDP_CONSOLE_ARTEFACTS); their paths are printed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import secrets

from tests.conftest import eventually
from tests.console_support import PERSON, add_operator, gql, known_user_ids, needs_browser, npm, settled_count

pytestmark = needs_browser

RENDER = """query($p: ID!, $c: ContentInput!) { renderTemplate(personId: $p, content: $c) { body } }"""
OVERLAP = "query($ids: [ID!]!) { segmentOverlap(ids: $ids) { intersection union sizes } }"


def test_messaging_overlap_and_dashboard_editing_in_a_real_browser(shop_workspace, sink, tmp_path):
    stack, workspace = shop_workspace
    admin_email, admin_password = add_operator(stack, workspace, "admin")
    (user_id,) = known_user_ids(stack, workspace, 1)
    person_id = gql(stack, workspace, PERSON, {"v": user_id})["person"]["id"]

    # The preview reads the profile, which takes the shop's traits from Kafka on its own.
    def named():
        body = gql(stack, workspace, RENDER, {"p": person_id, "c": {"body": "{{ traits.name }}"}})
        return body["renderTemplate"]["body"]

    person_name = eventually(named, timeout=60, interval=0.5)

    segment_ids = []
    for name, rule in (("e2e vip", "traits.vip = true"), ("e2e female", 'traits.gender = "female"')):
        settled_count(stack, workspace, rule)
        made = gql(
            stack,
            workspace,
            "mutation($n: String!, $r: String!) { createSegment(name: $n, rule: $r) { id } }",
            {"n": f"{name} {secrets.token_hex(3)}", "r": rule},
        )
        segment_ids.append(made["createSegment"]["id"])

    today = dt.date.today()
    dashboard_name = f"e2e edit {secrets.token_hex(3)}"
    trends = {
        "series": [{"event": "Order Completed"}],
        "dateFrom": (today - dt.timedelta(days=29)).isoformat(),
        "dateTo": today.isoformat(),
    }
    dashboard_id = gql(
        stack,
        workspace,
        "mutation($n: String!, $t: [DashboardTileInput!]!) { createDashboard(name: $n, tiles: $t) { id } }",
        {"n": dashboard_name, "t": [{"title": "Orders", "kind": "trends", "query": trends}]},
    )["createDashboard"]["id"]

    channel, secret = f"e2e-hook-{secrets.token_hex(3)}", f"wh-{secrets.token_urlsafe(18)}"
    hook_path = f"/console-hook/{workspace}"
    template_name = f"e2e template {secrets.token_hex(3)}"

    artefacts = pathlib.Path(os.environ.get("CDP_CONSOLE_ARTEFACTS") or tmp_path / "console-e2e-messaging")
    run = npm(
        "node",
        "e2e/messaging.e2e.mjs",
        timeout=240,
        env={
            "CONSOLE_URL": stack.console_url,
            "WORKSPACE": workspace,
            "ADMIN_EMAIL": admin_email,
            "ADMIN_PASSWORD": admin_password,
            "HOOK_URL": sink.url + hook_path,
            "HOOK_SECRET": secret,
            "CHANNEL_NAME": channel,
            "TEMPLATE_NAME": template_name,
            "PERSON_USER_ID": user_id,
            "PERSON_NAME": person_name,
            "SEGMENT_A": segment_ids[0],
            "SEGMENT_B": segment_ids[1],
            "DASHBOARD_NAME": dashboard_name,
            "ARTEFACTS": str(artefacts),
        },
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    report = json.loads((artefacts / "report.json").read_text())
    print(f"console artefacts: {artefacts}")
    print(f"template preview: last key to the new text {report['previewAfterLastKeyMs']} ms")
    assert len(report["screenshots"]) >= 7 and all(os.path.getsize(p) > 5000 for p in report["screenshots"])

    # The channel as the console left it: masked to every caller, and the secret typed once still stored,
    # seen by what the receiver gets from a message sent through it after the console saved it again.
    (listed,) = [c for c in gql(stack, workspace, "{ channels { name type config } }")["channels"] if c["name"] == channel]
    assert listed == {
        "name": channel,
        "type": "webhook",
        "config": {"url": sink.url + hook_path, "api_key": "********", "idempotent": True},
    }
    assert secret not in json.dumps(report)
    # Quiet hours bind marketing only: a transactional message goes out now, whatever the hour.
    gql(
        stack,
        workspace,
        """mutation($p: ID!, $c: String!) { sendMessage(input: {personId: $p, channel: $c, category: "transactional",
            idempotencyKey: "console-e2e", content: {title: "console e2e"}}) { id } }""",
        {"p": person_id, "c": channel},
    )
    (received,) = eventually(lambda: sink.at(hook_path), timeout=30)
    assert received.headers["authorization"] == f"Bearer {secret}"

    # The template and its preview.
    (template,) = [
        t for t in gql(stack, workspace, "{ templates { id name channel content { title body } } }")["templates"]
        if t["name"] == template_name
    ]
    assert template["id"] == report["templateId"] and template["channel"] == "webhook"
    assert template["content"] == {"title": "618 fruit", "body": "Hi {{ traits.name }}, cherries today"}
    rendered = gql(stack, workspace, RENDER, {"p": person_id, "c": {"body": template["content"]["body"]}})
    assert rendered["renderTemplate"]["body"] == report["previewBody"] == f"Hi {person_name}, cherries today"

    # Quiet hours and the cap, after the refused value.
    policy = gql(stack, workspace, "{ messagingPolicy { quietStart quietEnd caps { channel category limit days } } }")
    assert policy["messagingPolicy"] == {
        "quietStart": "23:30",
        "quietEnd": "07:15",
        "caps": [{"channel": "", "category": "marketing", "limit": 3, "days": 7}],
    }
    assert report["policyError"].startswith("quiet_start:")

    # The overlap shown is the API's.
    overlap = gql(stack, workspace, OVERLAP, {"ids": segment_ids})["segmentOverlap"]
    assert report["overlap"] == overlap
    assert overlap["intersection"] > 0 and overlap["union"] < sum(overlap["sizes"])

    # The dashboard: the funnel added, the trends tile removed.
    board = gql(stack, workspace, "query($id: ID!) { dashboard(id: $id) { tiles { title kind } } }", {"id": dashboard_id})
    assert board["dashboard"]["tiles"] == [{"title": "E2E funnel", "kind": "funnel"}]

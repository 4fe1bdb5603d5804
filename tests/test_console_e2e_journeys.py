"""Journeys and campaigns in the operator console, end to end in Debian's chromium.

The shared shop workspace (tests/console_support.py) gets, through GraphQL: a webhook channel that
posts to a sink in this process, a template on it, and a segment of the signed-up shoppers. Then
console/e2e/journeys.e2e.mjs drafts a journey in the builder with one wrong field (the error names
its JSON path), fixes and publishes it, previews a shopper's path, enters three shoppers and
publishes a second version moving them (the dry run's counts shown first), and creates the group-buy
campaign to the segment with a 10% holdout, watching its accounting close and its message stats
move. What the browser did is checked here again: the journey is live at version 2 with the three
moved onto it, the holdout got nothing and every other member exactly one message. Screenshots land in the test's tmp dir (or
CDP_CONSOLE_ARTEFACTS/journeys).
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
from collections import Counter

from services.kit.experiment_stats import in_holdout
from tests.conftest import eventually
from tests.console_support import PERSON, add_operator, gql, known_user_ids, needs_browser, npm, settled_count

pytestmark = needs_browser

# Every signed-up shopper has an age; the shop's anonymous visitors have none.
RULE = "traits.age > 0"
CHANNEL = "mutation($n: String!, $u: String!) { upsertWebhookChannel(name: $n, url: $u) { name } }"
NO_QUIET_HOURS = 'mutation { setMessagingPolicy(input: {quietStart: "00:00", quietEnd: "00:00"}) { quietStart } }'
TEMPLATE = """mutation($n: String!) {
  createTemplate(input: {name: $n, channel: "webhook", content: {title: "618 group buy", body: "Join the group buy"}}) { id }
}"""
SEGMENT = "mutation($n: String!, $r: String!) { createSegment(name: $n, rule: $r) { id } }"
SIZE = "query($id: ID!) { segment(id: $id) { size } }"
MEMBERS = """query($id: ID!, $after: String) {
  segment(id: $id) { members(first: 100, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }
}"""
RUNS = "query($id: ID!) { person(id: $id) { journeys(limit: 50) { journeyId version node status holdout } } }"
JOURNEYS = "{ journeys(limit: 100) { id name kind status version } }"
STATUS = """query($id: ID!) {
  campaignStatus(id: $id) { launchId state audience sent skipped failed cancelled pending holdout }
}"""
STATS = "query($c: String) { messageStats(campaignId: $c) { sent } }"


def _members(stack, workspace: str, segment: str) -> set[str]:
    found, after = set(), None
    while True:
        page = gql(stack, workspace, MEMBERS, {"id": segment, "after": after})["segment"]["members"]
        found |= {e["node"]["id"] for e in page["edges"]}
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def test_journey_builder_and_group_buy_campaign_in_a_real_browser(shop_workspace, sink, tmp_path):
    stack, workspace = shop_workspace
    email, password = add_operator(stack, workspace, "admin")
    tag = secrets.token_hex(3)
    channel, path = f"groupbuy-{tag}", f"/{workspace}/groupbuy-{tag}"
    gql(stack, workspace, CHANNEL, {"n": channel, "u": sink.url + path})
    gql(stack, workspace, NO_QUIET_HOURS)
    template = gql(stack, workspace, TEMPLATE, {"n": f"618 group buy {tag}"})["createTemplate"]["id"]
    # The journey drafted in the browser sends on a channel and template of its own.
    journey_channel, journey_path = f"invite-{tag}", f"/{workspace}/invite-{tag}"
    gql(stack, workspace, CHANNEL, {"n": journey_channel, "u": sink.url + journey_path})
    journey_template = gql(stack, workspace, TEMPLATE, {"n": f"group buy invite {tag}"})["createTemplate"]["id"]
    size = settled_count(stack, workspace, RULE)
    segment_name = f"group buyers {tag}"
    segment = gql(stack, workspace, SEGMENT, {"n": segment_name, "r": RULE})["createSegment"]["id"]
    eventually(lambda: gql(stack, workspace, SIZE, {"id": segment})["segment"]["size"] == size, timeout=60)
    members = _members(stack, workspace, segment)
    assert len(members) == size
    previewed, *entering = known_user_ids(stack, workspace, 4)
    in_flight = [gql(stack, workspace, PERSON, {"v": u})["person"]["id"] for u in entering]
    journey_name, campaign_name = f"e2e group buy journey {tag}", f"618 group buy {tag}"

    artefacts = pathlib.Path(os.environ.get("CDP_CONSOLE_ARTEFACTS") or tmp_path) / "journeys"
    run = npm(
        "node",
        "e2e/journeys.e2e.mjs",
        timeout=300,
        env={
            "CONSOLE_URL": stack.console_url,
            "WORKSPACE": workspace,
            "ADMIN_EMAIL": email,
            "ADMIN_PASSWORD": password,
            "TEMPLATE_ID": template,
            "CHANNEL": channel,
            "JOURNEY_TEMPLATE_ID": journey_template,
            "JOURNEY_CHANNEL": journey_channel,
            "ENTER_PERSON_IDS": ",".join(in_flight),
            "SEGMENT_NAME": segment_name,
            "SEGMENT_SIZE": str(size),
            "JOURNEY_NAME": journey_name,
            "CAMPAIGN_NAME": campaign_name,
            "PREVIEW_USER_ID": previewed,
            "ARTEFACTS": str(artefacts),
        },
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    report = json.loads((artefacts / "report.json").read_text())
    print(f"journeys artefacts: {artefacts}")
    print(f"accounting seen: {report['accountingSeen']}; message stats sent seen: {report['statsSentSeen']}")
    assert len(report["screenshots"]) >= 9 and all(os.path.getsize(p) > 5000 for p in report["screenshots"])

    # The journey drafted in the builder is live at version 2, the three in flight moved onto it,
    # still waiting for an order, each invited once.
    journeys = gql(stack, workspace, JOURNEYS)["journeys"]
    (journey,) = [j for j in journeys if j["name"] == journey_name]
    assert (journey["kind"], journey["status"], journey["version"]) == ("journey", "active", 2)
    for person in in_flight:
        runs = gql(stack, workspace, RUNS, {"id": person})["person"]["journeys"]
        assert [(r["version"], r["node"], r["status"]) for r in runs if r["journeyId"] == journey["id"]] == [
            (2, "wait_order", "waiting")
        ]
    eventually(lambda: len(sink.at(journey_path)) >= len(in_flight), timeout=30)
    assert Counter(r.body["personId"] for r in sink.at(journey_path)) == Counter(in_flight)

    # The campaign: its accounting closed, the holdout got nothing, everyone else exactly one message.
    (campaign,) = [j for j in journeys if j["name"] == campaign_name]
    assert campaign["kind"] == "campaign"
    status = gql(stack, workspace, STATUS, {"id": campaign["id"]})["campaignStatus"]
    assert status["state"] == "finished" and status["pending"] == 0 and status["audience"] == size
    assert status["sent"] + status["skipped"] + status["failed"] + status["cancelled"] == size
    assert report["campaignShown"]["sent"] == status["sent"] and report["campaignShown"]["holdout"] == status["holdout"]
    held = set()
    for person in members:
        runs = gql(stack, workspace, RUNS, {"id": person})["person"]["journeys"]
        mine = [r for r in runs if r["journeyId"] == campaign["id"]]
        assert len(mine) == 1, (person, mine)
        if mine[0]["holdout"]:
            held.add(person)
    # Who is held out is a salted hash of the campaign and the person: the count is known exactly
    # (with 10% of about 60 members, none held out happens in about 1 of 500 runs, and is no failure).
    expected = {p for p in members if in_holdout(campaign["id"], p, 10.0)}
    assert held == expected and len(held) == status["holdout"]
    eventually(lambda: len(sink.at(path)) >= status["sent"], timeout=30)
    received = Counter(r.body["personId"] for r in sink.at(path))
    assert not held & set(received), "the holdout got nothing"
    assert set(received) <= members - held
    assert set(received.values()) == {1}, "nobody twice"
    assert len(received) == status["sent"] == size - len(held) - status["failed"] - (status["skipped"] - len(held))
    assert gql(stack, workspace, STATS, {"c": status["launchId"]})["messageStats"]["sent"] == status["sent"]
    assert (report["templateSentBefore"], report["templateSentAfter"]) == (0, status["sent"])

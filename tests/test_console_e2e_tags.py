"""The console's Tags page and Settings' operators and audit log, end to end in Debian's chromium.

On the session's shop workspace (tests/console_support.py): an admin and a viewer operator of
this module's own (the other console modules add theirs), a segment of the VIP shoppers made
through GraphQL, then console/e2e/tags.e2e.mjs signs in as the admin, has a wrong tag rule
refused with the API's message and field, defines a rule tag and an assignable one, tags the
segment as a bulk job and follows its progress bar to done; on Settings adds an operator with a
role, changes the role, finds both in the audit log, removes the operator after confirming; a
viewer is refused adding an operator. What the browser did is checked again through GraphQL:
the bulk tag is on exactly the segment's members (VIPs), with the source, confidence and expiry
asked; the rule tag on exactly the shoppers with an order; the operator and the
audit records. Screenshots and report.json go to the test's tmp dir (or CDP_CONSOLE_ARTEFACTS).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import secrets
import zoneinfo

from tests.conftest import eventually
from tests.console_support import SHOPPERS, gql, needs_browser, npm, settled_count

pytestmark = needs_browser

VIP_RULE = "traits.vip = true"
TAG_RULE = "computed.order_count >= 1"
BAD_RULE = "computed.order_count >>= 1"
EXPIRES_LOCAL = "2030-01-01T08:00"  # typed into the page, in the workspace's time zone
PERSON_TAGS = """query($v: String!) { person(identity: {type: "user_id", value: $v}) {
  id traits computed { orderCount } tags { name value source confidence expiresAt } } }"""
MEMBERS = """query($id: ID!, $after: String) { segment(id: $id) {
  members(first: 100, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } } }"""


def _operator(stack, workspace: str, role: str) -> tuple[str, str]:
    # Emails of this module's own: console_support.add_operator's would collide with the other modules'.
    email, password = f"tags-{role}-{workspace}@console.test", secrets.token_urlsafe(16)
    added = gql(
        stack,
        workspace,
        "mutation($e: String!, $p: String!, $r: String!) { addOperator(email: $e, password: $p, role: $r) { role } }",
        {"e": email, "p": password, "r": role},
    )
    assert added["addOperator"]["role"] == role
    return email, password


def _members(stack, workspace: str, segment_id: str) -> set[str]:
    found, after = set(), None
    while True:
        page = gql(stack, workspace, MEMBERS, {"id": segment_id, "after": after})["segment"]["members"]
        found |= {e["node"]["id"] for e in page["edges"]}
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def _shoppers(stack, workspace: str) -> list[dict]:
    """Every signed-up shopper of the shop, with traits, order count and tags."""
    found = []
    for n in range(SHOPPERS):
        person = gql(stack, workspace, PERSON_TAGS, {"v": f"u{n:05d}"})["person"]
        if person:
            found.append(person)
    return found


def test_tags_and_settings_in_a_real_browser(shop_workspace, tmp_path):
    stack, workspace = shop_workspace
    admin_email, admin_password = _operator(stack, workspace, "admin")
    viewer_email, viewer_password = _operator(stack, workspace, "viewer")
    suffix = secrets.token_hex(3)
    rule_tag, gift_tag = f"e2e_repeat_{suffix}", f"e2e_gift_{suffix}"
    new_operator = f"tags-new-{suffix}-{workspace}@console.test"

    vips = settled_count(stack, workspace, VIP_RULE)
    segment_name = f"e2e VIPs {suffix}"
    segment_id = gql(
        stack,
        workspace,
        "mutation($n: String!, $r: String!) { createSegment(name: $n, rule: $r) { id } }",
        {"n": segment_name, "r": VIP_RULE},
    )["createSegment"]["id"]
    size = "query($id: ID!) { segment(id: $id) { size } }"
    eventually(lambda: gql(stack, workspace, size, {"id": segment_id})["segment"]["size"] == vips, timeout=30, interval=0.5)
    orders = [p["computed"]["orderCount"] for p in _shoppers(stack, workspace)]
    print(f"orders per shopper: {sorted(orders)}")
    assert max(orders) >= 1, orders  # the rule tag holds for someone
    zone = gql(stack, workspace, "{ journeySettings { timezone } }")["journeySettings"]["timezone"] or "UTC"

    artefacts = pathlib.Path(os.environ.get("CDP_CONSOLE_ARTEFACTS") or tmp_path / "console-e2e-tags")
    run = npm(
        "node",
        "e2e/tags.e2e.mjs",
        timeout=240,
        env={
            "CONSOLE_URL": stack.console_url,
            "WORKSPACE": workspace,
            "ADMIN_EMAIL": admin_email,
            "ADMIN_PASSWORD": admin_password,
            "VIEWER_EMAIL": viewer_email,
            "VIEWER_PASSWORD": viewer_password,
            "RULE_TAG": rule_tag,
            "TAG_RULE": TAG_RULE,
            "BAD_RULE": BAD_RULE,
            "GIFT_TAG": gift_tag,
            "SEGMENT_ID": segment_id,
            "SEGMENT_COUNT": str(vips),
            "EXPIRES_LOCAL": EXPIRES_LOCAL,
            "NEW_OPERATOR_EMAIL": new_operator,
            "ARTEFACTS": str(artefacts),
        },
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    report = json.loads((artefacts / "report.json").read_text())
    print(f"console artefacts: {artefacts}; tag job states seen: {report['jobStates']}")
    assert len(report["screenshots"]) >= 4 and all(os.path.getsize(p) > 5000 for p in report["screenshots"])
    # A segment job starts by listing the members; the page follows it to done.
    assert report["jobStates"][0]["state"] == "collecting", report["jobStates"]
    last = report["jobStates"][-1]
    assert last["state"] == "done" and last["done"] == last["total"] == last["tagged"] > 0, report["jobStates"]

    # The definitions the browser made.
    defined = {d["name"]: d for d in gql(stack, workspace, "{ tagDefinitions { name rule category } }")["tagDefinitions"]}
    assert defined[rule_tag]["rule"] == TAG_RULE
    assert defined[gift_tag]["rule"] == "" and defined[gift_tag]["category"] == "campaign"

    # The bulk tag is on exactly the segment's members, as asked.
    members = _members(stack, workspace, segment_id)
    print(f"segment size {vips}, distinct member ids {len(members)}, job {last}")
    # The job tags live persons: a member merged into another is tagged once, as the winner.
    assert last["total"] <= len(members) <= vips
    expires = dt.datetime.fromisoformat(EXPIRES_LOCAL).replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.UTC)
    shoppers = _shoppers(stack, workspace)
    assert any(p["traits"].get("vip") is True for p in shoppers) and any(p["traits"].get("vip") is not True for p in shoppers)
    profile_tags = "query($id: ID!) { profile(personId: $id) { tags { name } } }"
    for member in members:
        found = gql(stack, workspace, profile_tags, {"id": member})["profile"]
        assert found is None or gift_tag in {t["name"] for t in found["tags"]}, member
    for person in shoppers:
        gift = [t for t in person["tags"] if t["name"] == gift_tag]
        assert bool(gift) == (person["traits"].get("vip") is True), person
        if gift:
            assert (gift[0]["value"], gift[0]["source"], gift[0]["confidence"]) == ("true", "partner", 0.8)
            assert dt.datetime.fromisoformat(gift[0]["expiresAt"].replace("Z", "+00:00")) == expires

    # The rule tag reaches every profile at the profile service's next sweep (once a minute).
    wrong: list = []

    def ruled():
        everyone = _shoppers(stack, workspace)
        holds = [any(t["name"] == rule_tag for t in p["tags"]) for p in everyone]
        wrong[:] = [(p["id"], p["computed"]["orderCount"], h) for h, p in zip(holds, everyone, strict=True) if h != (p["computed"]["orderCount"] >= 1)]
        return not wrong and any(holds)

    try:
        eventually(ruled, timeout=150, interval=3)
    except AssertionError:
        raise AssertionError(f"the rule tag is wrong on (person, orders, tagged): {wrong}") from None

    # Settings: the operator was added, its role changed, then removed; all of it audited; the viewer refused.
    operators = {o["email"] for o in gql(stack, workspace, "{ operators { email role } }")["operators"]}
    assert new_operator not in operators and viewer_email in operators
    assert not any(e.startswith("refused-") for e in operators)
    audit = gql(stack, workspace, "{ auditLog(limit: 200) { who action outcome detail } }")["auditLog"]
    outcomes = [(r["action"], r["outcome"], (r["detail"] or {}).get("role")) for r in audit]
    assert ("operator.add", "ok", "marketer") in outcomes
    assert ("operator.role", "ok", "analyst") in outcomes
    assert ("operator.remove", "ok", None) in outcomes
    assert ("operator.add", "refused", None) in outcomes  # the viewer

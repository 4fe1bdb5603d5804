"""End to end through Hive Gateway: collection API -> identity -> profile -> segment, messaging.

One federated query returns a person looked up by any identifier, each field
served by its own subgraph; the official Segment Python SDK feeds the collection
API unmodified.
"""

from __future__ import annotations

import pytest
from segment.analytics import Client

from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from tests.conftest import eventually
from tests.helpers import collect, create_workspace, graphql, grpc_channel, new_id

PERSON = """
query($type: String!, $value: String!) {
  person(identity: {type: $type, value: $value}) {
    id uid
    identities { type value }
    traits
    computed { orderCount revenue }
    segments { id name }
    messages { status idempotencyKey }
  }
}
"""


def person_via_gateway(suite, workspace_id, id_type, value, ready=lambda p: True):
    def check():
        data = graphql(suite.gateway_url, workspace_id, PERSON, {"type": id_type, "value": value})
        assert "errors" not in data, data
        person = data["data"]["person"]
        return person if person and ready(person) else None

    return eventually(check, timeout=30)


def test_one_query_joins_all_four_subgraphs(suite, sink, workspace_id):
    key = create_workspace(suite, workspace_id)
    shoppers = [
        ("u-ling", "dev-ling", {"gender": "female", "age_band": "25-34", "vip": True}, [199.0, 88.5]),
        ("u-mei", "dev-mei", {"gender": "female", "age_band": "35-44", "vip": True}, [42.0]),
        ("u-jun", "dev-jun", {"gender": "male", "age_band": "25-34", "vip": True}, []),
    ]
    events = []
    for user, device, traits, orders in shoppers:
        events.append({"type": "track", "anonymousId": device, "event": "Product Viewed", "messageId": new_id()})
        events.append(
            {"type": "identify", "anonymousId": device, "userId": user, "traits": traits, "messageId": new_id()}
        )
        for n, revenue in enumerate(orders):
            events.append(
                {
                    "type": "track",
                    # SDKs send the anonymous id on every call; it keeps one device's events in order.
                    "anonymousId": device,
                    "userId": user,
                    "event": "Order Completed",
                    "messageId": new_id(),
                    "properties": {"order_id": f"{user}-{n}", "revenue": revenue, "currency": "CNY"},
                }
            )
    assert collect(suite, key, events).status_code == 200

    # Profile has folded every order in: looked up by the device id the person started with.
    ling = person_via_gateway(
        suite, workspace_id, "anonymous_id", "dev-ling", lambda p: p["computed"]["orderCount"] == 2
    )
    assert ling["computed"]["revenue"] == pytest.approx(287.5)
    assert {(i["type"], i["value"]) for i in ling["identities"]} == {
        ("anonymous_id", "dev-ling"),
        ("user_id", "u-ling"),
    }
    assert ling["traits"] == {"gender": "female", "age_band": "25-34", "vip": True}

    # A segment created through GraphQL is counted through GraphQL and gRPC. Rules may name only
    # traits the segment service has seen, so wait until profile.changed has reached it.
    rule = 'traits.gender = "female" AND traits.age_band = "25-34" AND traits.vip = true'
    known = "query($r: String!) { previewSegment(rule: $r) { count } }"
    eventually(lambda: "errors" not in graphql(suite.gateway_url, workspace_id, known, {"r": rule}))
    created = graphql(
        suite.gateway_url,
        workspace_id,
        'mutation($r: String!) { createSegment(name: "VIP women 25-34", rule: $r) { id size } }',
        {"r": 'traits.gender = "female" AND traits.age_band = "25-34" AND traits.vip = true'},
    )
    segment = created["data"]["createSegment"]
    eventually(
        lambda: (
            graphql(
                suite.gateway_url, workspace_id, "query($id: ID!) { segment(id: $id) { size } }", {"id": segment["id"]}
            )["data"]["segment"]["size"]
            == 1
        )
    )
    with grpc_channel(suite.grpc_target("segment")) as channel:
        count = segment_pb2_grpc.SegmentServiceStub(channel).Count(
            segment_pb2.CountRequest(workspace_id=workspace_id, segment_id=segment["id"])
        )
    assert count.count == 1
    preview = '{ previewSegment(rule: "traits.vip = true") { count } }'
    eventually(lambda: graphql(suite.gateway_url, workspace_id, preview)["data"]["previewSegment"]["count"] == 3)

    # A webhook message to her, sent once for one key.
    graphql(
        suite.gateway_url,
        workspace_id,
        'mutation($u: String!) { upsertWebhookChannel(name: "hook", url: $u) { name } '
        # No quiet hours: the default 22:00-08:00 would defer this marketing send when the suite runs at night.
        'setMessagingPolicy(input: {quietStart: "00:00", quietEnd: "00:00"}) { quietStart } }',
        {"u": sink.url + "/push"},
    )
    send = """mutation($p: ID!) { sendMessage(input: {personId: $p, channel: "hook", idempotencyKey: "618-fruit",
              content: {title: "进口水果拼团", body: "限时两小时"}}) { id created } }"""
    first = graphql(suite.gateway_url, workspace_id, send, {"p": ling["id"]})["data"]["sendMessage"]
    again = graphql(suite.gateway_url, workspace_id, send, {"p": ling["id"]})["data"]["sendMessage"]
    assert first["created"] and not again["created"] and again["id"] == first["id"]

    # Everything in one query, by user id this time.
    final = person_via_gateway(
        suite, workspace_id, "user_id", "u-ling", lambda p: p["messages"] and p["messages"][0]["status"] == "sent"
    )
    assert final["id"] == ling["id"] and final["uid"] == ling["uid"]
    assert final["segments"] == [{"id": segment["id"], "name": "VIP women 25-34"}]
    assert final["messages"] == [{"status": "sent", "idempotencyKey": "618-fruit"}]
    posts = [r for r in sink.at("/push") if r.body["workspaceId"] == workspace_id]
    assert len(posts) == 1 and posts[0].body["content"]["title"] == "进口水果拼团"
    # A person outside the segment is not in it.
    jun = person_via_gateway(suite, workspace_id, "user_id", "u-jun")
    assert jun["segments"] == [] and jun["computed"]["orderCount"] == 0


def test_errors_through_the_gateway_keep_their_code(suite, workspace_id):
    data = graphql(suite.gateway_url, workspace_id, 'mutation { createSegment(name: "x", rule: "traits.agee") { id } }')
    error = data["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "column 12" in error["message"]
    assert graphql(suite.gateway_url, workspace_id, "{ segments { id } }")["data"]["segments"] == []


def test_official_segment_sdk_is_accepted_unmodified(suite, workspace_id):
    key = create_workspace(suite, workspace_id)
    client = Client(write_key=key, host=suite.http_url("identity"), sync_mode=True, max_retries=1)
    errors = []
    client.on_error = lambda error, items: errors.append(error)
    client.identify("sdk-user", {"email": "sdk@example.com", "gender": "female"}, anonymous_id="sdk-device")
    client.track("sdk-user", "Order Completed", {"order_id": "sdk-1", "revenue": 66.6, "currency": "CNY"})
    client.track("sdk-user", "Order Completed", {"order_id": "sdk-2", "total": 33.4, "currency": "CNY"})
    client.flush()
    assert errors == []
    # The identify and the orders may be applied in either order: wait for both.
    person = person_via_gateway(
        suite, workspace_id, "user_id", "sdk-user", lambda p: p["computed"]["orderCount"] == 2 and p["traits"]
    )
    assert person["computed"]["revenue"] == pytest.approx(100.0)
    assert person["traits"]["email"] == "sdk@example.com"
    assert ("anonymous_id", "sdk-device") in {(i["type"], i["value"]) for i in person["identities"]}


def test_forget_through_the_gateway_leaves_nothing_anywhere(suite, sink, workspace_id):
    """PIPL/GDPR erasure: after forgetPerson no service holds anything of the person."""
    import redis

    from tests.helpers import mongo_db

    key = create_workspace(suite, workspace_id)
    events = [
        {"type": "identify", "anonymousId": "dev-x", "userId": "u-x", "traits": {"email": "X@Shop.cn", "vip": True}},
        {
            "type": "track",
            "anonymousId": "dev-x",
            "userId": "u-x",
            "event": "Order Completed",
            "properties": {"order_id": "x1", "revenue": 10},
        },
        {"type": "identify", "anonymousId": "dev-y", "userId": "u-y", "traits": {"vip": True}},
    ]
    assert collect(suite, key, events).status_code == 200
    x = person_via_gateway(suite, workspace_id, "user_id", "u-x", lambda p: p["computed"]["orderCount"] == 1)
    person_via_gateway(suite, workspace_id, "user_id", "u-y", lambda p: p["traits"].get("vip"))
    graphql(
        suite.gateway_url,
        workspace_id,
        'mutation($u: String!) { upsertWebhookChannel(name: "hook", url: $u) { name } '
        # No quiet hours: the default 22:00-08:00 would defer this marketing send when the suite runs at night.
        'setMessagingPolicy(input: {quietStart: "00:00", quietEnd: "00:00"}) { quietStart } }',
        {"u": sink.url + "/forget"},
    )
    graphql(
        suite.gateway_url,
        workspace_id,
        """mutation($p: ID!) { sendMessage(input: {personId: $p, channel: "hook",
            idempotencyKey: "fx", content: {body: "hi"}}) { id } }""",
        {"p": x["id"]},
    )
    preview = '{ previewSegment(rule: "traits.vip = true") { count } }'
    eventually(lambda: graphql(suite.gateway_url, workspace_id, preview)["data"]["previewSegment"]["count"] == 2)
    eventually(lambda: person_via_gateway(suite, workspace_id, "user_id", "u-x")["messages"])

    forgotten = graphql(
        suite.gateway_url,
        workspace_id,
        "mutation($p: ID!) { forgetPerson(personId: $p) { personId identifiersRemoved } }",
        {"p": x["id"]},
    )
    assert forgotten["data"]["forgetPerson"] == {"personId": x["id"], "identifiersRemoved": 3}
    eventually(lambda: graphql(suite.gateway_url, workspace_id, preview)["data"]["previewSegment"]["count"] == 1)

    db = mongo_db(suite)

    def traces() -> list[str]:
        found = []
        for name in db.list_collection_names():
            for doc in db[name].find({"workspace": workspace_id}):
                text = str(doc)
                # The audit trail keeps that the erasure happened, naming the person's id (which no longer
                # resolves to anything); never an identifier or a trait value.
                named = x["id"] in text and name != "audit"
                if named or "u-x" in text or "dev-x" in text or "x@shop.cn" in text:
                    found.append(name)
        return found

    try:
        eventually(lambda: traces() == [], timeout=30)
    except AssertionError:
        assert traces() == []  # names the collections still holding something of the person
    r = redis.Redis.from_url(suite.redis_url)
    assert not [k for k in r.scan_iter(f"cdp:idc:{workspace_id}:*") if b"u-x" in k or b"dev-x" in k]
    shard, offset = divmod(x["uid"], 1 << 20)
    bitmaps = [k for k in r.scan_iter(f"cdp:{{{workspace_id}:{shard}}}:*") if b":t:" in k or k.endswith(b":alive")]
    assert bitmaps
    for key_name in bitmaps:
        assert not r.getbit(key_name, offset), key_name
    data = graphql(suite.gateway_url, workspace_id, PERSON, {"type": "user_id", "value": "u-x"})
    assert data["data"]["person"] is None

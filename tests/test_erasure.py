"""Erasure that holds: a forgotten person stays forgotten and leaves no value behind.

Against the whole running suite: a person identified with a canary value (a
unique string in a trait and in their email) is forgotten through GraphQL;
then replaying their events must not recreate them, and the canary must be in
no MongoDB collection, no Kafka record produced after the forget, no Redis key
or value and no service log line. Plus the contact-traits setting.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import sys
import time
import uuid

import grpc
import httpx
import pytest
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from cdp.common.v1 import common_pb2
from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from cdp.profile.v1 import profile_pb2, profile_pb2_grpc
from services.kit.auth import Scope
from tests.conftest import eventually, grpc_stub
from tests.helpers import collect, create_workspace, graphql, lookup, mongo_db, new_id
from tools.credentials import claims_token

FORGET = "mutation($p: ID!) { forgetPerson(personId: $p) { personId identifiersRemoved } }"
ALLOW = "mutation($t: String!, $v: String!) { allowIdentifier(identity: {type: $t, value: $v}) }"
PERSON = 'query($v: String!) { person(identity: {type: "user_id", value: $v}) { id traits computed { orderCount } } }'


ANALYTICS = """query($i: TrendsInput!) { trends(input: $i) { series { breakdownValue total } } }"""


def analytics_values(stack, ws: str) -> set[str]:
    """What analytics holds of the workspace: order notes (an event property) and nicknames (a trait)."""
    today = dt.datetime.now(dt.UTC).date()
    span = {
        "dateFrom": (today - dt.timedelta(days=1)).isoformat(),
        "dateTo": (today + dt.timedelta(days=1)).isoformat(),
    }
    found = set()
    for series, breakdown in (
        ({"event": "Order Completed"}, {"property": "note"}),
        ({"event": "$identify"}, {"trait": "nickname"}),
    ):
        body = graphql(stack.gateway_url, ws, ANALYTICS, {"i": {"series": [series], "breakdown": breakdown, **span}})
        assert "errors" not in body, body
        found |= {s["breakdownValue"] for s in body["data"]["trends"]["series"] if s["total"]}
    return found


def suppressed_resolves(stack) -> float:
    text = httpx.get(stack.http_url("identity") + "/metrics", timeout=5).text
    found = re.search(r'^cdp_identity_resolves_total\{outcome="suppressed"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def person(stack, ws: str, user_id: str) -> dict | None:
    data = graphql(stack.gateway_url, ws, PERSON, {"v": user_id})
    assert "errors" not in data, data
    return data["data"]["person"]


def shopper_events(user_id: str, device: str, canary: str) -> list[dict]:
    return [
        {"type": "page", "anonymousId": device, "name": "Home", "messageId": new_id()},
        {
            "type": "identify",
            "anonymousId": device,
            "userId": user_id,
            "traits": {"nickname": canary, "email": f"{canary}@example.com", "tier": "gold"},
            "messageId": new_id(),
        },
        {
            "type": "track",
            "anonymousId": device,
            "userId": user_id,
            "event": "Order Completed",
            "properties": {"revenue": 42.0, "note": canary},
            "messageId": new_id(),
        },
    ]


def topic_ends(stack) -> dict[TopicPartition, int]:
    async def run() -> dict:
        consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, group_id=None)
        await consumer.start()
        try:
            parts = [
                TopicPartition(t, p) for t in await consumer.topics() for p in consumer.partitions_for_topic(t) or ()
            ]
            return await consumer.end_offsets(parts) if parts else {}
        finally:
            await consumer.stop()

    return asyncio.run(run())


def records_since(stack, start: dict[TopicPartition, int], since_ms: int, skip: set[str]) -> list[tuple[str, bytes]]:
    """(topic, key + value + headers) of every record past `start` (topics made since: from 0) produced since_ms.

    The time filter too, because the embedded broker (Tansu) numbers a produced
    batch with one offset: an end offset taken before the forget can sit below
    records that were already there, which would be read as "after".
    """

    async def run() -> list:
        consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            parts = [
                TopicPartition(t, p)
                for t in await consumer.topics()
                if t not in skip
                for p in consumer.partitions_for_topic(t) or ()
            ]
            ends = await consumer.end_offsets(parts)
            todo = {tp: end for tp, end in ends.items() if end > start.get(tp, 0)}
            if not todo:
                return []
            consumer.assign(list(todo))
            for tp in todo:
                consumer.seek(tp, start.get(tp, 0))
            out = []
            while todo:
                batches = await consumer.getmany(timeout_ms=1000)
                if not batches:
                    break
                for tp, records in batches.items():
                    for r in records:
                        if r.offset < todo.get(tp, 0):
                            headers = b"".join(v or b"" for _, v in r.headers or ())
                            if r.timestamp >= since_ms:
                                out.append((tp.topic, (r.key or b"") + (r.value or b"") + headers))
                    if records and records[-1].offset + 1 >= todo.get(tp, 0):
                        todo.pop(tp, None)
            return out
        finally:
            await consumer.stop()

    return asyncio.run(run())


def mongo_holding(stack, needle: str) -> list[str]:
    db = mongo_db(stack)
    found = []
    for name in db.list_collection_names():
        for doc in db[name].find():
            if needle in json.dumps(doc, default=str, ensure_ascii=False):
                found.append(f"{name}: {doc.get('_id')}")
    return found


def redis_holding(stack, needle: str) -> list[str]:
    r = redis.Redis.from_url(stack.redis_url)
    raw = needle.encode()
    found = []
    for key in r.scan_iter(count=1000):
        kind = r.type(key).decode()
        if kind == "string":
            values = [r.get(key) or b""]
        elif kind == "hash":
            values = [k + v for k, v in r.hgetall(key).items()]
        elif kind == "set":
            values = list(r.smembers(key))
        elif kind == "zset":
            values = list(r.zrange(key, 0, -1))
        elif kind == "list":
            values = list(r.lrange(key, 0, -1))
        elif kind == "stream":
            values = [b"".join(k + v for k, v in fields.items()) for _, fields in r.xrange(key)]
        else:
            values = []
        if raw in key or any(raw in v for v in values):
            found.append(key.decode(errors="replace"))
    return found


def logs_holding(stack, needle: str) -> list[str]:
    found = []
    for path in (stack.data_dir / "logs").glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if needle in line:
                found.append(f"{path.name}: {line[:300]}")
    return found


def test_a_forgotten_person_stays_forgotten_and_leaves_no_value_behind(suite, workspace_id):
    ws = workspace_id
    key = create_workspace(suite, ws)
    canary = f"canary{uuid.uuid4().hex}"
    user_id, device = f"u-{uuid.uuid4().hex[:8]}", f"dev-{uuid.uuid4().hex[:8]}"
    events = shopper_events(user_id, device, canary)
    assert collect(suite, key, events).status_code == 200
    before = eventually(lambda: (p := person(suite, ws, user_id)) and p["computed"]["orderCount"] == 1 and p)
    assert before["traits"]["nickname"] == canary
    # Analytics holds the canary too, as an event property and as a trait.
    eventually(lambda: analytics_values(suite, ws) == {canary}, timeout=30)
    # A segment on the person's trait, so segment holds bits and membership of them too.
    rule = 'traits.tier = "gold"'
    eventually(
        lambda: (
            "errors"
            not in graphql(
                suite.gateway_url, ws, 'query { previewSegment(rule: "traits.tier = \\"gold\\"") { count } }'
            )
        )
    )
    made = graphql(
        suite.gateway_url, ws, 'mutation($r: String!) { createSegment(name: "gold", rule: $r) { id } }', {"r": rule}
    )
    segment_id = made["data"]["createSegment"]["id"]
    size = "query($id: ID!) { segment(id: $id) { size } }"
    eventually(lambda: graphql(suite.gateway_url, ws, size, {"id": segment_id})["data"]["segment"]["size"] == 1)

    start, forgot_at_ms = topic_ends(suite), int(time.time() * 1000)
    forgot = graphql(suite.gateway_url, ws, FORGET, {"p": before["id"]})
    assert forgot["data"]["forgetPerson"]["identifiersRemoved"] == 3  # user_id, anonymous_id (the device), email
    db = mongo_db(suite)
    eventually(lambda: db["profiles"].count_documents({"workspace": ws}) == 0)
    eventually(lambda: graphql(suite.gateway_url, ws, size, {"id": segment_id})["data"]["segment"]["size"] == 0)
    eventually(lambda: analytics_values(suite, ws) == set(), timeout=30)  # the person's rows are deleted

    # Replay: the very same events (same messageIds) and new ones with the same identifiers.
    dropped_before = suppressed_resolves(suite)
    again = [{**e, "messageId": new_id()} for e in events]
    assert collect(suite, key, events + again).status_code == 200
    eventually(lambda: suppressed_resolves(suite) - dropped_before >= len(events + again), timeout=30)
    # A marker shopper sent afterwards is created, so the pipeline ran past the replay.
    marker = f"u-marker-{uuid.uuid4().hex[:6]}"
    collect(suite, key, [{"type": "identify", "userId": marker, "traits": {"tier": "gold"}, "messageId": new_id()}])
    eventually(lambda: person(suite, ws, marker))

    stub = grpc_stub(suite, "identity", identity_pb2_grpc.IdentityServiceStub)
    assert lookup(stub, ws, "user_id", user_id) is None
    assert lookup(stub, ws, "email", f"{canary}@example.com") is None
    assert person(suite, ws, user_id) is None
    assert analytics_values(suite, ws) == set()
    # A partner's Resolve of a forgotten identifier is refused rather than making a new person.
    with pytest.raises(grpc.RpcError) as refused_resolve:
        email = common_pb2.Identifier(type="email", value=f"{canary}@example.com")
        stub.Resolve(identity_pb2.ResolveRequest(workspace_id=ws, identifiers=[email]))
    assert refused_resolve.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert db["persons"].count_documents({"workspace": ws}) == 1  # the marker only
    eventually(lambda: db["profiles"].count_documents({"workspace": ws}) == 1)  # its profile follows
    # The suppression list holds digests and types, never the values.
    kept = list(db["suppressed_identifiers"].find({"workspace": ws}))
    assert sorted(d["type"] for d in kept) == ["anonymous_id", "email", "user_id"]

    # events.raw holds what the client sent again (identity drops it); every other record after the forget is clean.
    leaked = [
        topic
        for topic, payload in records_since(suite, start, forgot_at_ms, {"events.raw"})
        if canary.encode() in payload
    ]
    assert leaked == []
    assert mongo_holding(suite, canary) == []
    assert redis_holding(suite, canary) == []
    assert logs_holding(suite, canary) == []
    # Nor the user id (sent as GraphQL variables many times above) or the write key.
    assert logs_holding(suite, user_id) == [] and logs_holding(suite, key) == []

    # Lifting is for admins: a read/write caller is refused and nothing is lifted.
    writer = {"authorization": f"Bearer {claims_token(ws, {Scope.READ, Scope.WRITE})}"}
    refused_writer = graphql(suite.gateway_url, ws, ALLOW, {"t": "user_id", "v": user_id}, headers=writer)
    assert refused_writer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert db["suppressed_identifiers"].count_documents({"workspace": ws}) == 3
    # A deliberate re-registration: lifting the suppression lets the identifiers identify someone new.
    allowed = graphql(suite.gateway_url, ws, ALLOW, {"t": "user_id", "v": user_id})
    assert allowed["data"]["allowIdentifier"] is True
    assert graphql(suite.gateway_url, ws, ALLOW, {"t": "user_id", "v": user_id})["data"]["allowIdentifier"] is False
    collect(suite, key, [{"type": "identify", "userId": user_id, "traits": {"tier": "silver"}, "messageId": new_id()}])
    back = eventually(lambda: (p := person(suite, ws, user_id)) and p["traits"] and p)
    assert back["id"] != before["id"] and back["traits"] == {"tier": "silver"}
    # The other identifiers stay suppressed: an event carrying one is still dropped whole.
    dropped_before = suppressed_resolves(suite)
    collect(suite, key, [{"type": "page", "anonymousId": device, "name": "Home", "messageId": new_id()}])
    eventually(lambda: suppressed_resolves(suite) - dropped_before >= 1)
    refused = graphql(suite.gateway_url, ws, ALLOW, {"t": "email", "v": "undefined"})
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def profile_settings(stack, ws: str) -> profile_pb2.ProfileSettings:
    stub = grpc_stub(stack, "profile", profile_pb2_grpc.ProfileServiceStub)
    return stub.GetSettings(profile_pb2.GetSettingsRequest(workspace_id=ws))


def test_contact_traits_can_be_taken_from_server_side_calls_only(suite):
    contacts = {"email": "li@example.com", "phone": "+8613800138000", "push_token": "tok-1", "wechat_openid": "oid-1"}
    results = {}
    for server_only in (True, False):
        ws = f"ws_{uuid.uuid4().hex[:12]}"
        key = create_workspace(suite, ws)
        assert profile_settings(suite, ws).contact_traits_server_only is False  # the default
        if server_only:
            set_ = graphql(
                suite.gateway_url,
                ws,
                "mutation { updateProfileSettings(contactTraitsServerOnly: true) { contactTraitsServerOnly } }",
            )
            assert set_["data"]["updateProfileSettings"]["contactTraitsServerOnly"] is True
            assert profile_settings(suite, ws).contact_traits_server_only is True
        user_id = f"u-{uuid.uuid4().hex[:8]}"
        traits = {**contacts, "nickname": "Li"}
        collect(suite, key, [{"type": "identify", "userId": user_id, "traits": traits, "messageId": new_id()}])
        got = eventually(lambda u=user_id, w=ws: (p := person(suite, w, u)) and "nickname" in p["traits"] and p)
        # The server-side API writes contact traits whatever the setting.
        written = graphql(
            suite.gateway_url,
            ws,
            'mutation($p: ID!) { upsertTraits(personId: $p, set: {push_token: "tok-server"}) { traits } }',
            {"p": got["id"]},
        )
        results[server_only] = (got["traits"], written["data"]["upsertTraits"]["traits"])

    from_identify, after_api = results[True]
    assert from_identify == {"nickname": "Li"}
    assert after_api == {"nickname": "Li", "push_token": "tok-server"}
    from_identify, after_api = results[False]
    assert from_identify == {**contacts, "nickname": "Li"}
    assert after_api == {**contacts, "nickname": "Li", "push_token": "tok-server"}


def test_every_channel_address_is_a_contact_trait():
    """The setting guards whatever a message can be addressed to: a new channel type must extend the list."""
    from services.kit.contacts import CONTACT_TRAITS
    from services.messaging.channel_types import TYPES

    addresses = {t.address_trait for t in TYPES.values() if t.address_trait}
    assert addresses and addresses <= CONTACT_TRAITS


def test_log_lines_drop_the_values_driver_errors_quote():
    import logging

    from services.kit.logs import JsonFormatter

    error = (
        "E11000 duplicate key error collection: cdp.identities index: identifier_unique "
        'dup key: { workspace: "w", type: "email", value: "li@example.com" }, full error: '
        "{'index': 0, 'code': 11000, 'keyValue': {'workspace': 'w', 'value': 'li@example.com'}}"
    )
    try:
        raise RuntimeError(error)
    except RuntimeError:
        record = logging.getLogger("t").makeRecord("t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonFormatter("test").format(record)
    assert "li@example.com" not in line
    assert "identifier_unique" in json.loads(line)["exc"]  # the rest of the error stays to debug with

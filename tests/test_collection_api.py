"""The Segment-spec collection API: 200 only after Kafka has it, 400/401 change nothing."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from cdp.identity.v1 import events_pb2
from services.kit.kafka import Topics
from tests.helpers import basic_auth, collect, create_workspace, new_id, read_topic


@pytest.fixture(scope="module")
def identity(start_service):
    return start_service("identity")


def _ids_on_topic(stack, ids: set[str], seconds: float) -> set[str]:
    seen = read_topic(
        stack,
        Topics.EVENTS_RAW,
        events_pb2.RawEvent,
        seconds,
        until=lambda msgs: ids <= {m.message_id for m in msgs},
    )
    return {m.message_id for m in seen} & ids


def test_valid_batch_is_on_kafka_when_answered(identity, workspace_id):
    key = create_workspace(identity, workspace_id)
    events = [
        {
            "type": "identify",
            "userId": "u1",
            "anonymousId": "a1",
            "traits": {"gender": "female"},
            "messageId": new_id(),
        },
        {
            "type": "track",
            "anonymousId": "a1",
            "event": "Order Completed",
            "properties": {"revenue": 12.5},
            "messageId": new_id(),
        },
        {"type": "page", "anonymousId": "a1", "name": "Home", "messageId": new_id()},
    ]
    resp = collect(identity, key, events)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"success": True, "accepted": 3}
    raw = read_topic(
        identity,
        Topics.EVENTS_RAW,
        events_pb2.RawEvent,
        5,
        until=lambda msgs: {e["messageId"] for e in events} <= {m.message_id for m in msgs},
    )
    mine = {m.message_id: m for m in raw if m.workspace_id == workspace_id}
    assert set(mine) == {e["messageId"] for e in events}
    order = mine[events[1]["messageId"]]
    assert order.type == "track" and order.event == "Order Completed"
    assert order.properties["revenue"] == 12.5
    assert mine[events[0]["messageId"]].traits["gender"] == "female"


@pytest.mark.parametrize(
    "path,body",
    [
        ("/v1/track", {"userId": "u9", "event": "Product Viewed", "properties": {"sku": "A1"}}),
        ("/v1/identify", {"userId": "u9", "traits": {"city": "杭州"}}),
    ],
)
def test_single_event_endpoints(identity, workspace_id, path, body):
    key = create_workspace(identity, workspace_id)
    message_id = new_id()
    resp = collect(identity, key, [{**body, "messageId": message_id}], path=path)
    assert resp.status_code == 200, resp.text
    assert _ids_on_topic(identity, {message_id}, 5) == {message_id}


@pytest.mark.parametrize(
    "bad_event,field",
    [
        ({"type": "track", "event": "X"}, "batch[1].userId"),
        ({"type": "track", "userId": "u1"}, "batch[1].event"),
        ({"type": "teleport", "userId": "u1"}, "batch[1].type"),
        ({"type": "track", "userId": "u1", "event": "X", "properties": {"$where": 1}}, "batch[1].properties.$where"),
        ({"type": "track", "userId": "u1", "event": "X", "properties": {"a.b": 1}}, "batch[1].properties.a.b"),
        ({"type": "track", "userId": "u1", "event": "X", "timestamp": "yesterday"}, "batch[1].timestamp"),
        ({"type": "identify", "userId": "u1", "traits": ["not", "an", "object"]}, "batch[1].traits"),
    ],
)
def test_invalid_batch_names_the_field_and_produces_nothing(identity, workspace_id, bad_event, field):
    key = create_workspace(identity, workspace_id)
    good = {"type": "track", "userId": "u1", "event": "Fine", "messageId": new_id()}
    resp = collect(identity, key, [good, {**bad_event, "messageId": new_id()}])
    assert resp.status_code == 400
    assert resp.json()["field"] == field
    assert _ids_on_topic(identity, {good["messageId"]}, 2) == set()


def test_wrong_or_missing_write_key_is_401(identity, workspace_id):
    create_workspace(identity, workspace_id)
    event = {"type": "track", "userId": "u1", "event": "X", "messageId": new_id()}
    assert collect(identity, "not-a-key", [event]).status_code == 401
    resp = httpx.post(identity.http_url("identity") + "/v1/batch", json={"batch": [event]})
    assert resp.status_code == 401
    assert _ids_on_topic(identity, {event["messageId"]}, 2) == set()


def test_gzip_body_and_write_key_in_body(identity, workspace_id):
    key = create_workspace(identity, workspace_id)
    message_id = new_id()
    body = {"batch": [{"type": "track", "userId": "u1", "event": "X", "messageId": message_id}], "writeKey": key}
    resp = httpx.post(
        identity.http_url("identity") + "/v1/batch",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert resp.status_code == 200, resp.text
    assert _ids_on_topic(identity, {message_id}, 5) == {message_id}


def test_malformed_json_is_400(identity, workspace_id):
    key = create_workspace(identity, workspace_id)
    resp = httpx.post(identity.http_url("identity") + "/v1/batch", content=b"{not json", headers=basic_auth(key))
    assert resp.status_code == 400
    assert resp.json()["field"] == "body"

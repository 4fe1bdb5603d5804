"""The Segment-spec collection API: 200 only after Kafka has it, 400/401 change nothing."""

from __future__ import annotations

import gzip
import json
import socket
import time

import httpx
import pytest
import redis

from cdp.identity.v1 import events_pb2
from services.kit.kafka import Topics
from tests.conftest import eventually
from tests.helpers import basic_auth, collect, create_workspace, new_id, read_topic
from tools.stack import free_port


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


# -- abuse: key before body, size budgets, rate limits, key cache ----------------------------------
def _raw_post(stack, headers: dict[str, str], body: bytes = b"", timeout: float = 5.0) -> tuple[int, dict, bytes]:
    """POST over a bare socket, sending `body` (possibly less than Content-Length says) and reading the answer.

    A server that waited for the promised body would answer nothing and this times out.
    """
    host, port = stack.http_url("identity").removeprefix("http://").split(":")
    lines = ["POST /v1/batch HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = b""
        while piece := sock.recv(65536):  # the server closes: it cannot reuse a connection with a body unread
            answer += piece
    head, _, rest = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    return int(status_line.split()[1]), dict(h.lower().split(": ", 1) for h in header_lines), rest


def test_unknown_key_is_401_before_the_body_is_read(identity, workspace_id):
    headers = {**basic_auth("no-such-key"), "Content-Type": "application/json", "Content-Length": "400000"}
    status, _, body = _raw_post(identity, headers)  # the 400,000 bytes never come
    assert status == 401 and b"UNAUTHENTICATED" in body


def test_declared_length_over_the_budget_is_413_before_the_body_is_read(identity, workspace_id):
    key = create_workspace(identity, workspace_id)
    headers = {**basic_auth(key), "Content-Type": "application/json", "Content-Length": str(500 * 1024 + 1)}
    status, _, body = _raw_post(identity, headers)
    assert status == 413 and b"PAYLOAD_TOO_LARGE" in body


def test_gzip_bomb_is_413_and_produces_nothing(identity, workspace_id):
    key = create_workspace(identity, workspace_id)
    message_id = new_id()
    event = json.dumps({"type": "track", "userId": "u1", "event": "X", "messageId": message_id})
    # A valid batch padded with 8 MB of spaces: 8 KB on the wire.
    bomb = gzip.compress(('{"batch": [' + event + "]" + " " * (8 * 1024 * 1024) + "}").encode(), 9)
    assert len(bomb) < 10 * 1024
    resp = httpx.post(
        identity.http_url("identity") + "/v1/batch",
        content=bomb,
        headers={**basic_auth(key), "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert resp.status_code == 413 and resp.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert _ids_on_topic(identity, {message_id}, 2) == set()
    # The same batch without the padding is accepted: the budget, not gzip, refused it.
    small = gzip.compress(('{"batch": [' + event + "]}").encode())
    resp = httpx.post(
        identity.http_url("identity") + "/v1/batch",
        content=small,
        headers={**basic_auth(key), "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert resp.status_code == 200, resp.text


def test_a_key_refused_before_its_workspace_existed_works_within_seconds(identity, workspace_id):
    event = {"type": "track", "userId": "u1", "event": "X", "messageId": new_id()}
    assert collect(identity, f"wk-{workspace_id}", [event]).status_code == 401
    key = create_workspace(identity, workspace_id)
    assert key == f"wk-{workspace_id}"
    started = time.monotonic()
    eventually(lambda: collect(identity, key, [event]).status_code == 200, timeout=10)
    assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
def limited(identity):
    """Two more identity replicas with tight limits: 3 requests per key, 6 per address, then 1 every 2 s."""
    limits = {
        "CDP_COLLECT_KEY_RATE": "0.5",
        "CDP_COLLECT_KEY_BURST": "3",
        "CDP_COLLECT_ADDRESS_RATE": "0.5",
        "CDP_COLLECT_ADDRESS_BURST": "6",
    }
    urls, names = [], []
    for i in range(2):
        port = free_port()
        names.append(
            identity.start_service(
                "identity",
                name=f"identity-limited-{i}",
                CDP_HTTP_PORT=str(port),
                CDP_GRPC_PORT=str(free_port()),
                **limits,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    yield urls
    for name in names:
        identity.stop_process(name)


def test_rate_limits_per_key_and_per_address_answer_429_with_retry_after_across_replicas(identity, limited):
    # The address (127.0.0.1) is every test's: its schedule is cleared before, and after, so the
    # default replica's generous limit is not held back by the tight one's schedule.
    address_bucket = "rl:{collect:addr:127.0.0.1}"
    store = redis.Redis.from_url(identity.redis_url)
    store.delete(address_bucket)
    try:
        _tight_limits_refuse_in_turn(identity, limited)
    finally:
        store.delete(address_bucket)


def _tight_limits_refuse_in_turn(identity, limited):
    # Every limited replica shares the Redis schedule, so requests alternate between the two.
    keys = [create_workspace(identity, f"ws_{new_id()[:12]}") for _ in range(2)]
    event = {"type": "track", "userId": "u1", "event": "X"}

    def post(i: int, key: str) -> httpx.Response:
        return httpx.post(limited[i % 2] + "/v1/batch", headers=basic_auth(key), json={"batch": [event]}, timeout=10)

    answers = [post(i, keys[0]) for i in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    refused = answers[3]
    assert refused.json()["limit"] == "write key" and refused.json()["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    # Another key has its own budget, until the address's (6, of which 4 are spent) runs out.
    answers = [post(i, keys[1]) for i in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert answers[2].json()["limit"] == "client address" and int(answers[2].headers["Retry-After"]) >= 1
    # After the wait it names, the same request goes through.
    time.sleep(int(answers[2].headers["Retry-After"]) + 0.5)
    assert post(0, keys[1]).status_code == 200

"""messaging service against real processes: Mongo (SecantusDB), Kafka (Tansu), a webhook sink.

The sink is a real HTTP server in this test process; the service POSTs to it
from its own process, so every assertion about "sent once" counts real requests.
"""

from __future__ import annotations

import socket
import time
import uuid

import grpc
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cdp.messaging.v1 import events_pb2, messaging_pb2
from services.kit.kafka import Topics
from services.kit.protos import to_struct
from services.messaging.messages import derived_key
from tests.conftest import eventually, eventually_async
from tests.helpers import graphql as graphql_at
from tests.messaging_support import db_fixture, messaging_fixture, stub_fixture  # noqa: F401 (module fixtures)


def webhook(stub, workspace: str, url: str, name: str = "hook", **config) -> messaging_pb2.Channel:
    channel = stub.UpsertChannel(
        messaging_pb2.Channel(
            workspace_id=workspace, name=name, type="webhook", config=to_struct({"url": url, **config})
        )
    )
    # No quiet hours (default 22:00-08:00 would defer marketing sends when the suite runs at night).
    stub.SetPolicy(messaging_pb2.Policy(workspace_id=workspace, quiet_start="00:00", quiet_end="00:00"))
    return channel


def send(stub, workspace: str, **fields) -> messaging_pb2.Message:
    fields.setdefault("person_id", "p1")
    fields.setdefault("channel", "hook")
    fields.setdefault("content", messaging_pb2.Content(title="Fruit group buy", body="Imported cherries, 2 hours only"))
    return stub.Send(messaging_pb2.SendRequest(workspace_id=workspace, **fields))


def settled(stub, workspace: str, message_id: str) -> messaging_pb2.Message:
    """The message once delivery has finished with it."""

    def check():
        msg = stub.GetMessage(messaging_pb2.GetMessageRequest(workspace_id=workspace, id=message_id))
        return msg if msg.status not in ("queued", "sending", "deferred") else None

    return eventually(check)


def graphql(stack, workspace: str, query: str, variables: dict | None = None) -> dict:
    return graphql_at(stack.http_url("messaging") + "/graphql", workspace, query, variables)


SEND_MUTATION = """
mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { id status created idempotencyKey personId category content { title body } }
}
"""


async def records_for(stack, topic: str, message_type, match, timeout: float = 20.0) -> list:
    """Every record on `topic` (read from the start by a fresh group) for which `match` holds."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found = []
    try:

        async def poll():
            for records in (await consumer.getmany(timeout_ms=300)).values():
                for record in records:
                    payload = message_type()
                    payload.ParseFromString(record.value)
                    if match(payload):
                        found.append((record.key.decode(), payload))
            return found

        await eventually_async(poll, timeout=timeout)
        # Drain what is left, so a duplicate right behind the first match is seen too.
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            await poll()
    finally:
        await consumer.stop()
    return found


def test_send_reaches_the_webhook_once_with_its_idempotency_key(stub, sink, workspace_id):
    webhook(stub, workspace_id, f"{sink.url}/ok/{workspace_id}")

    msg = send(stub, workspace_id, idempotency_key="order-1001-shipped", category="transactional")
    assert msg.created and msg.status == "queued" and msg.id

    done = settled(stub, workspace_id, msg.id)
    assert done.status == "sent", done.status_reason
    assert done.attempts == 1
    assert done.sent_at.seconds > 0
    (received,) = sink.at(f"/ok/{workspace_id}")
    assert received.headers["idempotency-key"] == "order-1001-shipped"
    assert received.body == {
        "receiptUrl": received.headers["x-receipt-url"],
        "messageId": msg.id,
        "workspaceId": workspace_id,
        "personId": "p1",
        "channel": "hook",
        "idempotencyKey": "order-1001-shipped",
        "content": {
            "subject": "",
            "title": "Fruit group buy",
            "body": "Imported cherries, 2 hours only",
            "deepLink": "",
            "data": {},
        },
        "category": "transactional",
    }


async def test_same_key_over_grpc_and_graphql_is_sent_and_enqueued_once(messaging, stub, sink, db, workspace_id):
    webhook(stub, workspace_id, f"{sink.url}/ok/{workspace_id}")

    first = send(stub, workspace_id, idempotency_key="k-1")
    again = send(stub, workspace_id, idempotency_key="k-1", content=messaging_pb2.Content(body="something else"))
    via_graphql = graphql(
        messaging,
        workspace_id,
        SEND_MUTATION,
        {"input": {"personId": "p1", "channel": "hook", "idempotencyKey": "k-1", "content": {"body": "x"}}},
    )

    assert first.created and not again.created
    assert again.id == first.id
    assert "errors" not in via_graphql, via_graphql
    assert via_graphql["data"]["sendMessage"]["created"] is False
    assert via_graphql["data"]["sendMessage"]["id"] == first.id
    assert settled(stub, workspace_id, first.id).status == "sent"

    outbound = await records_for(
        messaging, Topics.MESSAGES_OUTBOUND, events_pb2.OutboundMessage, lambda m: m.workspace_id == workspace_id
    )
    assert [m.message_id for _, m in outbound] == [first.id]
    assert outbound[0][0] == "p1", "outbound messages are keyed by person id"
    assert len(sink.at(f"/ok/{workspace_id}")) == 1
    assert db.messages.count_documents({"workspace": workspace_id}) == 1


def test_graphql_send_then_grpc_repeat_returns_the_graphql_message(messaging, stub, sink, workspace_id):
    created = graphql(
        messaging,
        workspace_id,
        """mutation($url: String!) { upsertWebhookChannel(name: "hook", url: $url) { name type config } }""",
        {"url": f"{sink.url}/ok/{workspace_id}"},
    )
    assert created["data"]["upsertWebhookChannel"] == {
        "name": "hook",
        "type": "webhook",
        "config": {"url": f"{sink.url}/ok/{workspace_id}", "idempotent": False},
    }
    stub.SetPolicy(messaging_pb2.Policy(workspace_id=workspace_id, quiet_start="00:00", quiet_end="00:00"))

    sent = graphql(
        messaging,
        workspace_id,
        SEND_MUTATION,
        {"input": {"personId": "p9", "channel": "hook", "idempotencyKey": "gql-1", "content": {"title": "Hi"}}},
    )["data"]["sendMessage"]
    assert sent["created"] is True and sent["category"] == "marketing" and sent["personId"] == "p9"

    repeat = send(stub, workspace_id, person_id="p9", idempotency_key="gql-1")
    assert not repeat.created and repeat.id == sent["id"]
    assert settled(stub, workspace_id, sent["id"]).status == "sent"
    time.sleep(1.0)
    assert len(sink.at(f"/ok/{workspace_id}")) == 1


def test_key_is_derived_from_campaign_step_and_person(stub, sink, workspace_id):
    webhook(stub, workspace_id, f"{sink.url}/ok/{workspace_id}")

    first = send(stub, workspace_id, campaign_id="618-fruit", step_id="push-1")
    again = send(stub, workspace_id, campaign_id="618-fruit", step_id="push-1")
    other_step = send(stub, workspace_id, campaign_id="618-fruit", step_id="push-2")

    assert first.created and not again.created and other_step.created
    assert again.id == first.id and other_step.id != first.id
    assert first.idempotency_key and first.idempotency_key != other_step.idempotency_key
    assert first.campaign_id == "618-fruit"
    for msg in (first, other_step):
        assert settled(stub, workspace_id, msg.id).status == "sent"
    keys = sorted(r.headers["idempotency-key"] for r in sink.at(f"/ok/{workspace_id}"))
    assert keys == sorted([first.idempotency_key, other_step.idempotency_key])


async def test_message_left_sending_by_a_crash_is_not_sent_again(messaging, stub, sink, db, workspace_id):
    webhook(stub, workspace_id, f"{sink.url}/ok/{workspace_id}")
    stuck = send(stub, workspace_id, person_id="p3", idempotency_key="stuck")
    assert settled(stub, workspace_id, stuck.id).status == "sent"
    # As if the process died after the webhook accepted but before "sent" was recorded,
    # and Kafka then redelivered the outbound event.
    db.messages.update_one({"_id": stuck.id}, {"$set": {"status": "sending"}, "$unset": {"sent_at": ""}})
    producer = AIOKafkaProducer(bootstrap_servers=messaging.kafka_bootstrap)
    await producer.start()
    try:
        redelivered = events_pb2.OutboundMessage(workspace_id=workspace_id, message_id=stuck.id, person_id="p3")
        await producer.send_and_wait(Topics.MESSAGES_OUTBOUND, redelivered.SerializeToString(), key=b"p3")
    finally:
        await producer.stop()
    # Same person, same partition: once this one is sent, the redelivery was handled.
    after = send(stub, workspace_id, person_id="p3", idempotency_key="after-stuck")
    assert settled(stub, workspace_id, after.id).status == "sent"

    keys = [r.headers["idempotency-key"] for r in sink.at(f"/ok/{workspace_id}")]
    assert keys == ["stuck", "after-stuck"]
    left = stub.GetMessage(messaging_pb2.GetMessageRequest(workspace_id=workspace_id, id=stuck.id))
    assert left.status == "sending" and left.attempts == 1


def test_webhook_error_answer_is_retried_then_failed(stub, sink, workspace_id):
    webhook(stub, workspace_id, f"{sink.url}/fail/{workspace_id}")

    msg = send(stub, workspace_id, idempotency_key="will-fail")

    done = settled(stub, workspace_id, msg.id)
    assert done.status == "failed"
    assert "500" in done.status_reason and "gave up after 4 attempts" in done.status_reason
    assert done.sent_at.seconds == 0
    # CDP_MAX_ATTEMPTS=4 in the test stack: a 5xx is retried up to the limit, then no more.
    assert len(sink.at(f"/fail/{workspace_id}")) == 4
    assert done.attempts == 4


def test_unreachable_webhook_marks_the_message_failed(stub, workspace_id):
    with socketless_port() as port:
        webhook(stub, workspace_id, f"http://127.0.0.1:{port}/nobody")
        msg = send(stub, workspace_id, idempotency_key="nobody-home")
        done = settled(stub, workspace_id, msg.id)
    assert done.status == "failed"
    assert "unreachable" in done.status_reason and "gave up" in done.status_reason


class socketless_port:  # a context manager, named like one
    """A port that refuses connections: bound (so nobody else takes it) but not listening."""

    def __enter__(self) -> int:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.sock.close()


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"person_id": ""}, "person_id", "required"),
        ({"content": messaging_pb2.Content()}, "content", "empty"),
        ({"category": "spam"}, "category", "transactional"),
        ({"idempotency_key": ""}, "idempotency_key", "cannot be deduplicated"),
        ({"template_id": "t1"}, "template_id", "does not exist"),
        (
            {"content": messaging_pb2.Content(body="b", data=to_struct({"$where": "1"}))},
            "content.data.$where",
            "may not start with '$'",
        ),
        ({"channel": "no-such-channel"}, "channel", "does not exist"),
    ],
)
def test_bad_send_is_refused_and_stores_nothing(stub, sink, db, workspace_id, fields, field, words):
    webhook(stub, workspace_id, f"{sink.url}/ok/{workspace_id}")
    fields = {"idempotency_key": "bad-1", **fields}

    with pytest.raises(grpc.RpcError) as err:
        send(stub, workspace_id, **fields)

    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field}: ")
    assert words in err.value.details()
    assert db.messages.count_documents({"workspace": workspace_id}) == 0


def test_bad_graphql_send_has_code_and_field(messaging, db, workspace_id):
    answer = graphql(
        messaging,
        workspace_id,
        SEND_MUTATION,
        {"input": {"personId": "p1", "channel": "nope", "idempotencyKey": "k", "content": {"body": "b"}}},
    )

    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "channel"
    assert db.messages.count_documents({"workspace": workspace_id}) == 0


@pytest.mark.parametrize(
    ("type_", "config", "field", "words"),
    [
        ("fax", {}, "type", "channel type must be one of"),
        ("sms", {"provider": "x"}, "config.provider", "not a sms setting"),
        ("sms", {}, "config.endpoint", "required"),
        ("webhook", {"url": "https://example.com", "rate": 0}, "config.rate", "messages per second"),
        ("webhook", {"url": "https://example.com", "rate": 5, "burst": 1.5}, "config.burst", "whole number"),
        ("email", {"host": "smtp.example.com", "from": "nobody"}, "config.from", "email address"),
        ("wechat", {"endpoint": "https://api.weixin.qq.com"}, "config.template_id", "required"),
        ("webhook", {}, "config.url", "required"),
        ("webhook", {"url": "ftp://example.com/x"}, "config.url", "http"),
        ("webhook", {"url": "http://"}, "config.url", "host"),
        ("webhook", {"url": "https://example.com", "secret": "s"}, "config.secret", "not a webhook setting"),
    ],
)
def test_bad_channel_is_refused_and_stores_nothing(stub, db, workspace_id, type_, config, field, words):
    with pytest.raises(grpc.RpcError) as err:
        stub.UpsertChannel(
            messaging_pb2.Channel(workspace_id=workspace_id, name="c", type=type_, config=to_struct(config))
        )

    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field}: ")
    assert words in err.value.details()
    assert db.channels.count_documents({"workspace": workspace_id}) == 0


def test_upsert_channel_replaces_the_url(stub, sink, workspace_id):
    webhook(stub, workspace_id, f"{sink.url}/ok/{workspace_id}/old")
    webhook(stub, workspace_id, f"{sink.url}/ok/{workspace_id}/new")

    msg = send(stub, workspace_id, idempotency_key="after-move")

    assert settled(stub, workspace_id, msg.id).status == "sent"
    assert len(sink.at(f"/ok/{workspace_id}/new")) == 1
    assert sink.at(f"/ok/{workspace_id}/old") == []


def test_person_messages_through_entities_and_list(messaging, stub, sink, workspace_id):
    webhook(stub, workspace_id, f"{sink.url}/ok/{workspace_id}")
    alice = [send(stub, workspace_id, person_id="alice", idempotency_key=f"a{i}") for i in range(3)]
    bob = send(stub, workspace_id, person_id="bob", idempotency_key="b0")

    answer = graphql(
        messaging,
        workspace_id,
        """query($r: [_Any!]!) {
             _entities(representations: $r) {
               ... on Person { id messages(limit: 2) { id personId idempotencyKey } }
             }
           }""",
        {"r": [{"__typename": "Person", "id": pid} for pid in ("alice", "bob", "carol")]},
    )

    assert "errors" not in answer, answer
    people = {p["id"]: p["messages"] for p in answer["data"]["_entities"]}
    assert [m["id"] for m in people["alice"]] == [alice[2].id, alice[1].id]
    assert [m["id"] for m in people["bob"]] == [bob.id]
    assert people["carol"] == []

    listed = stub.ListMessages(messaging_pb2.ListMessagesRequest(workspace_id=workspace_id, person_id="alice"))
    assert [m.id for m in listed.messages] == [m.id for m in reversed(alice)]

    one = graphql(messaging, workspace_id, "query($id: ID!) { message(id: $id) { id personId } }", {"id": bob.id})
    assert one["data"]["message"] == {"id": bob.id, "personId": "bob"}
    elsewhere = graphql(messaging, "ws_other", "query($id: ID!) { message(id: $id) { id } }", {"id": bob.id})
    assert elsewhere["data"]["message"] is None, "another workspace must not see the message"


def test_list_limit_is_bounded(stub, workspace_id):
    with pytest.raises(grpc.RpcError) as err:
        stub.ListMessages(messaging_pb2.ListMessagesRequest(workspace_id=workspace_id, person_id="p", limit=501))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("limit: ")


def test_unknown_message_is_not_found(stub, workspace_id):
    with pytest.raises(grpc.RpcError) as err:
        stub.GetMessage(messaging_pb2.GetMessageRequest(workspace_id=workspace_id, id="nope"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_stats_need_a_campaign_or_template(stub, workspace_id):
    with pytest.raises(grpc.RpcError) as err:
        stub.GetStats(messaging_pb2.GetStatsRequest(workspace_id=workspace_id))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "campaign_id" in err.value.details()


async def test_sent_message_is_announced_on_messages_status(messaging, stub, sink, workspace_id):
    webhook(stub, workspace_id, f"{sink.url}/ok/{workspace_id}")
    msg = send(stub, workspace_id, person_id="p7", idempotency_key="announce", campaign_id="c-9")

    statuses = await records_for(
        messaging, Topics.MESSAGES_STATUS, events_pb2.MessageStatus, lambda s: s.message_id == msg.id
    )

    assert [(key, s.status) for key, s in statuses] == [("p7", "sent")]
    _, status = statuses[0]
    assert status.workspace_id == workspace_id
    assert status.person_id == "p7"
    assert status.campaign_id == "c-9"
    assert status.at.seconds > 0


def test_derived_keys_keep_their_parts_apart():
    assert derived_key("a:b", "", "p") != derived_key("a", "b", "p")
    assert derived_key("c", "s", "p") == derived_key("c", "s", "p")

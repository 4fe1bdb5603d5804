"""Every channel against real servers: SMS, push and WeChat HTTP APIs, SMTP (aiosmtpd), in-app inbox.

The provider server stages errors, 429 with Retry-After and timeouts; the
messaging service (its own process) calls it exactly as it would call a
provider, so every count here is a count of real requests.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
import uuid

import grpc
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiosmtpd.controller import Controller

from cdp.messaging.v1 import events_pb2, messaging_pb2
from services.kit.kafka import Topics
from services.kit.protos import to_struct
from services.messaging.links import receipt_token
from tests.conftest import eventually, eventually_async
from tests.helpers import graphql
from tests.messaging_support import (  # noqa: F401 (module fixtures)
    Answer,
    ProviderServer,
    channel,
    link_signer,
    messaging_fixture,
    no_quiet_hours,
    settled,
    stub_fixture,
)
from tools.stack import free_port


@pytest.fixture(scope="module")
def provider():
    p = ProviderServer()
    yield p
    p.close()


@pytest.fixture
def ws(stub, workspace_id) -> str:
    no_quiet_hours(stub, workspace_id)
    return workspace_id


def send(stub, ws: str, channel_name: str, key: str, **fields) -> messaging_pb2.Message:
    fields.setdefault("person_id", "p1")
    fields.setdefault("content", messaging_pb2.Content(title="限时团购", body="进口车厘子，两小时内有效"))
    return stub.Send(messaging_pb2.SendRequest(workspace_id=ws, channel=channel_name, idempotency_key=key, **fields))


def test_sms_429_is_retried_after_retry_after_with_the_same_key(stub, provider, ws):
    channel(stub, ws, "sms", "sms", endpoint=f"{provider.url}/{ws}", api_key="k-123", sender="CDP")
    provider.script(
        f"/{ws}/sms/send", Answer(429, {"error": "slow down"}, {"Retry-After": "1"}), Answer(200, {"id": "sms-1"})
    )

    msg = send(stub, ws, "sms", "otp-1", to="+8613800000000", category="transactional")

    done = settled(stub, ws, msg.id)
    assert done.status == "sent", done.status_reason
    first, second = provider.at(f"/{ws}/sms/send")
    assert second.at - first.at >= 1.0, "Retry-After: 1 was honoured"
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == "otp-1"
    assert first.headers["authorization"] == "Bearer k-123"
    assert second.body == {
        "to": "+8613800000000",
        "text": "进口车厘子，两小时内有效",
        "sender": "CDP",
        "reference": msg.id,
        "receiptUrl": second.headers["x-receipt-url"],
    }
    assert done.attempts == 2


def test_push_4xx_fails_at_once_and_goes_to_the_dlq(messaging, stub, provider, ws):
    channel(stub, ws, "push", "push", endpoint=f"{provider.url}/{ws}")
    provider.script(f"/{ws}/push/send", Answer(400, {"error": "bad token"}))

    msg = send(stub, ws, "push", "push-1", to="device-token-1")

    done = settled(stub, ws, msg.id)
    assert done.status == "failed" and "HTTP 400" in done.status_reason
    assert len(provider.at(f"/{ws}/push/send")) == 1, "a 4xx is not retried"
    dead = read_until(messaging, Topics.MESSAGES_DLQ, events_pb2.MessageStatus, lambda m: m.message_id == msg.id)
    assert dead.status == "failed" and "HTTP 400" in dead.reason


def test_wechat_template_message_retries_a_busy_errcode(stub, provider, ws):
    channel(stub, ws, "wx", "wechat", endpoint=f"{provider.url}/{ws}", access_token="AT", template_id="TPL-9")
    path = f"/{ws}/cgi-bin/message/template/send"
    provider.script(path, Answer(200, {"errcode": 45009, "errmsg": "busy"}), Answer(200, {"errcode": 0, "msgid": 42}))

    msg = send(
        stub,
        ws,
        "wx",
        "wx-1",
        to="openid-1",
        content=messaging_pb2.Content(
            title="您的订单已发货",
            body="感谢购买",
            deep_link="https://m.example/o/1",
            data=_struct({"keyword1": "A1001"}),
        ),
    )

    done = settled(stub, ws, msg.id)
    assert done.status == "sent", done.status_reason
    calls = provider.at(path)
    assert len(calls) == 2 and calls[0].path.endswith("access_token=AT")
    assert calls[1].body == {
        "touser": "openid-1",
        "template_id": "TPL-9",
        "url": "https://m.example/o/1",
        "data": {"keyword1": {"value": "A1001"}, "first": {"value": "您的订单已发货"}, "remark": {"value": "感谢购买"}},
    }


def test_timeout_is_retried_only_where_the_provider_honours_keys(stub, provider, ws):
    channel(stub, ws, "safe", "webhook", url=f"{provider.url}/{ws}/safe", idempotent=True)
    channel(stub, ws, "unsafe", "webhook", url=f"{provider.url}/{ws}/unsafe")
    provider.script(f"/{ws}/safe", Answer(200, delay=3.0))
    provider.script(f"/{ws}/unsafe", Answer(200, delay=3.0))

    safe = send(stub, ws, "safe", "t-safe")
    unsafe = send(stub, ws, "unsafe", "t-unsafe")

    assert settled(stub, ws, safe.id).status == "sent"
    assert [r.headers["idempotency-key"] for r in provider.at(f"/{ws}/safe")] == ["t-safe", "t-safe"]
    left = settled(stub, ws, unsafe.id)
    assert left.status == "unknown" and "outcome unknown" in left.status_reason
    time.sleep(1.0)
    assert len(provider.at(f"/{ws}/unsafe")) == 1, "never sent blindly a second time"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp():
    box = Mailbox()
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def test_email_over_smtp_with_tracked_links_and_a_working_unsubscribe(messaging, stub, smtp, ws):
    channel(stub, ws, "mail", "email", host="127.0.0.1", port=smtp.port, **{"from": "shop@cdp.example"})
    body = '<p>新品上市</p><a href="https://shop.example/new">去看看</a>'
    msg = send(
        stub, ws, "mail", "mail-1", to="li@example.com", content=messaging_pb2.Content(subject="618 大促", body=body)
    )

    assert settled(stub, ws, msg.id).status == "sent"
    (mail,) = [m for m in smtp.messages if m["To"] == "li@example.com" and m["Subject"] == "618 大促"]
    html = mail.get_body(("html",)).get_content()
    assert "https://shop.example/new" not in html, "links go through the click redirect"
    click = html.split('href="')[1].split('"')[0]
    pixel = html.split('src="')[1].split('"')[0]
    unsubscribe = mail["List-Unsubscribe"].strip("<>")

    assert httpx.get(pixel).headers["content-type"] == "image/gif"
    answer = httpx.get(click, follow_redirects=False)
    assert answer.status_code == 302 and answer.headers["location"] == "https://shop.example/new"
    seen = stub.GetMessage(messaging_pb2.GetMessageRequest(workspace_id=ws, id=msg.id))
    assert seen.opened_at.seconds and seen.clicked_at.seconds
    tampered = click[:-3] + ("AAA" if not click.endswith("AAA") else "BBB")
    assert httpx.get(tampered, follow_redirects=False).status_code == 400

    assert httpx.post(unsubscribe).status_code == 200
    again = send(
        stub, ws, "mail", "mail-2", to="li@example.com", content=messaging_pb2.Content(subject="再次", body="x")
    )
    skipped = settled(stub, ws, again.id)
    assert skipped.status == "skipped" and "unsubscribed from marketing on mail" in skipped.status_reason
    receipt = send(
        stub,
        ws,
        "mail",
        "mail-3",
        to="li@example.com",
        category="transactional",
        content=messaging_pb2.Content(subject="订单已发货", body="x"),
    )
    assert settled(stub, ws, receipt.id).status == "sent", "a marketing opt-out does not stop order notices"


def test_inapp_inbox_through_graphql_and_mark_read(messaging, stub, ws):
    channel(stub, ws, "inbox", "inapp")
    msg = send(
        stub,
        ws,
        "inbox",
        "in-1",
        person_id="p-inbox",
        content=messaging_pb2.Content(title="欢迎", body="新人礼包已到账"),
    )
    done = settled(stub, ws, msg.id)
    assert done.status == "delivered" and done.delivered_at.seconds

    url = messaging.http_url("messaging") + "/graphql"
    query = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Person {
        inbox { id title body readAt } } } }"""
    reps = {"r": [{"__typename": "Person", "id": "p-inbox"}]}
    (item,) = graphql(url, ws, query, reps)["data"]["_entities"][0]["inbox"]
    assert item == {"id": msg.id, "title": "欢迎", "body": "新人礼包已到账", "readAt": None}
    marked = graphql(url, ws, "mutation($id: ID!) { markInboxRead(id: $id) { readAt } }", {"id": msg.id})
    assert marked["data"]["markInboxRead"]["readAt"]
    unread = graphql(url, ws, query.replace("inbox {", "inbox(unreadOnly: true) {"), reps)
    assert unread["data"]["_entities"][0]["inbox"] == []


def test_delivery_receipt_marks_delivered(messaging, stub, provider, ws):
    channel(stub, ws, "sms2", "sms", endpoint=f"{provider.url}/{ws}")
    provider.script(f"/{ws}/sms/send", Answer(200, {"id": f"prov-{ws}"}))
    msg = send(stub, ws, "sms2", "r-1", to="+8613900000000")
    assert settled(stub, ws, msg.id).status == "sent"

    base = messaging.http_url("messaging")
    token = receipt_token(link_signer(messaging), ws, "sms2")
    assert httpx.post(f"{base}/v1/receipts/{token}", json={"id": f"prov-{ws}", "status": "nope"}).status_code == 400
    wrong = receipt_token(link_signer(messaging), ws, "other-channel")
    assert (
        httpx.post(f"{base}/v1/receipts/{wrong}", json={"id": f"prov-{ws}", "status": "delivered"}).status_code == 404
    )
    assert (
        httpx.post(f"{base}/v1/receipts/{token}", json={"id": f"prov-{ws}", "status": "delivered"}).status_code == 200
    )
    done = stub.GetMessage(messaging_pb2.GetMessageRequest(workspace_id=ws, id=msg.id))
    assert done.status == "delivered" and done.delivered_at.seconds


def test_providers_are_told_where_to_post_the_delivery_receipt(stub, provider, ws):
    channel(stub, ws, "hook-r", "webhook", url=f"{provider.url}/{ws}/hook-r")
    channel(stub, ws, "push-r", "push", endpoint=f"{provider.url}/{ws}/p")
    hook = send(stub, ws, "hook-r", "rcpt-1")
    push = send(stub, ws, "push-r", "rcpt-2", to="device-token-1")
    assert settled(stub, ws, hook.id).status == "sent" and settled(stub, ws, push.id).status == "sent"

    (call,) = provider.at(f"/{ws}/hook-r")
    url = call.headers["x-receipt-url"]
    assert "/v1/receipts/" in url and call.body["receiptUrl"] == url and call.body["messageId"] == hook.id
    (push_call,) = provider.at(f"/{ws}/p/push/send")
    assert push_call.body["receiptUrl"] == push_call.headers["x-receipt-url"] != url, "one URL per channel"
    assert push_call.body["reference"] == push.id

    # The provider calls back where it was told to, naming the message as it was given.
    assert httpx.post(url, json={"messageId": hook.id, "status": "delivered"}).status_code == 200
    assert stub.GetMessage(messaging_pb2.GetMessageRequest(workspace_id=ws, id=hook.id)).status == "delivered"
    # A channel's URL cannot settle another channel's message.
    assert httpx.post(url, json={"messageId": push.id, "status": "delivered"}).status_code == 404
    assert stub.GetMessage(messaging_pb2.GetMessageRequest(workspace_id=ws, id=push.id)).status == "sent"


def test_messages_skipped_by_the_worker_are_announced_with_the_reason(messaging, stub, provider, ws):
    channel(stub, ws, "hook", "webhook", url=f"{provider.url}/{ws}/hook")
    no_quiet_hours(stub, ws, caps=[messaging_pb2.Cap(channel="hook", category="marketing", limit=1, days=1)])
    assert settled(stub, ws, send(stub, ws, "hook", "ann-1", person_id="pa").id).status == "sent"
    capped = send(stub, ws, "hook", "ann-2", person_id="pa")
    optout = send(stub, ws, "hook", "ann-3", person_id="pb")
    assert settled(stub, ws, optout.id).status == "sent"
    token = link_signer(messaging).sign({"k": "u", "w": ws, "m": optout.id, "p": "pb", "ch": "hook", "g": "*"})
    assert httpx.post(f"{messaging.http_url('messaging')}/t/u/{token}").status_code == 200
    unsubscribed = send(stub, ws, "hook", "ann-4", person_id="pb")

    for msg, person, reason in ((capped, "pa", "frequency cap"), (unsubscribed, "pb", "unsubscribed")):
        assert settled(stub, ws, msg.id).status == "skipped"
        status = read_until(
            messaging, Topics.MESSAGES_STATUS, events_pb2.MessageStatus, lambda s, m=msg: s.message_id == m.id
        )
        assert (status.status, status.person_id, status.workspace_id) == ("skipped", person, ws)
        assert reason in status.reason


def test_messages_skipped_at_send_are_announced_with_the_reason(start_service, messaging, stub, ws):
    start_service("profile")  # the address would come from the profile: these persons have none
    channel(stub, ws, "sms", "sms", endpoint="http://127.0.0.1:9/never")
    requests = [
        messaging_pb2.SendRequest(
            workspace_id=ws,
            person_id=f"nobody-{i}",
            channel="sms",
            timezone="UTC",
            idempotency_key=f"noaddr-{i}",
            content=messaging_pb2.Content(body="您的验证码是 1234"),
        )
        for i in range(2)
    ]

    def accepted():
        # Right after profile started, messaging's channel to it may still be between reconnects.
        try:
            return stub.SendBatch(messaging_pb2.SendBatchRequest(requests=requests)).messages
        except grpc.RpcError as exc:
            if "profile service" not in (exc.details() or ""):
                raise
            return None

    sent = eventually(accepted, timeout=15)
    assert [m.status for m in sent] == ["skipped", "skipped"]

    status = read_until(
        messaging, Topics.MESSAGES_STATUS, events_pb2.MessageStatus, lambda s: s.message_id == sent[1].id
    )
    assert (status.status, status.person_id) == ("skipped", "nobody-1")
    assert "no address" in status.reason


def test_caps_skip_marketing_but_not_transactional(stub, provider, ws):
    channel(stub, ws, "hook", "webhook", url=f"{provider.url}/{ws}/hook")
    no_quiet_hours(stub, ws, caps=[messaging_pb2.Cap(channel="hook", category="", limit=1, days=1)])
    first = send(stub, ws, "hook", "cap-1", person_id="pc")
    assert settled(stub, ws, first.id).status == "sent"
    second = send(stub, ws, "hook", "cap-2", person_id="pc")
    skipped = settled(stub, ws, second.id)
    assert skipped.status == "skipped" and "frequency cap" in skipped.status_reason
    order = send(stub, ws, "hook", "cap-3", person_id="pc", category="transactional")
    assert settled(stub, ws, order.id).status == "sent", "transactional skips marketing caps"
    assert [r.headers["idempotency-key"] for r in provider.at(f"/{ws}/hook")] == ["cap-1", "cap-3"]


def test_quiet_hours_defer_marketing_to_the_window_end_and_let_transactional_pass(stub, provider, workspace_id):
    ws = workspace_id
    channel(stub, ws, "hook", "webhook", url=f"{provider.url}/{ws}/hook")
    # A quiet window around now in the person's zone (set before the workspace's first send:
    # workers keep a workspace's policy for up to 5 seconds).
    local = time.gmtime()
    start = f"{(local.tm_hour - 1) % 24:02d}:00"
    end = f"{(local.tm_hour + 2) % 24:02d}:00"
    stub.SetPolicy(messaging_pb2.Policy(workspace_id=ws, quiet_start=start, quiet_end=end))
    night = send(stub, ws, "hook", "q-1", person_id="pq", timezone="UTC")
    deferred = eventually(lambda: _status(stub, ws, night.id, "deferred"))
    assert "quiet hours" in deferred.status_reason
    assert time.gmtime(deferred.due_at.seconds).tm_hour == (local.tm_hour + 2) % 24
    urgent = send(stub, ws, "hook", "q-2", person_id="pq", timezone="UTC", category="transactional")
    assert settled(stub, ws, urgent.id).status == "sent"
    assert [r.headers["idempotency-key"] for r in provider.at(f"/{ws}/hook")] == ["q-2"]


def test_bad_policy_and_bad_template_name_the_field(stub, ws):
    with pytest.raises(grpc.RpcError) as err:
        stub.SetPolicy(messaging_pb2.Policy(workspace_id=ws, quiet_start="7pm", quiet_end="08:00"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "quiet_start" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateTemplate(
            messaging_pb2.Template(
                workspace_id=ws, name="t", channel="push", content=messaging_pb2.Content(title="{{ nick }}", body="x")
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'nick'" in err.value.details()


def _status(stub, ws, message_id, status):
    msg = stub.GetMessage(messaging_pb2.GetMessageRequest(workspace_id=ws, id=message_id))
    return msg if msg.status == status else None


def _struct(value):
    return to_struct(value)


def read_until(stack, topic: str, message_type, match, timeout: float = 20.0):
    async def run():
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=stack.kafka_bootstrap,
            group_id=f"test-{uuid.uuid4().hex}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:

            async def poll():
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    for record in records:
                        payload = message_type()
                        payload.ParseFromString(record.value)
                        if match(payload):
                            return payload
                return None

            return await eventually_async(poll, timeout=timeout)
        finally:
            await consumer.stop()

    return asyncio.run(run())

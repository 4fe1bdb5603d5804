"""Abuse of messaging's outbound side and links: SSRF, provider reply bodies, link secrets and tokens,
the unsubscribe page, template budgets.

The SSRF test runs a second messaging process WITHOUT the session's allow-list
(CDP_OUTBOUND_ALLOW=127.0.0.0/8 lets the other tests reach their local sinks),
on its own Kafka broker and database so that the session's messaging replica
never delivers its messages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
import uuid

import grpc
import httpx
import pytest

from cdp.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from services.kit.clock import FixedClock, SystemClock
from services.kit.errors import InvalidInput
from services.kit.netguard import GuardedResolver, OutboundGuard, OutboundRefused, why_refused
from services.kit.signing import Keyring, b64
from services.messaging.__main__ import MessagingSettings
from services.messaging.channels import validate_channel
from services.messaging.links import LINK_TTL, RECEIPT_TTL, Links, Signer, link_keys, receipt_token
from services.messaging.messages import Content
from services.messaging.providers import http_session, post
from services.messaging.smtp import SmtpProvider, build_email
from services.messaging.templates import Budget, context_of, render
from services.messaging.views import MessageView
from tests.conftest import grpc_stub
from tests.messaging_support import (  # noqa: F401 (module fixtures)
    Answer,
    ProviderServer,
    channel,
    db_fixture,
    link_signer,
    messaging_fixture,
    no_quiet_hours,
    settled,
    stub_fixture,
)
from tools.stack import ROOT, Stack, free_port

REFUSED = [
    "127.0.0.1",
    "127.9.9.9",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",
    "169.254.169.254",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "0.0.0.0",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",
]
PUBLIC = ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:0808:0808::1"]
KEY_A, KEY_B = "a" * 40, "b" * 40


def message(ws: str = "ws", key: str = "k-1", **fields) -> MessageView:
    base = dict(
        id="msg-1",
        workspace=ws,
        person_id="p1",
        channel="c",
        category="marketing",
        idempotency_key=key,
        to="li@shop.example",
        content=Content(subject="你好", body="hi"),
        status="sending",
        status_reason="",
        campaign_id="",
        created_at=None,
        sent_at=None,
        attempts=0,
    )
    names = {f.name for f in dataclasses.fields(MessageView)}
    return MessageView(**{k: v for k, v in {**base, **fields}.items() if k in names})


# -- the guard ------------------------------------------------------------------------------------
@pytest.mark.parametrize("address", REFUSED)
def test_the_guard_refuses_local_private_and_special_addresses_in_every_form(address):
    assert why_refused(ipaddress.ip_address(address)) is not None
    with pytest.raises(OutboundRefused, match="refused"):
        OutboundGuard().check("h", address)


@pytest.mark.parametrize("address", PUBLIC)
def test_the_guard_lets_public_addresses_through(address):
    OutboundGuard().check("h", address)


def test_the_allow_list_lets_only_its_ranges_through():
    guard = OutboundGuard.parse("127.0.0.0/8, 10.1.0.0/16")
    guard.check("h", "127.0.0.1")
    guard.check("h", "::ffff:127.0.0.1")  # the mapped form of an allowed address
    guard.check("h", "10.1.2.3")
    for address in ("10.2.0.1", "169.254.169.254", "::1"):
        with pytest.raises(OutboundRefused):
            guard.check("h", address)
    with pytest.raises(ValueError, match="CDP_OUTBOUND_ALLOW"):
        OutboundGuard.parse("127.0.0.0/8,not-a-cidr")


@pytest.mark.parametrize(
    ("type_", "config", "field"),
    [
        ("webhook", {"url": "http://127.0.0.1:4001/v1/batch"}, "config.url"),
        ("webhook", {"url": "http://169.254.169.254/latest/meta-data/"}, "config.url"),
        ("webhook", {"url": "http://[::1]:8080/"}, "config.url"),
        ("webhook", {"url": "http://[::ffff:127.0.0.1]/"}, "config.url"),
        ("sms", {"endpoint": "https://10.0.0.5"}, "config.endpoint"),
        ("push", {"endpoint": "http://100.64.1.1"}, "config.endpoint"),
        ("wechat", {"endpoint": "http://192.168.0.1", "template_id": "T"}, "config.endpoint"),
        ("email", {"host": "127.0.0.1", "port": 6380, "from": "a@shop.example"}, "config.host"),
    ],
)
def test_a_channel_naming_a_refused_address_is_refused_at_save_naming_the_setting(type_, config, field):
    with pytest.raises(InvalidInput) as err:
        validate_channel("c", type_, config, OutboundGuard())
    assert err.value.field == field and "public addresses" in err.value.message
    # The allow-list of an on-premises setup lets the same channel be saved.
    validate_channel("c", type_, config, OutboundGuard.parse("0.0.0.0/0,::/0"))


def test_names_are_saved_and_checked_when_resolved():
    validate_channel("c", "webhook", {"url": "http://localhost:9/hook"}, OutboundGuard())

    async def resolve(guard):
        resolver = GuardedResolver(guard)
        try:
            return await resolver.resolve("localhost", 80, socket.AF_INET)
        finally:
            await resolver.close()

    with pytest.raises(OutboundRefused, match="loopback"):
        asyncio.run(resolve(OutboundGuard()))
    assert [a["host"] for a in asyncio.run(resolve(OutboundGuard.parse("127.0.0.0/8")))] == ["127.0.0.1"]


async def _post(guard: OutboundGuard, url: str):
    client = http_session(2.0, guard)
    try:
        return await post(client, {"type": "webhook", "config": {}}, url, {"x": 1}, message())
    finally:
        await client.close()


def test_http_calls_to_refused_addresses_fail_without_connecting():
    sink = ProviderServer()
    port = sink.url.rsplit(":", 1)[1]
    try:
        for url in (f"http://127.0.0.1:{port}/a", f"http://localhost:{port}/b", f"http://[::ffff:127.0.0.1]:{port}/c"):
            outcome = asyncio.run(_post(OutboundGuard(), url))
            assert outcome.status == "failed", (url, outcome)
            assert "destination refused" in outcome.reason and "loopback" in outcome.reason
        assert sink.requests == []
        # The same call with the address allowed goes out: what stopped it was the guard.
        assert asyncio.run(_post(OutboundGuard.parse("127.0.0.0/8"), f"http://localhost:{port}/d")).status == "sent"
        assert [r.path for r in sink.requests] == ["/d"]
    finally:
        sink.close()


def test_smtp_to_a_name_resolving_to_loopback_never_connects():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    channel_doc = {
        "type": "email",
        "config": {"host": "localhost", "port": listener.getsockname()[1], "from": "a@b.cn"},
    }
    try:
        outcome = asyncio.run(SmtpProvider(None, OutboundGuard(), timeout=2).deliver(channel_doc, message()))
        assert outcome.status == "failed" and "smtp destination refused" in outcome.reason
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()


# -- provider reply bodies ------------------------------------------------------------------------
def test_a_provider_reply_body_never_reaches_the_status_reason():
    sink = ProviderServer()
    canary = "canary-" + uuid.uuid4().hex
    sink.script("/r", Answer(400, {"error": canary, "html": "<script>x</script>"}), Answer(503, {"e": canary}))
    try:
        first = asyncio.run(_post(OutboundGuard.parse("127.0.0.0/8"), f"{sink.url}/r"))
        second = asyncio.run(_post(OutboundGuard.parse("127.0.0.0/8"), f"{sink.url}/r"))
    finally:
        sink.close()
    assert (first.status, first.reason) == ("failed", "webhook answered HTTP 400 Bad Request")
    assert (second.status, second.reason) == ("retry", "webhook answered HTTP 503 Service Unavailable")


def test_a_wechat_errmsg_is_sanitised_and_short():
    from services.messaging.channel_types.wechat import outcome
    from services.messaging.providers import Reply

    body = json.dumps({"errcode": 40001, "errmsg": "<img src=x onerror=alert(1)> " + "z" * 500}).encode()
    reason = outcome(Reply(200, {}, body)).reason
    assert reason.startswith("wechat errcode 40001: ") and "<" not in reason and len(reason) < 120


# -- the link secret and tokens -------------------------------------------------------------------
@pytest.mark.parametrize(
    "env",
    [{}, {"CDP_LINK_SECRET": "short-secret"}, {"CDP_LINK_KEYS": "k2:" + KEY_A + ",k1:too-short"}],
)
def test_messaging_refuses_to_start_with_the_default_or_a_short_secret(env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    run = subprocess.run(
        [sys.executable, "-m", "services.messaging"],
        cwd=ROOT,
        env={**clean, **env, "CDP_MONGO_URL": "mongodb://127.0.0.1:9", "CDP_HTTP_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "at least 32 characters" in run.stderr
    assert ("CDP_LINK_KEYS" if "CDP_LINK_KEYS" in env else "CDP_LINK_SECRET") in run.stderr


def test_dev_mode_accepts_the_default_secret_and_a_strong_secret_needs_no_dev_mode():
    assert MessagingSettings(dev_mode=True).link_secret == "dev-only-link-secret-change-me"
    assert MessagingSettings(link_secret=KEY_A).dev_mode is False


def test_a_single_secret_is_one_key_whatever_it_holds():
    secret = "k9:" + "x" * 20 + "," + "y" * 20  # looks like a key list; CDP_LINK_SECRET is one secret
    keys = link_keys("", secret, dev_mode=False)
    assert keys.current == "k1" and keys.secrets() == [secret]
    with pytest.raises(ValueError, match="CDP_LINK_SECRET must be set"):
        link_keys("", "  ", dev_mode=True)


def test_link_tokens_expire_and_rotate():
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    old = Signer(Keyring.parse(f"k1:{KEY_A}"), clock)
    rotated = Signer(Keyring.parse(f"k2:{KEY_B},k1:{KEY_A}"), clock)
    retired = Signer(Keyring.parse(f"k2:{KEY_B}"), clock)
    links = Links(old, "http://cdp.example")
    token = links.click("ws", "m1", "https://shop.example/").rsplit("/", 1)[1]
    receipt = receipt_token(old, "ws", "sms")

    assert rotated.verify(token)["kid"] == "k1"  # signed before the rotation, still good
    assert rotated.verify(Links(rotated, "").click("ws", "m1", "u").rsplit("/", 1)[1])["kid"] == "k2"
    with pytest.raises(InvalidInput, match="invalid"):
        retired.verify(token)  # its key was retired
    clock.advance(seconds=LINK_TTL - 1)
    assert old.verify(token)["m"] == "m1"
    clock.advance(seconds=2)
    with pytest.raises(InvalidInput, match="expired"):
        old.verify(token)
    assert old.verify(receipt)["m"] == "sms"  # receipt URLs live longer
    clock.advance(seconds=RECEIPT_TTL - LINK_TTL)
    with pytest.raises(InvalidInput, match="expired"):
        old.verify(receipt)


def _old_format(secret: str, payload: dict) -> str:
    """A token as the service issued them before kit/signing (no key id, no expiry)."""
    import hashlib
    import hmac

    body = b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())}"


def test_the_service_refuses_tampered_expired_and_old_format_link_tokens(messaging, stub):
    ws = f"ws_{uuid.uuid4().hex[:10]}"
    base = messaging.http_url("messaging")
    signer = link_signer(messaging)
    target = {"k": "c", "w": ws, "m": "m1", "u": "https://shop.example/"}

    good = signer.sign(target)
    assert httpx.get(f"{base}/t/c/{good}", follow_redirects=False).status_code == 302
    _, mac = good.split(".")
    forged = b64(json.dumps({**target, "u": "https://evil.example/", "kid": "k1", "exp": 2**40}).encode())
    expired = signer.sign(target, ttl=-1)
    old_default = _old_format("dev-only-link-secret-change-me", target)
    old_strong = _old_format(messaging.link_secret(), target)
    for token, why in (
        (f"{forged}.{mac}", "invalid"),
        (expired, "expired"),
        (old_default, "invalid"),
        (old_strong, "invalid"),
    ):
        answer = httpx.get(f"{base}/t/c/{token}", follow_redirects=False)
        assert answer.status_code == 400 and why in answer.text, (token, answer.text)
        assert "location" not in answer.headers


# -- the unsubscribe page -------------------------------------------------------------------------
def test_unsubscribe_get_only_confirms_escaped_and_post_unsubscribes(messaging, db):
    ws = f"ws_{uuid.uuid4().hex[:10]}"
    base = messaging.http_url("messaging")
    evil = '<img src=x onerror="alert(1)">'
    token = link_signer(messaging).sign({"k": "u", "w": ws, "m": "m1", "p": "p-evil", "ch": evil, "g": "<b>sale</b>"})

    page = httpx.get(f"{base}/t/u/{token}")
    assert page.status_code == 200 and 'method="post"' in page.text
    assert "<img" not in page.text and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page.text
    assert "<b>" not in page.text
    assert db["unsubscribes"].find_one({"_id": f"{ws}|p-evil"}) is None, "a GET (a link scanner) unsubscribed"

    done = httpx.post(f"{base}/t/u/{token}", content="List-Unsubscribe=One-Click")
    assert done.status_code == 200 and "<img" not in done.text
    assert db["unsubscribes"].find_one({"_id": f"{ws}|p-evil"})["opted_out"] == [f"{evil}|<b>sale</b>"]


def test_emails_carry_one_click_unsubscribe_headers():
    links = Links(Signer(Keyring.parse(KEY_A), SystemClock()), "https://t.shop.example")
    mail = build_email({"config": {"from": "shop@shop.example"}}, message(), links)
    assert mail["List-Unsubscribe"].startswith("<https://t.shop.example/t/u/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


# -- template budgets -----------------------------------------------------------------------------
LOOP = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        (LOOP, "took too long"),
        ("{{ 'x' * 20000000 }}", "longer than"),
        ("{% for i in range(99999) %}{{ 'xx' }}{% endfor %}", "longer than 1000"),
        ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "longer"),
        ("{{ 'x'|center(1000000000) }}", "width"),
        ("{{ 'x'.ljust(1000000000) }}", "width"),
        ("{{ 9 ** 999999 }}", "too large"),
    ],
)
def test_a_render_over_its_budget_is_refused_naming_the_field(body, message_part):
    started = time.monotonic()
    with pytest.raises(InvalidInput) as err:
        render(Content(title="ok", body=body), context_of("p1", None, {}), Budget(max_output=1000, max_seconds=0.3))
    assert err.value.field == "content.body" and message_part in err.value.message
    assert time.monotonic() - started < 3


def test_a_render_within_budget_is_unchanged():
    out = render(
        Content(
            subject="{{ traits.name }}，满 {{ vars.n }} 减 10", body="{% for x in vars.fruit %}{{ x }}{% endfor %}"
        ),
        context_of("p1", {"traits": {"name": "李华"}}, {"n": 99, "fruit": ["a", "b"]}),
    )
    assert (out.subject, out.body) == ("李华，满 99 减 10", "ab")


def test_the_service_refuses_a_looping_template_and_stores_nothing(messaging, stub, db, start_service):
    start_service("profile")  # a templated send reads the person's profile
    ws = f"ws_{uuid.uuid4().hex[:10]}"
    with pytest.raises(grpc.RpcError) as err:
        stub.Render(messaging_pb2.RenderRequest(workspace_id=ws, content=messaging_pb2.Content(body=LOOP)))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "content.body" in err.value.details()

    channel(stub, ws, "inbox", "inapp")
    tpl = stub.CreateTemplate(
        messaging_pb2.Template(
            workspace_id=ws, name="loop", channel="inapp", content=messaging_pb2.Content(title="x", body=LOOP)
        )
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.Send(
            messaging_pb2.SendRequest(
                workspace_id=ws, channel="inbox", idempotency_key="loop-1", person_id="p1", template_id=tpl.id
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "took too long" in err.value.details()
    assert db["messages"].count_documents({"workspace": ws}) == 0


# -- a messaging service without the allow-list ---------------------------------------------------
@pytest.fixture(scope="module")
def guarded(stack, tmp_path_factory):
    """A messaging process with no CDP_OUTBOUND_ALLOW and rotated link keys, on its own broker and database."""
    ports = {**stack.ports, "kafka": free_port(), "messaging.http": free_port(), "messaging.grpc": free_port()}
    env = {k: v for k, v in stack.service_env.items() if k != "CDP_OUTBOUND_ALLOW"}
    other = Stack(
        tmp_path_factory.mktemp("guarded"), ports, mongo_db=f"guarded_{uuid.uuid4().hex[:8]}", service_env=env
    )
    other.start_kafka()
    other.start_service("messaging", CDP_LINK_KEYS=f"k2:{KEY_B},k1:{KEY_A}", CDP_LINK_SECRET="")
    yield other
    other.stop()


def test_without_the_allow_list_local_destinations_are_refused_at_save_and_at_send(guarded):
    stub = grpc_stub(guarded, "messaging", messaging_pb2_grpc.MessagingServiceStub)
    ws = f"ws_{uuid.uuid4().hex[:10]}"
    sink = ProviderServer()
    port = sink.url.rsplit(":", 1)[1]
    try:
        for url in (
            f"http://127.0.0.1:{port}/{ws}",
            "http://169.254.169.254/latest/meta-data/",
            f"http://[::1]:{port}/{ws}",
            f"http://[::ffff:127.0.0.1]:{port}/{ws}",
        ):
            with pytest.raises(grpc.RpcError) as err:
                channel(stub, ws, "hook", "webhook", url=url)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, url
            assert "config.url" in err.value.details() and "public addresses" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            channel(stub, ws, "mail", "email", host="127.0.0.1", port=6380, **{"from": "a@shop.example"})
        assert "config.host" in err.value.details()

        # A name is saved; what it resolves to (127.0.0.1) is refused when the message goes out.
        channel(stub, ws, "hook", "webhook", url=f"http://localhost:{port}/{ws}")
        no_quiet_hours(stub, ws)
        msg = stub.Send(
            messaging_pb2.SendRequest(
                workspace_id=ws,
                channel="hook",
                idempotency_key="ssrf-1",
                person_id="p1",
                category="transactional",
                content=messaging_pb2.Content(title="t", body="b"),
            )
        )
        done = settled(stub, ws, msg.id, timeout=60)
        assert done.status == "failed", done
        assert "destination refused" in done.status_reason and "loopback" in done.status_reason
        assert sink.requests == [], "a connection reached the local sink"
    finally:
        sink.close()


def test_the_service_verifies_tokens_of_every_listed_key_and_no_other(guarded):
    base = guarded.http_url("messaging")
    clock = SystemClock()
    payload = {"k": "c", "w": "ws", "m": "m1", "u": "https://shop.example/"}
    by_old_key = Signer(Keyring.parse(f"k1:{KEY_A}"), clock).sign(payload)
    by_unknown = Signer(Keyring.parse(f"k9:{KEY_A}"), clock).sign(payload)
    assert httpx.get(f"{base}/t/c/{by_old_key}", follow_redirects=False).status_code == 302
    assert httpx.get(f"{base}/t/c/{by_unknown}", follow_redirects=False).status_code == 400


# -- credentials in channel settings ---------------------------------------------------
def test_channel_credentials_are_stored_but_never_answered_back(messaging, stub, db):
    from google.protobuf.struct_pb2 import Struct

    from tests.helpers import graphql

    ws = f"ws_{uuid.uuid4().hex[:10]}"
    config = Struct()
    config.update({"endpoint": "https://sms.example.com", "api_key": "sk-live-canary-123", "sender": "SHOP"})
    answer = stub.UpsertChannel(messaging_pb2.Channel(workspace_id=ws, name="sms", type="sms", config=config))
    assert answer.config["api_key"] == "********"
    assert "sk-live-canary-123" not in str(answer)
    stored = db["channels"].find_one({"workspace": ws, "name": "sms"})
    assert stored["config"]["api_key"] == "sk-live-canary-123"

    url = messaging.http_url("messaging") + "/graphql"
    mutation = 'mutation($c: JSON!) { upsertChannel(name: "mail", type: "email", config: $c) { config } }'
    sent = {
        "host": "smtp.example.com",
        "port": 587,
        "from": "shop@example.com",
        "username": "u",
        "password": "pw-canary",
    }
    body = graphql(url, ws, mutation, {"c": sent})
    assert body["data"]["upsertChannel"]["config"]["password"] == "********", body
    assert "pw-canary" not in json.dumps(body)

    # Sending back what was answered (the mask) keeps the stored credential; a mask with nothing stored is refused.
    body = graphql(url, ws, mutation, {"c": {**sent, "password": "********", "username": "u2"}})
    assert "errors" not in body, body
    stored = db["channels"].find_one({"workspace": ws, "name": "mail"})
    assert stored["config"]["password"] == "pw-canary" and stored["config"]["username"] == "u2"
    fresh = mutation.replace('"mail"', '"mail2"')
    body = graphql(url, ws, fresh, {"c": {**sent, "password": "********"}})
    assert body["errors"][0]["extensions"]["field"] == "config.password", body
    assert db["channels"].find_one({"workspace": ws, "name": "mail2"}) is None


def test_webhook_key_is_listed_masked_kept_on_a_masked_save_and_sent_as_bearer(messaging, db):
    from services.messaging.channel_types import webhook as webhook_type
    from tests.helpers import graphql

    ws = f"ws_{uuid.uuid4().hex[:10]}"
    url = messaging.http_url("messaging") + "/graphql"
    mutation = 'mutation($c: JSON!) { upsertChannel(name: "hook", type: "webhook", config: $c) { config } }'
    body = graphql(url, ws, mutation, {"c": {"url": "https://hooks.example.com/cdp", "api_key": "wh-canary-1"}})
    assert body["data"]["upsertChannel"]["config"]["api_key"] == "********", body
    listed = graphql(url, ws, "{ channels { name type config } }")
    assert listed["data"]["channels"] == [
        {
            "name": "hook",
            "type": "webhook",
            "config": {"url": "https://hooks.example.com/cdp", "idempotent": False, "api_key": "********"},
        }
    ], listed
    assert "wh-canary-1" not in json.dumps(listed)

    # What a console sends back after showing the channel: the mask, another setting changed.
    again = {"url": "https://hooks.example.com/cdp2", "api_key": "********", "idempotent": True}
    assert "errors" not in graphql(url, ws, mutation, {"c": again})
    stored = db["channels"].find_one({"workspace": ws, "name": "hook"})
    assert stored["config"] == {"url": "https://hooks.example.com/cdp2", "api_key": "wh-canary-1", "idempotent": True}
    call = webhook_type.request(stored, MessageView.of(
            {"workspace": ws, "_id": "m1", "person_id": "p1", "channel": "hook", "idempotency_key": "k", "status": "sending"}
        ), "")
    assert call.headers["Authorization"] == "Bearer wh-canary-1"

"""Provider adapters that speak HTTP: webhook, SMS, app push and WeChat template messages.

Each adapter turns a message into its provider's request at the channel's
configured endpoint and maps the answer to an Outcome the pipeline acts on:
- 2xx: sent (the provider's message id kept for delivery receipts);
- 429 and 5xx: retry (429 after the provider's Retry-After);
- any other 4xx: failed at once, retrying cannot help;
- no connection: retry (nothing left this machine);
- a timeout after the request went out: retry only when the provider honours
  the idempotency key we pass (it drops the repeat), else "unknown": the
  message is never sent blindly a second time.

The client is aiohttp, not httpx: against the same local sink, httpx's
AsyncClient managed about 100 requests/s with 64 in flight (400/s with 16) on
this machine, aiohttp about 4,400/s (bench/README.md), and a worker is only as
fast as its provider calls.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from services.kit import tracing
from services.messaging.channels import PUSH, SMS, WEBHOOK, WECHAT, honours_keys
from services.messaging.messages import FAILED, SENT, UNKNOWN
from services.messaging.views import MessageView

RETRY = "retry"
MAX_REASON = 300
# Failures that happen before any byte of the request left: the receiver has nothing.
NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, aiohttp.InvalidURL)
# WeChat answers HTTP 200 with an errcode; these mean "too fast / busy", worth retrying.
WECHAT_RETRY_CODES = {-1, 45009, 45047}


@dataclass
class Outcome:
    status: str
    reason: str = ""
    retry_after: float | None = None
    provider_id: str = ""
    # In-app messages are in the inbox the moment they are stored.
    delivered: bool = False


class Provider(Protocol):
    async def deliver(self, channel: dict, message: MessageView) -> Outcome: ...


def retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass
class Reply:
    """A provider's answer, read in full while its connection was held."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.content)


def _provider_id(response: Reply) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        for key in ("id", "messageId", "message_id", "msgid"):
            if body.get(key) is not None:
                return str(body[key])[:200]
    return ""


async def post(
    client: aiohttp.ClientSession, channel: dict, url: str, body: dict, message: MessageView, headers=None, check=None
) -> Outcome:
    """One provider call with the outcome rules of this module; `check` reads a 2xx body."""
    what = channel["type"]
    headers = {"Idempotency-Key": message.idempotency_key, **tracing.outgoing_headers(), **(headers or {})}
    try:
        async with client.post(url, json=body, headers=headers, allow_redirects=False) as answer:
            response = Reply(answer.status, answer.headers, await answer.read())
    except NOT_SENT as exc:
        return Outcome(RETRY, f"{what} unreachable: {type(exc).__name__}: {exc}"[:MAX_REASON])
    except (TimeoutError, aiohttp.ClientError) as exc:
        # A total timeout or a dropped connection after the request went out: the provider may have it.
        reason = f"{what} outcome unknown: {type(exc).__name__}: {exc}"[:MAX_REASON]
        return Outcome(RETRY if honours_keys(channel) else UNKNOWN, reason)
    code = response.status_code
    if 200 <= code < 300:
        return check(response) if check else Outcome(SENT, provider_id=_provider_id(response))
    reason = f"{what} answered HTTP {code}: {response.text[:200]}"[:MAX_REASON]
    if code == 429:
        return Outcome(RETRY, reason, retry_after_seconds(response.headers.get("retry-after"), dt.datetime.now(dt.UTC)))
    if code >= 500:
        return Outcome(RETRY, reason, retry_after_seconds(response.headers.get("retry-after"), dt.datetime.now(dt.UTC)))
    return Outcome(FAILED, reason)


def webhook_payload(message: MessageView, receipt_url: str = "") -> dict:
    content = message.content
    return {
        "receiptUrl": receipt_url,
        "messageId": message.id,
        "workspaceId": message.workspace,
        "personId": message.person_id,
        "channel": message.channel,
        "idempotencyKey": message.idempotency_key,
        "content": {
            "subject": content.subject,
            "title": content.title,
            "body": content.body,
            "deepLink": content.deep_link,
            "data": content.data,
        },
        "category": message.category,
    }


def http_session(timeout: float, connections: int = 512) -> aiohttp.ClientSession:
    """The shared pool of the HTTP adapters (create it inside the running event loop).

    Cookies are not kept (one provider's must not reach another workspace's
    calls) and redirects are not followed (a 3xx is the provider's answer).
    """
    # Getting a connection (the wait for a free one in the pool included) gets half the time, so
    # that a call that never left (a full pool, a provider's full accept queue) fails as "not sent"
    # (aiohttp's ConnectionTimeoutError: retried) rather than as an unknown outcome at the deadline.
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout, connect=timeout / 2, sock_connect=timeout / 2),
        connector=aiohttp.TCPConnector(limit=connections, limit_per_host=0),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class HttpProviders:
    """The four HTTP adapters over one shared connection pool.

    Every call carries where the provider can post its delivery receipt for the
    message: the `X-Receipt-Url` header on all four, and `receiptUrl` in the
    webhook, SMS and push bodies (with `messageId` / `reference` naming the
    message to put in the receipt).
    """

    def __init__(self, client: aiohttp.ClientSession, receipt_url=None) -> None:
        self.client = client
        # (workspace, channel name) -> the channel's receipt URL; None: no receipts offered.
        self.receipt_url = receipt_url or (lambda workspace, channel: "")

    async def deliver(self, channel: dict, message: MessageView) -> Outcome:
        kind, config, c = channel["type"], channel["config"], message.content
        receipt = self.receipt_url(message.workspace, message.channel)
        auth = {"Authorization": f"Bearer {config['api_key']}"} if config.get("api_key") else {}
        if receipt:
            auth["X-Receipt-Url"] = receipt
        if kind == WEBHOOK:
            return await post(self.client, channel, config["url"], webhook_payload(message, receipt), message, auth)
        base = config["endpoint"].rstrip("/")
        if kind == SMS:
            body = {
                "to": message.to,
                "text": c.body,
                "sender": config.get("sender", ""),
                "reference": message.id,
                "receiptUrl": receipt,
            }
            return await post(self.client, channel, f"{base}/sms/send", body, message, auth)
        if kind == PUSH:
            body = {
                "token": message.to,
                "title": c.title,
                "body": c.body,
                "deepLink": c.deep_link,
                "data": c.data,
                "reference": message.id,
                "receiptUrl": receipt,
            }
            return await post(self.client, channel, f"{base}/push/send", body, message, auth)
        if kind == WECHAT:
            return await self._wechat(channel, message, auth)
        return Outcome(FAILED, f"channel type {kind!r} is not an HTTP provider")

    async def _wechat(self, channel: dict, message: MessageView, headers: dict) -> Outcome:
        """WeChat Official Account template message (cgi-bin/message/template/send).

        Template fields come from content.data ({"first": "...", "keyword1": ...});
        title and body fill `first` and `remark` when data does not.
        """
        config, c = channel["config"], message.content
        fields = {k: {"value": v if isinstance(v, str) else str(v)} for k, v in (c.data or {}).items()}
        fields.setdefault("first", {"value": c.title})
        fields.setdefault("remark", {"value": c.body})
        body = {"touser": message.to, "template_id": config["template_id"], "url": c.deep_link, "data": fields}
        token = config.get("access_token", "")
        url = f"{config['endpoint'].rstrip('/')}/cgi-bin/message/template/send?access_token={token}"
        headers = {k: v for k, v in headers.items() if k != "Authorization"}
        return await post(self.client, channel, url, body, message, headers, check=wechat_outcome)


def wechat_outcome(response: Reply) -> Outcome:
    """WeChat reports errors in the body of an HTTP 200."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = int(body.get("errcode", 0) or 0)
    if code == 0:
        return Outcome(SENT, provider_id=str(body.get("msgid", "")))
    reason = f"wechat errcode {code}: {body.get('errmsg', '')}"[:MAX_REASON]
    return Outcome(RETRY if code in WECHAT_RETRY_CODES else FAILED, reason)

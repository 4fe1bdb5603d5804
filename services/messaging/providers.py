"""What a provider is, and the HTTP call every HTTP channel type makes (webhook, SMS, push, WeChat).

Each HTTP type (channel_types/) turns a message into its provider's request
at the channel's configured endpoint; the answer maps to an Outcome the
pipeline acts on:
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
import http
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from services.kit import tracing
from services.kit.netguard import OutboundGuard, OutboundRefused
from services.messaging.channel_settings import honours_keys
from services.messaging.messages import FAILED, SENT, UNKNOWN
from services.messaging.views import MessageView

RETRY = "retry"
MAX_REASON = 300
# What of a provider's own words may reach a status reason: letters, digits and plain punctuation.
UNSAFE = re.compile(r"[^A-Za-z0-9 _.,:;()/'-]+")
# Failures that happen before any byte of the request left: the receiver has nothing.
NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, aiohttp.InvalidURL)


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


def sanitised(text: str, limit: int = 80) -> str:
    """A provider's short message (an SMTP reply line, a WeChat errmsg) cut down to plain, bounded text."""
    return " ".join(UNSAFE.sub(" ", text or "").split())[:limit]


def http_reason(what: str, code: int) -> str:
    """The status reason of a non-2xx answer: the status and its standard phrase, never the reply body.

    Bodies can carry anything (another service's data when a URL points where it should not, personal
    data echoed back); the reason is shown to operators and kept with the message.
    """
    try:
        phrase = http.HTTPStatus(code).phrase
    except ValueError:
        phrase = "non-standard status"
    return f"{what} answered HTTP {code} {phrase}"


def refused(exc: BaseException) -> OutboundRefused | None:
    """The guard's refusal behind a connector error, if that is what stopped the call."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OutboundRefused):
            return exc
        inner = getattr(exc, "os_error", None)
        exc = inner if isinstance(inner, BaseException) and inner is not exc else exc.__cause__
        seen += 1
    return None


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
        blocked = refused(exc)
        if blocked is not None:
            # Retrying cannot help: the channel names a destination this service does not call.
            return Outcome(FAILED, f"{what} destination refused: {blocked}"[:MAX_REASON])
        return Outcome(RETRY, f"{what} unreachable: {type(exc).__name__}: {exc}"[:MAX_REASON])
    except (TimeoutError, aiohttp.ClientError) as exc:
        # A total timeout or a dropped connection after the request went out: the provider may have it.
        reason = f"{what} outcome unknown: {type(exc).__name__}: {exc}"[:MAX_REASON]
        return Outcome(RETRY if honours_keys(channel) else UNKNOWN, reason)
    code = response.status_code
    if 200 <= code < 300:
        return check(response) if check else Outcome(SENT, provider_id=_provider_id(response))
    reason = http_reason(what, code)
    if code == 429:
        return Outcome(RETRY, reason, retry_after_seconds(response.headers.get("retry-after"), dt.datetime.now(dt.UTC)))
    if code >= 500:
        return Outcome(RETRY, reason, retry_after_seconds(response.headers.get("retry-after"), dt.datetime.now(dt.UTC)))
    return Outcome(FAILED, reason)


def http_session(timeout: float, guard: OutboundGuard, connections: int = 512) -> aiohttp.ClientSession:
    """The shared pool of the HTTP adapters (create it inside the running event loop).

    Cookies are not kept (one provider's must not reach another workspace's
    calls) and redirects are not followed (a 3xx is the provider's answer).
    Every connection goes through the outbound guard: names resolve through
    its resolver, and its socket factory checks the address connected to.
    """
    # Getting a connection (the wait for a free one in the pool included) gets half the time, so
    # that a call that never left (a full pool, a provider's full accept queue) fails as "not sent"
    # (aiohttp's ConnectionTimeoutError: retried) rather than as an unknown outcome at the deadline.
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout, connect=timeout / 2, sock_connect=timeout / 2),
        connector=aiohttp.TCPConnector(
            limit=connections, limit_per_host=0, resolver=guard.resolver(), socket_factory=guard.socket_factory
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def auth_headers(config: dict, receipt: str) -> dict[str, str]:
    """The channel's API key as a Bearer token, and where its provider can post the receipt."""
    headers = {"Authorization": f"Bearer {config['api_key']}"} if config.get("api_key") else {}
    if receipt:
        headers["X-Receipt-Url"] = receipt
    return headers


@dataclass
class HttpRequest:
    """The call an HTTP channel type makes for one message; `check` reads a 2xx answer's body."""

    url: str
    body: dict
    headers: dict[str, str] = field(default_factory=dict)
    check: Callable[[Reply], Outcome] | None = None


class HttpProvider:
    """An HTTP channel type's adapter over the shared connection pool.

    `request(channel, message, receipt_url)` builds the call; every call is told
    where the provider can post its delivery receipt for the message (the
    `X-Receipt-Url` header from auth_headers, and in the body where the type's
    API has a place for it).
    """

    def __init__(
        self,
        client: aiohttp.ClientSession,
        request: Callable[[dict, MessageView, str], HttpRequest],
        receipt_url: Callable[[str, str], str] | None = None,
    ) -> None:
        self.client = client
        self.request = request
        # (workspace, channel name) -> the channel's receipt URL; None: no receipts offered.
        self.receipt_url = receipt_url or (lambda workspace, channel: "")

    async def deliver(self, channel: dict, message: MessageView) -> Outcome:
        call = self.request(channel, message, self.receipt_url(message.workspace, message.channel))
        return await post(self.client, channel, call.url, call.body, message, call.headers, call.check)

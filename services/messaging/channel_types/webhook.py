"""webhook: one POST of the whole message (JSON) per message to the channel's `url`.

With `api_key`, the POST carries it as a Bearer token."""

from __future__ import annotations

from services.messaging import channel_settings as setting
from services.messaging.channel_types import ChannelType, ProviderDeps
from services.messaging.providers import HttpProvider, HttpRequest, auth_headers
from services.messaging.views import MessageView


def check(config: dict) -> dict:
    out = {"url": setting.url(config, "url"), "idempotent": setting.flag(config, "idempotent")}
    # The receiver's way to tell the suite's calls from anyone else's (optional, a credential).
    if "api_key" in config:
        out["api_key"] = setting.text(config, "api_key")
    return out


def payload(message: MessageView, receipt_url: str = "") -> dict:
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


def request(channel: dict, message: MessageView, receipt: str) -> HttpRequest:
    config = channel["config"]
    return HttpRequest(config["url"], payload(message, receipt), auth_headers(config, receipt))


def provider(deps: ProviderDeps) -> HttpProvider:
    return HttpProvider(deps.http, request, deps.receipt_url)


TYPE = ChannelType(
    name="webhook",
    settings=("url", "api_key", "idempotent"),
    secrets=("api_key",),
    check=check,
    provider=provider,
    example={"url": "https://hooks.example.com/cdp", "idempotent": True},
    destinations=("url",),
)

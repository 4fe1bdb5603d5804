"""webhook: one POST of the whole message (JSON) per message to the channel's `url`."""

from __future__ import annotations

from services.messaging import channel_settings as setting
from services.messaging.channel_types import ChannelType, ProviderDeps
from services.messaging.providers import HttpProvider, HttpRequest, auth_headers
from services.messaging.views import MessageView


def check(config: dict) -> dict:
    return {"url": setting.url(config, "url"), "idempotent": setting.flag(config, "idempotent")}


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
    settings=("url", "idempotent"),
    check=check,
    provider=provider,
    example={"url": "https://hooks.example.com/cdp", "idempotent": True},
    destinations=("url",),
)

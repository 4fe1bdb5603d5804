"""push: POST <endpoint>/push/send {token, title, body, deepLink, data, reference, receiptUrl}."""

from __future__ import annotations

from services.messaging import channel_settings as setting
from services.messaging.channel_types import ChannelType, ProviderDeps
from services.messaging.providers import HttpProvider, HttpRequest, auth_headers
from services.messaging.views import MessageView


def check(config: dict) -> dict:
    out = {"endpoint": setting.url(config, "endpoint")}
    if "api_key" in config:
        out["api_key"] = setting.text(config, "api_key")
    out["idempotent"] = setting.flag(config, "idempotent")
    return out


def request(channel: dict, message: MessageView, receipt: str) -> HttpRequest:
    config, c = channel["config"], message.content
    body = {
        "token": message.to,
        "title": c.title,
        "body": c.body,
        "deepLink": c.deep_link,
        "data": c.data,
        "reference": message.id,
        "receiptUrl": receipt,
    }
    return HttpRequest(f"{config['endpoint'].rstrip('/')}/push/send", body, auth_headers(config, receipt))


def provider(deps: ProviderDeps) -> HttpProvider:
    return HttpProvider(deps.http, request, deps.receipt_url)


TYPE = ChannelType(
    name="push",
    settings=("endpoint", "api_key", "idempotent"),
    secrets=("api_key",),
    check=check,
    provider=provider,
    example={"endpoint": "https://push.example.com", "api_key": "k", "idempotent": True},
    address_trait="push_token",
    template_fields=("title", "body"),
    destinations=("endpoint",),
)

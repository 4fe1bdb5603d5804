"""sms: POST <endpoint>/sms/send {to, text, sender, reference, receiptUrl}, the API key as a Bearer token."""

from __future__ import annotations

from services.messaging import channel_settings as setting
from services.messaging.channel_types import ChannelType, ProviderDeps
from services.messaging.providers import HttpProvider, HttpRequest, auth_headers
from services.messaging.views import MessageView


def check(config: dict) -> dict:
    out = {"endpoint": setting.url(config, "endpoint")}
    for key in ("api_key", "sender"):
        if key in config:
            out[key] = setting.text(config, key)
    out["idempotent"] = setting.flag(config, "idempotent")
    return out


def request(channel: dict, message: MessageView, receipt: str) -> HttpRequest:
    config = channel["config"]
    body = {
        "to": message.to,
        "text": message.content.body,
        "sender": config.get("sender", ""),
        "reference": message.id,
        "receiptUrl": receipt,
    }
    return HttpRequest(f"{config['endpoint'].rstrip('/')}/sms/send", body, auth_headers(config, receipt))


def provider(deps: ProviderDeps) -> HttpProvider:
    return HttpProvider(deps.http, request, deps.receipt_url)


TYPE = ChannelType(
    name="sms",
    settings=("endpoint", "api_key", "sender", "idempotent"),
    secrets=("api_key",),
    check=check,
    provider=provider,
    example={"endpoint": "https://sms.example.com", "api_key": "k", "sender": "SHOP"},
    address_trait="phone",
    template_fields=("body",),
    destinations=("endpoint",),
)

"""email: real SMTP (smtp.py) with tracked links, an open pixel and an unsubscribe link."""

from __future__ import annotations

from services.kit.errors import InvalidInput
from services.messaging import channel_settings as setting
from services.messaging.channel_types import ChannelType, ProviderDeps
from services.messaging.smtp import SmtpProvider


def check(config: dict) -> dict:
    out = {"host": setting.text(config, "host", required=True), "port": setting.port(config, "port", 25)}
    sender = setting.text(config, "from", required=True)
    if "@" not in sender:
        raise InvalidInput("config.from must be an email address", "config.from")
    out["from"] = sender
    for key in ("username", "password"):
        if key in config:
            out[key] = setting.text(config, key)
    out["starttls"] = setting.flag(config, "starttls")
    if "tracking_base" in config:
        out["tracking_base"] = setting.url(config, "tracking_base")
    return out


def provider(deps: ProviderDeps) -> SmtpProvider:
    return SmtpProvider(deps.links, deps.guard, deps.timeout)


TYPE = ChannelType(
    name="email",
    settings=("host", "port", "from", "username", "password", "starttls", "tracking_base"),
    secrets=("password",),
    check=check,
    provider=provider,
    example={"host": "smtp.example.com", "port": 587, "from": "shop@example.com", "starttls": True},
    address_trait="email",
    template_fields=("subject", "body"),
    destinations=("host",),
)

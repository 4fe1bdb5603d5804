"""Channel definitions: which ways to reach people exist and what each needs. Pure, no I/O.

A channel is {workspace, name, type, config}; sends name a channel so that
provider settings (URLs, credentials) live in one place per workspace.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from services.kit.documents import check_keys
from services.kit.errors import InvalidInput

WEBHOOK = "webhook"
# Types the contract names; only those in DELIVERABLE have a provider yet.
KNOWN_TYPES = (WEBHOOK, "email", "sms", "push", "wechat", "inapp")
DELIVERABLE = (WEBHOOK,)
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_URL_LENGTH = 2048


def validate_channel(name: str, type_: str, config: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The (name, type, config) to store, or InvalidInput naming the failing field."""
    name, type_ = name.strip(), type_.strip().lower()
    if not NAME.match(name):
        raise InvalidInput("channel name must be 1-64 letters, digits, '_', '.' or '-'", "name")
    if not type_:
        raise InvalidInput("channel type is required", "type")
    if type_ not in DELIVERABLE:
        raise InvalidInput(f"channel type {type_!r} is not supported yet", "type")
    check_keys(config, "config")
    return name, type_, webhook_config(config)


def webhook_config(config: dict[str, Any]) -> dict[str, Any]:
    # Unknown settings are refused rather than ignored, so a typo is not silently lost.
    for key in config:
        if key != "url":
            raise InvalidInput(f"config.{key} is not a webhook setting (only url is)", f"config.{key}")
    url = config.get("url")
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("config.url is required for a webhook channel", "config.url")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"config.url is longer than {MAX_URL_LENGTH} characters", "config.url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InvalidInput("config.url is not a valid URL", "config.url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("config.url must be an http:// or https:// URL with a host", "config.url")
    return {"url": url}

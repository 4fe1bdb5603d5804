"""Channel definitions: which ways to reach people exist and what each needs. Pure, no I/O.

A channel is {workspace, name, type, config}; sends name a channel so that
provider settings (endpoints, credentials, rate limits) live in one place per
workspace. Every type takes `rate` (messages per second) and `burst` for its
provider rate limit and `max_attempts` to override the service's retry
limit; the HTTP types take `idempotent`: true when the receiver honours the
Idempotency-Key header, which lets the pipeline retry a timed-out call and
re-send a message a crash left "sending" (the receiver drops the repeat).
Without it such messages end as "unknown", never re-sent.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from services.kit.documents import check_keys
from services.kit.errors import InvalidInput

WEBHOOK = "webhook"
EMAIL = "email"
SMS = "sms"
PUSH = "push"
WECHAT = "wechat"
INAPP = "inapp"
KNOWN_TYPES = (WEBHOOK, EMAIL, SMS, PUSH, WECHAT, INAPP)
DELIVERABLE = KNOWN_TYPES
# Which profile trait holds the address a channel type sends to.
ADDRESS_TRAIT = {EMAIL: "email", SMS: "phone", PUSH: "push_token", WECHAT: "wechat_openid"}
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_URL_LENGTH = 2048
MAX_RATE = 1_000_000.0

COMMON = {"rate", "burst", "max_attempts"}
MAX_ATTEMPTS = 100
SETTINGS = {
    WEBHOOK: {"url", "idempotent"} | COMMON,
    SMS: {"endpoint", "api_key", "sender", "idempotent"} | COMMON,
    PUSH: {"endpoint", "api_key", "idempotent"} | COMMON,
    WECHAT: {"endpoint", "access_token", "template_id", "idempotent"} | COMMON,
    EMAIL: {"host", "port", "from", "username", "password", "starttls", "tracking_base"} | COMMON,
    INAPP: set(COMMON),
}


def validate_channel(name: str, type_: str, config: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The (name, type, config) to store, or InvalidInput naming the failing field."""
    name, type_ = name.strip(), type_.strip().lower()
    if not NAME.match(name):
        raise InvalidInput("channel name must be 1-64 letters, digits, '_', '.' or '-'", "name")
    if not type_:
        raise InvalidInput("channel type is required", "type")
    if type_ not in DELIVERABLE:
        raise InvalidInput(f"channel type must be one of {', '.join(KNOWN_TYPES)}", "type")
    check_keys(config, "config")
    # Unknown settings are refused rather than ignored, so a typo is not silently lost.
    for key in config:
        if key not in SETTINGS[type_]:
            allowed = ", ".join(sorted(SETTINGS[type_]))
            raise InvalidInput(f"config.{key} is not a {type_} setting (allowed: {allowed})", f"config.{key}")
    out: dict[str, Any] = _rate(config)
    if type_ == WEBHOOK:
        out["url"] = _url(config, "url", required=True)
    elif type_ in (SMS, PUSH, WECHAT):
        out["endpoint"] = _url(config, "endpoint", required=True)
        for key in ("api_key", "sender", "access_token", "template_id"):
            if key in SETTINGS[type_] and key in config:
                out[key] = _text(config, key)
        if type_ == WECHAT and not out.get("template_id"):
            raise InvalidInput("config.template_id (the WeChat template) is required", "config.template_id")
    elif type_ == EMAIL:
        out["host"] = _text(config, "host", required=True)
        port = config.get("port", 25)
        if isinstance(port, bool) or not isinstance(port, (int, float)) or not 0 < int(port) < 65536:
            raise InvalidInput("config.port must be a TCP port number", "config.port")
        out["port"] = int(port)
        sender = _text(config, "from", required=True)
        if "@" not in sender:
            raise InvalidInput("config.from must be an email address", "config.from")
        out["from"] = sender
        for key in ("username", "password"):
            if key in config:
                out[key] = _text(config, key)
        out["starttls"] = _flag(config, "starttls")
        if "tracking_base" in config:
            out["tracking_base"] = _url(config, "tracking_base", required=True)
    if "idempotent" in SETTINGS[type_]:
        out["idempotent"] = _flag(config, "idempotent")
    return name, type_, out


def honours_keys(channel: dict) -> bool:
    return bool(channel.get("config", {}).get("idempotent"))


def _flag(config: dict, key: str) -> bool:
    value = config.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"config.{key} must be true or false", f"config.{key}")
    return value


def _text(config: dict, key: str, required: bool = False) -> str:
    value = config.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"config.{key} must be a non-empty string", f"config.{key}")
    if len(value) > 1024:
        raise InvalidInput(f"config.{key} is longer than 1024 characters", f"config.{key}")
    return value.strip()


def _rate(config: dict) -> dict:
    out: dict[str, Any] = {}
    if "rate" in config:
        rate = config["rate"]
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= MAX_RATE:
            raise InvalidInput(
                f"config.rate must be a number of messages per second in (0, {MAX_RATE:.0f}]", "config.rate"
            )
        out["rate"] = float(rate)
    if "burst" in config:
        burst = config["burst"]
        if isinstance(burst, bool) or not isinstance(burst, (int, float)) or int(burst) != burst or burst < 1:
            raise InvalidInput("config.burst must be a whole number of at least 1", "config.burst")
        if "rate" not in out:
            raise InvalidInput("config.burst needs config.rate", "config.burst")
        out["burst"] = int(burst)
    elif "rate" in out:
        out["burst"] = 1
    if "max_attempts" in config:
        attempts = config["max_attempts"]
        # Struct numbers arrive as floats: a whole 40.0 is 40.
        if isinstance(attempts, bool) or not isinstance(attempts, (int, float)) or int(attempts) != attempts:
            raise InvalidInput("config.max_attempts must be a whole number", "config.max_attempts")
        attempts = int(attempts)
        if not 1 <= attempts <= MAX_ATTEMPTS:
            raise InvalidInput(
                f"config.max_attempts must be a whole number from 1 to {MAX_ATTEMPTS}", "config.max_attempts"
            )
        out["max_attempts"] = attempts
    return out


def _url(config: dict, key: str, required: bool) -> str:
    url = config.get(key)
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput(f"config.{key} is required", f"config.{key}")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"config.{key} is longer than {MAX_URL_LENGTH} characters", f"config.{key}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InvalidInput(f"config.{key} is not a valid URL", f"config.{key}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"config.{key} must be an http:// or https:// URL with a host", f"config.{key}")
    return url

"""Checks of one channel setting each, naming the failing field (`config.<key>`). Pure, no I/O.

Every channel type takes the common settings: `rate` (messages per second)
and `burst` for its provider rate limit and `max_attempts` to override the
service's retry limit. The HTTP types also take `idempotent`: true when the
receiver honours the Idempotency-Key header, which lets the pipeline retry a
timed-out call and re-send a message a crash left "sending" (the receiver
drops the repeat). Without it such messages end as "unknown", never re-sent.
The type modules in channel_types/ check their own settings with these.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from services.kit.errors import InvalidInput

COMMON = ("rate", "burst", "max_attempts")
MAX_URL_LENGTH = 2048
MAX_TEXT_LENGTH = 1024
MAX_RATE = 1_000_000.0
MAX_ATTEMPTS = 100


def honours_keys(channel: dict) -> bool:
    """Whether the channel's receiver drops a repeat of an Idempotency-Key (the `idempotent` setting)."""
    return bool(channel.get("config", {}).get("idempotent"))


def flag(config: dict, key: str) -> bool:
    value = config.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"config.{key} must be true or false", f"config.{key}")
    return value


def text(config: dict, key: str, required: bool = False) -> str:
    value = config.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"config.{key} must be a non-empty string", f"config.{key}")
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"config.{key} is longer than {MAX_TEXT_LENGTH} characters", f"config.{key}")
    return value.strip()


def port(config: dict, key: str, default: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < int(value) < 65536:
        raise InvalidInput(f"config.{key} must be a TCP port number", f"config.{key}")
    return int(value)


def url(config: dict, key: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"config.{key} is required", f"config.{key}")
    value = value.strip()
    if len(value) > MAX_URL_LENGTH:
        raise InvalidInput(f"config.{key} is longer than {MAX_URL_LENGTH} characters", f"config.{key}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InvalidInput(f"config.{key} is not a valid URL", f"config.{key}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"config.{key} must be an http:// or https:// URL with a host", f"config.{key}")
    return value


def common(config: dict) -> dict[str, Any]:
    """The stored values of the settings every type takes (rate, burst, max_attempts)."""
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

"""Channel definitions: which ways to reach people exist and what each needs. Pure, no I/O.

A channel is {workspace, name, type, config}; sends name a channel so that
provider settings (endpoints, credentials, rate limits) live in one place per
workspace. What each type takes is declared by its module in channel_types/;
the settings every type takes are in channel_settings.py.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from services.kit.documents import check_keys
from services.kit.errors import InvalidInput
from services.kit.netguard import OutboundGuard
from services.messaging import channel_settings
from services.messaging.channel_settings import honours_keys  # noqa: F401 (reconcile.py reads it from here)
from services.messaging.channel_types import TYPES

KNOWN_TYPES = tuple(TYPES)
# Which profile trait holds the address a channel type sends to (types that need one).
ADDRESS_TRAIT = {t.name: t.address_trait for t in TYPES.values() if t.address_trait}
# Types named in code elsewhere: graphql_api.py's webhook shortcut, reconcile.py's inbox (keyed by message id).
WEBHOOK = TYPES["webhook"].name
INAPP = TYPES["inapp"].name
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def validate_channel(
    name: str, type_: str, config: dict[str, Any], guard: OutboundGuard
) -> tuple[str, str, dict[str, Any]]:
    """The (name, type, config) to store, or InvalidInput naming the failing field."""
    name, type_ = name.strip(), type_.strip().lower()
    if not NAME.match(name):
        raise InvalidInput("channel name must be 1-64 letters, digits, '_', '.' or '-'", "name")
    if not type_:
        raise InvalidInput("channel type is required", "type")
    kind = TYPES.get(type_)
    if kind is None:
        raise InvalidInput(f"channel type must be one of {', '.join(KNOWN_TYPES)}", "type")
    check_keys(config, "config")
    # Unknown settings are refused rather than ignored, so a typo is not silently lost.
    allowed = set(kind.settings) | set(channel_settings.COMMON)
    for key in config:
        if key not in allowed:
            names = ", ".join(sorted(allowed))
            raise InvalidInput(f"config.{key} is not a {type_} setting (allowed: {names})", f"config.{key}")
    out = channel_settings.common(config)
    out.update(kind.check(config))
    for key in kind.destinations:
        check_destination(guard, key, out.get(key, ""))
    return name, type_, out


def check_destination(guard: OutboundGuard, key: str, value: str) -> None:
    """Refuse a setting that names a private address literally (names are checked when connecting)."""
    host = (urlsplit(value).hostname or "") if "://" in value else value.strip()
    why = guard.literal_refusal(host)
    if why:
        raise InvalidInput(f"config.{key}: {host} is {why}; channels may only reach public addresses", f"config.{key}")


MASK = "********"


def shown(type_: str, config: dict[str, Any]) -> dict[str, Any]:
    """A channel's config as answered to callers: credentials replaced by a mask (set or not is still visible)."""
    secrets = TYPES[type_].secrets if type_ in TYPES else ()
    return {k: (MASK if k in secrets and v else v) for k, v in config.items()}


def masked_keys(type_: str, config: dict[str, Any]) -> list[str]:
    return [k for k in (TYPES[type_].secrets if type_ in TYPES else ()) if config.get(k) == MASK]


def keep_secrets(type_: str, config: dict[str, Any], existing: dict | None) -> dict[str, Any]:
    """A config sent back as it was answered (credentials masked) keeps the stored credentials."""
    masked = masked_keys(type_, config)
    if not masked:
        return config
    if existing is None or existing.get("type") != type_:
        raise InvalidInput(
            f"config.{masked[0]} is the mask, not a credential: send the credential", f"config.{masked[0]}"
        )
    return {**config, **{k: existing["config"].get(k) for k in masked}}

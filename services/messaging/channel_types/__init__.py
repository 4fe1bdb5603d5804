"""The channel types: one module per type in this package, each declaring `TYPE = ChannelType(...)`.

A type says everything the service needs to know about it: the settings a
channel of the type takes and how they are checked, the profile trait its
address is read from, the template fields it cannot do without, and its
provider (how a message is delivered). channels.py, templates.py and
__main__.py read the registry below; none of them names a type. Adding a
channel type is adding one module here (and its tests): the registry finds it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.messaging.providers import Provider


@dataclass(frozen=True)
class ProviderDeps:
    """What providers are built from (the service's wiring hands each type the same set)."""

    http: Any  # the shared aiohttp.ClientSession of the HTTP types (providers.http_session)
    receipt_url: Callable[[str, str], str]  # (workspace, channel name) -> where receipts are posted
    links: Any  # links.Links: tracked links and unsubscribe links (email)
    timeout: float  # seconds a provider gets to answer
    store: Any  # store.MessagingStore (the in-app inbox)
    clock: Any
    guard: Any  # kit.netguard.OutboundGuard: where a workspace's channels may connect (SMTP checks with it)


@dataclass(frozen=True)
class ChannelType:
    name: str
    # The type's own settings (besides channel_settings.COMMON), and their check: the config as
    # sent -> the values to store, or InvalidInput naming `config.<key>`. Unknown keys never reach it.
    settings: tuple[str, ...]
    check: Callable[[dict], dict[str, Any]]
    provider: Callable[[ProviderDeps], Provider]
    # Settings that pass `check`: documents the type, and the registry test validates them.
    example: dict[str, Any]
    # The profile trait holding the address a send goes to when it gives no `to` ("": none needed).
    address_trait: str = ""
    # Template content fields (messages.Content) a template of this type must fill.
    template_fields: tuple[str, ...] = ()
    # Settings naming where the service connects (a URL or a host): a literal private address in one
    # is refused when the channel is saved; every address is checked again at connect time.
    destinations: tuple[str, ...] = ()
    # Settings that are credentials: stored, used, never answered back to a caller.
    secrets: tuple[str, ...] = ()


def _discover() -> dict[str, ChannelType]:
    found: dict[str, ChannelType] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        kind = importlib.import_module(f"{__name__}.{info.name}").TYPE
        if kind.name in found:
            raise RuntimeError(f"channel type {kind.name!r} is declared twice")
        found[kind.name] = kind
    return found


# name -> type, in name order (error messages list them in this order).
TYPES: dict[str, ChannelType] = _discover()

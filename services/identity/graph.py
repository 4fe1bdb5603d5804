"""Resolving an event's identifiers to one person (ONE_ID + dense uid).

This is the foundation's linking: an identify links the anonymous id to the
user id; a user id is never attached to a person that holds another user id
(two logins = two people, however many devices they share). Merging two
existing persons, normalisation and blocked values come with the merge rules.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time

from cdp.identity.v1 import events_pb2
from services.identity.store import IdentityStore
from services.kit.errors import InvalidInput

# Highest priority first: the identifier that decides which person an event is.
PRIORITY = ("user_id", "anonymous_id", "device_id", "email", "phone", "wechat_unionid", "wechat_openid")
# Types a person holds at most one value of.
SINGLE_VALUED = {"user_id", "wechat_unionid", "phone"}

Identifier = tuple[str, str]


def new_person_id() -> str:
    """Time-ordered ONE_ID, so that the older of two persons sorts first."""
    return f"p_{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def event_identifiers(event: events_pb2.RawEvent) -> list[Identifier]:
    ids: list[Identifier] = []
    if event.user_id:
        ids.append(("user_id", event.user_id))
    if event.anonymous_id:
        ids.append(("anonymous_id", event.anonymous_id))
    ids += [(i.type, i.value) for i in event.identifiers if i.value]
    return order(ids)


def order(identifiers: list[Identifier]) -> list[Identifier]:
    seen: set[Identifier] = set()
    unique = [i for i in identifiers if not (i in seen or seen.add(i))]
    rank = {t: n for n, t in enumerate(PRIORITY)}
    return sorted(unique, key=lambda i: rank.get(i[0], len(PRIORITY)))


class Resolver:
    def __init__(self, store: IdentityStore) -> None:
        self.store = store

    async def resolve(
        self, workspace: str, identifiers: list[Identifier], now: dt.datetime, create: bool = True
    ) -> tuple[dict | None, bool]:
        """The person these identifiers belong to; (None, False) when create is off and none does."""
        identifiers = order(identifiers)
        if not identifiers:
            raise InvalidInput("at least one identifier is required", "identifiers")
        primary = identifiers[0]
        # Losing a race for an identifier means another worker just linked it:
        # read again and follow that worker's decision.
        for _ in range(8):
            owners = await self.store.owners(workspace, identifiers)
            target = owners.get(primary)
            if target is None:
                target = await self._joinable_owner(workspace, primary, identifiers[1:], owners)
                if target is None:
                    if not create:
                        return None, False
                    target = new_person_id()
                if not await self.store.claim(workspace, *primary, target, now):
                    continue
            for ident in identifiers[1:]:
                if ident not in owners and await self._may_hold(workspace, target, ident):
                    await self.store.claim(workspace, *ident, target, now)
            return await self.store.ensure_person(workspace, target, now)
        raise RuntimeError(f"identifiers of workspace {workspace} kept changing while resolving")

    async def _joinable_owner(
        self, workspace: str, primary: Identifier, others: list[Identifier], owners: dict[Identifier, str]
    ) -> str | None:
        for ident in others:
            owner = owners.get(ident)
            if owner and await self._may_hold(workspace, owner, primary):
                return owner
        return None

    async def _may_hold(self, workspace: str, person_id: str, ident: Identifier) -> bool:
        if ident[0] not in SINGLE_VALUED:
            return True
        held = await self.store.identities.find_one(
            {"workspace": workspace, "person_id": person_id, "type": ident[0]}, {"value": 1}
        )
        return held is None or held["value"] == ident[1]

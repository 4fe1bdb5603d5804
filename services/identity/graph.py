"""Resolving an event's identifiers to one person (ONE_ID + dense uid).

For each event: normalise and drop blocked identifiers (rules.py), look up who
holds them, plan within the workspace's limits (rules.plan), then merge the
persons involved into the oldest and attach the unowned identifiers to it.
A unique index on (workspace, type, value) makes racing resolvers converge:
whoever loses a claim plans again from what the winner wrote.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass

from cdp.identity.v1 import events_pb2
from services.identity.cache import IdentityCache
from services.identity.merging import IdentityGraph, StalePlan, merge_rule, older
from services.identity.rules import Identifier, Rules, plan
from services.identity.store import IdentityStore
from services.kit.errors import InvalidInput
from services.kit.protos import from_struct

RULES_CACHE_SECONDS = 30.0
MAX_ATTEMPTS = 12


def new_person_id() -> str:
    """Time-ordered ONE_ID, so that the older of two persons sorts first."""
    return f"p_{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def event_identifiers(event: events_pb2.RawEvent) -> list[tuple[str, object]]:
    """Every identifier an event carries, before normalisation.

    Besides userId/anonymousId: context.device.id, email/phone/WeChat ids in
    traits or context.traits, Segment's context.externalIds, and alias's previousId
    (as an anonymous id: the id the shopper had before).
    """
    ids: list[tuple[str, object]] = []
    if event.user_id:
        ids.append(("user_id", event.user_id))
    if event.anonymous_id:
        ids.append(("anonymous_id", event.anonymous_id))
    if event.type == "alias" and event.previous_id:
        ids.append(("anonymous_id", event.previous_id))
    context = from_struct(event.context) if event.context.fields else {}
    device = context.get("device") if isinstance(context.get("device"), dict) else {}
    if device.get("id"):
        ids.append(("device_id", device["id"]))
    for source in (from_struct(event.traits) if event.traits.fields else {}, context.get("traits") or {}):
        if not isinstance(source, dict):
            continue
        for key in ("email", "phone", "wechat_openid", "wechat_unionid"):
            if source.get(key) is not None:
                ids.append((key, source[key]))
    for ext in context.get("externalIds") or []:
        if isinstance(ext, dict) and ext.get("type") and ext.get("id") is not None:
            ids.append((str(ext["type"]), ext["id"]))
    ids += [(i.type, i.value) for i in event.identifiers]
    return ids


@dataclass(frozen=True)
class ResolveItem:
    workspace: str
    identifiers: list[tuple[str, object]]
    cause: str = ""


class Resolver:
    def __init__(self, store: IdentityStore, graph: IdentityGraph, cache: IdentityCache) -> None:
        self.store = store
        self.graph = graph
        self.cache = cache
        self._rules: dict[str, tuple[Rules, float]] = {}
        graph.rules_of = self.rules

    async def rules(self, workspace: str) -> Rules:
        cached = self._rules.get(workspace)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        rules = Rules.from_document(await self.store.rules_document(workspace))
        self._rules[workspace] = (rules, time.monotonic() + RULES_CACHE_SECONDS)
        return rules

    def forget_rules(self, workspace: str) -> None:
        """Drop the cached rules after a change (other replicas pick it up within 30 s)."""
        self._rules.pop(workspace, None)

    async def prepare(self, workspace: str, identifiers: list[tuple[str, object]]) -> list[Identifier]:
        return (await self.rules(workspace)).prepare(identifiers)

    async def resolve(
        self,
        workspace: str,
        identifiers: list[tuple[str, object]],
        now: dt.datetime,
        create: bool = True,
        cause: str = "",
    ) -> tuple[dict | None, bool]:
        """The person these identifiers belong to, merging and linking as the rules allow.

        Returns (person document, created); (None, False) when create is off and
        nobody holds any of them.
        """
        (result,) = await self.resolve_many([ResolveItem(workspace, identifiers, cause)], now, create)
        if isinstance(result, Exception):
            raise result
        return result

    async def resolve_many(
        self, items: list[ResolveItem], now: dt.datetime, create: bool = True
    ) -> list[tuple[dict | None, bool] | InvalidInput]:
        """Resolve several identifier sets in order, as resolve() would one after another.

        The common case (every identifier already cached for one person) costs one
        Redis pipeline for the whole list. Misses go through MongoDB one by one, in
        order; a miss that merged persons may have moved cached identifiers, so the
        hits of the items after it are read again. An item without a usable
        identifier gets an InvalidInput in its place instead of failing the rest.
        """
        results: list = [None] * len(items)
        prepared: dict[int, tuple[str, list[Identifier], Rules]] = {}
        for n, item in enumerate(items):
            rules = await self.rules(item.workspace)
            ids = rules.prepare(item.identifiers)
            if ids:
                prepared[n] = (item.workspace, ids, rules)
            else:
                results[n] = InvalidInput(
                    "no usable identifier: all were empty, blocked or of unknown types", "identifiers"
                )
        pending = sorted(prepared)
        while pending:
            hits = await self.cache.get_sets([prepared[n][:2] for n in pending])
            for pos, n in enumerate(pending):
                if hits[pos] is not None:
                    person_id, uid = hits[pos]
                    results[n] = ({"_id": person_id, "uid": uid, "workspace": prepared[n][0]}, False)
                    continue
                workspace, ids, rules = prepared[n]
                person, created, merged = await self._uncached(workspace, ids, rules, now, create, items[n].cause)
                results[n] = (person, created)
                if merged:
                    pending = pending[pos + 1 :]
                    break
            else:
                pending = []
        return results

    async def _uncached(self, workspace, ids, rules, now, create, cause) -> tuple[dict | None, bool, bool]:
        for _ in range(MAX_ATTEMPTS):
            try:
                result = await self._attempt(workspace, ids, rules, now, create, cause)
            except StalePlan:
                continue
            person, created, linked, merged = result
            if person is not None:
                await self.cache.set_many(workspace, linked, person["_id"], person["uid"])
            return person, created, merged
        raise RuntimeError(f"identifiers of workspace {workspace} kept changing while resolving")

    async def _attempt(self, workspace, ids, rules, now, create, cause):
        owners = await self.store.owners(workspace, ids)
        involved = sorted(set(owners.values()))
        docs = await self.store.persons_by_ids(workspace, involved)
        if len(docs) < len(involved):
            # An identifier whose person document is missing: a crash between claim
            # and person creation. Creating it now completes that resolve.
            for pid in involved:
                if pid not in docs:
                    docs[pid], _ = await self.store.ensure_person(workspace, pid, now)
        holdings = await self.store.holdings(workspace, involved)
        decided = plan(ids, owners, holdings, {p: older(d) for p, d in docs.items()}, rules)
        if not decided.persons:
            if not create:
                return None, False, [], False
            target = new_person_id()
            first, *rest = decided.attach
            if not await self.store.claim(workspace, *first, target, now):
                raise StalePlan
            attached = [first]
        else:
            target, rest, attached = decided.persons[0], decided.attach, []
        for ident in rest:
            if not await self.store.claim(workspace, *ident, target, now):
                raise StalePlan
            attached.append(ident)
        for n, loser in enumerate(decided.persons[1:]):
            linking = [i for i, p in owners.items() if p == loser]
            await self.graph.merge(
                workspace, target, loser, cause=cause, rule=merge_rule(linking), attached=attached if n == 0 else []
            )
        person, _ = await self.store.ensure_person(workspace, target, now)
        linked = [i for i in ids if i not in decided.dropped]
        # Created means this call claimed the first identifier of a new person, even if a
        # concurrent resolver that saw the claim wrote the person document first.
        return person, not decided.persons, linked, len(decided.persons) > 1

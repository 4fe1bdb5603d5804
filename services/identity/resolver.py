"""Resolving an event's identifiers to one person (ONE_ID + dense uid).

For each event: normalise and drop blocked identifiers (rules.py), look up who
holds them, plan within the workspace's limits (rules.plan), then merge the
persons involved into the oldest and attach the unowned identifiers to it.
A unique index on (workspace, type, value) makes racing resolvers converge:
whoever loses a claim plans again from what the winner wrote.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from dataclasses import dataclass

from cdp.identity.v1 import events_pb2
from services.identity import metrics as identity_metrics
from services.identity.cache import IdentityCache
from services.identity.graph import IdentityGraph, StalePlan, merge_rule, older
from services.identity.rules import Identifier, Rules, Suppressed, plan
from services.identity.rules_cache import RulesCache
from services.identity.store import IdentityStore
from services.kit.errors import InvalidInput
from services.kit.protos import from_struct

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
    def __init__(self, store: IdentityStore, graph: IdentityGraph, cache: IdentityCache, rules: RulesCache) -> None:
        self.store = store
        self.graph = graph
        self.cache = cache
        self.rules_cache = rules

    async def rules(self, workspace: str) -> Rules:
        return await self.rules_cache.of(workspace)

    def forget_rules(self, workspace: str) -> None:
        """Drop the cached rules after a change (other replicas pick it up within 30 s)."""
        self.rules_cache.forget(workspace)

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
        settled: set[int] = set()
        while pending:
            hits = await self.cache.get_sets([prepared[n][:2] for n in pending])
            missed = [n for n, hit in zip(pending, hits, strict=True) if hit is None and n not in settled]
            for n in await self._suppressed(missed, prepared) if create else []:
                results[n] = Suppressed("an identifier of a forgotten person; allowIdentifier lifts it", "identifiers")
                settled.add(n)
            missed = [n for n in missed if n not in settled]
            created, looked_up = await self._create_fresh({n: prepared[n] for n in missed}, now, create)
            for n, result in created.items():
                results[n] = result
                settled.add(n)
            for pos, n in enumerate(pending):
                if n in settled:
                    continue
                if hits[pos] is not None:
                    person_id, uid = hits[pos]
                    results[n] = ({"_id": person_id, "uid": uid, "workspace": prepared[n][0]}, False)
                    continue
                workspace, ids, rules = prepared[n]
                person, new, merged = await self._uncached(
                    workspace, ids, rules, now, create, items[n].cause, looked_up.pop(n, None)
                )
                results[n] = (person, new)
                settled.add(n)
                if merged:
                    pending = [m for m in pending[pos + 1 :] if m not in settled]
                    break
            else:
                pending = []
        identity_metrics.count_resolves(results)
        return results

    async def _suppressed(self, missed: list[int], prepared: dict[int, tuple]) -> list[int]:
        """The missed items carrying a forgotten identifier.

        Only misses are checked: a forgotten identifier is in no cache (forget
        invalidates it and nobody may claim it again), so a cache hit holds none.
        """
        by_workspace: dict[str, list[int]] = {}
        for n in missed:
            by_workspace.setdefault(prepared[n][0], []).append(n)
        out = []
        for workspace, numbers in by_workspace.items():
            found = await self.store.suppressed_among(workspace, [i for n in numbers for i in prepared[n][1]])
            out += [n for n in numbers if found.intersection(prepared[n][1])]
        return out

    async def _create_fresh(self, missed: dict[int, tuple], now, create) -> tuple[dict[int, tuple], dict[int, dict]]:
        """Create, in bulk, the persons of missed items whose identifiers nobody holds.

        New shoppers are most of the misses; each would otherwise cost about eight
        round trips. Missed items sharing an identifier form a cluster (a new
        shopper's page view, then their identify with the same anonymous id):
        a cluster qualifies when all its identifiers fit one person's limits and
        MongoDB knows none of them. Applied one by one, its first event would
        create the person and each later one attach its new identifiers to it,
        so the cluster becomes that one person, created by its first event.
        Items whose bulk claim loses a race go the one-by-one way. Returns the
        created (person, True) by item, and the owners it found of other items,
        which spare the one-by-one way its first lookup.
        """
        if not create or not missed:
            return {}, {}
        clusters = []
        for numbers in _clusters(missed):
            workspace, _, rules = missed[numbers[0]]
            union = rules.prepare([i for n in numbers for i in missed[n][1]])
            # A cluster is one new person only if all its identifiers fit one person's limits;
            # otherwise one by one, where the rules decide what to drop or keep apart.
            if not plan(union, {}, {}, {}, rules).dropped:
                clusters.append((numbers, workspace, union, rules))
        # One lookup per workspace for all clusters (a few `$in` queries), not one per cluster.
        wanted: dict[str, set] = {}
        for _, ws, union, _ in clusters:
            wanted.setdefault(ws, set()).update(union)
        found = await asyncio.gather(*(self.store.owners(ws, sorted(ids)) for ws, ids in wanted.items()))
        held = dict(zip(wanted, found, strict=True))
        owners = [{i: held[ws][i] for i in union if i in held[ws]} for _, ws, union, _ in clusters]
        looked_up = {c[0][0]: owned for c, owned in zip(clusters, owners, strict=True) if owned and len(c[0]) == 1}
        fresh = [c for c, owned in zip(clusters, owners, strict=True) if not owned]
        by_workspace: dict[str, list[int]] = {}
        for k, (_, workspace, _, _) in enumerate(fresh):
            by_workspace.setdefault(workspace, []).append(k)
        done: dict[int, tuple[dict, bool]] = {}
        for workspace, ks in by_workspace.items():
            person_of = {k: new_person_id() for k in ks}
            attach = {k: plan(fresh[k][2], {}, {}, {}, fresh[k][3]).attach for k in ks}
            # The highest-priority identifier first, as the one-by-one way claims it: whoever
            # loses it to a concurrent resolver holds nothing and simply plans again.
            firsts = [(k, attach[k][0]) for k in ks]
            lost = await self.store.claim_many(self._claims(workspace, firsts, person_of, now))
            holding = [k for i, (k, _) in enumerate(firsts) if i not in lost]
            rest = [(k, ident) for k in holding for ident in attach[k][1:]]
            lost = await self.store.claim_many(self._claims(workspace, rest, person_of, now))
            lost_items = {rest[i][0] for i in lost}
            # A person whose later claims lost still holds its first identifier: create it, and
            # let the one-by-one way link or merge it as the rules say (as after a lost claim there).
            docs = await self.store.create_persons(workspace, [person_of[k] for k in holding], now)
            won = [(k, doc) for k, doc in zip(holding, docs, strict=True) if k not in lost_items]
            await self.cache.set_persons(workspace, [(attach[k], doc["_id"], doc["uid"]) for k, doc in won])
            for k, doc in won:
                numbers = fresh[k][0]
                # The cluster's first event created the person; the later ones found it.
                done.update((n, (doc, n == numbers[0])) for n in numbers)
        return done, looked_up

    @staticmethod
    def _claims(workspace: str, claims: list[tuple[int, Identifier]], person_of: dict, now: dt.datetime) -> list[dict]:
        return [
            {"workspace": workspace, "type": t, "value": v, "person_id": person_of[n], "created_at": now}
            for n, (t, v) in claims
        ]

    async def _uncached(self, workspace, ids, rules, now, create, cause, owners=None) -> tuple[dict | None, bool, bool]:
        for _ in range(MAX_ATTEMPTS):
            try:
                result = await self._attempt(workspace, ids, rules, now, create, cause, owners)
            except StalePlan:
                owners = None  # the next plan must look again
                continue
            person, created, linked, merged = result
            if person is not None:
                await self.cache.set_many(workspace, linked, person["_id"], person["uid"])
            return person, created, merged
        raise RuntimeError(f"identifiers of workspace {workspace} kept changing while resolving")

    async def _attempt(self, workspace, ids, rules, now, create, cause, owners=None):
        if owners is None:
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


def _clusters(missed: dict[int, tuple]) -> list[list[int]]:
    """Missed items joined by shared identifiers (within a workspace), each cluster in item order."""
    parent = {n: n for n in missed}

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    holder: dict[tuple, int] = {}
    for n, (workspace, ids, _) in sorted(missed.items()):
        for ident in ids:
            other = holder.setdefault((workspace, *ident), n)
            if other != n:
                parent[root(n)] = root(other)
    clusters: dict[int, list[int]] = {}
    for n in sorted(missed):
        clusters.setdefault(root(n), []).append(n)
    return list(clusters.values())

"""Property-based: random event sequences keep the identity graph's invariants.

Runs the real resolver in this process against the session's real MongoDB-wire
server and Redis, one fresh workspace per generated example.
"""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient

from services.identity.cache import IdentityCache
from services.identity.graph import IdentityGraph
from services.identity.resolver import Resolver
from services.identity.rules import Rules, over_limits
from services.identity.rules_cache import RulesCache
from services.identity.store import INDEXES, IdentityStore
from services.kit.clock import SystemClock
from services.kit.kafka import Producer
from services.kit.mongo import ensure_indexes
from services.kit.outbox import OutboxRelay

USERS = st.sampled_from(["u0", "u1", "u2", "u3"])
ANONS = st.sampled_from(["a0", "a1", "a2", "a3", "a4", "undefined", ""])
DEVICES = st.sampled_from(["d0", "d1", "d2", "00000000-0000-0000-0000-000000000000"])
EMAILS = st.sampled_from(["e0@x.cn", "E0@X.cn ", "e1@x.cn", "null"])


@st.composite
def event(draw) -> list[tuple[str, str]]:
    kind = draw(st.sampled_from(["identify", "track-anonymous", "track-shared-device", "alias"]))
    ids = [("anonymous_id", draw(ANONS))]
    if kind in ("identify", "alias"):
        ids.append(("user_id", draw(USERS)))
    if kind == "identify" and draw(st.booleans()):
        ids.append(("email", draw(EMAILS)))
    if kind == "track-shared-device":
        ids.append(("device_id", draw(DEVICES)))
        if draw(st.booleans()):
            ids.append(("user_id", draw(USERS)))
    return ids


class Harness:
    def __init__(self, stack) -> None:
        self.stack = stack

    async def __aenter__(self) -> Harness:
        self.mongo = AsyncMongoClient(self.stack.mongo_url, tz_aware=True)
        self.db = self.mongo["identity_properties"]
        await ensure_indexes(self.db, INDEXES)
        self.redis = aioredis.from_url(self.stack.redis_url)
        self.store = IdentityStore(self.db)
        relay = OutboxRelay(self.db, Producer(self.stack.kafka_bootstrap, "props"), "props")  # never started
        rules = RulesCache(self.store)
        self.graph = IdentityGraph(self.mongo, self.store, IdentityCache(self.redis), relay, SystemClock(), rules)
        self.resolver = Resolver(self.store, self.graph, IdentityCache(self.redis), rules)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.redis.aclose()
        await self.mongo.close()

    async def run(self, workspace: str, events: list[list[tuple[str, str]]]) -> list[dict]:
        """Apply events; returns the graph after each one."""
        graphs = []
        for n, ids in enumerate(events):
            if Rules().prepare(ids):
                await self.resolver.resolve(workspace, ids, SystemClock().now(), cause=f"e{n}")
            graphs.append(await self.graph_of(workspace))
        return graphs

    async def graph_of(self, workspace: str) -> dict[tuple[str, str], str]:
        docs = self.db["identities"].find({"workspace": workspace})
        return {(d["type"], d["value"]): d["person_id"] async for d in docs}

    async def check_invariants(self, workspace: str) -> None:
        graph = await self.graph_of(workspace)
        persons = {d["_id"]: d async for d in self.db["persons"].find({"workspace": workspace})}
        rules = Rules()
        held: dict[str, dict[str, set]] = {}
        for (id_type, value), person in graph.items():
            assert person in persons, f"{id_type}={value} points at a missing person"
            assert not persons[person].get("merged_into"), f"{id_type}={value} points at a merged-away person"
            held.setdefault(person, {}).setdefault(id_type, set()).add(value)
            assert rules.normalise(id_type, value) == value, f"{value!r} stored unnormalised or blocked"
        for person, types in held.items():
            for id_type, values in types.items():
                assert len(values) <= rules.limit(id_type), f"{person} holds {values} ({id_type})"


def bridging_identifiers(graph: dict) -> list[tuple[str, str]]:
    """One identifier each of two persons that may become one (no limit broken), if any."""
    held: dict[str, list] = {}
    for ident, person in graph.items():
        held.setdefault(person, []).append(ident)
    persons = sorted(held)
    for i, p in enumerate(persons):
        for q in persons[i + 1 :]:
            if not over_limits(held[p] + held[q], Rules()):
                return [min(held[p]), min(held[q])]
    return []


def partition(graph: dict) -> set[frozenset]:
    groups: dict[str, set] = {}
    for ident, person in graph.items():
        groups.setdefault(person, set()).add(ident)
    return {frozenset(g) for g in groups.values()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(event(), min_size=3, max_size=12))
def test_random_sequences_keep_the_invariants(stack, events):
    async def body() -> None:
        async with Harness(stack) as h:
            first, second = f"prop-{uuid.uuid4().hex[:10]}", f"prop-{uuid.uuid4().hex[:10]}"
            graphs = await h.run(first, events)
            await h.check_invariants(first)
            # Replaying the same events gives the same graph.
            replay = await h.run(second, events)
            assert partition(replay[-1]) == partition(graphs[-1])
            # A bridging event that ties two compatible persons together merges them;
            # unmerging that merge restores the graph exactly as it was before it.
            bridge = bridging_identifiers(graphs[-1])
            if bridge:
                await h.resolver.resolve(first, bridge, SystemClock().now(), cause="bridge")
                merges = await h.db["merges"].find({"workspace": first, "cause_message_id": "bridge"}).to_list(None)
                assert len(merges) == 1
                await h.check_invariants(first)
                await h.graph.unmerge(first, merges[0]["_id"], "property test")
                assert await h.graph_of(first) == graphs[-1]
                await h.check_invariants(first)

    asyncio.run(body())

"""Opt-outs (unsubscribes): MongoDB holds them, Redis mirrors them for the delivery hot path.

The pipeline checks every message against the person's opt-outs; one Redis
SMISMEMBER instead of a MongoDB lookup per message. MongoDB stays the source
of truth: every change writes it first, then refreshes the person's Redis set
from it, and `rebuild` (run at start) re-creates the mirror after Redis lost it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from services.messaging.store import MessagingStore

log = logging.getLogger(__name__)


def _key(workspace: str, person_id: str) -> str:
    return f"optout:{{{workspace}}}:{person_id}"


class OptOuts:
    def __init__(self, store: MessagingStore, redis) -> None:
        self.store = store
        self.redis = redis
        # Set once the mirror was rebuilt; deliveries wait for it.
        self.ready = asyncio.Event()

    async def sync(self, workspace: str, person_id: str) -> None:
        doc = await self.store.unsubscribes.find_one({"_id": f"{workspace}|{person_id}"}, {"opted_out": 1})
        members = (doc or {}).get("opted_out", [])
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(_key(workspace, person_id))
        if members:
            pipe.sadd(_key(workspace, person_id), *members)
        await pipe.execute()

    async def add(self, workspace: str, person_id: str, channel: str, category: str, now: dt.datetime) -> None:
        await self.store.unsubscribe(workspace, person_id, channel, category, now)
        await self.sync(workspace, person_id)

    async def remove(self, workspace: str, person_id: str, channel: str, category: str) -> bool:
        removed = await self.store.resubscribe(workspace, person_id, channel, category)
        await self.sync(workspace, person_id)
        return removed

    async def is_out(self, workspace: str, person_id: str, channel: str, category: str) -> bool:
        (out,) = await self.are_out([(workspace, person_id, channel, category)])
        return out

    async def are_out(self, items: list[tuple[str, str, str, str]]) -> list[bool]:
        """For each (workspace, person, channel, category): opted out? One round trip for all."""
        if not items:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for workspace, person_id, channel, category in items:
            pipe.smismember(_key(workspace, person_id), [f"{channel}|{category}", f"{channel}|*"])
        return [any(hits) for hits in await pipe.execute()]

    async def rebuild(self) -> int:
        count = 0
        async for doc in self.store.unsubscribes.find({}, {"workspace": 1, "person_id": 1}):
            await self.sync(doc["workspace"], doc["person_id"])
            count += 1
        return count

    async def run_rebuild(self, stopping: asyncio.Event) -> None:
        """Background job: mirror once at start (a cold Redis must not let opted-out people be messaged)."""
        while not stopping.is_set():
            try:
                count = await self.rebuild()
                self.ready.set()
                log.info("opt-outs mirrored to redis", extra={"persons": count})
                return
            except Exception:
                log.exception("opt-out mirror failed; retrying")
                await asyncio.sleep(2)

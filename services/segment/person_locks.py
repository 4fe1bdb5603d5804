"""Person locks: one replica at a time works on a person's bitmaps.

A consumer-group rebalance lets the old member finish its batch while the new
one re-reads the partition from the last commit, so two replicas can handle
one person at once. The lock is a Redis key per person (bitmap_keys.lock_key,
in the person's shard slot) with a random token and a TTL that its holder
renews, so a replica that dies holding it blocks the person only until the
TTL runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from services.segment import bitmap_scripts as lua
from services.segment.bitmap_keys import lock_key

# How long a person stays locked by a replica that died holding it; a live holder renews it
# every third of that, so a slow store cannot let a second replica in beside it.
PERSON_LOCK_MS = 10_000

log = logging.getLogger(__name__)


class PersonLocks:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._unlock = redis.register_script(lua.UNLOCK)
        self._renew = redis.register_script(lua.RENEW)

    @contextlib.asynccontextmanager
    async def hold(self, workspace: str, *uids: int, ttl_ms: int = PERSON_LOCK_MS) -> AsyncIterator[None]:
        """Hold the persons (sorted, so two holders of the same pair cannot deadlock) for one record's work.

        A consumer-group rebalance lets the old member finish its batch while the new one
        re-reads the partition from the last commit, so two replicas can handle one person
        at once; without this a replica could write bitmaps from a document it read before
        the other's newer write, and flip membership from those stale bits (a lost exit).
        """
        token = uuid.uuid4().hex
        held: list[str] = []
        # Renewing from the start: while this waits for a second person (whose holder may keep
        # it a while), the first one's lock must not lapse.
        renewing = asyncio.create_task(self._keep_locks(held, token, ttl_ms))
        try:
            for uid in sorted(set(uids)):
                key = lock_key(workspace, uid)
                delay = 0.005
                while not await self.redis.set(key, token, nx=True, px=ttl_ms):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.2)
                held.append(key)
            yield
        finally:
            renewing.cancel()
            for key in held:
                await self._unlock(keys=[key], args=[token])

    async def _keep_locks(self, keys: list[str], token: str, ttl_ms: int) -> None:
        """Extend the locks in `keys` (a list that grows as they are taken) every third of their TTL."""
        while True:
            await asyncio.sleep(ttl_ms / 3000)
            try:
                # One key per script: two persons' locks sit in different slots on a cluster.
                for key in list(keys):
                    await self._renew(keys=[key], args=[token, ttl_ms])
            except Exception:
                log.warning("person lock not renewed", exc_info=True)

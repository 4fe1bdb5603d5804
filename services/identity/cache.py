"""Redis cache of identifier -> person, so repeat resolves skip MongoDB.

Values are "<person_id> <uid>". Entries are deleted when a merge, unmerge or
forget moves an identifier, and expire after a TTL as a backstop for the rare
race where a resolve caches an owner just as a merge moves the identifier.
MongoDB stays the source of truth; the cache can be flushed at any time.
"""

from __future__ import annotations

import redis.asyncio as aioredis

TTL_SECONDS = 600

Identifier = tuple[str, str]


def _key(workspace: str, ident: Identifier) -> str:
    return f"cdp:idc:{workspace}:{ident[0]}:{ident[1]}"


class IdentityCache:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def get_sets(self, sets: list[tuple[str, list[Identifier]]]) -> list[tuple[str, int] | None]:
        """For each (workspace, identifiers): the person all of them are cached for, or None.

        One pipeline for all sets (GETs, not MGET: keys may live on different
        Cluster slots); None when any identifier is uncached or they
        are cached for different persons (a merge is due).
        """
        pipe = self.redis.pipeline(transaction=False)
        for workspace, identifiers in sets:
            for ident in identifiers:
                pipe.get(_key(workspace, ident))
        raw = iter(await pipe.execute())
        out: list[tuple[str, int] | None] = []
        for _, identifiers in sets:
            values = {next(raw) for _ in identifiers}
            if len(values) != 1 or None in values:
                out.append(None)
            else:
                person, uid = values.pop().decode().split(" ")
                out.append((person, int(uid)))
        return out

    async def set_many(self, workspace: str, identifiers: list[Identifier], person_id: str, uid: int) -> None:
        await self.set_persons(workspace, [(identifiers, person_id, uid)])

    async def set_persons(self, workspace: str, persons: list[tuple[list[Identifier], str, int]]) -> None:
        """Cache several persons' identifiers in one pipeline."""
        pipe = self.redis.pipeline(transaction=False)
        for identifiers, person_id, uid in persons:
            for ident in identifiers:
                pipe.set(_key(workspace, ident), f"{person_id} {uid}", ex=TTL_SECONDS)
        await pipe.execute()

    async def invalidate(self, workspace: str, identifiers: list[Identifier]) -> None:
        if identifiers:
            await self.redis.delete(*[_key(workspace, i) for i in identifiers])

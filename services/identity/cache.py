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

    async def get_many(self, workspace: str, identifiers: list[Identifier]) -> list[tuple[str, int] | None]:
        # A pipeline of GETs rather than MGET: keys of one request may live on different Cluster slots.
        pipe = self.redis.pipeline(transaction=False)
        for ident in identifiers:
            pipe.get(_key(workspace, ident))
        out = []
        for raw in await pipe.execute():
            if raw is None:
                out.append(None)
            else:
                person, uid = raw.decode().split(" ")
                out.append((person, int(uid)))
        return out

    async def set_many(self, workspace: str, identifiers: list[Identifier], person_id: str, uid: int) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for ident in identifiers:
            pipe.set(_key(workspace, ident), f"{person_id} {uid}", ex=TTL_SECONDS)
        await pipe.execute()

    async def invalidate(self, workspace: str, identifiers: list[Identifier]) -> None:
        if identifiers:
            await self.redis.delete(*[_key(workspace, i) for i in identifiers])

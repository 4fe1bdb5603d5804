"""The bitmap index in Redis: one bit per person (dense uid) per indexed value.

Keys are sharded by uid range (2^20 uids = 128 KiB per bitmap) with the
workspace and shard as the Redis Cluster hash tag, so all keys of one shard
share a slot (one Lua script can combine them) and shards spread over nodes.

    cdp:{<ws>:<shard>}:alive               persons that exist (NOT is taken within it)
    cdp:{<ws>:<shard>}:t:<trait>:<value>   persons whose trait has this value
    cdp:{<ws>:<shard>}:keys                set: every bitmap key of the shard (for erasing a person)
    cdp:{<ws>:<shard>}:keys:scanned        "1" once the registry was backfilled by a SCAN
    cdp:{<ws>:<shard>}:gone                hash uid -> "m:<ms>" merged away, "f:<ms>" forgotten,
                                           "r:<ms>" restored by an unmerge (see retire/restore)
    cdp:ws:<ws>:shards                     set of shard numbers in use

Erasing a person (merged away or forgotten) clears its bit in every bitmap of
its shard. The bitmaps of a shard are listed by the `keys` registry that every
write maintains, not by SCAN: SCAN walks the whole keyspace (every workspace)
and merges are frequent. A shard written before the registry existed is
backfilled once by a SCAN of `cdp:{<ws>:<shard>}:*`.

The `gone` mark keeps an erased uid erased although the bitmap writer
(profile.changed) and the eraser (identity events) are separate consumer
groups and may run in either order: a change for a forgotten uid never sets a
bit again, and a change for a merged-away uid is applied only when it is newer
than the merge (i.e. it follows an unmerge).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from services.segment.rules import And, Node, Not, TraitEquals, leaves

SHARD_BITS = 20
SHARD_MASK = (1 << SHARD_BITS) - 1

# Stack machine over one shard's keys. KEYS = leaves..., alive, temporaries...;
# ARGV = leaf count, then the program: "L i" push leaf i, "AND n"/"OR n" pop n
# and push the result, "NOT" complement within alive. Returns BITCOUNT of the
# result. Temporaries are deleted before returning.
_EVALUATE = """
local nleaf = tonumber(ARGV[1])
local alive = KEYS[nleaf + 1]
local tmp = nleaf + 2
local stack = {}
local i = 2
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'L' then
    stack[#stack + 1] = KEYS[tonumber(ARGV[i + 1])]
    i = i + 2
  elseif op == 'AND' or op == 'OR' then
    local n = tonumber(ARGV[i + 1])
    local args = {}
    for j = n, 1, -1 do args[j] = table.remove(stack) end
    local dst = KEYS[tmp]; tmp = tmp + 1
    redis.call('BITOP', op, dst, unpack(args))
    stack[#stack + 1] = dst
    i = i + 2
  else -- NOT: alive XOR (x AND alive), so uids past x's length count as not-x
    local x = table.remove(stack)
    local dst = KEYS[tmp]; tmp = tmp + 1
    redis.call('BITOP', 'AND', dst, x, alive)
    redis.call('BITOP', 'XOR', dst, dst, alive)
    stack[#stack + 1] = dst
    i = i + 1
  end
end
local count = redis.call('BITCOUNT', stack[1])
for j = nleaf + 2, tmp - 1 do redis.call('DEL', KEYS[j]) end
return count
"""


# KEYS = gone, alive, registry, scanned, trait keys...; ARGV = uid, at (ms), offset,
# then the bit for each trait key. Skips the whole change when the uid is
# forgotten, or merged away at or after `at`. A shard that has no alive bitmap
# yet is new: its registry will be complete, so it never needs the SCAN backfill.
_APPLY = """
local g = redis.call('HGET', KEYS[1], ARGV[1])
if g then
  local kind = string.sub(g, 1, 1)
  if kind == 'f' then return 0 end
  if kind == 'm' and tonumber(ARGV[2]) <= tonumber(string.sub(g, 3)) then return 0 end
end
local offset = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('SET', KEYS[4], '1', 'NX') end
redis.call('SETBIT', KEYS[2], offset, 1)
redis.call('SADD', KEYS[3], KEYS[2])
for i = 5, #KEYS do
  if ARGV[i - 1] == '1' then
    redis.call('SETBIT', KEYS[i], offset, 1)
    redis.call('SADD', KEYS[3], KEYS[i])
  elseif redis.call('STRLEN', KEYS[i]) * 8 > offset then
    redis.call('SETBIT', KEYS[i], offset, 0)
  end
end
return 1
"""

# KEYS = gone; ARGV = uid, kind ('m' merged away, 'f' forgotten), at (ms).
# Returns the mark the erase must hold on to, or nil when the erase is stale
# (a merge replayed after the unmerge that undid it).
_MARK_GONE = """
local g = redis.call('HGET', KEYS[1], ARGV[1])
local at = tonumber(ARGV[3])
if g then
  local kind = string.sub(g, 1, 1)
  if kind == 'f' then return g end
  if ARGV[2] == 'm' and tonumber(string.sub(g, 3)) >= at then
    if kind == 'r' then return false end
    return g
  end
end
local mark = ARGV[2] .. ':' .. ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], mark)
return mark
"""

# KEYS = gone, bitmaps...; ARGV = uid, mark, offset. Clears the uid's bit in each
# bitmap (without growing shorter ones); -1 when the mark changed meanwhile
# (an unmerge restored the uid), so the erase stops.
_CLEAR = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
local offset = tonumber(ARGV[3])
local cleared = 0
for i = 2, #KEYS do
  local key = KEYS[i]
  if redis.call('TYPE', key)['ok'] == 'string' and redis.call('STRLEN', key) * 8 > offset then
    cleared = cleared + redis.call('SETBIT', key, offset, 0)
  end
end
return cleared
"""

# KEYS = gone, alive, registry, scanned; ARGV = uid, at (ms), offset. An unmerge gives
# the uid back: alive again, and marked restored so a replayed older merge is ignored.
_RESTORE = """
local g = redis.call('HGET', KEYS[1], ARGV[1])
if g then
  if string.sub(g, 1, 1) == 'f' then return 0 end
  if tonumber(string.sub(g, 3)) > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], 'r:' .. ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('SET', KEYS[4], '1', 'NX') end
redis.call('SETBIT', KEYS[2], tonumber(ARGV[3]), 1)
redis.call('SADD', KEYS[3], KEYS[2])
return 1
"""

MERGED = "m"
FORGOTTEN = "f"
_CLEAR_CHUNK = 500


def normalise(value: Any) -> str | None:
    """Canonical text of an indexable value; None for lists, objects and null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return None


def shard_of(uid: int) -> tuple[int, int]:
    return uid >> SHARD_BITS, uid & SHARD_MASK


def _tag(workspace: str, shard: int) -> str:
    return f"cdp:{{{workspace}:{shard}}}"


def alive_key(workspace: str, shard: int) -> str:
    return f"{_tag(workspace, shard)}:alive"


def trait_key(workspace: str, shard: int, trait: str, value: Any) -> str | None:
    text = normalise(value)
    return None if text is None else f"{_tag(workspace, shard)}:t:{trait}:{text}"


def shards_key(workspace: str) -> str:
    return f"cdp:ws:{workspace}:shards"


def gone_key(workspace: str, shard: int) -> str:
    return f"{_tag(workspace, shard)}:gone"


def registry_key(workspace: str, shard: int) -> str:
    return f"{_tag(workspace, shard)}:keys"


def _scanned_key(workspace: str, shard: int) -> str:
    return f"{_tag(workspace, shard)}:keys:scanned"


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _program(node: Node, index: dict[str, int], shard_keys: list[str]) -> list[str]:
    """Compile an AST to the Lua stack program, registering leaf keys in order."""
    if isinstance(node, TraitEquals):
        key = shard_keys[id(node)]
        if key not in index:
            index[key] = len(index) + 1
        return ["L", str(index[key])]
    if isinstance(node, Not):
        return [*_program(node.item, index, shard_keys), "NOT"]
    op = "AND" if isinstance(node, And) else "OR"
    code: list[str] = []
    for item in node.items:
        code += _program(item, index, shard_keys)
    return [*code, op, str(len(node.items))]


class BitmapIndex:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._evaluate = redis.register_script(_EVALUATE)
        self._apply = redis.register_script(_APPLY)
        self._mark_gone = redis.register_script(_MARK_GONE)
        self._clear = redis.register_script(_CLEAR)
        self._restore = redis.register_script(_RESTORE)

    # -- writes (idempotent: replaying a change sets the same bits) ----------
    async def apply_trait_changes(
        self, workspace: str, uid: int, changes: list[tuple[str, Any, Any]], at_ms: int | None = None
    ) -> bool:
        """Move the person's bit from each trait's old value to its new one.

        `at_ms` is when the change happened (profile.changed `at`); False when
        the change was dropped because the uid is forgotten or merged away since.
        """
        shard, offset = shard_of(uid)
        keys: list[str] = []
        bits: list[int] = []
        for trait, before, after in changes:
            old = trait_key(workspace, shard, trait, before)
            new = trait_key(workspace, shard, trait, after)
            if old and old != new:
                keys.append(old)
                bits.append(0)
            if new:
                keys.append(new)
                bits.append(1)
        # Its own command: the shards set lives in another hash slot than the shard's keys.
        await self.redis.sadd(shards_key(workspace), shard)
        applied = await self._apply(
            keys=[
                gone_key(workspace, shard),
                alive_key(workspace, shard),
                registry_key(workspace, shard),
                _scanned_key(workspace, shard),
                *keys,
            ],
            args=[uid, _now_ms() if at_ms is None else at_ms, offset, *bits],
        )
        return bool(applied)

    async def retire(self, workspace: str, uid: int, kind: str, at_ms: int) -> int | None:
        """Erase a uid from every bitmap of its shard, `alive` included.

        kind is MERGED (the uid was merged into another person) or FORGOTTEN.
        Returns how many bits were cleared, or None when the erase was stale
        (a merge that an unmerge already undid) or interrupted by an unmerge.
        Idempotent: a replay clears nothing more and leaves the same mark.
        """
        shard, offset = shard_of(uid)
        gone = gone_key(workspace, shard)
        mark = await self._mark_gone(keys=[gone], args=[uid, kind, at_ms])
        if mark is None:
            return None
        cleared = 0
        async for chunk in self._bitmap_keys(workspace, shard):
            n = await self._clear(keys=[gone, *chunk], args=[uid, mark, offset])
            if n < 0:
                return None
            cleared += n
        return cleared

    async def restore(self, workspace: str, uid: int, at_ms: int) -> bool:
        """An unmerge gave the uid back: make it alive (its traits come through profile.changed)."""
        shard, offset = shard_of(uid)
        await self.redis.sadd(shards_key(workspace), shard)
        restored = await self._restore(
            keys=[
                gone_key(workspace, shard),
                alive_key(workspace, shard),
                registry_key(workspace, shard),
                _scanned_key(workspace, shard),
            ],
            args=[uid, at_ms, offset],
        )
        return bool(restored)

    async def _bitmap_keys(self, workspace: str, shard: int) -> AsyncIterator[list[bytes]]:
        """The shard's bitmap keys from its registry, in chunks for one script call each."""
        await self._backfill_registry(workspace, shard)
        chunk: list[bytes] = []
        async for key in self.redis.sscan_iter(registry_key(workspace, shard), count=_CLEAR_CHUNK):
            chunk.append(key)
            if len(chunk) >= _CLEAR_CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def _backfill_registry(self, workspace: str, shard: int) -> None:
        """Register bitmaps written before the registry existed: one SCAN per shard, ever."""
        scanned = _scanned_key(workspace, shard)
        if await self.redis.exists(scanned):
            return
        if not await self.redis.exists(alive_key(workspace, shard)):
            # Every write ever made sets alive: without it the shard holds no bitmap to find.
            await self.redis.set(scanned, b"1")
            return
        tag = _tag(workspace, shard)
        skip = (f"{tag}:tmp:".encode(), scanned.encode())
        registry = registry_key(workspace, shard)
        found: list[bytes] = []
        async for key in self.redis.scan_iter(match=f"{_glob_escape(tag)}:*", count=1000, _type="string"):
            if not key.startswith(skip[0]) and key != skip[1]:
                found.append(key)
                if len(found) >= _CLEAR_CHUNK:
                    await self.redis.sadd(registry, *found)
                    found = []
        if found:
            await self.redis.sadd(registry, *found)
        await self.redis.set(scanned, b"1")

    # -- reads ---------------------------------------------------------------
    async def shards(self, workspace: str) -> list[int]:
        return sorted(int(s) for s in await self.redis.smembers(shards_key(workspace)))

    async def count(self, workspace: str, node: Node) -> int:
        """Members of the rule over every shard; shards run concurrently."""
        counts = await asyncio.gather(*(self._count_shard(workspace, s, node) for s in await self.shards(workspace)))
        return int(sum(counts))

    async def _count_shard(self, workspace: str, shard: int, node: Node) -> int:
        keys = {id(leaf): trait_key(workspace, shard, leaf.trait, leaf.value) for leaf in leaves(node)}
        index: dict[str, int] = {}
        program = _program(node, index, keys)
        temporaries = program.count("NOT") + program.count("AND") + program.count("OR")
        if temporaries == 0:
            # A single leaf still goes through the script so that NOT/alive rules stay in one place.
            program = [*program, "OR", "1"]
            temporaries = 1
        stamp = uuid.uuid4().hex
        tmp_keys = [f"{_tag(workspace, shard)}:tmp:{stamp}:{n}" for n in range(temporaries)]
        return await self._evaluate(keys=[*index, alive_key(workspace, shard), *tmp_keys], args=[len(index), *program])

    async def matches(self, workspace: str, uid: int, nodes: list[Node]) -> list[bool]:
        """Whether one person matches each rule: one round trip for every leaf bit."""
        shard, offset = shard_of(uid)
        all_leaves = [leaf for node in nodes for leaf in leaves(node)]
        pipe = self.redis.pipeline(transaction=False)
        pipe.getbit(alive_key(workspace, shard), offset)
        for leaf in all_leaves:
            pipe.getbit(trait_key(workspace, shard, leaf.trait, leaf.value), offset)
        bits = await pipe.execute()
        if not bits[0]:
            return [False] * len(nodes)
        value = {id(leaf): bool(bit) for leaf, bit in zip(all_leaves, bits[1:], strict=True)}
        return [_holds(node, value) for node in nodes]


def _holds(node: Node, value: dict[int, bool]) -> bool:
    if isinstance(node, TraitEquals):
        return value[id(node)]
    if isinstance(node, Not):
        return not _holds(node.item, value)
    if isinstance(node, And):
        return all(_holds(i, value) for i in node.items)
    return any(_holds(i, value) for i in node.items)

"""The bitmap index in Redis: one bit per person (dense uid) per indexed value.

Keys are sharded by uid range (2^20 uids = 128 KiB per bitmap) with the
workspace and shard as the Redis Cluster hash tag, so all keys of one shard
share a slot (one Lua script can combine them) and shards spread over nodes.

    cdp:{<ws>:<shard>}:alive               persons that exist (NOT is taken within it)
    cdp:{<ws>:<shard>}:t:<trait>:<value>   persons whose trait has this value
    cdp:ws:<ws>:shards                     set of shard numbers in use
"""

from __future__ import annotations

import asyncio
import json
import uuid
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

    # -- writes (idempotent: replaying a change sets the same bits) ----------
    async def apply_trait_changes(self, workspace: str, uid: int, changes: list[tuple[str, Any, Any]]) -> None:
        """Move the person's bit from each trait's old value to its new one."""
        shard, offset = shard_of(uid)
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(shards_key(workspace), shard)
        pipe.setbit(alive_key(workspace, shard), offset, 1)
        for trait, before, after in changes:
            old = trait_key(workspace, shard, trait, before)
            new = trait_key(workspace, shard, trait, after)
            if old and old != new:
                pipe.setbit(old, offset, 0)
            if new:
                pipe.setbit(new, offset, 1)
        await pipe.execute()

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

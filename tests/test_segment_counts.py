"""Counts and membership checks that reuse a compiled program, and range step bitmaps.

In process against real Redis and MongoDB-wire (the World of test_segment_realtime).
A repeated Count or IsMember sends the program compiled last time together with
a fresh read of the workspace's meta, in one round trip; these tests change the
meta between requests (a new shard, a path turning wide) and check the answers
follow the data, never the cache.
"""

from __future__ import annotations

import pytest

from services.kit.rules import parse
from services.segment import encoding as enc
from services.segment.bitmap_keys import meta_keys, steps_key
from services.segment.bulk import rebuild
from services.segment.plan import Meta, compile_rule
from tests.test_segment_realtime import BIG, World


@pytest.fixture
async def world(stack, workspace_id):
    w = World(stack, workspace_id)
    yield w
    await w.close()


async def test_repeated_count_follows_new_shards_and_a_path_turning_wide(world):
    for uid, age in ((1, 25), (2, 31), (3, 47)):
        await world.change(uid, traits__age=age)
    seg = await world.audiences.create(world.ws, "30-40", "traits.age BETWEEN 30 AND 40")
    assert await world.count(seg["_id"]) == 1
    assert await world.count(seg["_id"]) == 1  # the cached program
    # A person in a shard the cached program has never seen.
    await world.change(BIG, traits__age=35)
    assert await world.count(seg["_id"]) == 2
    assert await world.audiences.is_member(world.ws, seg["_id"], BIG)
    # A decimal age makes the path wide: value and step bitmaps are no longer complete for it.
    await world.change(4, traits__age=35.5)
    assert await world.count(seg["_id"]) == 3
    assert await world.audiences.is_member(world.ws, seg["_id"], 4)
    assert not await world.audiences.is_member(world.ws, seg["_id"], 3)


async def test_step_bitmaps_follow_value_changes(world):
    await world.change(7, traits__age=42)
    older = await world.audiences.create(world.ws, "40+", "traits.age >= 40")
    band = await world.audiences.create(world.ws, "20-24", "traits.age BETWEEN 20 AND 24")
    assert (await world.count(older["_id"]), await world.count(band["_id"])) == (1, 0)
    await world.change(7, traits__age=21)
    assert (await world.count(older["_id"]), await world.count(band["_id"])) == (0, 1)
    await world.change(7, traits__age=None)
    assert (await world.count(older["_id"]), await world.count(band["_id"])) == (0, 0)


async def test_steps_used_only_for_paths_whose_step_bitmaps_are_complete(world):
    # A path known before step bitmaps existed (its slices recorded, no `steps` entry):
    # written people may lack step bits, so the compiler must keep to value bitmaps.
    slices_key, _, _ = meta_keys(world.ws)
    await world.redis.hset(slices_key, "traits.age", 6)
    for uid, age in ((11, 22), (12, 27), (13, 33)):
        await world.change(uid, traits__age=age)
    await world.redis.delete(*[k for k in await world.redis.keys(f"cdp:{{{world.ws}:*}}:s:traits.age:*")])
    meta = await world.index.meta(world.ws)
    assert "traits.age" not in meta.steps
    program = compile_rule(parse("traits.age BETWEEN 20 AND 34"), meta, world.clock.now().date())
    assert not any(k.startswith("s:") for k in program.keys)
    assert await world.index.count(world.ws, parse("traits.age BETWEEN 20 AND 34")) == 3
    # A rebuild writes every person's step bitmaps, after which the compiler may use them.
    await rebuild(world.audiences, world.ws)
    meta = await world.index.meta(world.ws)
    assert "traits.age" in meta.steps
    program = compile_rule(parse("traits.age BETWEEN 20 AND 34"), meta, world.clock.now().date())
    assert [k for k in program.keys if k.startswith("s:")] == [
        enc.step_key("traits.age", 20),
        enc.step_key("traits.age", 35),
    ]
    assert await world.index.count(world.ws, parse("traits.age BETWEEN 20 AND 34")) == 3
    assert await world.redis.sismember(steps_key(world.ws), "traits.age")


def test_small_ranges_read_the_fewest_bitmaps():
    meta = Meta(steps={"traits.age"})
    today = None

    def keys(rule: str) -> list[str]:
        return compile_rule(parse(rule), meta, today).keys

    assert keys("traits.age BETWEEN 25 AND 34") == ["s:traits.age:25", "s:traits.age:35"]
    assert keys("traits.age BETWEEN 23 AND 36") == [
        "s:traits.age:25",
        "s:traits.age:35",
        "v:traits.age:23",
        "v:traits.age:24",
        "v:traits.age:35",
        "v:traits.age:36",
    ]
    assert keys("traits.age >= 60") == ["s:traits.age:60"]
    assert keys("traits.age BETWEEN 31 AND 32") == ["v:traits.age:31", "v:traits.age:32"]
    # Inside an AND, the range's "and not" becomes a term of that AND (one operation less).
    code = compile_rule(parse('traits.gender = "f" AND traits.age BETWEEN 25 AND 34'), meta, today).code
    assert code == ["K", "1", "K", "2", "K", "3", "I", "A", "3"]

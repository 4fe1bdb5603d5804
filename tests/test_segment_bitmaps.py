"""The bitmap index against a real Redis: counts, NOT within alive, shards, membership."""

from __future__ import annotations

import datetime as dt

import redis.asyncio as aioredis

from services.kit.rules import parse
from services.segment.bitmaps import BitmapIndex
from services.segment.encoding import SHARD_BITS, shard_of
from tests.segment_truth import holds as truth


async def _index(stack, workspace_id, people: dict[int, dict]) -> BitmapIndex:
    index = BitmapIndex(aioredis.from_url(stack.redis_url))
    for uid, traits in people.items():
        await index.apply_trait_changes(workspace_id, uid, [(k, None, v) for k, v in traits.items()])
    return index


# Two shards: uids around the shard boundary land in different keys.
BIG = (1 << SHARD_BITS) + 5
PEOPLE = {
    1: {"gender": "female", "city": "上海", "vip": True, "age": 29},
    2: {"gender": "male", "city": "上海", "vip": False},
    3: {"gender": "female", "city": "北京", "age": 29.0},
    BIG: {"gender": "female", "city": "上海", "vip": True},
    BIG + 1: {"gender": "male"},
}


def holds(traits: dict, rule: str) -> bool:
    """Brute-force truth of a rule for one person, to compare the bitmaps with."""
    attrs = {f"traits.{k}": v for k, v in traits.items()}
    return truth(parse(rule), {"attrs": attrs}, dt.date.today())


def expected(rule: str) -> int:
    return sum(holds(t, rule) for t in PEOPLE.values())


RULES = [
    'traits.gender = "female"',
    'traits.gender = "female" AND traits.city = "上海"',
    'traits.city = "北京" OR traits.vip = true',
    'NOT traits.gender = "female"',
    'traits.gender = "female" AND NOT traits.vip = true',
    "traits.age = 29",
    'traits.city IN ["上海", "北京"] AND traits.gender != "male"',
    'traits.gender = "nobody"',
]


async def test_counts_match_brute_force_across_shards(stack, workspace_id):
    index = await _index(stack, workspace_id, PEOPLE)
    assert shard_of(BIG)[0] == 1
    assert await index.shards(workspace_id) == [0, 1]
    for rule in RULES:
        assert await index.count(workspace_id, parse(rule)) == expected(rule), rule
    assert await index.count(workspace_id, parse('traits.gender = "female"')) == 3


async def test_not_never_counts_unallocated_uids(stack, workspace_id):
    index = await _index(stack, workspace_id, {5: {"a": 1}, 900: {"a": 2}})
    # Uids 0-4, 6-899 and 901+ were never allocated: NOT must not count them.
    assert await index.count(workspace_id, parse("NOT traits.a = 1")) == 1
    assert await index.count(workspace_id, parse("NOT traits.a = 3")) == 2


async def test_a_trait_change_moves_the_bit(stack, workspace_id):
    index = await _index(stack, workspace_id, {7: {"tier": "silver"}})
    await index.apply_trait_changes(workspace_id, 7, [("tier", "silver", "gold")])
    assert await index.count(workspace_id, parse('traits.tier = "silver"')) == 0
    assert await index.count(workspace_id, parse('traits.tier = "gold"')) == 1
    # Replaying the same change is harmless.
    await index.apply_trait_changes(workspace_id, 7, [("tier", "silver", "gold")])
    assert await index.count(workspace_id, parse('traits.tier = "gold"')) == 1
    await index.apply_trait_changes(workspace_id, 7, [("tier", "gold", None)])
    assert await index.count(workspace_id, parse('traits.tier = "gold"')) == 0


async def test_membership_of_one_person(stack, workspace_id):
    index = await _index(stack, workspace_id, PEOPLE)
    rules = [parse(r) for r in RULES]
    for uid, traits in PEOPLE.items():
        flags = await index.matches(workspace_id, uid, rules)
        assert flags == [holds(traits, r) for r in RULES], uid
    assert await index.matches(workspace_id, 4242, rules) == [False] * len(rules)


async def test_workspaces_do_not_see_each_other(stack, workspace_id):
    await _index(stack, workspace_id, {1: {"x": "y"}})
    other = await _index(stack, workspace_id + "-other", {})
    assert await other.count(workspace_id + "-other", parse('traits.x = "y"')) == 0


async def test_a_forget_that_fails_after_clearing_still_drops_the_values_on_its_retry(stack, workspace_id):
    """The retry of a failed forget finds no bits left; what they named must go all the same."""
    from services.segment.bitmaps import FORGOTTEN

    ws = workspace_id
    index = await _index(stack, ws, {7: {"nickname": "only-mine", "city": "上海"}, 8: {"city": "上海"}})
    real_prune = index._prune_values

    async def failing(*args):
        raise ConnectionError("store went away after the bits were cleared")

    index._prune_values = failing
    try:
        await index.retire(ws, 7, FORGOTTEN, 1)
    except ConnectionError:
        pass
    else:
        raise AssertionError("the patched prune did not run")
    r = index.redis
    named = [k async for k in r.scan_iter(match=f"*{ws}*") if b"only-mine" in k]
    assert named  # the failed pass left the value's bitmap behind

    index._prune_values = real_prune
    await index.retire(ws, 7, FORGOTTEN, 1)  # the consumer's retry of the same record
    keys = [k async for k in r.scan_iter(match=f"*{ws}*")]
    assert [k for k in keys if b"only-mine" in k] == []
    sets = [k for k in keys if await r.type(k) == b"set"]
    assert [k for k in sets if any(b"only-mine" in m for m in await r.smembers(k))] == []
    assert await index.count(ws, parse('traits.city = "上海"')) == 1

"""Segment's bitmap index on a two-node Redis Cluster: the same answers as on one Redis.

Shards carry {workspace:shard} as hash tag, so they spread over the nodes and a
count's shard scripts run side by side. Brute force decides what is right, as in
test_segment_engine; the real-time world of test_segment_realtime runs on the
cluster too (transitions, exits on forget, rebuild).
"""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from services.kit.redis_client import connect_cluster
from services.kit.rules import parse
from services.segment import encoding as enc
from services.segment.bitmap_keys import lock_key, shard_key
from services.segment.bitmaps import BitmapIndex
from services.segment.bulk import rebuild
from tests.segment_truth import holds
from tests.test_segment_engine import RULES, TODAY, load, people
from tests.test_segment_realtime import BIG, World


def spread(client, workspace_id: str) -> str:
    """A workspace id whose shards 0 and 1 live on different nodes (the hash tag decides)."""
    for n in range(100):
        ws = f"{workspace_id}_{n}"
        nodes = {client.get_node_from_key(shard_key(ws, s, "alive")).name for s in (0, 1)}
        if len(nodes) == 2:
            return ws
    raise AssertionError("no workspace id spreads over both nodes")


async def test_every_rule_counts_and_checks_as_brute_force_on_a_cluster(redis_cluster, workspace_id):
    probe = await connect_cluster(redis_cluster).initialize()
    workspace_id = spread(probe, workspace_id)
    await probe.aclose()
    client = connect_cluster(redis_cluster)  # a fresh client: the index must learn the slots itself
    index = BitmapIndex(client)
    persons = people(300, seed=11)
    await load(index, workspace_id, persons)
    shards = await index.shards(workspace_id)
    assert len(shards) >= 2
    # The shards really live on different nodes.
    nodes = {client.get_node_from_key(shard_key(workspace_id, s, "alive")).name for s in shards}  # known by now
    assert len(nodes) == 2, nodes
    sample = list(persons)[:25]
    for rule in RULES:
        node = parse(rule)
        truth = {uid for uid, p in persons.items() if holds(node, p, TODAY)}
        assert await index.count(workspace_id, node, TODAY) == len(truth), rule
        program = await index.compile(workspace_id, node, TODAY)
        for uid in sample:
            (flag,) = await index.evaluate_bits(workspace_id, uid, [program])
            assert flag == (uid in truth), (rule, uid)
    await client.aclose()


@pytest.fixture
async def world(stack, redis_cluster, workspace_id):
    probe = await connect_cluster(redis_cluster).initialize()
    w = World(stack, spread(probe, workspace_id))
    await probe.aclose()
    await w.redis.aclose()
    w.redis = connect_cluster(redis_cluster)
    outboxes = w.index._outboxes
    w.index = BitmapIndex(w.redis)
    w.index._outboxes.update(outboxes)
    w.audiences.index = w.index
    w.rt.index = w.index
    yield w
    await w.close()


async def test_real_time_transitions_counts_and_rebuild_on_a_cluster(world):
    await world.change(99, traits__age=1, traits__city="深圳")  # a rule may name traits once seen
    seg = await world.audiences.create(world.ws, "adults in Shanghai", 'traits.age >= 18 AND traits.city = "上海"')
    await world.change(1, traits__age=30, traits__city="上海")
    await world.change(BIG, traits__age=40, traits__city="上海")
    await world.change(2, traits__age=12, traits__city="上海")
    assert await world.count(seg["_id"]) == 2
    assert await world.count(seg["_id"]) == 2  # the reused program, meta re-read with it
    assert await world.audiences.is_member(world.ws, seg["_id"], BIG)
    await world.change(BIG, traits__city="北京")
    assert await world.count(seg["_id"]) == 1
    transitions = await world.transitions()
    assert transitions.count((seg["_id"], "enter", BIG)) == 1
    assert transitions.count((seg["_id"], "exit", BIG)) == 1
    assert transitions.count((seg["_id"], "enter", 1)) == 1
    # Forgetting a member clears it on its node and announces the exit from there.
    await world.rt.forgotten(world.ws, 1, int(world.clock.now().timestamp() * 1000))
    assert await world.count(seg["_id"]) == 0
    assert (seg["_id"], "exit", 1) in await world.transitions()
    await world.change(BIG, traits__city="上海")
    before = await world.count(seg["_id"])
    assert before == 1
    await rebuild(world.audiences, world.ws)
    assert await world.count(seg["_id"]) == before
    assert enc.shard_of(BIG)[0] != enc.shard_of(1)[0]


async def test_two_persons_locks_on_two_nodes_are_renewed_also_while_waiting(world):
    # A merge locks winner and loser: on a cluster their locks sit in different slots.
    first, second = 3, BIG + 3
    a, b = lock_key(world.ws, first), lock_key(world.ws, second)
    await world.redis.initialize()
    assert world.redis.get_node_from_key(a).name != world.redis.get_node_from_key(b).name
    await world.redis.set(b, "another replica", px=1500)
    taken = asyncio.Event()

    async def merge_work() -> None:
        async with world.index.person_lock(world.ws, first, second, ttl_ms=300):
            taken.set()
            await asyncio.sleep(0.8)  # longer than the TTL: only renewal keeps both
            assert await world.redis.get(a) == await world.redis.get(b) != b"another replica"

    work = asyncio.create_task(merge_work())
    await asyncio.sleep(0.8)
    # Still waiting for the second person, and the first one's lock has not lapsed meanwhile.
    assert not taken.is_set()
    assert await world.redis.exists(a)
    await asyncio.wait_for(work, 10)
    assert not await world.redis.exists(a) and not await world.redis.exists(b)


def _cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, check=True).stdout.decode()


def move_slot_of(client, key: str) -> None:
    """Move the slot holding `key` (and its keys) to the other node, as a resharding would."""
    slot = client.keyslot(key)
    src = client.get_node_from_key(key)
    dst = next(n for n in client.get_primaries() if n.name != src.name)
    src_id, dst_id = (_cli(n.port, "cluster", "myid").strip() for n in (src, dst))
    _cli(dst.port, "cluster", "setslot", str(slot), "importing", src_id)
    _cli(src.port, "cluster", "setslot", str(slot), "migrating", dst_id)
    keys = _cli(src.port, "cluster", "getkeysinslot", str(slot), "100000").split()
    if keys:
        _cli(src.port, "migrate", "127.0.0.1", str(dst.port), "", "0", "5000", "keys", *keys)
    for node in (src, dst):
        _cli(node.port, "cluster", "setslot", str(slot), "node", dst_id)


async def test_counts_follow_a_slot_moved_to_the_other_node(world):
    await world.change(99, traits__age=1, traits__city="深圳")
    seg = await world.audiences.create(world.ws, "grown-ups", "traits.age >= 18")
    for uid in (1, 2, BIG + 1):
        await world.change(uid, traits__age=30)
    assert await world.count(seg["_id"]) == 3
    assert await world.count(seg["_id"]) == 3  # the routing of this count is now cached
    await world.redis.initialize()
    move_slot_of(world.redis, shard_key(world.ws, 0, "alive"))
    assert await world.count(seg["_id"]) == 3  # redirected: routing learnt again
    assert await world.count(seg["_id"]) == 3
    assert await world.audiences.is_member(world.ws, seg["_id"], 2)

"""Real-time membership, in process against real Redis and MongoDB-wire, with an injectable clock.

Transitions are read from the shards' outbox streams (what the relay publishes);
test_segment_service.py follows them through Kafka.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random

import pytest
import redis.asyncio as aioredis

from services.kit.clock import FixedClock
from services.kit.errors import Conflict, InvalidInput
from services.kit.mongo import connect
from services.segment import audiences as audiences_module
from services.segment import encoding as enc
from services.segment.audiences import Audiences
from services.segment.bitmap_keys import lock_key, outbox_key
from services.segment.bitmaps import BitmapIndex
from services.segment.bulk import rebuild
from services.segment.people import People
from services.segment.realtime import Realtime
from services.segment.store import SegmentStore

# Behaviour bitmaps expire in Redis's real time, so the injectable clock starts at today.
START = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
BIG = (1 << enc.SHARD_BITS) + 9


class World:
    def __init__(self, stack, ws: str) -> None:
        self.ws = ws
        self.clock = FixedClock(START)
        self.redis = aioredis.from_url(stack.redis_url)
        self.client = connect(stack.mongo_url, "tests")
        # A database of its own: the session's segment service sweeps the windowed segments it finds in
        # the shared one, with the real clock, and would move people these tests move with a fixed one.
        db = self.client[stack.mongo_db + "_in_process"]
        self.index = BitmapIndex(self.redis)
        # Keep this workspace's outboxes off the relays' list: a segment service running in the
        # same session would otherwise publish (and delete) the entries these tests read.
        self.outboxes = [outbox_key(ws, shard) for shard in range(4)]
        self.index._outboxes.update(self.outboxes)
        self.people = People(self.client, db)
        self.audiences = Audiences(SegmentStore(db), self.people, self.index, self.clock)
        self.rt = Realtime(self.audiences, self.index, self.people, self.clock)
        self.n = 0

    async def change(self, uid: int, cause: str | None = None, **values) -> list[str]:
        self.n += 1
        changes = {k.replace("__", "."): v for k, v in values.items()}
        at = int(self.clock.now().timestamp() * 1000)
        return await self.rt.profile_changed(self.ws, uid, f"p{uid}", changes, cause or f"c{self.n}", at)

    async def event(self, uid: int, name: str, message_id: str | None = None, **props) -> list[str]:
        self.n += 1
        return await self.rt.event(self.ws, uid, f"p{uid}", message_id or f"e{self.n}", name, props, self.clock.now())

    async def transitions(self) -> list[tuple[str, str, int]]:
        out = []
        for stream in self.outboxes:
            for _, fields in await self.redis.xrange(stream):
                out.append((fields[b"segment"].decode(), fields[b"change"].decode(), int(fields[b"uid"])))
        return sorted(out, key=lambda t: (t[0], t[2]))

    async def count(self, segment_id: str) -> int:
        return (await self.audiences.count(self.ws, segment_id))[0]

    async def close(self) -> None:
        await self.redis.aclose()
        await self.client.close()


@pytest.fixture
async def world(stack, workspace_id):
    w = World(stack, workspace_id)
    yield w
    await w.close()


async def test_only_transitions_are_announced_once_each_and_replays_add_nothing(world):
    await world.change(1, traits__gender="male", traits__age=30)
    women = (await world.audiences.create(world.ws, "women", 'traits.gender = "female" AND traits.age >= 25'))["_id"]
    other = (await world.audiences.create(world.ws, "old", "traits.age >= 60"))["_id"]
    assert await world.change(1, cause="c-a", traits__gender="female") == [women]
    assert await world.change(1, cause="c-a", traits__gender="female") == []  # replay
    assert await world.change(1, traits__city="上海") == []  # no segment reads city
    assert await world.change(BIG, traits__gender="female", traits__age=40) == [women]
    assert await world.change(1, traits__age=20) == [women]
    # A replay of an older change after later ones does not go back (the document is newer).
    assert await world.change(1, cause="c-a", traits__gender="female") == []
    assert await world.transitions() == [(women, "enter", 1), (women, "exit", 1), (women, "enter", BIG)]
    assert await world.count(women) == 1 and await world.count(other) == 0


async def test_behaviour_window_exits_on_day_31_without_any_event(world):
    await world.change(5, traits__gender="female")
    await world.change(6, traits__gender="female")
    recent = (await world.audiences.create(world.ws, "buyers", 'DID "Order Completed" IN LAST 30 DAYS'))["_id"]
    twice = (await world.audiences.create(world.ws, "twice", 'DID "Order Completed" AT LEAST 2 TIMES IN LAST 30 DAYS'))[
        "_id"
    ]
    fruit = (
        await world.audiences.create(world.ws, "fruit", 'DID "Order Completed" WHERE category = "fruit" IN LAST 7 DAYS')
    )["_id"]
    assert await world.event(5, "Order Completed", products=[{"category": "fruit"}]) == sorted([recent, fruit])
    assert await world.event(5, "Order Completed", message_id="dup") == [twice]
    assert await world.event(5, "Order Completed", message_id="dup") == []  # counted once
    world.clock.advance(days=10)
    assert await world.event(6, "Order Completed") == [recent]
    assert await world.count(recent) == 2 and await world.count(twice) == 1
    assert await world.rt.sweep(world.ws) == 1  # fruit: day 11, person 5 leaves
    world.clock.advance(days=20)  # day 31 after person 5's orders
    assert await world.rt.sweep(world.ws) == 2  # person 5 leaves "recent" and "twice"
    assert await world.rt.sweep(world.ws) == 0  # idempotent
    assert await world.count(recent) == 1 and await world.count(twice) == 0
    assert (recent, "exit", 5) in await world.transitions()
    world.clock.advance(days=10)
    assert await world.rt.sweep(world.ws) == 1
    assert await world.count(recent) == 0


async def test_references_cycles_and_dependent_segments(world):
    await world.change(1, traits__gender="female", computed__revenue=2000.5)
    rich = (await world.audiences.create(world.ws, "rich", "computed.revenue >= 1000"))["_id"]
    rich_women = (
        await world.audiences.create(world.ws, "rich women", 'IN SEGMENT "rich" AND traits.gender = "female"')
    )["_id"]
    assert await world.count(rich_women) == 1
    with pytest.raises(InvalidInput, match="cycle"):
        await world.audiences.update(world.ws, rich, None, f'IN SEGMENT "{rich_women}"')
    with pytest.raises(Conflict):
        await world.audiences.delete(world.ws, rich)
    # A change of what the referenced segment reads re-evaluates the dependent one too.
    assert sorted(await world.change(1, computed__revenue=10)) == sorted([rich, rich_women])


async def test_merge_moves_behaviour_to_the_winner_and_unmerge_takes_it_back(world):
    await world.change(1, traits__gender="female")
    await world.change(2, traits__gender="male")
    buyers = (await world.audiences.create(world.ws, "b", 'DID "Order Completed" AT LEAST 2 TIMES IN LAST 30 DAYS'))[
        "_id"
    ]
    await world.event(1, "Order Completed")
    await world.event(2, "Order Completed")
    assert await world.count(buyers) == 0
    at = int(world.clock.now().timestamp() * 1000)
    await world.rt.merged(world.ws, 1, 2, "m1", at)
    await world.rt.merged(world.ws, 1, 2, "m1", at)  # replay
    assert await world.audiences.is_member(world.ws, buyers, 1)
    assert await world.count(buyers) == 1
    await world.rt.unmerged(world.ws, 1, 2, "m1", at + 1000)
    assert await world.count(buyers) == 0
    assert await world.transitions() == [(buyers, "enter", 1), (buyers, "exit", 1)]


async def test_forget_clears_everything_and_rebuild_gives_identical_counts(world):
    ws = world.ws
    for uid in range(1, 40):
        await world.change(
            uid if uid % 3 else BIG + uid,
            traits__gender=["female", "male"][uid % 2],
            traits__age=18 + uid,
            computed__revenue=uid * 37.5,
            tags__vip={"value": "true", "confidence": (uid % 10) / 10},
        )
        if uid % 4 == 0:
            await world.event(uid if uid % 3 else BIG + uid, "Order Completed", category="fruit")
    await world.rt.forgotten(ws, 4, int(world.clock.now().timestamp() * 1000))
    rules = [
        'traits.gender = "female" AND traits.age BETWEEN 25 AND 40',
        "computed.revenue >= 500 AND NOT tags.vip WITH CONFIDENCE >= 0.5",
        'DID "Order Completed" WHERE category = "fruit" IN LAST 7 DAYS',
        "NOT traits.age > 30",
    ]
    before = [(await world.audiences.preview(ws, r))[0] for r in rules]
    assert before[2] == 8  # 9 buyers, one forgotten
    assert await world.people.people.find_one({"_id": f"{ws}:4"}) is None
    # Wipe the attribute and behaviour bitmaps, then rebuild from MongoDB alone.
    for shard in await world.index.shards(ws):
        keys = [k async for k in world.redis.scan_iter(match=f"cdp:{{{ws}:{shard}}}:*")]
        await world.redis.delete(*[k for k in keys if b":gone" not in k])
    assert (await world.audiences.preview(ws, rules[0]))[0] == 0
    assert await rebuild(world.audiences, ws) == 38
    assert [(await world.audiences.preview(ws, r))[0] for r in rules] == before


async def test_two_replicas_handling_the_same_records_side_by_side_agree_with_one(world):
    """A rebalance hands a partition to a new member while the old one still works through its batch,
    so two replicas handle one person's records at the same time (the new one from the last commit)."""
    twin_index = BitmapIndex(world.redis)
    twin_index._outboxes.update(world.outboxes)
    twin_audiences = Audiences(
        SegmentStore(world.audiences.store.segments.database), world.people, twin_index, world.clock
    )
    twin = Realtime(twin_audiences, twin_index, world.people, world.clock)
    await world.change(999, traits__tier="bronze")
    gold = (await world.audiences.create(world.ws, "gold", 'traits.tier = "gold"'))["_id"]
    persons, rounds = range(1, 25), 6
    at = int(world.clock.now().timestamp() * 1000)
    rng = random.Random(7)

    done = {(uid, r): asyncio.Event() for uid in persons for r in range(rounds)}

    async def replica(rt: Realtime, uid: int, start: int) -> None:
        # The new member starts at the last committed offset: everything before it was handled.
        if start:
            await done[(uid, start - 1)].wait()
        for r in range(start, rounds):
            await asyncio.sleep(rng.random() * 0.01)
            tier = "gold" if r % 2 == 0 else "silver"
            await rt.profile_changed(world.ws, uid, f"p{uid}", {"traits.tier": tier}, f"{uid}-{r}", at + r)
            done[(uid, r)].set()

    await asyncio.gather(
        *(replica(world.rt, uid, 0) for uid in persons), *(replica(twin, uid, 1 + uid % 3) for uid in persons)
    )
    by_person: dict[int, list[str]] = {}
    for segment, change, uid in await world.transitions():
        if segment == gold:
            by_person.setdefault(uid, []).append(change)
    # sorted() in transitions() keeps each person's entries in stream order.
    assert by_person == {uid: ["enter", "exit"] * (rounds // 2) for uid in persons}
    assert await world.count(gold) == 0
    assert (await world.audiences.preview(world.ws, 'traits.tier = "silver"'))[0] == len(persons)


async def test_merged_away_and_forgotten_members_exit_once_and_the_restored_person_enters_again(world):
    for uid in (1, 2, 3):
        await world.change(uid, traits__gender="female")
    women = (await world.audiences.create(world.ws, "women", 'traits.gender = "female"'))["_id"]
    nobody = (await world.audiences.create(world.ws, "men", 'traits.gender = "male"'))["_id"]
    at = int(world.clock.now().timestamp() * 1000)

    async def entries() -> list[tuple[str, str, int, str, str]]:
        out = []
        for stream in world.outboxes:
            for _, f in await world.redis.xrange(stream):
                out.append(
                    (
                        f[b"segment"].decode(),
                        f[b"change"].decode(),
                        int(f[b"uid"]),
                        f.get(b"reason", b"").decode(),
                        f[b"cause"].decode(),
                    )
                )
        return out

    await world.rt.merged(world.ws, 1, 2, "m1", at)
    await world.rt.merged(world.ws, 1, 2, "m1", at)  # a replayed identity event announces nothing more
    await world.rt.forgotten(world.ws, 3, at)
    await world.rt.forgotten(world.ws, 3, at)
    assert await entries() == [(women, "exit", 2, "merged", "merge:m1"), (women, "exit", 3, "forgotten", "forgotten:3")]
    assert await world.count(women) == 1 and await world.count(nobody) == 0

    # Unmerged: profile announces the restored person's own profile, which brings it back in.
    await world.rt.unmerged(world.ws, 1, 2, "m1", at + 1000)
    world.clock.advance(seconds=2)
    assert await world.change(2, traits__gender="female") == [women]
    assert (await entries())[2:] == [(women, "enter", 2, "", "c4")]
    assert await world.count(women) == 2


async def test_a_segment_created_with_announce_existing_enters_every_initial_member_once(world, monkeypatch):
    members = [1, 2, 3, BIG, BIG + 1]
    for uid in members:
        await world.change(uid, traits__plan="gold")
    await world.change(7, traits__plan="free")
    silent = (await world.audiences.create(world.ws, "silent", 'traits.plan = "gold"'))["_id"]
    # Small chunks: several scripts per shard, each flipping at most two bits.
    monkeypatch.setattr(audiences_module, "RECONCILE_BATCH", 2)
    loud = (await world.audiences.create(world.ws, "loud", 'traits.plan = "gold"', announce_existing=True))["_id"]
    assert await world.transitions() == [(loud, "enter", uid) for uid in members]
    assert await world.count(loud) == await world.count(silent) == len(members)
    # Once only: a later change re-evaluates both and flips only what really changes.
    assert sorted(await world.change(2, traits__plan="free")) == sorted([silent, loud])
    assert await world.change(1, traits__plan="gold", traits__city="x") == []
    assert sorted(await world.transitions()) == sorted(
        [(loud, "enter", uid) for uid in members] + [(loud, "exit", 2), (silent, "exit", 2)]
    )


async def test_declared_traits_and_tags_can_be_used_before_any_data(world):
    ws = world.ws
    with pytest.raises(InvalidInput, match="unknown trait 'loyalty'"):
        await world.audiences.create(ws, "early", 'traits.loyalty = "gold"')
    for path, kind, field in [
        ("traits.$where", "text", "path"),
        ("profile.loyalty", "text", "path"),
        ("traits.1st", "number", "path"),
        ("traits.loyalty", "date", "kind"),
        ("tags.early_bird", "number", "kind"),
    ]:
        with pytest.raises(InvalidInput) as err:
            await world.audiences.declare_field(ws, path, kind)
        assert err.value.field == field
    assert await world.people.fields.count_documents({"workspace": ws}) == 0, "bad input changed nothing"

    declared = await world.audiences.declare_field(ws, "traits.loyalty", "text")
    assert (declared["kinds"], declared["declared"]) == (["text"], ["text"])
    await world.audiences.declare_field(ws, "traits.loyalty", "text")  # idempotent
    await world.audiences.declare_field(ws, "traits.score", "NUMBER")
    await world.audiences.declare_field(ws, "tags.early_bird", "")
    early = (
        await world.audiences.create(
            ws, "early", 'traits.loyalty = "gold" AND traits.score >= 10 OR tags.early_bird WITH CONFIDENCE >= 0.5'
        )
    )["_id"]
    with pytest.raises(InvalidInput, match="not a number"):
        await world.audiences.create(ws, "bad", "traits.loyalty > 3")
    assert await world.count(early) == 0

    # The first data then moves people in, announced like any transition.
    assert await world.change(1, traits__loyalty="gold", traits__score=12) == [early]
    assert await world.change(2, traits__loyalty="gold", traits__score=3) == []
    assert await world.change(3, tags__early_bird={"value": "true", "confidence": 0.9}) == [early]
    assert await world.count(early) == 2
    seen = await world.people.fields.find_one({"_id": f"{ws}:traits.score"})
    assert (seen["kinds"], seen["declared"]) == (["number"], ["number"])


async def test_a_person_lock_is_renewed_while_held_and_lapses_when_its_holder_is_gone(world):
    key = lock_key(world.ws, 5)
    async with world.index.person_lock(world.ws, 5, ttl_ms=300):
        await asyncio.sleep(0.8)  # longer than the TTL: only renewal keeps it
        assert not await world.redis.set(key, "other", nx=True, px=300), "a second replica got in"
    assert not await world.redis.exists(key)
    # A holder that died (SIGKILL: nothing renews or releases) blocks the person for one TTL only.
    await world.redis.set(key, "dead replica", px=300)
    started = asyncio.get_running_loop().time()
    assert await world.change(5, traits__gender="female") == []
    assert 0.2 < asyncio.get_running_loop().time() - started < 5

"""segment follows identity: merged-away and forgotten uids leave every bitmap.

Real processes: the segment service consumes profile.changed and the identity
topics from Tansu and writes Redis; the tests produce those events themselves
(as profile and identity would) and read the result over gRPC, GraphQL and
straight from Redis.
"""

from __future__ import annotations

import datetime as dt
import uuid

import grpc
import pytest
import redis

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.profile.v1 import events_pb2 as profile_events
from cdp.segment.v1 import events_pb2 as segment_events
from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from services.kit.kafka import Topics
from services.kit.protos import to_timestamp, to_value
from services.segment.bitmap_keys import alive_key, trait_key
from services.segment.encoding import SHARD_BITS, shard_of
from tests.conftest import eventually, grpc_stub
from tests.helpers import graphql, mongo_db, produce, read_topic

BIG = 1 << SHARD_BITS  # uids from here on live in shard 1


@pytest.fixture(scope="module")
def segment(start_service):
    stack = start_service("segment")
    _fields.append(mongo_db(stack)["segment_fields"])
    return stack


_fields: list = []


def declare(ws: str, rule: str) -> None:
    """Rules may name only traits the workspace has seen; these tests define segments first."""
    import re

    for name in set(re.findall(r"traits\.(\w+)", rule)):
        _fields[0].update_one(
            {"_id": f"{ws}:traits.{name}"},
            {
                "$set": {"workspace": ws, "path": f"traits.{name}"},
                "$addToSet": {"kinds": {"$each": ["text", "number", "bool"]}},
            },
            upsert=True,
        )


@pytest.fixture(scope="module")
def stub(segment):
    return grpc_stub(segment, "segment", segment_pb2_grpc.SegmentServiceStub)


@pytest.fixture(scope="module")
def r(segment):
    client = redis.Redis.from_url(segment.redis_url)
    yield client
    client.close()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def changed(ws: str, person: str, uid: int, traits: dict, at: dt.datetime, before: dict | None = None):
    """A profile.changed as profile's announcement() builds it."""
    before = before or {}
    return (
        Topics.PROFILE_CHANGED,
        person,
        profile_events.ProfileChanged(
            workspace_id=ws,
            person_id=person,
            uid=uid,
            cause_message_id=uuid.uuid4().hex,
            at=to_timestamp(at),
            changes=[
                profile_events.FieldChange(path=f"traits.{k}", before=to_value(before.get(k)), after=to_value(v))
                for k, v in traits.items()
            ],
        ),
    )


def merged(ws: str, winner: tuple[str, int], loser: tuple[str, int], at: dt.datetime, merge_id: str = ""):
    return (
        Topics.IDENTITY_MERGED,
        winner[0],
        identity_events.IdentityMerged(
            workspace_id=ws,
            merge_id=merge_id or uuid.uuid4().hex,
            winner_id=winner[0],
            winner_uid=winner[1],
            loser_id=loser[0],
            loser_uid=loser[1],
            rule="test",
            at=to_timestamp(at),
        ),
    )


def unmerged(ws: str, winner: tuple[str, int], restored: tuple[str, int], at: dt.datetime, merge_id: str):
    return (
        Topics.IDENTITY_UNMERGED,
        winner[0],
        identity_events.IdentityUnmerged(
            workspace_id=ws,
            merge_id=merge_id,
            winner_id=winner[0],
            winner_uid=winner[1],
            restored_id=restored[0],
            restored_uid=restored[1],
            at=to_timestamp(at),
        ),
    )


def forgotten(ws: str, person: tuple[str, int], at: dt.datetime, key: str = ""):
    return (
        Topics.PERSON_FORGOTTEN,
        key or person[0],
        identity_events.PersonForgotten(workspace_id=ws, person_id=person[0], uid=person[1], at=to_timestamp(at)),
    )


def create(stub, ws: str, rule: str) -> str:
    declare(ws, rule)
    return stub.CreateSegment(segment_pb2.CreateSegmentRequest(workspace_id=ws, name=rule[:60], rule=rule)).id


def count(stub, ws: str, segment_id: str) -> int:
    return stub.Count(segment_pb2.CountRequest(workspace_id=ws, segment_id=segment_id)).count


def preview(stub, ws: str, rule: str) -> int:
    """The count; -1 while the service's one-second cache of known fields has not seen the declaration."""
    declare(ws, rule)
    try:
        return stub.Preview(segment_pb2.PreviewRequest(workspace_id=ws, rule=rule)).count
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT and "unknown" in exc.details():
            return -1
        raise


def member(stub, ws: str, segment_id: str, uid: int) -> bool:
    return stub.IsMember(segment_pb2.IsMemberRequest(workspace_id=ws, segment_id=segment_id, uid=uid)).member


def bits_of(r, ws: str, uid: int) -> list[bytes]:
    """Every key of the uid's shard (temporaries excepted) in which the uid's bit is set."""
    shard, offset = shard_of(uid)
    pattern = f"cdp:{{{ws}:{shard}}}:*"
    keys = [k for k in r.scan_iter(match=pattern, count=1000, _type="string") if b":tmp:" not in k]
    return [k for k in keys if r.getbit(k, offset)]


def alive(r, ws: str, uid: int) -> bool:
    shard, offset = shard_of(uid)
    return bool(r.getbit(alive_key(ws, shard), offset))


def has_bit(r, ws: str, uid: int, trait: str, value) -> bool:
    shard, offset = shard_of(uid)
    return bool(r.getbit(trait_key(ws, shard, trait, value), offset))


def announced(stack, ws: str, uid: int, until, seconds: float = 30.0) -> list[tuple[str, str, str]]:
    """(segment, change, reason) of the uid's membership records on Kafka, in order."""

    def mine(msgs):
        return [(m.segment_id, m.change, m.reason) for m in msgs if m.workspace_id == ws and m.uid == uid]

    msgs = read_topic(
        stack,
        Topics.SEGMENT_MEMBERSHIP,
        segment_events.SegmentMembershipChanged,
        seconds,
        until=lambda m: until(mine(m)),
    )
    return mine(msgs)


def person_segments(stack, ws: str, people: list[tuple[str, int]]) -> dict[str, list[str]]:
    answer = graphql(
        stack.http_url("segment") + "/graphql",
        ws,
        """query($r: [_Any!]!) { _entities(representations: $r) { ... on Person { id segments { id } } } }""",
        {"r": [{"__typename": "Person", "id": pid, "uid": uid} for pid, uid in people]},
    )
    assert "errors" not in answer, answer
    return {p["id"]: sorted(s["id"] for s in p["segments"]) for p in answer["data"]["_entities"]}


def test_merge_erases_the_loser_everywhere_and_the_winner_keeps_its_profile(segment, stub, r, workspace_id):
    ws = workspace_id
    winner, loser, other = ("p-win", 10), ("p-lose", BIG + 11), ("p-other", 12)
    female = create(stub, ws, 'traits.gender = "female"')
    silver = create(stub, ws, 'traits.tier = "silver"')
    not_male = create(stub, ws, 'NOT traits.gender = "male"')
    t0 = now()
    produce(
        segment,
        [
            changed(ws, winner[0], winner[1], {"gender": "female", "tier": "gold"}, t0),
            changed(ws, loser[0], loser[1], {"gender": "female", "city": "上海", "tier": "silver"}, t0),
            changed(ws, other[0], other[1], {"gender": "male"}, t0),
        ],
    )
    eventually(lambda: count(stub, ws, female) == 2 and count(stub, ws, silver) == 1)
    assert count(stub, ws, not_male) == 2
    assert member(stub, ws, silver, loser[1])
    # alive; gender, city and tier: value and "exists"; memberships of female, silver and not_male
    assert len(bits_of(r, ws, loser[1])) == 10

    # As identity and profile do it: the merge, and the winner's combined profile.
    t1 = now()
    merge = merged(ws, winner, loser, t1)
    produce(segment, [merge, changed(ws, winner[0], winner[1], {"city": "上海"}, t1)])

    eventually(lambda: not alive(r, ws, loser[1]))
    eventually(lambda: preview(stub, ws, 'traits.city = "上海"') == 1)
    assert bits_of(r, ws, loser[1]) == []
    assert count(stub, ws, female) == 1
    assert count(stub, ws, silver) == 0, "the loser's conflicting tier must not survive anywhere"
    assert count(stub, ws, not_male) == 1
    assert not member(stub, ws, female, loser[1])
    assert member(stub, ws, female, winner[1])
    assert has_bit(r, ws, winner[1], "tier", "gold") and has_bit(r, ws, winner[1], "city", "上海")
    assert person_segments(segment, ws, [winner, loser]) == {
        winner[0]: sorted([female, not_male]),
        loser[0]: [],
    }

    # A replay changes nothing; a second merge behind it (same key, same partition) shows it was handled.
    sentinel = ("p-sentinel", 13)
    produce(segment, [changed(ws, sentinel[0], sentinel[1], {"gender": "female"}, t1)])
    eventually(lambda: has_bit(r, ws, sentinel[1], "gender", "female"))
    produce(segment, [merge, merged(ws, winner, sentinel, now())])
    eventually(lambda: not alive(r, ws, sentinel[1]))
    assert bits_of(r, ws, loser[1]) == []
    assert (count(stub, ws, female), count(stub, ws, silver), count(stub, ws, not_male)) == (1, 0, 1)
    assert member(stub, ws, female, winner[1])
    # The loser left each segment it was in with one exit saying why, the replayed merge added none.
    exits = [a for a in announced(segment, ws, loser[1], until=lambda a: False, seconds=6) if a[1] == "exit"]
    assert sorted(exits) == sorted((s, "exit", "merged") for s in (female, silver, not_male))


def test_forget_erases_the_uid_and_later_changes_cannot_bring_it_back(segment, stub, r, workspace_id):
    ws = workspace_id
    gone, kept = ("p-forget", 20), ("p-kept", 21)
    not_male = create(stub, ws, 'NOT traits.gender = "male"')
    vip = create(stub, ws, "traits.vip = true")
    t0 = now()
    traits = {"gender": "female", "vip": True}
    produce(
        segment,
        [changed(ws, gone[0], gone[1], traits, t0), changed(ws, kept[0], kept[1], {"gender": "male"}, t0)],
    )
    eventually(lambda: count(stub, ws, vip) == 1 and preview(stub, ws, 'traits.gender = "male"') == 1)
    assert count(stub, ws, not_male) == 1

    t1 = now()
    produce(segment, [forgotten(ws, gone, t1)])
    eventually(lambda: not alive(r, ws, gone[1]))
    assert bits_of(r, ws, gone[1]) == []
    assert count(stub, ws, vip) == 0 and count(stub, ws, not_male) == 0

    # Profile's own erasure: every trait to null, announced after identity's event. It sets no bit
    # (alive included); the sentinel behind it on the same key shows the worker got past it.
    erase = changed(ws, gone[0], gone[1], dict.fromkeys(traits), now(), before=traits)
    sentinel = changed(ws, gone[0], 22, {"gender": "male"}, now())
    produce(segment, [erase, sentinel])
    eventually(lambda: preview(stub, ws, 'traits.gender = "male"') == 2)
    assert not alive(r, ws, gone[1])
    assert count(stub, ws, not_male) == 0, "a forgotten uid counted under NOT"
    # Even a later change for the uid sets nothing.
    produce(segment, [changed(ws, gone[0], gone[1], {"vip": True}, now()), changed(ws, gone[0], 23, {"a": 1}, now())])
    eventually(lambda: preview(stub, ws, "traits.a = 1") == 1)
    assert bits_of(r, ws, gone[1]) == []

    # Replaying the forget is harmless; the sentinel forget behind it shows it was handled.
    produce(segment, [forgotten(ws, gone, t1), forgotten(ws, ("p-other", 23), now(), key=gone[0])])
    eventually(lambda: not alive(r, ws, 23))
    assert bits_of(r, ws, gone[1]) == [] and bits_of(r, ws, 23) == []
    assert preview(stub, ws, 'traits.gender = "male"') == 2
    assert count(stub, ws, not_male) == 0
    # It entered both segments in real time and left each once, saying why.
    assert sorted(announced(segment, ws, gone[1], until=lambda a: False, seconds=6)) == sorted(
        [(not_male, "enter", ""), (vip, "enter", ""), (not_male, "exit", "forgotten"), (vip, "exit", "forgotten")]
    )


def test_stale_changes_are_dropped_and_unmerge_brings_the_person_back(segment, stub, r, workspace_id):
    ws = workspace_id
    winner, loser = ("p-w", 30), ("p-l", BIG + 31)
    silver = create(stub, ws, 'traits.tier = "silver"')
    not_gold = create(stub, ws, 'NOT traits.tier = "gold"')
    t0 = now()
    produce(
        segment,
        [
            changed(ws, winner[0], winner[1], {"tier": "gold"}, t0),
            changed(ws, loser[0], loser[1], {"tier": "silver"}, t0),
        ],
    )
    eventually(lambda: count(stub, ws, silver) == 1)
    t1 = t0 + dt.timedelta(seconds=1)
    merge_id = "merge-30-31"
    produce(segment, [merged(ws, winner, loser, t1, merge_id)])
    eventually(lambda: not alive(r, ws, loser[1]))
    assert count(stub, ws, silver) == 0 and count(stub, ws, not_gold) == 0

    # A change of the loser from before the merge that the index worker sees only now is dropped.
    stale = changed(ws, loser[0], loser[1], {"tier": "bronze"}, t0 + dt.timedelta(milliseconds=500), {"tier": "silver"})
    produce(segment, [stale, changed(ws, loser[0], BIG + 32, {"probe": 1}, t1)])
    eventually(lambda: preview(stub, ws, "traits.probe = 1") == 1)
    assert bits_of(r, ws, loser[1]) == []
    assert preview(stub, ws, 'traits.tier = "bronze"') == 0
    assert count(stub, ws, not_gold) == 1  # the probe only

    # Unmerge: the restored uid is alive even before (or without) its traits arrive...
    t2 = t1 + dt.timedelta(seconds=1)
    produce(segment, [unmerged(ws, winner, loser, t2, merge_id)])
    eventually(lambda: alive(r, ws, loser[1]))
    assert count(stub, ws, not_gold) == 2
    # ...and profile.changed restores its traits from nothing.
    produce(segment, [changed(ws, loser[0], loser[1], {"tier": "silver"}, t2 + dt.timedelta(seconds=1))])
    eventually(lambda: count(stub, ws, silver) == 1)
    assert member(stub, ws, silver, loser[1])
    assert person_segments(segment, ws, [loser]) == {loser[0]: sorted([silver, not_gold])}

    # A replay of the undone merge does not erase the restored person again.
    produce(segment, [changed(ws, "p-s", 33, {"tier": "silver"}, t2)])
    eventually(lambda: count(stub, ws, silver) == 2)
    produce(segment, [merged(ws, winner, loser, t1, merge_id), merged(ws, winner, ("p-s", 33), now())])
    eventually(lambda: not alive(r, ws, 33))
    assert alive(r, ws, loser[1]) and has_bit(r, ws, loser[1], "tier", "silver")
    assert count(stub, ws, silver) == 1


def test_bitmaps_written_before_the_key_registry_are_erased_too(segment, stub, r, workspace_id):
    ws = workspace_id
    # As the index wrote them before it kept a registry of each shard's keys.
    legacy = trait_key(ws, 0, "legacy", "x")
    tmp = f"cdp:{{{ws}:0}}:tmp:someone:0"
    for uid in (40, 41):
        r.setbit(alive_key(ws, 0), uid, 1)
        r.setbit(legacy, uid, 1)
    r.setbit(tmp, 40, 1)
    r.sadd(f"cdp:ws:{ws}:shards", 0)
    assert preview(stub, ws, 'traits.legacy = "x"') == 2

    produce(segment, [merged(ws, ("p-41", 41), ("p-40", 40), now())])

    eventually(lambda: not r.getbit(legacy, 40))
    assert not alive(r, ws, 40)
    assert r.getbit(legacy, 41) and alive(r, ws, 41)
    assert r.getbit(tmp, 40), "temporaries of a running count are not the index's to touch"
    assert preview(stub, ws, 'traits.legacy = "x"') == 1
    r.delete(tmp)


def test_forget_drops_the_value_bitmaps_only_the_forgotten_held(segment, stub, r, workspace_id):
    """Value bitmaps name their value in the key: the forgotten person's own go, shared ones stay."""
    ws = workspace_id
    gone, kept = ("p-solo", 30), ("p-shared", 31)
    t0 = now()
    produce(
        segment,
        [
            changed(ws, gone[0], gone[1], {"nickname": "solo-value", "city": "上海"}, t0),
            changed(ws, kept[0], kept[1], {"nickname": "other", "city": "上海"}, t0),
        ],
    )
    eventually(lambda: preview(stub, ws, 'traits.nickname = "solo-value"') == 1)
    eventually(lambda: preview(stub, ws, 'traits.city = "上海"') == 2)
    produce(segment, [forgotten(ws, gone, now())])
    eventually(lambda: not alive(r, ws, gone[1]))

    def naming(text: str) -> list[bytes]:
        return [k for k in r.scan_iter(match=f"*{ws}*", count=1000) if text.encode() in k] + [
            k
            for k in r.scan_iter(match=f"*{ws}*", count=1000)
            if r.type(k) == b"set" and any(text.encode() in m for m in r.smembers(k))
        ]

    assert naming("solo-value") == []
    assert naming("上海") != [] and naming('"other"') != []
    assert preview(stub, ws, 'traits.city = "上海"') == 1
    assert preview(stub, ws, 'traits.nickname = "other"') == 1
    # The value can come back with someone else: its bitmap is made again.
    produce(segment, [changed(ws, "p-new", 32, {"nickname": "solo-value"}, now())])
    eventually(lambda: preview(stub, ws, 'traits.nickname = "solo-value"') == 1)

"""Events applied to profiles per second, batched vs one write per event; BatchGetProfiles vs single gets.

Apply: the profile worker's two paths, run in this process against the same
SecantusDB: `apply_batch` (a partition's poll of up to 200 events in one
transaction: profiles read side by side, one insert of the events, one bulk
write of the profiles, one insert of the announcements) against
`apply_resolved` (one transaction per event, the baseline). Same event mix,
fresh persons for each path. Then end to end: the events produced to Kafka
and applied by the running profile service (its consumer hands each poll to
the batched path), timed until the last one is stored.

Reads: BatchGetProfiles of 1,000 persons in one call against 1,000 GetProfile
calls (32 in flight) over gRPC to the running service.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import statistics
import time

from pymongo import AsyncMongoClient

from bench.identity_resolve import _drive
from bench.steady import Meter, per_unit
from cdp.identity.v1 import events_pb2
from cdp.profile.v1 import profile_pb2, profile_pb2_grpc
from services.kit.clock import SystemClock
from services.kit.kafka import Producer, Topics
from services.kit.mongo import CommandCounts
from services.kit.outbox import OutboxRelay
from services.kit.protos import to_struct, to_timestamp
from services.profile.rulebook import Rulebook
from services.profile.store import INDEXES, ProfileStore
from services.profile.updates import ProfileUpdater
from tools.credentials import aio_channel

POLL = 200  # the consumer's max_poll_records


def arrival(persons: int, per_person: int, active: int, rnd: random.Random) -> list[int]:
    """Which person each arriving event belongs to.

    active=0: interleaved, consecutive events always of different persons (the
    worst case for batching: a poll touches as many profiles as it has events).
    active=K: sessions, K shoppers browsing at once, each sending their events
    before the next shopper arrives (how a shop's stream looks).
    """
    if not active:
        return [(n * 7919) % persons for n in range(persons * per_person)]
    left = dict.fromkeys(range(persons), per_person)
    waiting, current, out = list(range(persons)), [], []
    while waiting or current:
        while len(current) < active and waiting:
            current.append(waiting.pop(0))
        p = rnd.choice(current)
        out.append(p)
        left[p] -= 1
        if not left[p]:
            current.remove(p)
    return out


def make_events(workspace: str, prefix: str, persons: int, per_person: int, active: int = 0, seed: int = 7) -> list:
    """A shop's mix: identify, product views, orders with categories, now and then a refund."""
    rnd = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    out = []
    for n, p in enumerate(arrival(persons, per_person, active, rnd)):
        roll = rnd.random()
        at = now - dt.timedelta(minutes=rnd.randrange(60 * 24 * 90))
        if roll < 0.15:
            kind, name, props, traits = "identify", "", {}, {"city": rnd.choice(["上海", "北京"]), "age": 20 + p % 30}
        elif roll < 0.7:
            kind, name, props, traits = "track", "Product Viewed", {"sku": f"s{rnd.randrange(500)}"}, {}
        elif roll < 0.95:
            cat = rnd.choice(["fitness", "snacks", "beauty", "mother_baby"])
            props = {"order_id": f"o{n}", "revenue": rnd.randrange(20, 900), "products": [{"category": cat}]}
            kind, name, traits = "track", "Order Completed", {}
        else:
            kind, name, props, traits = "track", "Order Refunded", {"order_id": f"r{n}", "total": 30}, {}
        raw = events_pb2.RawEvent(
            workspace_id=workspace,
            message_id=f"{prefix}-{n}",
            type=kind,
            event=name,
            user_id=f"{prefix}-p{p}",
            properties=to_struct(props),
            traits=to_struct(traits),
            context=to_struct({"campaign": {"source": rnd.choice(["douyin", "baidu", "wechat"])}}),
            timestamp=to_timestamp(at),
            received_at=to_timestamp(at),
        )
        out.append(events_pb2.ResolvedEvent(event=raw, person_id=f"{prefix}-p{p}", uid=p + 1))
    return out


def by_partition(events: list, partitions: int = 4) -> list[list]:
    """Split like keyed partitioning does, then into polls of POLL records."""
    parts: list[list] = [[] for _ in range(partitions)]
    for e in events:
        parts[hash(e.person_id) % partitions].append(e)
    return [part[i : i + POLL] for part in parts for i in range(0, len(part), POLL)]


async def _apply_batched(updater: ProfileUpdater, events: list) -> tuple[float, int]:
    polls = by_partition(events)
    fallbacks = 0
    started = time.perf_counter()
    for poll in polls:
        try:
            await updater.apply_batch(poll)
        except Exception:
            fallbacks += 1
            for e in poll:
                await updater.apply_resolved(e)
    return time.perf_counter() - started, fallbacks


async def run(stack, workspace: str, persons: int = 1000, per_person: int = 5, active: int = 20) -> list[str]:
    counts = CommandCounts()
    client = AsyncMongoClient(stack.mongo_url, tz_aware=True, event_listeners=[counts])
    local = Meter(stack, local=counts, services=False)
    db = client[stack.mongo_db]
    for spec in INDEXES:
        await db[spec.collection].create_indexes([spec.model()])
    store = ProfileStore(db)
    updater = ProfileUpdater(client, store, OutboxRelay(db, None, "profile_bench"), SystemClock(), Rulebook(db))
    await updater.rulebook.of(workspace)  # template library loaded before timing

    single = make_events(workspace, "one", persons, per_person)
    started = time.perf_counter()
    for e in single:
        await updater.apply_resolved(e)
    single_s = time.perf_counter() - started

    batch_s, fallbacks = await _apply_batched(updater, make_events(workspace, "batch", persons, per_person))
    s0 = local.read()
    sessions_s, session_fallbacks = await _apply_batched(
        updater, make_events(workspace, "sessions", persons, per_person, active=active)
    )
    s1 = local.read()
    events_n = len(single)

    # Same totals either way: the batched path is the same fold.
    one = await store.profiles.count_documents({"workspace": workspace, "_id": {"$regex": "^one-"}})
    two = await store.profiles.count_documents({"workspace": workspace, "_id": {"$regex": "^batch-"}})
    assert one == two, (one, two)

    # End to end through Kafka and the running service's consumer.
    # Its own workspace, so that waiting for it counts only its events.
    e2e_ws = f"{workspace}-e2e"
    e2e = make_events(e2e_ws, "e2e", persons, per_person, active=active, seed=11)
    producer = Producer(stack.kafka_bootstrap, "bench")
    await producer.start()
    service = Meter(stack)
    try:
        e0 = await service.settled()
        started = time.perf_counter()
        for i in range(0, len(e2e), 500):
            await producer.send_many([(Topics.EVENTS_RESOLVED, e.person_id, e) for e in e2e[i : i + 500]])
        while await store.events.count_documents({"workspace": e2e_ws}) < len(e2e):
            await asyncio.sleep(0.5)
        e2e_s = time.perf_counter() - started
        e1 = await service.settled()
    finally:
        await producer.stop()
    await db["outbox_profile_bench"].drop()

    ids = [f"batch-p{n}" for n in range(persons)]
    async with aio_channel(stack.grpc_target("profile")) as channel:
        stub = profile_pb2_grpc.ProfileServiceStub(channel)
        request = profile_pb2.BatchGetProfilesRequest(workspace_id=workspace, person_ids=ids)
        got = await stub.BatchGetProfiles(request)
        assert len(got.profiles) == persons, len(got.profiles)
        batch_ms = []
        for _ in range(5):
            t = time.perf_counter()
            await stub.BatchGetProfiles(request)
            batch_ms.append((time.perf_counter() - t) * 1000)

        def get(pid):
            return lambda: stub.GetProfile(profile_pb2.GetProfileRequest(workspace_id=workspace, person_id=pid))

        t = time.perf_counter()
        rate, p99 = await _drive([get(p) for p in ids])
        singles_ms = (time.perf_counter() - t) * 1000
    await client.close()

    median_batch = statistics.median(batch_ms)
    return [
        f"profile apply, {events_n:,} events over {persons:,} persons (identify, views, orders, refunds),"
        f" polls of {POLL} per partition, one transaction each:",
        f"  batched, interleaved persons (worst case)   {events_n / batch_s:7.0f} events/s   "
        f"{single_s / batch_s:.1f}x the baseline ({fallbacks} polls fell back)",
        f"  batched, sessions of {active} shoppers at once  {events_n / sessions_s:7.0f} events/s   "
        f"{single_s / sessions_s:.1f}x the baseline ({session_fallbacks} polls fell back)",
        f"    {per_unit(s0, s1, events_n, 'event')}",
        f"  one transaction per event (baseline)        {events_n / single_s:7.0f} events/s",
        f"  end to end, sessions: Kafka -> service      {len(e2e) / e2e_s:7.0f} events/s   "
        f"{single_s / events_n * len(e2e) / e2e_s:.1f}x the baseline",
        f"    {per_unit(e0, e1, len(e2e), 'event')} (commands of the service; CPU includes the bench's count polls)",
        f"BatchGetProfiles, {persons:,} persons:",
        f"  one BatchGetProfiles call     {median_batch:8.1f} ms   median of 5   "
        f"{singles_ms / median_batch:.1f}x faster than the baseline",
        f"  {persons:,} GetProfile calls      {singles_ms:8.1f} ms   32 in flight, {rate:.0f}/s, p99 {p99:.1f} ms",
    ]


async def main(persons: int = 1000) -> None:
    import pathlib
    import tempfile

    from tools.stack import Stack

    with tempfile.TemporaryDirectory(prefix="cdp-bench-") as tmp:
        stack = Stack.with_free_ports(pathlib.Path(tmp), log_level="WARNING")
        try:
            stack.start_infra()
            stack.start_service("profile")
            for line in await run(stack, "bench-profile", persons):
                print(line, flush=True)
        finally:
            stack.stop()


if __name__ == "__main__":
    import sys

    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))

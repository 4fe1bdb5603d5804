"""Resolve through gRPC (uncached, then cached) and events through the identity worker.

Baseline: a direct MongoDB lookup of the same identifiers with the same
concurrency, i.e. the least any uncached resolve must do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from bench.steady import Meter, per_unit
from cdp.common.v1 import common_pb2
from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.tracking import parse_batch, partition_key
from services.identity.workers import GROUP
from services.kit.kafka import Producer, Topics
from tools.credentials import aio_channel

CONCURRENCY = 32
BATCH = 100
BATCH_CONCURRENCY = 4


async def _drive(calls, concurrency: int = CONCURRENCY) -> tuple[float, float]:
    """Run coroutine factories with bounded concurrency; returns (per second, p99 ms)."""
    latencies: list[float] = []
    queue = list(calls)

    async def worker() -> None:
        while queue:
            call = queue.pop()
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, statistics.quantiles(latencies, n=100)[98]


async def run(stack, workspace: str, persons: int) -> list[str]:
    ids = [(("user_id", f"bench-u{n}"), ("anonymous_id", f"bench-a{n}")) for n in range(persons)]
    async with aio_channel(stack.grpc_target("identity")) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)

        def resolve(pair):
            request = identity_pb2.ResolveRequest(
                workspace_id=workspace, identifiers=[common_pb2.Identifier(type=t, value=v) for t, v in pair]
            )
            return lambda: stub.Resolve(request)

        await _drive([resolve(p) for p in ids])  # creates the persons
        keys = [k async for k in stack_redis(stack).scan_iter(f"cdp:idc:{workspace}:*")]
        if keys:
            await stack_redis(stack).delete(*keys)
        uncached_rate, uncached_p99 = await _drive([resolve(p) for p in ids])
        cached_rate, cached_p99 = await _drive([resolve(p) for p in ids] * 3)

    mongo = AsyncMongoClient(stack.mongo_url)
    identities = mongo[stack.mongo_db]["identities"]

    def find(pair):
        # Indexed equality per identifier, as the resolver itself asks (see kit.mongo.find_each).
        queries = [{"workspace": workspace, "type": t, "value": v} for t, v in pair]
        return lambda: asyncio.gather(*(identities.find_one(q) for q in queries))

    base_rate, base_p99 = await _drive([find(p) for p in ids])

    await mongo.close()
    batch_rate, batch_p99 = await _batched(stack, workspace, ids * 10)

    # Worker: events of the known shoppers above (their identifiers are cached), then
    # identify events of new shoppers (every one a MongoDB write), each measured alone.
    known = [
        {"type": "track", "event": "Product Viewed", "userId": u, "anonymousId": a, "messageId": f"bk-{n}-{r}"}
        for r in range(20)
        for n, ((_, u), (_, a)) in enumerate(ids)
    ]
    known_rate, known_cost = await _worker_rate(stack, workspace, known)
    new = [
        {"type": "identify", "userId": f"bench-w{n}", "anonymousId": f"bench-wa{n}", "messageId": f"bw-{n}"}
        for n in range(persons)
    ]
    new_rate, new_cost = await _worker_rate(stack, workspace, new)

    return [
        f"identity resolve through gRPC, {persons:,} persons, {CONCURRENCY} calls in flight (one client process):",
        f"  uncached Resolve        {uncached_rate:8.0f}/s  p99 {uncached_p99:6.2f} ms  "
        f"{uncached_rate / base_rate:5.2f}x the baseline rate",
        f"  cached Resolve          {cached_rate:8.0f}/s  p99 {cached_p99:6.2f} ms  "
        f"{cached_rate / base_rate:5.2f}x the baseline rate",
        f"  cached ResolveBatch     {batch_rate:8.0f}/s  p99 {batch_p99:6.2f} ms per call of {BATCH} sets, "
        f"{BATCH_CONCURRENCY} calls in flight  {batch_rate / base_rate:5.2f}x the baseline rate",
        f"  MongoDB lookup (base)   {base_rate:8.0f}/s  p99 {base_p99:6.2f} ms",
        "identity worker (one process), raw events already on Kafka, timed from its first commit to its last:",
        f"  known shoppers          {known_rate:8.0f} events/s ({len(known):,} track events, identifiers cached)  "
        f"{known_rate / base_rate:5.2f}x the baseline rate",
        f"    {known_cost}",
        f"  new shoppers            {new_rate:8.0f} events/s ({len(new):,} identify events, each creates a person)  "
        f"{new_rate / base_rate:5.2f}x the baseline rate",
        f"    {new_cost}",
    ]


async def _batched(stack, workspace: str, pairs) -> tuple[float, float]:
    """Cached resolves through ResolveBatch; returns (resolves per second, p99 ms per call)."""
    async with aio_channel(stack.grpc_target("identity")) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)

        def call(chunk):
            request = identity_pb2.ResolveBatchRequest(
                workspace_id=workspace,
                items=[
                    identity_pb2.IdentifierSet(identifiers=[common_pb2.Identifier(type=t, value=v) for t, v in pair])
                    for pair in chunk
                ],
            )
            return lambda: stub.ResolveBatch(request)

        chunks = [pairs[i : i + BATCH] for i in range(0, len(pairs), BATCH)]
        calls_per_second, p99 = await _drive([call(c) for c in chunks], BATCH_CONCURRENCY)
    return calls_per_second * BATCH, p99


async def _worker_rate(stack, workspace: str, events: list[dict]) -> tuple[float, str]:
    """Events per second through the identity worker alone.

    The service is stopped while the raw events are produced, so that the worker
    starts with all of them waiting; the clock runs from its first commit of
    progress to the commit of the last event, read from the group's offsets.
    """
    stack.stop_process("identity")
    raw = parse_batch({"batch": events}, dt.datetime.now(dt.UTC), workspace)
    producer = Producer(stack.kafka_bootstrap, "bench")
    await producer.start()
    for start in range(0, len(raw), 1000):
        await producer.send_many([(Topics.EVENTS_RAW, partition_key(e), e) for e in raw[start : start + 1000]])
    await producer.stop()
    offsets = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, group_id=GROUP, enable_auto_commit=False)
    await offsets.start()
    try:
        tps = [TopicPartition(Topics.EVENTS_RAW, p) for p in offsets.partitions_for_topic(Topics.EVENTS_RAW) or ()]
        end = sum((await offsets.end_offsets(tps)).values())

        async def committed() -> int:
            return sum([await offsets.committed(tp) or 0 for tp in tps])

        before = await committed()
        stack.start_service("identity")
        meter = Meter(stack)
        while (first := await committed()) == before:
            await asyncio.sleep(0.02)
        started = time.perf_counter()
        r0 = meter.read()
        while await committed() < end:
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        r1 = await meter.settled()
    finally:
        await offsets.stop()
    return (end - first) / elapsed if elapsed else float("inf"), per_unit(r0, r1, end - first, "event")


_redis = {}


def stack_redis(stack):
    import redis.asyncio as aioredis

    if stack.redis_url not in _redis:
        _redis[stack.redis_url] = aioredis.from_url(stack.redis_url)
    return _redis[stack.redis_url]

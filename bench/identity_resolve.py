"""Resolve through gRPC (uncached, then cached) and events through the identity worker.

Baseline: a direct MongoDB lookup of the same identifiers with the same
concurrency, i.e. the least any uncached resolve must do.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import grpc
import httpx
from pymongo import AsyncMongoClient

from cdp.common.v1 import common_pb2
from cdp.identity.v1 import identity_pb2, identity_pb2_grpc

CONCURRENCY = 32


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


async def run(stack, write_key: str, workspace: str, persons: int) -> list[str]:
    ids = [(("user_id", f"bench-u{n}"), ("anonymous_id", f"bench-a{n}")) for n in range(persons)]
    async with grpc.aio.insecure_channel(stack.grpc_target("identity")) as channel:
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

    # Worker: new shoppers' events through the collection API, timed from acceptance to resolution.
    # Their own workspace, so that polling for completion is one indexed count.
    worker_ws = f"{workspace}-worker"
    await create_workspace(stack, worker_ws, f"{write_key}-worker")
    events = [
        {"type": "identify", "userId": f"bench-w{n}", "anonymousId": f"bench-wa{n}", "messageId": f"bw-{n}"}
        for n in range(persons)
    ]
    auth = (f"{write_key}-worker", "")
    async with httpx.AsyncClient(base_url=stack.http_url("identity"), auth=auth, timeout=60) as client:
        for start in range(0, len(events), 100):
            (await client.post("/v1/batch", json={"batch": events[start : start + 100]})).raise_for_status()
    accepted = time.perf_counter()
    while await identities.count_documents({"workspace": worker_ws}) < 2 * persons:
        await asyncio.sleep(0.25)
    worker_rate = persons / (time.perf_counter() - accepted)
    await mongo.close()

    return [
        f"identity resolve through gRPC, {persons:,} persons, {CONCURRENCY} calls in flight (one client process):",
        f"  uncached Resolve        {uncached_rate:8.0f}/s  p99 {uncached_p99:6.2f} ms  "
        f"{uncached_rate / base_rate:5.2f}x the baseline rate",
        f"  cached Resolve          {cached_rate:8.0f}/s  p99 {cached_p99:6.2f} ms  "
        f"{cached_rate / base_rate:5.2f}x the baseline rate",
        f"  MongoDB lookup (base)   {base_rate:8.0f}/s  p99 {base_p99:6.2f} ms",
        f"  identity worker         {worker_rate:8.0f} events/s from accepted to resolved (identify, new shoppers)  "
        f"{worker_rate / base_rate:5.2f}x the baseline rate",
    ]


async def create_workspace(stack, workspace: str, write_key: str) -> None:
    async with grpc.aio.insecure_channel(stack.grpc_target("identity")) as channel:
        await identity_pb2_grpc.IdentityServiceStub(channel).CreateWorkspace(
            identity_pb2.CreateWorkspaceRequest(id=workspace, write_key=write_key)
        )


_redis = {}


def stack_redis(stack):
    import redis.asyncio as aioredis

    if stack.redis_url not in _redis:
        _redis[stack.redis_url] = aioredis.from_url(stack.redis_url)
    return _redis[stack.redis_url]

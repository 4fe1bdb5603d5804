"""A shop's history imported through the collection API, timed until every profile is settled.

The events come from the demo-shop generator (tools/shop.py): by default
100,000 events of 25,000 new shoppers (identify with traits, page and screen
views, product views, cart adds, checkouts, orders with products and coupons,
refunds, utm channels, app, web and mini-program, stitched devices). They are
POSTed to /v1/batch (200 an request, 4 in flight) of a running identity
service; identity resolves them and profile applies them. The clock stops when
profile has stored every event (each one once, by messageId), i.e. every
profile holds its whole history. Target (issue 12): at most 5 minutes, over
330 events/s end to end, on a store already past 20,000 writes.

Floor, in the same run: the documents the import left in the store
(identifiers, persons, events, profiles) written again into a fresh database
with the same indexes by insert_many, 1,000 a command, 4 commands in flight,
no services: the least the store asks to hold the result.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from pymongo import AsyncMongoClient

from bench.steady import Meter, Reading, breakdown, per_unit
from services.identity.store import INDEXES as IDENTITY_INDEXES
from services.kit.mongo import CommandCounts
from services.profile.store import INDEXES as PROFILE_INDEXES
from services.profile.workers import GROUP as PROFILE_GROUP
from tools import shop
from tools.settling import PipelineLag

PER_REQUEST = 200
IN_FLIGHT = 4
# What the import leaves: collection -> the filter of this workspace's documents.
RESULT = ("identities", "persons", "events", "profiles")


async def send(stack, write_key: str, events: list[dict]) -> float:
    async with httpx.AsyncClient(base_url=stack.http_url("identity"), auth=(write_key, ""), timeout=120) as client:
        started = time.perf_counter()
        bodies = [events[i : i + PER_REQUEST] for i in range(0, len(events), PER_REQUEST)]
        queue = iter(bodies)

        async def worker() -> None:
            for body in queue:
                (await client.post("/v1/batch", json={"batch": body})).raise_for_status()

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        return time.perf_counter() - started


async def settle(stack, workspace: str, total: int, meter: Meter, timeout: float) -> list[tuple[int, Reading]]:
    """Readings (events profile committed, store meter) every two seconds until nothing is left behind.

    Read from Kafka (tools/settling.py), so that waiting costs the store nothing;
    once nothing is behind, the stored events are counted to be sure.
    """
    readings = []
    deadline = time.perf_counter() + timeout
    async with PipelineLag(stack.kafka_bootstrap) as lag:
        while True:
            behind, committed = await lag.read()
            readings.append((committed[PROFILE_GROUP], meter.read()))
            if behind == 0 and await _stored(stack, workspace) >= total:
                return readings
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{behind:,} records still behind after {timeout:.0f} s")
            await asyncio.sleep(2.0)


async def _stored(stack, workspace: str) -> int:
    client = AsyncMongoClient(stack.mongo_url)
    try:
        return await client[stack.mongo_db]["events"].count_documents({"workspace": workspace})
    finally:
        await client.close()


async def floor(stack, workspace: str) -> tuple[float, int, Reading, Reading]:
    """The import's resulting documents written by insert_many into a fresh database: (seconds, docs, readings)."""
    counts = CommandCounts()
    client = AsyncMongoClient(stack.mongo_url, event_listeners=[counts])
    source = client[stack.mongo_db]
    target = client["bench_import_floor"]
    await client.drop_database(target.name)
    for spec in IDENTITY_INDEXES + PROFILE_INDEXES:
        if spec.collection in RESULT:
            await target[spec.collection].create_indexes([spec.model()])
    docs = {name: await source[name].find({"workspace": workspace}).to_list(None) for name in RESULT}
    batches = [(name, found[i : i + 1000]) for name, found in docs.items() for i in range(0, len(found), 1000)]
    meter = Meter(stack, local=counts, services=False)
    before = meter.read()
    queue = iter(batches)

    async def worker() -> None:
        for name, batch in queue:
            await target[name].insert_many(batch, ordered=False)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    after = meter.read()
    await client.drop_database(target.name)
    await client.close()
    return after.at - before.at, sum(len(d) for d in docs.values()), before, after


async def run(stack, write_key: str, workspace: str, shoppers: int = 25_000, total: int = 100_000) -> list[str]:
    made = time.perf_counter()
    events = shop.events(shoppers, total, seed=12, prefix=workspace)
    made = time.perf_counter() - made
    meter = Meter(stack)
    first = await meter.settled()
    started = time.perf_counter()
    # Watched from before the first request, so the first reading is the start.
    watching = asyncio.create_task(settle(stack, workspace, total, meter, timeout=3600))
    sent_s = await send(stack, write_key, events)
    readings = await watching
    elapsed = time.perf_counter() - started
    last = await meter.settled()
    # `done` counts every record profile committed on the topic (earlier benchmarks' too): deltas.
    base = readings[0][0]
    half = next(i for i, (done, _) in enumerate(readings) if done - base >= total // 2)
    (n0, w0), (n1, w1) = readings[half], readings[-1]
    window_rate = (n1 - n0) / max(1e-9, w1.at - w0.at)
    floor_s, floor_docs, f0, f1 = await floor(stack, workspace)
    rate = total / elapsed
    return [
        f"import, {total:,} events of {shoppers:,} new shoppers (tools/shop.py, generated in {made:.1f} s),"
        f" /v1/batch {PER_REQUEST} a request, {IN_FLIGHT} in flight, identity + profile, store past 20,000 writes:",
        f"  accepted by the collection API in {sent_s:6.1f} s   {total / sent_s:8.0f} events/s",
        f"  every profile settled after       {elapsed:6.1f} s   {rate:8.0f} events/s end to end"
        f"   target >330 events/s (100,000 in 5 minutes): {'met' if rate > 330 else 'NOT met'}",
        f"  last window ({n1 - n0:,} events settled)          {window_rate:8.0f} events/s",
        f"    {per_unit(w0, w1, n1 - n0, 'event (window)')}",
        f"    {per_unit(first, last, total, 'event (whole run)')}",
        *(f"    {line}" for line in breakdown(first, last, total, "event (whole run)")),
        f"  store floor: the {floor_docs:,} resulting documents by insert_many, no services:"
        f" {floor_s:.1f} s, {total / floor_s:,.0f} events/s; the import takes {elapsed / floor_s:.1f}x the floor",
        f"    {per_unit(f0, f1, total, 'event (floor)')}",
    ]

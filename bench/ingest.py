"""Collection API throughput vs producing the same events straight to Kafka.

The baseline is the floor any collection API must pay: the kit producer
sending the same RawEvents with acks=all. The ratio is what HTTP, auth,
validation and conversion add on top.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import httpx

from services.identity import tracking
from services.kit.kafka import Producer, Topics


def batch(n: int, offset: int) -> list[dict]:
    return [
        {
            "type": "track",
            "anonymousId": f"bench-dev-{(offset + i) % 5000}",
            "event": "Order Completed",
            "messageId": f"bench-{offset + i}",
            "properties": {"order_id": f"o{offset + i}", "revenue": 99.5, "currency": "CNY"},
        }
        for i in range(n)
    ]


async def run(stack, write_key: str, workspace: str, requests: int, per_request: int = 100) -> list[str]:
    bodies = [batch(per_request, r * per_request) for r in range(requests)]
    async with httpx.AsyncClient(base_url=stack.http_url("identity"), auth=(write_key, ""), timeout=60) as client:
        # Warm-up: connection, write-key cache, producer metadata.
        (await client.post("/v1/batch", json={"batch": batch(10, 10**8)})).raise_for_status()
        started = time.perf_counter()
        for i in range(0, requests, 4):
            responses = await asyncio.gather(*(client.post("/v1/batch", json={"batch": b}) for b in bodies[i : i + 4]))
            for r in responses:
                r.raise_for_status()
        api_s = time.perf_counter() - started

    now = dt.datetime.now(dt.UTC)
    raw = [[tracking.parse_event(e, None, now, workspace) for e in b] for b in bodies]
    producer = Producer(stack.kafka_bootstrap, "bench")
    await producer.start()
    try:
        await producer.send_many([(Topics.EVENTS_RAW, "warm", raw[0][0])])
        started = time.perf_counter()
        for i in range(0, requests, 4):
            await asyncio.gather(
                *(
                    producer.send_many([(Topics.EVENTS_RAW, tracking.partition_key(e), e) for e in b])
                    for b in raw[i : i + 4]
                )
            )
        kafka_s = time.perf_counter() - started
    finally:
        await producer.stop()

    events = requests * per_request
    return [
        f"collection API, {events:,} events in batches of {per_request}, 4 requests in flight:",
        f"  POST /v1/batch (200 after Kafka ack)  {events / api_s:9.0f} events/s",
        f"  producer straight to Kafka (floor)    {events / kafka_s:9.0f} events/s   "
        f"API reaches {api_s and kafka_s / api_s:.2f} of the floor",
    ]

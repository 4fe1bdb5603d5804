"""A consumer that works on several records of one partition at once.

The kit Consumer handles a partition's records one after another, which caps
a worker at (partitions / handler latency): with a provider answering in
50 ms, four partitions make 80 records/s. Delivery handlers are idempotent per
record and do not depend on each other's order, so this consumer runs up to
`window` records of a fetched batch side by side and commits the batch's last
offset only after every record in it was handled. A crash or stop mid-batch
commits nothing of it, and the batch is delivered again (handlers dedupe).

A subscription with a `batch_handler` gets the partition's batch in one call
first (so it can share round trips between records); if that fails, the
records go one by one through `handler`, `window` at a time, as above.

`keyed`: for handlers that need order per key only (segment's records of one
person): records sharing a key run one after another in offset order, and
different keys side by side. Such handlers must also be idempotent per record,
since a batch cut short is delivered again whole.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.kit.kafka import Consumer, Subscription


class ConcurrentConsumer(Consumer):
    def __init__(
        self, bootstrap: str, group_id: str, subscriptions: list[Subscription], window: int = 64, keyed: bool = False
    ) -> None:
        super().__init__(bootstrap, group_id, subscriptions)
        self.window = window
        self.keyed = keyed

    async def _partition(self, consumer: AIOKafkaConsumer, tp, records, stopping: asyncio.Event) -> None:
        if await self._batch(records):
            await consumer.commit({TopicPartition(tp.topic, tp.partition): records[-1].offset + 1})
            return
        slots = asyncio.Semaphore(self.window)
        handled = []

        async def one(record) -> None:
            async with slots:
                if stopping.is_set():
                    return
                await self._handle(record)
                handled.append(record.offset)

        if self.keyed:
            lanes: dict[bytes | None, list] = {}
            for record in records:
                lanes.setdefault(record.key, []).append(record)

            async def lane(in_order: list) -> None:
                for record in in_order:
                    await one(record)

            await asyncio.gather(*(lane(in_order) for in_order in lanes.values()))
        else:
            await asyncio.gather(*(one(r) for r in records))
        # Commit only a batch handled in full, so a stop mid-batch re-delivers all of it.
        if records and len(handled) == len(records):
            await consumer.commit({TopicPartition(tp.topic, tp.partition): records[-1].offset + 1})

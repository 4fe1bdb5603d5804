"""The outbox writes a batch of announcements as a few grouped documents and publishes every one, in order."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient

from cdp.common.v1 import common_pb2
from services.kit.kafka import Producer
from services.kit.outbox import GROUP, OutboxRelay
from tests.helpers import new_id


def test_grouped_announcements_are_written_few_and_published_all_in_order(stack):
    topic = new_id("outbox-test")
    items = [(topic, f"k{n % 7}", common_pb2.Identifier(type="n", value=str(n))) for n in range(2 * GROUP + 3)]

    async def main():
        client = AsyncMongoClient(stack.mongo_url)
        db = client[f"{stack.mongo_db}_outbox_test"]
        producer = Producer(stack.kafka_bootstrap, "outbox-test")
        await producer.start()
        relay = OutboxRelay(db, producer, new_id("svc"))
        try:
            async with client.start_session() as session, await session.start_transaction():
                await relay.add_many(items, session)
                await relay.add(topic, "single", common_pb2.Identifier(type="n", value="last"), session)
            # Three groups for the batch, one document for the single announcement.
            assert await relay.collection.count_documents({}) == 4
            published = 0
            while n := await relay.publish_pending(limit=2):
                published += n
            assert published == len(items) + 1
            assert await relay.collection.count_documents({}) == 0
        finally:
            await producer.stop()
            await client.drop_database(db.name)
            await client.close()

        consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        got = []
        try:
            while len(got) < len(items) + 1:
                batches = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
                for records in batches.values():
                    got += [(r.key.decode(), common_pb2.Identifier.FromString(r.value).value) for r in records]
        finally:
            await consumer.stop()
        return got

    got = asyncio.run(main())
    assert len(got) == len(items) + 1
    # Per key, in the order they were added (keys may land on different partitions).
    for key in {k for _, k, _ in items}:
        assert [v for k, v in got if k == key] == [m.value for _, k2, m in items if k2 == key]
    assert ("single", "last") in got

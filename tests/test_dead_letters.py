"""One bad record must not stop a partition: it is dead-lettered and the rest flows."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.kit.kafka import Topics, dead_letter_topic
from tests.conftest import eventually
from tests.helpers import mongo_db, produce
from tests.test_profile import resolved


def test_unparseable_record_is_dead_lettered_and_later_events_still_apply(start_service, workspace_id):
    stack = start_service("profile")
    person = f"p_{workspace_id}"

    async def send_garbage() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(Topics.EVENTS_RESOLVED, b"\xff\xfenot protobuf", key=person.encode())
        finally:
            await producer.stop()

    asyncio.run(send_garbage())
    good = resolved(workspace_id, person, 1, properties={"revenue": 5})
    produce(stack, [(Topics.EVENTS_RESOLVED, person, good)])
    profiles = mongo_db(stack)["profiles"]
    eventually(lambda: (p := profiles.find_one({"_id": person})) and p["computed"]["order_count"] == 1)

    async def parked() -> list:
        consumer = AIOKafkaConsumer(
            dead_letter_topic("profile.events"),
            bootstrap_servers=stack.kafka_bootstrap,
            group_id=f"test-{uuid.uuid4().hex}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            found = []
            for _ in range(50):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found += [r for r in records if r.key == person.encode()]
                if found:
                    break
            return found
        finally:
            await consumer.stop()

    (record,) = asyncio.run(parked())
    headers = dict(record.headers)
    assert headers["topic"] == Topics.EVENTS_RESOLVED.encode() and headers["reason"] == b"unparseable payload"
    assert record.value == b"\xff\xfenot protobuf"

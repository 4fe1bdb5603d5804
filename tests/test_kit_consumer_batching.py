"""The kit consumers' batching against a real broker: a poll of several partitions in one batch
call, and per-key order with different keys side by side."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from google.protobuf.wrappers_pb2 import StringValue

from services.kit.concurrent_consumer import ConcurrentConsumer
from services.kit.kafka import Consumer, Subscription, ensure_topics
from tests.conftest import eventually_async
from tools.stack import Stack

PARTITIONS = 4


async def produce(broker: Stack, topic: str, records: list[tuple[str, str]]) -> None:
    await ensure_topics(broker.kafka_bootstrap, [topic], PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=broker.kafka_bootstrap)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, StringValue(value=value).SerializeToString(), key=key.encode())
    finally:
        await producer.stop()


async def committed_and_ends(broker: Stack, topic: str, group: str) -> tuple[dict, dict]:
    reader = AIOKafkaConsumer(bootstrap_servers=broker.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await reader.end_offsets(tps)
        return {tp.partition: (await reader.committed(tp)) or 0 for tp in tps}, {tp.partition: ends[tp] for tp in tps}
    finally:
        await reader.stop()


async def _true(value: bool) -> bool:
    return value


async def test_a_poll_of_several_partitions_reaches_the_batch_handler_in_one_call(broker):
    topic, group = f"batching.{uuid.uuid4().hex[:6]}", f"g_{uuid.uuid4().hex[:8]}"
    records = [(f"k{n % 8}", f"v{n}") for n in range(40)]
    await produce(broker, topic, records)
    calls: list[list[tuple[str, str]]] = []

    async def one(key: str, message: StringValue) -> None:
        raise AssertionError("every record should arrive through the batch handler")

    async def batch(items: list[tuple[str, StringValue]]) -> None:
        calls.append([(key, m.value) for key, m in items])

    consumer = Consumer(broker.kafka_bootstrap, group, [Subscription(topic, StringValue, one, batch, True)], linger=0.2)
    stopping = asyncio.Event()
    task = asyncio.create_task(consumer.run(stopping))
    try:
        await eventually_async(lambda: _true(sum(len(c) for c in calls) >= len(records)), timeout=60)
        committed, ends = await committed_and_ends(broker, topic, group)
    finally:
        stopping.set()
        await task
    handled = [item for call in calls for item in call]
    assert sorted(handled) == sorted(records)  # each once
    # Everything was waiting before the member joined: one call held the records of every partition.
    assert max(len(c) for c in calls) == len(records)
    # Each key's records in the order they were produced.
    for key in {k for k, _ in records}:
        assert [v for k, v in handled if k == key] == [v for k, v in records if k == key]
    assert committed == ends


async def test_a_keyed_consumer_keeps_each_keys_order_and_runs_keys_side_by_side(broker):
    topic, group = f"keyed.{uuid.uuid4().hex[:6]}", f"g_{uuid.uuid4().hex[:8]}"
    records = [(f"k{n % 3}", f"v{n}") for n in range(30)]
    await produce(broker, topic, records)
    handled: list[tuple[str, str]] = []
    in_flight: set[str] = set()
    most_at_once = 0

    async def one(key: str, message: StringValue) -> None:
        nonlocal most_at_once
        assert key not in in_flight, "two records of one key at once"
        in_flight.add(key)
        most_at_once = max(most_at_once, len(in_flight))
        await asyncio.sleep(0.01)
        handled.append((key, message.value))
        in_flight.discard(key)

    consumer = ConcurrentConsumer(
        broker.kafka_bootstrap, group, [Subscription(topic, StringValue, one)], window=8, keyed=True
    )
    stopping = asyncio.Event()
    task = asyncio.create_task(consumer.run(stopping))
    try:
        await eventually_async(lambda: _true(len(handled) >= len(records)), timeout=60)
        committed, ends = await committed_and_ends(broker, topic, group)
    finally:
        stopping.set()
        await task
    assert sorted(handled) == sorted(records)
    for key in {k for k, _ in records}:
        assert [v for k, v in handled if k == key] == [v for k, v in records if k == key]
    assert most_at_once >= 2
    assert committed == ends

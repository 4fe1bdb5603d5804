"""A consumer whose group join cannot finish gives up on it instead of waiting forever.

aiokafka's start() waits for a group assignment with no deadline: a broker that goes away
after the metadata and before the join completes leaves it waiting for as long as the broker
stays away, and the worker serves nothing while /healthz says ready. Here the broker is
stopped in that window (Tansu holds a new group's first join for 5 s; the bootstrap before it
takes milliseconds), against a real broker each time.
"""

from __future__ import annotations

import asyncio
import signal
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.wrappers_pb2 import StringValue

from services.kit import metrics
from services.kit.kafka import Consumer, ConsumerStalled, Subscription, ensure_topics
from tests.conftest import eventually, eventually_async
from tools.stack import Stack, free_port

TOPIC = "start.test"


def start_failures(group: str) -> float:
    return metrics.REGISTRY.get_sample_value("cdp_kafka_consumer_start_failures_total", {"group": group}) or 0.0


async def member(broker: Stack, start_timeout: float, give_up_after: float) -> tuple[Consumer, list[str]]:
    await ensure_topics(broker.kafka_bootstrap, [TOPIC], 4)
    handled: list[str] = []

    async def handle(key: str, message: StringValue) -> None:
        handled.append(message.value)

    consumer = Consumer(broker.kafka_bootstrap, f"g_{uuid.uuid4().hex[:8]}", [Subscription(TOPIC, StringValue, handle)])
    consumer.start_timeout, consumer.give_up_after = start_timeout, give_up_after
    return consumer, handled


async def stop_broker_during_the_join(broker: Stack, consumer: Consumer) -> None:
    await eventually_async(lambda: _true(consumer.state == "starting"), timeout=10, interval=0.01)
    await asyncio.sleep(0.5)
    # Killed: Tansu finishes what it holds on SIGTERM, the pending join included.
    await asyncio.to_thread(broker.stop_process, "kafka", signal.SIGKILL)


async def _true(value: bool) -> bool:
    return value


async def test_a_start_cut_short_by_a_lost_broker_is_retried_and_joins_once_it_is_back(broker):
    # Above Tansu's 5 s join, so that a start against a live broker finishes.
    consumer, handled = await member(broker, start_timeout=8, give_up_after=300)
    stopping = asyncio.Event()
    task = asyncio.create_task(consumer.run(stopping))
    try:
        await stop_broker_during_the_join(broker, consumer)
        # The start in the join is cut at 8 s, and retried: failures are counted while the broker is away.
        await eventually_async(lambda: _true(start_failures(consumer.group_id) >= 2), timeout=30)
        assert not task.done() and consumer.state != "running"

        await asyncio.to_thread(broker.start_kafka)
        await ensure_topics(broker.kafka_bootstrap, [TOPIC], 4)  # what BrokerWatch does in a service
        await eventually_async(lambda: _true(consumer.state == "running"), timeout=60)
        producer = AIOKafkaProducer(bootstrap_servers=broker.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(TOPIC, StringValue(value="after").SerializeToString(), key=b"k")
        finally:
            await producer.stop()
        await eventually_async(lambda: _true("after" in handled), timeout=60)
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=30)


async def test_a_member_that_cannot_join_for_its_budget_gives_up(broker):
    consumer, _ = await member(broker, start_timeout=1, give_up_after=5)
    stopping = asyncio.Event()
    task = asyncio.create_task(consumer.run(stopping))
    await stop_broker_during_the_join(broker, consumer)
    # Without a deadline this waited for as long as the broker stayed away; now run() raises
    # within the budget plus one backoff and one close, which the runtime turns into a restart.
    with pytest.raises(ConsumerStalled, match=consumer.group_id):
        await asyncio.wait_for(task, timeout=40)
    assert start_failures(consumer.group_id) >= 2


def test_a_service_whose_consumers_cannot_join_exits_with_a_failure(stack, tmp_path):
    """The whole chain in a service process: starts cut short, the budget spent, the process stops, exit code 1."""
    ports = {**stack.ports, "kafka": free_port(), "profile.http": free_port(), "profile.grpc": free_port()}
    own = Stack(tmp_path, ports, mongo_db=f"start_{uuid.uuid4().hex[:8]}", service_env=stack.service_env)
    own.start_kafka()
    try:
        # A join on Tansu takes 5 s, so a 1 s start can never finish: as if the broker never answered it.
        own.start_service("profile", wait=False, CDP_KAFKA_START_TIMEOUT="1", CDP_KAFKA_JOIN_GIVE_UP="4")
        proc = own.procs["profile"]
        eventually(lambda: proc.poll() is not None, timeout=90, interval=0.2)
        assert proc.returncode == 1
        log = (tmp_path / "logs" / "profile.log").read_text()
        assert "could not be joined for 4s" in log and "worker crashed; stopping" in log
    finally:
        own.stop()

"""Scaling out and back in while events flow: a second replica joins the consumer group mid-stream and
leaves again (the group rebalances both ways); every profile ends exact, no message goes out twice,
and the lag the replicas report drains to zero."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from cdp.messaging.v1 import messaging_pb2
from services.kit.kafka import Topics
from tests.conftest import eventually
from tests.helpers import mongo_db
from tests.messaging_support import (  # noqa: F401 (module fixtures)
    ProviderServer,
    channel,
    db_fixture,
    messaging_fixture,
    no_quiet_hours,
    stub_fixture,
)
from tests.test_profile import resolved
from tools.stack import free_port


def samples(port: int) -> list:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    except httpx.HTTPError as exc:  # a busy replica: `eventually` asks again
        raise AssertionError(f"scrape of :{port} failed: {exc!r}") from exc
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def lag_of(port: int, group: str) -> dict[str, float]:
    """The lag a replica reports, by partition, for the partitions of `group` it holds."""
    return {
        s.labels["partition"]: s.value
        for s in samples(port)
        if s.name == "cdp_kafka_consumer_lag_records" and s.labels["group"] == group
    }


def counter(port: int, name: str, **labels) -> float:
    return sum(s.value for s in samples(port) if s.name == name and labels.items() <= s.labels.items())


class Stream:
    """Produces `items` to Kafka in a thread, `per_tick` records every `tick` seconds, up to `limit`.

    The limit holds the stream at a point until the test moves it on, so a step that has to
    see records arrive (a new member's first partition) gets them however long a replica
    takes to start: a timed stream could end before a slow replica joins the group.
    """

    def __init__(self, bootstrap: str, items: list[tuple[str, str, object]], per_tick: int, tick: float) -> None:
        self.bootstrap, self.items, self.per_tick, self.tick = bootstrap, items, per_tick, tick
        self.sent = 0
        self.limit = len(items)
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def hold_at(self, fraction: float) -> None:
        self.limit = int(fraction * len(self.items))

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            while self.sent < len(self.items):
                if self.sent >= self.limit:
                    await asyncio.sleep(0.05)
                    continue
                chunk = self.items[self.sent : min(self.sent + self.per_tick, self.limit)]
                futures = [
                    await producer.send(topic, msg.SerializeToString(), key=key.encode()) for topic, key, msg in chunk
                ]
                await asyncio.gather(*futures)
                self.sent += len(chunk)
                await asyncio.sleep(self.tick)
        finally:
            await producer.stop()

    def wait_for(self, fraction: float, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while self.sent < fraction * len(self.items):
            assert self.thread.is_alive() or self.sent == len(self.items), "the stream stopped early"
            assert time.monotonic() < deadline, f"stream at {self.sent}/{len(self.items)}"
            time.sleep(0.05)


def _replica(stack, service: str, name: str) -> int:
    http = free_port()
    stack.start_service(service, name=name, CDP_HTTP_PORT=str(http), CDP_GRPC_PORT=str(free_port()))
    return http


def test_a_profile_replica_joins_and_leaves_mid_stream_and_every_profile_ends_exact(start_service, workspace_id):
    stack = start_service("profile")
    first = stack.ports["profile.http"]
    persons = [f"p_{workspace_id}_{i:02d}" for i in range(40)]
    rounds = 15
    items = [
        (Topics.EVENTS_RESOLVED, person, resolved(workspace_id, person, 5000 + n, properties={"revenue": 2}))
        for _ in range(rounds)
        for n, person in enumerate(persons)
    ]
    stream = Stream(stack.kafka_bootstrap, items, per_tick=12, tick=0.4)
    second = None
    # Held at half until the new member holds partitions; the first member alone drains what came before.
    stream.hold_at(0.5)
    stream.thread.start()
    try:
        stream.wait_for(0.2)
        second = _replica(stack, "profile", "profile-scaled")
        # Scaled out: the group rebalanced and the new member holds partitions and applies events.
        eventually(lambda: lag_of(second, "profile.events"), timeout=180)
        stream.hold_at(0.8)
        eventually(lambda: counter(second, "cdp_profile_events_applied_total") > 0, timeout=180)
        stream.hold_at(1.0)
        stream.wait_for(0.7)
        assert stack.stop_process("profile-scaled") == 0
        # Scaled in: the first member holds every partition again.
        eventually(lambda: len(lag_of(first, "profile.events")) == 4, timeout=180)
        stream.thread.join(240)
        assert stream.sent == len(items)
    finally:
        if second is not None:
            stack.stop_process("profile-scaled")

    profiles = mongo_db(stack)["profiles"]

    def exact():
        docs = list(profiles.find({"workspace": workspace_id}))
        return len(docs) == len(persons) and all(d["computed"]["order_count"] == rounds for d in docs) and docs

    try:
        docs = eventually(exact, timeout=240)
    except AssertionError:
        counts = sorted(d["computed"]["order_count"] for d in profiles.find({"workspace": workspace_id}))
        raise AssertionError(f"order counts: {counts}") from None
    assert all(d["computed"]["revenue"] == 2 * rounds for d in docs)
    assert mongo_db(stack)["events"].count_documents({"workspace": workspace_id}) == len(items)
    eventually(lambda: sum(lag_of(first, "profile.events").values()) == 0, timeout=180)


def test_a_delivery_replica_joins_and_leaves_mid_stream_and_no_message_goes_twice(messaging, stub, db, workspace_id):
    stack = messaging
    first = stack.ports["messaging.http"]
    provider = ProviderServer()
    second = None
    try:
        no_quiet_hours(stub, workspace_id)
        channel(stub, workspace_id, "hook", "webhook", url=f"{provider.url}/{workspace_id}")
        keys: list[str] = []

        def send(chunk: list[str]) -> None:
            stub.SendBatch(
                messaging_pb2.SendBatchRequest(
                    requests=[
                        messaging_pb2.SendRequest(
                            workspace_id=workspace_id,
                            person_id=f"p{i}",
                            channel="hook",
                            idempotency_key=key,
                            category="marketing",
                            timezone="UTC",
                            content=messaging_pb2.Content(title="限时折扣", body=key),
                        )
                        for i, key in enumerate(chunk)
                    ]
                ),
                timeout=60,
            )

        def send_more(until) -> None:
            deadline = time.monotonic() + 180
            while not until():
                assert time.monotonic() < deadline, f"{len(keys)} sent and the condition still not met"
                chunk = [f"k{n:04d}" for n in range(len(keys), len(keys) + 8)]
                send(chunk)
                keys.extend(chunk)
                time.sleep(0.1)

        def second_delivered() -> bool:
            try:
                return counter(second, "cdp_messaging_messages_total", status="sent") > 0
            except AssertionError:  # a busy replica's scrape timed out: send on and ask again
                return False

        send_more(lambda: len(keys) >= 48)
        second = _replica(stack, "messaging", "messaging-scaled")
        # The new member joins the group some time after its /healthz: sends go on until it delivered
        # some, since a fixed number of them could all be drained by the first member before it joins.
        at_scale_out = len(keys)
        send_more(lambda: len(keys) >= at_scale_out + 96 and second_delivered())
        assert stack.stop_process("messaging-scaled") == 0
        at_scale_in = len(keys)
        send_more(lambda: len(keys) >= at_scale_in + 96)
        sends = len(keys)

        eventually(lambda: db.messages.count_documents({"workspace": workspace_id, "status": "sent"}) == sends, 240)
        assert set(provider.accepted) == set(keys)
        assert max(provider.accepted.values()) == 1, "a message reached the provider twice"
        assert len(provider.at(f"/{workspace_id}")) == sends
        eventually(lambda: sum(lag_of(first, "messaging.delivery").values()) == 0, timeout=180)
    finally:
        if second is not None:
            stack.stop_process("messaging-scaled")
        provider.close()

"""Ingest commits a batch's offsets only after its insert, against a real broker (Tansu, Kafka wire)
and chDB: while the events table is gone (renamed away) every insert fails and nothing is committed;
a failure healed while the member retries lands the batch; a member that dies while failing leaves
its batch uncommitted, so a new member is handed it again. Every record lands exactly once (the
ReplacingMergeTree keeps one row per message id, redelivered or sent twice), and records committed
before a failure are never handed out again."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.analytics.engine import ChdbDriver, Engine
from services.analytics.store import AnalyticsStore
from services.analytics.workers import INGEST_GROUP, Ingest
from services.kit import metrics
from services.kit.kafka import Producer, Topics, ensure_topics
from tests.conftest import eventually_async
from tests.test_analytics import resolved

WS = "ingest"
AT = dt.datetime(2025, 5, 1, 12, tzinfo=dt.UTC)
TP = TopicPartition(Topics.EVENTS_RESOLVED, 0)


def record(n: int):
    """The n-th event; its message id is m<n>, so sending n again is a redelivery of the same record."""
    return resolved(WS, f"p{n % 3}", "Viewed", AT + dt.timedelta(minutes=n), mid=f"m{n}")


async def produce(bootstrap: str, ns: list[int]) -> None:
    producer = Producer(bootstrap, "tests")
    await producer.start()
    try:
        await producer.send_many([record(n) for n in ns])
    finally:
        await producer.stop()


async def committed(bootstrap: str) -> int:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=INGEST_GROUP, enable_auto_commit=False)
    await reader.start()
    try:
        return (await reader.committed(TP)) or 0
    finally:
        await reader.stop()


async def rows(store: AnalyticsStore) -> dict[str, tuple[int, int]]:
    """message id -> (rows stored, rows a query reads with FINAL)."""
    raw = await store.engine.rows(f"SELECT message_id, count() FROM {store.db}.events GROUP BY message_id")
    final = await store.engine.rows(f"SELECT message_id, count() FROM {store.db}.events FINAL GROUP BY message_id")
    seen = dict(final)
    return {m: (int(n), int(seen.get(m, 0))) for m, n in raw}


def failures() -> float:
    return metrics.KAFKA_FAILURES.labels(INGEST_GROUP, Topics.EVENTS_RESOLVED)._value.get()


def start(store: AnalyticsStore, bootstrap: str) -> tuple[asyncio.Event, asyncio.Task]:
    stopping = asyncio.Event()
    consumer = Ingest(store).consumer(bootstrap, 100, 0.2)
    return stopping, asyncio.create_task(consumer.run(stopping))


async def test_offsets_are_committed_only_after_the_insert_and_every_record_lands_once(broker, tmp_path):
    bootstrap = broker.kafka_bootstrap
    engine = Engine(ChdbDriver(tmp_path / "chdb"))
    store = AnalyticsStore(engine)
    # Every topic ingest reads (events.resolved alone gets records), one partition each.
    await ensure_topics(bootstrap, sorted(Ingest(store).consumer(bootstrap, 1, 0).by_topic), 1)
    await store.create_tables()
    away = f"RENAME TABLE {store.db}.events TO {store.db}.events_away"
    back = f"RENAME TABLE {store.db}.events_away TO {store.db}.events"
    stopping, task = start(store, bootstrap)
    try:
        # 1. A healthy batch lands, then its offsets are committed.
        await produce(bootstrap, [0, 1, 2, 3])
        await eventually_async(lambda: _ready(store, 4), timeout=30)
        await eventually_async(lambda: _equal(committed(bootstrap), 4), timeout=30)

        # 2. The table goes away: the batch fails (each record is retried) and nothing is committed.
        await engine.execute(away)
        before = failures()
        await produce(bootstrap, [4, 5, 5])  # m5 twice: the same record sent again
        await eventually_async(lambda: _true(failures() > before), timeout=30)
        assert await committed(bootstrap) == 4
        # ... healed while the member still retries: the batch lands and is committed.
        await engine.execute(back)
        await eventually_async(lambda: _ready(store, 6), timeout=30)
        await eventually_async(lambda: _equal(committed(bootstrap), 7), timeout=30)

        # 3. Away again, and the member dies while it fails: its batch stays uncommitted.
        await engine.execute(away)
        before = failures()
        await produce(bootstrap, [6, 7, 2, 8])  # m2 again: a redelivery of a record that landed already
        await eventually_async(lambda: _true(failures() > before), timeout=30)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert await committed(bootstrap) == 7
        await engine.execute(back)
        assert set(await rows(store)) == {f"m{n}" for n in range(6)}  # nothing of the failed batch
    finally:
        stopping.set()
        if not task.done():
            await asyncio.wait_for(task, 30)

    # A new member is handed the uncommitted batch again; it lands, then it is committed.
    stopping, task = start(store, bootstrap)
    try:
        await eventually_async(lambda: _ready(store, 9), timeout=60)
        await eventually_async(lambda: _equal(committed(bootstrap), 11), timeout=30)
        found = await rows(store)
        # Exactly once as queries read it; committed records (m0, m1, m3, m4) were never handed out again.
        assert {m: final for m, (_, final) in found.items()} == {f"m{n}": 1 for n in range(9)}
        assert {m: found[m][0] for m in ("m0", "m1", "m3", "m4")} == {"m0": 1, "m1": 1, "m3": 1, "m4": 1}
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
        engine.close()


async def _ready(store: AnalyticsStore, n: int) -> bool:
    try:
        return len(await rows(store)) == n
    except Exception:  # the table is away
        return False


async def _equal(value, expected) -> bool:
    return await value == expected


async def _true(value: bool) -> bool:
    return value

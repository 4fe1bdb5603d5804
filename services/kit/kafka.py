"""Kafka plumbing: topics, a protobuf producer, and consumers that commit after work.

Payloads are protobuf, keyed by person id (or anonymous id before resolution)
so one person's events stay ordered within a partition. Consumers commit an
offset only after the handler returned, so a crash re-delivers and handlers
must be idempotent by event/message id.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from google.protobuf.message import Message

from services.kit import metrics, tracing

log = logging.getLogger(__name__)


class Topics:
    EVENTS_RAW = "events.raw"
    EVENTS_RESOLVED = "events.resolved"
    IDENTITY_MERGED = "identity.merged"
    IDENTITY_UNMERGED = "identity.unmerged"
    PERSON_FORGOTTEN = "person.forgotten"
    PROFILE_CHANGED = "profile.changed"
    SEGMENT_MEMBERSHIP = "segment.membership"
    MESSAGES_OUTBOUND = "messages.outbound"
    # Priority lane: transactional sends get their own topic and consumer group,
    # so a marketing backlog never sits in front of them.
    MESSAGES_OUTBOUND_TRANSACTIONAL = "messages.outbound.transactional"
    MESSAGES_STATUS = "messages.status"
    MESSAGES_DLQ = "messages.dlq"
    # A run's claimed due timer, a step's sends and profile updates, and what each step did.
    JOURNEY_TIMERS = "journey.timers"
    JOURNEY_ACTIONS = "journey.actions"
    JOURNEY_STEPS = "journey.steps"

    @classmethod
    def all(cls) -> list[str]:
        return [v for k, v in vars(cls).items() if k.isupper()]


async def ensure_topics(bootstrap: str, topics: list[str], partitions: int) -> None:
    """Create missing topics; safe to call from every replica at every start.

    The embedded broker keeps topics in memory only, so after a broker restart
    they must be recreated by whoever starts next.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing]
                )
            except TopicAlreadyExistsError:
                pass
            log.info("topics created", extra={"topics": missing})
    finally:
        await admin.close()


class Producer:
    """Sends protobuf messages and returns only once the broker acknowledged them."""

    def __init__(self, bootstrap: str, client_id: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            linger_ms=2,
            request_timeout_ms=15000,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, topic: str, key: str, message: Message) -> None:
        await self.send_raw(topic, key.encode(), message.SerializeToString(), [])

    async def send_raw(self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        with tracing.producing((topic,)):
            try:
                await self._producer.send_and_wait(
                    topic, value, key=key, headers=[*headers, *tracing.record_headers()] or None
                )
            except Exception:
                metrics.KAFKA_PRODUCE_FAILURES.labels(topic).inc()
                raise
        metrics.KAFKA_PRODUCED.labels(topic).inc()

    async def send_many(
        self, items: list[tuple[str, str, Message]], item_headers: list[list[tuple[str, bytes]] | None] | None = None
    ) -> None:
        """Send a batch; returns after every record is acknowledged, raises if any failed.

        `item_headers`: per record, the trace context it was queued under (the outbox
        relay sends work of many traces at once); None keeps the current context.
        """
        if not items:
            return
        with tracing.producing(topic for topic, _, _ in items):
            current = tracing.record_headers() or None
            futures = []
            for n, (topic, key, msg) in enumerate(items):
                headers = (item_headers[n] if item_headers else None) or current
                try:
                    futures.append(
                        await self._producer.send(topic, msg.SerializeToString(), key=key.encode(), headers=headers)
                    )
                except Exception:
                    metrics.KAFKA_PRODUCE_FAILURES.labels(topic).inc()
                    raise
            results = await asyncio.gather(*futures, return_exceptions=True)
        acked, failed = collections.Counter(), collections.Counter()
        for (topic, _, _), result in zip(items, results, strict=True):
            (failed if isinstance(result, BaseException) else acked)[topic] += 1
        for topic, n in acked.items():
            metrics.KAFKA_PRODUCED.labels(topic).inc(n)
        for topic, n in failed.items():
            metrics.KAFKA_PRODUCE_FAILURES.labels(topic).inc(n)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def partitions(self, topic: str) -> set[int]:
        """The topic's partitions (a broker that auto-creates topics creates it here)."""
        return set(await self._producer.partitions_for(topic))


class TopicLog:
    """What is already on a topic since known offsets: lets a producer that crashed after
    the broker's ack but before recording it find out which of its records made it.

    Usage: read `end_offsets` before producing a batch and keep them with the batch
    (durably); after a crash, `find(those offsets, the batch's ids)` tells which ids are
    on the topic, so only the others are produced. Correct as long as whoever produces
    these ids does so one batch at a time (a lease), so every earlier attempt of the
    batch lies between the recorded offsets and the end.
    """

    def __init__(self, bootstrap: str, topic: str, timeout: float = 30.0) -> None:
        self.topic = topic
        self.timeout = timeout
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        self._started = False

    async def start(self) -> None:
        if not self._started:
            await self._consumer.start()
            self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self._consumer.stop()

    async def end_offsets(self, partitions: set[int]) -> dict[int, int]:
        await self.start()
        if not partitions:
            return {}
        ends = await self._consumer.end_offsets([TopicPartition(self.topic, p) for p in sorted(partitions)])
        return {tp.partition: offset for tp, offset in ends.items()}

    async def find(
        self,
        since: dict[int, int],
        partitions: set[int],
        wanted: set[str],
        id_of: Callable[[bytes | None, bytes], str | None],
    ) -> set[str]:
        """The ids of `wanted` found in records from `since` (per partition, 0 when absent) to the end."""
        await self.start()
        ends = await self.end_offsets(partitions)
        todo: dict[TopicPartition, int] = {}
        for p, end in ends.items():
            start = since.get(p, 0)
            if start > end:
                start = 0  # the broker lost the partition's records (a memory-only broker restarted)
            if start < end:
                todo[TopicPartition(self.topic, p)] = start
        found: set[str] = set()
        if not todo:
            return found
        self._consumer.assign(list(todo))
        for tp, start in todo.items():
            self._consumer.seek(tp, start)
        ends_of = {tp: ends[tp.partition] for tp in todo}
        async with asyncio.timeout(self.timeout):
            while True:
                batches = await self._consumer.getmany(*todo, timeout_ms=300)
                for records in batches.values():
                    for record in records:
                        found_id = id_of(record.key, record.value)
                        if found_id in wanted:
                            found.add(found_id)
                # Read on until a poll comes back empty, not just up to the end offsets: Tansu
                # answers "latest" with its last batch's base offset + 1, short of the true end
                # (harmless for `since`, which may only start too early, never too late).
                if not batches and all([await self._consumer.position(tp) >= end for tp, end in ends_of.items()]):
                    break
        return found


# Seconds one start of a member (bootstrap, metadata, group join) may take. A join waits for
# every member to rejoin, up to the rebalance timeout (aiokafka: the 10 s session timeout);
# with a frozen member it took 18 s here, and Tansu holds a new group's first join 5 s.
DEFAULT_START_TIMEOUT = 60.0
# Seconds without a started member after which the process gives up (and is restarted): a
# broker restart or a rolling upgrade is over well within it.
DEFAULT_JOIN_GIVE_UP = 300.0
MAX_START_BACKOFF = 30.0
CLOSE_TIMEOUT = 10.0
# Seconds a lag report waits for a partition's position (reporting is best effort; see _report_lag).
LAG_POSITION_TIMEOUT = 1.0


class ConsumerStartTimeout(Exception):
    """A member's start (its group join) did not finish within its start timeout."""


# How long a batch handler's poll may wait for more records once it got some: long
# enough to gather a burst from every partition, short beside a hop's other latency.
BATCH_LINGER = 0.05


class ConsumerStalled(RuntimeError):
    """A member could not (re)join its group for longer than it may serve nothing."""


Handler = Callable[[str, Message], Awaitable[None]]
BatchHandler = Callable[[list[tuple[str, Message]]], Awaitable[None]]


@dataclass
class Subscription:
    topic: str
    message_type: type[Message]
    handler: Handler
    # Optional: takes a whole partition batch (in order) so that the handler can share
    # round trips between records. It must be safe to repeat: if it fails, the batch is
    # handled again record by record through `handler`, which keeps retries and dead
    # letters per record.
    batch_handler: BatchHandler | None = None
    # The batch handler may take the records of every partition of a poll in one call
    # (each partition's records in order, partitions concatenated). For handlers whose
    # cost is per call, not per record: a stream arriving over six partitions gives
    # each partition's batch one or two records, and the round trips a call makes are
    # then paid per record. If the combined call fails, each partition is handled as
    # without this flag.
    across_partitions: bool = False


class Consumer:
    """One consumer-group member that runs handlers and commits after them.

    A handler that raises is retried (with backoff) without committing. A
    transient failure (a store out of reach) is retried for as long as it takes;
    any other failure that repeats `max_attempts` times, and a payload that
    cannot be parsed, goes to the dead-letter topic `dlq.<group>` with its
    origin in the headers, so one bad record cannot stop a partition.
    """

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        subscriptions: list[Subscription],
        max_attempts: int = 6,
        max_poll_records: int = 200,
        linger: float = 0.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.max_attempts = max_attempts
        self.max_poll_records = max_poll_records
        # How long a poll that got records keeps gathering more, up to max_poll_records.
        self.linger = linger
        # Set by the runtime: where records that can never be handled go.
        self.dead_letters: Producer | None = None
        self.by_topic = {s.topic: s for s in subscriptions}
        self._consumer: AIOKafkaConsumer | None = None
        self._restart = asyncio.Event()
        self.processed = 0
        self._lag_reported: set[tuple[str, int]] = set()
        # Set by the runtime from settings (CDP_KAFKA_START_TIMEOUT, CDP_KAFKA_JOIN_GIVE_UP).
        self.start_timeout = DEFAULT_START_TIMEOUT
        self.give_up_after = DEFAULT_JOIN_GIVE_UP
        # "starting", "running" or "retrying": what the member is doing (logs, tests).
        self.state = "starting"
        self._joined_at: float | None = None

    def restart(self) -> None:
        """Leave the group and join again with a fresh client (see BrokerWatch)."""
        self._restart.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Consume until `stopping`; raises ConsumerStalled when the member cannot join its group.

        aiokafka's `start()` has no deadline of its own: once it has the broker's metadata it
        waits for a group assignment, and its coordinator retries a broker that went away for
        as long as it stays away, so a member could serve nothing indefinitely while /healthz
        says ready. Each start is therefore bounded (`start_timeout`), retried with backoff,
        and after `give_up_after` seconds without a started member run() raises: the runtime
        stops the process and the supervisor restarts it.
        """
        delay = 1.0
        failing_since: float | None = None
        while not stopping.is_set():
            began = time.monotonic()
            failed = False
            try:
                await self._run_once(stopping)
            except (KafkaError, OSError, ConsumerStartTimeout) as exc:
                failed = True
                log.warning(
                    "consumer lost the broker; reconnecting", extra={"group": self.group_id, "error": repr(exc)}
                )
            if stopping.is_set():
                return
            if self._joined_at is not None and self._joined_at >= began:
                delay, failing_since = 1.0, None
                if not failed:
                    continue  # a restart asked for (BrokerWatch): join again at once
            else:
                metrics.KAFKA_START_FAILURES.labels(self.group_id).inc()
                failing_since = failing_since or began
                if time.monotonic() - failing_since >= self.give_up_after:
                    raise ConsumerStalled(
                        f"consumer group {self.group_id} could not be joined for {self.give_up_after:.0f}s"
                    )
            self.state = "retrying"
            try:
                await asyncio.wait_for(stopping.wait(), timeout=delay)
            except TimeoutError:
                pass
            if failing_since is not None:
                delay = min(delay * 2, MAX_START_BACKOFF)

    async def _run_once(self, stopping: asyncio.Event) -> None:
        # Cleared before the start, not after: a restart asked for while the member was
        # starting (the broker came back meanwhile) must still give it a fresh client.
        self._restart.clear()
        self.state = "starting"
        consumer = AIOKafkaConsumer(
            *self.by_topic,
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_poll_records,
            metadata_max_age_ms=5000,
        )
        if not await self._start(consumer, stopping):
            return
        self._consumer = consumer
        self._joined_at = time.monotonic()
        self.state = "running"
        log.info("consumer started", extra={"group": self.group_id, "topics": sorted(self.by_topic)})
        try:
            while not stopping.is_set() and not self._restart.is_set():
                batches = await self._poll(consumer, stopping)
                # Records in hand count as lag until handled: a slow batch shows while it runs.
                await self._report_lag(consumer, {tp: records[0].offset for tp, records in batches.items()})
                # Partitions are independent (order is only kept within one), so their
                # batches run side by side; each partition's records stay in order.
                combined: dict[str, dict] = {}
                for tp, records in batches.items():
                    if self.by_topic[tp.topic].across_partitions:
                        combined.setdefault(tp.topic, {})[tp] = records
                await asyncio.gather(
                    *(self._timed_combined(consumer, topic, parts, stopping) for topic, parts in combined.items()),
                    *(
                        self._timed_partition(consumer, tp, records, stopping)
                        for tp, records in batches.items()
                        if tp.topic not in combined
                    ),
                )
                await self._report_lag(consumer, {})
        finally:
            self._consumer = None
            self._forget_lag(set())
            await self._close(consumer)
            log.info("consumer stopped", extra={"group": self.group_id})

    async def _poll(self, consumer: AIOKafkaConsumer, stopping: asyncio.Event) -> dict:
        """The next records to handle, per partition.

        With `linger`, a poll that got records keeps fetching for up to that long or
        until it holds max_poll_records, so that batch handlers get more per call.
        """
        gathered: dict = {}
        count = 0
        deadline = None
        while True:
            wait = 200 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            got = await consumer.getmany(timeout_ms=wait, max_records=self.max_poll_records - count)
            for tp, records in got.items():
                gathered.setdefault(tp, []).extend(records)
                count += len(records)
            if not gathered or self.linger <= 0:
                return gathered
            if deadline is None:
                deadline = time.monotonic() + self.linger
            if count >= self.max_poll_records or time.monotonic() >= deadline or stopping.is_set():
                return gathered

    async def _start(self, consumer: AIOKafkaConsumer, stopping: asyncio.Event) -> bool:
        """Start the client (bootstrap, metadata, group join) within `start_timeout`.

        False when `stopping` came first; raises what the start raised, or ConsumerStartTimeout.
        The client is closed on every way out but success.
        """
        starting = asyncio.ensure_future(consumer.start())
        stop = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({starting, stop}, timeout=self.start_timeout, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            starting.cancel()  # the worker itself is cancelled (a shutdown past its grace)
            raise
        finally:
            stop.cancel()
        if starting.done() and starting.exception() is None:
            return True
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await self._close(consumer)
        if stopping.is_set():
            return False
        if not starting.cancelled() and starting.exception() is not None:
            raise starting.exception()
        raise ConsumerStartTimeout(f"consumer group {self.group_id} not joined within {self.start_timeout:.0f}s")

    async def _close(self, consumer: AIOKafkaConsumer) -> None:
        # Bounded: leaving the group asks the broker, which may be the thing that is gone.
        try:
            await asyncio.wait_for(consumer.stop(), timeout=CLOSE_TIMEOUT)
        except Exception as exc:  # whatever it was, the client is dropped all the same
            log.warning("consumer did not close cleanly", extra={"group": self.group_id, "error": repr(exc)})

    async def _timed_partition(self, consumer: AIOKafkaConsumer, tp, records, stopping: asyncio.Event) -> None:
        with metrics.KAFKA_BATCH_DURATION.labels(self.group_id, tp.topic).time():
            await self._partition(consumer, tp, records, stopping)

    async def _timed_combined(self, consumer: AIOKafkaConsumer, topic: str, parts: dict, stopping) -> None:
        """A topic's records of every partition in one batch call, then each partition's commit."""
        with metrics.KAFKA_BATCH_DURATION.labels(self.group_id, topic).time():
            if len(parts) > 1 and await self._batch([r for records in parts.values() for r in records]):
                await consumer.commit(
                    {TopicPartition(tp.topic, tp.partition): records[-1].offset + 1 for tp, records in parts.items()}
                )
                return
            await asyncio.gather(*(self._partition(consumer, tp, records, stopping) for tp, records in parts.items()))

    async def _report_lag(self, consumer: AIOKafkaConsumer, in_hand: dict) -> None:
        """Lag of the partitions this member holds (high watermark minus the first record not yet handled).

        `in_hand`: the first offset of each partition's fetched, unhandled batch. Partitions
        given up in a rebalance stop being reported (their new holder reports them).
        """
        seen = set()
        for tp in consumer.assignment():
            try:
                high = consumer.highwater(tp)
                if high is None:  # nothing fetched from it yet
                    continue
                if tp in in_hand:
                    position = in_hand[tp]
                else:
                    # Bounded: aiokafka's position() waits until the partition has a valid position,
                    # which it may never get while the group is in limbo (a broker that came back
                    # empty); unbounded, the loop never reached its restart check (seen in CI).
                    position = await asyncio.wait_for(consumer.position(tp), timeout=LAG_POSITION_TIMEOUT)
            except (KafkaError, AssertionError, TimeoutError):  # revoked meanwhile (a rebalance), or no position yet
                continue
            metrics.KAFKA_LAG.labels(self.group_id, tp.topic, str(tp.partition)).set(max(0, high - position))
            seen.add((tp.topic, tp.partition))
        self._forget_lag(seen)

    def _forget_lag(self, keep: set[tuple[str, int]]) -> None:
        for topic, partition in self._lag_reported - keep:
            try:
                metrics.KAFKA_LAG.remove(self.group_id, topic, str(partition))
            except KeyError:
                pass
        self._lag_reported = keep

    async def _partition(self, consumer: AIOKafkaConsumer, tp, records, stopping: asyncio.Event) -> None:
        if await self._batch(records):
            await consumer.commit({TopicPartition(tp.topic, tp.partition): records[-1].offset + 1})
            return
        last = None
        for record in records:
            if stopping.is_set():
                break
            await self._handle(record)
            last = record.offset
        # Commit only what was handled, so a stop mid-batch re-delivers the rest.
        if last is not None:
            await consumer.commit({TopicPartition(tp.topic, tp.partition): last + 1})

    async def _batch(self, records) -> bool:
        """Handle a partition batch in one call when the subscription can; False to go record by record."""
        sub = self.by_topic[records[0].topic]
        if sub.batch_handler is None or len(records) < 2:
            return False
        items = []
        for record in records:
            message = sub.message_type()
            try:
                message.ParseFromString(record.value)
            except Exception:
                return False  # the per-record path dead-letters it
            items.append((record.key.decode() if record.key else "", message))
        try:
            with tracing.consuming(self.group_id, records):
                await sub.batch_handler(items)
        except (KafkaError, OSError):
            raise
        except Exception:
            log.warning("batch handler failed; handling the batch record by record", exc_info=True)
            return False
        self.processed += len(items)
        metrics.KAFKA_HANDLED.labels(self.group_id, records[0].topic).inc(len(items))
        return True

    async def _handle(self, record) -> None:
        sub = self.by_topic[record.topic]
        message = sub.message_type()
        try:
            message.ParseFromString(record.value)
        except Exception:
            log.error("unparseable payload skipped", extra={"topic": record.topic, "offset": record.offset})
            await self._dead_letter(record, "unparseable payload")
            return
        key = record.key.decode() if record.key else ""
        with tracing.consuming(self.group_id, [record]):
            await self._handle_parsed(sub, record, key, message)

    async def _handle_parsed(self, sub: Subscription, record, key: str, message: Message) -> None:
        delay, attempt = 0.2, 0
        while True:
            attempt += 1
            try:
                await sub.handler(key, message)
                self.processed += 1
                metrics.KAFKA_HANDLED.labels(self.group_id, record.topic).inc()
                return
            except (KafkaError, OSError):
                raise
            except Exception as exc:
                metrics.KAFKA_FAILURES.labels(self.group_id, record.topic).inc()
                if not is_transient(exc) and attempt >= self.max_attempts:
                    # A record that fails the same way every time would block its partition
                    # for good: park it on the dead-letter topic and go on.
                    log.exception(
                        "handler keeps failing; record dead-lettered",
                        extra={"topic": record.topic, "offset": record.offset, "attempts": attempt},
                    )
                    await self._dead_letter(record, repr(exc))
                    return
                log.exception("handler failed; retrying", extra={"topic": record.topic, "offset": record.offset})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _dead_letter(self, record, reason: str) -> None:
        if self.dead_letters is None:
            return
        await self.dead_letters.send_raw(
            dead_letter_topic(self.group_id),
            record.key or b"",
            record.value,
            headers=[
                ("topic", record.topic.encode()),
                ("partition", str(record.partition).encode()),
                ("offset", str(record.offset).encode()),
                ("reason", reason[:500].encode()),
            ],
        )
        metrics.KAFKA_DEAD_LETTERED.labels(self.group_id, record.topic).inc()


def dead_letter_topic(group_id: str) -> str:
    return f"dlq.{group_id}"


def is_transient(exc: BaseException) -> bool:
    """Failures that retrying can cure (a store out of reach), as opposed to bad records."""
    from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if isinstance(exc, DuplicateKeyError):
        return False
    if isinstance(exc, OperationFailure):
        return exc.has_error_label("TransientTransactionError") or exc.code in (112, 251)  # WriteConflict, NoSuchTxn
    return isinstance(exc, (ConnectionFailure, RedisConnectionError, RedisTimeoutError, TimeoutError))


class BrokerWatch:
    """Notices the broker going away and coming back, then repairs what it lost.

    A memory-only broker (the embedded default) comes back empty: no topics,
    no committed offsets. Consumers that kept their in-memory positions would
    wait at old offsets of the new, empty partitions and skip what arrives, so
    on a comeback the watch recreates the topics and restarts every consumer
    with a fresh client (which then starts from the earliest offset).
    """

    def __init__(self, bootstrap: str, topics: list[str], partitions: int, consumers: list[Consumer]) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.partitions = partitions
        self.consumers = consumers
        self.comebacks = 0

    async def run(self, stopping: asyncio.Event, interval: float = 2.0) -> None:
        lost = False
        while not stopping.is_set():
            try:
                existing = await self._list_topics()
                if lost or not set(self.topics) <= existing:
                    await ensure_topics(self.bootstrap, self.topics, self.partitions)
                    for consumer in self.consumers:
                        consumer.restart()
                    self.comebacks += 1
                    log.warning("broker came back; topics ensured and consumers restarted")
                    lost = False
            except (TimeoutError, KafkaError, OSError):
                lost = True
            try:
                await asyncio.wait_for(stopping.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def _list_topics(self) -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        await asyncio.wait_for(admin.start(), timeout=5)
        try:
            return set(await asyncio.wait_for(admin.list_topics(), timeout=5))
        finally:
            await admin.close()


def identity_consumer(bootstrap: str, group_id: str, follower) -> Consumer:
    """Subscribes a service to the identity announcements every downstream service follows.

    `follower` has async `merged`, `unmerged` and `forgotten` handlers.
    """
    from cdp.identity.v1 import events_pb2

    return Consumer(
        bootstrap,
        group_id,
        [
            Subscription(Topics.IDENTITY_MERGED, events_pb2.IdentityMerged, follower.merged),
            Subscription(Topics.IDENTITY_UNMERGED, events_pb2.IdentityUnmerged, follower.unmerged),
            Subscription(Topics.PERSON_FORGOTTEN, events_pb2.PersonForgotten, follower.forgotten),
        ],
    )

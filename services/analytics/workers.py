"""Kafka workers of analytics: events.resolved, messages.status and journey.steps into the engine in micro-batches;
identity announcements (merge, unmerge, forget) into the person overrides and erasure."""

from __future__ import annotations

import asyncio
import logging
import time

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.journey.v1 import journey_pb2
from cdp.messaging.v1 import events_pb2 as messaging_events
from services.analytics import rows as row_of
from services.analytics.store import AnalyticsStore
from services.kit.kafka import Consumer, Subscription, Topics, identity_consumer
from services.kit.protos import from_timestamp

log = logging.getLogger(__name__)

INGEST_GROUP = "analytics.ingest"
IDENTITY_GROUP = "analytics.identity"


class BatchingConsumer(Consumer):
    """A consumer whose polls gather up to `rows` records or for up to `linger` seconds.

    The kit's consumer commits a partition's offsets only after its batch handler
    returned, so a batch's offsets are committed after its insert; a crash
    re-delivers the batch and the ReplacingMergeTree keeps one row per message id.
    """

    def __init__(self, bootstrap: str, group_id: str, subscriptions: list[Subscription], rows: int, linger: float):
        super().__init__(bootstrap, group_id, subscriptions, max_poll_records=rows)
        self.rows = rows
        self.linger = linger

    async def _poll(self, consumer, stopping: asyncio.Event) -> dict:
        gathered: dict = {}
        count = 0
        deadline = None
        while True:
            wait = 200 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            got = await consumer.getmany(timeout_ms=wait, max_records=self.rows - count)
            for tp, records in got.items():
                gathered.setdefault(tp, []).extend(records)
                count += len(records)
            if not gathered:
                return gathered
            if deadline is None:
                deadline = time.monotonic() + self.linger
            if count >= self.rows or time.monotonic() >= deadline or stopping.is_set():
                return gathered


class Ingest:
    def __init__(self, store: AnalyticsStore) -> None:
        self.store = store

    async def events(self, items: list[tuple[str, identity_events.ResolvedEvent]]) -> None:
        events, traits = [], []
        for _, message in items:
            made, set_traits = row_of.event_rows(message)
            events += made
            traits += set_traits
        await self.store.insert_persons_rows("events", events)
        await self.store.insert_persons_rows("person_traits", traits)

    async def event(self, key: str, message: identity_events.ResolvedEvent) -> None:
        await self.events([(key, message)])

    async def statuses(self, items: list[tuple[str, messaging_events.MessageStatus]]) -> None:
        rows = [r for _, m in items if (r := row_of.status_row(m)) is not None]
        await self.store.insert_persons_rows("message_statuses", rows)

    async def status(self, key: str, message: messaging_events.MessageStatus) -> None:
        await self.statuses([(key, message)])

    async def steps(self, items: list[tuple[str, journey_pb2.RunStepped]]) -> None:
        rows = [r for _, m in items if (r := row_of.step_row(m)) is not None]
        await self.store.insert_persons_rows("journey_steps", rows)

    async def step(self, key: str, message: journey_pb2.RunStepped) -> None:
        await self.steps([(key, message)])

    def consumer(self, bootstrap: str, rows: int, linger: float) -> Consumer:
        return BatchingConsumer(
            bootstrap,
            INGEST_GROUP,
            [
                Subscription(Topics.EVENTS_RESOLVED, identity_events.ResolvedEvent, self.event, self.events),
                Subscription(Topics.MESSAGES_STATUS, messaging_events.MessageStatus, self.status, self.statuses),
                Subscription(Topics.JOURNEY_STEPS, journey_pb2.RunStepped, self.step, self.steps),
            ],
            rows,
            linger,
        )


def _version(at) -> int:
    when = from_timestamp(at)
    return int(when.timestamp() * 1000) if when else int(time.time() * 1000)


class IdentityFollower:
    """Merges become overrides (joined at query time, so they show within seconds); forget erases."""

    def __init__(self, store: AnalyticsStore) -> None:
        self.store = store

    async def merged(self, key: str, message: identity_events.IdentityMerged) -> None:
        if message.workspace_id and message.winner_id and message.loser_id:
            await self.store.merged(message.workspace_id, message.winner_id, message.loser_id, _version(message.at))

    async def unmerged(self, key: str, message: identity_events.IdentityUnmerged) -> None:
        if message.workspace_id and message.restored_id:
            await self.store.unmerged(message.workspace_id, message.restored_id, _version(message.at))

    async def forgotten(self, key: str, message: identity_events.PersonForgotten) -> None:
        if message.workspace_id and message.person_id:
            await self.store.forget(message.workspace_id, message.person_id)

    def consumer(self, bootstrap: str) -> Consumer:
        return identity_consumer(bootstrap, IDENTITY_GROUP, self)

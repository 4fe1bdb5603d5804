"""Kafka workers of analytics: events.resolved, messages.status, journey.steps and profile.changed (computed
traits and tags, for breakdowns) into the engine in micro-batches; identity announcements (merge, unmerge,
forget) into the person overrides and erasure."""

from __future__ import annotations

import logging
import time

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.journey.v1 import journey_pb2
from cdp.messaging.v1 import events_pb2 as messaging_events
from cdp.profile.v1 import events_pb2 as profile_events
from services.analytics import rows as row_of
from services.analytics.store import AnalyticsStore
from services.kit.kafka import Consumer, Subscription, Topics, identity_consumer
from services.kit.protos import from_timestamp

log = logging.getLogger(__name__)

INGEST_GROUP = "analytics.ingest"
IDENTITY_GROUP = "analytics.identity"


class Ingest:
    def __init__(self, store: AnalyticsStore) -> None:
        self.store = store
        self._seq = 0

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

    async def profiles(self, items: list[tuple[str, profile_events.ProfileChanged]]) -> None:
        rows = [r for _, m in items for r in row_of.profile_rows(m, self._next_seq())]
        await self.store.insert_persons_rows("person_traits", rows)

    def _next_seq(self) -> int:
        # Increasing in the order records are read (a person's records are read in Kafka's order, so a
        # redelivered run of them is numbered in order again): nanoseconds, never repeated or going back.
        self._seq = max(self._seq + 1, time.time_ns())
        return self._seq

    async def profile(self, key: str, message: profile_events.ProfileChanged) -> None:
        await self.profiles([(key, message)])

    def consumer(self, bootstrap: str, rows: int, linger: float) -> Consumer:
        # Micro-batches of up to `rows` records or `linger` seconds, every partition's in one insert.
        # Offsets are committed only after the batch handler returned, so after its insert; a crash
        # re-delivers the batch and the ReplacingMergeTree keeps one row per message id.
        return Consumer(
            bootstrap,
            INGEST_GROUP,
            [
                Subscription(Topics.EVENTS_RESOLVED, identity_events.ResolvedEvent, self.event, self.events, True),
                Subscription(Topics.MESSAGES_STATUS, messaging_events.MessageStatus, self.status, self.statuses, True),
                Subscription(Topics.JOURNEY_STEPS, journey_pb2.RunStepped, self.step, self.steps, True),
                Subscription(Topics.PROFILE_CHANGED, profile_events.ProfileChanged, self.profile, self.profiles, True),
            ],
            max_poll_records=rows,
            linger=linger,
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

"""Kafka workers of profile: events.resolved -> profile + event history."""

from __future__ import annotations

from cdp.identity.v1 import events_pb2
from services.kit.kafka import Consumer, Subscription, Topics
from services.profile.updates import ProfileUpdater

GROUP = "profile.events"


class EventWorker:
    def __init__(self, updater: ProfileUpdater) -> None:
        self.updater = updater

    async def handle(self, key: str, resolved: events_pb2.ResolvedEvent) -> None:
        await self.updater.apply_resolved(resolved)

    def consumer(self, bootstrap: str) -> Consumer:
        return Consumer(bootstrap, GROUP, [Subscription(Topics.EVENTS_RESOLVED, events_pb2.ResolvedEvent, self.handle)])

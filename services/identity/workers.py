"""Kafka workers of identity: events.raw -> person resolution -> events.resolved."""

from __future__ import annotations

import logging

from cdp.identity.v1 import events_pb2
from services.identity.graph import Resolver, event_identifiers
from services.kit.clock import Clock
from services.kit.kafka import Consumer, Producer, Subscription, Topics

log = logging.getLogger(__name__)

GROUP = "identity.resolver"


class ResolveWorker:
    """Resolves each raw event and republishes it keyed by its person.

    Idempotent: resolving the same identifiers again returns the same person,
    and downstream consumers dedupe the republished event by its messageId.
    """

    def __init__(self, resolver: Resolver, producer: Producer, clock: Clock) -> None:
        self.resolver = resolver
        self.producer = producer
        self.clock = clock

    async def handle(self, key: str, event: events_pb2.RawEvent) -> None:
        identifiers = await self.resolver.prepare(event.workspace_id, event_identifiers(event))
        if not identifiers:
            # Every identifier was blocked (e.g. anonymousId "undefined"): nobody to attribute it to.
            log.warning("event without usable identifiers skipped", extra={"message_id": event.message_id})
            return
        person, created = await self.resolver.resolve(
            event.workspace_id, identifiers, self.clock.now(), cause=event.message_id
        )
        resolved = events_pb2.ResolvedEvent(
            event=event, person_id=person["_id"], uid=person["uid"], person_created=created
        )
        await self.producer.send(Topics.EVENTS_RESOLVED, person["_id"], resolved)

    def consumer(self, bootstrap: str) -> Consumer:
        return Consumer(bootstrap, GROUP, [Subscription(Topics.EVENTS_RAW, events_pb2.RawEvent, self.handle)])

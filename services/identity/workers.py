"""Kafka workers of identity: events.raw -> person resolution -> events.resolved."""

from __future__ import annotations

import logging

from cdp.identity.v1 import events_pb2
from services.identity.resolver import ResolveItem, Resolver, event_identifiers
from services.identity.rules import Suppressed
from services.kit.clock import Clock
from services.kit.errors import InvalidInput
from services.kit.kafka import BATCH_LINGER, Consumer, Producer, Subscription, Topics

log = logging.getLogger(__name__)

GROUP = "identity.resolver"


class ResolveWorker:
    """Resolves raw events and republishes each keyed by its person."""

    def __init__(self, resolver: Resolver, producer: Producer, clock: Clock) -> None:
        self.resolver = resolver
        self.producer = producer
        self.clock = clock

    async def handle(self, key: str, event: events_pb2.RawEvent) -> None:
        await self.handle_batch([(key, event)])

    async def handle_batch(self, records: list[tuple[str, events_pb2.RawEvent]]) -> None:
        """Resolve a partition batch in order with shared round trips, then publish it in one go.

        Safe to repeat after a failure: resolving is idempotent and consumers
        downstream dedupe by messageId.
        """
        events = [event for _, event in records]
        items = [ResolveItem(e.workspace_id, event_identifiers(e), e.message_id) for e in events]
        results = await self.resolver.resolve_many(items, self.clock.now())
        out = []
        for event, result in zip(events, results, strict=True):
            if isinstance(result, Suppressed):
                # Replayed or late: the person was forgotten and stays so (counted in cdp_identity_resolves_total).
                log.info("event of a forgotten identifier dropped", extra={"message_id": event.message_id})
                continue
            if isinstance(result, InvalidInput):
                # Every identifier was blocked (e.g. anonymousId "undefined"): nobody to attribute it to.
                log.warning("event without usable identifiers skipped", extra={"message_id": event.message_id})
                continue
            person, created = result
            resolved = events_pb2.ResolvedEvent(
                event=event, person_id=person["_id"], uid=person["uid"], person_created=created
            )
            out.append((Topics.EVENTS_RESOLVED, person["_id"], resolved))
        await self.producer.send_many(out)

    def consumer(self, bootstrap: str) -> Consumer:
        # Every partition's records of a poll in one resolve_many: new shoppers are looked up
        # and created in bulk, a few round trips per call instead of per partition.
        return Consumer(
            bootstrap,
            GROUP,
            [
                Subscription(
                    Topics.EVENTS_RAW, events_pb2.RawEvent, self.handle, self.handle_batch, across_partitions=True
                )
            ],
            linger=BATCH_LINGER,
        )

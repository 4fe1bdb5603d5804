"""Kafka workers of messaging.

- delivery: messages.outbound (marketing) and messages.outbound.transactional,
  each its own consumer group, so the transactional lane never waits behind a
  marketing backlog;
- attribution: events.resolved -> conversions;
- identity events -> whose messages are whose.
"""

from __future__ import annotations

import logging

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.messaging.v1 import events_pb2
from services.kit.clock import Clock
from services.kit.concurrent_consumer import ConcurrentConsumer
from services.kit.kafka import Consumer, Subscription, Topics, identity_consumer
from services.kit.protos import from_timestamp
from services.messaging.delivery import Deliverer
from services.messaging.store import MessagingStore

log = logging.getLogger(__name__)

GROUP = "messaging.delivery"
TRANSACTIONAL_GROUP = "messaging.delivery.transactional"
IDENTITY_GROUP = "messaging.identity"
ATTRIBUTION_GROUP = "messaging.attribution"


class DeliveryWorker:
    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer

    async def handle(self, key: str, message: events_pb2.OutboundMessage) -> None:
        await self.deliverer.deliver_event(message)

    async def handle_batch(self, items: list[tuple[str, events_pb2.OutboundMessage]]) -> None:
        await self.deliverer.deliver_events([message for _, message in items])

    def consumers(self, bootstrap: str, window: int = 64) -> list[Consumer]:
        # A partition's poll is delivered as one batch (shared round trips, provider calls side by
        # side); record by record, many at once, if the batch fails. Committed per poll either way.
        return [
            ConcurrentConsumer(
                bootstrap,
                GROUP,
                [Subscription(Topics.MESSAGES_OUTBOUND, events_pb2.OutboundMessage, self.handle, self.handle_batch)],
                window,
            ),
            ConcurrentConsumer(
                bootstrap,
                TRANSACTIONAL_GROUP,
                [
                    Subscription(
                        Topics.MESSAGES_OUTBOUND_TRANSACTIONAL,
                        events_pb2.OutboundMessage,
                        self.handle,
                        self.handle_batch,
                    )
                ],
                window,
            ),
        ]


def attribution_consumer(bootstrap: str, attribution) -> Consumer:
    return Consumer(
        bootstrap,
        ATTRIBUTION_GROUP,
        [Subscription(Topics.EVENTS_RESOLVED, identity_events.ResolvedEvent, attribution.handle)],
    )


def merge_key(merge_id: str, loser_id: str, winner_id: str) -> str:
    """The merge's id; a stand-in derived from the two persons when identity sent none."""
    return merge_id or f"{loser_id}>{winner_id}"


class IdentityWorker:
    """Keeps messages with the person identity says they belong to.

    - identity.merged: the loser's messages move to the winner. Each keeps the
      person it was sent to (`original_person_id`) and records the merge in
      `merged_via`, so history, ListMessages and Person.messages of the
      winner show them and the loser's id has none.
    - identity.unmerged: exactly the messages that merge moved go back to the
      restored person, even if a later merge carried them further. The undo
      is remembered, so the merge arriving late (another topic, no order
      between them) or replayed does not move them again.
    - person.forgotten: every message of the person is deleted: its own, those
      merged in from other persons, and those first sent to it. The person is
      remembered (its internal id only) so that a merge into it that arrives
      late deletes the loser's messages instead of moving them in.

    In-flight messages of a forgotten person: a queued one is deleted, so when
    its messages.outbound event is handled the delivery claim (which matches
    the document with status "queued") finds nothing and nothing is sent. A
    message already claimed ("sending") is in the provider's hands; that call
    cannot be recalled, but its outcome is not recorded (`finish` finds no
    document) and no messages.status is announced for it.

    Every handler is idempotent: replays find nothing left to move or delete.
    """

    def __init__(self, store: MessagingStore, clock: Clock, optouts=None) -> None:
        self.store = store
        self.clock = clock
        self.optouts = optouts

    async def _sync(self, workspace: str, *persons: str) -> None:
        # The Redis mirror of opt-outs follows what the merge or erasure did in MongoDB.
        if self.optouts is not None:
            for person in persons:
                await self.optouts.sync(workspace, person)

    async def merged(self, key: str, event: identity_events.IdentityMerged) -> None:
        ws, winner, loser = event.workspace_id, event.winner_id, event.loser_id
        if not ws or not winner or not loser or winner == loser:
            log.warning("merge event without two persons skipped", extra={"merge_id": event.merge_id})
            return
        merge_id = merge_key(event.merge_id, loser, winner)
        if await self.store.was_unmerged(ws, merge_id):
            log.info("merge already undone; skipped", extra={"workspace": ws, "merge_id": merge_id})
            return
        if await self.store.was_forgotten(ws, winner):
            await self.store.delete_person_messages(ws, loser)
            return
        moved = await self.store.move_to_winner(ws, merge_id, loser, winner)
        await self._sync(ws, winner)
        # A forget of the winner handled meanwhile (by another replica) must not miss what just moved in.
        if await self.store.was_forgotten(ws, winner):
            await self.store.delete_person_messages(ws, winner)
        log.info("messages moved to the merge winner", extra={"workspace": ws, "merge_id": merge_id, "moved": moved})

    async def unmerged(self, key: str, event: identity_events.IdentityUnmerged) -> None:
        ws, winner, restored = event.workspace_id, event.winner_id, event.restored_id
        if not ws or not restored:
            log.warning("unmerge event without a restored person skipped", extra={"merge_id": event.merge_id})
            return
        merge_id = merge_key(event.merge_id, restored, winner)
        await self.store.note_unmerged(ws, merge_id, from_timestamp(event.at) or self.clock.now())
        moved = await self.store.move_back(ws, merge_id, restored)
        log.info("messages given back on unmerge", extra={"workspace": ws, "merge_id": merge_id, "moved": moved})

    async def forgotten(self, key: str, event: identity_events.PersonForgotten) -> None:
        ws, person = event.workspace_id, event.person_id
        if not ws or not person:
            log.warning("forget event without a person skipped")
            return
        await self.store.note_forgotten(ws, person, from_timestamp(event.at) or self.clock.now())
        deleted = await self.store.delete_person_messages(ws, person)
        await self._sync(ws, person)
        log.info("messages of a forgotten person deleted", extra={"workspace": ws, "deleted": deleted})

    def consumer(self, bootstrap: str) -> Consumer:
        return identity_consumer(bootstrap, IDENTITY_GROUP, self)

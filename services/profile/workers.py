"""Kafka workers of profile: events.resolved -> profile + event history; identity changes -> profiles."""

from __future__ import annotations

from cdp.identity.v1 import events_pb2
from services.kit.kafka import BATCH_LINGER, Consumer, Subscription, Topics, identity_consumer
from services.profile.merges import MergeApplier
from services.profile.updates import ProfileUpdater

GROUP = "profile.events"
IDENTITY_GROUP = "profile.identity"


class EventWorker:
    def __init__(self, updater: ProfileUpdater) -> None:
        self.updater = updater

    async def handle(self, key: str, resolved: events_pb2.ResolvedEvent) -> None:
        await self.updater.apply_resolved(resolved)

    async def handle_batch(self, items: list[tuple[str, events_pb2.ResolvedEvent]]) -> None:
        """A partition's poll in one transaction; on anything unusual the consumer goes one by one."""
        await self.updater.apply_batch([resolved for _, resolved in items])

    def consumer(self, bootstrap: str) -> Consumer:
        # Every partition's records of a poll in one apply_batch (about eight round trips a
        # call), gathered for up to BATCH_LINGER: identity's output arrives over six partitions
        # in bursts, one or two records each, which left those round trips paid per event.
        return Consumer(
            bootstrap,
            GROUP,
            [Subscription(Topics.EVENTS_RESOLVED, events_pb2.ResolvedEvent, self.handle, self.handle_batch, True)],
            linger=BATCH_LINGER,
        )


class IdentityWorker:
    """Merges, unmerges and erasures from identity.

    Its own group, apart from events.resolved: a slow merge (it reads every event
    of both persons) must not hold up ordinary events, and the two never need
    each other's order, since a late event finds the loser's tombstone and
    follows it to the winner.
    """

    def __init__(self, merges: MergeApplier) -> None:
        self.merges = merges

    async def merged(self, key: str, msg: events_pb2.IdentityMerged) -> None:
        await self.merges.merge(msg)

    async def unmerged(self, key: str, msg: events_pb2.IdentityUnmerged) -> None:
        await self.merges.unmerge(msg)

    async def forgotten(self, key: str, msg: events_pb2.PersonForgotten) -> None:
        await self.merges.forget(msg)

    def consumer(self, bootstrap: str) -> Consumer:
        return identity_consumer(bootstrap, IDENTITY_GROUP, self)
